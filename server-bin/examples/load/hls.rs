//! HLS pollers: one keep-alive HTTP/1.1 connection each, the playlist
//! fetched every target duration / 2 (RFC 8216 §6.3.4 allows reloading
//! sooner than the target after a change), each new segment downloaded once,
//! in order. A new poller starts at the live edge (the last listed segment);
//! pollers spread their polling phases ([`phase`]).
//!
//! Counted per player: segments and their bytes (playlists included in the
//! bytes), the fetch time of each segment (request sent → last byte), video
//! frames = video PES starts in the segments ([`VideoScanner`]). First frame:
//! TCP connect → first segment downloaded. Latency: the publisher's send
//! time of a segment's last video frame → that segment downloaded (what
//! packaging, polling and the download add; the segment's own duration is
//! not counted). A segment that left the playlist before the poller saw it,
//! or answered 404 when fetched, is "skipped".

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::rebase::Relative;
use crate::ts::VideoScanner;
use crate::{connected, count_bytes, read_http_head, stats_of, Ctx, PlayerStats};

/// Largest response body accepted.
const MAX_BODY: usize = 64 << 20;
/// Longest a request may take (the first playlist waits up to ~10 s for a segment).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A minimal keep-alive HTTP/1.1 GET client (RFC 9112): `Content-Length` or
/// chunked bodies; reconnects once when a reused connection fails.
struct Http {
    host: String,
    port: u16,
    sock: Option<TcpStream>,
    buf: BytesMut,
}

impl Http {
    async fn get(&mut self, path: &str) -> Result<(u16, Bytes), String> {
        let reused = self.sock.is_some();
        match tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(path)).await {
            Ok(Ok(r)) => return Ok(r),
            Ok(Err(e)) if !reused => return Err(e),
            Err(_) => return Err(format!("GET {path}: no answer in {REQUEST_TIMEOUT:?}")),
            Ok(Err(_)) => {} // the server closed an idle keep-alive connection: once more
        }
        self.sock = None;
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(path))
            .await
            .map_err(|_| format!("GET {path}: no answer in {REQUEST_TIMEOUT:?}"))?
    }

    async fn exchange(&mut self, path: &str) -> Result<(u16, Bytes), String> {
        if self.sock.is_none() {
            self.buf.clear();
            let s = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| e.to_string())?;
            self.sock = Some(s);
        }
        let sock = self.sock.as_mut().ok_or("no connection")?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        sock.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let (status, head) = read_http_head(sock, &mut self.buf).await?;
        let header = |name: &str| {
            head.lines().skip(1).find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let body = if header("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            read_chunked(sock, &mut self.buf).await?
        } else {
            let len: usize = header("Content-Length")
                .and_then(|v| v.parse().ok())
                .ok_or("response without Content-Length")?;
            if len > MAX_BODY {
                return Err(format!("body of {len} bytes"));
            }
            fill(sock, &mut self.buf, len).await?;
            self.buf.split_to(len).freeze()
        };
        if header("Connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            self.sock = None;
        }
        Ok((status, body))
    }
}

/// Reads until `buf` holds at least `len` bytes.
async fn fill(sock: &mut TcpStream, buf: &mut BytesMut, len: usize) -> Result<(), String> {
    while buf.len() < len {
        if sock.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("server closed mid-body".into());
        }
    }
    Ok(())
}

/// A chunked body (RFC 9112 §7.1), trailers skipped.
async fn read_chunked(sock: &mut TcpStream, buf: &mut BytesMut) -> Result<Bytes, String> {
    let mut body = BytesMut::new();
    loop {
        let line_end = loop {
            if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            if buf.len() > 1024 {
                return Err("chunk-size line over 1 KiB".into());
            }
            fill(sock, buf, buf.len() + 1).await?;
        };
        let line = String::from_utf8_lossy(&buf[..line_end]).into_owned();
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {line:?}"))?;
        buf.advance(line_end + 2);
        if size == 0 {
            // Trailer fields until an empty line.
            loop {
                fill(sock, buf, 2).await?;
                match buf.windows(2).position(|w| w == b"\r\n") {
                    Some(0) => {
                        buf.advance(2);
                        return Ok(body.freeze());
                    }
                    Some(i) => buf.advance(i + 2),
                    None => fill(sock, buf, buf.len() + 1).await?,
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err("chunked body over 64 MiB".into());
        }
        fill(sock, buf, size + 2).await?;
        body.extend_from_slice(&buf[..size]);
        buf.advance(size + 2);
    }
}

/// Pollers started so far, to spread their polling phases.
static POLLERS: AtomicU64 = AtomicU64::new(0);

/// This poller's phase within the polling interval: the k-th poller waits
/// frac(k × 0.618…) of an interval once, so the pollers of one run do not
/// poll in lockstep (real viewers start at random times) and the latency
/// figures do not depend on how one shared phase meets the segment cuts.
fn phase(interval: Duration) -> Duration {
    let k = POLLERS.fetch_add(1, Ordering::Relaxed);
    let golden = 0.618_033_988_749_895_f64;
    interval.mul_f64((k as f64 * golden).fract())
}

/// What a poller needs from a live media playlist (RFC 8216 §4.3).
#[derive(Debug, PartialEq, Eq)]
struct Playlist {
    target_secs: u64,
    /// `(media sequence number, URI)` of each segment, in order (§4.3.3.2).
    segments: Vec<(u64, String)>,
}

fn parse_playlist(text: &str) -> Result<Playlist, String> {
    if !text.starts_with("#EXTM3U") {
        return Err("playlist without #EXTM3U".into());
    }
    let mut target_secs = None;
    let mut sequence = 0u64;
    let mut segments = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            target_secs = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            sequence = v.trim().parse().map_err(|_| "bad EXT-X-MEDIA-SEQUENCE")?;
        } else if !line.starts_with('#') {
            segments.push((sequence + segments.len() as u64, line.to_string()));
        }
    }
    Ok(Playlist {
        target_secs: target_secs.ok_or("playlist without EXT-X-TARGETDURATION")?,
        segments,
    })
}

pub async fn player(ctx: &Ctx, stats: &Mutex<PlayerStats>) -> Result<(), String> {
    let args = &ctx.args;
    let started = Instant::now();
    let mut http = Http {
        host: args.host.clone(),
        port: args.http_port,
        sock: None,
        buf: BytesMut::with_capacity(64 * 1024),
    };
    let dir = format!("/{}/", args.play_stream());
    let playlist_path = format!("{dir}hls.m3u8");
    let mut next: Option<u64> = None;
    let mut clock = Relative::mpeg_ts();
    let mut starts = Vec::new();
    let mut phased = false;
    while !ctx.window.stopped() {
        let polled = Instant::now();
        let (status, body) = http.get(&playlist_path).await?;
        connected(stats);
        count_bytes(body.len(), ctx, stats);
        if status != 200 {
            return Err(format!("playlist answered {status}"));
        }
        let list = parse_playlist(&String::from_utf8_lossy(&body))?;
        // A new player starts at the live edge.
        let from = next.unwrap_or_else(|| list.segments.last().map_or(0, |s| s.0));
        for (seq, uri) in list.segments.iter().filter(|s| s.0 >= from) {
            let skipped = seq - next.unwrap_or(*seq);
            next = Some(seq + 1);
            let path = if uri.starts_with('/') {
                uri.clone()
            } else {
                format!("{dir}{uri}")
            };
            let asked = Instant::now();
            let (status, data) = http.get(&path).await?;
            let done = Instant::now();
            if status == 404 {
                // Gone between the playlist and the request: missed, not fatal.
                if ctx.window.open() {
                    stats_of(stats).skipped_segments += 1;
                }
                continue;
            }
            if status != 200 {
                return Err(format!("segment {seq} answered {status}"));
            }
            count_bytes(data.len(), ctx, stats);
            let mut scanner = VideoScanner::default();
            scanner.push(&data, &mut starts);
            let frames = starts.len() as u64;
            let mut last = None;
            for s in starts.drain(..) {
                last = clock.offset(s.dts, s.random_access).or(last);
            }
            let mut s = stats_of(stats);
            s.first_frame.get_or_insert(started.elapsed());
            if ctx.window.open() {
                s.segments_in_window += 1;
                s.frames_in_window += frames;
                s.skipped_segments += skipped;
                s.segment_fetch.push(done - asked);
                if let Some(off) = last {
                    s.relative.push((off, done));
                }
            }
        }
        let interval = Duration::from_millis(list.target_secs.max(1) * 500);
        let mut wake = polled + interval;
        if !std::mem::replace(&mut phased, true) {
            wake += phase(interval);
        }
        tokio::time::sleep_until(wake.into()).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlist_sequences_follow_media_sequence() {
        let text = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n\
                    #EXT-X-DISCONTINUITY-SEQUENCE:0\n#EXTINF:2.000,\n7.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1.960,\n8.ts\n";
        let p = parse_playlist(text).expect("parsed");
        assert_eq!(p.target_secs, 2);
        assert_eq!(p.segments, vec![(7, "7.ts".into()), (8, "8.ts".into())]);
        assert!(parse_playlist("#EXTM3U\n1.ts\n").is_err());
        assert!(parse_playlist("nope").is_err());
    }

    #[tokio::test]
    async fn keep_alive_get_reads_chunked_and_sized_bodies() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req).await;
            let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                           3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nTrailer: 1\r\n\r\n";
            // Written in pieces: the reader must wait for each.
            for piece in chunked.as_bytes().chunks(7) {
                s.write_all(piece).await.expect("write");
                tokio::task::yield_now().await;
            }
            let _ = s.read(&mut req).await;
            s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\ngone")
                .await
                .expect("write");
        });
        let mut http = Http {
            host: "127.0.0.1".into(),
            port,
            sock: None,
            buf: BytesMut::new(),
        };
        let (status, body) = http.get("/a").await.expect("first");
        assert_eq!((status, &body[..]), (200, &b"abcde"[..]));
        let (status, body) = http.get("/b").await.expect("second");
        assert_eq!((status, &body[..]), (404, &b"gone"[..]));
    }
}
