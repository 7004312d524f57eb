//! `cargo xtask soak [--minutes N]`: the server under churn for N minutes,
//! and whether anything it holds grows.
//!
//! Against one release strom: publishers of four streams that come and go
//! (each lives 20–40 s; every other one is killed with SIGKILL, an abrupt
//! drop, the rest end cleanly), about 500 players over RTMP, HTTP-FLV, RTSP,
//! HLS and HTTP-TS that join and leave in waves (load processes of 100
//! players each living 10–30 s), and the API (`/api/v1/streams`) and
//! `/metrics` polled every second. Every 5 s the server's RSS, open
//! descriptors, tasks and sessions are sampled; every minute a line is
//! printed. It fails when RSS, descriptors or tasks trend upward past noise
//! ([`trend`]), when the API's p99 in the last minute is far above the first
//! minute's, when an API call fails, or when the server stops answering.
//! CI runs 2 minutes; RELIABILITY.md has a 60-minute run.

mod trend;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use trend::{Noise, Series};

use crate::bench::{self, Ports};

/// Streams published (and played) during the soak.
const STREAMS: usize = 4;
/// Load processes of players alive at once, each with [`PER_PROTOCOL`]
/// players of every protocol: 5 × 5 × 20 = 500 players.
const PLAYER_PROCESSES: usize = 5;
const PER_PROTOCOL: usize = 20;
/// Resources sampled this often.
const SAMPLE: Duration = Duration::from_secs(5);
/// Samples before this are the warm-up (the first players, the first GOPs).
const WARM_UP_SECS: f64 = 30.0;

/// Runs the soak; returns the summary line.
pub fn run(minutes: u64) -> Result<String, String> {
    crate::tools::ensure_media_tools()?;
    let target = bench::build_release()?;
    let flv = bench::small_stream(&target)?;
    let (server, ports) = bench::spawn_strom(&target, None, &[])?;
    let pid = server.child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let api = Arc::new(Mutex::new(ApiTimes::default()));
    let poller = {
        let (stop, api) = (stop.clone(), api.clone());
        std::thread::spawn(move || poll_api(ports.http, &stop, &api))
    };
    let churn = Churn::new(&target, &flv, ports);
    let result = soak(pid, ports, churn, minutes, &api);
    stop.store(true, Ordering::Relaxed);
    let _ = poller.join();
    let healthy = bench::http(ports.http, "GET", "/healthz").is_ok_and(|(s, _)| s == 200);
    drop(server);
    let summary = result?;
    if !healthy {
        return Err("the server did not answer /healthz at the end".into());
    }
    Ok(summary)
}

/// The soak's loop: churn, sample, report, judge.
fn soak(
    pid: u32,
    ports: Ports,
    mut churn: Churn,
    minutes: u64,
    api: &Mutex<ApiTimes>,
) -> Result<String, String> {
    let started = Instant::now();
    let end = started + Duration::from_secs(minutes * 60);
    let (mut rss, mut fds, mut tasks) = (Series::default(), Series::default(), Series::default());
    let mut next_sample = started;
    let mut next_report = started + Duration::from_secs(60);
    let mut p99s = Vec::new();
    eprintln!("xtask soak: minute | RSS MiB | fds | tasks | sessions | API p99 ms | API calls | players started | players ended with video | publisher restarts");
    loop {
        if Instant::now() >= end {
            // The last minute is reported at the end.
            next_report = Instant::now();
        }
        churn.tick()?;
        let now = Instant::now();
        if now >= next_sample {
            next_sample += SAMPLE;
            let at = now.duration_since(started).as_secs_f64();
            let metrics = bench::http(ports.http, "GET", "/metrics")
                .map_err(|e| format!("/metrics: {e}"))?
                .1;
            rss.push(at, bench::status_kib(pid, "VmRSS:") / 1024.0);
            fds.push(at, open_fds(pid) as f64);
            tasks.push(at, metric_sum(&metrics, "strom_worker_tasks"));
        }
        if now >= next_report {
            next_report += Duration::from_secs(60);
            let video_before = (churn.players_done, churn.players_with_video);
            let minute = p99s.len() + 1;
            let (p99, calls, failed) = {
                let mut a = api.lock().unwrap_or_else(|e| e.into_inner());
                a.take_minute()
            };
            if failed > 0 {
                return Err(format!("minute {minute}: {failed} API calls failed"));
            }
            p99s.push(p99);
            let metrics = bench::http(ports.http, "GET", "/metrics")
                .map(|r| r.1)
                .unwrap_or_default();
            eprintln!(
                "xtask soak: {minute} | {:.1} | {} | {} | {} | {:.1} | {calls} | {} | {}/{} | {}",
                bench::status_kib(pid, "VmRSS:") / 1024.0,
                open_fds(pid),
                metric_sum(&metrics, "strom_worker_tasks"),
                metric_sum(&metrics, "strom_sessions"),
                p99.as_secs_f64() * 1000.0,
                churn.players_started,
                churn.players_with_video,
                churn.players_done,
                churn.publisher_restarts,
            );
            let done = churn.players_done - video_before.0;
            if done > 0 && churn.players_with_video == video_before.1 {
                return Err(format!("minute {minute}: none of {done} players got video"));
            }
            if Instant::now() >= end {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(churn);
    judge(&rss, &fds, &tasks, &p99s)
}

/// The verdict over the run's samples and per-minute API p99s.
fn judge(rss: &Series, fds: &Series, tasks: &Series, p99s: &[Duration]) -> Result<String, String> {
    let mut lines = Vec::new();
    let mut leaks = Vec::new();
    for (name, series, noise) in [
        (
            "RSS MiB",
            rss,
            Noise {
                absolute: 16.0,
                relative: 0.15,
            },
        ),
        (
            "fds",
            fds,
            Noise {
                absolute: 64.0,
                relative: 0.2,
            },
        ),
        (
            "tasks",
            tasks,
            Noise {
                absolute: 64.0,
                relative: 0.2,
            },
        ),
    ] {
        let Some(t) = series.trend(WARM_UP_SECS, noise) else {
            return Err(format!("too few {name} samples for a verdict"));
        };
        lines.push(format!(
            "{name}: early max {:.1}, late min {:.1}, slope {:+.2}/min",
            t.early_max, t.late_min, t.slope_per_min
        ));
        if t.leaks {
            leaks.push(name);
        }
    }
    if let (Some(first), Some(last)) = (p99s.first(), p99s.last()) {
        lines.push(format!(
            "API p99: first minute {:.1} ms, last {:.1} ms",
            first.as_secs_f64() * 1000.0,
            last.as_secs_f64() * 1000.0
        ));
        if *last > (*first * 3).max(Duration::from_millis(50)) {
            leaks.push("API p99");
        }
    }
    let summary = lines.join("; ");
    if leaks.is_empty() {
        Ok(summary)
    } else {
        Err(format!(
            "trending upward past noise: {}; {summary}",
            leaks.join(", ")
        ))
    }
}

/// One publisher process and its plan.
struct Publisher {
    child: Child,
    stream: usize,
    /// When it is killed (abrupt ones) or ends by itself (clean ones).
    until: Instant,
    abrupt: bool,
}

/// Publishers and players coming and going.
struct Churn {
    load: std::path::PathBuf,
    flv: std::path::PathBuf,
    ports: Ports,
    publishers: Vec<Publisher>,
    players: Vec<Child>,
    rng: u64,
    players_started: u64,
    publisher_restarts: u64,
    /// Players of ended load processes, and those of them that got video.
    players_done: u64,
    players_with_video: u64,
}

impl Drop for Churn {
    fn drop(&mut self) {
        let children = self.publishers.iter_mut().map(|p| &mut p.child);
        for child in children.chain(self.players.iter_mut()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Churn {
    fn new(target: &std::path::Path, flv: &std::path::Path, ports: Ports) -> Churn {
        Churn {
            load: target.join("release/examples/load"),
            flv: flv.to_path_buf(),
            ports,
            publishers: Vec::new(),
            players: Vec::new(),
            rng: u64::from(std::process::id()) | 1,
            players_started: 0,
            publisher_restarts: 0,
            players_done: 0,
            players_with_video: 0,
        }
    }

    /// A number in `[lo, hi)` (xorshift; the run need not be reproducible).
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        lo + self.rng % (hi - lo).max(1)
    }

    fn load_command(&self, stream: usize, secs: u64) -> Command {
        let mut cmd = Command::new(&self.load);
        cmd.args(["--rtmp-port", &self.ports.rtmp.to_string()])
            .args(["--http-port", &self.ports.http.to_string()])
            .args(["--rtsp-port", &self.ports.rtsp.to_string()])
            .args(["--stream", &format!("live/soak{stream}")])
            .args(["--secs", &secs.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    /// Kills abrupt publishers whose time is up, then replaces every ended
    /// publisher and player process.
    fn tick(&mut self) -> Result<(), String> {
        let now = Instant::now();
        for p in self
            .publishers
            .iter_mut()
            .filter(|p| p.abrupt && now >= p.until)
        {
            let _ = p.child.kill();
        }
        let before = self.publishers.len();
        self.publishers
            .retain_mut(|p| p.child.try_wait().ok().flatten().is_none());
        self.publisher_restarts += (before - self.publishers.len()) as u64;
        let mut ended = Vec::new();
        self.players.retain_mut(|child| {
            let alive = child.try_wait().ok().flatten().is_none();
            if !alive {
                ended.push(child.stdout.take());
            }
            alive
        });
        for out in ended.into_iter().flatten() {
            let (players, with_video) = video_report(out);
            self.players_done += players;
            self.players_with_video += with_video;
        }
        while let Some(stream) =
            (0..STREAMS).find(|i| !self.publishers.iter().any(|p| p.stream == *i))
        {
            let life = self.between(20, 40);
            let abrupt = self.between(0, 2) == 1;
            // A clean publisher ends by itself after `life` (its load's
            // window); an abrupt one would go on and is killed at `life`.
            let secs = if abrupt { life + 60 } else { life };
            let child = self
                .load_command(stream, secs)
                .arg("--flv")
                .arg(&self.flv)
                .spawn()
                .map_err(|e| format!("cannot start a publisher: {e}"))?;
            self.publishers.push(Publisher {
                child,
                stream,
                until: now + Duration::from_secs(life),
                abrupt,
            });
        }
        while self.players.len() < PLAYER_PROCESSES {
            let stream = self.between(0, STREAMS as u64) as usize;
            let secs = self.between(10, 30);
            let n = PER_PROTOCOL.to_string();
            let child = self
                .load_command(stream, secs)
                .args([
                    "--rtmp-players",
                    &n,
                    "--flv-players",
                    &n,
                    "--rtsp-players",
                    &n,
                ])
                .args(["--hls-players", &n, "--ts-players", &n])
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start players: {e}"))?;
            self.players.push(child);
            self.players_started += PER_PROTOCOL as u64 * 5;
        }
        Ok(())
    }
}

/// Players in a load process's report, and those that got a video frame.
fn video_report(mut out: std::process::ChildStdout) -> (u64, u64) {
    use std::io::Read;
    let mut text = String::new();
    let _ = out.read_to_string(&mut text);
    let Ok(report) = serde_json::from_str::<serde_json::Value>(&text) else {
        return (0, 0);
    };
    ["rtmp", "http_flv", "rtsp", "hls", "http_ts"]
        .iter()
        .map(|k| &report[*k])
        .fold((0, 0), |(p, v), r| {
            (
                p + r["players"].as_u64().unwrap_or(0),
                v + r["first_frame_ms"]["samples"].as_u64().unwrap_or(0),
            )
        })
}

/// API call times of the current minute.
#[derive(Default)]
struct ApiTimes {
    times: Vec<Duration>,
    failed: u64,
}

impl ApiTimes {
    /// The minute's p99, calls and failures; starts the next minute.
    fn take_minute(&mut self) -> (Duration, usize, u64) {
        let mut times = std::mem::take(&mut self.times);
        times.sort();
        let p99 = times
            .get((times.len() * 99 / 100).min(times.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default();
        (p99, times.len(), std::mem::take(&mut self.failed))
    }
}

/// `/api/v1/streams` and `/metrics` every second until `stop`.
fn poll_api(port: u16, stop: &AtomicBool, api: &Mutex<ApiTimes>) {
    while !stop.load(Ordering::Relaxed) {
        for path in ["/api/v1/streams", "/metrics"] {
            let t = Instant::now();
            let ok = bench::http(port, "GET", path).is_ok_and(|(s, _)| s == 200);
            let mut a = api.lock().unwrap_or_else(|e| e.into_inner());
            if ok {
                a.times.push(t.elapsed());
            } else {
                a.failed += 1;
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Descriptors the process holds.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The sum of a metric family's samples in Prometheus text.
fn metric_sum(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}
