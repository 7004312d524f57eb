//! `cargo xtask bench`: how many viewers one core carries, and what latency
//! the server adds, measured the same way against strom and (with
//! `--compare nginx`) nginx-rtmp.
//!
//! The load runs in its own process (`server-bin/examples/load/`, built on
//! rtmp-proto's and rtsp-proto's client sides and hls-seg's TS parsers) so its
//! CPU is measured apart from the server's; server CPU and memory come from
//! `/proc`. One run per player count and protocol (`--protocols`: RTMP,
//! HTTP-FLV, RTSP over TCP, HLS, HTTP-TS, HTTP-fMP4). `--short` is the CI profile: every
//! protocol briefly; it proves the tool works and asserts nothing about speed.
//!
//! Binaries are looked up under `$CARGO_TARGET_DIR` (default `target`), the
//! directory the `cargo build` it runs writes to.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod edge;
mod ingest;
mod record;
pub mod record_get;
pub mod record_listing;
mod report;
mod sections;
mod webrtc;

use report::{details, headline, ratios, table, write_benchmarks, Invocation};

/// Options of one bench invocation.
pub struct BenchArgs {
    /// Player counts; one run per count and protocol (the cost curve).
    pub players: Vec<usize>,
    /// Measurement window per run.
    pub secs: u64,
    /// Also run nginx-rtmp with the same load.
    pub compare_nginx: bool,
    /// CI profile: few players, short window, no BENCHMARKS.md.
    pub short: bool,
    /// `server.merge_write_ms` for strom (0: write each frame as it comes).
    pub merge_write_ms: u64,
    /// Protocols to run, in this order per player count.
    pub protocols: Vec<Protocol>,
    /// Where the report goes (BENCHMARKS.md).
    pub out: PathBuf,
    /// Instead of players: one strom pulls this many RTSP streams from
    /// another ([`ingest`]).
    pub ingest: Option<usize>,
    /// Instead of the players' table: first frame and latency through a
    /// cluster edge ([`edge`]).
    pub edge: bool,
    /// Instead of the players' table: WHEP viewers at these counts
    /// ([`webrtc`]).
    pub webrtc: Option<Vec<usize>>,
    /// Instead of the players' table: this many streams recorded at once,
    /// against the same load without recording ([`record`]).
    pub record: Option<usize>,
}

/// A player protocol of the load generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// RTMP play.
    Rtmp,
    /// HTTP-FLV.
    HttpFlv,
    /// RTSP, RTP interleaved over the TCP connection.
    Rtsp,
    /// HLS pollers.
    Hls,
    /// HTTP-TS.
    HttpTs,
    /// HTTP-fMP4.
    HttpMp4,
}

impl Protocol {
    /// Every protocol, in table order.
    pub const ALL: [Protocol; 6] = [
        Protocol::Rtmp,
        Protocol::HttpFlv,
        Protocol::Rtsp,
        Protocol::Hls,
        Protocol::HttpTs,
        Protocol::HttpMp4,
    ];

    /// Parses a `--protocols` entry (`rtmp`, `flv`/`http-flv`, `rtsp`, `hls`, `ts`/`http-ts`,
    /// `mp4`/`http-mp4`).
    pub fn parse(name: &str) -> Result<Protocol, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "rtmp" => Ok(Protocol::Rtmp),
            "flv" | "http-flv" => Ok(Protocol::HttpFlv),
            "rtsp" => Ok(Protocol::Rtsp),
            "hls" => Ok(Protocol::Hls),
            "ts" | "http-ts" => Ok(Protocol::HttpTs),
            "mp4" | "http-mp4" => Ok(Protocol::HttpMp4),
            other => Err(format!(
                "unknown protocol {other:?} (rtmp, flv, rtsp, hls, ts, mp4)"
            )),
        }
    }

    /// The name in tables and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Rtmp => "rtmp",
            Protocol::HttpFlv => "http-flv",
            Protocol::Rtsp => "rtsp",
            Protocol::Hls => "hls",
            Protocol::HttpTs => "http-ts",
            Protocol::HttpMp4 => "http-mp4",
        }
    }

    /// The load generator's player-count flag.
    fn load_flag(self) -> &'static str {
        match self {
            Protocol::Rtmp => "--rtmp-players",
            Protocol::HttpFlv => "--flv-players",
            Protocol::Rtsp => "--rtsp-players",
            Protocol::Hls => "--hls-players",
            Protocol::HttpTs => "--ts-players",
            Protocol::HttpMp4 => "--mp4-players",
        }
    }

    /// The key of this protocol's summary in the load's JSON report.
    fn json_key(self) -> &'static str {
        match self {
            Protocol::Rtmp => "rtmp",
            Protocol::HttpFlv => "http_flv",
            Protocol::Rtsp => "rtsp",
            Protocol::Hls => "hls",
            Protocol::HttpTs => "http_ts",
            Protocol::HttpMp4 => "http_mp4",
        }
    }
}

/// The protocols of a run that did not say (what the bench always ran).
pub const DEFAULT_PROTOCOLS: [Protocol; 2] = [Protocol::Rtmp, Protocol::HttpFlv];

/// One measured run.
struct Run {
    server: &'static str,
    protocol: Protocol,
    players: usize,
    report: serde_json::Value,
    server_cpu: f64,
    peak_rss_mib: f64,
    rss_per_player_kib: f64,
}

/// Runs the benchmark; returns the summary line.
pub fn run(args: &BenchArgs) -> Result<String, String> {
    crate::tools::ensure_media_tools()?;
    let target = build_release()?;
    if let (Some(streams), false) = (args.ingest, args.short) {
        let run = ingest::run(&target, streams, args.secs)?;
        eprintln!("{}", run.line());
        let command = format!("cargo xtask bench --ingest {streams} --secs {}", args.secs);
        sections::write(&args.out, &sections::INGEST, &run.section(&command))?;
        return Ok(run.line());
    }
    if let (Some(streams), false) = (args.record, args.short) {
        let players = args.players.first().copied().unwrap_or(20);
        let run = record::run(&target, streams, players, args.secs, 2)?;
        eprintln!("{}", run.lines());
        run.check()?;
        let command = format!(
            "cargo xtask bench --record {streams} --players {players} --secs {}",
            args.secs
        );
        sections::write(&args.out, &sections::RECORD, &run.section(&command))?;
        return Ok(run.lines());
    }
    if args.edge {
        let (samples, players, secs) = if args.short {
            (2, 10, 2)
        } else {
            (20, args.players.first().copied().unwrap_or(100), args.secs)
        };
        let run = edge::run(&target, samples, players, secs)?;
        eprintln!("{}", run.line());
        if !args.short {
            let command = format!("cargo xtask bench --edge --players {players} --secs {secs}");
            sections::write(&args.out, &sections::EDGE, &run.section(&command))?;
        }
        return Ok(run.line());
    }
    if let (Some(counts), false) = (&args.webrtc, args.short) {
        let run = webrtc::run(&target, counts, args.secs)?;
        run.check()?;
        let list: Vec<String> = counts.iter().map(ToString::to_string).collect();
        let command = format!(
            "cargo xtask bench --webrtc --viewers {} --secs {}",
            list.join(","),
            args.secs
        );
        sections::write(&args.out, &sections::WEBRTC, &run.section(&command))?;
        return Ok(run.lines());
    }
    let flv = bench_file(
        &target,
        "bench-720p25-2mbit.flv",
        "1280x720",
        ("2M", "4M"),
        "128k",
    )?;
    let (counts, secs, protocols) = if args.short {
        (vec![20], 3, Protocol::ALL.to_vec())
    } else {
        (args.players.clone(), args.secs, args.protocols.clone())
    };
    let mut runs = Vec::new();
    let nginx = if args.compare_nginx {
        Some(ensure_nginx()?)
    } else {
        None
    };
    for &players in &counts {
        for &protocol in &protocols {
            runs.push(run_strom(
                &target,
                &flv,
                protocol,
                players,
                secs,
                args.merge_write_ms,
            )?);
            // nginx-rtmp speaks RTMP only; runs alternate so both see the same machine state.
            if protocol == Protocol::Rtmp {
                if let Some(nginx) = &nginx {
                    runs.push(run_nginx(&target, nginx, &flv, players, secs)?);
                }
            }
        }
    }
    let table = table(&runs);
    eprintln!("{table}");
    if let Some(d) = details(&runs) {
        eprintln!("{d}");
    }
    if let Some(r) = ratios(&runs) {
        eprintln!("{r}");
    }
    // The tool works: in every run some player connected and got video.
    for r in &runs {
        let p = &r.report[r.protocol.json_key()];
        if p["connected"].as_u64().unwrap_or(0) == 0 {
            return Err(format!(
                "{} {}: no player connected: {}",
                r.server,
                r.protocol.name(),
                r.report
            ));
        }
        if p["first_frame_ms"].is_null() {
            return Err(format!(
                "{} {}: no player received a video frame: {}",
                r.server,
                r.protocol.name(),
                r.report
            ));
        }
    }
    if args.short {
        // The ingest benchmark works too: a few pulled streams, all live.
        let run = ingest::run(&target, 10, 3)?;
        eprintln!("{}", run.line());
        // And the edge benchmark: a real etcd, two nodes.
        let run = edge::run(&target, 2, 10, 2)?;
        eprintln!("{}", run.line());
        // And the WebRTC one: a few viewers, briefly.
        let run = webrtc::run(&target, &[10, 50], 5)?;
        run.check()?;
        // And the recording one: a few streams recorded, one pair.
        let run = record::run(&target, 5, 5, 3, 1)?;
        eprintln!("{}", run.lines());
        run.check()?;
    } else {
        write_benchmarks(
            &runs,
            &Invocation {
                counts: &counts,
                secs,
                nginx: args.compare_nginx,
                merge: args.merge_write_ms,
                protocols: &protocols,
                out: &args.out,
            },
        )?;
    }
    Ok(format!("{} runs; {}", runs.len(), headline(&runs)))
}

/// Builds the release `strom` and the load generator; returns the target
/// directory they are in.
pub(crate) fn build_release() -> Result<PathBuf, String> {
    cargo(&[
        "build",
        "--release",
        "-p",
        "server-bin",
        "--bin",
        "strom",
        "--example",
        "load",
    ])?;
    Ok(target_dir())
}

/// The ~1 Mbit/s 640x360 stream of the ingest benchmark and the soak.
pub(crate) fn small_stream(target: &Path) -> Result<PathBuf, String> {
    bench_file(
        target,
        "bench-360p25-1mbit.flv",
        "640x360",
        ("900k", "1800k"),
        "64k",
    )
}

/// One HTTP/1.0 request without a body (10 s deadline); the status and
/// the body.
pub(crate) fn http(port: u16, method: &str, path: &str) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let mut sock =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    let limit = Some(Duration::from_secs(10));
    sock.set_read_timeout(limit).map_err(|e| e.to_string())?;
    write!(
        sock,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    sock.read_to_string(&mut text)
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {path}: no status line"))?;
    Ok((status, body.to_string()))
}

/// `$CARGO_TARGET_DIR`, or `target` (relative to the workspace root, where
/// `cargo xtask` runs).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn cargo(args: &[&str]) -> Result<(), String> {
    let ok = Command::new("cargo")
        .args(args)
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(())
        .ok_or_else(|| format!("cargo {} failed", args.join(" ")))
}

/// A generated stream, made once with ffmpeg and cached under
/// `target/bench/{name}`: H.264 of `size` at 25 fps, GOP 2 s, `video` bit/s
/// (rate and buffer size),
/// AAC at `audio` bit/s, 20 s (the load loops it). The players' benchmark
/// uses 1280x720 at 2 Mbit/s, the ingest one 640x360 at ~1 Mbit/s.
fn bench_file(
    target: &Path,
    name: &str,
    size: &str,
    rates: (&str, &str),
    audio: &str,
) -> Result<PathBuf, String> {
    bench_file_with(target, name, size, rates, audio, &[])
}

/// [`bench_file`] with more encoder options (`-bf 0`: no B-frames).
fn bench_file_with(
    target: &Path,
    name: &str,
    size: &str,
    (video, buffer): (&str, &str),
    audio: &str,
    encoder: &[&str],
) -> Result<PathBuf, String> {
    let dir = target.join("bench");
    let file = dir.join(name);
    if file.exists() {
        return Ok(file);
    }
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let ok = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=25"),
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            "20",
        ])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-b:v", video, "-maxrate", video,
        ])
        .args(["-bufsize", buffer, "-g", "50", "-pix_fmt", "yuv420p"])
        .args(encoder)
        .args(["-c:a", "aac", "-b:a", audio])
        .args(["-f", "flv"])
        .arg(&file)
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(file)
        .ok_or_else(|| "ffmpeg could not generate the bench stream".into())
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// A child process killed when dropped.
pub(crate) struct Proc {
    pub(crate) child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_port(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("nothing listens on {port} after 10 s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// utime + stime of a process, in seconds.
fn cpu_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

/// A `/proc/PID/status` field in KiB (VmRSS, VmHWM).
pub(crate) fn status_kib(pid: u32, field: &str) -> f64 {
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

/// The ports a server listens on (0: not served).
#[derive(Clone, Copy)]
pub(crate) struct Ports {
    pub(crate) rtmp: u16,
    pub(crate) http: u16,
    pub(crate) rtsp: u16,
}

/// Worker threads of the load process: one per core, so that the load
/// (measured at 0.7-0.9 of one core against 2,000 nginx-rtmp players) is
/// never the bottleneck; its CPU is reported beside the server's, and the
/// server's CPU is its own process's either way.
fn load_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn load(
    target: &Path,
    flv: &Path,
    ports: Ports,
    protocol: Protocol,
    players: usize,
    secs: u64,
) -> Result<serde_json::Value, String> {
    let mut cmd = Command::new(target.join("release/examples/load"));
    cmd.arg("--flv")
        .arg(flv)
        .args(["--rtmp-port", &ports.rtmp.to_string()])
        .args(["--http-port", &ports.http.to_string()])
        .args(["--rtsp-port", &ports.rtsp.to_string()])
        .args(["--secs", &secs.to_string()])
        .args(["--threads", &load_threads().to_string()])
        .args([protocol.load_flag(), &players.to_string()]);
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("load output: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Runs the load against a server process and measures it.
fn measure(
    server: &'static str,
    pid: u32,
    (target, flv): (&Path, &Path),
    ports: Ports,
    protocol: Protocol,
    players: usize,
    secs: u64,
) -> Result<Run, String> {
    let rss_before = status_kib(pid, "VmRSS:");
    let cpu_before = cpu_of(pid);
    let started = Instant::now();
    let report = load(target, flv, ports, protocol, players, secs)?;
    let wall = started.elapsed().as_secs_f64();
    let server_cpu = (cpu_of(pid) - cpu_before) / wall;
    let peak = status_kib(pid, "VmHWM:");
    Ok(Run {
        server,
        protocol,
        players,
        report,
        server_cpu,
        peak_rss_mib: peak / 1024.0,
        rss_per_player_kib: ((peak - rss_before) / players.max(1) as f64).max(0.0),
    })
}

fn run_strom(
    target: &Path,
    flv: &Path,
    protocol: Protocol,
    players: usize,
    secs: u64,
    merge_write_ms: u64,
) -> Result<Run, String> {
    let merge = merge_write_ms.to_string();
    let (proc, ports) = spawn_strom(target, None, &[("STROM_SERVER__MERGE_WRITE_MS", &merge)])?;
    measure(
        "strom",
        proc.child.id(),
        (target, flv),
        ports,
        protocol,
        players,
        secs,
    )
}

/// A release strom on ephemeral loopback ports (in `dir` when given), logs
/// at `warn`, with `env` set; returns once every listener answers.
pub(crate) fn spawn_strom(
    target: &Path,
    dir: Option<&Path>,
    env: &[(&str, &str)],
) -> Result<(Proc, Ports), String> {
    let (rtmp, http, rtsp) = (free_port()?, free_port()?, free_port()?);
    let mut cmd = Command::new(target.join("release/strom"));
    cmd.args(["--bind", "127.0.0.1", "--rtmp-port", &rtmp.to_string()])
        .args(["--http-port", &http.to_string()])
        .args(["--rtsp-port", &rtsp.to_string()])
        .args(["--webrtc-port", "0"])
        .env("STROM_LOG__LEVEL", "warn")
        // Every load client comes from 127.0.0.1: the per-address caps, made
        // for exactly one address opening thousands of sessions, would refuse
        // the load itself. The total caps stay as derived.
        .env("STROM_SERVER__MAX_SESSIONS_PER_IP", "1000000")
        .env("STROM_SERVER__MAX_PENDING_PER_IP", "1000000")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start strom: {e}"))?;
    let proc = Proc { child };
    for port in [rtmp, http, rtsp] {
        wait_port(port)?;
    }
    Ok((proc, Ports { rtmp, http, rtsp }))
}

/// nginx with the RTMP module, one worker, in a private prefix.
struct Nginx {
    binary: String,
}

fn ensure_nginx() -> Result<Nginx, String> {
    crate::tools::ensure_nginx_rtmp()
        .map_err(|e| format!("--compare nginx needs nginx with the RTMP module: {e}"))?;
    Ok(Nginx {
        binary: crate::tools::NGINX.into(),
    })
}

fn run_nginx(
    target: &Path,
    nginx: &Nginx,
    flv: &Path,
    players: usize,
    secs: u64,
) -> Result<Run, String> {
    let port = free_port()?;
    let prefix = std::env::current_dir()
        .map_err(|e| e.to_string())?
        .join(target)
        .join("bench/nginx");
    std::fs::create_dir_all(prefix.join("logs")).map_err(|e| e.to_string())?;
    let module = crate::tools::NGINX_RTMP_MODULE;
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "load_module {module};\n\
             worker_processes 1;\ndaemon off;\nmaster_process off;\nerror_log logs/error.log warn;\npid logs/nginx.pid;\n\
             events {{ worker_connections 4096; }}\n\
             rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096; application live {{ live on; }} }} }}\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let child = Command::new(&nginx.binary)
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start nginx: {e}"))?;
    let proc = Proc { child };
    wait_port(port)?;
    measure(
        "nginx-rtmp",
        proc.child.id(),
        (target, flv),
        Ports {
            rtmp: port,
            http: 0,
            rtsp: 0,
        },
        Protocol::Rtmp,
        players,
        secs,
    )
}

/// Where the report goes unless `--out` says otherwise.
pub const DEFAULT_OUT: &str = "BENCHMARKS.md";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_parse_by_short_and_long_name() {
        let names = ["rtmp", "flv", "http-flv", "RTSP", "hls", "ts", "http-ts"];
        let parsed: Vec<_> = names.iter().map(|n| Protocol::parse(n)).collect();
        assert!(parsed.iter().all(Result::is_ok));
        assert_eq!(Protocol::parse("flv"), Ok(Protocol::HttpFlv));
        assert_eq!(Protocol::parse("ts"), Ok(Protocol::HttpTs));
        assert!(Protocol::parse("srt").is_err());
        for p in Protocol::ALL {
            assert_eq!(Protocol::parse(p.name()), Ok(p));
        }
    }
}
