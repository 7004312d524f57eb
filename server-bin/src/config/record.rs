//! `[record]`: which streams are recorded to disk, how the files are cut,
//! how long they are kept, and the bounds of playback.

use serde::{Deserialize, Serialize};

/// `[record]`: streams recorded to fragmented MP4 under `dir`
/// (`dir/app/stream/YYYY-MM-DD/HH-MM-SS.mp4`, UTC), played back through
/// `/api/v1/recordings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordConfig {
    /// Root directory of the recordings and their catalogue, created when
    /// first needed; relative to the working directory.
    pub dir: String,
    /// Streams recorded from their publish: `"app/stream"`, `"app/*"`, or
    /// `"~regex"` matched against `"app/stream"`. Others are recorded when
    /// the `on_publish` answer says `enable_mp4` or the API starts them.
    pub streams: Vec<String>,
    /// A new file after this long (at the next keyframe); ZLMediaKit's
    /// `fileSecond`.
    pub segment_secs: u64,
    /// Fragments are written (and synced) at most this far apart: what a
    /// crash or a power loss can cost.
    pub fragment_ms: u64,
    /// Files older than this many days are deleted; 0: kept.
    pub max_age_days: u64,
    /// The oldest files are deleted while all recordings take more; 0: no cap.
    pub max_bytes: u64,
    /// Below this much free space on the file system of `dir`, recording
    /// stops as for a full disk; it resumes when there is this much again.
    pub min_free_bytes: u64,
    /// How often a suspended recording checks whether space returned.
    pub resume_check_secs: u64,
    /// Bytes of fragments waiting for the disk at most; beyond, fragments
    /// are dropped (counted) and the recording skips to the next keyframe.
    pub queue_bytes: u64,
    /// Threads writing recordings (each stream always on the same one).
    pub writer_threads: usize,
    /// Playback downloads (`…/get`) served at once at most.
    pub max_gets: usize,
    /// Playback downloads at once from one client address at most.
    pub max_gets_per_ip: usize,
    /// Recorded ranges replayed as live streams at once at most.
    pub max_replays: usize,
}

impl Default for RecordConfig {
    fn default() -> Self {
        Self {
            dir: "record".into(),
            streams: Vec::new(),
            segment_secs: 3600,
            fragment_ms: 1000,
            max_age_days: 0,
            max_bytes: 0,
            min_free_bytes: 64 << 20,
            resume_check_secs: 5,
            queue_bytes: 64 << 20,
            writer_threads: 2,
            max_gets: 64,
            max_gets_per_ip: 8,
            max_replays: 16,
        }
    }
}

impl super::Config {
    /// Checks `[record]`: the key that failed and why.
    pub(super) fn validate_record(&self) -> Result<(), (String, String)> {
        let r = &self.record;
        for (key, v, min, max) in [
            ("record.segment_secs", r.segment_secs, 1, 24 * 3600),
            ("record.fragment_ms", r.fragment_ms, 100, 60_000),
            ("record.resume_check_secs", r.resume_check_secs, 1, 3600),
            ("record.queue_bytes", r.queue_bytes, 1 << 20, 1 << 34),
            ("record.writer_threads", r.writer_threads as u64, 1, 64),
            (
                "record.max_gets_per_ip",
                r.max_gets_per_ip as u64,
                1,
                u64::MAX,
            ),
        ] {
            if !(min..=max).contains(&v) {
                return Err((key.into(), format!("must be between {min} and {max}")));
            }
        }
        if r.dir.is_empty() {
            return Err(("record.dir".into(), "must not be empty".into()));
        }
        for pattern in &r.streams {
            if let Err(why) = crate::record::layout::StreamPattern::parse(pattern) {
                return Err(("record.streams".into(), format!("{pattern:?}: {why}")));
            }
        }
        Ok(())
    }
}
