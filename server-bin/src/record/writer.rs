//! The writer threads: every disk write of recording, off the media workers
//! and the control plane, behind a bounded queue (jobs per thread and
//! `record.queue_bytes` in total). A stream always goes to the same thread
//! (its jobs stay in order).
//!
//! Per drained batch: fragments written (vectored), then their sidecar
//! records; the files touched `fdatasync`ed once; the catalogue rows of
//! files opened or closed committed durably at once, the progress of open
//! files at most every [`PROGRESS`]. A crash or a power loss loses at most
//! the fragments of the batch in flight (~`record.fragment_ms`).
//!
//! A full disk (ENOSPC, or free space below `record.min_free_bytes`):
//! the file is cut back to its last whole fragment and closed, every open
//! file closed, recording suspended ([`Disk::set_full`]) until the
//! retention thread sees space again.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use super::catalogue::{FileEntry, Row};
use super::cut::Fragment;
use super::disk::{Disk, Drop};
use super::index::{FragmentEntry, KEYFRAME, RECORD_LEN};
use super::{layout, Recording};
use crate::hooks::{Notification, VHOST};
use crate::session::lock;

/// Jobs queued per thread at most (besides the bytes).
const MAX_JOBS: usize = 4096;
/// Progress of open files reaches the catalogue at least this often.
const PROGRESS: Duration = Duration::from_secs(2);
/// Free space is looked at most this often per thread.
const FREE_CHECK: Duration = Duration::from_secs(1);
/// Longest a thread sleeps without looking at its queue.
const IDLE: Duration = Duration::from_secs(1);

/// A unit of work for a writer thread.
#[derive(Debug)]
pub enum Job {
    /// A new file of `rec`, started at `start_ms` (unix ms).
    Open {
        /// The recording.
        rec: Arc<Recording>,
        /// Its id, unique in the process.
        file: u64,
        /// Start of the file, unix ms.
        start_ms: u64,
        /// The init segment.
        init: Bytes,
        /// Codecs, `"h264+aac"`.
        tracks: String,
    },
    /// A fragment of file `file`, ending at `end_ms` (unix ms).
    Append {
        /// The file.
        file: u64,
        /// The fragment.
        fragment: Fragment,
        /// End of its media, unix ms.
        end_ms: u64,
    },
    /// The end of file `file`.
    Close {
        /// The file.
        file: u64,
        /// End of its media, unix ms.
        end_ms: u64,
    },
}

impl Job {
    fn bytes(&self) -> u64 {
        match self {
            Job::Open { init, .. } => init.len() as u64,
            Job::Append { fragment, .. } => fragment.fragment.len() as u64,
            Job::Close { .. } => 0,
        }
    }
}

#[derive(Debug, Default)]
struct Queue {
    jobs: Mutex<VecDeque<Job>>,
    ready: Condvar,
}

/// The writer threads and their queues.
#[derive(Debug)]
pub struct Writers {
    queues: Vec<Arc<Queue>>,
    queued: Arc<AtomicU64>,
    /// Jobs queued or being handled.
    jobs: Arc<AtomicU64>,
    max_bytes: u64,
    closed: Arc<AtomicBool>,
}

impl Writers {
    /// Starts `threads` writers for `disk`, queueing `max_bytes` at most.
    ///
    /// # Errors
    /// A thread cannot be started.
    pub fn start(threads: usize, max_bytes: u64, disk: Arc<Disk>) -> std::io::Result<Writers> {
        let queued = Arc::new(AtomicU64::new(0));
        let jobs = Arc::new(AtomicU64::new(0));
        let closed = Arc::new(AtomicBool::new(false));
        let mut queues = Vec::new();
        for i in 0..threads.max(1) {
            let queue = Arc::new(Queue::default());
            let mut writer = Writer {
                disk: disk.clone(),
                files: HashMap::new(),
                queued: queued.clone(),
                jobs: jobs.clone(),
                last_progress: Instant::now(),
                last_free: None,
            };
            let (q, c) = (queue.clone(), closed.clone());
            std::thread::Builder::new()
                .name(format!("strom-record-{i}"))
                .spawn(move || writer.run(&q, &c))?;
            queues.push(queue);
        }
        Ok(Writers {
            queues,
            queued,
            jobs,
            max_bytes,
            closed,
        })
    }

    /// Queues `job` on the thread of `stream`; gives it back when the queue
    /// is full (never waits).
    pub fn send(&self, stream: u64, job: Job) -> Result<(), Job> {
        let n = self.queues.len().max(1) as u64;
        let Some(queue) = self.queues.get((stream % n) as usize) else {
            return Err(job);
        };
        let size = job.bytes();
        let mut jobs = lock(&queue.jobs);
        let held = self.queued.load(Ordering::Acquire);
        let closing = matches!(job, Job::Close { .. });
        if !closing && (jobs.len() >= MAX_JOBS || held + size > self.max_bytes) {
            return Err(job);
        }
        self.queued.fetch_add(size, Ordering::AcqRel);
        self.jobs.fetch_add(1, Ordering::AcqRel);
        jobs.push_back(job);
        drop(jobs);
        queue.ready.notify_one();
        Ok(())
    }

    /// Whether jobs are queued or being written.
    pub fn busy(&self) -> bool {
        self.jobs.load(Ordering::Acquire) > 0
    }
}

impl std::ops::Drop for Writers {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        for q in &self.queues {
            q.ready.notify_all();
        }
    }
}

/// A file being written.
struct OpenFile {
    rec: Arc<Recording>,
    stream: String,
    start_ms: u64,
    end_ms: u64,
    rel: String,
    path: PathBuf,
    mp4: File,
    idx: File,
    len: u64,
    fragments: u64,
    tracks: String,
    /// Written since the last sync.
    unsynced: bool,
}

impl OpenFile {
    fn row(&self, open: bool) -> Row {
        let entry = FileEntry {
            end_ms: self.end_ms,
            bytes: self.len,
            path: self.rel.clone(),
            open,
            tracks: self.tracks.clone(),
            fragments: self.fragments,
        };
        (self.stream.clone(), self.start_ms, entry)
    }
}

struct Writer {
    disk: Arc<Disk>,
    files: HashMap<u64, OpenFile>,
    queued: Arc<AtomicU64>,
    jobs: Arc<AtomicU64>,
    last_progress: Instant,
    last_free: Option<Instant>,
}

impl Writer {
    fn run(&mut self, queue: &Queue, closed: &AtomicBool) {
        loop {
            let batch: Vec<Job> = {
                let jobs = lock(&queue.jobs);
                let (mut jobs, _) = queue
                    .ready
                    .wait_timeout_while(jobs, IDLE, |j| {
                        j.is_empty() && !closed.load(Ordering::Acquire)
                    })
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                jobs.drain(..).collect()
            };
            let stop = batch.is_empty() && closed.load(Ordering::Acquire);
            let handled = batch.len() as u64;
            let mut durable = Vec::new();
            for job in batch {
                self.queued.fetch_sub(job.bytes(), Ordering::AcqRel);
                self.handle(job, &mut durable);
            }
            if self.disk.is_full() && !self.files.is_empty() {
                self.close_all(&mut durable);
            }
            self.sync();
            self.commit(durable);
            self.jobs.fetch_sub(handled, Ordering::AcqRel);
            if stop {
                let ids: Vec<u64> = self.files.keys().copied().collect();
                let mut rows = Vec::new();
                for id in ids {
                    self.close(id, &mut rows);
                }
                self.commit(rows);
                return;
            }
        }
    }

    fn handle(&mut self, job: Job, durable: &mut Vec<Row>) {
        if !matches!(job, Job::Close { .. }) && !self.disk.is_full() {
            self.check_free(durable);
        }
        if self.disk.is_full() && !self.files.is_empty() {
            // Another thread found the disk full: this one's files end too.
            self.close_all(durable);
        }
        match job {
            Job::Open {
                rec,
                file,
                start_ms,
                init,
                tracks,
            } => {
                if self.disk.is_full() {
                    self.disk.metrics.dropped(Drop::DiskFull);
                    rec.writer_closed.store(true, Ordering::Release);
                    return;
                }
                match self.open(&rec, start_ms, &init, tracks) {
                    Ok(f) => {
                        durable.push(f.row(true));
                        rec.set_file(Some(f.rel.clone()), f.len, 0);
                        self.files.insert(file, f);
                    }
                    Err(e) => {
                        let full = e.raw_os_error() == Some(libc_enospc());
                        tracing::error!(stream = %rec.key, error = %e, "cannot create a recording file");
                        rec.writer_closed.store(true, Ordering::Release);
                        if full {
                            self.disk.metrics.dropped(Drop::DiskFull);
                            self.suspend(durable);
                        } else {
                            self.disk.metrics.dropped(Drop::IoError);
                        }
                    }
                }
            }
            Job::Append {
                file,
                fragment,
                end_ms,
            } => {
                if self.disk.is_full() {
                    self.disk.metrics.dropped(Drop::DiskFull);
                    return;
                }
                let Some(f) = self.files.get_mut(&file) else {
                    return; // its file was ended (an error): dropped with it
                };
                if let Err(e) = append(f, &fragment, end_ms) {
                    let full = e.raw_os_error() == Some(libc_enospc());
                    if full {
                        self.disk.metrics.dropped(Drop::DiskFull);
                        self.suspend(durable);
                    } else {
                        tracing::error!(stream = %f.rec.key, file = %f.rel, error = %e, "recording write failed: file ended");
                        self.disk.metrics.dropped(Drop::IoError);
                        f.rec.writer_closed.store(true, Ordering::Release);
                        self.close(file, durable);
                    }
                    return;
                }
                self.disk
                    .metrics
                    .bytes
                    .fetch_add(fragment.fragment.len() as u64, Ordering::Relaxed);
                f.rec.set_file(Some(f.rel.clone()), f.len, f.fragments);
            }
            Job::Close { file, end_ms } => {
                if let Some(f) = self.files.get_mut(&file) {
                    f.end_ms = f.end_ms.max(end_ms);
                    f.rec.set_file(None, 0, 0);
                }
                self.close(file, durable);
            }
        }
    }

    /// Suspends recording when free space is below the threshold.
    fn check_free(&mut self, durable: &mut Vec<Row>) {
        if self.last_free.is_some_and(|t| t.elapsed() < FREE_CHECK) {
            return;
        }
        self.last_free = Some(Instant::now());
        if let Some(free) = self.disk.low() {
            self.disk.set_full(free);
            self.suspend(durable);
        }
    }

    /// The disk is full: every file of this thread is cut back to its last
    /// whole fragment and closed.
    fn suspend(&mut self, durable: &mut Vec<Row>) {
        self.disk.set_full(self.disk.free_bytes().unwrap_or(0));
        self.close_all(durable);
    }

    /// Ends every file of this thread (the disk is full); their recorders
    /// start new ones once recording resumes.
    fn close_all(&mut self, durable: &mut Vec<Row>) {
        let ids: Vec<u64> = self.files.keys().copied().collect();
        for id in ids {
            if let Some(f) = self.files.get(&id) {
                f.rec.writer_closed.store(true, Ordering::Release);
                f.rec.set_file(None, 0, 0);
            }
            self.close(id, durable);
        }
    }

    fn open(
        &self,
        rec: &Arc<Recording>,
        start_ms: u64,
        init: &[u8],
        tracks: String,
    ) -> std::io::Result<OpenFile> {
        let root = self.disk.root();
        let dir = crate::disk_path::stream_dir(root, &rec.key).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "unsafe stream name")
        })?;
        let mut last = None;
        for n in 0..1000 {
            let path = dir.join(layout::file_path(start_ms, n));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut mp4) => {
                    let idx = OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(layout::index_path(&path))?;
                    mp4.write_all(init)?;
                    mp4.sync_data()?;
                    let rel = path
                        .strip_prefix(root)
                        .unwrap_or(&path)
                        .to_string_lossy()
                        .into_owned();
                    tracing::info!(stream = %rec.key, file = %rel, "recording file opened");
                    return Ok(OpenFile {
                        rec: rec.clone(),
                        stream: layout::stream_name(&rec.key),
                        start_ms,
                        end_ms: start_ms,
                        rel,
                        path,
                        mp4,
                        idx,
                        len: init.len() as u64,
                        fragments: 0,
                        tracks,
                        unsynced: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free file name")))
    }

    /// Syncs the files written in this batch.
    fn sync(&mut self) {
        for f in self.files.values_mut().filter(|f| f.unsynced) {
            f.unsynced = false;
            if let Err(e) = f.mp4.sync_data().and_then(|()| f.idx.sync_data()) {
                tracing::warn!(file = %f.rel, error = %e, "recording sync failed");
            }
        }
    }

    /// Commits rows: `rows` durably, and the progress of open files when
    /// [`PROGRESS`] passed.
    fn commit(&mut self, rows: Vec<Row>) {
        let Ok(catalogue) = self.disk.catalogue() else {
            return;
        };
        if !rows.is_empty() {
            if let Err(e) = catalogue.upsert(&rows, true) {
                tracing::error!(error = %e, "recording catalogue not updated");
            }
        }
        if self.files.is_empty() || self.last_progress.elapsed() < PROGRESS {
            return;
        }
        self.last_progress = Instant::now();
        let rows: Vec<Row> = self.files.values().map(|f| f.row(true)).collect();
        if let Err(e) = catalogue.upsert(&rows, false) {
            tracing::warn!(error = %e, "recording progress not in the catalogue");
        }
    }

    /// Ends file `id`: synced, its row closed, `on_record_mp4` told.
    fn close(&mut self, id: u64, durable: &mut Vec<Row>) {
        let Some(f) = self.files.remove(&id) else {
            return;
        };
        if f.fragments == 0 {
            // An init segment alone is not a playable file (the publisher
            // left, or the disk filled, before the first fragment).
            self.discard(&f, durable);
            return;
        }
        // Whatever a failed write left past the last whole fragment goes.
        let _ = f.mp4.set_len(f.len);
        let _ = f.idx.set_len(f.fragments * RECORD_LEN as u64);
        if let Err(e) = f.mp4.sync_all().and_then(|()| f.idx.sync_all()) {
            tracing::warn!(file = %f.rel, error = %e, "recording sync failed");
        }
        self.disk.metrics.files.fetch_add(1, Ordering::Relaxed);
        tracing::info!(stream = %f.rec.key, file = %f.rel, bytes = f.len, fragments = f.fragments, "recording file closed");
        durable.push(f.row(false));
        self.disk
            .hooks()
            .notify(Notification::record_mp4(hook_body(&f)));
    }
}

impl Writer {
    /// Removes a file that got no fragment, its sidecar and its row.
    fn discard(&self, f: &OpenFile, durable: &mut Vec<Row>) {
        let _ = std::fs::remove_file(&f.path);
        let _ = std::fs::remove_file(layout::index_path(&f.path));
        durable.retain(|r| !(r.0 == f.stream && r.1 == f.start_ms));
        if let Ok(catalogue) = self.disk.catalogue() {
            if let Err(e) = catalogue.remove(&[(f.stream.clone(), f.start_ms)]) {
                tracing::warn!(file = %f.rel, error = %e, "recording catalogue not updated");
            }
        }
        tracing::info!(stream = %f.rec.key, file = %f.rel, "recording file without a fragment removed");
    }
}

/// Writes `fragment` at the end of `f`, then its sidecar record.
fn append(f: &mut OpenFile, fragment: &Fragment, end_ms: u64) -> std::io::Result<()> {
    let parts: Vec<&[u8]> = fragment.fragment.parts().map(|b| b.as_ref()).collect();
    write_all_vectored(&mut f.mp4, &parts)?;
    let size = fragment.fragment.len() as u64;
    let entry = FragmentEntry {
        offset: f.len,
        size: u32::try_from(size).unwrap_or(u32::MAX),
        flags: if fragment.keyframe { KEYFRAME } else { 0 },
        time_ms: fragment.time_ms,
    };
    f.idx.write_all(&entry.encode())?;
    f.len += size;
    f.fragments += 1;
    f.end_ms = f.end_ms.max(end_ms);
    f.unsynced = true;
    Ok(())
}

fn write_all_vectored(file: &mut File, parts: &[&[u8]]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `ENOSPC`.
fn libc_enospc() -> i32 {
    rustix::io::Errno::NOSPC.raw_os_error()
}

/// ZLMediaKit's `on_record_mp4` body (without `mediaServerId`).
fn hook_body(f: &OpenFile) -> serde_json::Value {
    let file_name = f
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let folder = f
        .path
        .parent()
        .map(|p| format!("{}/", p.display()))
        .unwrap_or_default();
    json!({
        "app": f.rec.key.app, "stream": f.rec.key.stream, "vhost": VHOST,
        "file_name": file_name, "file_path": f.path.display().to_string(),
        "file_size": f.len, "folder": folder,
        "start_time": f.start_ms / 1000,
        "time_len": f.end_ms.saturating_sub(f.start_ms) as f64 / 1000.0,
        "url": format!("record/{}", f.rel),
    })
}
