//! The server session's deadlines (DESIGN.md rule 10: time is part of the
//! protocol contract). The session never reads a clock: every `now` comes
//! from the caller, and the last one seen stands in for calls that take
//! none ([`ServerSession::respond`]).

use std::time::Instant;

use super::{ServerEvent, ServerSession, ServerTimeouts, Timeout};
use crate::error::Error;

/// When each rule fires; `None` when it does not apply (or is disabled by a
/// duration too large to add to an `Instant`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Deadlines {
    /// Until a publish or play is accepted.
    handshake: Option<Instant>,
    /// The last media of the accepted publish (or the accept) plus the
    /// publisher-idle limit.
    publisher_idle: Option<Instant>,
}

impl Deadlines {
    pub(super) fn new(now: Instant, t: &ServerTimeouts) -> Self {
        Deadlines {
            handshake: now.checked_add(t.handshake),
            publisher_idle: None,
        }
    }

    pub(super) fn publish_accepted(&mut self, now: Instant, t: &ServerTimeouts) {
        self.handshake = None;
        self.publisher_idle = now.checked_add(t.publisher_idle);
    }

    pub(super) fn play_accepted(&mut self) {
        self.handshake = None;
    }

    /// An audio or video message of the accepted publish.
    pub(super) fn media(&mut self, now: Instant, t: &ServerTimeouts) {
        self.publisher_idle = now.checked_add(t.publisher_idle);
    }

    /// The accepted publish or play ended and nothing else is active: the
    /// connection must start another within the handshake limit.
    pub(super) fn idle_again(&mut self, now: Instant, t: &ServerTimeouts) {
        self.publisher_idle = None;
        self.handshake = now.checked_add(t.handshake);
    }

    /// The earliest deadline and its rule.
    fn next(&self) -> Option<(Instant, Timeout)> {
        let h = self.handshake.map(|d| (d, Timeout::Handshake));
        let p = self.publisher_idle.map(|d| (d, Timeout::PublisherIdle));
        match (h, p) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

impl ServerSession {
    /// The next deadline: call [`handle_timeout`](Self::handle_timeout) when
    /// it is reached. `None` when no rule applies (an accepted play: the
    /// server's write stall bounds players) or once the session is closed.
    ///
    /// Deadlines ([`ServerTimeouts`]): until a publish or play is accepted,
    /// `handshake` from the session's creation (or from the end of the last
    /// accepted publish or play); during an accepted publish,
    /// `publisher_idle` from its last audio or video message (or from the
    /// accept, measured from the last `now` given before
    /// [`respond`](Self::respond)).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        self.deadlines.next().map(|(at, _)| at)
    }

    /// Tells the session the time is `now`. If a deadline has passed
    /// (`now >= deadline`), the session closes: it queues
    /// [`ServerEvent::TimedOut`], [`is_closed`](Self::is_closed) becomes
    /// true, [`poll_timeout`](Self::poll_timeout) returns `None` and later
    /// input returns [`Error::TimedOut`]. Calling it early, or more than
    /// once, is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        if self.closed {
            return;
        }
        if let Some((at, what)) = self.deadlines.next() {
            if self.last_now >= at {
                self.events.push_back(ServerEvent::TimedOut { what });
                self.fail(Error::TimedOut(what));
            }
        }
    }
}
