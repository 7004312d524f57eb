//! Test-only endpoints, compiled into debug builds only and served only when
//! strom was started with `--test-hooks`. A release build has no trace of them.

use std::time::Duration;

use hyper::StatusCode;
use serde_json::json;

use super::reply::{error, json, Reply};
use super::url::query_param;
use crate::server::Shared;

/// `POST /debug/block-worker?worker=N&ms=M`: blocks media worker N's event
/// loop for M milliseconds with a synchronous sleep, as a careless session
/// would, so tests can watch the watchdog turn `/healthz` to 503.
pub fn block_worker(shared: &Shared, query: &str) -> Reply {
    let index: usize = query_param(query, "worker")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let ms: u64 = query_param(query, "ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
        .min(60_000);
    let Some(worker) = shared.pool.workers().get(index) else {
        return error(StatusCode::BAD_REQUEST, "bad_worker", "no such worker");
    };
    worker
        .handle
        .spawn(async move { std::thread::sleep(Duration::from_millis(ms)) });
    json(
        StatusCode::ACCEPTED,
        &json!({ "blocked": worker.name, "ms": ms }),
    )
}
