//! Scenario 31, record-disk-full: the disk under the recordings fills up
//! mid-recording, then space returns.
//!
//! `record.dir` is a small tmpfs mounted for the scenario (root is needed;
//! `cargo xtask ci` runs as root on CI). Four ffmpeg publishers are
//! recorded (`record.streams = ["live/*"]`) while two HTTP-FLV viewers play
//! one of them. A filler file then takes all but a sliver of the tmpfs:
//! strom must suspend recording (`strom_record_disk_full` 1), and meanwhile
//! the viewers keep the full frame rate, the probe's `/healthz` and
//! `/api/v1/streams` stay fast, and the recordings API answers. Once the
//! filler is gone, recording resumes with new files
//! (`strom_record_files_total` grows, `strom_record_disk_full` 0). After a
//! graceful stop, every file left on the tmpfs must decode without an error
//! (ffmpeg), the ones cut by the full disk included.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::browser_delivery::metric_sum;
use super::clients::Ffmpeg;
use super::webrtc::flv;
use super::{check_fps, wait_for, wait_live, Ctx};

/// Size of the tmpfs.
const TMPFS_MIB: u64 = 24;
/// `record.min_free_bytes` in the scenario.
const MIN_FREE: u64 = 2 << 20;
/// What the filler leaves free: below [`MIN_FREE`].
const LEAVE_FREE: u64 = 512 << 10;
/// Publishers recorded.
const PUBLISHERS: usize = 4;

/// The tmpfs of scenario 31, unmounted (lazily) when dropped.
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a fresh tmpfs for scenario 31.
    pub fn mount() -> Result<Tmpfs, String> {
        let dir = Tmpfs::dir()?;
        let _ = Command::new("umount").arg("-l").arg(&dir).status();
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_MIB}m")])
            .arg("tmpfs")
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!(
                "cannot mount a tmpfs on {} (scenario 31 needs root: run as root or with CAP_SYS_ADMIN)",
                dir.display()
            ));
        }
        Ok(Tmpfs { dir })
    }

    /// Where it is mounted.
    fn dir() -> Result<PathBuf, String> {
        Ok(super::server::chaos_dir()?.join("31-record-tmpfs"))
    }

    /// The `STROM_*` settings that put the recordings on it.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("STROM_RECORD__DIR", self.dir.display().to_string()),
            ("STROM_RECORD__STREAMS", "[\"live/*\"]".to_string()),
            ("STROM_RECORD__MIN_FREE_BYTES", MIN_FREE.to_string()),
            ("STROM_RECORD__RESUME_CHECK_SECS", "1".to_string()),
            ("STROM_RECORD__SEGMENT_SECS", "4".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Free bytes on the file system of `dir` (`df`, so no unsafe code here).
fn free_bytes(dir: &Path) -> Option<u64> {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

/// Every `.mp4` under `dir`.
fn recordings(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "mp4") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// What ffmpeg says decoding `file` (empty: clean).
fn decode_errors(file: &Path) -> String {
    match Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stderr).trim().to_string(),
        Ok(out) => format!(
            "exit {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("cannot run ffmpeg: {e}"),
    }
}

/// `strom_record_files_total` (0 when absent).
fn files_total(ctx: &Ctx) -> f64 {
    metric_sum(ctx.server, "strom_record_files_total", "").unwrap_or(0.0)
}

/// Scenario 31.
pub fn record_disk_full(ctx: &mut Ctx) -> Result<(), String> {
    let dir = Tmpfs::dir()?;
    let window = Duration::from_secs(ctx.profile.pick(6, 20));
    let (http, rtmp) = (ctx.server.http, ctx.server.rtmp);
    let mut publishers = Vec::new();
    for i in 0..PUBLISHERS {
        publishers.push(Ffmpeg::publish(rtmp, &format!("rec{i}"))?);
    }
    for i in 0..PUBLISHERS {
        wait_live(ctx.server, &format!("rec{i}"), Duration::from_secs(10))?;
    }
    let viewers = [flv::start(http, "rec0"), flv::start(http, "rec0")];
    let written = wait_for(Duration::from_secs(10), || {
        metric_sum(ctx.server, "strom_record_bytes_total", "").unwrap_or(0.0) > 0.0
    });
    ctx.check(written.is_some(), "nothing recorded within 10 s");
    let files_before = files_total(ctx);

    // Fill the disk but a sliver.
    let free = free_bytes(&dir).ok_or("df failed")?;
    let filler = dir.join("filler");
    let fill = free.saturating_sub(LEAVE_FREE);
    std::fs::write(&filler, vec![0u8; fill as usize]).map_err(|e| format!("filler: {e}"))?;
    let full_at = Instant::now();
    let full = wait_for(Duration::from_secs(10), || {
        metric_sum(ctx.server, "strom_record_disk_full", "") == Some(1.0)
    });
    ctx.check(
        full.is_some(),
        "strom_record_disk_full not 1 within 10 s of the filler",
    );
    if let Some(t) = full {
        ctx.figure(format!("disk full seen after {} ms", t.as_millis()));
    }

    // While full: the viewers, the API.
    let f0: Vec<u64> = viewers.iter().map(|v| v.frames()).collect();
    let t0 = Instant::now();
    let mut api_ms = Vec::new();
    while t0.elapsed() < window {
        let t = Instant::now();
        let (status, _) = ctx.server.get("/api/v1/recordings")?;
        api_ms.push(t.elapsed());
        ctx.check(
            status == 200,
            format!("GET /api/v1/recordings: {status} while full"),
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let secs = t0.elapsed().as_secs_f64();
    let rates: Vec<f64> = viewers
        .iter()
        .zip(&f0)
        .map(|(v, f)| (v.frames() - f) as f64 / secs)
        .collect();
    let min_fps = check_fps(ctx, "viewers while the disk is full", &rates);
    let api_p99 = super::browser_delivery::quantile_ms(&api_ms, 0.99);
    ctx.check(
        api_p99 < 50.0,
        format!("recordings API p99 {api_p99:.1} ms while full"),
    );
    let dropped = metric_sum(ctx.server, "strom_record_fragments_dropped_total", "").unwrap_or(0.0);

    // Space returns.
    std::fs::remove_file(&filler).map_err(|e| format!("filler: {e}"))?;
    let resumed = wait_for(Duration::from_secs(10), || {
        metric_sum(ctx.server, "strom_record_disk_full", "") == Some(0.0)
            && files_total(ctx) > files_before
    });
    ctx.check(
        resumed.is_some(),
        "recording did not resume with a new file within 10 s of freeing space",
    );
    // Every stream writes a new file again.
    let writing = wait_for(Duration::from_secs(10), || {
        let Ok((200, body)) = ctx.server.get("/api/v1/recordings") else {
            return false;
        };
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v["recordings"].as_array().is_some_and(|r| {
            r.len() == PUBLISHERS && r.iter().all(|r| r["fragments"].as_u64() > Some(0))
        })
    });
    ctx.check(
        writing.is_some(),
        "not every stream wrote a fragment to a new file within 10 s of resuming",
    );
    let full_for = full_at.elapsed();
    drop(viewers);
    drop(publishers);
    // A graceful stop closes every file (a file that never got a fragment
    // is removed); then every file left must play.
    ctx.stop_probe();
    ctx.server.signal("TERM")?;
    let exited = ctx.server.wait_exit(Duration::from_secs(15)).is_some();
    ctx.check(exited, "strom did not exit within 15 s of SIGTERM");

    // Every file on the disk plays.
    let files = recordings(&dir);
    ctx.check(
        files.len() >= PUBLISHERS,
        format!(
            "{} recordings on the disk, fewer than the streams",
            files.len()
        ),
    );
    let mut bad = 0;
    for f in &files {
        let errors = decode_errors(f);
        if !errors.is_empty() {
            bad += 1;
            ctx.check(false, format!("{}: {errors}", f.display()));
        }
    }
    ctx.figure(format!(
        "{PUBLISHERS} streams recorded on a {TMPFS_MIB} MiB tmpfs: full for {:.1} s, viewers min {min_fps:.1} fps, \
         recordings API p99 {api_p99:.1} ms, {dropped} fragments dropped, resumed after {} ms, {} files ({bad} with decode errors)",
        full_for.as_secs_f64(),
        resumed.map_or(-1, |t| t.as_millis() as i64),
        files.len()
    ));
    Ok(())
}
