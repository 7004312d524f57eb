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
pub mod index;
pub mod layout;

use serde::Serialize;
use stream_core::StreamKey;

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
    /// A cap was reached (`what` names it).
    #[error("too many {what}")]
    Busy {
        /// The cap.
        what: &'static str,
    },
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
