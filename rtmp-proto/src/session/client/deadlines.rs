//! The client session's deadlines: the server's answers, media while
//! playing, acknowledgements while publishing. The session never reads a
//! clock; every `now` comes from the caller.

use std::time::Instant;

use super::{ClientEvent, ClientSession, ClientTimeout, ClientTimeouts, Phase};
use crate::error::Error;

/// Since when we wait for an Acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AckWait {
    /// The window is not exceeded (or nothing is watched).
    No,
    /// Bytes left through `poll_transmit` (which takes no `now`) and
    /// exceeded the window: the clock starts at the next `handle_timeout`,
    /// which `poll_timeout` asks for at once.
    Unstamped,
    /// Exceeded since then.
    Since(Instant),
}

/// The server's acknowledgements of what we sent (RTMP spec 5.4.3, 5.4.4).
#[derive(Debug, Clone, Copy)]
struct AckWatch {
    /// The server's Window Acknowledgement Size.
    window: Option<u32>,
    /// Bytes taken by `poll_transmit`, handshake included (as the server
    /// counts them).
    sent: u64,
    /// Bytes the server acknowledged.
    acked: u64,
    /// Watching (publishing).
    active: bool,
    wait: AckWait,
}

impl AckWatch {
    fn exceeded(&self) -> bool {
        match self.window {
            Some(w) => self.sent - self.acked > u64::from(w),
            None => false,
        }
    }

    /// Starts the clock if the window is exceeded and it is not running.
    fn check(&mut self) {
        if self.active && self.wait == AckWait::No && self.exceeded() {
            self.wait = AckWait::Unstamped;
        }
    }

    /// The window was exceeded or not, as of `now`.
    fn restart(&mut self, now: Instant) {
        self.wait = if self.active && self.exceeded() {
            AckWait::Since(now)
        } else {
            AckWait::No
        };
    }
}

/// When each rule fires; `None` when it does not apply (or is disabled by a
/// duration too large to add to an `Instant`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Deadlines {
    timeouts: ClientTimeouts,
    /// Until publishing or playing.
    response: Option<Instant>,
    /// The last media received while playing, plus the limit.
    media_idle: Option<Instant>,
    acks: AckWatch,
}

impl Deadlines {
    pub(super) fn new(now: Instant, timeouts: ClientTimeouts) -> Self {
        Deadlines {
            timeouts,
            response: now.checked_add(timeouts.response),
            media_idle: None,
            acks: AckWatch {
                window: None,
                sent: 0,
                acked: 0,
                active: false,
                wait: AckWait::No,
            },
        }
    }

    /// NetStream.Play.Start, or a media message while playing.
    pub(super) fn media(&mut self, now: Instant) {
        self.response = None;
        self.media_idle = now.checked_add(self.timeouts.media_idle);
    }

    /// NetStream.Publish.Start.
    pub(super) fn publishing(&mut self, now: Instant) {
        self.response = None;
        self.acks.active = true;
        self.acks.restart(now);
    }

    /// Bytes left through `poll_transmit`.
    pub(super) fn sent(&mut self, n: usize) {
        self.acks.sent = self.acks.sent.saturating_add(n as u64);
        self.acks.check();
    }

    /// The server's Window Acknowledgement Size.
    pub(super) fn window(&mut self, size: u32) {
        self.acks.window = (size > 0).then_some(size);
        if !self.acks.exceeded() {
            self.acks.wait = AckWait::No;
        }
        self.acks.check();
    }

    /// An Acknowledgement from the server at `now`: `sequence` is the count
    /// of bytes it received, modulo 2^32.
    pub(super) fn acknowledged(&mut self, sequence: u32, now: Instant) {
        let a = &mut self.acks;
        let behind = u64::from((a.sent as u32).wrapping_sub(sequence)).min(a.sent);
        a.acked = a.acked.max(a.sent - behind);
        a.restart(now);
    }

    /// The earliest deadline and its rule. An unstamped acknowledgement
    /// wait reports `asap` (a time already reached).
    fn next(&self, asap: Instant) -> Option<(Instant, ClientTimeout)> {
        let ack = match self.acks.wait {
            AckWait::No => None,
            AckWait::Unstamped => Some(asap),
            AckWait::Since(t) => t.checked_add(self.timeouts.ack),
        };
        [
            (self.response, ClientTimeout::Response),
            (self.media_idle, ClientTimeout::MediaIdle),
            (ack, ClientTimeout::Acknowledgement),
        ]
        .into_iter()
        .filter_map(|(at, what)| Some((at?, what)))
        .min_by_key(|&(at, _)| at)
    }
}

impl ClientSession {
    /// Whether the acknowledgement deadline is enabled (see
    /// [`ClientTimeouts::ack`]).
    pub(super) fn watches_acks(&self) -> bool {
        self.last_now
            .checked_add(self.config.timeouts.ack)
            .is_some()
    }

    /// The next deadline: call [`handle_timeout`](Self::handle_timeout) when
    /// it is reached. `None` once the session is closed. It may be a time
    /// already passed (after [`poll_transmit`](Self::poll_transmit) let the
    /// acknowledgement window fill, the session needs a `now` to start that
    /// clock): then call `handle_timeout` at once.
    ///
    /// The rules are [`ClientTimeouts`]: `response` from creation until
    /// publishing or playing, `media_idle` while playing, `ack` while
    /// publishing.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        self.deadlines.next(self.last_now).map(|(at, _)| at)
    }

    /// Tells the session the time is `now`. If a deadline has passed
    /// (`now >= deadline`), the session closes: it queues
    /// [`ClientEvent::TimedOut`], [`is_closed`](Self::is_closed) becomes
    /// true, [`poll_timeout`](Self::poll_timeout) returns `None` and later
    /// input returns [`Error::ClientTimedOut`]. Calling it early, or more
    /// than once, is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        if self.is_closed() {
            return;
        }
        if self.deadlines.acks.wait == AckWait::Unstamped {
            self.deadlines.acks.wait = AckWait::Since(self.last_now);
        }
        if let Some((at, what)) = self.deadlines.next(self.last_now) {
            if self.last_now >= at {
                self.events.push_back(ClientEvent::TimedOut { what });
                self.phase = Phase::Closed;
                self.failed = Some(Error::ClientTimedOut(what));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgement_sequences_wrap_at_32_bits() {
        let now = Instant::now();
        let mut d = Deadlines::new(now, ClientTimeouts::default());
        d.publishing(now);
        d.window(1000);
        d.sent((u32::MAX as usize) + 500);
        assert_eq!(d.acks.wait, AckWait::Unstamped);
        // The server received all but 100 bytes: 2^32 + 399, sent as 399.
        d.acknowledged(399, now);
        assert_eq!(d.acks.acked, u64::from(u32::MAX) + 400);
        assert_eq!(d.acks.wait, AckWait::No);
        // A sequence from the future (more than we sent) is clamped.
        d.acknowledged(10_000, now);
        assert!(d.acks.acked <= d.acks.sent);
    }
}
