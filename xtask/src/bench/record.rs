//! `cargo xtask bench --record N`: N streams at 2 Mbit/s published into one
//! strom and recorded at once, against the same load without recording:
//! what recording costs (CPU, RSS) and whether live players notice (their
//! added latency).
//!
//! Each side starts a fresh strom in its own directory (`record.dir` under
//! it; `record.streams = ["bench/*"]` on the recording side only). The
//! load process publishes the 720p 2 Mbit/s bench stream N times over RTMP
//! (`bench/s0` …) and plays `bench/s0` with RTMP players, whose added
//! latency (publisher send → player receive) is the live path's. Sides
//! alternate off/on so both see the same machine. The server's CPU is
//! measured from the moment every stream is live until the load exits.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::ingest::{live_streams, wait_for};
use super::{cpu_of, http, spawn_strom, status_kib, Proc};

/// One side of a pair.
#[derive(Debug, Clone)]
pub struct Side {
    recording: bool,
    cpu: f64,
    rss_mib: f64,
    p50_ms: f64,
    p99_ms: f64,
    fps: f64,
    written_mbit: f64,
    dropped: u64,
    files: u64,
}

/// What `--record` measured.
pub struct RecordBench {
    streams: usize,
    players: usize,
    secs: u64,
    sides: Vec<Side>,
}

impl RecordBench {
    /// One line per side for the console.
    pub fn lines(&self) -> String {
        self.sides
            .iter()
            .map(|s| {
                format!(
                    "record {}: {} streams, CPU {:.2} s/s, RSS {:.1} MiB, players' added latency p50 {:.1} / p99 {:.1} ms at {:.1} fps, \
                     written {:.1} Mbit/s in {} files, {} fragments dropped",
                    if s.recording { "on " } else { "off" },
                    self.streams,
                    s.cpu,
                    s.rss_mib,
                    s.p50_ms,
                    s.p99_ms,
                    s.fps,
                    s.written_mbit,
                    s.files,
                    s.dropped
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Fails when the recording side recorded nothing or live players did
    /// not play.
    pub fn check(&self) -> Result<(), String> {
        for s in &self.sides {
            if s.fps < 1.0 {
                return Err(format!("players got no video: {}", self.lines()));
            }
            if s.recording && (s.written_mbit <= 0.0 || s.files == 0) {
                return Err(format!("nothing was recorded: {}", self.lines()));
            }
        }
        Ok(())
    }

    /// The BENCHMARKS.md section, markers included.
    pub fn section(&self, command: &str) -> String {
        let rows: Vec<String> = self
            .sides
            .iter()
            .map(|s| {
                format!(
                    "| {} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |",
                    if s.recording { "on" } else { "off" },
                    s.cpu,
                    s.rss_mib,
                    s.p50_ms,
                    s.p99_ms,
                    s.fps,
                    s.written_mbit,
                    s.files,
                    s.dropped
                )
            })
            .collect();
        format!(
            "{begin}\n## Recording: {n} streams at 2 Mbit/s\n\n\
             Produced by `{command}`.\n\n\
             - Load: `target/bench/bench-720p25-2mbit.flv` (H.264 1280x720 25 fps, GOP 2 s, 2 Mbit/s, AAC\n  \
               128 kbit/s) published {n} times over RTMP (`bench/s0` …), {p} RTMP players on `bench/s0`;\n  \
               a window of {secs} s. Recording side: `record.streams = [\"bench/*\"]` (fMP4 files, 1 s fragments\n  \
               synced to disk); the other side the same without recording, alternating.\n\
             - CPU: utime+stime of strom from every stream live to the load's end; RSS: VmRSS at the end;\n  \
               latency: the players' added latency (publisher send → player receive); written:\n  \
               `strom_record_bytes_total` over the same time; files: `.mp4` files on disk at the end.\n\
             - strom, the load (publishers and players) and the disk share the machine's two cores.\n\n\
             | recording | strom CPU s/s | RSS MiB | added latency p50 ms | p99 ms | fps per player | written Mbit/s | files | fragments dropped |\n\
             |---|---|---|---|---|---|---|---|---|\n{rows}\n{end}\n",
            begin = super::sections::RECORD.begin,
            end = super::sections::RECORD.end,
            n = self.streams,
            p = self.players,
            secs = self.secs,
            rows = rows.join("\n"),
        )
    }
}

/// Runs `pairs` off/on pairs with `streams` recorded streams, `players` RTMP
/// players and a window of `secs`.
pub fn run(
    target: &Path,
    streams: usize,
    players: usize,
    secs: u64,
    pairs: usize,
) -> Result<RecordBench, String> {
    let target =
        &std::fs::canonicalize(target).map_err(|e| format!("{}: {e}", target.display()))?;
    let flv = super::bench_file(
        target,
        "bench-720p25-2mbit.flv",
        "1280x720",
        ("2M", "4M"),
        "128k",
    )?;
    let mut sides = Vec::new();
    for _ in 0..pairs.max(1) {
        for recording in [false, true] {
            let side = run_side(target, &flv, recording, streams, players, secs)?;
            eprintln!(
                "record {}: CPU {:.2}, p99 {:.1} ms",
                side.recording, side.cpu, side.p99_ms
            );
            sides.push(side);
        }
    }
    Ok(RecordBench {
        streams,
        players,
        secs,
        sides,
    })
}

fn run_side(
    target: &Path,
    flv: &Path,
    recording: bool,
    streams: usize,
    players: usize,
    secs: u64,
) -> Result<Side, String> {
    let dir = target.join("bench").join("record-run");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let env: &[(&str, &str)] = match recording {
        true => &[("STROM_RECORD__STREAMS", "[\"bench/*\"]")],
        false => &[],
    };
    let (strom, ports) = spawn_strom(target, Some(&dir), env)?;
    let pid = strom.child.id();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let load = Command::new(target.join("release/examples/load"))
        .arg("--flv")
        .arg(flv)
        .args(["--rtmp-port", &ports.rtmp.to_string()])
        .args(["--http-port", &ports.http.to_string()])
        .args(["--rtsp-port", &ports.rtsp.to_string()])
        .args(["--stream", "bench/s", "--play-stream", "bench/s0"])
        .args(["--publishers", &streams.to_string()])
        .args(["--rtmp-players", &players.to_string()])
        .args(["--secs", &secs.to_string()])
        .args(["--threads", &threads.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the load: {e}"))?;
    let load = Proc { child: load };
    wait_for(Duration::from_secs(60), "every stream live", || {
        Ok(live_streams(ports.http)? >= streams)
    })?;
    let (cpu_before, written_before) = (
        cpu_of(pid),
        metric_sum(ports.http, "strom_record_bytes_total"),
    );
    let started = Instant::now();
    let out = load.wait_output()?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = (cpu_of(pid) - cpu_before) / wall;
    let written = metric_sum(ports.http, "strom_record_bytes_total") - written_before;
    let report: serde_json::Value = serde_json::from_slice(&out)
        .map_err(|e| format!("load output: {e}: {}", String::from_utf8_lossy(&out)))?;
    let rtmp = &report["rtmp"];
    let lat = &rtmp["added_latency_ms"];
    let side = Side {
        recording,
        cpu,
        rss_mib: status_kib(pid, "VmRSS:") / 1024.0,
        p50_ms: lat["p50"].as_f64().unwrap_or(f64::NAN),
        p99_ms: lat["p99"].as_f64().unwrap_or(f64::NAN),
        fps: rtmp["fps_per_player"].as_f64().unwrap_or(0.0),
        written_mbit: written * 8.0 / wall / 1e6,
        dropped: metric_sum(ports.http, "strom_record_fragments_dropped_total") as u64,
        files: count_mp4(&dir.join("record")),
    };
    drop(strom);
    Ok(side)
}

/// Recordings (`.mp4`) under `dir`, open ones included.
fn count_mp4(dir: &Path) -> u64 {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "mp4") {
                n += 1;
            }
        }
    }
    n
}

/// The sum of every series of `name` in `/metrics` (0 when absent).
fn metric_sum(port: u16, name: &str) -> f64 {
    let Ok((_, body)) = http(port, "GET", "/metrics") else {
        return 0.0;
    };
    body.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

impl Proc {
    /// Waits for the process and returns its stdout.
    fn wait_output(self) -> Result<Vec<u8>, String> {
        use std::io::Read;
        let mut this = self;
        let mut out = Vec::new();
        if let Some(mut stdout) = this.child.stdout.take() {
            stdout.read_to_end(&mut out).map_err(|e| e.to_string())?;
        }
        this.child.wait().map_err(|e| e.to_string())?;
        Ok(out)
    }
}
