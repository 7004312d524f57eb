//! `cargo xtask bench --webrtc`: WHEP viewers per core. One release strom,
//! ffmpeg publishing a 2 s GOP H.264 stream without B-frames (+ AAC) over
//! RTMP in real time, then the WebRTC load client
//! (`server-bin/examples/webrtc_load/`: one client-side str0m `Rtc` per
//! viewer, full ICE + DTLS + SRTP) at each viewer count in turn, against
//! the same strom, each count for a window of `--secs` once every viewer
//! has its first frame.
//!
//! Per step: viewers live, delivered Gbit/s (the UDP bytes the viewers
//! received; cross-checked with strom's WebRTC bytes out from `/metrics`),
//! strom's CPU-s per second over the window (from `/proc`, read by the
//! load client at the window's edges) and per delivered Gbit/s, strom's RSS
//! and RSS per viewer above the baseline (strom with the stream and no
//! viewer), the viewers' frame rates (min, median) and first-frame times
//! (POST → first video `MediaData`), and the client's own CPU.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{
    bench_file_with, cargo, cpu_of, http, load_threads, sections, spawn_strom, status_kib, Proc,
};

/// The stream: 1280x720, 25 fps, 2 s GOP, no B-frames, 1.5 Mbit/s + AAC.
const FILE: &str = "bench-720p25-1500k-nobf.flv";
/// The stream's name on strom.
const STREAM: &str = "live/wbench";
/// How long strom's CPU with the stream and no viewer is sampled.
const IDLE_SAMPLE: Duration = Duration::from_secs(3);

/// One viewer count's figures.
pub struct Step {
    viewers: usize,
    report: Value,
    /// strom's RSS with the stream and no viewer, before this step (KiB).
    baseline_kib: f64,
    /// strom's CPU-s per second with the stream and no viewer.
    idle_cpu: f64,
}

/// What a `--webrtc` run measured.
pub struct WebRtcBench {
    steps: Vec<Step>,
    secs: u64,
}

impl Step {
    fn f(&self, key: &str) -> f64 {
        self.report[key].as_f64().unwrap_or(f64::NAN)
    }

    fn gbit(&self) -> f64 {
        self.f("delivered_gbit_per_second")
    }

    fn server_gbit(&self) -> f64 {
        self.f("server_webrtc_bytes_out_per_second") * 8.0 / 1e9
    }

    fn cpu(&self) -> f64 {
        self.f("server_cpu_seconds_per_second")
    }

    /// CPU-s per delivered Gbit/s above strom's cost with no viewer.
    fn marginal(&self) -> f64 {
        (self.cpu() - self.idle_cpu) / self.gbit()
    }

    fn rss_kib(&self) -> f64 {
        self.report["server_rss_kib"]["window_end"]
            .as_f64()
            .unwrap_or(f64::NAN)
    }

    fn rss_per_viewer_kib(&self) -> f64 {
        ((self.rss_kib() - self.baseline_kib) / self.viewers.max(1) as f64).max(0.0)
    }

    fn first(&self, q: &str) -> f64 {
        self.report["first_frame_ms"][q]
            .as_f64()
            .unwrap_or(f64::NAN)
    }

    fn live(&self) -> u64 {
        self.report["connected"].as_u64().unwrap_or(0)
    }

    fn line(&self) -> String {
        format!(
            "webrtc {} viewers: {} live, {:.3} Gbit/s delivered (strom says {:.3}), strom {:.2} CPU-s/s = {:.2} CPU-s per Gbit/s ({:.2} above the no-viewer {:.3}), RSS {:.0} MiB ({:.0} KiB/viewer), fps min {:.1} median {:.1}, first frame p50 {:.0} ms p95 {:.0} ms, client {:.2} CPU-s/s",
            self.viewers,
            self.live(),
            self.gbit(),
            self.server_gbit(),
            self.cpu(),
            self.cpu() / self.gbit(),
            self.marginal(),
            self.idle_cpu,
            self.rss_kib() / 1024.0,
            self.rss_per_viewer_kib(),
            self.f("fps_min"),
            self.f("fps_median"),
            self.first("p50"),
            self.first("p95"),
            self.f("client_cpu_seconds_per_second"),
        )
    }
}

impl WebRtcBench {
    /// One line per step, for the console.
    pub fn lines(&self) -> String {
        self.steps
            .iter()
            .map(Step::line)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The BENCHMARKS.md section, markers included.
    pub fn section(&self, command: &str) -> String {
        let m = &sections::WEBRTC;
        let mut rows = String::new();
        for s in &self.steps {
            rows.push_str(&format!(
                "| {} | {} | {:.3} | {:.3} | {:.2} | **{:.2}** | {:.2} | {:.0} | {:.0} | {:.1} / {:.1} | {:.0} / {:.0} | {:.2} |\n",
                s.viewers,
                s.live(),
                s.gbit(),
                s.server_gbit(),
                s.cpu(),
                s.cpu() / s.gbit(),
                s.marginal(),
                s.rss_kib() / 1024.0,
                s.rss_per_viewer_kib(),
                s.f("fps_min"),
                s.f("fps_median"),
                s.first("p50"),
                s.first("p95"),
                s.f("client_cpu_seconds_per_second"),
            ));
        }
        format!(
            "{begin}\n## WebRTC viewers (WHEP)\n\n\
             Produced by `{command}`: one strom, ffmpeg publishing a 1280x720 25 fps H.264 stream\n\
             (2 s GOP, no B-frames, ~1.5 Mbit/s, + AAC, which viewers get as Opus from one transcode) over RTMP\n\
             in real time, and the load client `server-bin/examples/webrtc_load` (a client-side str0m\n\
             `Rtc` per viewer on its own UDP socket: full ICE, DTLS, SRTP) on the same 2 cores. Each\n\
             count runs against the same strom for a {secs} s window once every viewer has its first frame.\n\n\
             | viewers | live | delivered Gbit/s | strom's bytes out Gbit/s | strom CPU-s/s | CPU-s per Gbit/s | above no viewer | strom RSS MiB | RSS per viewer KiB | fps min / median | first frame p50 / p95 ms | client CPU-s/s |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|\n\
             {rows}\n\
             Delivered: UDP bytes the viewers received in the window; strom's: `strom_session_bytes_total`\n\
             for WebRTC out over the same window. CPU: strom's utime + stime over the window; \"above no\n\
             viewer\": (CPU − strom's CPU with the stream and no viewer) per Gbit/s. RSS per\n\
             viewer: strom's RSS at the window's end minus its RSS with the stream and no viewer. First\n\
             frame: POST of the offer → first video frame depacketized by the viewer. Target: under 0.6\n\
             CPU-s per delivered Gbit/s.\n\
             {end}\n",
            begin = m.begin,
            end = m.end,
            secs = self.secs,
        )
    }

    /// Fails unless every step had viewers with video.
    pub fn check(&self) -> Result<(), String> {
        for s in &self.steps {
            if s.live() == 0 || s.report["with_video"].as_u64().unwrap_or(0) == 0 {
                return Err(format!(
                    "webrtc {} viewers: none connected with video: {}",
                    s.viewers, s.report
                ));
            }
        }
        Ok(())
    }
}

/// Runs the WebRTC benchmark at each viewer count for `secs`.
pub fn run(target: &Path, counts: &[usize], secs: u64) -> Result<WebRtcBench, String> {
    cargo(&[
        "build",
        "--release",
        "-p",
        "server-bin",
        "--bin",
        "strom",
        "--example",
        "webrtc_load",
    ])?;
    let flv = bench_file_with(
        target,
        FILE,
        "1280x720",
        ("1500k", "3M"),
        "64k",
        &["-bf", "0"],
    )?;
    let (strom, ports) = spawn_strom(target, None, &[])?;
    let pid = strom.child.id();
    let _publisher = publish(&flv, ports.rtmp)?;
    wait(Duration::from_secs(15), "the stream live", || {
        http(ports.http, "GET", &format!("/api/v1/streams/{STREAM}"))
            .ok()
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
            .and_then(|v| v["frames_in"].as_u64())
            .is_some_and(|f| f > 60)
    })?;
    let mut steps = Vec::new();
    for &viewers in counts {
        // The previous step's viewers closed (DTLS close): strom back to none.
        wait(Duration::from_secs(20), "no WebRTC session left", || {
            webrtc_sessions(ports.http) == Some(0)
        })?;
        let baseline_kib = status_kib(pid, "VmRSS:");
        let before = cpu_of(pid);
        std::thread::sleep(IDLE_SAMPLE);
        let idle_cpu = (cpu_of(pid) - before) / IDLE_SAMPLE.as_secs_f64();
        let report = load(target, ports.http, pid, viewers, secs)?;
        let step = Step {
            viewers,
            report,
            baseline_kib,
            idle_cpu,
        };
        eprintln!("{}", step.line());
        steps.push(step);
    }
    drop(strom);
    Ok(WebRtcBench { steps, secs })
}

/// ffmpeg publishing `flv` (looped, real time, copied) to strom's RTMP port.
fn publish(flv: &Path, rtmp: u16) -> Result<Proc, String> {
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-stream_loop", "-1", "-i"])
        .arg(flv)
        .args(["-c", "copy", "-f", "flv"])
        .arg(format!("rtmp://127.0.0.1:{rtmp}/{STREAM}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("ffmpeg: {e}"))?;
    Ok(Proc { child })
}

/// Live WebRTC sessions from strom's `/metrics`.
fn webrtc_sessions(http_port: u16) -> Option<u64> {
    let (_, body) = http(http_port, "GET", "/metrics").ok()?;
    Some(
        body.lines()
            .find_map(|l| {
                l.strip_prefix("strom_sessions{protocol=\"webrtc\"}")?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(0.0) as u64,
    )
}

/// The load client at `viewers` for `secs`; its report.
fn load(
    target: &Path,
    http_port: u16,
    pid: u32,
    viewers: usize,
    secs: u64,
) -> Result<Value, String> {
    let out = Command::new(client(target))
        .args(["--http-port", &http_port.to_string()])
        .args(["--stream", STREAM])
        .args(["--viewers", &viewers.to_string()])
        .args(["--secs", &secs.to_string()])
        .args(["--threads", &load_threads().to_string()])
        .args(["--server-pid", &pid.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "webrtc load output: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn client(target: &Path) -> PathBuf {
    target.join("release/examples/webrtc_load")
}

/// Polls `ok` every 100 ms until it holds, at most `within`.
fn wait(within: Duration, what: &str, mut ok: impl FnMut() -> bool) -> Result<(), String> {
    let until = Instant::now() + within;
    while !ok() {
        if Instant::now() > until {
            return Err(format!("webrtc bench: {what} not within {within:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_reports_its_cost_per_gbit_and_per_viewer() {
        let report = serde_json::json!({
            "connected": 100, "with_video": 100,
            "delivered_gbit_per_second": 0.2,
            "server_webrtc_bytes_out_per_second": 25_000_000.0,
            "server_cpu_seconds_per_second": 0.3,
            "server_rss_kib": { "window_start": 90_000.0, "window_end": 110_000.0 },
            "fps_min": 24.9, "fps_median": 25.0,
            "first_frame_ms": { "p50": 90.0, "p95": 120.0 },
            "client_cpu_seconds_per_second": 0.2,
        });
        let step = Step {
            viewers: 100,
            report,
            baseline_kib: 10_000.0,
            idle_cpu: 0.1,
        };
        assert!((step.cpu() / step.gbit() - 1.5).abs() < 1e-9);
        assert!((step.marginal() - 1.0).abs() < 1e-9);
        assert!((step.rss_per_viewer_kib() - 1_000.0).abs() < 1e-9);
        assert!((step.server_gbit() - 0.2).abs() < 1e-9);
        let bench = WebRtcBench {
            steps: vec![step],
            secs: 15,
        };
        assert!(bench.check().is_ok());
        let section = bench.section("cargo xtask bench --webrtc");
        assert!(section.starts_with(sections::WEBRTC.begin), "{section}");
        assert!(
            section.contains("| 100 | 100 | 0.200 | 0.200 | 0.30 | **1.50** | 1.00 |"),
            "{section}"
        );
    }
}
