//! The RTSP clients the scenarios drive (RFC 2326 over raw sockets): a
//! request/answer exchange that skips interleaved frames, a publisher
//! (ANNOUNCE, SETUP, RECORD, then RTP from the chaos clip over TCP
//! interleaving or UDP) and a player (DESCRIBE, SETUP, PLAY) that counts
//! video frames by the RTP marker bit (RFC 6184 §5.1: set on the last packet
//! of an access unit). No depacketizing: a frame's arrival is the proof.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::clients::PlayStats;
pub use super::rtp_clip::{rtp_clip, RtpClip};

/// Largest answer head accepted from the server.
const MAX_HEAD: usize = 64 * 1024;

/// One answer from the server.
#[derive(Debug, Default)]
pub struct Answer {
    /// Status code (0 if the status line was not RTSP).
    pub status: u16,
    /// Header fields as sent.
    pub headers: Vec<(String, String)>,
    /// Body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

impl Answer {
    /// A header's value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What arrives on an RTSP connection.
pub enum Msg {
    /// An answer to a request.
    Answer(Answer),
    /// An interleaved frame (RFC 2326 §10.12): channel and data.
    Frame(u8, Vec<u8>),
}

/// An RTSP connection to `live/<stream>`.
pub struct RtspConn {
    /// The socket (100 ms read timeout).
    pub sock: TcpStream,
    buf: Vec<u8>,
    cseq: u32,
    session: Option<String>,
    /// `rtsp://127.0.0.1:PORT/live/STREAM`.
    pub url: String,
}

impl RtspConn {
    /// Connects to the RTSP port for `live/<stream>`.
    pub fn connect(port: u16, stream: &str) -> Result<RtspConn, String> {
        let sock = super::server::connect_local(port, Duration::from_secs(5))?;
        sock.set_nodelay(true).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        sock.set_write_timeout(Some(Duration::from_secs(3)))
            .map_err(|e| e.to_string())?;
        Ok(RtspConn {
            sock,
            buf: Vec::new(),
            cseq: 0,
            session: None,
            url: format!("rtsp://127.0.0.1:{port}/live/{stream}"),
        })
    }

    /// Sends a request (`CSeq` and `Session` added; `headers` are whole lines).
    pub fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[String],
        body: &[u8],
    ) -> Result<(), String> {
        self.cseq += 1;
        let mut head = format!("{method} {url} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
        if let Some(s) = &self.session {
            head.push_str(&format!("Session: {s}\r\n"));
        }
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        if !body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.sock
            .write_all(&bytes)
            .map_err(|e| format!("{method}: write: {e}"))
    }

    /// Sends a request and waits up to `within` for its answer (interleaved
    /// frames before it are dropped).
    pub fn request(
        &mut self,
        method: &str,
        url: &str,
        headers: &[String],
        body: &[u8],
        within: Duration,
    ) -> Result<Answer, String> {
        self.send(method, url, headers, body)?;
        let deadline = Instant::now() + within;
        loop {
            match self.next_msg(deadline)? {
                Some(Msg::Answer(a)) => {
                    if let Some(s) = a.header("Session") {
                        let id = s.split(';').next().unwrap_or_default().trim();
                        self.session = Some(id.to_string());
                    }
                    return Ok(a);
                }
                Some(Msg::Frame(..)) => {}
                None => {
                    return Err(format!(
                        "{method}: no answer within {} ms",
                        within.as_millis()
                    ))
                }
            }
        }
    }

    /// The next message, or `None` once `deadline` passes; an error when the
    /// server closed the connection or sent something unreadable.
    pub fn next_msg(&mut self, deadline: Instant) -> Result<Option<Msg>, String> {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if let Some(m) = self.parse()? {
                return Ok(Some(m));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            match self.sock.read(&mut chunk) {
                Ok(0) => return Err("server closed".into()),
                Ok(n) => self
                    .buf
                    .extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// One complete message off the front of the buffer.
    fn parse(&mut self) -> Result<Option<Msg>, String> {
        if self.buf.first() == Some(&b'$') {
            let Some(&[_, ch, a, b]) = self.buf.get(..4) else {
                return Ok(None);
            };
            let end = 4 + usize::from(u16::from_be_bytes([a, b]));
            let Some(data) = self.buf.get(4..end) else {
                return Ok(None);
            };
            let data = data.to_vec();
            self.buf.drain(..end);
            return Ok(Some(Msg::Frame(ch, data)));
        }
        let Some(head_end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            if self.buf.len() > MAX_HEAD {
                return Err("answer head over 64 KiB".into());
            }
            return Ok(None);
        };
        let head = String::from_utf8_lossy(self.buf.get(..head_end).unwrap_or_default());
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .filter(|l| l.starts_with("RTSP/"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let mut answer = Answer {
            status,
            headers,
            body: Vec::new(),
        };
        let len: usize = answer
            .header("Content-Length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let body_at = head_end + 4;
        let Some(body) = self.buf.get(body_at..body_at + len) else {
            return Ok(None);
        };
        answer.body = body.to_vec();
        self.buf.drain(..body_at + len);
        Ok(Some(Msg::Answer(answer)))
    }

    /// Sends one interleaved frame (RFC 2326 §10.12).
    pub fn send_frame(&mut self, channel: u8, data: &[u8]) -> Result<(), String> {
        let len = u16::try_from(data.len()).map_err(|_| "interleaved frame over 64 KiB")?;
        let mut b = Vec::with_capacity(4 + data.len());
        b.push(b'$');
        b.push(channel);
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(data);
        self.sock
            .write_all(&b)
            .map_err(|e| format!("interleaved write: {e}"))
    }
}

/// An even/odd pair of loopback UDP sockets (RTP, RTCP) for `client_port`.
fn udp_pair() -> Result<(UdpSocket, UdpSocket), String> {
    for _ in 0..50 {
        let rtp = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = rtp.local_addr().map_err(|e| e.to_string())?.port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) {
            return Ok((rtp, rtcp));
        }
    }
    Err("no free even/odd UDP port pair".into())
}

/// `server_port=a-b` of a SETUP answer's `Transport`.
fn server_port(a: &Answer) -> Option<u16> {
    a.header("Transport")?
        .split(';')
        .find_map(|p| p.trim().strip_prefix("server_port="))?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// How a publisher's RTP leaves.
enum Route {
    /// Interleaved on this channel.
    Channel(u8),
    /// To the server's RTP port, from our socket.
    Udp(UdpSocket, SocketAddr),
}

/// A recording RTSP session.
pub struct RtspPublisher {
    /// The control connection.
    pub conn: RtspConn,
    routes: Vec<Route>,
}

impl RtspPublisher {
    /// ANNOUNCE the clip's SDP, SETUP each track (interleaved, or UDP when
    /// `udp`), RECORD. A refused ANNOUNCE is `Err("rejected: <status>")`.
    pub fn start(
        port: u16,
        stream: &str,
        clip: &RtpClip,
        udp: bool,
        within: Duration,
    ) -> Result<RtspPublisher, String> {
        let mut conn = RtspConn::connect(port, stream)?;
        let url = conn.url.clone();
        let a = conn.request(
            "ANNOUNCE",
            &url,
            &["Content-Type: application/sdp".into()],
            clip.sdp.as_bytes(),
            within,
        )?;
        if a.status != 200 {
            return Err(format!("rejected: ANNOUNCE answered {}", a.status));
        }
        let mut routes = Vec::new();
        for track in 0..clip.tracks {
            let (transport, pair) = if udp {
                let (rtp, rtcp) = udp_pair()?;
                let p = rtp.local_addr().map_err(|e| e.to_string())?.port();
                let t = format!(
                    "Transport: RTP/AVP;unicast;client_port={p}-{};mode=record",
                    p + 1
                );
                (t, Some((rtp, rtcp)))
            } else {
                let c = track as u8 * 2;
                let t = format!(
                    "Transport: RTP/AVP/TCP;unicast;interleaved={c}-{};mode=record",
                    c + 1
                );
                (t, None)
            };
            let a = conn.request(
                "SETUP",
                &format!("{url}/streamid={track}"),
                &[transport],
                &[],
                within,
            )?;
            if a.status != 200 {
                return Err(format!("SETUP answered {}", a.status));
            }
            routes.push(match pair {
                Some((rtp, _rtcp)) => {
                    let sp = server_port(&a).ok_or("SETUP answer without server_port")?;
                    Route::Udp(rtp, SocketAddr::from(([127, 0, 0, 1], sp)))
                }
                None => Route::Channel(track as u8 * 2),
            });
        }
        let a = conn.request("RECORD", &url, &["Range: npt=0.000-".into()], &[], within)?;
        if a.status != 200 {
            return Err(format!("RECORD answered {}", a.status));
        }
        Ok(RtspPublisher { conn, routes })
    }

    /// Sends one RTP packet of `track`.
    pub fn send(&mut self, track: usize, packet: &[u8]) -> Result<(), String> {
        match self.routes.get(track) {
            Some(Route::Channel(c)) => {
                let c = *c;
                self.conn.send_frame(c, packet)
            }
            Some(Route::Udp(sock, to)) => sock
                .send_to(packet, to)
                .map(|_| ())
                .map_err(|e| format!("udp send: {e}")),
            None => Err(format!("no track {track}")),
        }
    }

    /// Sends the clip's first `n` packets.
    pub fn send_clip(&mut self, clip: &RtpClip, n: usize) -> Result<(), String> {
        for (track, p) in clip.packets.iter().take(n) {
            self.send(*track, p)?;
        }
        Ok(())
    }
}

/// A playing RTSP session.
pub struct RtspPlay {
    /// The control connection.
    pub conn: RtspConn,
    /// The interleaved RTP channel of the video track, over TCP.
    pub video_channel: Option<u8>,
    /// RTP/RTCP sockets per track, over UDP (video first if any).
    pub udp: Vec<(UdpSocket, UdpSocket)>,
}

impl RtspPlay {
    /// DESCRIBE, SETUP every described track (interleaved, or UDP when
    /// `udp`), PLAY. A refused DESCRIBE is `Err("rejected: <status>")`.
    pub fn start(port: u16, stream: &str, udp: bool, within: Duration) -> Result<RtspPlay, String> {
        let mut conn = RtspConn::connect(port, stream)?;
        let url = conn.url.clone();
        let a = conn.request(
            "DESCRIBE",
            &url,
            &["Accept: application/sdp".into()],
            &[],
            within,
        )?;
        if a.status != 200 {
            return Err(format!("rejected: DESCRIBE answered {}", a.status));
        }
        let base = a
            .header("Content-Base")
            .map(|b| b.trim_end_matches('/').to_string())
            .unwrap_or_else(|| url.clone());
        // (kind, control) per media section (RFC 4566 §5.14, RFC 2326 §C.1.1).
        let mut media: Vec<(String, Option<String>)> = Vec::new();
        for line in String::from_utf8_lossy(&a.body).lines() {
            if let Some(m) = line.strip_prefix("m=") {
                media.push((m.split(' ').next().unwrap_or_default().to_string(), None));
            } else if let (Some(c), Some(last)) =
                (line.strip_prefix("a=control:"), media.last_mut())
            {
                last.1 = Some(c.trim().to_string());
            }
        }
        if media.is_empty() {
            return Err("DESCRIBE answer without media".into());
        }
        let mut video_channel = None;
        let mut socks = Vec::new();
        for (i, (kind, control)) in media.iter().enumerate() {
            let track_url = match control.as_deref() {
                Some(c) if c.starts_with("rtsp://") => c.to_string(),
                Some(c) => format!("{base}/{c}"),
                None => base.clone(),
            };
            let transport = if udp {
                let (rtp, rtcp) = udp_pair()?;
                let p = rtp.local_addr().map_err(|e| e.to_string())?.port();
                let _ = rtp.set_read_timeout(Some(Duration::from_millis(50)));
                socks.push((rtp, rtcp));
                format!("Transport: RTP/AVP;unicast;client_port={p}-{}", p + 1)
            } else {
                let c = i as u8 * 2;
                format!("Transport: RTP/AVP/TCP;unicast;interleaved={c}-{}", c + 1)
            };
            let a = conn.request("SETUP", &track_url, &[transport], &[], within)?;
            if a.status != 200 {
                return Err(format!("SETUP answered {}", a.status));
            }
            if kind == "video" && !udp {
                video_channel = Some(i as u8 * 2);
            }
        }
        let a = conn.request("PLAY", &url, &["Range: npt=0.000-".into()], &[], within)?;
        if a.status != 200 {
            return Err(format!("PLAY answered {}", a.status));
        }
        Ok(RtspPlay {
            conn,
            video_channel,
            udp: socks,
        })
    }

    /// Waits up to `within` for the first video RTP packet (interleaved) or
    /// any RTP datagram (UDP); true when one came.
    pub fn saw_media(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        if let Some((rtp, _)) = self.udp.first() {
            let mut b = [0u8; 2048];
            while Instant::now() < deadline {
                if rtp.recv(&mut b).is_ok() {
                    return true;
                }
            }
            return false;
        }
        while let Ok(Some(m)) = self.conn.next_msg(deadline) {
            if matches!(m, Msg::Frame(c, _) if Some(c) == self.video_channel) {
                return true;
            }
        }
        false
    }
}

/// A player's life on its own thread: plays `live/<stream>` over TCP and
/// counts video frames (marker bit) until `stop`.
pub fn play_loop(
    port: u16,
    stream: &str,
    stop: &AtomicBool,
    stats: &Mutex<PlayStats>,
) -> Result<(), String> {
    let mut p = RtspPlay::start(port, stream, false, Duration::from_secs(5))?;
    let lock = || stats.lock().unwrap_or_else(|e| e.into_inner());
    lock().playing = true;
    while !stop.load(Ordering::Relaxed) {
        match p.conn.next_msg(Instant::now() + Duration::from_millis(100)) {
            Ok(Some(Msg::Frame(ch, data))) if Some(ch) == p.video_channel => {
                // RTP marker bit (RFC 3550 §5.1): the access unit is complete.
                if data.get(1).is_some_and(|b| b & 0x80 != 0) {
                    let mut st = lock();
                    st.video_frames += 1;
                    // RTP timestamps are presentation times (B-frames go back
                    // a few frames): only a step back of over 0.5 s (90 kHz)
                    // counts as a regression, e.g. a restart from zero.
                    if let Some(ts) = data
                        .get(4..8)
                        .map(|t| u32::from_be_bytes([t[0], t[1], t[2], t[3]]))
                    {
                        if st
                            .last_ts
                            .is_some_and(|l| (ts.wrapping_sub(l) as i32) < -45_000)
                        {
                            st.ts_regressions += 1;
                        }
                        st.last_ts = Some(ts);
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                lock().closed = true;
                return Err(e);
            }
        }
    }
    Ok(())
}
