//! Retention, on its own thread (never a media worker or the control
//! plane): every minute, and at once when the disk gets full, files older
//! than `record.max_age_days` are deleted, then the oldest while all
//! recordings take more than `record.max_bytes` (never a file being
//! written). Their catalogue rows go with them, and day directories left
//! empty. The same thread looks every `record.resume_check_secs` whether a
//! full disk has space again, and repairs the catalogue when it starts.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::catalogue::{Catalogue, Row};
use super::disk::Disk;
use super::layout;
use crate::config::RecordConfig;

/// How often retention runs when nothing wakes it.
const EVERY: Duration = Duration::from_secs(60);
const DAY_MS: u64 = 86_400_000;

/// Starts the retention thread of `disk`; it ends once the disk is dropped.
///
/// # Errors
/// The thread cannot be started.
pub fn start(disk: Arc<Disk>, config: &RecordConfig) -> std::io::Result<()> {
    let config = config.clone();
    let disk = Arc::downgrade(&disk);
    std::thread::Builder::new()
        .name("strom-record-retention".into())
        .spawn(move || run(&disk, &config))?;
    Ok(())
}

fn run(disk: &Weak<Disk>, config: &RecordConfig) {
    if let Some(d) = disk.upgrade() {
        if let Err(e) = d.catalogue() {
            tracing::error!(dir = %d.root().display(), error = %e, "recording catalogue cannot be opened");
        }
    }
    let check = Duration::from_secs(config.resume_check_secs.max(1));
    let mut last = Instant::now();
    while let Some(d) = disk.upgrade() {
        let woken = d.wait_retention(check);
        d.check_resume();
        if woken || last.elapsed() >= EVERY {
            last = Instant::now();
            if let Ok(catalogue) = d.catalogue() {
                sweep(catalogue, d.root(), config, super::now_ms());
            }
        }
    }
}

/// One pass: what is too old, then the oldest beyond the byte cap.
pub fn sweep(catalogue: &Catalogue, root: &Path, config: &RecordConfig, now_ms: u64) {
    if config.max_age_days == 0 && config.max_bytes == 0 {
        return;
    }
    let mut rows = match catalogue.all() {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "retention: catalogue unreadable");
            return;
        }
    };
    rows.sort_by_key(|r| r.1);
    let mut total: u64 = rows.iter().map(|r| r.2.bytes).sum();
    let too_old = now_ms.saturating_sub(config.max_age_days.saturating_mul(DAY_MS));
    let mut gone = Vec::new();
    for row in rows.iter().filter(|r| !r.2.open) {
        let old = config.max_age_days > 0 && row.2.end_ms < too_old;
        let over = config.max_bytes > 0 && total > config.max_bytes;
        if !old && !over {
            continue;
        }
        delete(root, row);
        total = total.saturating_sub(row.2.bytes);
        gone.push((row.0.clone(), row.1));
    }
    if gone.is_empty() {
        return;
    }
    tracing::info!(files = gone.len(), "retention: recordings deleted");
    if let Err(e) = catalogue.remove(&gone) {
        tracing::warn!(error = %e, "retention: catalogue rows not removed");
    }
}

/// Deletes a file, its sidecar, and its day directory when left empty.
fn delete(root: &Path, row: &Row) {
    let path = root.join(&row.2.path);
    for p in [layout::index_path(&path), path.clone()] {
        if let Err(e) = std::fs::remove_file(&p) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(file = %p.display(), error = %e, "retention: cannot delete");
            }
        }
    }
    if let Some(day) = path.parent() {
        // Fails (and stays) when not empty.
        let _ = std::fs::remove_dir(day);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::catalogue::FileEntry;

    struct TempDir(std::path::PathBuf);
    impl TempDir {
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn oldest_go_first_and_open_files_stay() {
        let root = std::env::temp_dir().join(format!("strom-retention-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("mkdir");
        let dir = TempDir(root);
        let cat = Catalogue::open(&dir.path().join("c.redb")).expect("catalogue");
        let mut rows = Vec::new();
        for (i, open) in [(0u64, true), (1, false), (2, false), (3, false)] {
            let rel = format!("live/a/2026-01-01/00-00-0{i}.mp4");
            let path = dir.path().join(&rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, [0u8; 100]).expect("write");
            let entry = FileEntry {
                end_ms: i * 1000 + 500,
                bytes: 100,
                path: rel,
                open,
                tracks: "h264".into(),
                fragments: 1,
            };
            rows.push(("live/a".to_string(), i * 1000, entry));
        }
        cat.upsert(&rows, true).expect("upsert");
        let config = RecordConfig {
            max_bytes: 300,
            ..RecordConfig::default()
        };
        sweep(&cat, dir.path(), &config, 10_000);
        let left: Vec<u64> = cat.all().expect("all").iter().map(|r| r.1).collect();
        assert_eq!(
            left,
            [0, 2000, 3000],
            "the oldest closed file went; the open one stayed"
        );
        assert!(!dir.path().join("live/a/2026-01-01/00-00-01.mp4").exists());
        let config = RecordConfig {
            max_age_days: 1,
            ..RecordConfig::default()
        };
        sweep(&cat, dir.path(), &config, 3 * DAY_MS);
        let left: Vec<u64> = cat.all().expect("all").iter().map(|r| r.1).collect();
        assert_eq!(left, [0]);
    }
}
