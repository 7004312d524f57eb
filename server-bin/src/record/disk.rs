//! The recording disk: its catalogue (opened, repaired or rebuilt once, on
//! a disk thread), its free space, the full/resumed state and the
//! counters `/metrics` shows.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use super::catalogue::Catalogue;
use super::{recover, RecordError};
use crate::hooks::{Hooks, Notification};
use crate::session::lock;

/// Counters of recording for `/metrics`.
#[derive(Debug, Default)]
pub struct RecordMetrics {
    /// Bytes written to recordings.
    pub bytes: AtomicU64,
    /// Files closed.
    pub files: AtomicU64,
    /// Fragments dropped: the writers' queue was full.
    pub dropped_queue: AtomicU64,
    /// Fragments dropped: the disk was full.
    pub dropped_disk: AtomicU64,
    /// Fragments dropped: a write failed.
    pub dropped_io: AtomicU64,
    /// Playback downloads in progress (kept by the playback side).
    pub gets: AtomicU64,
    /// Replays in progress (kept by the playback side).
    pub replays: AtomicU64,
}

/// Why a fragment was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// The writers' queue was full.
    QueueFull,
    /// The disk is full (or below `record.min_free_bytes`).
    DiskFull,
    /// A write failed.
    IoError,
}

/// A metric family: name, type, help, samples (labels, value).
pub type Family = (&'static str, &'static str, &'static str, Vec<(String, f64)>);

impl RecordMetrics {
    /// The `strom_record_*` families; `active` recordings, `full` disk.
    pub fn families(&self, active: usize, full: bool) -> Vec<Family> {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        let one = |v: f64| vec![(String::new(), v)];
        let dropped = [
            ("queue_full", &self.dropped_queue),
            ("disk_full", &self.dropped_disk),
            ("io_error", &self.dropped_io),
        ]
        .iter()
        .map(|(r, c)| (format!("{{reason=\"{r}\"}}"), n(c)))
        .collect();
        vec![
            ("strom_recordings", "gauge", "Streams being recorded.", one(active as f64)),
            ("strom_record_bytes_total", "counter", "Bytes of fragments written to recordings.", one(n(&self.bytes))),
            ("strom_record_files_total", "counter", "Recorded files closed.", one(n(&self.files))),
            ("strom_record_fragments_dropped_total", "counter", "Recording fragments dropped: the writers' queue was full, the disk was full, or a write failed.", dropped),
            ("strom_record_disk_full", "gauge", "1 while recording is suspended because the disk is full (below record.min_free_bytes).", one(if full { 1.0 } else { 0.0 })),
            ("strom_record_gets", "gauge", "Recording downloads in progress.", one(n(&self.gets))),
            ("strom_record_replays", "gauge", "Recordings replayed as live streams.", one(n(&self.replays))),
        ]
    }

    /// Counts one dropped fragment.
    pub fn dropped(&self, why: Drop) {
        let c = match why {
            Drop::QueueFull => &self.dropped_queue,
            Drop::DiskFull => &self.dropped_disk,
            Drop::IoError => &self.dropped_io,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// The disk recordings go to.
#[derive(Debug)]
pub struct Disk {
    root: PathBuf,
    min_free: u64,
    catalogue: OnceLock<Arc<Catalogue>>,
    opening: Mutex<()>,
    full: AtomicBool,
    hooks: Arc<Hooks>,
    /// Counters.
    pub metrics: RecordMetrics,
    /// Set to wake the retention thread at once (the disk got full).
    wake: (Mutex<bool>, Condvar),
}

impl Disk {
    /// The disk of `root` (absolute), suspended below `min_free` bytes.
    pub fn new(root: PathBuf, min_free: u64, hooks: Arc<Hooks>) -> Disk {
        Disk {
            root,
            min_free,
            catalogue: OnceLock::new(),
            opening: Mutex::new(()),
            full: AtomicBool::new(false),
            hooks,
            metrics: RecordMetrics::default(),
            wake: (Mutex::new(false), Condvar::new()),
        }
    }

    /// The hook caller (`on_record_mp4`, `on_record_disk`).
    pub fn hooks(&self) -> &Hooks {
        &self.hooks
    }

    /// `record.dir`, absolute.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The catalogue, opened on first use (disk IO: call from a disk thread
    /// or `spawn_blocking`): the directory is created, rows left open by a
    /// crash are repaired, and a catalogue that cannot be opened is moved
    /// aside and rebuilt from the files.
    ///
    /// # Errors
    /// The directory or the catalogue cannot be created.
    pub fn catalogue(&self) -> Result<&Arc<Catalogue>, RecordError> {
        if let Some(c) = self.catalogue.get() {
            return Ok(c);
        }
        let _one = lock(&self.opening);
        if let Some(c) = self.catalogue.get() {
            return Ok(c);
        }
        std::fs::create_dir_all(&self.root)?;
        let path = self.root.join(".catalogue.redb");
        let catalogue = match Catalogue::open(&path) {
            Ok(c) => c,
            Err(e) => {
                let aside = self
                    .root
                    .join(format!(".catalogue.redb.bad-{}", super::now_ms()));
                tracing::error!(error = %e, aside = %aside.display(), "recording catalogue unreadable: moved aside, rebuilding it from the files");
                std::fs::rename(&path, &aside)?;
                let c = Catalogue::open(&path)?;
                recover::rebuild(&c, &self.root);
                c
            }
        };
        recover::repair(&catalogue, &self.root);
        Ok(self.catalogue.get_or_init(|| Arc::new(catalogue)))
    }

    /// Free bytes for unprivileged writers on the file system of the root.
    pub fn free_bytes(&self) -> Option<u64> {
        let s = rustix::fs::statvfs(&self.root).ok()?;
        Some(s.f_bavail.saturating_mul(s.f_frsize))
    }

    /// Whether free space is below `record.min_free_bytes` (unknown: no).
    pub fn low(&self) -> Option<u64> {
        self.free_bytes().filter(|f| *f < self.min_free)
    }

    /// Whether recording is suspended.
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::Acquire)
    }

    /// The disk is full (`free` bytes left): suspends recording, once.
    pub fn set_full(&self, free: u64) {
        if self.full.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::error!(dir = %self.root.display(), free_bytes = free, min_free_bytes = self.min_free, "recording disk full: recording suspended until space returns");
        self.notify("full", free);
        self.wake_retention();
    }

    /// Resumes recording when space returned; whether it did.
    pub fn check_resume(&self) -> bool {
        if !self.is_full() {
            return false;
        }
        let Some(free) = self.free_bytes().filter(|f| *f >= self.min_free) else {
            return false;
        };
        self.full.store(false, Ordering::Release);
        tracing::warn!(dir = %self.root.display(), free_bytes = free, "recording disk has space again: recording resumes");
        self.notify("resumed", free);
        true
    }

    fn notify(&self, state: &str, free: u64) {
        let dir = self.root.display().to_string();
        self.hooks
            .notify(Notification::record_disk(state, &dir, free));
    }

    /// Wakes the retention thread.
    pub fn wake_retention(&self) {
        *lock(&self.wake.0) = true;
        self.wake.1.notify_all();
    }

    /// Waits up to `timeout` for [`Self::wake_retention`]; whether woken.
    pub fn wait_retention(&self, timeout: Duration) -> bool {
        let guard = lock(&self.wake.0);
        let (mut guard, _) = self
            .wake
            .1
            .wait_timeout_while(guard, timeout, |woken| !*woken)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut *guard)
    }
}
