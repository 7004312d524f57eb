//! One strom process per scenario: ephemeral loopback ports, short
//! deadlines, its log in `<target>/chaos/`, and what `/proc` says about it.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The deadlines every scenario runs under (short, so the suite is quick).
pub const HANDSHAKE_SECS: u64 = 3;
/// `rtmp.keep_alive_secs`.
pub const KEEP_ALIVE_SECS: u64 = 3;
/// `server.write_stall_ms`.
pub const WRITE_STALL_MS: u64 = 3000;
/// `stream.max_lag_ms`.
pub const MAX_LAG_MS: u64 = 2000;
/// `http.request_timeout_ms`.
pub const REQUEST_TIMEOUT_MS: u64 = 3000;
/// `server.shutdown_grace_secs`.
pub const SHUTDOWN_GRACE_SECS: u64 = 3;
/// `rtsp.handshake_secs` (same as RTMP's).
pub const RTSP_HANDSHAKE_SECS: u64 = 3;
/// `rtsp.keep_alive_secs` (same as RTMP's).
pub const RTSP_KEEP_ALIVE_SECS: u64 = 3;
/// `rtsp.session_timeout_secs` (a UDP player without RTCP or requests).
pub const RTSP_SESSION_TIMEOUT_SECS: u64 = 3;
/// UDP RTP/RTCP port pairs each server may hand out (`rtsp.udp_port_range`).
pub const UDP_PAIRS: u16 = 100;

const ENV: &[(&str, &str)] = &[
    ("STROM_RTMP__HANDSHAKE_SECS", "3"),
    ("STROM_RTMP__KEEP_ALIVE_SECS", "3"),
    ("STROM_STREAM__PUBLISHER_IDLE_TIMEOUT_MS", "1500"),
    ("STROM_STREAM__MAX_LAG_MS", "2000"),
    ("STROM_STREAM__CONTINUE_PUSH_MS", "2000"),
    ("STROM_SERVER__WRITE_STALL_MS", "3000"),
    ("STROM_SERVER__SHUTDOWN_GRACE_SECS", "3"),
    ("STROM_HTTP__REQUEST_TIMEOUT_MS", "3000"),
    ("STROM_RTSP__HANDSHAKE_SECS", "3"),
    ("STROM_RTSP__KEEP_ALIVE_SECS", "3"),
    ("STROM_RTSP__SESSION_TIMEOUT_SECS", "3"),
    // Small kernel buffers toward players, so a player that stops reading
    // fills them in seconds rather than minutes.
    ("STROM_SERVER__SOCKET_SEND_BUFFER", "65536"),
    ("STROM_LOG__LEVEL", "warn"),
];

/// A running strom; killed when dropped.
pub struct Server {
    child: Child,
    /// Its process id.
    pub pid: u32,
    /// HTTP port (API, health, metrics, HTTP media).
    pub http: u16,
    /// RTMP port.
    pub rtmp: u16,
    /// RTSP port.
    pub rtsp: u16,
    /// The UDP ports (first, last) of RTP/RTCP pairs.
    pub udp_range: (u16, u16),
    log: PathBuf,
    exited: Option<ExitStatus>,
    tag: String,
    launch: Launch,
}

/// How to start a strom beyond the suite's settings.
#[derive(Clone, Default)]
pub struct Launch {
    /// More `STROM_*` settings (after the suite's, so they win).
    pub extra: Vec<(String, String)>,
    /// More command-line arguments (e.g. `--config PATH`).
    pub args: Vec<String>,
    /// A descriptor limit strom cannot raise.
    pub fd_limit: Option<u64>,
    /// HTTP, RTMP and RTSP ports; free ones when `None`.
    pub ports: Option<(u16, u16, u16)>,
}

/// Where cargo builds: `$CARGO_TARGET_DIR`, else `target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// The suite's scratch directory (logs, the clip): `<target>/chaos`.
pub fn chaos_dir() -> Result<PathBuf, String> {
    let dir = target_dir().join("chaos");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// A UDP range of [`UDP_PAIRS`] pairs, different per process so that
/// servers started side by side (other checkouts, tests) rarely share one.
fn udp_range() -> (u16, u16) {
    let slot = (std::process::id() as u16 ^ (std::process::id() >> 16) as u16) % 100;
    let first = 40_000 + slot * 2 * UDP_PAIRS;
    (first, first + 2 * UDP_PAIRS - 1)
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

impl Server {
    /// Starts `target/release/strom` with the suite's settings plus
    /// `launch.extra` (a scenario's own `STROM_*` settings) and waits until HTTP, RTMP
    /// and RTSP accept. The binary is `<target>/release/strom` ([`target_dir`]).
    /// A port picked free can be taken by someone else before strom binds
    /// it: then strom exits at once and is started again on other ports.
    /// With `fd_limit`, strom runs under that descriptor limit, soft and
    /// hard (`prlimit --nofile=N:N`, util-linux), so it cannot raise it.
    /// Everything beyond the suite's settings comes from `launch`.
    pub fn launch(tag: &str, launch: Launch) -> Result<Server, String> {
        let mut tries = 0;
        loop {
            tries += 1;
            match Server::start_once(tag, &launch) {
                Err(e) if tries < 3 && e.contains("Address already in use") => {
                    // Fixed ports: give the kernel a moment to free them.
                    if launch.ports.is_some() {
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
                r => return r,
            }
        }
    }

    /// Kills the process (SIGKILL) if it runs, then starts it again with
    /// the same settings on the same ports; the time until it listened.
    pub fn restart(&mut self) -> Result<Duration, String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let t = Instant::now();
        let mut launch = self.launch.clone();
        launch.ports = Some((self.http, self.rtmp, self.rtsp));
        let tag = self.tag.clone();
        *self = Server::launch(&tag, launch)?;
        Ok(t.elapsed())
    }

    fn start_once(tag: &str, launch: &Launch) -> Result<Server, String> {
        let Launch {
            extra,
            args,
            fd_limit,
            ports,
        } = launch;
        let fd_limit = *fd_limit;
        let (http, rtmp, rtsp) = match ports {
            Some(p) => *p,
            None => (free_port()?, free_port()?, free_port()?),
        };
        let log = chaos_dir()?.join(format!("strom-{tag}.log"));
        let file = File::create(&log).map_err(|e| e.to_string())?;
        let bin = target_dir().join("release/strom");
        let udp_range = udp_range();
        // prlimit sets the limit and execs strom: the same process id.
        let mut cmd = match fd_limit {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let child = cmd
            .args(["--bind", "127.0.0.1"])
            .args(["--http-port", &http.to_string()])
            .args(["--rtmp-port", &rtmp.to_string()])
            .args(["--rtsp-port", &rtsp.to_string()])
            .args(["--webrtc-port", "0"])
            .args(args)
            .envs(ENV.iter().copied())
            .env(
                "STROM_RTSP__UDP_PORT_RANGE",
                format!("{}-{}", udp_range.0, udp_range.1),
            )
            .envs(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(file.try_clone().map_err(|e| e.to_string())?)
            .stderr(file)
            .spawn()
            .map_err(|e| {
                let how = if fd_limit.is_some() {
                    "prlimit (util-linux) "
                } else {
                    ""
                };
                format!("cannot start {how}{}: {e}", bin.display())
            })?;
        let mut server = Server {
            pid: child.id(),
            child,
            http,
            rtmp,
            rtsp,
            udp_range,
            log,
            exited: None,
            tag: tag.to_string(),
            launch: launch.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in [http, rtmp, rtsp] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if server.is_gone() {
                    return Err(format!("strom exited at start: {}", server.log_tail()));
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "strom listens on nothing after 10 s: {}",
                        server.log_tail()
                    ));
                }
                std::thread::sleep(Duration::from_millis(30));
            }
        }
        Ok(server)
    }

    /// The last lines of the server's log (for failure reports).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(8);
        lines.get(from..).unwrap_or_default().join("\n  ")
    }

    /// Lines of the server's log containing `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// The descriptor limit (soft) strom runs under, from `/proc/PID/limits`.
    pub fn fd_limit(&self) -> Option<u64> {
        std::fs::read_to_string(format!("/proc/{}/limits", self.pid))
            .ok()?
            .lines()
            .find(|l| l.starts_with("Max open files"))?
            .split_whitespace()
            .nth(3)?
            .parse()
            .ok()
    }

    /// `GET path` over HTTP/1.0; status and body.
    pub fn get(&self, path: &str) -> Result<(u16, String), String> {
        http_get(self.http, path)
    }

    /// `method path` (POST, DELETE …, no body); status and body.
    pub fn call(&self, method: &str, path: &str) -> Result<(u16, String), String> {
        http_call(self.http, method, path)
            .map(|(status, body)| (status, String::from_utf8_lossy(&body).into()))
    }

    /// `GET path` as JSON (status must be 200).
    pub fn json(&self, path: &str) -> Result<serde_json::Value, String> {
        let (status, body) = self.get(path)?;
        if status != 200 {
            return Err(format!("GET {path}: {status} {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("GET {path}: {e}"))
    }

    /// Sessions open, from `/healthz`.
    pub fn sessions(&self) -> Result<u64, String> {
        let h = self.json("/healthz")?;
        h["sessions"]
            .as_u64()
            .ok_or_else(|| format!("/healthz without sessions: {h}"))
    }

    /// Tasks alive on the media workers (the sum of `/healthz` `workers[].tasks`);
    /// 0 when the server does not answer.
    pub fn tasks(&self) -> u64 {
        self.json("/healthz")
            .ok()
            .and_then(|h| {
                h["workers"]
                    .as_array()
                    .map(|ws| ws.iter().filter_map(|w| w["tasks"].as_u64()).sum())
            })
            .unwrap_or(0)
    }

    /// The streams in the registry, from `/api/v1/streams`.
    pub fn streams(&self) -> Result<Vec<serde_json::Value>, String> {
        let v = self.json("/api/v1/streams")?;
        Ok(v["streams"].as_array().cloned().unwrap_or_default())
    }

    /// One stream by name, if registered.
    pub fn stream(&self, name: &str) -> Result<Option<serde_json::Value>, String> {
        Ok(self
            .streams()?
            .into_iter()
            .find(|s| s["stream"].as_str() == Some(name)))
    }

    /// Resident memory in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid)
    }

    /// Open file descriptors.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// UDP sockets bound in the server's RTP/RTCP range (from
    /// `/proc/PID/net/udp`, IPv4): two per pair in use.
    pub fn udp_bound(&self) -> usize {
        let (first, last) = self.udp_range;
        std::fs::read_to_string(format!("/proc/{}/net/udp", self.pid))
            .unwrap_or_default()
            .lines()
            .skip(1)
            .filter_map(|l| {
                let local = l.split_whitespace().nth(1)?;
                u16::from_str_radix(local.rsplit(':').next()?, 16).ok()
            })
            .filter(|p| (first..=last).contains(p))
            .count()
    }

    /// Sends a signal (`TERM`, `KILL`, `STOP`, `CONT`) with kill(1).
    pub fn signal(&self, sig: &str) -> Result<(), String> {
        signal(self.pid, sig)
    }

    /// Waits for the process to exit, up to `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                self.exited = Some(s);
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Whether the process has exited.
    pub fn is_gone(&mut self) -> bool {
        self.exited.is_some() || matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of a process in KiB (0 when gone).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Sends a signal to a process with kill(1) (no unsafe libc call needed).
pub fn signal(pid: u32, sig: &str) -> Result<(), String> {
    let ok = Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(())
        .ok_or_else(|| format!("kill -s {sig} {pid} failed"))
}

/// Connects from 127.0.0.1 to the server's `port` within `timeout`: a full
/// accept queue (a server out of descriptors) leaves a plain connect in SYN
/// retries for a minute or more.
/// From the thread's attacker address instead when one is set
/// ([`super::attack::set_thread_source`]).
pub fn connect_local(port: u16, timeout: Duration) -> Result<TcpStream, String> {
    if let Some(src) = super::attack::thread_source() {
        return super::attack::connect_from(src, port, timeout);
    }
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))
}

/// A minimal HTTP/1.0 GET (the server closes after the answer).
pub fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    http_get_raw(port, path).map(|(status, body)| (status, String::from_utf8_lossy(&body).into()))
}

/// [`http_get`] with the body as bytes.
pub fn http_get_raw(port: u16, path: &str) -> Result<(u16, Vec<u8>), String> {
    http_call(port, "GET", path)
}

/// `method path` over HTTP/1.0, no body; status and body bytes.
pub fn http_call(port: u16, method: &str, path: &str) -> Result<(u16, Vec<u8>), String> {
    let mut sock = connect_local(port, Duration::from_secs(2))?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    write!(
        sock,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut data = Vec::new();
    sock.read_to_end(&mut data)
        .map_err(|e| format!("GET {path}: {e}"))?;
    let head_end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(data.len());
    let head = String::from_utf8_lossy(data.get(..head_end).unwrap_or_default());
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("GET {path}: no status line in {head:?}"))?;
    let body = data.get(head_end + 4..).unwrap_or_default().to_vec();
    Ok((status, body))
}
