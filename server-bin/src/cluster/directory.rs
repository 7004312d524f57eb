//! This node's copy of the cluster directory: which node owns which stream
//! (`<prefix>/streams/…`) and which nodes are alive (`<prefix>/nodes/…`),
//! kept by a list and then etcd's watch.
//!
//! Stream keys in etcd are `<prefix>/streams/<app>/<stream>` with `%` and
//! `/` in the app percent-encoded, so `live/a` + `b` and `live` + `a/b`
//! stay two names.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use stream_core::StreamKey;

use super::etcd::{Event, EventKind, Kv};
use crate::session::lock;

/// A stream's owner, as the directory says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// The owner node's name.
    pub node: String,
    /// Where other nodes pull from (`host:port`, RTMP).
    pub advertise: String,
    /// Where other nodes fetch its HLS (`host:port`, HTTP).
    pub http: String,
    /// The etcd revision that created the claim: the ownership epoch.
    pub epoch: i64,
}

/// The value of a stream's key.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StreamRecord {
    pub app: String,
    pub stream: String,
    pub node: String,
    pub advertise: String,
    #[serde(default)]
    pub http: String,
}

/// The value of a node's key: what it advertises and its load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The node's name.
    pub node: String,
    /// Where other nodes pull from.
    pub advertise: String,
    /// Streams published on the node.
    pub publishers: u64,
    /// Players on the node, every protocol.
    pub players: u64,
    /// Streams the node pulls from other nodes.
    pub edges: u64,
    /// When the node wrote this (ms since the Unix epoch).
    pub updated_ms: u64,
}

/// What a change of the directory means for this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `key` has a (new) owner.
    Owned(StreamKey, Owner),
    /// Nobody owns `key` any more.
    Gone(StreamKey),
}

#[derive(Default)]
struct Inner {
    /// By etcd key: a delete event carries only the key.
    streams: HashMap<String, (StreamKey, Owner)>,
    nodes: HashMap<String, NodeRecord>,
    revision: i64,
}

/// The directory's copy.
pub struct Directory {
    prefix: String,
    inner: Mutex<Inner>,
}

/// Most streams and nodes the copy holds: a directory written by a broken
/// or hostile node cannot grow this one without bound.
pub const MAX_ENTRIES: usize = 100_000;

impl Directory {
    /// An empty copy for keys under `prefix`.
    pub fn new(prefix: &str) -> Directory {
        Directory {
            prefix: prefix.to_string(),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The prefix of every stream key.
    pub fn streams_prefix(&self) -> String {
        format!("{}/streams/", self.prefix)
    }

    /// The prefix of every node key.
    pub fn nodes_prefix(&self) -> String {
        format!("{}/nodes/", self.prefix)
    }

    /// The prefix of everything strom keeps.
    pub fn prefix(&self) -> String {
        format!("{}/", self.prefix)
    }

    /// The etcd key of `key`'s claim.
    pub fn stream_key(&self, key: &StreamKey) -> String {
        let app = key.app.replace('%', "%25").replace('/', "%2F");
        format!("{}{app}/{}", self.streams_prefix(), key.stream)
    }

    /// The etcd key of `node`'s record.
    pub fn node_key(&self, node: &str) -> String {
        format!("{}{node}", self.nodes_prefix())
    }

    /// Replaces the copy with a full listing at `revision`; the changes
    /// against what it held.
    pub fn replace(&self, kvs: &[Kv], revision: i64) -> Vec<Change> {
        let mut inner = lock(&self.inner);
        let before = std::mem::take(&mut inner.streams);
        inner.nodes.clear();
        inner.revision = revision;
        for kv in kvs {
            self.put(&mut inner, kv);
        }
        let mut changes = Vec::new();
        for (k, (key, owner)) in &inner.streams {
            if before.get(k).map(|(_, o)| o) != Some(owner) {
                changes.push(Change::Owned(key.clone(), owner.clone()));
            }
        }
        for (k, (key, _)) in before {
            if !inner.streams.contains_key(&k) {
                changes.push(Change::Gone(key));
            }
        }
        changes
    }

    /// Applies a batch of watch events, in order; the changes.
    pub fn apply(&self, events: &[Event]) -> Vec<Change> {
        let mut inner = lock(&self.inner);
        let mut changes = Vec::new();
        for e in events {
            inner.revision = inner.revision.max(e.kv.mod_revision);
            match e.kind {
                EventKind::Put => {
                    if let Some((key, owner)) = self.put(&mut inner, &e.kv) {
                        changes.push(Change::Owned(key, owner));
                    }
                }
                EventKind::Delete => {
                    let Some(k) = e.kv.key_str() else { continue };
                    if let Some((key, _)) = inner.streams.remove(k) {
                        changes.push(Change::Gone(key));
                    } else if let Some(node) = k.strip_prefix(&self.nodes_prefix()) {
                        inner.nodes.remove(node);
                    }
                }
            }
        }
        changes
    }

    /// Records one key; for a stream whose owner changed, the new owner.
    fn put(&self, inner: &mut Inner, kv: &Kv) -> Option<(StreamKey, Owner)> {
        let full = inner.streams.len() + inner.nodes.len() >= MAX_ENTRIES;
        let k = kv.key_str()?;
        if k.starts_with(&self.streams_prefix()) {
            let record: StreamRecord = serde_json::from_slice(&kv.value).ok()?;
            let key = StreamKey::parse(record.app, record.stream).ok()?;
            if self.stream_key(&key) != k {
                return None; // a record filed under another name's key
            }
            let owner = Owner {
                node: record.node,
                advertise: record.advertise,
                http: record.http,
                epoch: kv.create_revision,
            };
            if full && !inner.streams.contains_key(k) {
                tracing::warn!(
                    max = MAX_ENTRIES,
                    "cluster directory copy full: a claim is not followed"
                );
                return None;
            }
            let old = inner
                .streams
                .insert(k.to_string(), (key.clone(), owner.clone()));
            return (old.map(|(_, o)| o) != Some(owner.clone())).then_some((key, owner));
        }
        if let Some(node) = k.strip_prefix(&self.nodes_prefix()) {
            if let Ok(record) = serde_json::from_slice::<NodeRecord>(&kv.value) {
                if !full || inner.nodes.contains_key(node) {
                    inner.nodes.insert(node.to_string(), record);
                }
            }
        }
        None
    }

    /// Who owns `key`, if anyone.
    pub fn owner(&self, key: &StreamKey) -> Option<Owner> {
        lock(&self.inner)
            .streams
            .get(&self.stream_key(key))
            .map(|(_, o)| o.clone())
    }

    /// Every claimed stream and its owner, sorted by name.
    pub fn streams(&self) -> Vec<(StreamKey, Owner)> {
        let mut all: Vec<_> = lock(&self.inner).streams.values().cloned().collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Every node that holds a live lease, sorted by name.
    pub fn nodes(&self) -> Vec<NodeRecord> {
        let mut all: Vec<_> = lock(&self.inner).nodes.values().cloned().collect();
        all.sort_by(|a, b| a.node.cmp(&b.node));
        all
    }

    /// The last revision the copy reflects.
    pub fn revision(&self) -> i64 {
        lock(&self.inner).revision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(d: &Directory, key: &StreamKey, node: &str, rev: i64) -> Kv {
        let record = StreamRecord {
            app: key.app.clone(),
            stream: key.stream.clone(),
            node: node.into(),
            advertise: format!("{node}:1935"),
            http: format!("{node}:8080"),
        };
        Kv {
            key: d.stream_key(key).into_bytes(),
            value: serde_json::to_vec(&record).unwrap(),
            create_revision: rev,
            mod_revision: rev,
            version: 1,
            lease: 7,
        }
    }

    #[test]
    fn names_with_slashes_stay_apart() {
        let d = Directory::new("/strom");
        let a = StreamKey::new("live/a", "b");
        let b = StreamKey::new("live", "a/b");
        assert_ne!(d.stream_key(&a), d.stream_key(&b));
        assert_eq!(d.stream_key(&b), "/strom/streams/live/a/b");
        d.replace(&[claim(&d, &a, "n1", 5), claim(&d, &b, "n2", 6)], 6);
        assert_eq!(d.owner(&a).unwrap().node, "n1");
        assert_eq!(d.owner(&b).unwrap().node, "n2");
    }

    #[test]
    fn watch_events_move_and_drop_owners() {
        let d = Directory::new("/strom");
        let k = StreamKey::new("live", "cam");
        let put = |kv: Kv| Event {
            kind: EventKind::Put,
            kv,
        };
        let changes = d.apply(&[put(claim(&d, &k, "a", 10))]);
        assert_eq!(changes.len(), 1);
        assert_eq!(d.owner(&k).unwrap().epoch, 10);
        // The same record again (a node record refresh, a replay): no change.
        assert!(d.apply(&[put(claim(&d, &k, "a", 10))]).is_empty());
        let gone = Event {
            kind: EventKind::Delete,
            kv: Kv {
                key: d.stream_key(&k).into_bytes(),
                mod_revision: 11,
                ..Kv::default()
            },
        };
        assert_eq!(d.apply(&[gone]), vec![Change::Gone(k.clone())]);
        let changes = d.apply(&[put(claim(&d, &k, "b", 12))]);
        assert!(matches!(&changes[..], [Change::Owned(_, o)] if o.node == "b" && o.epoch == 12));
        assert_eq!(d.revision(), 12);
    }

    #[test]
    fn a_record_under_another_names_key_is_ignored() {
        let d = Directory::new("/strom");
        let k = StreamKey::new("live", "cam");
        let mut kv = claim(&d, &k, "a", 3);
        kv.key = b"/strom/streams/live/other".to_vec();
        assert!(d.replace(&[kv], 3).is_empty());
        assert!(d.streams().is_empty());
    }

    #[test]
    fn a_full_listing_reports_what_changed() {
        let d = Directory::new("/strom");
        let (a, b) = (StreamKey::new("live", "a"), StreamKey::new("live", "b"));
        d.replace(&[claim(&d, &a, "n1", 2), claim(&d, &b, "n1", 3)], 3);
        let changes = d.replace(&[claim(&d, &a, "n1", 2)], 9);
        assert_eq!(changes, vec![Change::Gone(b)]);
    }
}
