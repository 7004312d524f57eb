//! The node's life in the cluster, one task on the control plane: hold a
//! lease, keep the node record and the directory's copy current, release
//! names whose publisher left, and reconcile after an outage.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use stream_core::{HubEvent, StreamKey};
use tokio::sync::broadcast::error::RecvError;

use super::directory::{Change, NodeRecord};
use super::etcd::Watch;
use super::{Claim, Cluster, LeaseState};
use crate::server::Shared;
use crate::session::lock;

/// How a session with the store ended.
enum Ended {
    Stopping,
    /// The lease expired: a new one at once.
    LeaseLost,
    /// The store did not answer.
    Unreachable,
}

/// Runs until shutdown; then revokes the lease, so every name this node
/// owned is free at once instead of after `lease_secs`.
pub async fn run(cluster: Arc<Cluster>, shared: Arc<Shared>) {
    let mut stopping = shared.stopping.clone();
    let mut events = shared.hub.events();
    let lease_ttl = Duration::from_secs(cluster.config.lease_secs);
    let mut retry = Duration::from_millis(100);
    loop {
        match session(&cluster, &shared, &mut events, &mut stopping).await {
            Ended::Stopping => break,
            Ended::LeaseLost => retry = Duration::from_millis(100),
            Ended::Unreachable => {
                tokio::select! {
                    () = tokio::time::sleep(retry) => {}
                    () = stopped(&mut stopping) => break,
                }
                retry = (retry * 2).min(lease_ttl / 2);
            }
        }
    }
    let lease = cluster.lease().id;
    if lease != 0 && cluster.etcd.revoke(lease).await.is_ok() {
        tracing::info!("cluster: lease revoked, this node's names are free");
    }
}

/// One lease's life.
async fn session(
    cluster: &Arc<Cluster>,
    shared: &Arc<Shared>,
    events: &mut tokio::sync::broadcast::Receiver<HubEvent>,
    stopping: &mut tokio::sync::watch::Receiver<bool>,
) -> Ended {
    let lease_ttl = Duration::from_secs(cluster.config.lease_secs);
    let lease = match cluster.etcd.grant(cluster.config.lease_secs).await {
        Ok(l) => l,
        Err(e) => {
            cluster.store_failed(&e);
            return Ended::Unreachable;
        }
    };
    *lock(&cluster.lease) = LeaseState {
        id: lease.id,
        ttl: lease.ttl,
        renewed_ms: crate::relay::unix_ms(SystemTime::now()),
    };
    let mut renewed = tokio::time::Instant::now();
    cluster.store_answered();
    tracing::info!(node = %cluster.node, lease = lease.id, ttl = lease.ttl, "cluster: lease granted");
    let mut watch = follow(cluster, shared).await;
    put_node(cluster, shared).await;
    reconcile(cluster, shared).await;
    let mut tick = tokio::time::interval(lease_ttl / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                ticks += 1;
                match cluster.etcd.keep_alive(lease.id).await {
                    Ok(ttl) if ttl > 0 => {
                        cluster.store_answered();
                        renewed = tokio::time::Instant::now();
                        let mut l = lock(&cluster.lease);
                        l.ttl = ttl;
                        l.renewed_ms = crate::relay::unix_ms(SystemTime::now());
                    }
                    Ok(_) => {
                        lease_lost(cluster, "expired");
                        return Ended::LeaseLost;
                    }
                    Err(e) => {
                        cluster.store_failed(&e);
                        if renewed.elapsed() >= lease_ttl {
                            lease_lost(cluster, "not renewed within cluster.lease_secs");
                            return Ended::Unreachable;
                        }
                    }
                }
                if watch.is_none() && cluster.store_up() {
                    watch = follow(cluster, shared).await;
                }
                if cluster.store_up() {
                    release_stale(cluster, shared).await;
                    if ticks.is_multiple_of(3) {
                        put_node(cluster, shared).await;
                    }
                    if ticks.is_multiple_of(3) || !lock(&cluster.unclaimed).is_empty() {
                        reconcile(cluster, shared).await;
                    }
                }
            }
            batch = next(&mut watch) => match batch {
                Ok(batch) => {
                    let changes = cluster.directory.apply(&batch);
                    act_on(cluster, shared, changes).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cluster: directory watch ended; listing again");
                    watch = follow(cluster, shared).await;
                }
            },
            event = events.recv() => match event {
                Ok(HubEvent::Unpublished { key, .. }) => release_if_gone(cluster, shared, &key).await,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    for (key, _) in cluster.claims() {
                        release_if_gone(cluster, shared, &key).await;
                    }
                }
                Err(RecvError::Closed) => return Ended::Stopping,
            },
            () = stopped(stopping) => return Ended::Stopping,
        }
    }
}

/// The next watch batch; pending while there is no watch.
async fn next(
    watch: &mut Option<Watch>,
) -> Result<Vec<super::etcd::Event>, super::etcd::EtcdError> {
    match watch {
        Some(w) => {
            let r = w.next().await;
            if r.is_err() {
                *watch = None;
            }
            r
        }
        None => std::future::pending().await,
    }
}

/// Lists the directory, replaces the copy and watches from there.
async fn follow(cluster: &Arc<Cluster>, shared: &Arc<Shared>) -> Option<Watch> {
    let prefix = cluster.directory.prefix();
    let (kvs, revision) = match cluster.etcd.list(&prefix).await {
        Ok(r) => r,
        Err(e) => {
            cluster.store_failed(&e);
            return None;
        }
    };
    let changes = cluster.directory.replace(&kvs, revision);
    act_on(cluster, shared, changes).await;
    match cluster.etcd.watch(&prefix, revision + 1).await {
        Ok(w) => Some(w),
        Err(e) => {
            cluster.store_failed(&e);
            None
        }
    }
}

/// The lease is gone: every claim with it. Local publishers stay until
/// `reconcile` claims their names again or finds another owner.
fn lease_lost(cluster: &Cluster, why: &str) {
    cluster.counters.leases_lost.fetch_add(1, Ordering::Relaxed);
    let lost: Vec<StreamKey> = lock(&cluster.claims).drain().map(|(k, _)| k).collect();
    tracing::warn!(
        why,
        names = lost.len(),
        "cluster: lease lost; this node owns nothing until it claims again"
    );
    lock(&cluster.unclaimed).extend(lost);
    *lock(&cluster.lease) = LeaseState::default();
}

/// Claims the names published here without a claim (during an outage, or
/// before a lease was lost); ends the local publisher of those another
/// node owns now: the claim in the store wins.
async fn reconcile(cluster: &Arc<Cluster>, shared: &Arc<Shared>) {
    // A claim whose publish then failed, or whose Unpublished event was
    // missed, is released here.
    for (key, _) in cluster.claims() {
        release_if_gone(cluster, shared, &key).await;
    }
    for key in cluster.take_unclaimed() {
        let Some(stream) = shared.hub.stream(&key) else {
            continue;
        };
        let local = stream.publisher.is_some()
            && shared.relays.edge(&key).is_none()
            && !shared.relays.pulls(&key);
        if !local {
            continue;
        }
        if is_stale(shared, &stream) {
            // Claimed again when its media comes back.
            lock(&cluster.unclaimed).insert(key);
            continue;
        }
        match cluster.claim(&shared.relays, &key).await {
            Claim::Owned { epoch, .. } => {
                tracing::info!(stream = %key, epoch, "cluster: name published during an outage claimed");
            }
            Claim::Elsewhere(owner) => lose(cluster, shared, &key, &owner.node),
            Claim::Local | Claim::StoreDown => {}
        }
    }
}

/// Whether the stream's publisher has sent nothing for
/// `stream.publisher_idle_timeout_ms`: on one node a newcomer would take it
/// over.
fn is_stale(shared: &Shared, stream: &stream_core::StreamSnapshot) -> bool {
    let limit = Duration::from_millis(shared.config.stream.publisher_idle_timeout_ms);
    stream.publisher_idle.is_some_and(|idle| idle >= limit)
}

/// Releases the names whose local publisher went stale, so that a
/// publisher on another node may take them, as a newcomer on this node
/// could (the single-node rule, cluster-wide). The name is claimed again
/// when the media comes back, unless another node took it meanwhile: then
/// the local publisher is ended.
async fn release_stale(cluster: &Cluster, shared: &Shared) {
    for (key, epoch) in cluster.claims() {
        let stale = shared
            .hub
            .stream(&key)
            .is_some_and(|s| is_stale(shared, &s));
        if stale {
            tracing::info!(stream = %key, epoch, "cluster: publisher idle past publisher_idle_timeout_ms; name released for a newcomer anywhere");
            cluster.release(&key).await;
            lock(&cluster.unclaimed).insert(key);
        }
    }
}

/// Ends this node's publisher of `key`: `node` owns the name.
fn lose(cluster: &Cluster, shared: &Shared, key: &StreamKey, node: &str) {
    cluster.counters.claims_lost.fetch_add(1, Ordering::Relaxed);
    lock(&cluster.claims).remove(key);
    lock(&cluster.unclaimed).remove(key);
    tracing::warn!(stream = %key, owner = %node, "cluster: another node owns this name; the local publisher is ended");
    shared.hub.close_stream(key);
}

/// What this node does about changes of the directory.
async fn act_on(cluster: &Arc<Cluster>, shared: &Arc<Shared>, changes: Vec<Change>) {
    for change in changes {
        match change {
            Change::Owned(key, owner) if owner.node != cluster.node => {
                let mine = lock(&cluster.claims).contains_key(&key)
                    || lock(&cluster.unclaimed).contains(&key);
                if mine {
                    lose(cluster, shared, &key, &owner.node);
                }
                let waiting = shared
                    .hub
                    .stream(&key)
                    .is_some_and(|s| s.publisher.is_none() && !s.subscribers.is_empty());
                if waiting && shared.relays.edge(&key).is_none() {
                    // Players asked before the claim reached this node's
                    // copy: their edge starts now, not at their timeout.
                    shared
                        .relays
                        .demand_edge(&key, cluster.edge_url(&key, &owner), None);
                } else if let Some(edge) = shared.relays.edge(&key) {
                    let url = cluster.edge_url(&key, &owner);
                    let elsewhere = edge.url().host != url.host || edge.url().port != url.port;
                    // Switch now when the owner is another node, or when the
                    // edge is not pulling (waiting for an owner, backing off).
                    let moved = elsewhere || edge.state() != crate::relay::State::Live;
                    if moved {
                        cluster.counters.edge_moves.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(stream = %key, owner = %owner.node, epoch = owner.epoch, "cluster: new owner; edge switches upstream");
                    }
                    edge.move_to(url, moved);
                }
            }
            Change::Owned(key, owner) => {
                // A claim of this node it does not hold: the create
                // committed but its answer was lost (a request deadline
                // under load). Adopted, so the periodic reconcile releases
                // it once no local publisher has the name; else the name
                // would stay held on this node's lease.
                lock(&cluster.claims).entry(key).or_insert(owner.epoch);
            }
            Change::Gone(key) => {
                // Our claim vanished (an operator, or our lease expired
                // before we noticed): claim again while we publish.
                if lock(&cluster.claims).remove(&key).is_some() {
                    lock(&cluster.unclaimed).insert(key);
                    reconcile(cluster, shared).await;
                }
            }
        }
    }
}

/// The publisher of `key` left this node: release the name unless another
/// local publisher took it meanwhile.
async fn release_if_gone(cluster: &Cluster, shared: &Shared, key: &StreamKey) {
    let published = shared
        .hub
        .stream(key)
        .is_some_and(|s| s.publisher.is_some());
    if !published {
        cluster.release(key).await;
    }
}

/// Writes this node's record (on the lease: it vanishes with the node).
async fn put_node(cluster: &Cluster, shared: &Shared) {
    let stats = shared.hub.stats();
    let edges = shared
        .relays
        .list()
        .iter()
        .filter(|s| s.origin == crate::relay::Origin::Cluster)
        .count() as u64;
    let record = NodeRecord {
        node: cluster.node.clone(),
        advertise: cluster.advertise.clone(),
        publishers: stats.publishers.saturating_sub(edges as usize) as u64,
        players: stats.subscribers as u64,
        edges,
        updated_ms: crate::relay::unix_ms(SystemTime::now()),
    };
    let value = serde_json::to_vec(&record).unwrap_or_default();
    let key = cluster.directory.node_key(&cluster.node);
    match cluster.etcd.put(&key, &value, cluster.lease().id).await {
        Ok(_) => cluster.store_answered(),
        Err(e) => cluster.store_failed(&e),
    }
}

/// Resolves when shutdown begins (the guard `wait_for` returns is not
/// `Send`, so it must not live in the caller's future).
async fn stopped(stopping: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}
