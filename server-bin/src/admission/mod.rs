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

pub mod fd;
pub mod refuse;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::config::Config;
use crate::session::lock;

/// Evicted pending connections not yet gone, at most (and at most
/// `max_pending`): how far the pending total may overshoot `max_pending`
/// while evictions take effect. The derived caps leave room for it.
const MAX_EVICTING: usize = 1024;

/// How long an address refused or evicted counts as flooding: it may not
/// evict, and its pending connections may be evicted.
const FLOODING_MEMORY: Duration = Duration::from_secs(10);

/// Flooding addresses remembered at most (memory bound under a spread flood).
const MAX_FLOODING_ADDRESSES: usize = 65_536;

/// Descriptors the process needs besides connections: listeners, epoll,
/// runtime wake-ups, the log, hook connections, `hls.dir` files.
const PROCESS_BASELINE_FDS: u64 = 32;

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
pub const LISTENERS: [&str; 3] = ["rtmp", "rtsp", "http"];

/// The caps in force, after deriving the defaults (`0`) from the descriptor limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Media sessions in total.
    pub max_sessions: usize,
    /// Media sessions per peer address.
    pub max_sessions_per_ip: usize,
    /// Connections not yet identified, in total.
    pub max_pending: usize,
    /// Connections not yet identified, per peer address.
    pub max_pending_per_ip: usize,
    /// Control-plane HTTP connections in total.
    pub max_control: usize,
    /// Of `max_control`, kept for `/healthz`, `/metrics` and trusted API callers.
    pub control_reserve: usize,
    /// Control-plane HTTP connections per peer address.
    pub max_control_per_ip: usize,
}

impl Limits {
    /// The caps for `config` with `nofile` descriptors available to the process.
    pub fn derive(config: &Config, nofile: u64) -> Limits {
        let s = &config.server;
        let h = &config.http;
        let available = nofile
            .saturating_sub(s.fd_reserve as u64)
            .saturating_sub(PROCESS_BASELINE_FDS);
        // Under a small descriptor limit the control plane gets at most a
        // quarter of what is left, pending connections an eighth.
        let max_control = h.max_connections.min((available / 4).max(8) as usize);
        let max_pending = match s.max_pending {
            0 => (available / 8).clamp(16, 1024) as usize,
            n => n,
        };
        // Half the rest: an RTSP session over UDP holds two more descriptors
        // per track, and hook calls and `hls.dir` files need some too.
        let max_sessions = match s.max_sessions {
            0 => {
                let rest = available.saturating_sub((max_control + max_pending) as u64);
                (rest / 2).max(16) as usize
            }
            n => n,
        };
        Limits {
            max_sessions,
            max_sessions_per_ip: s.max_sessions_per_ip.min(max_sessions),
            max_pending,
            max_pending_per_ip: s.max_pending_per_ip.min(max_pending),
            max_control,
            control_reserve: h.control_reserve.min(max_control.saturating_sub(1)),
            max_control_per_ip: h.max_connections_per_ip.min(max_control),
        }
    }

    /// Descriptors these caps may take at most (one per connection).
    pub fn descriptors(&self) -> u64 {
        (self.max_sessions + self.max_pending + self.max_control) as u64
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Held {
    sessions: usize,
    pending: usize,
    control: usize,
}

impl Held {
    fn is_empty(&self) -> bool {
        *self == Held::default()
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: Held,
    per_ip: HashMap<IpAddr, Held>,
    /// Pending tickets per address, oldest first: whom to evict.
    order: HashMap<IpAddr, VecDeque<Pending>>,
    /// Evicted tickets still counted as pending.
    evicting: usize,
    next_id: u64,
    /// Addresses refused or evicted within [`FLOODING_MEMORY`], and when last.
    flooding: HashMap<IpAddr, Instant>,
}

#[derive(Debug)]
struct Pending {
    id: u64,
    listener: &'static str,
    eviction: Arc<Eviction>,
}

impl Counts {
    fn mark_flooding(&mut self, ip: IpAddr, now: Instant) {
        if self.flooding.len() >= MAX_FLOODING_ADDRESSES && !self.flooding.contains_key(&ip) {
            self.flooding
                .retain(|_, at| now.duration_since(*at) < FLOODING_MEMORY);
            if self.flooding.len() >= MAX_FLOODING_ADDRESSES {
                return; // bounded: the newest flooders go unremembered
            }
        }
        self.flooding.insert(ip, now);
    }

    /// A refusal of `ip`: it floods if it was over its own budget, or asked
    /// for more while holding two or more pending connections. A client
    /// refused holding one or none is not flooding (the budget was full of
    /// others', and a client's next connection often comes before its last
    /// is released); marking it would lock a health probe out.
    fn refused(&mut self, ip: IpAddr, reason: Reason, now: Instant) {
        let holding = self.per_ip.get(&ip).map_or(0, |h| h.pending);
        if reason == Reason::MaxPendingPerIp || (reason == Reason::MaxPending && holding >= 2) {
            self.mark_flooding(ip, now);
        }
    }

    fn is_flooding(&self, ip: IpAddr, now: Instant) -> bool {
        self.flooding
            .get(&ip)
            .is_some_and(|at| now.duration_since(*at) < FLOODING_MEMORY)
    }

    fn forget_pending(&mut self, ip: IpAddr, id: u64) {
        if let Some(queue) = self.order.get_mut(&ip) {
            queue.retain(|p| p.id != id);
            if queue.is_empty() {
                self.order.remove(&ip);
            }
        }
    }
}

/// Tells a pending connection that it was evicted to make room for a
/// newcomer; its task ends the connection.
#[derive(Debug, Default)]
pub struct Eviction {
    fired: AtomicBool,
    notify: Notify,
}

impl Eviction {
    /// Resolves once the connection is evicted. Cancel-safe; one waiter.
    pub async fn evicted(&self) {
        while !self.fired.load(Ordering::Acquire) {
            self.notify.notified().await;
        }
    }

    fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        // notify_one keeps a permit if the task is not waiting right now.
        self.notify.notify_one();
    }

    fn is_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }
}

/// The admission counters of the whole server (see the module docs).
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    counts: Mutex<Counts>,
    refused: [[AtomicU64; Reason::ALL.len()]; LISTENERS.len()],
}

/// What a connection holds of the caps; dropping it releases everything.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    ip: IpAddr,
    listener: &'static str,
    session: bool,
    control: bool,
    pending: AtomicBool,
    id: u64,
    eviction: Arc<Eviction>,
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
    /// newcomer from an address that is not flooding evicts the oldest
    /// pending connection of the flooding address (see [`Counts::refused`];
    /// evicted or refused within [`FLOODING_MEMORY`]) holding the most: however many addresses
    /// a flood comes from, a health probe or a new viewer gets in, and the
    /// flood cannot evict them. Otherwise the newcomer is refused.
    fn make_pending_room(&self, c: &mut Counts, ip: IpAddr, now: Instant) -> Result<(), Reason> {
        let l = &self.limits;
        let mine = c.per_ip.get(&ip).map_or(0, |h| h.pending);
        if mine >= l.max_pending_per_ip {
            return Err(Reason::MaxPendingPerIp);
        }
        if c.total.pending - c.evicting < l.max_pending {
            return Ok(());
        }
        if c.evicting >= l.max_pending.min(MAX_EVICTING) {
            return Err(Reason::MaxPending);
        }
        // Only a well-behaved newcomer evicts, and only a connection of an
        // address refused or evicted lately (a flooder), the one holding the
        // most, oldest first: whatever the number of flooding addresses, a
        // health probe or a new viewer gets in, and nobody evicts them.
        if c.is_flooding(ip, now) {
            return Err(Reason::MaxPending);
        }
        let heaviest = c
            .order
            .iter()
            .filter(|(addr, _)| **addr != ip && c.flooding.contains_key(*addr))
            .max_by_key(|(_, queue)| queue.len())
            .map(|(addr, queue)| (*addr, queue.len()));
        let Some((victim, held)) = heaviest else {
            return Err(Reason::MaxPending);
        };
        let Some(evicted) = c.order.get_mut(&victim).and_then(|q| q.pop_front()) else {
            return Err(Reason::MaxPending);
        };
        if held == 1 {
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

/// Checks one kind of hold against its per-address cap, then its total.
fn check(
    c: &Counts,
    ip: IpAddr,
    kind: impl Fn(&Held) -> usize,
    (cap, over_cap): (usize, Reason),
    (cap_per_ip, over_cap_per_ip): (usize, Reason),
) -> Result<(), Reason> {
    let mine = c.per_ip.get(&ip).map_or(0, &kind);
    if mine >= cap_per_ip {
        return Err(over_cap_per_ip);
    }
    if kind(&c.total) >= cap {
        return Err(over_cap);
    }
    Ok(())
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

fn add(c: &mut Counts, ip: IpAddr, f: impl Fn(&mut Held)) {
    f(&mut c.total);
    f(c.per_ip.entry(ip).or_default());
}

fn sub(c: &mut Counts, ip: IpAddr, f: impl Fn(&mut Held)) {
    f(&mut c.total);
    if let Some(h) = c.per_ip.get_mut(&ip) {
        f(h);
        if h.is_empty() {
            c.per_ip.remove(&ip);
        }
    }
}

impl Ticket {
    /// The peer address counted.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The connection said who it is (named its stream): it stops counting
    /// against the pending budgets. Idempotent.
    pub fn identified(&self) {
        if self.pending.swap(false, Ordering::AcqRel) {
            let mut c = lock(&self.admission.counts);
            self.release_pending(&mut c);
        }
    }

    /// Resolves when the connection was evicted while pending (see
    /// [`Admission`]); its task should end the connection.
    pub fn eviction(&self) -> Arc<Eviction> {
        self.eviction.clone()
    }

    fn release_pending(&self, c: &mut Counts) {
        sub(c, self.ip, |h| h.pending -= 1);
        if self.eviction.is_fired() {
            c.evicting -= 1;
        } else {
            c.forget_pending(self.ip, self.id);
        }
    }

    /// A classified HTTP connection for media becomes a session (still
    /// pending until its request head is read).
    pub fn into_session(mut self) -> Result<Ticket, Reason> {
        let adm = self.admission.clone();
        let mut c = lock(&adm.counts);
        adm.check_session(&c, self.ip)
            .inspect_err(|r| adm.count_refusal(self.listener, *r))?;
        add(&mut c, self.ip, |h| h.sessions += 1);
        self.session = true;
        Ok(self)
    }

    /// A classified HTTP connection for the control plane: no longer
    /// pending, counted as a control connection. `privileged` requests
    /// (`/healthz`, `/metrics`, API calls from trusted networks) may use the
    /// reserve.
    pub fn into_control(mut self, privileged: bool) -> Result<Ticket, Reason> {
        let adm = self.admission.clone();
        {
            let mut c = lock(&adm.counts);
            adm.check_control(&c, self.ip, privileged)
                .inspect_err(|r| adm.count_refusal(self.listener, *r))?;
            add(&mut c, self.ip, |h| h.control += 1);
            self.control = true;
        }
        self.identified();
        Ok(self)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let pending = self.pending.load(Ordering::Acquire);
        let (session, control) = (self.session, self.control);
        let mut c = lock(&self.admission.counts);
        if pending {
            self.release_pending(&mut c);
        }
        sub(&mut c, self.ip, |h| {
            h.sessions -= usize::from(session);
            h.control -= usize::from(control);
        });
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
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_sessions: 4,
            max_sessions_per_ip: 3,
            max_pending: 3,
            max_pending_per_ip: 2,
            max_control: 4,
            control_reserve: 2,
            max_control_per_ip: 3,
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn pending_is_capped_per_address_and_in_total() {
        let adm = Admission::new(Limits {
            max_pending_per_ip: 3,
            ..limits()
        });
        let a1 = adm.admit_session("rtmp", ip(2)).unwrap();
        let _a2 = adm.admit_pending("http", ip(2)).unwrap();
        let _b1 = adm.admit_pending("http", ip(3)).unwrap();
        // Full, and nobody else holds as much as 127.0.0.2: refused.
        assert_eq!(
            adm.admit_pending("http", ip(2)).unwrap_err(),
            Reason::MaxPending
        );
        // Naming a stream frees the pending slot but keeps the session.
        a1.identified();
        a1.identified();
        let _a3 = adm.admit_session("rtmp", ip(2)).unwrap();
        assert_eq!(
            adm.admit_session("rtmp", ip(2)).unwrap_err(),
            Reason::MaxPending
        );
        assert_eq!(adm.usage().sessions, 2);
        assert_eq!(adm.usage().pending, 3);
        let refused: u64 = adm.refusals().iter().map(|r| r.2).sum();
        assert_eq!(refused, 2);
    }

    #[test]
    fn a_full_pending_budget_evicts_a_flooding_address_oldest_first() {
        let adm = Admission::new(limits());
        let first = adm.admit_pending("http", ip(2)).unwrap();
        let second = adm.admit_session("rtmp", ip(2)).unwrap();
        let other = adm.admit_pending("http", ip(3)).unwrap();
        // Full, and nobody refused yet: even a quiet address is refused.
        assert_eq!(
            adm.admit_pending("http", ip(8)).unwrap_err(),
            Reason::MaxPending
        );
        // 127.0.0.2 goes over its own budget: now it counts as flooding.
        assert_eq!(
            adm.admit_pending("http", ip(2)).unwrap_err(),
            Reason::MaxPendingPerIp
        );
        // A quiet address gets in by evicting the flooder's oldest.
        let probe = adm.admit_pending("http", ip(9)).unwrap();
        assert!(first.eviction.is_fired());
        assert!(!second.eviction.is_fired() && !other.eviction.is_fired());
        assert_eq!(
            adm.usage().pending,
            4,
            "the evicted one counts until it is gone"
        );
        drop(first);
        assert_eq!(adm.usage().pending, 3);
        // 127.0.0.8 was refused holding nothing: not flooding, so it takes
        // the flooder's last one; the quiet 127.0.0.3 and .9 are never evicted.
        let again = adm.admit_pending("http", ip(8)).unwrap();
        assert!(second.eviction.is_fired());
        assert!(!other.eviction.is_fired() && !probe.eviction.is_fired());
        // No flooder holds anything now: a newcomer is refused.
        assert_eq!(
            adm.admit_pending("http", ip(10)).unwrap_err(),
            Reason::MaxPending
        );
        let counted = |reason| {
            adm.refusals()
                .iter()
                .filter(|r| r.1 == reason)
                .map(|r| r.2)
                .sum::<u64>()
        };
        assert_eq!(counted(Reason::Evicted), 2);
        // Identification and drops keep the books straight.
        probe.identified();
        drop((second, other, probe, again));
        let u = adm.usage();
        assert_eq!((u.sessions, u.pending, u.addresses), (0, 0, 0));
        assert!(lock(&adm.counts).order.is_empty());
        assert_eq!(lock(&adm.counts).evicting, 0);
    }

    #[tokio::test]
    async fn an_evicted_ticket_wakes_its_task() {
        let adm = Admission::new(limits());
        let victim = adm.admit_pending("http", ip(2)).unwrap();
        let _b = adm.admit_pending("http", ip(2)).unwrap();
        let _c = adm.admit_pending("http", ip(3)).unwrap();
        let _ = adm.admit_pending("http", ip(2)).unwrap_err(); // flooding now
        let eviction = victim.eviction();
        let waiter = tokio::spawn(async move { eviction.evicted().await });
        tokio::task::yield_now().await;
        let _probe = adm.admit_pending("http", ip(9)).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }

    #[test]
    fn sessions_are_capped_per_address_and_in_total() {
        let adm = Admission::new(limits());
        let mut held = Vec::new();
        for _ in 0..3 {
            let t = adm.admit_session("rtsp", ip(2)).unwrap();
            t.identified();
            held.push(t);
        }
        assert_eq!(
            adm.admit_session("rtsp", ip(2)).unwrap_err(),
            Reason::MaxSessionsPerIp
        );
        let t = adm.admit_pending("http", ip(3)).unwrap();
        let t = t.into_session().unwrap();
        assert_eq!(
            adm.admit_pending("http", ip(5))
                .unwrap()
                .into_session()
                .unwrap_err(),
            Reason::MaxSessions
        );
        drop(t);
        drop(held);
        let u = adm.usage();
        assert_eq!(
            (u.sessions, u.pending, u.control, u.addresses),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn the_control_reserve_is_kept_for_privileged_requests() {
        let adm = Admission::new(limits());
        let c1 = adm.admit_pending("http", ip(2)).unwrap();
        let c1 = c1.into_control(false).unwrap();
        let c2 = adm
            .admit_pending("http", ip(3))
            .unwrap()
            .into_control(false)
            .unwrap();
        // Two of four are reserved: an unprivileged third is refused …
        assert_eq!(
            adm.admit_pending("http", ip(4))
                .unwrap()
                .into_control(false)
                .unwrap_err(),
            Reason::MaxControl
        );
        // … while /healthz still gets in.
        let h = adm
            .admit_pending("http", ip(4))
            .unwrap()
            .into_control(true)
            .unwrap();
        assert_eq!(adm.usage().control, 3);
        assert_eq!(adm.usage().pending, 0);
        drop((c1, c2, h));
        assert_eq!(adm.usage().control, 0);
    }

    #[test]
    fn control_connections_are_capped_per_address() {
        let adm = Admission::new(limits());
        let held: Vec<_> = (0..3)
            .map(|_| {
                adm.admit_pending("http", ip(2))
                    .unwrap()
                    .into_control(true)
                    .unwrap()
            })
            .collect();
        assert_eq!(
            adm.admit_pending("http", ip(2))
                .unwrap()
                .into_control(true)
                .unwrap_err(),
            Reason::MaxControlPerIp
        );
        drop(held);
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert_eq!(address_key(mapped), ip(2));
        let adm = Admission::new(limits());
        let _t1 = adm.admit_pending("http", a).unwrap();
        let _t2 = adm.admit_pending("http", b).unwrap();
        assert_eq!(
            adm.admit_pending("http", "2001:db8:1:2::9".parse().unwrap())
                .unwrap_err(),
            Reason::MaxPendingPerIp
        );
    }

    #[test]
    fn defaults_derive_from_the_descriptor_limit() {
        let config = Config::default();
        let small = Limits::derive(&config, 1024);
        // Everything the caps allow, plus the reserve, fits under the limit.
        assert!(
            small.descriptors() + config.server.fd_reserve as u64 + PROCESS_BASELINE_FDS <= 1024,
            "{small:?}"
        );
        assert!(small.max_sessions >= 200, "{small:?}");
        assert_eq!(small.max_control, 232, "{small:?}");
        let large = Limits::derive(&config, 1 << 20);
        assert_eq!(large.max_pending, 1024);
        assert!(large.max_sessions > 500_000);
        assert_eq!(large.max_sessions_per_ip, config.server.max_sessions_per_ip);
        // A tiny limit still leaves a usable server.
        let tiny = Limits::derive(&config, 64);
        assert!(tiny.max_sessions >= 16 && tiny.max_pending >= 16);
    }
}
