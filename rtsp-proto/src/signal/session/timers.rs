//! Time in the contract of [`ServerSession`]: which deadline holds in which state, what
//! moves it, and what happens when it passes.
//!
//! One deadline holds at a time ([`ServerSession::poll_timeout`]):
//!
//! | phase | deadline | moved by |
//! |---|---|---|
//! | handshake: until a PLAY or RECORD is answered 2xx | creation + [`SessionConfig::handshake_timeout`] | nothing |
//! | recording | last RTP + [`SessionConfig::record_idle_timeout`] | interleaved RTP on a set-up RTP channel, [`ServerSession::note_media`] |
//! | otherwise (playing, paused, torn down) | last activity + [`SessionConfig::session_timeout_secs`] | any request, response or interleaved frame from the peer, [`ServerSession::note_activity`] |
//!
//! The record-idle clock starts when RECORD is answered 2xx; [`ServerSession::respond`]
//! takes no instant, so it starts at the latest instant any call told the session.
//! Every call that takes an instant applies the deadline first: input arriving after it
//! does not revive the session.

use std::fmt;
use std::time::{Duration, Instant};

#[cfg(doc)]
use super::SessionConfig;
use super::{Event, ServerSession, SessionState};

/// Which deadline closed a session ([`Event::TimedOut`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// No PLAY or RECORD answered 2xx within [`SessionConfig::handshake_timeout`].
    Handshake,
    /// A recording session received no RTP for [`SessionConfig::record_idle_timeout`].
    PublisherIdle,
    /// No activity for [`SessionConfig::session_timeout_secs`] (players, paused sessions).
    Session,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Timeout::Handshake => "handshake",
            Timeout::PublisherIdle => "publisher keep-alive",
            Timeout::Session => "session timeout",
        })
    }
}

impl ServerSession {
    /// When the current state's deadline passes (see the table in this module's source,
    /// `timers.rs`): the handshake deadline before PLAY or RECORD is answered, the
    /// record-idle deadline while recording, the session timeout otherwise. `None` once
    /// the session is closed (or if the deadline is too far to represent). The caller
    /// calls [`handle_timeout`](Self::handle_timeout) when it passes.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.current_deadline().map(|(at, _)| at)
    }

    /// Tells the session the time is `now`: when `now` is at or past
    /// [`poll_timeout`](Self::poll_timeout), the session closes and queues
    /// [`Event::TimedOut`]; later input returns
    /// [`SessionError::Closed`](crate::signal::SessionError::Closed).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        if let Some((at, what)) = self.current_deadline() {
            if now >= at {
                self.closed = true;
                self.events.push_back(Event::TimedOut { what });
            }
        }
    }

    /// Records activity at `now` that keeps the session timeout (e.g. media written to a
    /// player, RTCP over UDP). Requests and interleaved data count by themselves. Applies
    /// a passed deadline first, as [`handle_timeout`](Self::handle_timeout).
    pub fn note_activity(&mut self, now: Instant) {
        self.handle_timeout(now);
        if !self.closed {
            self.note_peer_unit(now);
        }
    }

    /// Records RTP received at `now` on a recorded track outside the connection (over
    /// UDP); keeps a recording session's record-idle deadline. Interleaved RTP counts by
    /// itself. Applies a passed deadline first, as [`handle_timeout`](Self::handle_timeout).
    pub fn note_media(&mut self, now: Instant) {
        self.handle_timeout(now);
        if !self.closed {
            self.note_rtp(now);
        }
    }

    /// A complete request, response or interleaved frame came from the peer.
    pub(super) fn note_peer_unit(&mut self, now: Instant) {
        self.last_activity = self.last_activity.max(now);
    }

    /// RTP came on a set-up RTP channel.
    pub(super) fn note_rtp(&mut self, now: Instant) {
        self.last_media = self.last_media.max(now);
    }

    fn current_deadline(&self) -> Option<(Instant, Timeout)> {
        if self.closed {
            return None;
        }
        let (from, after, what) = if !self.started {
            (
                self.created,
                self.config.handshake_timeout,
                Timeout::Handshake,
            )
        } else if self.state == SessionState::Recording {
            (
                self.last_media,
                self.config.record_idle_timeout,
                Timeout::PublisherIdle,
            )
        } else {
            (
                self.last_activity,
                Duration::from_secs(u64::from(self.config.session_timeout_secs)),
                Timeout::Session,
            )
        };
        Some((from.checked_add(after)?, what))
    }
}
