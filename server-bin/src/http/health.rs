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
    };
    json(status, &body)
}
