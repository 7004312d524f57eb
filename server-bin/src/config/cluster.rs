//! `[cluster]`: the nodes that share one stream directory in etcd.

use serde::{Deserialize, Serialize};

/// `[cluster]`: origin–edge clustering on etcd. Off while `endpoints` is empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// etcd client URLs (`http://host:port`), every member or a few; empty:
    /// no cluster, this node alone decides who publishes what.
    pub endpoints: Vec<String>,
    /// This node's name in the directory; empty: `advertise`.
    pub node: String,
    /// Where other nodes pull this node's streams: `host:port` of its RTMP
    /// listener as they reach it. Empty: `127.0.0.1:<rtmp.port>`, only
    /// right when every node runs on one machine.
    pub advertise: String,
    /// Where other nodes fetch this node's HLS (`host:port` of its HTTP
    /// listener): an edge serves the owner's playlists and segments. Empty:
    /// `127.0.0.1:<http.port>`.
    pub advertise_http: String,
    /// Lease of this node's claims: a node silent for this long loses every
    /// stream it owns, and another node may take them.
    pub lease_secs: u64,
    /// A publish of a name the directory cannot be asked about (etcd down):
    /// `serve_local` accepts it and claims it once the store answers again,
    /// `refuse` refuses it.
    pub on_store_down: OnStoreDown,
    /// Prefix of strom's keys in etcd (several clusters can share one etcd).
    pub prefix: String,
    /// Deadline of each call to etcd.
    pub request_ms: u64,
    /// Shared by every node: edges sign their pulls and HLS fetches with it
    /// (HMAC-SHA256 of the name and epoch), and an owner serves a signed one
    /// without asking `on_play` hooks or tokens, which know viewers, not
    /// nodes. Empty: node-to-node requests pass the hooks like any player's.
    pub secret: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            node: String::new(),
            advertise: String::new(),
            advertise_http: String::new(),
            lease_secs: 5,
            on_store_down: OnStoreDown::ServeLocal,
            prefix: "/strom".into(),
            request_ms: 1000,
            secret: String::new(),
        }
    }
}

/// What a publish of a new name does while etcd cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStoreDown {
    /// Accept it here; claim the name when the store is back (the older
    /// epoch wins a conflict, the other node's publisher is ended).
    ServeLocal,
    /// Refuse it: no name without its claim.
    Refuse,
}

impl ClusterConfig {
    /// Whether this node is part of a cluster.
    pub fn enabled(&self) -> bool {
        !self.endpoints.is_empty()
    }
}

impl super::Config {
    /// Checks `[cluster]`: the key that failed and why.
    pub(super) fn validate_cluster(&self) -> Result<(), (String, String)> {
        let c = &self.cluster;
        if !c.enabled() {
            return Ok(());
        }
        for (i, e) in c.endpoints.iter().enumerate() {
            let rest = e.strip_prefix("http://").unwrap_or("");
            let host = rest.trim_end_matches('/');
            if host.is_empty() || host.contains('/') || !host.contains(':') {
                return Err((
                    format!("cluster.endpoints[{i}]"),
                    "must be http://host:port (etcd's client URL; https is not supported)".into(),
                ));
            }
        }
        if !(1..=60).contains(&c.lease_secs) {
            return Err(("cluster.lease_secs".into(), "must be 1..=60".into()));
        }
        if !(50..=10_000).contains(&c.request_ms) {
            return Err(("cluster.request_ms".into(), "must be 50..=10000".into()));
        }
        for (key, value) in [
            ("cluster.advertise", &c.advertise),
            ("cluster.advertise_http", &c.advertise_http),
        ] {
            if !value.is_empty() && !value.contains(':') {
                return Err((key.into(), "must be host:port".into()));
            }
        }
        let name_ok = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        };
        if !name_ok(&c.node) || c.node.len() > 128 {
            return Err((
                "cluster.node".into(),
                "letters, digits, '-', '_', '.', ':' only, at most 128".into(),
            ));
        }
        if !c.prefix.starts_with('/') || c.prefix.ends_with('/') || c.prefix.len() > 128 {
            return Err((
                "cluster.prefix".into(),
                "must start with '/' and not end with it".into(),
            ));
        }
        Ok(())
    }

    /// This node's name in the cluster directory.
    pub fn node_name(&self) -> String {
        match self.cluster.node.as_str() {
            "" => self.advertise(),
            n => n.to_string(),
        }
    }

    /// Where other nodes pull this node's streams.
    pub fn advertise(&self) -> String {
        match self.cluster.advertise.as_str() {
            "" => format!("127.0.0.1:{}", self.rtmp.port),
            a => a.to_string(),
        }
    }

    /// Where other nodes fetch this node's HLS.
    pub fn advertise_http(&self) -> String {
        match self.cluster.advertise_http.as_str() {
            "" => format!("127.0.0.1:{}", self.http.port),
            a => a.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn cluster_keys_are_checked() {
        let mut c = Config::default();
        assert!(c.validate().is_ok(), "no cluster by default");
        c.cluster.endpoints = vec!["http://127.0.0.1:2379".into()];
        assert!(c.validate().is_ok());
        assert_eq!(c.node_name(), format!("127.0.0.1:{}", c.rtmp.port));
        c.cluster.endpoints = vec!["https://h:2379".into()];
        assert_eq!(c.validate().unwrap_err().0, "cluster.endpoints[0]");
        c.cluster.endpoints = vec!["http://h:2379".into()];
        c.cluster.lease_secs = 0;
        assert_eq!(c.validate().unwrap_err().0, "cluster.lease_secs");
        c.cluster.lease_secs = 5;
        c.cluster.node = "a/b".into();
        assert_eq!(c.validate().unwrap_err().0, "cluster.node");
    }
}
