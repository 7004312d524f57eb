//! Admission: every connection is accepted at once, then counted against
//! caps per address and in total before it may cost more than a descriptor.
//!
//! A connection moves through at most three kinds of hold, each counted:
//!
//! - **pending**: accepted but not yet identified — in the RTMP handshake
//!   before `publish`/`play`, in RTSP before it names a stream, or while the
//!   HTTP listener classifies its request line. Pending connections have not
//!   said who they are, so their budgets are small (`server.max_pending_per_ip`)
//!   and their deadlines short.
//! - **session**: a media session (RTMP, RTSP, HTTP-FLV, HTTP-TS, HLS), from
//!   accept to close (`server.max_sessions`, `server.max_sessions_per_ip`).
//! - **control**: an HTTP connection served by the control plane (API,
//!   `/healthz`, `/metrics`), `http.max_connections` in total, of which
//!   `http.control_reserve` only `/healthz`, `/metrics` and trusted API
//!   callers may take.
//!
//! A [`Ticket`] holds those counts and releases them when dropped, on every
//! exit path. Over a cap the caller answers with its protocol's refusal
//! ([`refuse`]) and the refusal is counted by listener and [`Reason`].
//!
//! The defaults derive from the descriptor limit (raised to its hard limit at
//! start, [`fd::raise_nofile_limit`]), so that sessions, pending connections
//! and the control plane together cannot exhaust descriptors and
//! `server.fd_reserve` descriptors stay free for everything else.

mod counts;
pub mod fd;
mod limits;
pub mod refuse;
mod ticket;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::Config;
use crate::session::lock;
use counts::{add, check, Counts, Pending};
pub use limits::Limits;
use limits::PROCESS_BASELINE_FDS;
pub use ticket::{Eviction, Ticket};

/// Evicted pending connections not yet gone, at most (and at most
/// `max_pending`): how far the pending total may overshoot `max_pending`
/// while evictions take effect. The derived caps leave room for it.
const MAX_EVICTING: usize = 1024;

/// A newcomer holding this many pending connections or more does not evict
/// when the pending budget is full: two lets a client open its next
/// connection before its last is released, and stops an address from
/// evicting its way to more than its share.
const MAX_PENDING_TO_EVICT: usize = 2;

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `server.max_sessions` reached.
    MaxSessions,
    /// `server.max_sessions_per_ip` reached for the peer's address.
    MaxSessionsPerIp,
    /// `server.max_pending` reached.
    MaxPending,
    /// `server.max_pending_per_ip` reached for the peer's address.
    MaxPendingPerIp,
    /// `http.max_connections` (less the reserve, for unprivileged requests) reached.
    MaxControl,
    /// `http.max_connections_per_ip` reached for the peer's address.
    MaxControlPerIp,
    /// The process ran out of descriptors (`EMFILE`/`ENFILE`) at accept.
    FdExhausted,
    /// Not a refusal of the newcomer: a pending connection of the address
    /// holding the most was closed to make room for it (`server.max_pending`
    /// full).
    Evicted,
}

impl Reason {
    /// Every reason, for `/metrics`.
    pub const ALL: [Reason; 8] = [
        Reason::MaxSessions,
        Reason::MaxSessionsPerIp,
        Reason::MaxPending,
        Reason::MaxPendingPerIp,
        Reason::MaxControl,
        Reason::MaxControlPerIp,
        Reason::FdExhausted,
        Reason::Evicted,
    ];

    /// The label in `/metrics` and the log.
    pub fn name(self) -> &'static str {
        match self {
            Reason::MaxSessions => "max_sessions",
            Reason::MaxSessionsPerIp => "max_sessions_per_ip",
            Reason::MaxPending => "max_pending",
            Reason::MaxPendingPerIp => "max_pending_per_ip",
            Reason::MaxControl => "max_connections",
            Reason::MaxControlPerIp => "max_connections_per_ip",
            Reason::FdExhausted => "fd_exhausted",
            Reason::Evicted => "evicted",
        }
    }
}

/// The listeners whose refusals are counted apart.
pub const LISTENERS: [&str; 4] = ["rtmp", "rtsp", "http", "webrtc"];

/// The admission counters of the whole server (see the module docs).
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    counts: Mutex<Counts>,
    refused: [[AtomicU64; Reason::ALL.len()]; LISTENERS.len()],
}

/// A snapshot of the counters, for `/metrics` and `/healthz`.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// Media sessions held.
    pub sessions: usize,
    /// Connections not yet identified.
    pub pending: usize,
    /// Control-plane HTTP connections.
    pub control: usize,
    /// Peer addresses holding anything.
    pub addresses: usize,
}

impl Admission {
    /// Counters enforcing `limits`.
    pub fn new(limits: Limits) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            counts: Mutex::new(Counts::default()),
            refused: Default::default(),
        })
    }

    /// The caps in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Current usage.
    pub fn usage(&self) -> Usage {
        let c = lock(&self.counts);
        Usage {
            sessions: c.total.sessions,
            pending: c.total.pending,
            control: c.total.control,
            addresses: c.per_ip.len(),
        }
    }

    /// Refusals so far as `(listener, reason, count)`, every pair listed.
    pub fn refusals(&self) -> Vec<(&'static str, Reason, u64)> {
        let mut out = Vec::with_capacity(LISTENERS.len() * Reason::ALL.len());
        for (l, listener) in LISTENERS.iter().enumerate() {
            for (r, reason) in Reason::ALL.iter().enumerate() {
                out.push((
                    *listener,
                    *reason,
                    self.refused[l][r].load(Ordering::Relaxed),
                ));
            }
        }
        out
    }

    /// Counts a refusal that happened outside [`Admission`]'s own checks
    /// (descriptor exhaustion at accept).
    pub fn count_refusal(&self, listener: &'static str, reason: Reason) {
        let l = LISTENERS.iter().position(|x| *x == listener).unwrap_or(0);
        let r = Reason::ALL.iter().position(|x| *x == reason).unwrap_or(0);
        self.refused[l][r].fetch_add(1, Ordering::Relaxed);
    }

    /// A new media connection on `listener` (RTMP, RTSP): a session that is
    /// pending until it names its stream ([`Ticket::identified`]).
    pub fn admit_session(
        self: &Arc<Self>,
        listener: &'static str,
        ip: IpAddr,
    ) -> Result<Ticket, Reason> {
        self.admit(listener, ip, true)
    }

    /// A new HTTP connection whose request line is not read yet.
    pub fn admit_pending(
        self: &Arc<Self>,
        listener: &'static str,
        ip: IpAddr,
    ) -> Result<Ticket, Reason> {
        self.admit(listener, ip, false)
    }

    /// A new pending connection, also a session when `session`.
    fn admit(
        self: &Arc<Self>,
        listener: &'static str,
        ip: IpAddr,
        session: bool,
    ) -> Result<Ticket, Reason> {
        let ip = address_key(ip);
        let now = Instant::now();
        let mut c = lock(&self.counts);
        let session_room = match session {
            true => self.check_session(&c, ip),
            false => Ok(()),
        };
        session_room
            .and_then(|()| self.make_pending_room(&mut c, ip, now))
            .inspect_err(|r| {
                self.count_refusal(listener, *r);
                c.refused(ip, *r, now);
            })?;
        add(&mut c, ip, |h| {
            h.pending += 1;
            h.sessions += usize::from(session);
        });
        Ok(self.pending_ticket(&mut c, listener, ip, session))
    }

    fn pending_ticket(
        self: &Arc<Self>,
        c: &mut Counts,
        listener: &'static str,
        ip: IpAddr,
        session: bool,
    ) -> Ticket {
        c.next_id += 1;
        let id = c.next_id;
        let eviction = Arc::new(Eviction::default());
        c.order.entry(ip).or_default().push_back(Pending {
            id,
            listener,
            eviction: eviction.clone(),
        });
        Ticket {
            admission: self.clone(),
            ip,
            listener,
            session,
            control: false,
            pending: AtomicBool::new(true),
            id,
            eviction,
        }
    }

    /// Room for one more pending connection from `ip`. Over the total, a
    /// newcomer that is not flooding and holds at most one pending
    /// connection (a health probe, a new viewer, a player whose previous
    /// connection is still being released) evicts one pending connection of
    /// another address: the oldest of the flooding address holding the most
    /// (see [`Counts::refused`]), or, when no flooder holds any, the oldest
    /// pending connection of all, whose address then counts as flooding.
    /// A flooding address cannot evict, and each address evicts at most
    /// twice before it holds enough to be marked; addresses never proven
    /// (see [`Counts::mark_proven`]) share half of the eviction budget
    /// ([`MAX_EVICTING`]), so however many addresses a flood comes from, a
    /// known health probe or viewer gets in.
    fn make_pending_room(&self, c: &mut Counts, ip: IpAddr, now: Instant) -> Result<(), Reason> {
        let l = &self.limits;
        let mine = c.per_ip.get(&ip).map_or(0, |h| h.pending);
        if mine >= l.max_pending_per_ip {
            return Err(Reason::MaxPendingPerIp);
        }
        if c.total.pending - c.evicting < l.max_pending {
            return Ok(());
        }
        // Newcomers never seen may use half of the eviction budget: a
        // burst from thousands of fresh addresses cannot take the room a
        // known health probe or viewer needs while evictions take effect.
        let budget = l.max_pending.min(MAX_EVICTING);
        let budget = match c.is_proven(ip, now) {
            true => budget,
            false => budget.div_ceil(2),
        };
        if c.evicting >= budget {
            return Err(Reason::MaxPending);
        }
        if mine >= MAX_PENDING_TO_EVICT || c.is_flooding(ip, now) {
            return Err(Reason::MaxPending);
        }
        let Some(victim) = c.eviction_victim(ip, now) else {
            return Err(Reason::MaxPending);
        };
        let Some(evicted) = c.order.get_mut(&victim).and_then(|q| q.pop_front()) else {
            return Err(Reason::MaxPending);
        };
        if c.order.get(&victim).is_some_and(|q| q.is_empty()) {
            c.order.remove(&victim);
        }
        evicted.eviction.fire();
        c.evicting += 1;
        c.mark_flooding(victim, now);
        self.count_refusal(evicted.listener, Reason::Evicted);
        Ok(())
    }

    fn check_session(&self, c: &Counts, ip: IpAddr) -> Result<(), Reason> {
        let l = &self.limits;
        let (total, per_ip) = (
            (l.max_sessions, Reason::MaxSessions),
            (l.max_sessions_per_ip, Reason::MaxSessionsPerIp),
        );
        check(c, ip, |h| h.sessions, total, per_ip)
    }

    fn check_control(&self, c: &Counts, ip: IpAddr, privileged: bool) -> Result<(), Reason> {
        let l = &self.limits;
        let cap = if privileged {
            l.max_control
        } else {
            l.max_control - l.control_reserve
        };
        let (total, per_ip) = (
            (cap, Reason::MaxControl),
            (l.max_control_per_ip, Reason::MaxControlPerIp),
        );
        check(c, ip, |h| h.control, total, per_ip)
    }
}

/// The "address" the per-address caps count: an IPv4 address (also when it
/// arrives IPv4-mapped on a dual-stack socket), or an IPv6 /64 — one host
/// is routinely given a whole /64, so counting single IPv6 addresses would
/// give an attacker 2^64 budgets.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// The caps for this process: raises the descriptor limit first, derives
/// the defaults from it and logs both.
pub fn start(config: &Config) -> Arc<Admission> {
    let nofile = fd::raise_nofile_limit();
    let limits = Limits::derive(config, nofile.soft);
    tracing::info!(
        fd_soft_before = nofile.soft_before,
        fd_soft = nofile.soft,
        fd_hard = nofile.hard,
        max_sessions = limits.max_sessions,
        max_sessions_per_ip = limits.max_sessions_per_ip,
        max_pending = limits.max_pending,
        max_pending_per_ip = limits.max_pending_per_ip,
        max_connections = limits.max_control,
        "admission limits"
    );
    let need = limits.descriptors() + config.server.fd_reserve as u64 + PROCESS_BASELINE_FDS;
    if need > nofile.soft {
        tracing::warn!(
            need,
            fd_soft = nofile.soft,
            "the configured caps can take more descriptors than the process may open; \
             raise the hard limit (LimitNOFILE=) or lower server.max_sessions"
        );
    }
    Admission::new(limits)
}

#[cfg(test)]
mod tests;
