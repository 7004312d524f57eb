//! Time in the contract of [`ClientSession`]: which deadline holds when, and what
//! happens when it passes.
//!
//! | when | deadline | then |
//! |---|---|---|
//! | a request is in flight | sent + [`ClientTimeouts::response`] | [`ClientTimeout::Response`], closed |
//! | playing or recording, nothing in flight | last request + half the session timeout | keep-alive sent (GET_PARAMETER if the server's `Public` lists it, else OPTIONS) |
//! | playing | last RTP (interleaved, or [`ClientSession::note_media`]) + [`ClientTimeouts::media_idle`] | [`ClientTimeout::MediaIdle`], TEARDOWN sent, closed; with [`ClientTransport::Auto`] over UDP, the first time: fall back to TCP |
//!
//! The session timeout is the `Session` header's `timeout=` or [`ClientTimeouts::keep_alive`].
//! The earliest deadline is the one [`ClientSession::poll_timeout`] reports. Every call
//! that takes an instant applies a passed deadline first.

use std::fmt;
use std::time::Instant;

use super::{ClientEvent, ClientSession, ClientState, Kind};
#[cfg(doc)]
use super::{ClientTimeouts, ClientTransport};
use crate::signal::message::{Method, Request};

/// Which deadline ended a session ([`ClientEvent::TimedOut`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientTimeout {
    /// A request got no answer in time.
    Response {
        /// Its method.
        method: Method,
    },
    /// Playing, and no media came in time.
    MediaIdle,
}

impl fmt::Display for ClientTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientTimeout::Response { method } => write!(f, "no answer to {method}"),
            ClientTimeout::MediaIdle => f.write_str("no media"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deadline {
    Response,
    KeepAlive,
    MediaIdle,
}

impl ClientSession {
    /// The earliest deadline (see the table in `timers.rs`); `None` once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline().map(|(at, _)| at)
    }

    /// Tells the session the time is `now`: sends a keep-alive that is due, or ends the
    /// session with [`ClientEvent::TimedOut`] when a response or media deadline passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        // A keep-alive sent moves its deadline past `now`, so this runs at most twice.
        for _ in 0..3 {
            match self.next_deadline() {
                Some((at, what)) if now >= at => self.on_deadline(what, now),
                _ => return,
            }
        }
    }

    fn on_deadline(&mut self, what: Deadline, now: Instant) {
        match what {
            Deadline::Response => {
                let method = self
                    .in_flight
                    .as_ref()
                    .map_or(Method::Options, |f| f.request.method.clone());
                self.finish(ClientEvent::TimedOut {
                    what: ClientTimeout::Response { method },
                });
            }
            Deadline::KeepAlive => {
                let method = if self.get_parameter {
                    Method::GetParameter
                } else {
                    Method::Options
                };
                let uri = self.aggregate.clone();
                self.send(Kind::KeepAlive, Request::new(method, uri), now);
            }
            Deadline::MediaIdle if self.is_auto_udp() && !self.fell_back => {
                self.fallback_to_tcp(now);
            }
            Deadline::MediaIdle => {
                if self.session_id.is_some() {
                    // Best effort: the caller closes the connection after sending it.
                    self.send_teardown(now);
                }
                self.finish(ClientEvent::TimedOut {
                    what: ClientTimeout::MediaIdle,
                });
            }
        }
    }

    fn is_auto_udp(&self) -> bool {
        !self.use_tcp && matches!(self.config.transport, super::ClientTransport::Auto { .. })
    }

    fn next_deadline(&self) -> Option<(Instant, Deadline)> {
        if self.state == ClientState::Closed {
            return None;
        }
        let t = &self.config.timeouts;
        let mut best: Option<(Instant, Deadline)> = None;
        let mut consider = |at: Option<Instant>, what| {
            if let Some(at) = at {
                if best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, what));
                }
            }
        };
        match &self.in_flight {
            Some(f) => consider(f.sent.checked_add(t.response), Deadline::Response),
            None if matches!(self.state, ClientState::Playing | ClientState::Recording) => {
                consider(
                    self.last_request.checked_add(self.session_timeout / 2),
                    Deadline::KeepAlive,
                );
            }
            None => {}
        }
        if self.state == ClientState::Playing {
            consider(
                self.last_media.checked_add(t.media_idle),
                Deadline::MediaIdle,
            );
        }
        best
    }
}
