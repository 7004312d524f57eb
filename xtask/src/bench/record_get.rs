//! `cargo xtask bench --record-get`: how soon a ten-minute recording
//! download from inside a one-hour file starts sending (the target:
//! under 100 ms). The measurement is `server-bin/examples/record_get_ttfb.rs`
//! against the release `strom`, both built in release mode.

use std::process::Command;

use super::{cargo, target_dir};

/// Builds and runs the download benchmark; its summary line.
pub fn run() -> Result<String, String> {
    cargo(&["build", "--release", "-p", "server-bin", "--bin", "strom"])?;
    cargo(&[
        "build",
        "--release",
        "-p",
        "server-bin",
        "--example",
        "record_get_ttfb",
    ])?;
    // Absolute: the tool starts strom in a directory of its own.
    let release = std::fs::canonicalize(target_dir().join("release"))
        .map_err(|e| format!("target/release: {e}"))?;
    let out = Command::new(release.join("examples/record_get_ttfb"))
        .arg("--strom")
        .arg(release.join("strom"))
        .args(["--runs", "10"])
        .output()
        .map_err(|e| format!("record_get_ttfb: {e}"))?;
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(format!("record_get_ttfb failed: {}", out.status));
    }
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    println!("{line}");
    Ok(line)
}
