//! strom's project automation, run as `cargo xtask <command>`.
//!
//! - `cargo xtask ci`: everything CI checks, in order, with a closing summary
//!   line: tools present, `cargo fmt --check`, clippy with warnings denied,
//!   the fuzz targets compile, the whole test suite.
//!
//! Later issues add `chaos`, `bench` and `fuzz` here.

use std::process::{Command, ExitCode};
use std::time::Instant;

use clap::{Parser, Subcommand};

mod tools;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "strom project automation")]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every check CI runs: fmt, clippy, tests (installs ffmpeg when missing and allowed).
    Ci,
}

fn main() -> ExitCode {
    match Args::parse().command {
        Cmd::Ci => ci(),
    }
}

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
        // The fuzz targets live in their own workspace; keep them compiling.
        name: "fuzz-check",
        program: "cargo",
        args: &["check", "--manifest-path", "fuzz/Cargo.toml", "--bins"],
    },
    Step {
        name: "test",
        program: "cargo",
        args: &["test", "--workspace"],
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

    if let Err(e) = tools::ensure_media_tools() {
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
