//! Starts the real `strom` binary on ephemeral loopback ports and talks to it
//! the way an operator's tools would: plain HTTP and signals.
#![allow(dead_code)] // each test binary uses a different part of this kit

pub mod ertmp;
pub mod flv_bodies;
pub mod hook_server;
pub mod media;
pub mod peers;
pub mod raw;
pub mod webrtc;
pub mod ws;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running strom and what it logged so far.
pub struct Strom {
    child: Child,
    pub http_port: u16,
    pub rtmp_port: u16,
    pub rtsp_port: u16,
    pub dir: PathBuf,
    log: Arc<Mutex<String>>,
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral port")
}

/// A fresh, empty working directory for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("strom-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// `strom` as `cargo` built it for this test run.
pub fn strom_command(dir: &PathBuf) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strom"));
    cmd.current_dir(dir);
    // Never inherit an operator's STROM_* settings into a test.
    for (k, _) in std::env::vars() {
        if k.starts_with("STROM_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

impl Strom {
    /// Starts strom bound to 127.0.0.1 with fresh ports, extra args and env,
    /// and waits (up to 10 s) until `/healthz` answers.
    pub fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Strom {
        Strom::start_wrapped(name, &[], args, env)
    }

    /// [`Strom::start`] with the binary run through `wrapper` (a command and
    /// its arguments, the binary's path appended), e.g.
    /// `["prlimit", "--nofile=256:256", "--"]`.
    pub fn start_wrapped(
        name: &str,
        wrapper: &[&str],
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Strom {
        // A port free when picked may be taken before strom binds it (an
        // outgoing connection of another test gets it as its ephemeral
        // port): strom then exits at once, and is started again on fresh
        // ports, a bounded number of times.
        let mut last = String::new();
        for _ in 0..3 {
            match Strom::try_start(name, wrapper, args, env) {
                Ok(strom) => return strom,
                Err(log) => last = log,
            }
        }
        panic!("strom could not bind free ports three times; last log:\n{last}");
    }

    fn try_start(
        name: &str,
        wrapper: &[&str],
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Strom, String> {
        let dir = scratch_dir(name);
        let http_port = free_port();
        let rtmp_port = free_port();
        let rtsp_port = free_port();
        let mut cmd = strom_command(&dir);
        if let Some((program, rest)) = wrapper.split_first() {
            let binary = cmd.get_program().to_owned();
            cmd = Command::new(program);
            cmd.current_dir(&dir).args(rest).arg(binary);
            for (k, _) in std::env::vars() {
                if k.starts_with("STROM_") {
                    cmd.env_remove(k);
                }
            }
        }
        cmd.args(["--bind", "127.0.0.1", "--http-port"])
            .arg(http_port.to_string())
            .args(["--rtmp-port", &rtmp_port.to_string()])
            .args(["--rtsp-port", &rtsp_port.to_string()])
            .args(["--webrtc-port", "0"])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("strom starts");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr piped");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let mut strom = Strom {
            child,
            http_port,
            rtmp_port,
            rtsp_port,
            dir,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok((200, _)) = strom.try_request("GET", "/healthz", &[]) {
                return Ok(strom);
            }
            if let Ok(Some(_)) = strom.child.try_wait() {
                // Its log is complete once stderr closed: give the reader a moment.
                std::thread::sleep(Duration::from_millis(100));
                let log = strom.log();
                if log.contains("Address already in use") {
                    return Err(log);
                }
            }
            assert!(
                Instant::now() < deadline,
                "strom did not answer /healthz within 10 s; log:\n{}",
                strom.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's process id (of the wrapper, which `exec`s it, when wrapped).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything strom wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits up to `limit` until the log contains every one of `needles`.
    pub fn wait_for_log(&self, needles: &[&str], limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let log = self.log();
            if needles.iter().all(|n| log.contains(n)) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "log lacks {needles:?} after {limit:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `method path` with extra headers; returns status and body.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        self.try_request(method, path, headers)
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}; log:\n{}", self.log()))
    }

    /// Waits until the API shows `live/{name}` live with H.264, so a test
    /// acts on a stream that exists.
    pub fn wait_live(&self, name: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let (status, body) = self.get(&format!("/api/v1/streams/live/{name}"));
            if status == 200 && body.contains("\"state\":\"live\"") && body.contains("H264") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "live/{name} not live within {limit:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, &[])
    }

    fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> std::io::Result<(u16, String)> {
        http_request(self.http_port, method, path, headers)
    }

    /// Sends SIGTERM and waits up to `limit` for the exit. Returns the exit
    /// status, how long it took and the whole log.
    pub fn terminate(mut self, limit: Duration) -> (ExitStatus, Duration, String) {
        let sent = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let took = sent.elapsed();
                // Let the reader thread drain the pipe to its end.
                std::thread::sleep(Duration::from_millis(100));
                return (status, took, self.log());
            }
            if sent.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "strom did not exit within {limit:?} of SIGTERM; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Strom {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A minimal HTTP/1.1 client: one request per connection, 5 s deadline.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String)> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    exchange(port, &req)
}

/// Sends `req` on a new connection; the answer's status and body.
fn exchange(port: u16, req: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {head:?}")))?;
    Ok((status, body.to_string()))
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Parses a JSON body, failing the test with the body on error.
pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Polls `cond` every 100 ms for up to `limit`; how long it took, or `None`.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A raw HTTP/1.1 response: status, header block and body bytes.
#[derive(Debug)]
pub struct Fetched {
    /// Status code.
    pub status: u16,
    /// The header lines, lowercased names.
    pub headers: String,
    /// The body as sent (Content-Length bodies only).
    pub body: Vec<u8>,
}

impl Fetched {
    /// The value of header `name` (lowercase), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim())
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET path` (or another method) with a binary body, 15 s deadline.
pub fn fetch(port: u16, method: &str, path: &str) -> std::io::Result<Fetched> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {head:?}")))?;
    let headers = head.split_once("\r\n").map_or("", |(_, h)| h).to_string();
    Ok(Fetched {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}
