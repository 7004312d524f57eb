//! `cargo xtask bench --ingest N`: one strom pulls N RTSP streams from a
//! second strom on the same machine, every one live, and what that costs the
//! pulling server: CPU per ingested Gbit/s and RSS per pulled stream.
//!
//! The load process publishes the ~1 Mbit/s bench stream N times into the
//! upstream strom over RTMP (`live/src0` …); the downstream strom is given
//! N proxies through its API (`rtsp://upstream/live/srcI` over TCP, always
//! on), so its RSS before the proxies is the baseline. Once every proxy is
//! live the window opens: the downstream's CPU from `/proc`, its ingested
//! bytes from `strom_bytes_in_total`. The report goes into BENCHMARKS.md
//! between the markers below, which the players' benchmark keeps.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{cpu_of, http, spawn_strom, status_kib, Proc};

/// Longest wait for every source, then every proxy, to be live.
const LIVE_WITHIN: Duration = Duration::from_secs(120);

/// What one ingest run measured.
pub struct Ingest {
    streams: usize,
    secs: u64,
    live_at_end: usize,
    reconnects: u64,
    ingest_mbit: f64,
    cpu: f64,
    upstream_cpu: f64,
    load_cpu: f64,
    rss_base_mib: f64,
    rss_kib_per_stream: f64,
    /// `strom_resident_media_bytes` per stream: the media the streams hold.
    resident_kib_per_stream: f64,
    all_live_after: Duration,
}

impl Ingest {
    /// CPU seconds per second per ingested Gbit/s.
    fn cpu_per_gbit(&self) -> f64 {
        self.cpu / (self.ingest_mbit / 1000.0).max(f64::MIN_POSITIVE)
    }

    /// One line for the console.
    pub fn line(&self) -> String {
        format!(
            "ingest: {}/{} pulled streams live, {:.1} Mbit/s in, downstream CPU {:.2} s/s = {:.2} s per Gbit/s, \
             RSS {:.1} KiB per pulled stream (media held {:.1} KiB), every proxy live {:.1} s after added, {} reconnects",
            self.live_at_end,
            self.streams,
            self.ingest_mbit,
            self.cpu,
            self.cpu_per_gbit(),
            self.rss_kib_per_stream,
            self.resident_kib_per_stream,
            self.all_live_after.as_secs_f64(),
            self.reconnects,
        )
    }

    /// The BENCHMARKS.md section, markers included.
    pub fn section(&self, command: &str) -> String {
        format!(
            "{begin}\n## Ingest: pulling RTSP streams\n\n\
             Produced by `{command}`.\n\n\
             - Sources: the load process publishes `target/bench/bench-360p25-1mbit.flv` (H.264 640x360\n  \
               25 fps, GOP 2 s, ~1 Mbit/s, AAC 64 kbit/s) {n} times over RTMP into an upstream strom.\n\
             - Downstream strom: {n} proxies added through `POST /api/v1/proxies`\n  \
               (`rtsp://127.0.0.1:<upstream>/live/srcI`, RTP interleaved over TCP, always on); the window\n  \
               of {secs} s opens once every proxy is live. Ingested rate: `strom_bytes_in_total` over the\n  \
               window; CPU: utime+stime of the downstream process; RSS per pulled stream: (VmRSS with\n  \
               every proxy live − VmRSS before any proxy) / {n}; media held: `strom_resident_media_bytes`\n  \
               (GOP caches and queues: payload and wire forms) / {n}.\n\
             - The three processes share the machine's two cores.\n\n\
             | pulled streams | live at the end | ingested Mbit/s | downstream CPU s/s | CPU s per ingested Gbit/s | RSS before MiB | RSS per pulled stream KiB | media held per stream KiB | all live after s | reconnects | upstream CPU s/s | load CPU s/s |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|\n\
             | {n} | {live} | {mbit:.1} | {cpu:.2} | {per_gbit:.2} | {base:.1} | {rss:.1} | {held:.1} | {after:.1} | {reconnects} | {up:.2} | {load:.2} |\n\
             {end}\n",
            begin = super::sections::INGEST.begin,
            end = super::sections::INGEST.end,
            n = self.streams,
            secs = self.secs,
            live = self.live_at_end,
            mbit = self.ingest_mbit,
            cpu = self.cpu,
            per_gbit = self.cpu_per_gbit(),
            base = self.rss_base_mib,
            rss = self.rss_kib_per_stream,
            held = self.resident_kib_per_stream,
            after = self.all_live_after.as_secs_f64(),
            reconnects = self.reconnects,
            up = self.upstream_cpu,
            load = self.load_cpu,
        )
    }
}

/// Runs the ingest benchmark with `streams` pulled streams and a window of
/// `secs`; fails when a stream is not live.
pub fn run(target: &Path, streams: usize, secs: u64) -> Result<Ingest, String> {
    // The servers run in their own directories.
    let target =
        &std::fs::canonicalize(target).map_err(|e| format!("{}: {e}", target.display()))?;
    let flv = super::bench_file(
        target,
        "bench-360p25-1mbit.flv",
        "640x360",
        ("900k", "1800k"),
        "64k",
    )?;
    let upstream = Strom::start(target, "upstream")?;
    let downstream = Strom::start(target, "downstream")?;
    let load = Command::new(target.join("release/examples/load"))
        .arg("--flv")
        .arg(&flv)
        .args(["--rtmp-port", &upstream.rtmp.to_string()])
        .args(["--http-port", &upstream.http.to_string()])
        .args(["--rtsp-port", &upstream.rtsp.to_string()])
        .args(["--stream", "live/src"])
        .args(["--publishers", &streams.to_string()])
        // Publishes for the whole run; killed at the end.
        .args([
            "--secs",
            &(LIVE_WITHIN.as_secs() * 2 + secs + 60).to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the load: {e}"))?;
    let load = Proc { child: load };
    wait_for(LIVE_WITHIN, "every source live upstream", || {
        Ok(live_streams(upstream.http)? >= streams)
    })?;

    let rss_before = status_kib(downstream.pid(), "VmRSS:");
    let added = Instant::now();
    for i in 0..streams {
        let url = format!("rtsp%3A%2F%2F127.0.0.1%3A{}%2Flive%2Fsrc{i}", upstream.rtsp);
        let path = format!("/api/v1/proxies?app=live&stream=cam{i}&url={url}");
        let (status, body) = http(downstream.http, "POST", &path)?;
        if status != 201 {
            return Err(format!("adding proxy {i}: {status} {body}"));
        }
    }
    wait_for(LIVE_WITHIN, "every proxy live downstream", || {
        Ok(proxies(downstream.http)?.0 >= streams)
    })?;
    let all_live_after = added.elapsed();
    // Let the first GOPs and the connection bursts pass.
    std::thread::sleep(Duration::from_secs(2));

    let (pid, up_pid, load_pid) = (downstream.pid(), upstream.pid(), load.child.id());
    let bytes_before = metric(downstream.http, "strom_bytes_in_total")?;
    let cpu_before = (cpu_of(pid), cpu_of(up_pid), cpu_of(load_pid));
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let wall = started.elapsed().as_secs_f64();
    let bytes = metric(downstream.http, "strom_bytes_in_total")?.saturating_sub(bytes_before);
    let rss = status_kib(pid, "VmRSS:");
    let held = metric(downstream.http, "strom_resident_media_bytes")?;
    let (live_at_end, attempts) = proxies(downstream.http)?;
    let ingest = Ingest {
        streams,
        secs,
        live_at_end,
        reconnects: attempts.saturating_sub(streams as u64),
        ingest_mbit: bytes as f64 * 8.0 / wall / 1e6,
        cpu: (cpu_of(pid) - cpu_before.0) / wall,
        upstream_cpu: (cpu_of(up_pid) - cpu_before.1) / wall,
        load_cpu: (cpu_of(load_pid) - cpu_before.2) / wall,
        rss_base_mib: rss_before / 1024.0,
        rss_kib_per_stream: ((rss - rss_before) / streams.max(1) as f64).max(0.0),
        resident_kib_per_stream: held as f64 / 1024.0 / streams.max(1) as f64,
        all_live_after,
    };
    if ingest.live_at_end < streams || bytes == 0 {
        return Err(format!(
            "not every pulled stream stayed live: {}",
            ingest.line()
        ));
    }
    Ok(ingest)
}

/// A release strom on ephemeral loopback ports, with the per-address caps
/// lifted (every benchmark client comes from 127.0.0.1) and no kept state.
struct Strom {
    proc: Proc,
    rtmp: u16,
    http: u16,
    rtsp: u16,
    _dir: PathBuf,
}

impl Strom {
    fn start(target: &Path, name: &str) -> Result<Strom, String> {
        let dir = target.join("bench").join(format!("ingest-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let (proc, ports) = spawn_strom(target, Some(&dir), &[("STROM_STATE__DIR", "")])?;
        Ok(Strom {
            proc,
            rtmp: ports.rtmp,
            http: ports.http,
            rtsp: ports.rtsp,
            _dir: dir,
        })
    }

    fn pid(&self) -> u32 {
        self.proc.child.id()
    }
}

/// Polls `ready` every 200 ms until it holds or `limit` passes.
pub(super) fn wait_for(
    limit: Duration,
    what: &str,
    mut ready: impl FnMut() -> Result<bool, String>,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if ready()? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not {what} within {} s", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Streams with a publisher.
pub(super) fn live_streams(port: u16) -> Result<usize, String> {
    let (_, body) = http(port, "GET", "/api/v1/streams")?;
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    Ok(v["streams"]
        .as_array()
        .map_or(0, |s| s.iter().filter(|s| s["state"] == "live").count()))
}

/// Live proxies and the attempts of all proxies.
fn proxies(port: u16) -> Result<(usize, u64), String> {
    let (_, body) = http(port, "GET", "/api/v1/proxies")?;
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let list = v["proxies"].as_array().cloned().unwrap_or_default();
    let live = list.iter().filter(|p| p["state"] == "live").count();
    let attempts = list.iter().filter_map(|p| p["attempts"].as_u64()).sum();
    Ok((live, attempts))
}

/// A metric without labels from `/metrics`.
fn metric(port: u16, name: &str) -> Result<u64, String> {
    let (_, body) = http(port, "GET", "/metrics")?;
    body.lines()
        .find_map(|l| {
            l.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|v| v as u64)
        .ok_or_else(|| format!("no {name} in /metrics"))
}
