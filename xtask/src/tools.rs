//! External tools the tests drive (ffmpeg, ffprobe, nginx-rtmp): found, installed when
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
    let ok = apt_install(&[PACKAGE]);
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

/// nginx's RTMP module, for the push tests (a push target) and
/// `bench --compare nginx`.
pub const NGINX_RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
const NGINX_PACKAGES: [&str; 2] = ["nginx", "libnginx-mod-rtmp"];

/// Makes sure nginx and its RTMP module are there: installed with apt-get
/// when missing and running as root, otherwise a failure naming the packages.
pub fn ensure_nginx_rtmp() -> Result<(), String> {
    let present = || std::path::Path::new(NGINX_RTMP_MODULE).exists() && runs("nginx", &["-v"]);
    if present() {
        return Ok(());
    }
    if !(is_root() && runs("apt-get", &["--version"])) {
        return Err(
            "nginx with the RTMP module not found; install the Debian/Ubuntu packages \
             `nginx` and `libnginx-mod-rtmp` (sudo apt-get install -y nginx libnginx-mod-rtmp)"
                .into(),
        );
    }
    eprintln!("xtask: nginx with the RTMP module missing; installing nginx and libnginx-mod-rtmp with apt-get");
    if apt_install(&NGINX_PACKAGES) && present() {
        Ok(())
    } else {
        Err("installing nginx and libnginx-mod-rtmp with apt-get failed".into())
    }
}

/// `apt-get update`, then `apt-get install -y --no-install-recommends packages`.
fn apt_install(packages: &[&str]) -> bool {
    Command::new("apt-get")
        .arg("update")
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
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
