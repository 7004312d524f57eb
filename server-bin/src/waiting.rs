//! Players waiting for a stream that nobody publishes yet, bounded in total
//! (`stream.max_waiting_players`) and per peer address
//! (`stream.max_waiting_players_per_ip`).
//!
//! A player of a missing stream costs a socket and a subscriber for up to
//! `stream.max_stream_wait_ms` without anybody having published anything, so
//! an outsider could otherwise hold any number of them. Every protocol that
//! waits (RTMP play, HTTP-FLV, RTSP DESCRIBE) asks through [`subscribe`]; over
//! a bound the player is refused at once and counted. The count is released
//! by a guard, on every exit path (publisher arrived, deadline, player gone,
//! task cancelled).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use stream_core::{GatedError, PeerInfo, StreamKey, SubscribeError, Subscriber};

use crate::server::Shared;
use crate::session::lock;

/// The table of waiting players.
#[derive(Debug, Default)]
pub struct WaitingPlayers {
    state: Mutex<State>,
    refused: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// The bounds [`WaitingPlayers::enter`] applies.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most waiting players in all.
    pub total: usize,
    /// Most waiting players from one address.
    pub per_ip: usize,
}

/// Why a player may not wait.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// `stream.max_waiting_players` players wait already.
    #[error("{0} players already wait for streams not published (stream.max_waiting_players)")]
    Total(usize),
    /// `stream.max_waiting_players_per_ip` players from this address wait already.
    #[error(
        "{0} players from this address already wait for streams not published \
         (stream.max_waiting_players_per_ip)"
    )]
    PerIp(usize),
}

/// One waiting player's place; dropping it frees the place.
#[derive(Debug)]
pub struct Waiting<'a> {
    table: &'a WaitingPlayers,
    ip: Option<IpAddr>,
}

impl WaitingPlayers {
    /// Takes a place for a player from `ip` (`None`: not from the network,
    /// counted in the total only), or refuses and counts the refusal.
    pub fn enter(&self, ip: Option<IpAddr>, limits: Limits) -> Result<Waiting<'_>, Refused> {
        let ip = ip.map(|ip| ip.to_canonical());
        let mut st = lock(&self.state);
        let refused = if st.total >= limits.total {
            Some(Refused::Total(st.total))
        } else {
            match ip.map(|ip| st.per_ip.get(&ip).copied().unwrap_or(0)) {
                Some(n) if n >= limits.per_ip => Some(Refused::PerIp(n)),
                _ => None,
            }
        };
        if let Some(refused) = refused {
            drop(st);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(refused);
        }
        st.total += 1;
        if let Some(ip) = ip {
            *st.per_ip.entry(ip).or_default() += 1;
        }
        Ok(Waiting { table: self, ip })
    }

    /// Players waiting now.
    pub fn waiting(&self) -> usize {
        lock(&self.state).total
    }

    /// Players refused a wait since the start (`strom_waiting_players_refused_total`).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.table.state);
        st.total = st.total.saturating_sub(1);
        if let Some(ip) = self.ip {
            if let Some(n) = st.per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    st.per_ip.remove(&ip);
                }
            }
        }
    }
}

/// Why [`subscribe`] gave no subscriber.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// Too many players wait already: refused at once.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// Not found within `max_stream_wait_ms`, or shutting down.
    #[error(transparent)]
    Subscribe(#[from] SubscribeError),
    /// Not known here, and the cluster directory cannot be asked: refused at
    /// once instead of a wait for a stream that may live on another node.
    #[error(transparent)]
    StoreDown(#[from] crate::cluster::StoreDownError),
}

/// Subscribes `who` to `key` through the hub; a player that would wait for
/// a stream nobody publishes takes a place in `shared`'s waiting table for
/// the wait, or is refused at once when the table is full for it.
pub async fn subscribe(
    shared: &Shared,
    key: &StreamKey,
    who: PeerInfo,
) -> Result<Subscriber, WaitError> {
    // An idle on-demand proxy of this name starts pulling now; the player
    // waits for it like for any publisher.
    let ip = who.peer.map(|p| p.ip());
    if let Some(cluster) = &shared.cluster {
        cluster.demand(shared, key, ip)?;
    }
    shared.relays.demand(key, ip);
    let table = &shared.counters.waiting;
    let limits = Limits {
        total: shared.config.stream.max_waiting_players,
        per_ip: shared.config.stream.max_waiting_players_per_ip,
    };
    match shared
        .hub
        .subscribe_gated(key, who, || table.enter(ip, limits))
        .await
    {
        Ok(sub) => Ok(sub),
        Err(GatedError::Gate(refused)) => {
            tracing::warn!(stream = %key, reason = %refused, "player refused a wait");
            Err(refused.into())
        }
        Err(GatedError::Subscribe(e)) => Err(e.into()),
    }
}

/// For HLS and HTTP-TS, served from the stream's TS feed rather than a
/// subscription: when `key` has no stream but a proxy pulls it (an idle
/// on-demand one, or one made now from a pattern), waits for it as a
/// player would, with a place in the waiting table and at most
/// `max_stream_wait_ms`. Without a proxy for `key` it returns at once.
pub async fn await_pulled(
    shared: &Shared,
    key: &StreamKey,
    who: PeerInfo,
) -> Result<(), WaitError> {
    let ip = who.peer.map(|p| p.ip());
    if let Some(cluster) = &shared.cluster {
        cluster.demand(shared, key, ip)?;
    }
    if shared.hub.stream(key).is_some() || !shared.relays.demand(key, ip) {
        return Ok(());
    }
    subscribe(shared, key, who).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        total: 5,
        per_ip: 2,
    };

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([127, 0, 0, last]))
    }

    #[test]
    fn bounds_per_address_and_in_total_and_releases_on_drop() {
        let t = WaitingPlayers::default();
        let a1 = t.enter(ip(1), LIMITS).unwrap();
        let _a2 = t.enter(ip(1), LIMITS).unwrap();
        assert_eq!(t.enter(ip(1), LIMITS).unwrap_err(), Refused::PerIp(2));
        // Another address still waits.
        let _b1 = t.enter(ip(2), LIMITS).unwrap();
        let _b2 = t.enter(ip(2), LIMITS).unwrap();
        let _c1 = t.enter(None, LIMITS).unwrap();
        assert_eq!(t.waiting(), 5);
        assert_eq!(t.enter(ip(3), LIMITS).unwrap_err(), Refused::Total(5));
        assert_eq!(t.refused(), 2);
        // A place freed is a place again.
        drop(a1);
        assert_eq!(t.waiting(), 4);
        let _a3 = t.enter(ip(1), LIMITS).unwrap();
    }

    #[test]
    fn an_address_without_waiters_leaves_no_entry() {
        let t = WaitingPlayers::default();
        drop(t.enter(ip(1), LIMITS).unwrap());
        assert_eq!(t.waiting(), 0);
        assert!(lock(&t.state).per_ip.is_empty());
    }

    #[test]
    fn ipv4_mapped_ipv6_counts_as_the_same_address() {
        let t = WaitingPlayers::default();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let _a = t.enter(ip(1), LIMITS).unwrap();
        let _b = t.enter(Some(mapped), LIMITS).unwrap();
        assert_eq!(t.enter(ip(1), LIMITS).unwrap_err(), Refused::PerIp(2));
    }
}
