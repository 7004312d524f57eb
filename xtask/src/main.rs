//! strom's project automation, run as `cargo xtask <command>`.
//!
//! - `cargo xtask ci`: everything CI checks, in order, with a closing summary
//!   line: tools present (ffmpeg, the GStreamer RTSP camera, nginx-rtmp, etcd, Chromium, Node.js), `cargo fmt --check` (workspace and fuzz crate),
//!   `cargo xtask tidy`, clippy with warnings denied (both), rustdoc with warnings denied, the
//!   whole test suite, the chaos, cluster and browser scenarios (short), a short benchmark run and
//!   a short run of every fuzz target.
//! - `cargo xtask tidy`: the codebase's own rules (layering of the crates,
//!   file length, no `unwrap`/`expect` outside tests in library crates,
//!   documented public items); each violation as `path:line: rule: detail`.
//! - `cargo xtask fuzz [--smoke] [TARGET…] [--time N]`: the fuzz targets.
//! - `cargo xtask bench [--players N] [--secs S] [--protocols rtmp,flv,rtsp,hls,ts,mp4]
//!   [--compare nginx] [--short] [--out FILE]`: the benchmark (BENCHMARKS.md);
//!   `--ingest N` instead measures one strom pulling N RTSP streams from another;
//!   `--edge` the first frame and added latency through a cluster edge node;
//!   `--webrtc [--viewers 10,100,500]` WHEP viewers' CPU per Gbit/s and RSS;
//!   `--record N` N streams recorded at once against the same load unrecorded.
//!
//! - `cargo xtask soak [--minutes N]`: publishers and players coming and going
//!   for N minutes; fails if what the server holds trends upward.
//! - `cargo xtask chaos [--long] [SCENARIO]`: the never-fake-die scenarios
//!   (RELIABILITY.md).
//! - `cargo xtask cluster [--long] [SCENARIO]`: three strom nodes on a real
//!   3-member etcd: failover, a frozen owner, etcd failures, churn.
//! - `cargo xtask browser [--long] [SCENARIO]`: headless Chromium plays
//!   WHEP and publishes WHIP (first frame, latency, ffmpeg on the result),
//!   and plays LL-HLS in hls.js, WebSocket-FLV in mpegts.js and `.live.mp4`
//!   in a plain MSE page.

use std::process::{Command, ExitCode};
use std::time::Instant;

use clap::{Parser, Subcommand};

mod bench;
mod browser;
mod chaos;
mod cluster;
mod fuzz;
mod soak;
mod tidy;
mod tools;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "strom project automation")]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every check CI runs: fmt, clippy, tests, a fuzz smoke run
    /// (installs ffmpeg, the test peers and cargo-fuzz when missing and allowed).
    Ci,
    /// Check the codebase's own rules (crate layering, file length, no
    /// unwrap/expect outside tests, documented public items); builds nothing.
    Tidy,
    /// Measure viewers per core and added latency (see BENCHMARKS.md).
    Bench {
        /// Players per run; a comma-separated list gives the cost curve.
        #[arg(long, value_delimiter = ',', default_value = "1000")]
        players: Vec<usize>,
        /// Measurement window per run, in seconds.
        #[arg(long, default_value_t = 20)]
        secs: u64,
        /// Also run nginx with the RTMP module under the same load (`nginx`).
        #[arg(long)]
        compare: Option<String>,
        /// The CI profile (every protocol, 20 players, 3 s; --players, --secs and
        /// --protocols ignored): proves the tool works, asserts nothing about speed.
        #[arg(long)]
        short: bool,
        /// strom's server.merge_write_ms for the runs.
        #[arg(long, default_value_t = 0)]
        merge_write_ms: u64,
        /// Player protocols, one run each per player count: rtmp, flv, rtsp, hls, ts.
        #[arg(long, value_delimiter = ',', default_value = "rtmp,flv")]
        protocols: Vec<String>,
        /// Where the report is written.
        #[arg(long, default_value = bench::DEFAULT_OUT)]
        out: std::path::PathBuf,
        /// Instead of players: one strom pulls this many RTSP streams (~1 Mbit/s
        /// each) from a second strom; CPU per ingested Gbit/s, RSS per stream.
        #[arg(long)]
        ingest: Option<usize>,
        /// Instead of players on one server: first frame and added latency
        /// through a cluster edge (a real etcd, two nodes); the first
        /// --players count is the latency run's players.
        #[arg(long)]
        edge: bool,
        /// Instead of players: WHEP viewers (a str0m client each) at the
        /// --viewers counts; CPU per delivered Gbit/s, RSS per viewer.
        #[arg(long)]
        webrtc: bool,
        /// Viewer counts of --webrtc, one step each against the same strom.
        #[arg(long, value_delimiter = ',', default_value = "10,100,500")]
        viewers: Vec<usize>,
        /// Instead of players: this many 2 Mbit/s streams recorded at once,
        /// against the same load unrecorded (two pairs); the first --players
        /// count is the live players' count.
        #[arg(long)]
        record: Option<usize>,
        /// Instead of players: the time to the first byte of a ten-minute
        /// recording download from a one-hour file (target: under 100 ms).
        #[arg(long)]
        record_get: bool,
        /// Instead of players: listing 30 days of one stream's recordings
        /// from a synthetic catalogue of 100 streams (target: under 50 ms).
        #[arg(long)]
        record_listing: bool,
    },
    /// Run the never-fake-die scenarios against the release binary (RELIABILITY.md).
    Chaos {
        /// The full counts and durations (minutes, not seconds).
        #[arg(long)]
        long: bool,
        /// One scenario by number (1-23) or name; default: all.
        scenario: Option<String>,
    },
    /// Three strom nodes on a real 3-member etcd: every protocol on the
    /// edges, owner failover, a frozen owner, etcd failures, churn.
    Cluster {
        /// The full counts (more streams, rounds, 1,000 churn cycles).
        #[arg(long)]
        long: bool,
        /// One scenario by number (1-6) or name; default: all.
        scenario: Option<String>,
    },
    /// Headless Chromium against strom's WebRTC: WHEP playback (first
    /// frame, latency) and WHIP publishing played back by ffmpeg.
    Browser {
        /// More joins, longer plays.
        #[arg(long)]
        long: bool,
        /// One scenario by number (1-2) or name; default: all.
        scenario: Option<String>,
    },
    /// The server under churn (publishers and 500 players coming and going,
    /// the API polled) for N minutes; fails if RSS, descriptors, tasks or the
    /// API's p99 trend upward.
    Soak {
        /// How long (CI: 2).
        #[arg(long, default_value_t = 2)]
        minutes: u64,
    },
    /// Run the cargo-fuzz targets on the stable toolchain.
    Fuzz {
        /// Targets to run (default: all).
        targets: Vec<String>,
        /// Run every target briefly (what CI does).
        #[arg(long)]
        smoke: bool,
        /// Seconds per target (default: 5 with --smoke, 60 otherwise).
        #[arg(long)]
        time: Option<u64>,
    },
}

fn main() -> ExitCode {
    match Args::parse().command {
        Cmd::Ci => ci(),
        Cmd::Tidy => tidy(),
        Cmd::Bench {
            players,
            secs,
            compare,
            short,
            merge_write_ms,
            protocols,
            out,
            ingest,
            edge,
            webrtc,
            viewers,
            record,
            record_get,
            record_listing,
        } => {
            let measured = match (record_get, record_listing) {
                (true, _) => Some(bench::record_get::run()),
                (_, true) => Some(bench::record_listing::run()),
                _ => None,
            };
            if let Some(result) = measured {
                return match result {
                    Ok(line) => {
                        println!("xtask bench: OK: {line}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("xtask bench: {e}");
                        ExitCode::FAILURE
                    }
                };
            }
            if compare.as_deref().is_some_and(|c| c != "nginx") {
                eprintln!("xtask bench: --compare accepts only `nginx`");
                return ExitCode::FAILURE;
            }
            let protocols = match protocols
                .iter()
                .map(|p| bench::Protocol::parse(p))
                .collect()
            {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("xtask bench: --protocols: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let args = bench::BenchArgs {
                players,
                secs,
                compare_nginx: compare.is_some(),
                short,
                merge_write_ms,
                protocols,
                out,
                ingest,
                edge,
                webrtc: webrtc.then_some(viewers),
                record,
            };
            match bench::run(&args) {
                Ok(summary) => {
                    println!("xtask bench: OK: {summary}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("xtask bench: {e}");
                    println!("xtask bench: FAILED");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Soak { minutes } => match soak::run(minutes) {
            Ok(summary) => {
                println!("xtask soak: OK: {summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("xtask soak: {e}");
                println!("xtask soak: FAILED");
                ExitCode::FAILURE
            }
        },
        Cmd::Chaos { long, scenario } => match chaos::run(long, scenario.as_deref()) {
            Ok(summary) => {
                println!("xtask chaos: OK: {summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("xtask chaos: FAILED: {e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Cluster { long, scenario } => match cluster::run(long, scenario.as_deref()) {
            Ok(summary) => {
                println!("xtask cluster: OK: {summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("xtask cluster: FAILED: {e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Browser { long, scenario } => match browser::run(long, scenario.as_deref()) {
            Ok(summary) => {
                println!("xtask browser: OK: {summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("xtask browser: FAILED: {e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Fuzz {
            targets,
            smoke,
            time,
        } => {
            let secs = time.unwrap_or(if smoke { SMOKE_SECS } else { 60 });
            match fuzz::run(&targets, secs, smoke) {
                Ok(summary) => {
                    println!("xtask fuzz: OK: {summary}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("xtask fuzz: {e}");
                    println!("xtask fuzz: FAILED");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `cargo xtask tidy`: prints each violation, fails if there is any.
fn tidy() -> ExitCode {
    match tidy::run() {
        Ok(report) if report.violations.is_empty() => {
            println!("xtask tidy: OK ({} files)", report.files);
            ExitCode::SUCCESS
        }
        Ok(report) => {
            for v in &report.violations {
                println!("{v}");
            }
            println!(
                "xtask tidy: FAILED: {} violations in {} files read",
                report.violations.len(),
                report.files
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("xtask tidy: {e}");
            println!("xtask tidy: FAILED");
            ExitCode::FAILURE
        }
    }
}

/// Seconds each fuzz target runs in the CI smoke run.
const SMOKE_SECS: u64 = 5;

/// One step of a run: a name and a command line.
struct Step {
    name: &'static str,
    program: &'static str,
    args: &'static [&'static str],
}

const CI_STEPS: &[Step] = &[
    Step {
        name: "fmt",
        program: "cargo",
        args: &["fmt", "--all", "--", "--check"],
    },
    Step {
        // The codebase's own rules; fast, builds nothing.
        name: "tidy",
        program: "cargo",
        args: &["xtask", "tidy"],
    },
    Step {
        // The fuzz crate is its own workspace, out of reach of `cargo fmt --all`.
        name: "fuzz-fmt",
        program: "cargo",
        args: &["fmt", "--manifest-path", "fuzz/Cargo.toml", "--", "--check"],
    },
    Step {
        name: "clippy",
        program: "cargo",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    },
    Step {
        // Public items are documented and every intra-doc link resolves.
        name: "doc",
        program: "cargo",
        args: &[
            "--config",
            "build.rustdocflags=[\"-D\", \"warnings\"]",
            "doc",
            "--workspace",
            "--no-deps",
        ],
    },
    Step {
        // The fuzz targets live in their own workspace; keep them compiling and lint-clean.
        name: "fuzz-check",
        program: "cargo",
        args: &[
            "clippy",
            "--manifest-path",
            "fuzz/Cargo.toml",
            "--bins",
            "--",
            "-D",
            "warnings",
        ],
    },
    Step {
        name: "test",
        program: "cargo",
        args: &["test", "--workspace"],
    },
    Step {
        // The never-fake-die scenarios, short profile (RELIABILITY.md).
        name: "chaos",
        program: "cargo",
        args: &["xtask", "chaos"],
    },
    Step {
        // Three nodes on a real etcd, short profile (RELIABILITY.md).
        name: "cluster",
        program: "cargo",
        args: &["xtask", "cluster"],
    },
    Step {
        // Headless Chromium over WHEP and WHIP, short profile.
        name: "browser",
        program: "cargo",
        args: &["xtask", "browser"],
    },
    Step {
        // Proves the benchmark tool works; asserts nothing about speed.
        name: "bench-short",
        program: "cargo",
        args: &["xtask", "bench", "--short"],
    },
    Step {
        // The 2-minute soak: nothing the server holds trends upward.
        name: "soak-short",
        program: "cargo",
        args: &["xtask", "soak", "--minutes", "2"],
    },
    Step {
        name: "fuzz-smoke",
        program: "cargo",
        args: &["xtask", "fuzz", "--smoke"],
    },
];

fn ci() -> ExitCode {
    let started = Instant::now();
    let mut done: Vec<String> = Vec::new();
    let summary = |done: &[String], failed: Option<&str>| {
        let secs = started.elapsed().as_secs();
        match failed {
            None => println!("xtask ci: OK ({}) in {secs} s", done.join(", ")),
            Some(step) => println!(
                "xtask ci: FAILED at {step} after {secs} s (passed: {})",
                if done.is_empty() {
                    "none".to_string()
                } else {
                    done.join(", ")
                }
            ),
        }
    };

    // The relay and push tests use a GStreamer RTSP camera and nginx-rtmp.
    if let Err(e) = tools::ensure_media_tools().and_then(|()| tools::ensure_peer_tools()) {
        eprintln!("xtask ci: {e}");
        summary(&done, Some("tools"));
        return ExitCode::FAILURE;
    }
    done.push("tools".into());

    for step in CI_STEPS {
        let t = Instant::now();
        eprintln!(
            "xtask ci: == {} ({} {}) ==",
            step.name,
            step.program,
            step.args.join(" ")
        );
        let status = Command::new(step.program).args(step.args).status();
        match status {
            Ok(s) if s.success() => done.push(format!("{} {}s", step.name, t.elapsed().as_secs())),
            Ok(s) => {
                eprintln!("xtask ci: {} failed ({s})", step.name);
                summary(&done, Some(step.name));
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("xtask ci: cannot run {}: {e}", step.program);
                summary(&done, Some(step.name));
                return ExitCode::FAILURE;
            }
        }
    }
    summary(&done, None);
    ExitCode::SUCCESS
}
