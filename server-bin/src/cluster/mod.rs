//! The cluster: several strom nodes sharing one stream directory in etcd.
//!
//! - **Ownership.** The node that accepts a publish claims `app/stream` with
//!   a create-if-absent transaction on its own lease ([`Cluster::claim`]);
//!   the key's create revision is the ownership *epoch*. A second publisher
//!   on another node is refused like one on the same node; a node whose
//!   lease expired (dead, frozen, cut off) has lost its claims, and the
//!   next publisher anywhere takes the name. The claim is released as soon
//!   as the local publisher leaves, so a publisher may reconnect to any node.
//! - **Edges.** A player asking for a stream another node owns is served by
//!   an on-demand pull relay from the owner (`edge`), one per stream per
//!   node, carrying the epoch in its play request; the owner serves it only
//!   while it holds that epoch or a newer one. When the directory names a
//!   new owner, the edge switches its upstream at once and the stream its
//!   players hold resumes (the hub's publisher-resume path).
//! - **Store down.** Streams keep playing (pulls go node to node, not
//!   through etcd); publishes of new names follow `cluster.on_store_down`;
//!   claims made meanwhile are reconciled when the store answers: the claim
//!   in etcd wins, a local publisher that lost is ended.
//!
//! `node` runs the lease, the node record and the directory's watch on the
//! control plane; `directory` is the local copy; `etcd` the client.

mod directory;
pub mod edge;
pub mod etcd;
pub mod hls;
mod node;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stream_core::StreamKey;

pub use directory::{Change, Directory, NodeRecord, Owner};
pub use node::run;

use crate::config::{ClusterConfig, OnStoreDown};
use crate::session::lock;
use directory::StreamRecord;
use etcd::{Created, Etcd, EtcdError};

/// What the directory says about a publish of a name on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This node owns the name at `epoch`. `took_edge`: this node was
    /// relaying the name from its former owner; the caller takes the
    /// stream over from that relay.
    Owned {
        /// The ownership epoch.
        epoch: i64,
        /// An edge relay of this name was stopped for the publisher.
        took_edge: bool,
    },
    /// Another node owns the name: refuse, as for a second publisher.
    Elsewhere(Owner),
    /// The store cannot be asked and `on_store_down = "serve_local"`:
    /// accepted here, claimed once the store answers.
    Local,
    /// The store cannot be asked and `on_store_down = "refuse"`.
    StoreDown,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct ClusterCounters {
    /// Calls to etcd that failed.
    pub store_errors: AtomicU64,
    /// Transitions of the store from up to down.
    pub store_outages: AtomicU64,
    /// Claims won.
    pub claims_won: AtomicU64,
    /// Publishes refused because another node owns the name.
    pub claims_refused: AtomicU64,
    /// Publishes accepted while the store was down.
    pub claims_local: AtomicU64,
    /// Local publishers ended because another node's claim won.
    pub claims_lost: AtomicU64,
    /// Leases found expired.
    pub leases_lost: AtomicU64,
    /// Edges that switched to a new owner.
    pub edge_moves: AtomicU64,
}

/// The lease this node's claims hang on.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct LeaseState {
    /// etcd's lease id (0: none yet).
    pub id: i64,
    /// Seconds left at the last keep-alive.
    pub ttl: i64,
    /// When the last keep-alive or grant succeeded (ms since the Unix epoch).
    pub renewed_ms: u64,
}

/// This node's part of the cluster.
pub struct Cluster {
    /// This node's name.
    pub node: String,
    /// Where other nodes pull from.
    pub advertise: String,
    /// Where other nodes fetch this node's HLS.
    pub advertise_http: String,
    config: ClusterConfig,
    etcd: Etcd,
    /// The directory's copy.
    pub directory: Directory,
    /// Names this node owns, with their epoch.
    claims: Mutex<HashMap<StreamKey, i64>>,
    /// Names published here while the store was down (`serve_local`).
    unclaimed: Mutex<HashSet<StreamKey>>,
    lease: Mutex<LeaseState>,
    store_up: AtomicBool,
    /// Counters for `/metrics`.
    pub counters: ClusterCounters,
    /// The owners' HLS, as this node serves it for streams it relays.
    pub hls: hls::OwnerHls,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("node", &self.node).finish()
    }
}

impl Cluster {
    /// The cluster part of `config`, or `None` without `[cluster]`
    /// endpoints.
    ///
    /// # Errors
    /// An endpoint that is not a URL etcd's client can use.
    pub fn new(config: &crate::config::Config) -> Result<Option<Arc<Cluster>>, EtcdError> {
        let c = &config.cluster;
        if !c.enabled() {
            return Ok(None);
        }
        let etcd = Etcd::new(&c.endpoints, Duration::from_millis(c.request_ms))?;
        Ok(Some(Arc::new(Cluster {
            node: config.node_name(),
            advertise: config.advertise(),
            advertise_http: config.advertise_http(),
            config: c.clone(),
            etcd,
            directory: Directory::new(&c.prefix),
            claims: Mutex::default(),
            unclaimed: Mutex::default(),
            lease: Mutex::default(),
            store_up: AtomicBool::new(false),
            counters: ClusterCounters::default(),
            hls: hls::OwnerHls::default(),
        })))
    }

    /// Whether the store answered the last call.
    pub fn store_up(&self) -> bool {
        self.store_up.load(Ordering::Relaxed)
    }

    /// The lease's state.
    pub fn lease(&self) -> LeaseState {
        *lock(&self.lease)
    }

    /// The epoch at which this node owns `key`, if it does.
    pub fn epoch_of(&self, key: &StreamKey) -> Option<i64> {
        lock(&self.claims).get(key).copied()
    }

    /// Whether this node may serve `key` to an edge that holds `epoch`:
    /// it owns the name at that epoch or a newer one. An edge whose epoch is
    /// newer than ours knows an owner that replaced us.
    pub fn serves(&self, key: &StreamKey, epoch: i64) -> bool {
        self.epoch_of(key).is_some_and(|mine| mine >= epoch)
    }

    /// Names this node owns, with their epochs.
    pub fn claims(&self) -> Vec<(StreamKey, i64)> {
        let mut all: Vec<_> = lock(&self.claims)
            .iter()
            .map(|(k, e)| (k.clone(), *e))
            .collect();
        all.sort();
        all
    }

    fn record(&self, key: &StreamKey) -> Vec<u8> {
        serde_json::to_vec(&StreamRecord {
            app: key.app.clone(),
            stream: key.stream.clone(),
            node: self.node.clone(),
            advertise: self.advertise.clone(),
            http: self.advertise_http.clone(),
        })
        .unwrap_or_default()
    }

    fn store_failed(&self, e: &EtcdError) {
        self.counters.store_errors.fetch_add(1, Ordering::Relaxed);
        if self.store_up.swap(false, Ordering::Relaxed) {
            self.counters.store_outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "cluster store unreachable: serving what this node has");
        }
    }

    fn store_answered(&self) {
        if !self.store_up.swap(true, Ordering::Relaxed) {
            tracing::info!("cluster store reachable");
        }
    }

    /// Claims `key` for a publisher on this node (see [`Claim`]). Stops this
    /// node's edge relay of `key` when the claim is won.
    pub async fn claim(&self, relays: &crate::relay::Relays, key: &StreamKey) -> Claim {
        if let Some(epoch) = self.epoch_of(key) {
            return Claim::Owned {
                epoch,
                took_edge: false,
            };
        }
        let lease = self.lease().id;
        let outcome = if lease == 0 || !self.store_up() {
            Err(None)
        } else {
            self.create(key, lease).await.map_err(Some)
        };
        match outcome {
            Ok(Ok(epoch)) => {
                self.counters.claims_won.fetch_add(1, Ordering::Relaxed);
                let took_edge = relays.end_edge(key);
                tracing::info!(stream = %key, epoch, took_edge, "cluster: name claimed");
                Claim::Owned { epoch, took_edge }
            }
            Ok(Err(owner)) => {
                self.counters.claims_refused.fetch_add(1, Ordering::Relaxed);
                Claim::Elsewhere(owner)
            }
            Err(e) => {
                if let Some(e) = &e {
                    self.store_failed(e);
                }
                match self.config.on_store_down {
                    OnStoreDown::ServeLocal => {
                        self.counters.claims_local.fetch_add(1, Ordering::Relaxed);
                        lock(&self.unclaimed).insert(key.clone());
                        tracing::warn!(stream = %key, "cluster store down: publish accepted here, claimed when it answers");
                        Claim::Local
                    }
                    OnStoreDown::Refuse => Claim::StoreDown,
                }
            }
        }
    }

    /// One create-if-absent: our epoch, or the owner that holds the name.
    /// A claim left by this node's previous life (same name, old lease) is
    /// removed and made again.
    async fn create(&self, key: &StreamKey, lease: i64) -> Result<Result<i64, Owner>, EtcdError> {
        let path = self.directory.stream_key(key);
        let record = self.record(key);
        for _ in 0..2 {
            match self.etcd.create(&path, &record, lease).await {
                Ok(Created::Won { revision }) => {
                    self.store_answered();
                    lock(&self.claims).insert(key.clone(), revision);
                    return Ok(Ok(revision));
                }
                Ok(Created::Held(kv)) => {
                    self.store_answered();
                    let held: Option<StreamRecord> = serde_json::from_slice(&kv.value).ok();
                    let owner = Owner {
                        node: held.as_ref().map(|r| r.node.clone()).unwrap_or_default(),
                        advertise: held
                            .as_ref()
                            .map(|r| r.advertise.clone())
                            .unwrap_or_default(),
                        http: held.map(|r| r.http).unwrap_or_default(),
                        epoch: kv.create_revision,
                    };
                    if owner.node != self.node {
                        return Ok(Err(owner));
                    }
                    if kv.lease == lease {
                        lock(&self.claims).insert(key.clone(), kv.create_revision);
                        return Ok(Ok(kv.create_revision));
                    }
                    tracing::info!(stream = %key, epoch = kv.create_revision, "cluster: removing this node's claim from a previous lease");
                    self.etcd.delete_if(&path, kv.create_revision).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(EtcdError::Unreachable("the claim kept changing".into()))
    }

    /// The publisher of `key` on this node left: the name is free for any
    /// node at once (if the store cannot be reached, the lease's expiry
    /// frees it). Called by the node task, which sees the hub's events.
    async fn release(&self, key: &StreamKey) {
        lock(&self.unclaimed).remove(key);
        let Some(epoch) = lock(&self.claims).remove(key) else {
            return;
        };
        let path = self.directory.stream_key(key);
        match self.etcd.delete_if(&path, epoch).await {
            Ok(_) => {
                self.store_answered();
                tracing::info!(stream = %key, epoch, "cluster: name released");
            }
            Err(e) => self.store_failed(&e),
        }
    }

    /// A player (from `ip`) asks for `key`, which this node does not
    /// publish: when another node owns it, an edge relay pulls it (made now
    /// or woken). `Err` when the store is down and the name is unknown
    /// here: the player is refused at once.
    pub fn demand(
        &self,
        shared: &crate::server::Shared,
        key: &StreamKey,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), StoreDownError> {
        // Every player's subscribe passes here: a map lookup first; the
        // hub's snapshot (which lists subscribers) only when the store is
        // down and the name unknown. A name this node owns is never pulled
        // from elsewhere, whatever a lagging copy of the directory says.
        if self.epoch_of(key).is_some() || lock(&self.unclaimed).contains(key) {
            return Ok(());
        }
        match self.directory.owner(key) {
            Some(owner) if owner.node != self.node => {
                shared
                    .relays
                    .demand_edge(key, self.edge_url(key, &owner), ip);
                Ok(())
            }
            Some(_) => Ok(()),
            None if !self.store_up()
                && !shared.relays.pulls(key)
                && shared.hub.stream(key).is_none() =>
            {
                Err(StoreDownError(key.clone()))
            }
            None => Ok(()),
        }
    }

    /// The URL this node's edge pulls `key` from while `owner` owns it.
    pub fn edge_url(&self, key: &StreamKey, owner: &Owner) -> crate::relay::PullUrl {
        edge::url(key, owner, &self.config.secret)
    }

    /// The query this node's requests to the owner of `key` carry.
    pub fn edge_query(&self, key: &StreamKey, epoch: i64) -> String {
        edge::query(key, epoch, &self.config.secret)
    }

    /// The HTTP address of `key`'s owner when another node owns it: HLS is
    /// then the owner's, fetched through [`Cluster::hls`].
    pub fn hls_owner(&self, key: &StreamKey) -> Option<Owner> {
        self.directory
            .owner(key)
            .filter(|o| o.node != self.node && !o.http.is_empty())
    }

    /// Names this node published while the store was down, to claim now.
    fn take_unclaimed(&self) -> Vec<StreamKey> {
        lock(&self.unclaimed).drain().collect()
    }
}

/// Why a publish was refused.
#[derive(Debug)]
pub enum Refused {
    /// Another node owns the name, or the store is down under
    /// `on_store_down = "refuse"`: the reason, worded like the hub's.
    Cluster(String),
    /// This node's hub refused it (another local publisher, shutdown).
    Hub(stream_core::PublishError),
}

/// Publishes `key` for `who` on this node: cluster-wide arbitration first
/// (the claim), then the hub's. When this node was relaying the name from
/// its former owner, the publisher takes the stream over from that relay.
///
/// # Errors
/// [`Refused`]: the name is owned elsewhere, or taken here.
pub async fn publish(
    shared: &crate::server::Shared,
    key: &StreamKey,
    who: stream_core::PeerInfo,
) -> Result<stream_core::Publisher, Refused> {
    let take_over = match &shared.cluster {
        None => false,
        Some(cluster) => match cluster.claim(&shared.relays, key).await {
            Claim::Owned { took_edge, .. } => took_edge,
            Claim::Local => false,
            Claim::Elsewhere(owner) => {
                return Err(Refused::Cluster(format!(
                    "stream {key} is already being published on node {} (epoch {})",
                    owner.node, owner.epoch
                )))
            }
            Claim::StoreDown => {
                return Err(Refused::Cluster(format!(
                    "stream {key} cannot be claimed: the cluster directory cannot be reached (cluster.on_store_down = \"refuse\")"
                )))
            }
        },
    };
    let published = if take_over {
        shared.hub.take_over(key.clone(), who)
    } else {
        shared.hub.publish(key.clone(), who)
    };
    published.map_err(Refused::Hub)
}

/// A request from another node's edge (its query carries the epoch it
/// holds) is served only while this node owns the name at that epoch or a
/// newer one: an edge never gets media from an owner older than the one it
/// knows. With `cluster.secret` it must also carry the edge's signature, and
/// then it is a node, not a viewer: `Ok(true)`, the viewers' hooks are not
/// asked. Requests without an epoch are ordinary plays: `Ok(false)`.
///
/// # Errors
/// The refusal, for the edge's log.
pub fn serve_edge(
    shared: &crate::server::Shared,
    key: &StreamKey,
    query: Option<&str>,
) -> Result<bool, String> {
    let Some(epoch) = edge::epoch_in(query) else {
        return Ok(false);
    };
    let Some(c) = &shared.cluster else {
        return Err("this server is not part of a cluster".into());
    };
    if !c.serves(key, epoch) {
        return Err(format!(
            "node {} does not own {key} at epoch {epoch} (it holds {:?})",
            c.node,
            c.epoch_of(key)
        ));
    }
    match c.config.secret.as_str() {
        "" => Ok(false),
        secret if edge::signed(key, epoch, secret, query.unwrap_or("")) => Ok(true),
        _ => Err(format!(
            "a request for {key} at epoch {epoch} without a valid cluster signature"
        )),
    }
}

/// A play of a name this node cannot look up: the store is down.
#[derive(Debug, thiserror::Error)]
#[error("the cluster directory cannot be reached: {0} is not known on this node")]
pub struct StoreDownError(pub StreamKey);
