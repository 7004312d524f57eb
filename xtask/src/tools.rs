//! External tools the tests drive (ffmpeg, ffprobe): found, installed when
//! we are allowed to, or a failure that says how to get them.

use std::process::{Command, Stdio};

/// Tools the integration tests need, and the Debian package that has them.
const MEDIA_TOOLS: &[&str] = &["ffmpeg", "ffprobe"];
const PACKAGE: &str = "ffmpeg";

/// Makes sure ffmpeg and ffprobe run. When missing and running as root on a
/// system with apt-get (Debian/Ubuntu), installs them; otherwise fails with
/// the package to install.
pub fn ensure_media_tools() -> Result<(), String> {
    let missing = missing_tools();
    if missing.is_empty() {
        return Ok(());
    }
    let can_install = is_root() && runs("apt-get", &["--version"]);
    if !can_install {
        return Err(format!(
            "{} not found; install the Debian/Ubuntu package `{PACKAGE}` \
             (sudo apt-get install -y {PACKAGE}) or your system's equivalent",
            missing.join(" and ")
        ));
    }
    eprintln!(
        "xtask: {} missing; installing `{PACKAGE}` with apt-get",
        missing.join(" and ")
    );
    let ok = Command::new("apt-get")
        .arg("update")
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", PACKAGE])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
    let still = missing_tools();
    if ok && still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "installing `{PACKAGE}` with apt-get failed; {} still missing",
            still.join(" and ")
        ))
    }
}

fn missing_tools() -> Vec<&'static str> {
    MEDIA_TOOLS
        .iter()
        .copied()
        .filter(|t| !runs(t, &["-version"]))
        .collect()
}

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
