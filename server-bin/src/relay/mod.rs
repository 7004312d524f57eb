//! Relays: streams pulled from upstream servers into ordinary local
//! streams, playable over every protocol strom serves.
//!
//! Each `[[proxy]]` gets one supervisor task on a media worker
//! ([`supervise`]): dial with a deadline, run the pull on the generic
//! [drive loop](crate::drive) (`rtmp_pull`, `rtsp_pull`: rtmp-proto's and
//! rtsp-proto's client sessions as more adapters; `http_flv` and `hls_pull`
//! drive hyper's client inside the pull), and when it ends, wait a jittered, capped,
//! exponential backoff ([`backoff`]) and try again, until shutdown. One
//! upstream per stream, however many players; players stay attached through
//! an upstream reconnect within `stream.continue_push_ms` (the hub's resume
//! path keeps their timestamps monotonic). Every pull is a session in
//! `/api/v1/sessions`; each proxy's state is in [`Relays::list`].

pub mod backoff;
mod dial;
mod hls_pull;
mod http_flv;
mod launch;
pub mod push;
mod registry;
mod rtmp_pull;
mod rtsp_pull;
pub mod store;
mod supervisor;
mod url;

pub use registry::{AddError, Origin, Relays};

pub use dial::{Dial, Dialed, TcpDial};
pub use url::{PullUrl, Scheme, UrlError};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use stream_core::StreamKey;

use crate::session::lock;

/// Where a proxy is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Dialling, handshaking or waiting for the upstream's play to start.
    Connecting,
    /// Media flows.
    Live,
    /// Waiting before the next attempt.
    Backoff,
    /// On demand, and no player asks: no upstream connection.
    Idle,
    /// Ended (shutdown).
    Stopped,
}

/// A proxy's figures, as the API shows them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    /// Declared in the configuration file or added through the API.
    pub origin: Origin,
    /// `app/stream`.
    pub key: String,
    /// The upstream, without its query.
    pub url: String,
    /// Current state.
    pub state: State,
    /// Attempts so far.
    pub attempts: u64,
    /// How the last attempt ended, if one did.
    pub last_error: Option<String>,
    /// Since when the proxy is in its state (ms since the Unix epoch).
    pub since_ms: u64,
}

/// One declared pull and its live state.
#[derive(Debug)]
pub struct Proxy {
    /// The local stream.
    pub key: StreamKey,
    /// The upstream; a cluster edge's moves with the stream's owner.
    url: Mutex<PullUrl>,
    /// A cluster edge: pulls from whichever node the directory names.
    pub edge: bool,
    /// The upstream moved: the attempt under way (or the wait before the
    /// next) gives way to one at the new address.
    moved: tokio::sync::Notify,
    /// Pulled only while players ask.
    pub on_demand: bool,
    /// How an RTSP upstream sends its media.
    pub rtsp_transport: crate::config::RtspTransport,
    demand: tokio::sync::Notify,
    attempts: AtomicU64,
    state: Mutex<(
        State,
        SystemTime,
        Option<String>,
        Option<tokio::time::Instant>,
    )>,
}

impl Proxy {
    /// A proxy that has not started.
    pub fn new(
        key: StreamKey,
        url: PullUrl,
        on_demand: bool,
        rtsp_transport: crate::config::RtspTransport,
    ) -> Proxy {
        Proxy {
            key,
            url: Mutex::new(url),
            edge: false,
            moved: tokio::sync::Notify::new(),
            on_demand,
            rtsp_transport,
            demand: tokio::sync::Notify::new(),
            attempts: AtomicU64::new(0),
            state: Mutex::new((State::Connecting, SystemTime::now(), None, None)),
        }
    }

    /// The figures for the API.
    pub fn status(&self, origin: Origin) -> Status {
        let (state, since, last_error, _) = lock(&self.state).clone();
        Status {
            origin,
            key: self.key.to_string(),
            url: self.url().to_string(),
            state,
            attempts: self.attempts.load(Ordering::Relaxed),
            last_error,
            since_ms: unix_ms(since),
        }
    }

    /// The upstream the next attempt dials.
    pub fn url(&self) -> PullUrl {
        lock(&self.url).clone()
    }

    /// Points the proxy at another upstream. With `now`, the attempt under
    /// way or the wait before the next ends, and the next attempt starts at
    /// once; otherwise the current upstream stays until it ends.
    pub fn move_to(&self, url: PullUrl, now: bool) {
        *lock(&self.url) = url;
        if now {
            self.moved.notify_one();
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        lock(&self.state).0
    }

    fn set(&self, state: State) {
        let mut s = lock(&self.state);
        s.0 = state;
        s.1 = SystemTime::now();
    }

    fn attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let mut s = lock(&self.state);
        *s = (State::Connecting, SystemTime::now(), s.2.take(), None);
    }

    /// A player asks for the stream (wakes an idle on-demand proxy).
    pub fn demand(&self) {
        self.demand.notify_one();
    }

    /// The upstream's media started flowing into the stream.
    pub(crate) fn went_live(&self) {
        let mut s = lock(&self.state);
        s.0 = State::Live;
        s.1 = SystemTime::now();
        s.3 = Some(tokio::time::Instant::now());
    }

    /// Records how an attempt ended; returns how long it was live.
    fn ended(&self, why: String) -> Option<std::time::Duration> {
        let mut s = lock(&self.state);
        s.0 = State::Backoff;
        s.1 = SystemTime::now();
        s.2 = Some(why);
        s.3.take().map(|t| t.elapsed())
    }
}

pub use supervisor::supervise;

/// A client of whole-body GETs with a deadline and a size limit (the HLS
/// pulls'), for other HTTP fetches from upstream nodes.
pub(crate) fn hls_fetcher(
    dial: &dyn Dial,
    timeout: std::time::Duration,
) -> hls_pull::fetch::Fetcher<'_> {
    hls_pull::fetch::Fetcher::fresh(dial, timeout)
}

/// `t` in ms since the Unix epoch (0 before it), as the API shows times.
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
