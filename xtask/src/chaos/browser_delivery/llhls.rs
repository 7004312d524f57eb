//! Low-Latency HLS clients for scenarios 29 and 30: a keep-alive HTTP/1.1
//! connection from any loopback address ([`Http`]), the playlist's parts
//! and preload hint ([`Playlist`]), and a poller from 127.0.0.1 that
//! follows the hints as a player does ([`Poller`]) and says whether it got
//! every part.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest response body read (a part or playlist of the test streams is far smaller).
const MAX_BODY: usize = 8 << 20;

/// One keep-alive HTTP/1.1 connection.
pub struct Http {
    sock: TcpStream,
    buf: Vec<u8>,
}

impl Http {
    /// Connects from `src` to the HTTP `port`.
    pub fn connect(src: Ipv4Addr, port: u16) -> Result<Http, String> {
        let sock = super::ws::socket(src, port, None, Duration::from_secs(3))?;
        let _ = sock.set_nodelay(true);
        Ok(Http {
            sock,
            buf: Vec::new(),
        })
    }

    /// Sends `GET path` (keep-alive) without waiting for the answer.
    pub fn send(&mut self, path: &str) -> Result<(), String> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        self.sock
            .write_all(req.as_bytes())
            .map_err(|e| format!("GET {path}: {e}"))
    }

    /// The next response within `within`: status and body.
    pub fn response(&mut self, within: Duration) -> Result<(u16, Vec<u8>), String> {
        let deadline = Instant::now() + within;
        let (status, len, at) = loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(self.buf.get(..end).unwrap_or_default())
                    .to_ascii_lowercase();
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("no status line in {head:?}"))?;
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .ok_or_else(|| format!("no content-length in {head:?}"))?;
                if len > MAX_BODY {
                    return Err(format!("a body of {len} bytes"));
                }
                break (status, len, end + 4);
            }
            self.fill(deadline)?;
        };
        while self.buf.len() < at + len {
            self.fill(deadline)?;
        }
        let body = self.buf.get(at..at + len).unwrap_or_default().to_vec();
        self.buf.drain(..at + len);
        Ok((status, body))
    }

    /// `GET path` and its answer within `within`.
    pub fn get(&mut self, path: &str, within: Duration) -> Result<(u16, Vec<u8>), String> {
        self.send(path)?;
        self.response(within)
    }

    fn fill(&mut self, deadline: Instant) -> Result<(), String> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("no answer in time".into());
        }
        let _ = self.sock.set_read_timeout(Some(left));
        let mut chunk = [0u8; 64 * 1024];
        match self.sock.read(&mut chunk) {
            Ok(0) => Err("closed".into()),
            Ok(n) => {
                self.buf
                    .extend_from_slice(chunk.get(..n).unwrap_or_default());
                Ok(())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err("no answer in time".into())
            }
            Err(e) => Err(format!("read: {e}")),
        }
    }
}

/// What an LL-HLS playlist lists.
#[derive(Debug, Default, Clone)]
pub struct Playlist {
    /// `(msn, part)` of every `EXT-X-PART`.
    pub parts: Vec<(u64, u64)>,
    /// `(msn, part)` of `EXT-X-PRELOAD-HINT`.
    pub hint: Option<(u64, u64)>,
    /// `EXT-X-TARGETDURATION`, seconds.
    pub target: Option<u64>,
}

/// `(msn, part)` of a part URI `fmp4/{msn}.{part}.m4s`.
fn part_of_uri(line: &str) -> Option<(u64, u64)> {
    let uri = line.split("URI=\"").nth(1)?.split('"').next()?;
    let name = uri.strip_prefix("fmp4/")?.strip_suffix(".m4s")?;
    let (m, p) = name.split_once('.')?;
    Some((m.parse().ok()?, p.parse().ok()?))
}

impl Playlist {
    /// Parses a playlist's text.
    pub fn parse(text: &str) -> Playlist {
        let mut p = Playlist::default();
        for line in text.lines() {
            if line.starts_with("#EXT-X-PART:") {
                p.parts.extend(part_of_uri(line));
            } else if line.starts_with("#EXT-X-PRELOAD-HINT:") {
                p.hint = part_of_uri(line);
            } else if let Some(t) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
                p.target = t.trim().parse().ok();
            }
        }
        p
    }

    /// The msn of the last complete segment listed with its parts (the
    /// one before the hint's when the hint is a segment's first part).
    pub fn last_msn(&self) -> Option<u64> {
        let (m, _) = self.hint?;
        m.checked_sub(1)
    }
}

/// Fetches the playlist of `base` (`/live/s`) on `http` (a plain request,
/// waiting for the first segment).
pub fn playlist(http: &mut Http, base: &str) -> Result<Playlist, String> {
    let (status, body) = http.get(&format!("{base}/hls.fmp4.m3u8"), Duration::from_secs(12))?;
    if status != 200 {
        return Err(format!(
            "{base}/hls.fmp4.m3u8: {status} {}",
            String::from_utf8_lossy(&body)
        ));
    }
    Ok(Playlist::parse(&String::from_utf8_lossy(&body)))
}

/// What the poller saw.
#[derive(Debug, Default, Clone)]
pub struct PollStats {
    /// Parts fetched (200), as `(msn, part)`.
    pub got: BTreeSet<(u64, u64)>,
    /// Answers other than 200 (503 over a cap, 404), with what was asked.
    pub refused: Vec<String>,
    /// Connection errors.
    pub errors: Vec<String>,
    /// Longest time between two parts arriving.
    pub max_gap: Duration,
    /// Blocking reloads answered 200.
    pub reloads: u64,
}

impl PollStats {
    /// Parts missing between the first and the last fetched: a hole in a
    /// segment's part numbers, or a segment of which no part came. The
    /// first and last segments may be partial (joined, stopped midway).
    pub fn holes(&self) -> Vec<(u64, u64)> {
        let mut holes = Vec::new();
        let (Some(&(m0, _)), Some(&(m1, _))) = (self.got.first(), self.got.last()) else {
            return holes;
        };
        for m in m0..=m1 {
            let parts: Vec<u64> = self
                .got
                .range((m, 0)..=(m, u64::MAX))
                .map(|&(_, p)| p)
                .collect();
            let Some(&max) = parts.last() else {
                holes.push((m, 0));
                continue;
            };
            let from = if m == m0 { parts[0] } else { 0 };
            holes.extend((from..=max).filter(|p| !parts.contains(p)).map(|p| (m, p)));
        }
        holes
    }
}

/// An LL-HLS player from 127.0.0.1 on its own thread: blocking reloads for
/// the hinted part, every listed part fetched, the hinted part fetched
/// (held by the server until complete). A refused or failed request is
/// retried after 100 ms.
pub struct Poller {
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<PollStats>>,
    handle: Option<JoinHandle<()>>,
}

impl Poller {
    /// Starts polling `/live/<stream>/hls.fmp4.m3u8` on the HTTP `port`.
    pub fn start(port: u16, stream: &str) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(PollStats::default()));
        let (s, st, base) = (stop.clone(), stats.clone(), format!("/live/{stream}"));
        let handle = std::thread::spawn(move || poll_loop(port, &base, &s, &st));
        Poller {
            stop,
            stats,
            handle: Some(handle),
        }
    }

    /// A copy of the figures so far.
    pub fn stats(&self) -> PollStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Parts so far.
    pub fn parts(&self) -> usize {
        self.stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .got
            .len()
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn poll_loop(port: u16, base: &str, stop: &AtomicBool, stats: &Mutex<PollStats>) {
    let lock = || stats.lock().unwrap_or_else(|e| e.into_inner());
    let mut conn: Option<Http> = None;
    let mut hint: Option<(u64, u64)> = None;
    let mut last_part = Instant::now();
    // Parts from the first hint on: older ones listed at the join are not asked for.
    let mut from: Option<(u64, u64)> = None;
    let within = Duration::from_secs(10);
    while !stop.load(Ordering::Relaxed) {
        let http = match conn.as_mut() {
            Some(h) => h,
            None => match Http::connect(Ipv4Addr::LOCALHOST, port) {
                Ok(h) => conn.insert(h),
                Err(e) => {
                    lock().errors.push(e);
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            },
        };
        let path = match hint {
            Some((m, p)) => format!("{base}/hls.fmp4.m3u8?_HLS_msn={m}&_HLS_part={p}"),
            None => format!("{base}/hls.fmp4.m3u8"),
        };
        let list = match http.get(&path, within) {
            Ok((200, body)) => Playlist::parse(&String::from_utf8_lossy(&body)),
            Ok((status, _)) => {
                lock().refused.push(format!("{status} {path}"));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            Err(e) => {
                lock().errors.push(format!("{path}: {e}"));
                conn = None;
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        lock().reloads += 1;
        let start = *from.get_or_insert(list.hint.unwrap_or((0, 0)));
        let mut wanted: Vec<(u64, u64)> =
            list.parts.iter().copied().filter(|p| *p >= start).collect();
        wanted.extend(list.hint);
        for part in wanted {
            if stop.load(Ordering::Relaxed) || lock().got.contains(&part) {
                continue;
            }
            let uri = format!("{base}/fmp4/{}.{}.m4s", part.0, part.1);
            match http.get(&uri, within) {
                Ok((200, _)) => {
                    let mut g = lock();
                    if !g.got.is_empty() {
                        g.max_gap = g.max_gap.max(last_part.elapsed());
                    }
                    g.got.insert(part);
                    last_part = Instant::now();
                }
                // The hinted part may never come (its segment closed first).
                Ok((404, _)) if Some(part) == list.hint => {}
                Ok((status, _)) => lock().refused.push(format!("{status} {uri}")),
                Err(e) => {
                    lock().errors.push(format!("{uri}: {e}"));
                    conn = None;
                    break;
                }
            }
        }
        hint = list.hint;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_hint_and_target_of_a_playlist() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n\
            #EXT-X-PART:DURATION=0.200,URI=\"fmp4/7.3.m4s\",INDEPENDENT=YES\n\
            #EXT-X-PART:DURATION=0.200,URI=\"fmp4/7.4.m4s\"\n#EXTINF:1.0,\nfmp4/7.m4s\n\
            #EXT-X-PART:DURATION=0.200,URI=\"fmp4/8.0.m4s\"\n\
            #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"fmp4/8.1.m4s\"\n";
        let p = Playlist::parse(text);
        assert_eq!(p.parts, vec![(7, 3), (7, 4), (8, 0)]);
        assert_eq!(p.hint, Some((8, 1)));
        assert_eq!(p.target, Some(1));
        assert_eq!(p.last_msn(), Some(7));
    }

    #[test]
    fn holes_between_the_first_and_last_part() {
        let mut s = PollStats::default();
        s.got.extend([(7, 3), (7, 4), (8, 0), (8, 2), (10, 0)]);
        assert_eq!(s.holes(), vec![(8, 1), (9, 0)]);
        s.got = [(7, 3), (7, 4), (8, 0), (8, 1)].into_iter().collect();
        assert!(s.holes().is_empty());
    }
}
