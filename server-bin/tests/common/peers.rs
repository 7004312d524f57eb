//! Real peers (upstreams, push targets): GStreamer's RTSP server as a camera
//! (`tests/peers/gst_rtsp_camera.py`) and nginx with the RTMP module.
//! A missing peer fails the test with how to get it, never skips it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{free_port, scratch_dir};

/// How to get every peer: `cargo xtask ci` installs them as root.
const HOW: &str = "`cargo xtask ci` installs them when run as root, or: \
     apt-get install -y python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
     gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-libav nginx libnginx-mod-rtmp";

/// A running peer process; killed when dropped.
pub struct Peer {
    child: Child,
}

impl Peer {
    /// Its process id (to freeze or kill it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Authentication the camera asks for.
#[derive(Clone, Copy)]
pub enum CameraAuth<'a> {
    /// None.
    Open,
    /// Digest with this user and password.
    Digest(&'a str, &'a str),
    /// Basic with this user and password.
    Basic(&'a str, &'a str),
}

/// The system Python, which has Debian's `gi` bindings (a pyenv `python3`
/// on the PATH may not).
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

fn camera_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/gst_rtsp_camera.py")
}

/// Starts the GStreamer camera (H.264 + AAC test pattern) on a free
/// loopback port at `path`; its peer process and `rtsp://127.0.0.1:port/path`
/// (without credentials).
pub fn camera(path: &str, auth: CameraAuth) -> (Peer, String) {
    let mut cmd = Command::new(python());
    cmd.arg(camera_script())
        .args(["--port", "0", "--path", path]);
    match auth {
        CameraAuth::Open => {}
        CameraAuth::Digest(u, p) => {
            cmd.args(["--user", u, "--password", p, "--auth", "digest"]);
        }
        CameraAuth::Basic(u, p) => {
            cmd.args(["--user", u, "--password", p, "--auth", "basic"]);
        }
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {HOW}", python()));
    let stdout = child.stdout.take().expect("stdout piped");
    let mut stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok);
        let _ = tx.send(first);
        // Keep draining so the camera never blocks on a full pipe.
        for _ in lines {}
    });
    let ready = rx.recv_timeout(Duration::from_secs(15)).ok().flatten();
    let peer = Peer { child };
    let Some(url) = ready.as_deref().and_then(|l| l.strip_prefix("READY ")) else {
        drop(peer);
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
        panic!("the GStreamer RTSP camera did not start ({ready:?}): {err}\n{HOW}");
    };
    let url = url.to_string();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (peer, url)
}

/// nginx with the RTMP module, one process, in its own prefix, on a free
/// loopback port, application `live`; its peer process and RTMP port.
pub fn nginx_rtmp(name: &str) -> (Peer, u16) {
    let module = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
    let nginx = "/usr/sbin/nginx";
    assert!(
        Path::new(nginx).exists() && Path::new(module).exists(),
        "nginx with the RTMP module is required ({nginx}, {module}); {HOW}"
    );
    let prefix = scratch_dir(&format!("{name}-nginx"));
    std::fs::create_dir_all(prefix.join("logs")).expect("nginx logs dir");
    let port = free_port();
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "load_module {module};\nworker_processes 1;\ndaemon off;\nmaster_process off;\n\
             error_log logs/error.log warn;\npid logs/nginx.pid;\n\
             events {{ worker_connections 256; }}\n\
             rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; }} }} }}\n"
        ),
    )
    .expect("nginx.conf");
    let child = Command::new(nginx)
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {nginx}: {e}; {HOW}"));
    let peer = Peer { child };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx-rtmp did not listen on {port} within 10 s: {}",
            std::fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (peer, port)
}
