//! Recording to disk and playback: streams recorded to fragmented MP4
//! files (`record.dir/app/stream/YYYY-MM-DD/HH-MM-SS.mp4`), a catalogue of
//! the files, and their playback.
//!
//! - [`layout`]: where files live, `record.streams` patterns, the UTC
//!   calendar of names and of API times.
//! - [`index`]: each file's sidecar fragment index (where a playback may
//!   start, how long what it sends will be).
//! - [`catalogue`]: one row per file in an embedded database, for listings
//!   that stay fast after months.
//!
//! Disk IO never runs on a media worker or on the control plane's event
//! loop: recorders hand fragments to writer threads through a bounded
//! queue, and playback reads with `spawn_blocking`.

pub mod catalogue;
mod cut;
pub mod disk;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod index;
pub mod layout;
pub mod playback;
pub mod recover;
pub mod replay;
mod retention;
pub mod slots;
pub mod synthetic;
mod task;
mod writer;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use stream_core::{HubEvent, StreamKey};
use tokio::sync::{broadcast, watch};

use crate::config::RecordConfig;
use crate::hooks::Hooks;
use crate::server::Shared;
use crate::session::lock;
use catalogue::Catalogue;
use disk::{Disk, RecordMetrics};
use layout::StreamPattern;
use writer::Writers;

/// Why a stream is being recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// It matches `record.streams`.
    Config,
    /// The `on_publish` answer said `enable_mp4`.
    Hook,
    /// `POST /api/v1/recordings/…` or ZLMediaKit's `startRecord`.
    Api,
}

impl Reason {
    /// Its name, as the API and the log show it.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Config => "config",
            Reason::Hook => "hook",
            Reason::Api => "api",
        }
    }
}

/// A recording in progress, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingStatus {
    /// The stream.
    #[serde(skip)]
    pub key: StreamKey,
    /// Its app.
    pub app: String,
    /// Its stream name.
    pub stream: String,
    /// Why it is recorded.
    pub reason: Reason,
    /// Since when (unix ms).
    pub since_ms: u64,
    /// The file being written, relative to `record.dir` (none between files,
    /// before the first keyframe or while the disk is full).
    pub file: Option<String>,
    /// Bytes written to the current file.
    pub bytes: u64,
    /// Fragments written to the current file.
    pub fragments: u64,
    /// Fragments dropped since the recording started (queue or disk full).
    pub dropped: u64,
}

/// Why a recording could not start.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The stream's names cannot be used as directory names.
    #[error("the stream's name cannot be a directory name")]
    BadName,
    /// Recording is suspended (the disk is full).
    #[error("recording is suspended: the disk is full")]
    DiskFull,
    /// The stream is not live (nothing to record).
    #[error("the stream is not live")]
    NotLive,
    /// A cap was reached (`what` names it).
    #[error("too many {what}")]
    Busy {
        /// The cap.
        what: &'static str,
    },
    /// The live stream a replay would publish is published already.
    #[error("{0}")]
    NameTaken(String),
    /// Nothing was recorded in the range asked for.
    #[error("nothing recorded in that range")]
    NothingRecorded,
    /// The catalogue failed.
    #[error(transparent)]
    Catalogue(#[from] catalogue::CatalogueError),
    /// The disk failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A recording in progress: shared by its recorder task, the writer
/// threads (progress) and the control surface.
#[derive(Debug)]
pub struct Recording {
    /// The stream.
    pub key: StreamKey,
    /// Why it is recorded.
    pub reason: Reason,
    /// Since when (unix ms).
    pub since_ms: u64,
    /// Fragments dropped (queue or disk full, IO errors).
    pub dropped: AtomicU64,
    /// Set by a writer that ended the current file on its own (disk full,
    /// IO error): the recorder starts a new one at the next keyframe.
    pub writer_closed: AtomicBool,
    /// Which writer thread.
    thread: u64,
    stop: watch::Sender<bool>,
    progress: Mutex<(Option<String>, u64, u64)>,
}

impl Recording {
    /// The current file (relative to `record.dir`), its bytes and fragments.
    pub fn set_file(&self, file: Option<String>, bytes: u64, fragments: u64) {
        *lock(&self.progress) = (file, bytes, fragments);
    }

    fn status(&self) -> RecordingStatus {
        let (file, bytes, fragments) = lock(&self.progress).clone();
        RecordingStatus {
            key: self.key.clone(),
            app: self.key.app.to_string(),
            stream: self.key.stream.to_string(),
            reason: self.reason,
            since_ms: self.since_ms,
            file,
            bytes,
            fragments,
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// The control surface of recording (`Shared::recordings`): which streams
/// are recorded, the disk and its writer threads (started when first
/// needed), the catalogue.
#[derive(Debug)]
pub struct Recordings {
    config: RecordConfig,
    patterns: Vec<StreamPattern>,
    disk: Arc<Disk>,
    writers: OnceLock<Writers>,
    active: Mutex<HashMap<StreamKey, Arc<Recording>>>,
    next_file: AtomicU64,
    shared: OnceLock<Weak<Shared>>,
}

impl Recordings {
    /// Recording as `config` says, telling `hooks`. Does no disk IO (the
    /// catalogue opens on a disk thread when first needed).
    pub fn new(config: &RecordConfig, hooks: Arc<Hooks>) -> Recordings {
        let root = std::path::absolute(&config.dir).unwrap_or_else(|_| PathBuf::from(&config.dir));
        let patterns = config
            .streams
            .iter()
            .filter_map(|p| StreamPattern::parse(p).ok())
            .collect();
        Recordings {
            config: config.clone(),
            patterns,
            disk: Arc::new(Disk::new(root, config.min_free_bytes, hooks)),
            writers: OnceLock::new(),
            active: Mutex::default(),
            next_file: AtomicU64::new(1),
            shared: OnceLock::new(),
        }
    }

    /// Gives the recordings their server (recorders run on its workers).
    pub fn attach(&self, shared: &Arc<Shared>) {
        let _ = self.shared.set(Arc::downgrade(shared));
    }

    /// Starts recording `key` (live now) until it ends or is stopped;
    /// already recorded: nothing changes.
    ///
    /// # Errors
    /// Names that cannot be directories, a full disk, a stream not live,
    /// writer threads that cannot start.
    pub fn start(&self, key: &StreamKey, reason: Reason) -> Result<(), RecordError> {
        if crate::disk_path::stream_dir(self.root(), key).is_none() {
            return Err(RecordError::BadName);
        }
        if self.disk_full() {
            return Err(RecordError::DiskFull);
        }
        let Some(shared) = self.shared.get().and_then(Weak::upgrade) else {
            return Err(RecordError::NotLive);
        };
        if !shared
            .hub
            .stream(key)
            .is_some_and(|s| s.state == stream_core::StreamState::Live)
        {
            return Err(RecordError::NotLive);
        }
        self.ensure_disk()?;
        let mut active = lock(&self.active);
        if active.contains_key(key) {
            return Ok(());
        }
        let (stop, stop_rx) = watch::channel(false);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let rec = Arc::new(Recording {
            key: key.clone(),
            reason,
            since_ms: now_ms(),
            dropped: AtomicU64::new(0),
            writer_closed: AtomicBool::new(false),
            thread: h.finish(),
            stop,
            progress: Mutex::default(),
        });
        active.insert(key.clone(), rec.clone());
        drop(active);
        let span = tracing::info_span!("record", stream = %key);
        let worker = shared.pool.pick().handle.clone();
        worker.spawn(tracing::Instrument::instrument(
            task::run(shared.clone(), rec, stop_rx),
            span,
        ));
        Ok(())
    }

    /// Stops recording `key` (its file is closed); false when it was not.
    pub fn stop(&self, key: &StreamKey) -> bool {
        let rec = lock(&self.active).remove(key);
        rec.map(|r| r.stop.send_replace(true)).is_some()
    }

    /// Whether `key` is being recorded.
    pub fn is_recording(&self, key: &StreamKey) -> bool {
        lock(&self.active).contains_key(key)
    }

    /// The recordings in progress.
    pub fn status(&self) -> Vec<RecordingStatus> {
        let active: Vec<_> = lock(&self.active).values().cloned().collect();
        active.iter().map(|r| r.status()).collect()
    }

    /// Recordings in progress.
    pub fn len(&self) -> usize {
        lock(&self.active).len()
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The catalogue, opened (and repaired) on first use: disk IO, call it
    /// from `spawn_blocking` or a disk thread.
    ///
    /// # Errors
    /// `record.dir` or its catalogue cannot be created.
    pub fn catalogue(&self) -> Result<&Arc<Catalogue>, RecordError> {
        self.disk.catalogue()
    }

    /// `record.dir`, absolute.
    pub fn root(&self) -> &Path {
        self.disk.root()
    }

    /// Counters for `/metrics`.
    pub fn metrics(&self) -> &RecordMetrics {
        &self.disk.metrics
    }

    /// At shutdown, after the hub's: waits up to `limit` for the recorders
    /// to end and the writers to write what they were given (files closed,
    /// rows closed).
    pub fn flush(&self, limit: std::time::Duration) {
        let deadline = std::time::Instant::now() + limit;
        let busy = || !self.is_empty() || self.writers.get().is_some_and(Writers::busy);
        while busy() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The `strom_record_*` metric families.
    pub fn families(&self) -> Vec<disk::Family> {
        self.disk.metrics.families(self.len(), self.disk_full())
    }

    /// Whether recording is suspended (disk full).
    pub fn disk_full(&self) -> bool {
        self.disk.is_full()
    }

    /// The `record.streams` patterns name `key`.
    pub fn configured(&self, key: &StreamKey) -> bool {
        self.patterns.iter().any(|p| p.matches(key))
    }

    /// Starts the writer and retention threads if they are not running.
    fn ensure_disk(&self) -> Result<&Writers, RecordError> {
        if let Some(w) = self.writers.get() {
            return Ok(w);
        }
        let _one = lock(&self.active);
        if let Some(w) = self.writers.get() {
            return Ok(w);
        }
        let c = &self.config;
        let writers = Writers::start(c.writer_threads, c.queue_bytes, self.disk.clone())?;
        retention::start(self.disk.clone(), c)?;
        Ok(self.writers.get_or_init(|| writers))
    }

    fn next_file_id(&self) -> u64 {
        self.next_file.fetch_add(1, Ordering::Relaxed)
    }

    fn send(&self, rec: &Recording, job: writer::Job) -> Result<(), writer::Job> {
        match self.writers.get() {
            Some(w) => w.send(rec.thread, job),
            None => Err(job),
        }
    }

    /// The recorder of `rec` ended.
    fn ended(&self, rec: &Arc<Recording>) {
        let mut active = lock(&self.active);
        if active.get(&rec.key).is_some_and(|r| Arc::ptr_eq(r, rec)) {
            active.remove(&rec.key);
        }
    }
}

/// Starts the recordings of published streams (`record.streams`, the
/// `on_publish` answer's `enable_mp4`), on the control plane; at server
/// start, repairs and retention begin when `record.dir` exists or streams
/// are configured.
pub async fn watch(shared: Arc<Shared>) {
    let recordings = &shared.recordings;
    let mut events = shared.hub.events();
    if !recordings.patterns.is_empty() || recordings.root().exists() {
        if let Err(e) = recordings.ensure_disk() {
            tracing::error!(error = %e, "recording cannot start its disk threads");
        }
    }
    let start = |key: &StreamKey| {
        let reason = if recordings.configured(key) {
            Reason::Config
        } else if shared.hooks.stream_options(key).enable_mp4 {
            Reason::Hook
        } else {
            return;
        };
        if let Err(e) = recordings.start(key, reason) {
            tracing::warn!(stream = %key, error = %e, "not recorded");
        }
    };
    loop {
        match events.recv().await {
            Ok(HubEvent::Published { key, .. }) => start(&key),
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {
                for s in shared.hub.streams() {
                    start(&s.key);
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Unix time, ms.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::Reason;

    #[test]
    fn a_reason_is_named_alike_in_the_log_and_the_api() {
        for r in [Reason::Config, Reason::Hook, Reason::Api] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.name());
        }
    }
}
