//! The books: what each address and the whole server hold, the pending
//! connections in eviction order, and the addresses flooding lately.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Eviction, Reason, MAX_PENDING_TO_EVICT};

/// How long an address refused or evicted counts as flooding: it may not
/// evict, and its pending connections may be evicted.
pub(super) const FLOODING_MEMORY: Duration = Duration::from_secs(10);

/// Flooding addresses remembered at most (memory bound under a spread flood).
const MAX_FLOODING_ADDRESSES: usize = 65_536;

/// How long an address that identified a connection (named a stream, sent
/// a request) counts as proven, unless it floods meanwhile.
pub(super) const PROVEN_MEMORY: Duration = Duration::from_secs(600);

/// Proven addresses remembered at most.
const MAX_PROVEN_ADDRESSES: usize = 65_536;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Held {
    pub(super) sessions: usize,
    pub(super) pending: usize,
    pub(super) control: usize,
}

impl Held {
    pub(super) fn is_empty(&self) -> bool {
        *self == Held::default()
    }
}

#[derive(Debug, Default)]
pub(super) struct Counts {
    pub(super) total: Held,
    pub(super) per_ip: HashMap<IpAddr, Held>,
    /// Pending tickets per address, oldest first: whom to evict.
    pub(super) order: HashMap<IpAddr, VecDeque<Pending>>,
    /// Evicted tickets still counted as pending.
    pub(super) evicting: usize,
    pub(super) next_id: u64,
    /// Addresses refused or evicted within [`FLOODING_MEMORY`], and when last.
    pub(super) flooding: HashMap<IpAddr, Instant>,
    /// Addresses that identified a connection within [`PROVEN_MEMORY`] and
    /// have not flooded since, and when last: they may use the part of the
    /// eviction budget that newcomers never seen cannot.
    pub(super) proven: HashMap<IpAddr, Instant>,
}

#[derive(Debug)]
pub(super) struct Pending {
    pub(super) id: u64,
    pub(super) listener: &'static str,
    pub(super) eviction: Arc<Eviction>,
}

impl Counts {
    pub(super) fn mark_flooding(&mut self, ip: IpAddr, now: Instant) {
        let (memory, max) = (FLOODING_MEMORY, MAX_FLOODING_ADDRESSES);
        remember(&mut self.flooding, ip, now, memory, max);
        self.proven.remove(&ip);
    }

    /// `ip` identified a connection: proven, unless it is flooding.
    pub(super) fn mark_proven(&mut self, ip: IpAddr, now: Instant) {
        if self.is_flooding(ip, now) {
            return;
        }
        remember(
            &mut self.proven,
            ip,
            now,
            PROVEN_MEMORY,
            MAX_PROVEN_ADDRESSES,
        );
    }

    pub(super) fn is_proven(&self, ip: IpAddr, now: Instant) -> bool {
        self.proven
            .get(&ip)
            .is_some_and(|at| now.duration_since(*at) < PROVEN_MEMORY)
    }

    /// A refusal of `ip`: it floods if it was over its own budget, or asked
    /// for more while holding more than [`MAX_PENDING_TO_EVICT`] pending
    /// connections. A client refused holding fewer is not flooding (the
    /// budget was full of others', and a client's next connection often
    /// comes before its last is released); marking it would lock a health
    /// probe sharing an address with a connecting publisher out.
    pub(super) fn refused(&mut self, ip: IpAddr, reason: Reason, now: Instant) {
        let holding = self.per_ip.get(&ip).map_or(0, |h| h.pending);
        let over = reason == Reason::MaxPending && holding > MAX_PENDING_TO_EVICT;
        if reason == Reason::MaxPendingPerIp || over {
            self.mark_flooding(ip, now);
        }
    }

    pub(super) fn is_flooding(&self, ip: IpAddr, now: Instant) -> bool {
        self.flooding
            .get(&ip)
            .is_some_and(|at| now.duration_since(*at) < FLOODING_MEMORY)
    }

    /// Whose pending connection a newcomer from `ip` evicts: the flooding
    /// address holding the most, or, when no flooder holds any, the address
    /// holding the oldest pending connection (ids grow with time).
    pub(super) fn eviction_victim(&self, ip: IpAddr, now: Instant) -> Option<IpAddr> {
        let others = || self.order.iter().filter(move |(addr, _)| **addr != ip);
        let flooder = others()
            .filter(|(addr, _)| self.is_flooding(**addr, now))
            .max_by_key(|(_, queue)| queue.len());
        let oldest = || others().min_by_key(|(_, queue)| queue.front().map_or(u64::MAX, |p| p.id));
        flooder.or_else(oldest).map(|(addr, _)| *addr)
    }

    pub(super) fn forget_pending(&mut self, ip: IpAddr, id: u64) {
        if let Some(queue) = self.order.get_mut(&ip) {
            queue.retain(|p| p.id != id);
            if queue.is_empty() {
                self.order.remove(&ip);
            }
        }
    }
}

/// Notes `ip` at `now` in `map`, forgetting entries older than `memory`
/// when it holds `max`; still full, the newest go unremembered (bounded).
fn remember(
    map: &mut HashMap<IpAddr, Instant>,
    ip: IpAddr,
    now: Instant,
    memory: Duration,
    max: usize,
) {
    if map.len() >= max && !map.contains_key(&ip) {
        map.retain(|_, at| now.duration_since(*at) < memory);
        if map.len() >= max {
            return;
        }
    }
    map.insert(ip, now);
}

/// Checks one kind of hold against its per-address cap, then its total.
pub(super) fn check(
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

pub(super) fn add(c: &mut Counts, ip: IpAddr, f: impl Fn(&mut Held)) {
    f(&mut c.total);
    f(c.per_ip.entry(ip).or_default());
}

pub(super) fn sub(c: &mut Counts, ip: IpAddr, f: impl Fn(&mut Held)) {
    f(&mut c.total);
    if let Some(h) = c.per_ip.get_mut(&ip) {
        f(h);
        if h.is_empty() {
            c.per_ip.remove(&ip);
        }
    }
}
