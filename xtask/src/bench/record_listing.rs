//! `cargo xtask bench --record-listing`: how long `GET
//! /api/v1/recordings/{app}/{stream}` takes over 30 days of one stream's
//! hourly files in a catalogue of 100 streams (the target: under
//! 50 ms). The measurement is `server-bin/examples/record_listing.rs`, built
//! in release mode.

use std::process::Command;

use super::{cargo, target_dir};

/// Builds and runs the listing benchmark; its summary line.
pub fn run() -> Result<String, String> {
    cargo(&[
        "build",
        "--release",
        "-p",
        "server-bin",
        "--example",
        "record_listing",
    ])?;
    let out = Command::new(target_dir().join("release/examples/record_listing"))
        .args(["--streams", "100", "--days", "30", "--runs", "50"])
        .output()
        .map_err(|e| format!("record_listing: {e}"))?;
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(format!("record_listing failed: {}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
