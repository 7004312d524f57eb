//! The publisher guard: the single owner of a stream's "published" state (DESIGN rule 1).
//!
//! Every path that ends a publishing session (normal end, error, panic unwinding, task
//! cancellation) drops the guard, and `Drop` releases the stream to `Lingering`. A publisher
//! that was taken over or closed holds a stale generation number, so its later `Drop` (and
//! `push`) cannot touch the new owner's stream.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::registry::HubInner;
use crate::stream::StreamShared;
use crate::{Frame, PushError, StreamKey, Track};

/// Why the server wants a publisher gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Another publisher took the stream over (kick policy, or this one was stale).
    TakenOver,
    /// [`crate::Hub::close_stream`].
    Closed,
    /// [`crate::Hub::shutdown`].
    Shutdown,
    /// Nobody watched for `stream_none_reader_delay` and `close_on_no_reader` is set.
    NoReader,
    /// The publisher changed its tracks more than [`MAX_TRACK_CHANGES`] times within
    /// [`TRACK_CHANGE_WINDOW`].
    TrackChanges,
    /// The session refused what the publisher sent ([`Publisher::refuse`]), e.g. a codec
    /// configuration over the limits.
    Refused,
}

impl CloseReason {
    /// "taken-over", "closed", "shutdown", "no-reader", "track-changes" or "refused".
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::TakenOver => "taken-over",
            CloseReason::Closed => "closed",
            CloseReason::Shutdown => "shutdown",
            CloseReason::NoReader => "no-reader",
            CloseReason::TrackChanges => "track-changes",
            CloseReason::Refused => "refused",
        }
    }
}

/// Most track changes (an announcement that differs from the current tracks, the first
/// ones included) a publisher may make within [`TRACK_CHANGE_WINDOW`]; the next one closes
/// it with [`CloseReason::TrackChanges`]. Every change clears the GOP cache and sends every
/// subscriber new tracks (players re-send sequence headers, RTSP players have a stale SDP),
/// so a publisher flipping its configuration would make work for every player. Six leaves
/// room for the start (video, then audio: two changes) and a few genuine changes (an
/// encoder restarting with a new resolution) while stopping a flood.
pub const MAX_TRACK_CHANGES: usize = 6;
/// The window over which [`MAX_TRACK_CHANGES`] counts (sliding).
pub const TRACK_CHANGE_WINDOW: Duration = Duration::from_secs(10);

/// The times of a publisher's latest track changes (at most [`MAX_TRACK_CHANGES`]).
#[derive(Debug, Default)]
pub(crate) struct TrackChangeBudget {
    recent: VecDeque<Instant>,
}

impl TrackChangeBudget {
    /// Records a change at `now`; false (nothing recorded) when it is over the budget.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        while let Some(&t) = self.recent.front() {
            if now.saturating_duration_since(t) >= TRACK_CHANGE_WINDOW {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() >= MAX_TRACK_CHANGES {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the stream keeps to tell a publisher to stop.
#[derive(Debug)]
pub(crate) struct PubShared {
    close: watch::Sender<Option<CloseReason>>,
}

impl PubShared {
    pub(crate) fn new() -> PubShared {
        PubShared {
            close: watch::Sender::new(None),
        }
    }

    /// Tells the publisher to stop; the first reason wins.
    pub(crate) fn close(&self, reason: CloseReason) {
        self.close.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        });
    }

    pub(crate) fn reason(&self) -> Option<CloseReason> {
        *self.close.borrow()
    }
}

/// The ownership guard returned by [`crate::Hub::publish`]. `Send`, not `Clone`.
#[derive(Debug)]
pub struct Publisher {
    pub(crate) key: StreamKey,
    pub(crate) generation: u64,
    pub(crate) resumed: bool,
    pub(crate) shared: Arc<PubShared>,
    pub(crate) stream: Arc<StreamShared>,
    pub(crate) hub: Arc<HubInner>,
}

impl Publisher {
    /// The stream.
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// Announces (or changes) the tracks. Subscribers get `SubscriberEvent::Tracks` when
    /// they differ from the current ones. Ignored once this publisher has lost the stream
    /// or was told to stop. A change beyond [`MAX_TRACK_CHANGES`] within
    /// [`TRACK_CHANGE_WINDOW`] is not applied: the publisher is told to stop
    /// ([`Publisher::closed`] resolves with [`CloseReason::TrackChanges`]).
    pub fn set_tracks(&mut self, tracks: Vec<Track>) {
        self.hub.set_tracks(self, tracks);
    }

    /// Hands a frame to every subscriber. Never blocks on subscribers and never awaits: the
    /// critical section is the GOP cache and one bounded queue operation per subscriber.
    ///
    /// The frame must name a track announced with [`Publisher::set_tracks`]. Its timestamps
    /// are rebased onto the stream's timeline (see [`crate::media`]); video before this
    /// publisher's first keyframe is discarded, since nobody could decode it.
    pub fn push(&mut self, frame: Frame) -> Result<(), PushError> {
        self.hub.push(self, frame)
    }

    /// Resolves when the server wants this publisher gone (taken over, closed by the API,
    /// shutdown, no reader). Cancel-safe; may be awaited repeatedly.
    pub async fn closed(&self) -> CloseReason {
        let mut rx = self.shared.close.subscribe();
        let reason = rx.wait_for(Option::is_some).await.map(|r| *r);
        match reason {
            Ok(r) => r.unwrap_or(CloseReason::Closed),
            // Unreachable while `self` holds the sender; treat as closed rather than panic.
            Err(_) => CloseReason::Closed,
        }
    }

    /// Tells this publisher to stop because its session refused what it sent (a codec
    /// configuration over the limits, say): [`Publisher::closed`] resolves with
    /// [`CloseReason::Refused`]; the stream is released when the guard drops, as on
    /// any end. The caller logs why.
    pub fn refuse(&self) {
        self.shared.close(CloseReason::Refused);
    }

    /// True when this publish resumed a lingering stream or took over a live one.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// True while this publisher owns the stream (not taken over, closed or shut down).
    pub fn is_active(&self) -> bool {
        self.hub.is_owner(self)
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.hub.release(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_close_reason_wins() {
        let s = PubShared::new();
        assert_eq!(s.reason(), None);
        s.close(CloseReason::TakenOver);
        s.close(CloseReason::Shutdown);
        assert_eq!(s.reason(), Some(CloseReason::TakenOver));
        assert_eq!(CloseReason::NoReader.to_string(), "no-reader");
    }
}
