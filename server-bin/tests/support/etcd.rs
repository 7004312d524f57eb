//! A real single-member etcd for tests, on free loopback ports with a
//! temporary data directory, killed when dropped. Standard library only, so
//! any test binary (or xtask) can include it with
//! `#[path = "support/etcd.rs"] mod etcd_server;`.
//!
//! When `etcd` is not on PATH it is installed from Debian
//! (`apt-get install -y etcd-server`); if that fails the test fails with a
//! message saying how to install it.
#![allow(dead_code)] // each includer uses a different part

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// How long etcd may take to say it is ready.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// etcd's log line once it serves clients (3.4 text and JSON loggers alike).
const READY_LINE: &str = "ready to serve client requests";

/// A running etcd member.
pub struct EtcdServer {
    child: Child,
    /// `http://127.0.0.1:PORT`, its client URL.
    pub url: String,
    /// Its client port.
    pub client_port: u16,
    peer_port: u16,
    name: String,
    dir: PathBuf,
    log: Arc<Mutex<String>>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral port")
}

fn etcd_present() -> bool {
    Command::new("etcd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure `etcd` is on PATH, installing Debian's `etcd-server` once if
/// not; panics with how to install it when that fails.
pub fn ensure_etcd() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if etcd_present() {
            return;
        }
        let apt = |args: &[&str]| {
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success())
        };
        let installed = apt(&["install", "-y", "etcd-server"])
            || (apt(&["update"]) && apt(&["install", "-y", "etcd-server"]));
        assert!(
            installed && etcd_present(),
            "etcd is required and could not be installed: run `apt-get install -y etcd-server` \
             (Debian/Ubuntu, as root) or put an etcd 3.4+ binary on PATH"
        );
    });
}

impl EtcdServer {
    /// Starts a fresh member named `name` and waits until it serves
    /// clients; panics (with its log) when it does not within 30 s.
    pub fn start(name: &str) -> EtcdServer {
        ensure_etcd();
        // A port taken between `free_port` and etcd's bind makes etcd
        // exit: tried again on fresh ports, a bounded number of times.
        let mut last_log = String::new();
        for _ in 0..3 {
            match EtcdServer::try_start(name) {
                Ok(etcd) => return etcd,
                Err(log) => last_log = log,
            }
        }
        panic!("etcd did not start; its last log:\n{last_log}");
    }

    fn try_start(name: &str) -> Result<EtcdServer, String> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "strom-etcd-{name}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("etcd scratch dir");
        let client_port = free_port();
        let peer_port = free_port();
        let url = format!("http://127.0.0.1:{client_port}");
        let (child, log, ready_rx) = spawn(name, &dir, client_port, peer_port);
        let etcd = EtcdServer {
            child,
            url,
            client_port,
            peer_port,
            name: name.to_string(),
            dir,
            log,
        };
        let deadline = Instant::now() + READY_WITHIN;
        match ready_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(()) => Ok(etcd),
            Err(_) => Err(etcd.log()),
        }
    }

    /// Kills the member (SIGKILL); its data stays for [`EtcdServer::restart`].
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the killed member again on the same ports and data; panics
    /// (with its log) when it does not serve within 30 s.
    pub fn restart(&mut self) {
        self.kill();
        let (child, log, ready_rx) = spawn(&self.name, &self.dir, self.client_port, self.peer_port);
        self.child = child;
        self.log = log;
        assert!(
            ready_rx.recv_timeout(READY_WITHIN).is_ok(),
            "etcd did not restart; its log:\n{}",
            self.log()
        );
    }

    /// What etcd logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

/// Runs etcd on `dir` and the ports; its process, its log and a channel
/// that receives once it serves clients (or is dropped when it exits).
fn spawn(
    name: &str,
    dir: &std::path::Path,
    client_port: u16,
    peer_port: u16,
) -> (Child, Arc<Mutex<String>>, mpsc::Receiver<()>) {
    let url = format!("http://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    let mut child = Command::new("etcd")
        .arg("--name")
        .arg(name)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args([
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ])
        .args([
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
        ])
        .arg("--initial-cluster")
        .arg(format!("{name}={peer}"))
        .args(["--initial-cluster-state", "new"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn etcd");
    let log = Arc::new(Mutex::new(String::new()));
    let (ready_tx, ready_rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("piped stderr");
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(READY_LINE) {
                let _ = ready_tx.send(());
            }
            let mut log = sink.lock().unwrap();
            if log.len() < 1 << 20 {
                log.push_str(&line);
                log.push('\n');
            }
        }
        // stderr closed: etcd exited; the dropped sender wakes the waiter.
    });
    (child, log, ready_rx)
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
