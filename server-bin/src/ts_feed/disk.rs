//! `hls.dir`: segments and playlists also written to disk, for a CDN origin
//! or a web server in front.
//!
//! Disk writes happen on one thread of their own, fed through a bounded
//! queue: a slow or full disk costs dropped files (counted and logged), never
//! a stalled packager or media worker. Every file is written under a
//! temporary name and renamed, so a reader never sees half a segment or
//! playlist.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;

use bytes::Bytes;
use stream_core::StreamKey;

/// Jobs waiting for the disk at most.
const QUEUE: usize = 256;

/// One file operation.
#[derive(Debug)]
enum Job {
    Write { path: PathBuf, data: Bytes },
    Remove { path: PathBuf },
}

/// Writes HLS files under one root directory.
#[derive(Debug, Clone)]
pub struct DiskWriter {
    root: PathBuf,
    jobs: SyncSender<Job>,
    dropped: Arc<AtomicU64>,
}

impl DiskWriter {
    /// Starts the writer thread for `root` (created if missing).
    pub fn start(root: &str) -> std::io::Result<DiskWriter> {
        let root = PathBuf::from(root);
        std::fs::create_dir_all(&root)?;
        let (jobs, rx) = sync_channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("strom-hls-disk".into())
            .spawn(move || {
                for job in rx {
                    if let Err((path, e)) = run(&job) {
                        tracing::warn!(path = %path.display(), error = %e, "hls file operation failed");
                    }
                }
            })?;
        Ok(DiskWriter {
            root,
            jobs,
            dropped: Arc::default(),
        })
    }

    /// The directory of a stream's files, if its names are safe as path
    /// components ([`crate::disk_path`]).
    pub fn stream_dir(&self, key: &StreamKey) -> Option<PathBuf> {
        crate::disk_path::stream_dir(&self.root, key)
    }

    /// Writes `data` to `dir/name` atomically.
    pub fn write(&self, dir: &Path, name: &str, data: Bytes) {
        self.send(Job::Write {
            path: dir.join(name),
            data,
        });
    }

    /// Removes `dir/name` (missing is fine).
    pub fn remove(&self, dir: &Path, name: &str) {
        self.send(Job::Remove {
            path: dir.join(name),
        });
    }

    /// Operations dropped because the disk fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn send(&self, job: Job) {
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(job)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(
                        dropped = n,
                        ?job,
                        "hls disk writer behind; file operation dropped"
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

fn run(job: &Job) -> Result<(), (PathBuf, std::io::Error)> {
    match job {
        Job::Write { path, data } => {
            let fail = |e| (path.clone(), e);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(fail)?;
            }
            let tmp = path.with_extension("tmp");
            let mut file = std::fs::File::create(&tmp).map_err(fail)?;
            file.write_all(data).map_err(fail)?;
            drop(file);
            std::fs::rename(&tmp, path).map_err(fail)
        }
        Job::Remove { path } => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err((path.clone(), e)),
            _ => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_and_removes() {
        let root = std::env::temp_dir().join(format!("strom-disk-{}", std::process::id()));
        let w = DiskWriter::start(&root.to_string_lossy()).unwrap();
        let dir = w.stream_dir(&StreamKey::new("live", "s")).unwrap();
        w.write(&dir, "1.ts", Bytes::from_static(b"abc"));
        w.remove(&dir, "0.ts");
        let file = dir.join("1.ts");
        for _ in 0..200 {
            if file.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(std::fs::read(&file).unwrap(), b"abc");
        assert!(!dir.join("1.tmp").exists());
        let _ = std::fs::remove_dir_all(root);
    }
}
