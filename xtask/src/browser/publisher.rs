//! The stream the WHEP scenario plays: ffmpeg publishing over RTMP a
//! 640x480 25 fps H.264 picture without B-frames and a 2 s GOP, with AAC,
//! whose top 16 rows carry the frame number (16 bits, one 40 px block per
//! bit, white = 1); and an RTMP player of the same stream that notes when
//! each video frame reached it, the reference for the browser's latency.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rtmp_proto::session::MediaKind;
use rtmp_proto::{ClientEvent, ClientMode};

use crate::chaos::clients::{flush, rtmp_connect};

/// Picture size of the published stream.
pub const SIZE: (u64, u64) = (640, 480);
/// Frames per second.
pub const FPS: u64 = 25;
/// Frames per GOP (2 s).
pub const GOP: u64 = 50;

/// The ffmpeg publisher; killed when dropped.
pub struct Publisher {
    child: Child,
}

impl Publisher {
    /// Starts publishing `live/<stream>` to the RTMP port.
    pub fn start(rtmp_port: u16, stream: &str) -> Result<Publisher, String> {
        let (w, h) = SIZE;
        // The strip: a 640x16 picture whose 40 px blocks are the bits of
        // the frame number N, laid over testsrc2.
        let graph = format!(
            "testsrc2=size={w}x{h}:rate={FPS}[bg];\
             color=c=black:size={w}x16:rate={FPS},format=yuv420p,\
             geq=lum='if(bitand(N\\,pow(2\\,floor(X/40)))\\,235\\,16)':cb=128:cr=128[strip];\
             [bg][strip]overlay=0:0:shortest=1,format=yuv420p[v]"
        );
        let child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
            .args(["-filter_complex", &graph])
            .args([
                "-f",
                "lavfi",
                "-re",
                "-i",
                "sine=frequency=440:sample_rate=48000",
            ])
            .args(["-map", "[v]", "-map", "0:a"])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
            ])
            .args(["-profile:v", "baseline", "-bf", "0"])
            .args(["-g", &GOP.to_string(), "-keyint_min", &GOP.to_string()])
            .args(["-sc_threshold", "0", "-r", &FPS.to_string()])
            .args(["-c:a", "aac", "-b:a", "96k", "-f", "flv"])
            .arg(format!("rtmp://127.0.0.1:{rtmp_port}/live/{stream}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run ffmpeg (apt-get install ffmpeg): {e}"))?;
        Ok(Publisher { child })
    }

    /// Whether ffmpeg still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Frames the reference player keeps (the last 3 minutes).
const KEEP: usize = 3 * 60 * FPS as usize;

#[derive(Default)]
struct Seen {
    /// FLV timestamp (ms) -> arrival (ms since the epoch).
    arrivals: BTreeMap<u32, u64>,
    /// Timestamps of keyframes.
    keyframes: Vec<u32>,
    error: Option<String>,
}

/// An RTMP player noting each video frame's arrival; stops when dropped.
pub struct Reference {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    handle: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Reference {
    /// Starts playing `live/<stream>` over RTMP.
    pub fn start(rtmp_port: u16, stream: &str) -> Reference {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (s, st, name) = (stop.clone(), seen.clone(), stream.to_string());
        let handle = std::thread::spawn(move || {
            if let Err(e) = reference_loop(rtmp_port, &name, &s, &st) {
                lock(&st).error = Some(e);
            }
        });
        Reference {
            stop,
            seen,
            handle: Some(handle),
        }
    }

    /// Why the player ended, if it did.
    pub fn error(&self) -> Option<String> {
        lock(&self.seen).error.clone()
    }

    /// The latency of each browser frame `(n, displayed at, ms since the
    /// epoch)`: its display time minus the arrival here of the frame whose
    /// timestamp is `n * 40 ms + c`, where `c` is the offset of the
    /// keyframes' timestamps from multiples of the GOP (the frame numbers
    /// of keyframes are multiples of [`GOP`]). Frames not seen here are left out.
    pub fn latencies(&self, shown: &[(u64, u64)]) -> Vec<i64> {
        let seen = lock(&self.seen);
        let gop_ms = (GOP * 1000 / FPS) as u32;
        let Some(c) = seen.keyframes.last().map(|k| k % gop_ms) else {
            return Vec::new();
        };
        shown
            .iter()
            .filter_map(|&(n, at)| {
                let ts = u32::try_from(n * 1000 / FPS).ok()?.checked_add(c)?;
                let arrived = *seen.arrivals.get(&ts)?;
                Some(at as i64 - arrived as i64)
            })
            .collect()
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn reference_loop(
    port: u16,
    stream: &str,
    stop: &AtomicBool,
    seen: &Mutex<Seen>,
) -> Result<(), String> {
    use std::io::{ErrorKind, Read};
    let (mut sock, mut session) =
        rtmp_connect(port, stream, ClientMode::Play, Duration::from_secs(5))?;
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        flush(&mut sock, &mut session)?;
        while let Some(ev) = session.poll_event() {
            if let ClientEvent::Media {
                kind: MediaKind::Video,
                timestamp,
                payload,
            } = ev
            {
                // AVC NAL units (not the sequence header).
                if payload.get(1) == Some(&1) {
                    let mut g = lock(seen);
                    g.arrivals.insert(timestamp, epoch_ms());
                    if payload.first().is_some_and(|b| b >> 4 == 1) {
                        g.keyframes.push(timestamp);
                    }
                    while g.arrivals.len() > KEEP {
                        g.arrivals.pop_first();
                    }
                    let extra = g.keyframes.len().saturating_sub(KEEP);
                    g.keyframes.drain(..extra);
                }
            }
        }
        match sock.read(&mut buf) {
            Ok(0) => return Err("the server closed the reference player".into()),
            Ok(n) => session
                .handle_input(buf.get(..n).unwrap_or_default(), std::time::Instant::now())
                .map_err(|e| format!("reference player: {e}"))?,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(format!("reference player: read: {e}")),
        }
    }
    Ok(())
}
