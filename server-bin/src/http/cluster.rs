//! `GET /api/v1/cluster`: this node, its lease, the store's state, every
//! node with its load, every claimed stream with its owner and epoch, and
//! the streams this node relays from others.

use hyper::StatusCode;
use serde_json::json;

use super::reply::{error, json, Reply};
use crate::server::Shared;

/// Answers `/api/v1/cluster`.
pub fn view(shared: &Shared) -> Reply {
    let Some(c) = &shared.cluster else {
        return error(
            StatusCode::NOT_FOUND,
            "no_cluster",
            "this server is not part of a cluster ([cluster] endpoints is empty)",
        );
    };
    let streams: Vec<_> = c
        .directory
        .streams()
        .into_iter()
        .map(|(key, o)| {
            json!({
                "key": key.to_string(),
                "node": o.node,
                "advertise": o.advertise,
                "epoch": o.epoch,
            })
        })
        .collect();
    let owned: Vec<_> = c
        .claims()
        .into_iter()
        .map(|(key, epoch)| json!({ "key": key.to_string(), "epoch": epoch }))
        .collect();
    let edges: Vec<_> = shared
        .relays
        .list()
        .into_iter()
        .filter(|p| p.origin == crate::relay::Origin::Cluster)
        .collect();
    json(
        StatusCode::OK,
        &json!({
            "node": c.node,
            "advertise": c.advertise,
            "store": if c.store_up() { "up" } else { "down" },
            "lease": c.lease(),
            "revision": c.directory.revision(),
            "nodes": c.directory.nodes(),
            "streams": streams,
            "owned": owned,
            "edges": edges,
        }),
    )
}
