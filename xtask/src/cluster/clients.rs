//! The cluster scenarios' own clients, beside chaos's ffmpeg publishers and
//! RTMP players: an HTTP-FLV player that checks timestamps, a light RTMP
//! publisher replaying the chaos clip (many at once cost little CPU),
//! ffprobe over every protocol, and the time to a player's first frame.

use std::io::{ErrorKind, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtmp_proto::ClientMode;

use crate::chaos::clients::{flush, rtmp_connect, PlayStats, Tag};
use crate::chaos::server::connect_local;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An HTTP-FLV player (`GET /live/<stream>.live.flv`) on its own thread:
/// counts video frames, timestamps that go back, and when the first frame came.
pub struct FlvPlayer {
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<PlayStats>>,
    first: Arc<Mutex<Option<Instant>>>,
    handle: Option<JoinHandle<()>>,
}

impl FlvPlayer {
    /// Starts playing from the HTTP port.
    pub fn start(http_port: u16, stream: &str) -> FlvPlayer {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(PlayStats::default()));
        let first = Arc::new(Mutex::new(None));
        let (s, st, f, name) = (
            stop.clone(),
            stats.clone(),
            first.clone(),
            stream.to_string(),
        );
        let handle = std::thread::spawn(move || {
            if let Err(e) = flv_loop(http_port, &name, &s, &st, &f) {
                lock(&st).error = Some(e);
            }
        });
        FlvPlayer {
            stop,
            stats,
            first,
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

    /// When the first video frame arrived.
    pub fn first_frame(&self) -> Option<Instant> {
        *lock(&self.first)
    }
}

impl Drop for FlvPlayer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn flv_loop(
    port: u16,
    stream: &str,
    stop: &AtomicBool,
    stats: &Mutex<PlayStats>,
    first: &Mutex<Option<Instant>>,
) -> Result<(), String> {
    let mut sock = connect_local(port, Duration::from_secs(5))?;
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    // HTTP/1.0: the body runs until the server closes, never chunked.
    write!(
        sock,
        "GET /live/{stream}.live.flv HTTP/1.0\r\nHost: x\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let (mut data, mut buf) = (Vec::new(), vec![0u8; 64 * 1024]);
    let mut body_at = None;
    while !stop.load(Ordering::Relaxed) {
        match sock.read(&mut buf) {
            Ok(0) => {
                lock(stats).closed = true;
                return Ok(());
            }
            Ok(n) => data.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => {
                lock(stats).closed = true;
                return Err(format!("read: {e}"));
            }
        }
        let mut pos = match body_at {
            Some(p) => p,
            None => {
                let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(data.get(..end).unwrap_or_default());
                if head.split_whitespace().nth(1) != Some("200") {
                    return Err(format!(
                        "HTTP-FLV: {}",
                        head.lines().next().unwrap_or_default()
                    ));
                }
                // The FLV header (9 bytes) and the first previous-tag-size (4).
                if data.len() < end + 4 + 13 {
                    continue;
                }
                lock(stats).playing = true;
                end + 4 + 13
            }
        };
        while let Some(h) = data.get(pos..pos + 11) {
            let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
            let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
            let Some(body) = data.get(pos + 11..pos + 11 + size + 4) else {
                break;
            };
            if h[0] == 9 && body.get(1) == Some(&1) {
                let mut g = lock(stats);
                g.video_frames += 1;
                if g.last_ts.is_some_and(|t| ts < t) {
                    g.ts_regressions += 1;
                }
                g.last_ts = Some(ts);
                let mut f = lock(first);
                f.get_or_insert_with(Instant::now);
            }
            pos += 11 + size + 4;
        }
        data.drain(..pos.min(data.len()));
        body_at = Some(0);
    }
    Ok(())
}

/// Outcome of a [`ClipPublisher`]'s publish request.
const PENDING: u8 = 0;
const ACCEPTED: u8 = 1;
const REFUSED: u8 = 2;

/// A light RTMP publisher of `live/<stream>` replaying the chaos clip at
/// real time (the clip looped, timestamps running on) until stopped or closed.
pub struct ClipPublisher {
    stop: Arc<AtomicBool>,
    outcome: Arc<AtomicU8>,
    closed: Arc<AtomicBool>,
    why: Arc<Mutex<String>>,
    handle: Option<JoinHandle<()>>,
}

impl ClipPublisher {
    /// Connects and asks to publish on its own thread.
    pub fn start(rtmp_port: u16, stream: &str, clip: Arc<Vec<Tag>>) -> ClipPublisher {
        let stop = Arc::new(AtomicBool::new(false));
        let outcome = Arc::new(AtomicU8::new(PENDING));
        let closed = Arc::new(AtomicBool::new(false));
        let why = Arc::new(Mutex::new(String::new()));
        let (s, o, c, w, name) = (
            stop.clone(),
            outcome.clone(),
            closed.clone(),
            why.clone(),
            stream.to_string(),
        );
        let handle = std::thread::spawn(move || {
            let r = publish_clip(rtmp_port, &name, &clip, &s, &o);
            if o.load(Ordering::Relaxed) == PENDING {
                o.store(REFUSED, Ordering::Relaxed);
            }
            if let Err(e) = r {
                *lock(&w) = e;
            }
            c.store(true, Ordering::Relaxed);
        });
        ClipPublisher {
            stop,
            outcome,
            closed,
            why,
            handle: Some(handle),
        }
    }

    /// Waits up to `within` for the answer: `Some(true)` accepted,
    /// `Some(false)` refused (or failed), `None` no answer yet.
    pub fn accepted(&self, within: Duration) -> Option<bool> {
        let deadline = Instant::now() + within;
        loop {
            match self.outcome.load(Ordering::Relaxed) {
                ACCEPTED => return Some(true),
                REFUSED => return Some(false),
                _ if Instant::now() > deadline => return None,
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    /// Whether the server ended it (or it failed).
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Why it ended, if it did by an error or a refusal.
    pub fn why(&self) -> String {
        lock(&self.why).clone()
    }
}

impl Drop for ClipPublisher {
    /// Closes the socket without unpublishing: an abrupt end, as a killed encoder's.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn publish_clip(
    port: u16,
    stream: &str,
    clip: &[Tag],
    stop: &AtomicBool,
    outcome: &AtomicU8,
) -> Result<(), String> {
    let (mut sock, mut session) =
        rtmp_connect(port, stream, ClientMode::Publish, Duration::from_secs(3))?;
    outcome.store(ACCEPTED, Ordering::Relaxed);
    let _ = sock.set_read_timeout(Some(Duration::from_millis(1)));
    let _ = sock.set_write_timeout(Some(Duration::from_secs(3)));
    let span = clip.last().map_or(2000, |t| t.1 + 40);
    let started = Instant::now();
    let mut buf = vec![0u8; 16 * 1024];
    for lap in 0u32.. {
        for (kind, ts, body) in clip {
            // Sequence headers once, at the start.
            if lap > 0 && body.get(1) == Some(&0) {
                continue;
            }
            let ts = ts + lap * span;
            loop {
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let due = Duration::from_millis(u64::from(ts));
                let now = started.elapsed();
                if now >= due {
                    break;
                }
                std::thread::sleep((due - now).min(Duration::from_millis(20)));
            }
            session
                .send_media(*kind, ts, body.clone())
                .map_err(|e| format!("send: {e}"))?;
            flush(&mut sock, &mut session)?;
            match sock.read(&mut buf) {
                Ok(0) => return Err("closed by the server".into()),
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
    Ok(())
}

/// The media kinds ffprobe finds at `url`: `["audio", "video"]` when both.
pub fn ffprobe(url: &str) -> Result<Vec<String>, String> {
    let mut cmd = Command::new("timeout");
    cmd.args(["15", "ffprobe", "-v", "error"]);
    if url.starts_with("rtsp:") {
        cmd.args(["-rtsp_transport", "tcp"]);
    }
    let out = cmd
        .args(["-show_entries", "stream=codec_type", "-of", "csv=p=0"])
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ffprobe: {e}"))?;
    let mut kinds: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(',').to_string())
        .filter(|l| !l.is_empty())
        .collect();
    kinds.sort();
    kinds.dedup();
    if kinds.is_empty() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{url}: no stream ({})",
            err.lines().last().unwrap_or("no output")
        ));
    }
    Ok(kinds)
}

/// The URLs of `live/<stream>` on a node, one per protocol.
pub fn urls(node: &crate::chaos::server::Server, stream: &str) -> Vec<(&'static str, String)> {
    let (r, t, h) = (node.rtmp, node.rtsp, node.http);
    vec![
        ("rtmp", format!("rtmp://127.0.0.1:{r}/live/{stream}")),
        ("rtsp", format!("rtsp://127.0.0.1:{t}/live/{stream}")),
        (
            "flv",
            format!("http://127.0.0.1:{h}/live/{stream}.live.flv"),
        ),
        ("ts", format!("http://127.0.0.1:{h}/live/{stream}.live.ts")),
        (
            "hls",
            format!("http://127.0.0.1:{h}/live/{stream}/hls.m3u8"),
        ),
    ]
}

/// Polls `cond` every 2 ms until true or `within` passes; the time it took
/// (finer than [`crate::chaos::wait_for`], for first-frame times).
pub fn time_until(within: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < within {
        if cond() {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

/// Quantile `q` of samples in milliseconds (0 without samples).
pub fn quantile_ms(samples: &[Duration], q: f64) -> u128 {
    let mut s = samples.to_vec();
    s.sort();
    if s.is_empty() {
        return 0;
    }
    let i = ((s.len() - 1) as f64 * q).round() as usize;
    s.get(i).map_or(0, Duration::as_millis)
}
