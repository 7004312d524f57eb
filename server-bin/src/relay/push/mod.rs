//! Push relays: local streams forwarded to RTMP or RTSP targets
//! (`[[push]]`, `/api/v1/pushes`, ZLMediaKit's `addStreamPusherProxy`).
//!
//! Each push gets one supervisor task on a media worker ([`supervise`]):
//! wait until the source stream is live (the hub's `Published` events, no
//! polling), dial the target within `relay.connect_secs`, run the target's
//! client session on the generic [drive loop](crate::drive) (`rtmp`:
//! rtmp-proto's `ClientSession` publishing, `rtsp`: rtsp-proto's
//! `ClientSession` with ANNOUNCE/RECORD, RTP interleaved), and when it ends,
//! back off (jittered, capped, [`super::backoff`]) and try again; when the
//! source ends, wait for it again. Each target reads the stream as an
//! ordinary hub subscriber (`queue.rs`): its own bounded queue that skips to
//! the next keyframe when full, so a slow or dead target never slows the
//! stream or its players; a target that accepts nothing for
//! `server.write_stall_ms` is closed by the drive loop and reconnected.

mod queue;
mod registry;
mod rtmp;
mod rtsp;
mod supervisor;

pub use registry::{PushError, Pushes};
pub use supervisor::supervise;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use stream_core::StreamKey;

use super::{Origin, PullUrl};
use crate::session::lock;

/// ZLMediaKit's vhost, part of its pusher keys.
pub const VHOST: &str = "__defaultVhost__";

/// Where a push is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PushState {
    /// The source stream is not live: nothing to forward.
    WaitingForSource,
    /// Dialling, handshaking or waiting for the target to accept the publish.
    Connecting,
    /// Media flows to the target.
    Live,
    /// Waiting before the next attempt.
    Backoff,
    /// Ended (removed, or shutdown).
    Stopped,
}

impl PushState {
    /// The name the API and `/metrics` show.
    pub fn name(self) -> &'static str {
        match self {
            PushState::WaitingForSource => "waiting-for-source",
            PushState::Connecting => "connecting",
            PushState::Live => "live",
            PushState::Backoff => "backoff",
            PushState::Stopped => "stopped",
        }
    }
}

/// A push's figures, as the API shows them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushStatus {
    /// Declared in the configuration file or added through the API.
    pub origin: Origin,
    /// The push's id: the MD5 of the target URL, in hex (ZLMediaKit's too).
    pub id: String,
    /// ZLMediaKit's key: `rtmp/__defaultVhost__/app/stream/{id}`.
    pub key: String,
    /// The source, `app/stream`.
    pub stream: String,
    /// The target, without credentials or query.
    pub url: String,
    /// Current state.
    pub state: PushState,
    /// Attempts so far.
    pub attempts: u64,
    /// How the last attempt ended, if one did.
    pub last_error: Option<String>,
    /// Since when the push is in its state (ms since the Unix epoch).
    pub since_ms: u64,
}

/// The id of a push to `url`: MD5 of the URL as given, in hex, as
/// ZLMediaKit's pusher keys end.
pub fn push_id(url: &str) -> String {
    use md5::{Digest, Md5};
    Md5::digest(url.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One push and its live state.
#[derive(Debug)]
pub struct Push {
    /// The source stream.
    pub key: StreamKey,
    /// The target.
    pub url: PullUrl,
    /// [`push_id`] of the target.
    pub id: String,
    attempts: AtomicU64,
    /// State, since, last error, live since.
    state: Mutex<(
        PushState,
        SystemTime,
        Option<String>,
        Option<tokio::time::Instant>,
    )>,
}

impl Push {
    /// A push that has not started.
    pub fn new(key: StreamKey, url: PullUrl) -> Push {
        Push {
            id: push_id(&url.raw),
            key,
            url,
            attempts: AtomicU64::new(0),
            state: Mutex::new((PushState::WaitingForSource, SystemTime::now(), None, None)),
        }
    }

    /// The figures for the API.
    pub fn status(&self, origin: Origin) -> PushStatus {
        let (state, since, last_error, _) = lock(&self.state).clone();
        PushStatus {
            origin,
            key: format!("rtmp/{VHOST}/{}/{}", self.key, self.id),
            id: self.id.clone(),
            stream: self.key.to_string(),
            url: self.url.to_string(),
            state,
            attempts: self.attempts.load(Ordering::Relaxed),
            last_error,
            since_ms: super::unix_ms(since),
        }
    }

    /// The current state.
    pub fn state(&self) -> PushState {
        lock(&self.state).0
    }

    fn set(&self, state: PushState) {
        let mut s = lock(&self.state);
        if s.0 != state {
            s.0 = state;
            s.1 = SystemTime::now();
        }
    }

    fn attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let mut s = lock(&self.state);
        *s = (PushState::Connecting, SystemTime::now(), s.2.take(), None);
    }

    /// The target accepted the publish: media flows.
    fn went_live(&self) {
        let mut s = lock(&self.state);
        s.0 = PushState::Live;
        s.1 = SystemTime::now();
        s.3 = Some(tokio::time::Instant::now());
    }

    /// Records how an attempt ended in `state`; returns how long it was live.
    fn ended(&self, state: PushState, why: String) -> Option<std::time::Duration> {
        let mut s = lock(&self.state);
        s.0 = state;
        s.1 = SystemTime::now();
        s.2 = Some(why);
        s.3.take().map(|t| t.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_md5_of_the_url_as_zlmediakit_keys_end() {
        // MD5("") and MD5("abc"), RFC 1321's test suite.
        assert_eq!(push_id(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(push_id("abc"), "900150983cd24fb0d6963f7d28e17f72");
        let p = Push::new(
            StreamKey::new("live", "cam"),
            PullUrl::parse("rtmp://u:p@cdn.example/live/cam?key=s").unwrap(),
        );
        let s = p.status(Origin::Api);
        assert_eq!(
            s.key,
            format!(
                "rtmp/__defaultVhost__/live/cam/{}",
                push_id("rtmp://u:p@cdn.example/live/cam?key=s")
            )
        );
        assert_eq!(s.url, "rtmp://cdn.example:1935/live/cam");
        assert_eq!(s.state, PushState::WaitingForSource);
    }
}
