//! External tools the tests drive: found, installed when we are allowed to
//! (root on a system with apt-get: Debian/Ubuntu), or a failure that says
//! how to get them.
//!
//! - ffmpeg and ffprobe: publishers and players everywhere;
//! - GStreamer's RTSP server for Python (`server-bin/tests/peers/gst_rtsp_camera.py`):
//!   the camera the relay tests pull;
//! - nginx with the RTMP module: an RTMP upstream in the relay tests, a
//!   push target in the push tests, and the comparison in
//!   `cargo xtask bench --compare nginx`;
//! - etcd: the cluster directory in the cluster tests and `cargo xtask cluster`;
//! - Chromium, Node.js and npm: the browser in `cargo xtask browser` (Debian's
//!   `/usr/bin/chromium`, driven by playwright-core, which downloads no browser).

use std::path::Path;
use std::process::{Command, Stdio};

/// Something the tests need, how to see it is there, and the Debian
/// packages that bring it.
struct Need {
    what: &'static str,
    present: fn() -> bool,
    packages: &'static [&'static str],
}

/// The nginx binary Debian's `nginx` package installs.
pub const NGINX: &str = "/usr/sbin/nginx";
/// The RTMP module Debian's `libnginx-mod-rtmp` installs.
pub const NGINX_RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
/// The test camera script, relative to the workspace root.
pub const CAMERA_SCRIPT: &str = "server-bin/tests/peers/gst_rtsp_camera.py";

const FFMPEG: Need = Need {
    what: "ffmpeg and ffprobe",
    present: || runs("ffmpeg", &["-version"]) && runs("ffprobe", &["-version"]),
    packages: &["ffmpeg"],
};

const NGINX_RTMP: Need = Need {
    what: "nginx with the RTMP module",
    present: || Path::new(NGINX).exists() && Path::new(NGINX_RTMP_MODULE).exists(),
    packages: &["nginx", "libnginx-mod-rtmp"],
};

const GST_RTSP_CAMERA: Need = Need {
    what: "GStreamer's RTSP server for Python (x264enc, an AAC encoder)",
    present: camera_runs,
    packages: &[
        "python3-gi",
        "gir1.2-gst-rtsp-server-1.0",
        "gstreamer1.0-plugins-base",
        "gstreamer1.0-plugins-good",
        "gstreamer1.0-plugins-ugly",
        "gstreamer1.0-libav",
    ],
};

const ETCD: Need = Need {
    what: "etcd (server and etcdctl)",
    present: || runs("etcd", &["--version"]),
    packages: &["etcd-server", "etcd-client"],
};

/// The Chromium binary Debian's `chromium` package installs.
pub const CHROMIUM_BIN: &str = "/usr/bin/chromium";

const CHROMIUM: Need = Need {
    what: "Chromium",
    present: || runs(CHROMIUM_BIN, &["--version"]),
    packages: &["chromium"],
};

const NODE: Need = Need {
    what: "Node.js and npm",
    present: || runs("node", &["--version"]) && runs("npm", &["--version"]),
    packages: &["nodejs", "npm"],
};

/// Makes sure Chromium, node and npm run (`cargo xtask browser`).
pub fn ensure_browser() -> Result<(), String> {
    ensure(&[CHROMIUM, NODE])
}

/// Makes sure etcd runs (`cargo xtask cluster` starts its own members).
pub fn ensure_etcd() -> Result<(), String> {
    ensure(&[ETCD])
}

/// Makes sure ffmpeg and ffprobe run.
pub fn ensure_media_tools() -> Result<(), String> {
    ensure(&[FFMPEG])
}

/// Makes sure the real peers of the relay, cluster and browser tests are
/// there: the GStreamer RTSP camera, nginx with the RTMP module, etcd,
/// Chromium and Node.js with npm.
pub fn ensure_peer_tools() -> Result<(), String> {
    ensure(&[GST_RTSP_CAMERA, NGINX_RTMP, ETCD, CHROMIUM, NODE])
}

/// Makes sure nginx with the RTMP module is installed (a push target and
/// an RTMP upstream in the tests, `bench --compare nginx`).
pub fn ensure_nginx_rtmp() -> Result<(), String> {
    ensure(&[NGINX_RTMP])
}

/// Installs the packages of every missing need at once when allowed;
/// otherwise fails naming them.
fn ensure(needs: &[Need]) -> Result<(), String> {
    let missing: Vec<&Need> = needs.iter().filter(|n| !(n.present)()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let what = missing
        .iter()
        .map(|n| n.what)
        .collect::<Vec<_>>()
        .join(", ");
    let packages: Vec<&str> = missing.iter().flat_map(|n| n.packages).copied().collect();
    let list = packages.join(" ");
    let can_install = is_root() && runs("apt-get", &["--version"]);
    if !can_install {
        return Err(format!(
            "{what} not found; install the Debian/Ubuntu packages \
             (sudo apt-get install -y {list}) or your system's equivalent"
        ));
    }
    eprintln!("xtask: {what} missing; installing `{list}` with apt-get");
    let ok = Command::new("apt-get")
        .arg("update")
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
    let still: Vec<&str> = missing
        .iter()
        .filter(|n| !(n.present)())
        .map(|n| n.what)
        .collect();
    if ok && still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "installing `{list}` with apt-get failed; {} still missing",
            still.join(", ")
        ))
    }
}

/// The camera script's own check (`--check`: every GStreamer element it
/// uses exists), with the system Python that has the `gi` bindings.
fn camera_runs() -> bool {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(CAMERA_SCRIPT);
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    Command::new(python)
        .arg(script)
        .arg("--check")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
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
