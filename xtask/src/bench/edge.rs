//! `cargo xtask bench --edge`: what an edge node costs a viewer. A real
//! 3-member etcd and two strom nodes (A owns, B is the edge) on this
//! machine:
//!
//! - **first frame on the edge**, for the first player of a stream (B starts
//!   its relay from A on demand) and once the relay runs: per sample, ffmpeg
//!   publishes the ~1 Mbit/s bench stream to A (`-c copy`, real time), the
//!   load process connects one RTMP player to B, then ten more;
//! - **added latency**, publisher send → player receive by FLV timestamp:
//!   the load process publishes to A and its players read from B, then the
//!   same players read from A directly; the difference is the edge's.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{http, load_threads, small_stream, spawn_strom, Ports};

/// What one edge run measured.
pub struct Edge {
    /// First-frame times of the first player of each sample stream (ms).
    first: Vec<f64>,
    /// First-frame times of players joining a running relay (ms, every player).
    warm: Vec<f64>,
    /// Added latency p50/p99 (ms) reading from the owner directly.
    direct: (f64, f64),
    /// Added latency p50/p99 (ms) reading through the edge.
    through: (f64, f64),
    players: usize,
    secs: u64,
}

fn percentile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n => v[((n as f64 * q).ceil() as usize).clamp(1, n) - 1],
    }
}

impl Edge {
    /// One line for the console.
    pub fn line(&self) -> String {
        format!(
            "edge: first frame of the first player p50 {:.0} ms p95 {:.0} ms ({} streams); with the relay running p50 {:.0} ms p95 {:.0} ms ({} players); added latency p99 {:.1} ms direct, {:.1} ms through the edge (+{:.1} ms)",
            percentile(&self.first, 0.5),
            percentile(&self.first, 0.95),
            self.first.len(),
            percentile(&self.warm, 0.5),
            percentile(&self.warm, 0.95),
            self.warm.len(),
            self.direct.1,
            self.through.1,
            self.through.1 - self.direct.1,
        )
    }

    /// The BENCHMARKS.md section, markers included.
    pub fn section(&self, command: &str) -> String {
        let m = &super::sections::EDGE;
        format!(
            "{begin}\n## Cluster: through an edge node\n\n\
             Produced by `{command}`: a real 3-member etcd and two strom nodes on this machine, node A\n\
             owning the streams, node B their edge (an on-demand RTMP relay from A).\n\n\
             | measure | p50 | p95 | p99 | samples |\n|---|---|---|---|---|\n\
             | first frame on B, first player (B starts its relay) | {f50:.0} ms | {f95:.0} ms | — | {fn} streams |\n\
             | first frame on B, relay running | {w50:.0} ms | {w95:.0} ms | — | {wn} players |\n\
             | added latency, {p} RTMP players on A (the owner) | {d50:.1} ms | — | {d99:.1} ms | {secs} s |\n\
             | added latency, {p} RTMP players on B (through the edge) | {t50:.1} ms | — | {t99:.1} ms | {secs} s |\n\n\
             The edge adds {extra:.1} ms at p99. First frame: player connect → first video frame;\n\
             latency: publisher send → player receive, by FLV timestamp, both in the load process.\n\
             {end}\n",
            begin = m.begin,
            end = m.end,
            f50 = percentile(&self.first, 0.5),
            f95 = percentile(&self.first, 0.95),
            fn = self.first.len(),
            w50 = percentile(&self.warm, 0.5),
            w95 = percentile(&self.warm, 0.95),
            wn = self.warm.len(),
            p = self.players,
            secs = self.secs,
            d50 = self.direct.0,
            d99 = self.direct.1,
            t50 = self.through.0,
            t99 = self.through.1,
            extra = self.through.1 - self.direct.1,
        )
    }
}

/// Kills the child when dropped.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the edge benchmark: `samples` streams for first frames, `players`
/// RTMP players for `secs` for latency.
pub fn run(target: &Path, samples: usize, players: usize, secs: u64) -> Result<Edge, String> {
    let logs = std::env::temp_dir().join(format!("strom-bench-edge-{}", std::process::id()));
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let etcd = crate::cluster::etcd::Etcd::start(logs)?;
    let endpoints = serde_json::to_string(&etcd.endpoints()).map_err(|e| e.to_string())?;
    let node = |name: &'static str| {
        spawn_strom(
            target,
            None,
            &[
                ("STROM_CLUSTER__ENDPOINTS", endpoints.as_str()),
                ("STROM_CLUSTER__NODE", name),
                ("STROM_STATE__DIR", ""),
            ],
        )
    };
    let (_a, a) = node("a")?;
    let (_b, b) = node("b")?;
    for ports in [&a, &b] {
        wait(
            Duration::from_secs(20),
            "the store up on both nodes",
            || {
                http(ports.http, "GET", "/healthz")
                    .is_ok_and(|(_, body)| body.contains("\"store\":\"up\""))
            },
        )?;
    }
    let flv = small_stream(target)?;
    let (mut first, mut warm) = (Vec::new(), Vec::new());
    for i in 0..samples {
        let stream = format!("live/ff{i}");
        let _publisher = Kill(
            Command::new("ffmpeg")
                .args([
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-nostdin",
                    "-re",
                    "-stream_loop",
                    "-1",
                    "-i",
                ])
                .arg(&flv)
                .args(["-c", "copy", "-f", "flv"])
                .arg(format!("rtmp://127.0.0.1:{}/{stream}", a.rtmp))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("ffmpeg: {e}"))?,
        );
        // Live on A with a GOP cached, and known to B's directory copy.
        wait(
            Duration::from_secs(15),
            "the sample stream live on A",
            || {
                http(a.http, "GET", &format!("/api/v1/streams/{stream}"))
                    .ok()
                    .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
                    .and_then(|v| v["frames_in"].as_u64())
                    .is_some_and(|f| f > 60)
            },
        )?;
        wait(Duration::from_secs(10), "the claim seen by B", || {
            http(b.http, "GET", "/api/v1/cluster")
                .is_ok_and(|(_, body)| body.contains(&format!("\"key\":\"{stream}\"")))
        })?;
        let cold = players_only(target, &b, &stream, 1)?;
        first.extend(first_frames(&cold));
        let hot = players_only(target, &b, &stream, 10)?;
        warm.extend(first_frames(&hot));
    }
    // Two names: a stream still lingering from the first run would be
    // resumed, its timestamps rebased, and no frame matched to its send.
    let through = latency(target, &flv, (&a, &b), "live/lat-edge", players, secs)?;
    let direct = latency(target, &flv, (&a, &a), "live/lat-direct", players, secs)?;
    drop(etcd);
    Ok(Edge {
        first,
        warm,
        direct,
        through,
        players,
        secs,
    })
}

/// Polls `ok` every 100 ms until it holds, at most `within`.
fn wait(within: Duration, what: &str, mut ok: impl FnMut() -> bool) -> Result<(), String> {
    let until = Instant::now() + within;
    while !ok() {
        if Instant::now() > until {
            return Err(format!("edge bench: {what} not within {within:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The load process with `n` RTMP players of `stream` on `node`, nothing
/// published; its report.
fn players_only(target: &Path, node: &Ports, stream: &str, n: usize) -> Result<Value, String> {
    let out = Command::new(target.join("release/examples/load"))
        .args(["--rtmp-port", &node.rtmp.to_string()])
        .args(["--http-port", &node.http.to_string()])
        .args(["--rtsp-port", &node.rtsp.to_string()])
        .args(["--stream", stream, "--secs", "1", "--threads", "1"])
        .args(["--rtmp-players", &n.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&out.stdout).map_err(|e| format!("load output: {e}"))
}

/// Every player's first-frame time in a report (its percentiles, when the
/// report has no per-player list: p50 stands for each).
fn first_frames(report: &Value) -> Vec<f64> {
    let f = &report["rtmp"]["first_frame_ms"];
    let n = f["samples"].as_u64().unwrap_or(0) as usize;
    let p50 = f["p50"].as_f64();
    let max = f["max"].as_f64();
    match (n, p50, max) {
        (0, ..) => Vec::new(),
        (1, Some(v), _) => vec![v],
        // Half at p50, half at the max: conservative for a p95 of several runs.
        (n, Some(p), Some(m)) => (0..n).map(|i| if i < n / 2 { p } else { m }).collect(),
        _ => Vec::new(),
    }
}

/// Added latency p50/p99 with the load publishing to `owner` and its
/// players reading from `from`.
fn latency(
    target: &Path,
    flv: &Path,
    (owner, from): (&Ports, &Ports),
    stream: &str,
    players: usize,
    secs: u64,
) -> Result<(f64, f64), String> {
    let out = Command::new(target.join("release/examples/load"))
        .arg("--flv")
        .arg(flv)
        .args(["--publish-port", &owner.rtmp.to_string()])
        .args(["--rtmp-port", &from.rtmp.to_string()])
        .args(["--http-port", &from.http.to_string()])
        .args(["--rtsp-port", &from.rtsp.to_string()])
        .args(["--stream", stream, "--secs", &secs.to_string()])
        .args(["--threads", &load_threads().to_string()])
        .args(["--rtmp-players", &players.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    let report: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("load output: {e}"))?;
    let lat = &report["rtmp"]["added_latency_ms"];
    match (lat["p50"].as_f64(), lat["p99"].as_f64()) {
        (Some(p50), Some(p99)) => Ok((p50, p99)),
        _ => Err(format!("no latency samples: {report}")),
    }
}
