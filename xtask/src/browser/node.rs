//! The Node side of `cargo xtask browser`: `npm ci` in `xtask/browser`
//! when its `node_modules` is missing or from another lock file, and the
//! driver script (`run.mjs`, playwright-core on Debian's Chromium) as a
//! child process whose stdout is one JSON object per line.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::chaos::server::chaos_dir;

/// Where the npm project lives: `xtask/browser`.
pub fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Runs `npm ci` unless `node_modules` was installed from the lock file as
/// it is now (a copy of it is kept in `node_modules/.strom-lock.json` after
/// each install). playwright-core downloads no browser.
pub fn npm_ci() -> Result<(), String> {
    let dir = project_dir();
    let lock = std::fs::read(dir.join("package-lock.json"))
        .map_err(|e| format!("{}/package-lock.json: {e}", dir.display()))?;
    let stamp = dir.join("node_modules/.strom-lock.json");
    let fresh = std::fs::read(&stamp).is_ok_and(|s| s == lock)
        && dir.join("node_modules/playwright-core").exists();
    if fresh {
        return Ok(());
    }
    eprintln!("xtask browser: npm ci in {}", dir.display());
    let ok = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .status()
        .map_err(|e| format!("cannot run npm (apt-get install nodejs npm): {e}"))?
        .success();
    if !ok {
        return Err(format!("npm ci failed in {}", dir.display()));
    }
    std::fs::write(&stamp, &lock).map_err(|e| format!("{}: {e}", stamp.display()))
}

/// A running `node run.mjs …`; killed when dropped.
pub struct Driver {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    log: PathBuf,
}

impl Driver {
    /// Starts `node run.mjs <args>`; its stderr goes to
    /// `<target>/chaos/browser-<tag>.log`.
    pub fn start(tag: &str, args: &[String]) -> Result<Driver, String> {
        let log = chaos_dir()?.join(format!("browser-{tag}.log"));
        let err = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new("node")
            .arg("run.mjs")
            .args(args)
            .current_dir(project_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot run node (apt-get install nodejs): {e}"))?;
        let stdout = child.stdout.take().ok_or("node without stdout")?;
        // A few lines per run: a small bound is plenty.
        let (tx, lines) = sync_channel(64);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Driver {
            stdin: child.stdin.take(),
            child,
            lines,
            log,
        })
    }

    /// The next JSON line within `within` (other lines are skipped).
    pub fn next_json(&mut self, within: Duration) -> Result<serde_json::Value, String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Ok(v) = serde_json::from_str(&line) {
                        return Ok(v);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "the browser driver said nothing within {} s: {}",
                        within.as_secs(),
                        self.log_tail()
                    ))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("the browser driver exited: {}", self.log_tail()))
                }
            }
        }
    }

    /// The node process's id (Chromium runs as its child).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes the driver's stdin (a WHIP publisher then stops and reports).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(6);
        lines.get(from..).unwrap_or_default().join(" | ")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stdin = None;
        // Give it a moment to close Chromium itself, then make sure.
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
