//! The WebRTC load client of `cargo xtask bench --webrtc`: N WHEP viewers,
//! each a client-side `str0m::Rtc` on its own UDP socket (full ICE, DTLS,
//! SRTP), all driven by one tokio runtime of `--threads` workers.
//!
//! Viewers join in batches of `--batch` (each batch connected, or its
//! connect timeout passed, before the next), then the window opens once
//! every viewer has its first frame (at most 15 s) and lasts `--secs`.
//! Every viewer counts video frames (`MediaData` of its video mid), media
//! bytes and UDP bytes received in the window, and the time from its POST
//! to its first video `MediaData`. With `--server-pid`, strom's CPU and RSS
//! over the window come from `/proc`; its WebRTC bytes out and sessions from
//! `/metrics`. One JSON line with the figures goes to stdout.
//!
//! ```sh
//! cargo run --release -p server-bin --example webrtc_load -- \
//!     --http-port 8080 --stream live/bench --viewers 100 --secs 15
//! ```

mod viewer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use viewer::{Shared, Stats};

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 8080)]
    http_port: u16,
    /// app/stream
    #[arg(long, default_value = "live/bench")]
    stream: String,
    /// WHEP viewers.
    #[arg(long, default_value_t = 10)]
    viewers: usize,
    /// Viewers started together; the next batch waits for this one.
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// Measurement window once every viewer has its first frame.
    #[arg(long, default_value_t = 15)]
    secs: u64,
    /// Seconds a viewer may take from its POST to ICE + DTLS connected.
    #[arg(long, default_value_t = 10)]
    connect_timeout: u64,
    /// Offer only video (no recvonly audio m-line).
    #[arg(long)]
    no_audio: bool,
    /// Worker threads of the client's runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// strom's process id: its CPU and RSS over the window are reported.
    #[arg(long)]
    server_pid: Option<u32>,
}

/// Longest the window waits for every viewer's first frame.
const FIRST_FRAME_WAIT: Duration = Duration::from_secs(15);
/// Largest `/metrics` page read.
const MAX_METRICS: u64 = 4 << 20;

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .expect("runtime");
    let report = rt.block_on(run(args));
    println!("{report}");
}

async fn run(args: Args) -> serde_json::Value {
    let provider = str0m::crypto::from_feature_flags();
    let Some(cert) = provider.dtls_provider.generate_certificate() else {
        return json!({ "error": "no DTLS certificate could be generated" });
    };
    let connect_timeout = Duration::from_secs(args.connect_timeout);
    // Every viewer's lifetime is bounded: ramp + first frames + window + slack.
    let batches = args.viewers.div_ceil(args.batch.max(1)) as u32;
    let deadline = Instant::now()
        + connect_timeout * (batches + 1)
        + FIRST_FRAME_WAIT
        + Duration::from_secs(args.secs + 10);
    let shared = Arc::new(Shared {
        host: args.host.clone(),
        http_port: args.http_port,
        path: format!("/{}/whep", args.stream),
        audio: !args.no_audio,
        cert,
        window: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        connect_timeout,
        deadline,
    });
    let ramp_started = Instant::now();
    let mut viewers: Vec<(Arc<Stats>, tokio::task::JoinHandle<()>)> = Vec::new();
    let cpu_start = cpu_seconds("self");
    while viewers.len() < args.viewers {
        let n = args.batch.max(1).min(args.viewers - viewers.len());
        let from = viewers.len();
        for _ in 0..n {
            let stats = Arc::new(Stats::default());
            let task = tokio::spawn(viewer::run(shared.clone(), stats.clone()));
            viewers.push((stats, task));
        }
        let batch = &viewers[from..];
        wait_until(connect_timeout + Duration::from_secs(1), || {
            batch
                .iter()
                .all(|(s, _)| s.connected.load(Ordering::Relaxed) || s.failed())
        })
        .await;
    }
    let ramp_secs = ramp_started.elapsed().as_secs_f64();
    let ramp_cpu = cpu_seconds("self") - cpu_start;
    wait_until(FIRST_FRAME_WAIT, || {
        viewers
            .iter()
            .all(|(s, _)| s.first_frame_us.load(Ordering::Relaxed) > 0 || s.failed())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let server = args.server_pid.map(|p| p.to_string());
    let metrics_before = metrics(&args).await;
    let server_cpu_before = server.as_deref().map(cpu_seconds);
    let rss_before = server.as_deref().map(|p| status_kib(p, "VmRSS:"));
    let cpu_before = cpu_seconds("self");
    let opened = Instant::now();
    shared.window.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    shared.window.store(false, Ordering::Relaxed);
    let wall = opened.elapsed().as_secs_f64();
    let client_cpu = (cpu_seconds("self") - cpu_before) / wall;
    let server_cpu = server
        .as_deref()
        .zip(server_cpu_before)
        .map(|(p, b)| (cpu_seconds(p) - b) / wall);
    let rss_after = server.as_deref().map(|p| status_kib(p, "VmRSS:"));
    let metrics_after = metrics(&args).await;

    shared.stop.store(true, Ordering::Relaxed);
    for (_, task) in &mut viewers {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    let stats: Vec<Arc<Stats>> = viewers.into_iter().map(|(s, _)| s).collect();
    let mut report = summary(&stats, wall);
    report["secs"] = json!(wall);
    report["ramp_secs"] = json!(ramp_secs);
    report["client_cpu_seconds_per_second"] = json!(client_cpu);
    report["client_ramp_cpu_seconds"] = json!(ramp_cpu);
    report["client_threads"] = json!(args.threads);
    if let Some(cpu) = server_cpu {
        report["server_cpu_seconds_per_second"] = json!(cpu);
    }
    if let (Some(b), Some(a)) = (rss_before, rss_after) {
        report["server_rss_kib"] = json!({ "window_start": b, "window_end": a });
    }
    if let (Some(b), Some(a)) = (&metrics_before, &metrics_after) {
        report["server_webrtc_bytes_out_per_second"] = json!((a.bytes_out - b.bytes_out) / wall);
        report["server_webrtc_sessions"] = json!(a.sessions);
    }
    report
}

/// Polls `ok` every 50 ms until it holds, at most `within`.
async fn wait_until(within: Duration, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + within;
    while !ok() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn summary(stats: &[Arc<Stats>], secs: f64) -> serde_json::Value {
    let load = |f: fn(&Stats) -> &std::sync::atomic::AtomicU64| -> Vec<u64> {
        stats.iter().map(|s| f(s).load(Ordering::Relaxed)).collect()
    };
    let mut fps: Vec<f64> = load(|s| &s.frames)
        .iter()
        .map(|&f| f as f64 / secs)
        .collect();
    fps.sort_by(f64::total_cmp);
    let mut first: Vec<f64> = load(|s| &s.first_frame_us)
        .iter()
        .filter(|&&us| us > 0)
        .map(|&us| us as f64 / 1000.0)
        .collect();
    first.sort_by(f64::total_cmp);
    let media: u64 = load(|s| &s.media_bytes).iter().sum();
    let udp: u64 = load(|s| &s.udp_bytes).iter().sum();
    let errors: Vec<String> = stats
        .iter()
        .filter_map(|s| s.error.lock().unwrap_or_else(|e| e.into_inner()).clone())
        .take(3)
        .collect();
    let failed = stats.iter().filter(|s| s.failed()).count();
    json!({
        "viewers": stats.len(),
        "connected": stats.iter().filter(|s| s.connected.load(Ordering::Relaxed)).count(),
        "with_video": first.len(),
        "failed": failed,
        "errors": errors,
        "fps_min": fps.first().copied(),
        "fps_median": pct(&fps, 0.5),
        "media_bytes": media,
        "udp_bytes": udp,
        "delivered_gbit_per_second": udp as f64 * 8.0 / secs / 1e9,
        "media_gbit_per_second": media as f64 * 8.0 / secs / 1e9,
        "first_frame_ms": { "p50": pct(&first, 0.5), "p95": pct(&first, 0.95), "max": first.last().copied() },
    })
}

/// The `q` quantile of sorted values (nearest rank).
fn pct(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    (n > 0).then(|| sorted[((n as f64 * q).ceil() as usize).clamp(1, n) - 1])
}

/// CPU seconds of a process (`self` or a pid): utime + stime from /proc.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// A `/proc/PID/status` field in KiB.
fn status_kib(pid: &str, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// strom's WebRTC figures from `/metrics`.
struct Metrics {
    bytes_out: f64,
    sessions: f64,
}

async fn metrics(args: &Args) -> Option<Metrics> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fetch = async {
        let mut sock = tokio::net::TcpStream::connect((args.host.as_str(), args.http_port))
            .await
            .ok()?;
        let req = format!(
            "GET /metrics HTTP/1.0\r\nHost: {}\r\nConnection: close\r\n\r\n",
            args.host
        );
        sock.write_all(req.as_bytes()).await.ok()?;
        let mut body = Vec::new();
        (&mut sock)
            .take(MAX_METRICS)
            .read_to_end(&mut body)
            .await
            .ok()?;
        Some(String::from_utf8_lossy(&body).into_owned())
    };
    let text = tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .ok()??;
    let value = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix)?.trim().parse::<f64>().ok())
    };
    Some(Metrics {
        bytes_out: value("strom_session_bytes_total{protocol=\"webrtc\",direction=\"out\"}")?,
        sessions: value("strom_sessions{protocol=\"webrtc\"}").unwrap_or(0.0),
    })
}
