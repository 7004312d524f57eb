//! The clients the scenarios drive: real ffmpeg publishers, RTMP players and
//! publishers on rtmp-proto's client session, and raw sockets.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtmp_proto::session::MediaKind;
use rtmp_proto::{ClientConfig, ClientEvent, ClientMode, ClientSession, HandshakeParams};

/// The frame rate of every publisher.
pub const FPS: f64 = 25.0;

/// An ffmpeg publisher (`-re`, testsrc2 320x240 25 fps + sine, x264 + AAC, FLV over RTMP).
pub struct Ffmpeg {
    child: Child,
}

impl Ffmpeg {
    /// Starts publishing `live/<stream>` to the RTMP port.
    pub fn publish(rtmp_port: u16, stream: &str) -> Result<Ffmpeg, String> {
        Ffmpeg::spawn(
            &["-f", "flv"],
            format!("rtmp://127.0.0.1:{rtmp_port}/live/{stream}"),
        )
    }

    /// Starts publishing `live/<stream>` to the RTSP port (ANNOUNCE/RECORD,
    /// RTP interleaved over TCP).
    pub fn publish_rtsp(rtsp_port: u16, stream: &str) -> Result<Ffmpeg, String> {
        Ffmpeg::spawn(
            &["-f", "rtsp", "-rtsp_transport", "tcp"],
            format!("rtsp://127.0.0.1:{rtsp_port}/live/{stream}"),
        )
    }

    fn spawn(format: &[&str], url: String) -> Result<Ffmpeg, String> {
        let child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "quiet", "-nostdin", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args(["-c:v", "libx264", "-preset", "veryfast", "-g", "25"])
            .args(["-pix_fmt", "yuv420p", "-c:a", "aac"])
            .args(format)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run ffmpeg (apt-get install ffmpeg): {e}"))?;
        Ok(Ffmpeg { child })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `within` for ffmpeg to exit; true when it did.
    pub fn wait_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Ffmpeg {
    fn drop(&mut self) {
        let _ = super::server::signal(self.child.id(), "CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a player saw.
#[derive(Default, Clone, Debug)]
pub struct PlayStats {
    /// `NetStream.Play.Start` arrived.
    pub playing: bool,
    /// Video frames (not sequence headers) received.
    pub video_frames: u64,
    /// Video timestamps that went backwards.
    pub ts_regressions: u32,
    /// Last video timestamp.
    pub last_ts: Option<u32>,
    /// The server said the stream ended (Stream EOF, UnpublishNotify or Play.Stop).
    pub told_ended: bool,
    /// The server closed the connection.
    pub closed: bool,
    /// Why the session ended, if not by our stop.
    pub error: Option<String>,
}

/// A player (RTMP, or RTSP over TCP) on its own thread, counting video frames.
pub struct Player {
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<PlayStats>>,
    handle: Option<JoinHandle<()>>,
}

impl Player {
    /// Starts playing `live/<stream>` over RTMP.
    pub fn start(rtmp_port: u16, stream: &str) -> Player {
        Player::spawn(rtmp_port, stream, play_loop)
    }

    /// Starts playing `live/<stream>` over RTSP (TCP interleaved); frames
    /// are counted by the RTP marker bit.
    pub fn start_rtsp(rtsp_port: u16, stream: &str) -> Player {
        Player::spawn(rtsp_port, stream, super::rtsp::play_loop)
    }

    /// Starts `body` playing `live/<stream>` from `port` on its own thread.
    pub(super) fn spawn(port: u16, stream: &str, body: PlayFn) -> Player {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(PlayStats::default()));
        let (s, st, name) = (stop.clone(), stats.clone(), stream.to_string());
        let handle = std::thread::spawn(move || {
            if let Err(e) = body(port, &name, &s, &st) {
                lock(&st).error = Some(e);
            }
        });
        Player {
            stop,
            stats,
            handle: Some(handle),
        }
    }

    /// A copy of the figures so far.
    pub fn stats(&self) -> PlayStats {
        lock(&self.stats).clone()
    }

    /// Video frames so far.
    pub fn frames(&self) -> u64 {
        lock(&self.stats).video_frames
    }

    /// Tells the player to stop without waiting for it (dropping it waits).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A player's thread body: port, stream, stop flag, figures.
pub(super) type PlayFn = fn(u16, &str, &AtomicBool, &Mutex<PlayStats>) -> Result<(), String>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The client configuration of every RTMP client the suite drives.
pub(super) fn config(port: u16, stream: &str, mode: ClientMode) -> ClientConfig {
    ClientConfig {
        app: "live".into(),
        tc_url: format!("rtmp://127.0.0.1:{port}/live"),
        stream: stream.into(),
        mode,
        chunk_size: 4096,
        handshake: HandshakeParams {
            epoch: 0,
            seed: [7; 32],
        },
        digest: false,
        timeouts: rtmp_proto::ClientTimeouts::NONE,
    }
}

fn play_loop(
    port: u16,
    stream: &str,
    stop: &AtomicBool,
    stats: &Mutex<PlayStats>,
) -> Result<(), String> {
    let mut sock = super::server::connect_local(port, Duration::from_secs(5))?;
    sock.set_nodelay(true).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let mut session = ClientSession::new(config(port, stream, ClientMode::Play), Instant::now());
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        while let Some(out) = session.poll_transmit() {
            sock.write_all(&out).map_err(|e| format!("write: {e}"))?;
        }
        while let Some(ev) = session.poll_event() {
            let mut g = lock(stats);
            match ev {
                ClientEvent::Playing => g.playing = true,
                ClientEvent::Media {
                    kind: MediaKind::Video,
                    timestamp,
                    payload,
                } if payload.get(1) == Some(&1) => {
                    g.video_frames += 1;
                    if g.last_ts.is_some_and(|t| timestamp < t) {
                        g.ts_regressions += 1;
                    }
                    g.last_ts = Some(timestamp);
                }
                ClientEvent::StreamEof | ClientEvent::UnpublishNotify => g.told_ended = true,
                ClientEvent::Status { code, .. }
                    if code.contains("Stop") || code.contains("Unpublish") =>
                {
                    g.told_ended = true;
                }
                ClientEvent::Rejected { code, description } => {
                    return Err(format!("rejected: {code}: {description}"));
                }
                _ => {}
            }
        }
        match sock.read(&mut buf) {
            Ok(0) => {
                lock(stats).closed = true;
                return Ok(());
            }
            Ok(n) => session
                .handle_input(buf.get(..n).unwrap_or_default(), Instant::now())
                .map_err(|e| format!("session: {e}"))?,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                lock(stats).closed = true;
                return Err(format!("read: {e}"));
            }
        }
    }
    Ok(())
}

/// Drives a client session on a blocking socket until `done` says so, it is
/// rejected, or `within` passes. Returns the socket and the session.
pub fn rtmp_connect(
    port: u16,
    stream: &str,
    mode: ClientMode,
    within: Duration,
) -> Result<(TcpStream, ClientSession), String> {
    let sock = super::server::connect_local(port, within)?;
    rtmp_connect_on(sock, port, stream, mode, within)
}

/// [`rtmp_connect`] on a socket already connected to the RTMP `port` (an
/// attacker's, bound to another source address).
pub fn rtmp_connect_on(
    mut sock: TcpStream,
    port: u16,
    stream: &str,
    mode: ClientMode,
    within: Duration,
) -> Result<(TcpStream, ClientSession), String> {
    let deadline = Instant::now() + within;
    sock.set_nodelay(true).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    sock.set_write_timeout(Some(within))
        .map_err(|e| e.to_string())?;
    let mut session = ClientSession::new(config(port, stream, mode), Instant::now());
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some(out) = session.poll_transmit() {
            sock.write_all(&out).map_err(|e| format!("write: {e}"))?;
        }
        while let Some(ev) = session.poll_event() {
            match (ev, mode) {
                (ClientEvent::Publishing, ClientMode::Publish)
                | (ClientEvent::Playing, ClientMode::Play) => {
                    return Ok((sock, session));
                }
                (ClientEvent::Rejected { code, description }, _) => {
                    return Err(format!("rejected: {code}: {description}"));
                }
                _ => {}
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no answer within {} ms", within.as_millis()));
        }
        match sock.read(&mut buf) {
            Ok(0) => return Err("server closed".into()),
            Ok(n) => session
                .handle_input(buf.get(..n).unwrap_or_default(), Instant::now())
                .map_err(|e| format!("session: {e}"))?,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Sends queued bytes of a session.
pub fn flush(sock: &mut TcpStream, session: &mut ClientSession) -> Result<(), String> {
    while let Some(out) = session.poll_transmit() {
        sock.write_all(&out).map_err(|e| format!("write: {e}"))?;
    }
    Ok(())
}

/// One recorded FLV tag: kind, timestamp, body.
pub type Tag = (MediaKind, u32, Bytes);

/// A 2-second clip made once by ffmpeg (same encoding as the live
/// publishers), as FLV tags, for the purpose-built publishers.
pub fn clip() -> Result<Vec<Tag>, String> {
    let path = super::server::chaos_dir()?.join("clip-320x240.flv");
    if !path.exists() {
        let ok = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args([
                "-t", "2", "-c:v", "libx264", "-preset", "veryfast", "-g", "25",
            ])
            .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err("ffmpeg could not make the chaos clip (apt-get install ffmpeg)".into());
        }
    }
    let data = std::fs::read(&path).map_err(|e| e.to_string())?;
    let mut tags = Vec::new();
    let mut pos = 13;
    while let Some(h) = data.get(pos..pos + 11) {
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let Some(body) = data.get(pos + 11..pos + 11 + size) else {
            break;
        };
        let kind = match h[0] {
            8 => Some(MediaKind::Audio),
            9 => Some(MediaKind::Video),
            _ => None,
        };
        if let Some(kind) = kind {
            tags.push((kind, ts, Bytes::copy_from_slice(body)));
        }
        pos += 11 + size + 4;
    }
    if tags.is_empty() {
        return Err("the chaos clip has no tags".into());
    }
    Ok(tags)
}

/// Reads until the peer closes (true) or `within` passes (false); a reset
/// counts as closed. Data received is discarded.
pub fn closed_within(sock: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = vec![0u8; 64 * 1024];
    while Instant::now() < deadline {
        match sock.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// A small xorshift generator (no crates.io dependency for randomness).
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (never 0).
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}
