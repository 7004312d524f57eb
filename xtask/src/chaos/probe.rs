//! The probe: `/healthz` and `/api/v1/streams` every 100 ms on its own
//! thread, latency recorded, any failure remembered; it also samples the
//! server's peak RSS.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::server::{http_get, rss_kib};

/// What the probe saw.
#[derive(Default)]
pub struct ProbeStats {
    /// Latency of every answered call.
    pub samples: Vec<Duration>,
    /// Every failed call, with its reason.
    pub failures: Vec<String>,
    /// Highest RSS seen, KiB.
    pub peak_rss_kib: u64,
}

impl ProbeStats {
    /// The `q` quantile in milliseconds (0 without samples).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let mut s = self.samples.clone();
        s.sort();
        if s.is_empty() {
            return 0.0;
        }
        let i = ((s.len() - 1) as f64 * q).round() as usize;
        s.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }
}

/// A running probe.
pub struct Probe {
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<ProbeStats>>,
    handle: Option<JoinHandle<()>>,
}

/// The paths probed each tick.
const PATHS: &[&str] = &["/healthz", "/api/v1/streams"];

impl Probe {
    /// Starts probing the server on `http_port` (process `pid`).
    pub fn start(http_port: u16, pid: u32) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(ProbeStats::default()));
        let (s, st) = (stop.clone(), stats.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let tick = Instant::now();
                for path in PATHS {
                    let t = Instant::now();
                    let r = http_get(http_port, path);
                    let took = t.elapsed();
                    let mut g = st.lock().unwrap_or_else(|e| e.into_inner());
                    match r {
                        Ok((200, _)) => g.samples.push(took),
                        Ok((code, body)) => g.failures.push(format!("{path}: {code} {body}")),
                        Err(e) => g.failures.push(e),
                    }
                    g.peak_rss_kib = g.peak_rss_kib.max(rss_kib(pid));
                }
                std::thread::sleep(Duration::from_millis(100).saturating_sub(tick.elapsed()));
            }
        });
        Probe {
            stop,
            stats,
            handle: Some(handle),
        }
    }

    /// Stops the probe and returns what it saw.
    pub fn finish(mut self) -> ProbeStats {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        std::mem::take(&mut *self.stats.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
