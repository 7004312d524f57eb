//! `GET /healthz`: 200 while every media worker's event loop keeps up, 503
//! naming the stalled workers otherwise. Open to every caller, so load
//! balancers and orchestrators can probe it; it reveals only counts.

use hyper::StatusCode;
use serde::Serialize;

use super::reply::{json, Reply};
use crate::runtime::WorkerHealth;
use crate::server::Shared;

#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    version: &'static str,
    uptime_secs: u64,
    streams: usize,
    sessions: usize,
    stalled_workers: Vec<&'a str>,
    workers: &'a [WorkerHealth],
    connections: Connections,
    /// `None` outside a cluster. The store being down does not make the node
    /// unhealthy: it keeps serving what it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<ClusterHealth>,
}

#[derive(Serialize)]
struct ClusterHealth {
    node: String,
    store: &'static str,
    owned: usize,
}

/// Admission figures: what floods show first.
#[derive(Serialize)]
struct Connections {
    sessions: usize,
    max_sessions: usize,
    pending: usize,
    control: usize,
    refused: u64,
}

/// Answers `/healthz`.
pub fn healthz(shared: &Shared) -> Reply {
    let workers = shared.watchdog.assess();
    let stalled: Vec<&str> = workers
        .iter()
        .filter(|w| w.stalled)
        .map(|w| w.name.as_str())
        .collect();
    let status = if stalled.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Health {
        status: if stalled.is_empty() { "ok" } else { "stalled" },
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: shared.started.elapsed().as_secs(),
        streams: shared.hub.stats().streams,
        sessions: shared.sessions.len(),
        stalled_workers: stalled,
        workers: &workers,
        connections: connections(shared),
        cluster: shared.cluster.as_ref().map(|c| ClusterHealth {
            node: c.node.clone(),
            store: if c.store_up() { "up" } else { "down" },
            owned: c.claims().len(),
        }),
    };
    json(status, &body)
}

fn connections(shared: &Shared) -> Connections {
    let admission = &shared.admission;
    let usage = admission.usage();
    Connections {
        sessions: usage.sessions,
        max_sessions: admission.limits().max_sessions,
        pending: usage.pending,
        control: usage.control,
        refused: admission.refusals().iter().map(|r| r.2).sum(),
    }
}
