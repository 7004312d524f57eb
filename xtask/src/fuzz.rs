//! `cargo xtask fuzz`: runs the cargo-fuzz targets in `fuzz/` on the stable
//! toolchain (`-s none`: no sanitizer, which would need nightly flags; the
//! codec crates forbid `unsafe`, so AddressSanitizer would add little).
//!
//! - `cargo xtask fuzz --smoke`: every target for a few seconds (part of CI),
//!   built unoptimized: half the build time of an optimized one on CI's two
//!   cores, and overflow checks turn a wrapped size into a crash.
//! - `cargo xtask fuzz TARGET --time N`: one target for N seconds.
//!
//! Each run starts from the committed seeds in `fuzz/seeds/TARGET` (real
//! ffmpeg/GStreamer/librtmp bytes) plus the local corpus `fuzz/corpus/TARGET`.
//! A crash fails the run; libFuzzer leaves the input in `fuzz/artifacts/`,
//! which then becomes a regression test beside the parser.

use std::path::Path;
use std::process::Command;

/// Runs `targets` (all when empty) for `secs` seconds each, built with the
/// dev profile when `dev` (the smoke run), optimized otherwise. Returns a
/// summary line.
pub fn run(targets: &[String], secs: u64, dev: bool) -> Result<String, String> {
    let profile = if dev { "--dev" } else { "--release" };
    ensure_cargo_fuzz()?;
    let fuzz_dir = Path::new("fuzz");
    let all = list_targets(fuzz_dir)?;
    let chosen: Vec<String> = if targets.is_empty() {
        all
    } else {
        for t in targets {
            if !all.contains(t) {
                return Err(format!("no fuzz target `{t}`; targets: {}", all.join(", ")));
            }
        }
        targets.to_vec()
    };
    cargo_fuzz(fuzz_dir, &["build", "-s", "none", profile])?;
    let mut lines = Vec::new();
    for target in &chosen {
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .map_err(|e| format!("cannot create {}: {e}", corpus.display()))?;
        let mut args: Vec<String> = vec![
            "fuzz".into(),
            "run".into(),
            "-s".into(),
            "none".into(),
            profile.into(),
            target.clone(),
            format!("corpus/{target}"),
        ];
        if fuzz_dir.join("seeds").join(target).is_dir() {
            args.push(format!("seeds/{target}"));
        }
        args.extend([
            "--".into(),
            format!("-max_total_time={secs}"),
            "-max_len=16384".into(),
            "-print_final_stats=1".into(),
        ]);
        let out = Command::new("cargo")
            .args(&args)
            .current_dir(fuzz_dir)
            .output()
            .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let tail: Vec<&str> = stderr.lines().rev().take(60).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!(
                "fuzz target {target} failed ({}):\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                tail.join("\n")
            ));
        }
        let runs = stderr
            .lines()
            .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "?".into());
        let line = format!("fuzz {target}: {runs} executions in {secs} s, no crash");
        eprintln!("xtask fuzz: {line}");
        lines.push(line);
    }
    Ok(lines.join("; "))
}

fn list_targets(fuzz_dir: &Path) -> Result<Vec<String>, String> {
    let dir = fuzz_dir.join("fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    names.sort();
    Ok(names)
}

fn cargo_fuzz(fuzz_dir: &Path, args: &[&str]) -> Result<(), String> {
    let status = Command::new("cargo")
        .arg("fuzz")
        .args(args)
        .current_dir(fuzz_dir)
        .status()
        .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo fuzz {} failed ({status})", args.join(" ")))
    }
}

/// cargo-fuzz is a cargo subcommand from crates.io; install it when missing.
fn ensure_cargo_fuzz() -> Result<(), String> {
    let present = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    eprintln!(
        "xtask fuzz: cargo-fuzz missing; installing it with `cargo install cargo-fuzz --locked`"
    );
    let ok = Command::new("cargo")
        .args(["install", "cargo-fuzz", "--locked"])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err("cannot install cargo-fuzz; run `cargo install cargo-fuzz` and retry".into())
    }
}
