//! `cargo xtask bench`: how many viewers one core carries, and what latency
//! the server adds, measured the same way against strom and (with
//! `--compare nginx`) nginx-rtmp.
//!
//! The load runs in its own process (`server-bin/examples/load/`, built on
//! rtmp-proto's and rtsp-proto's client sides and hls-seg's TS parsers) so its
//! CPU is measured apart from the server's; server CPU and memory come from
//! `/proc`. One run per player count and protocol (`--protocols`: RTMP,
//! HTTP-FLV, RTSP over TCP, HLS, HTTP-TS). `--short` is the CI profile: every
//! protocol briefly; it proves the tool works and asserts nothing about speed.
//!
//! Binaries are looked up under `$CARGO_TARGET_DIR` (default `target`), the
//! directory the `cargo build` it runs writes to.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
}

impl Protocol {
    /// Every protocol, in table order.
    pub const ALL: [Protocol; 5] = [
        Protocol::Rtmp,
        Protocol::HttpFlv,
        Protocol::Rtsp,
        Protocol::Hls,
        Protocol::HttpTs,
    ];

    /// Parses a `--protocols` entry (`rtmp`, `flv`/`http-flv`, `rtsp`, `hls`, `ts`/`http-ts`).
    pub fn parse(name: &str) -> Result<Protocol, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "rtmp" => Ok(Protocol::Rtmp),
            "flv" | "http-flv" => Ok(Protocol::HttpFlv),
            "rtsp" => Ok(Protocol::Rtsp),
            "hls" => Ok(Protocol::Hls),
            "ts" | "http-ts" => Ok(Protocol::HttpTs),
            other => Err(format!(
                "unknown protocol {other:?} (rtmp, flv, rtsp, hls, ts)"
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
    let target = target_dir();
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
    let flv = bench_file(&target)?;
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
    if !args.short {
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

/// The generated stream, made once with ffmpeg and cached: H.264 1280x720
/// 25 fps, GOP 2 s, ~2 Mbit/s, AAC 128 kbit/s, 20 s (the load loops it).
fn bench_file(target: &Path) -> Result<PathBuf, String> {
    let dir = target.join("bench");
    let file = dir.join("bench-720p25-2mbit.flv");
    if file.exists() {
        return Ok(file);
    }
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let ok = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            "20",
        ])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2M", "-maxrate", "2M",
        ])
        .args([
            "-bufsize", "4M", "-g", "50", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
        ])
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

struct Proc {
    child: Child,
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
fn status_kib(pid: u32, field: &str) -> f64 {
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
struct Ports {
    rtmp: u16,
    http: u16,
    rtsp: u16,
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
    let (rtmp, http, rtsp) = (free_port()?, free_port()?, free_port()?);
    let child = Command::new(target.join("release/strom"))
        .args(["--bind", "127.0.0.1", "--rtmp-port", &rtmp.to_string()])
        .args([
            "--http-port",
            &http.to_string(),
            "--rtsp-port",
            &rtsp.to_string(),
        ])
        .env("STROM_LOG__LEVEL", "warn")
        .env("STROM_SERVER__MERGE_WRITE_MS", merge_write_ms.to_string())
        // Every load client comes from 127.0.0.1: the per-address caps, made
        // for exactly one address opening thousands of sessions, would refuse
        // the load itself. The total caps stay as derived.
        .env("STROM_SERVER__MAX_SESSIONS_PER_IP", "1000000")
        .env("STROM_SERVER__MAX_PENDING_PER_IP", "1000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start strom: {e}"))?;
    let proc = Proc { child };
    wait_port(rtmp)?;
    wait_port(http)?;
    wait_port(rtsp)?;
    measure(
        "strom",
        proc.child.id(),
        (target, flv),
        Ports { rtmp, http, rtsp },
        protocol,
        players,
        secs,
    )
}

/// nginx with the RTMP module, one worker, in a private prefix.
struct Nginx {
    binary: String,
}

fn ensure_nginx() -> Result<Nginx, String> {
    let module = Path::new("/usr/lib/nginx/modules/ngx_rtmp_module.so");
    if !module.exists() {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if !root {
            return Err("--compare nginx needs nginx with the RTMP module: apt-get install -y nginx libnginx-mod-rtmp".into());
        }
        eprintln!("xtask bench: installing nginx and libnginx-mod-rtmp with apt-get");
        let ok = Command::new("apt-get")
            .args([
                "install",
                "-y",
                "--no-install-recommends",
                "nginx",
                "libnginx-mod-rtmp",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
        if !ok || !module.exists() {
            return Err("apt-get could not install nginx and libnginx-mod-rtmp".into());
        }
    }
    Ok(Nginx {
        binary: "/usr/sbin/nginx".into(),
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
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n\
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

fn pct(v: &serde_json::Value, key: &str, q: &str) -> String {
    v[key][q]
        .as_f64()
        .map(|x| format!("{x:.1}"))
        .unwrap_or_else(|| "-".into())
}

fn table(runs: &[Run]) -> String {
    let mut t = String::from(
        "| server | protocol | players | full rate | fps/player | Mbit/s/player | first frame p50/p95/p99 ms | added latency p50/p99/max ms | server CPU s/s | CPU ms/s per player | CPU s per Gbit/s | peak RSS MiB | RSS/player KiB | load CPU s/s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let p = &r.report[r.protocol.json_key()];
        let gbps = p["delivered_gbit_per_second"].as_f64().unwrap_or(0.0);
        t.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {:.2} | {} / {} / {} | {} / {} / {} | {:.2} | {:.3} | {} | {:.1} | {:.1} | {:.2} |\n",
            r.server,
            r.protocol.name(),
            r.players,
            p["full_rate"].as_u64().unwrap_or(0),
            p["fps_per_player"].as_f64().unwrap_or(0.0),
            p["bits_per_second_per_player"].as_f64().unwrap_or(0.0) / 1e6,
            pct(p, "first_frame_ms", "p50"),
            pct(p, "first_frame_ms", "p95"),
            pct(p, "first_frame_ms", "p99"),
            pct(p, "added_latency_ms", "p50"),
            pct(p, "added_latency_ms", "p99"),
            pct(p, "added_latency_ms", "max"),
            r.server_cpu,
            r.server_cpu * 1000.0 / r.players.max(1) as f64,
            if gbps > 0.0 { format!("{:.2}", r.server_cpu / gbps) } else { "-".into() },
            r.peak_rss_mib,
            r.rss_per_player_kib,
            r.report["load_cpu_seconds_per_second"].as_f64().unwrap_or(0.0),
        ));
    }
    t
}

/// strom ÷ nginx-rtmp for the RTMP runs, when both ran.
fn ratios(runs: &[Run]) -> Option<String> {
    let most = runs
        .iter()
        .filter(|r| r.server == "nginx-rtmp")
        .map(|r| r.players)
        .max()?;
    let find = |server: &str| {
        runs.iter()
            .find(|r| r.server == server && r.protocol == Protocol::Rtmp && r.players == most)
    };
    let (s, n) = (find("strom")?, find("nginx-rtmp")?);
    let get = |r: &Run, a: &str, b: Option<&str>| {
        let v = &r.report["rtmp"][a];
        match b {
            Some(b) => v[b].as_f64(),
            None => v.as_f64(),
        }
        .unwrap_or(0.0)
    };
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}", a / b)
        } else {
            "-".into()
        }
    };
    let gbit = |r: &Run| r.server_cpu / get(r, "delivered_gbit_per_second", None).max(1e-9);
    Some(format!(
        "\nstrom ÷ nginx-rtmp (RTMP, {most} players): players at full rate {}, server CPU per delivered Gbit/s {}, \
         first frame p50 {}, added latency p50 {}, p99 {}, peak RSS {}\n",
        ratio(get(s, "full_rate", None), get(n, "full_rate", None)),
        ratio(gbit(s), gbit(n)),
        ratio(get(s, "first_frame_ms", Some("p50")), get(n, "first_frame_ms", Some("p50"))),
        ratio(get(s, "added_latency_ms", Some("p50")), get(n, "added_latency_ms", Some("p50"))),
        ratio(get(s, "added_latency_ms", Some("p99")), get(n, "added_latency_ms", Some("p99"))),
        ratio(s.peak_rss_mib, n.peak_rss_mib),
    ))
}

fn headline(runs: &[Run]) -> String {
    runs.iter()
        .map(|r| {
            let p = &r.report[r.protocol.json_key()];
            format!(
                "{} {} {}/{} at full rate, {:.2} CPU s/s",
                r.server,
                r.protocol.name(),
                p["full_rate"].as_u64().unwrap_or(0),
                r.players,
                r.server_cpu
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, {cpu}, Linux {}", kernel.trim())
}

/// What one invocation ran, for the report's header.
struct Invocation<'a> {
    counts: &'a [usize],
    secs: u64,
    nginx: bool,
    merge: u64,
    protocols: &'a [Protocol],
    out: &'a Path,
}

impl Invocation<'_> {
    /// The command line that regenerates the report.
    fn command(&self) -> String {
        let players = self
            .counts
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let mut cmd = format!("cargo xtask bench --players {players} --secs {}", self.secs);
        if self.protocols != DEFAULT_PROTOCOLS {
            let names: Vec<_> = self.protocols.iter().map(|p| p.name()).collect();
            cmd.push_str(&format!(" --protocols {}", names.join(",")));
        }
        if self.nginx {
            cmd.push_str(" --compare nginx");
        }
        if self.merge > 0 {
            cmd.push_str(&format!(" --merge-write-ms {}", self.merge));
        }
        if self.out != Path::new(DEFAULT_OUT) {
            cmd.push_str(&format!(" --out {}", self.out.display()));
        }
        cmd
    }
}

/// Where the report goes unless `--out` says otherwise.
pub const DEFAULT_OUT: &str = "BENCHMARKS.md";

/// The protocol-specific figures: players that failed, latency samples that
/// could not be rebased, and HLS segments.
fn details(runs: &[Run]) -> Option<String> {
    let rows: Vec<&Run> = runs
        .iter()
        .filter(|r| {
            matches!(
                r.protocol,
                Protocol::Rtsp | Protocol::Hls | Protocol::HttpTs
            )
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut t = String::from(
        "| server | protocol | players | failed | latency unresolved players | segments/player | skipped segments | segment fetch p50/p95/p99 ms |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let p = &r.report[r.protocol.json_key()];
        let num = |k: &str| {
            p[k].as_f64()
                .map(|v| format!("{v:.1}").trim_end_matches(".0").to_string())
                .unwrap_or_else(|| "-".into())
        };
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} / {} |\n",
            r.server,
            r.protocol.name(),
            r.players,
            num("failed"),
            num("latency_unresolved_players"),
            num("segments_per_player"),
            num("skipped_segments"),
            pct(p, "segment_fetch_ms", "p50"),
            pct(p, "segment_fetch_ms", "p95"),
            pct(p, "segment_fetch_ms", "p99"),
        ));
    }
    Some(t)
}

fn write_benchmarks(runs: &[Run], inv: &Invocation<'_>) -> Result<(), String> {
    let (secs, merge) = (inv.secs, inv.merge);
    let has = |p: Protocol| inv.protocols.contains(&p);
    let mut per_protocol = String::new();
    if has(Protocol::Rtsp) {
        per_protocol.push_str(
            "- RTSP: DESCRIBE, SETUP of both tracks over TCP interleaved, PLAY (rtsp-proto's framing);\n  \
             a frame is an H.264 access unit from rtsp-proto's depacketizer; bytes are all interleaved\n  \
             payloads. RTP timestamps start from a random base, so latency is rebased: the player notes each\n  \
             sampled frame's offset from its first keyframe, and the end of the run matches that keyframe\n  \
             to the latest published keyframe every sample fits (sent before received; keyframes are 2 s\n  \
             apart, so the match is unique while latencies stay under 2 s). Players whose samples fit no\n  \
             keyframe are counted as unresolved, not guessed.\n",
        );
    }
    if has(Protocol::HttpTs) {
        per_protocol.push_str(
            "- HTTP-TS: `GET /app/stream.live.ts`; a frame is a video PES start on PID 0x100 (its\n  \
             first packet), so its latency is to the frame's first bytes; rebased by PES DTS as for RTSP.\n",
        );
    }
    if has(Protocol::Hls) {
        per_protocol.push_str(
            "- HLS: each player polls `hls.m3u8` every target duration / 2 on one keep-alive connection,\n  \
             starts at the live edge and downloads each new segment once. Frames: video PES in the\n  \
             segments downloaded in the window (whole segments, so fps/player swings by ±1 segment in a\n  \
             short window); full rate: no segment missed (none left the playlist unseen) and no error.\n  \
             First frame: TCP connect to the first segment downloaded (the first playlist request of a\n  \
             stream starts packaging). Added latency: publisher send of a segment's last video frame to\n  \
             that segment downloaded (packaging, polling and download; not the segment's own duration).\n",
        );
    }
    let text = format!(
        "# strom benchmarks\n\n\
         Produced by `{}`; regenerate with the same\n\
         command. Numbers are from one run on the machine below; rerun before comparing.\n\n\
         ## Machine\n\n{}\n\n\
         ## Method\n\n\
         - Server: `target/release/strom` (release build) on loopback ephemeral ports, logs at `warn`,\n  \
           `server.merge_write_ms = {merge}`.\n\
         - Stream: H.264 1280x720 25 fps, GOP 2 s, ~2 Mbit/s, plus AAC 128 kbit/s, generated once with\n  \
           ffmpeg (`target/bench/bench-720p25-2mbit.flv`, under `$CARGO_TARGET_DIR` when set) and published\n  \
           in real time, looped, by the load process.\n\
         - Load: `target/release/examples/load` (one process, its own tokio runtime, one worker thread),\n  \
           built on rtmp-proto's client session (publisher, RTMP), rtsp-proto (RTSP) and hls-seg's TS\n  \
           header decoders (HLS, HTTP-TS): one publisher and N players of one protocol per run;\n  \
           measurement window of {secs} s after all players connected.\n\
         - Full rate: a player that received at least 95% of 25 video frames per second in the window.\n\
         - First frame: TCP connect to the first coded video frame. Added latency: the publisher's send\n  \
           time of a video timestamp to a player's receive time of the same timestamp (same clock), sampled\n  \
           on every 5th frame per player.\n\
         {per_protocol}\
         - Server CPU s/s: utime+stime from `/proc/PID/stat` over the load run's wall time; CPU s per\n  \
           Gbit/s: that divided by the media rate delivered to players. Peak RSS: `VmHWM`; RSS per player:\n  \
           (peak − RSS before the run) / players.\n\
         {}\n\
         ## Results\n\n{}\n{}{}",
        inv.command(),
        machine(),
        if inv.nginx {
            "- nginx: Debian's nginx with libnginx-mod-rtmp, one worker process, `chunk_size 4096`, the same\n  load in the same invocation, run alternately with strom (RTMP only: nginx-rtmp has no HTTP-FLV).\n"
        } else {
            ""
        },
        table(runs),
        ratios(runs).unwrap_or_default(),
        details(runs)
            .map(|d| format!("\n{d}"))
            .unwrap_or_default(),
    );
    std::fs::write(inv.out, text).map_err(|e| format!("{}: {e}", inv.out.display()))
}

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

    #[test]
    fn the_report_names_the_command_that_regenerates_it() {
        let mut inv = Invocation {
            counts: &[10, 100],
            secs: 10,
            nginx: true,
            merge: 0,
            protocols: &DEFAULT_PROTOCOLS,
            out: Path::new(DEFAULT_OUT),
        };
        assert_eq!(
            inv.command(),
            "cargo xtask bench --players 10,100 --secs 10 --compare nginx"
        );
        let all = Protocol::ALL;
        inv.protocols = &all;
        inv.nginx = false;
        inv.out = Path::new("x.md");
        assert_eq!(
            inv.command(),
            "cargo xtask bench --players 10,100 --secs 10 --protocols rtmp,http-flv,rtsp,hls,http-ts --out x.md"
        );
    }
}
