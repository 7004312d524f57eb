//! Test-only endpoints, compiled into debug builds only and served only when
//! strom was started with `--test-hooks`. A release build has no trace of them.

use std::time::Duration;

use hyper::StatusCode;
use serde_json::json;

use stream_core::{Protocol, StreamKey};

use super::reply::{error, json, Reply};
use super::url::query_param;
use crate::server::Shared;
use crate::session;

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

/// `POST /debug/panic-session?worker=N&app=A&stream=S`: starts a session on
/// media worker N that subscribes to `A/S` like a player, waits for its first
/// media event and panics while it holds its session guard and its
/// subscription. Tests use it to show, on the real binary, that a panicking
/// session is logged, releases what it held and ends nobody else.
pub fn panic_session(shared: &Shared, query: &str) -> Reply {
    let index: usize = query_param(query, "worker")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (Some(app), Some(stream)) = (query_param(query, "app"), query_param(query, "stream"))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_stream",
            "app and stream expected",
        );
    };
    let Some(worker) = shared.pool.workers().get(index) else {
        return error(StatusCode::BAD_REQUEST, "bad_worker", "no such worker");
    };
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let guard = shared.sessions.register(Protocol::Rtmp, peer);
    let id = guard.info().id;
    let key = StreamKey::new(&app, &stream);
    guard.info().set_stream(key.clone(), None);
    let hub = shared.hub.clone();
    let info = guard.info().clone();
    session::spawn(&worker.handle, &info, async move {
        // The task owns the guard until the panic unwinds through it.
        let guard = guard;
        let subscription = hub.subscribe(&key, guard.peer_info()).await;
        if let Ok(mut subscriber) = subscription {
            let _ = tokio::time::timeout(Duration::from_secs(5), subscriber.recv()).await;
            panic!("debug: session {id} panics on purpose, holding a subscription to {key}");
        }
        panic!("debug: session {id} panics on purpose, {key} was not found");
    });
    json(
        StatusCode::ACCEPTED,
        &json!({ "session": id, "worker": worker.name }),
    )
}
