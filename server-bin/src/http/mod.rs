//! The HTTP listener: the management API, `/healthz` and `/metrics`, served
//! on the control-plane runtime (see [`crate::runtime::control`]).
//!
//! Every connection holds a permit from a bounded pool, must send its request
//! head within `http.request_timeout_ms`, and lives at most
//! [`MAX_CONNECTION_LIFETIME`].

mod api;
pub use api::{redacted_config, statistics};
mod auth;
#[cfg(debug_assertions)]
mod debug;
mod health;
mod metrics;
pub mod reply;
mod router;
pub mod url;
mod zlm;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::server::Shared;

/// A control-plane connection is closed after this long, keep-alive or not,
/// so idle clients cannot hold permits forever.
pub const MAX_CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// Accepts and serves connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(shared.config.http.max_connections));
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                tokio::spawn(connection(stream, peer, shared.clone(), permit));
            }
            Err(e) => {
                // Typically EMFILE: back off instead of spinning, and keep serving.
                tracing::warn!(error = %e, "http accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    permit: OwnedSemaphorePermit,
) {
    let timeout = Duration::from_millis(shared.config.http.request_timeout_ms);
    // Media requests (HTTP-FLV, later HTTP-TS and HLS) are served by a media
    // worker: look at the request line without consuming it, then hand the
    // socket over. The control plane keeps only API, health and metrics.
    match tokio::time::timeout(timeout, crate::http_media::classify(&stream)).await {
        Ok(Ok(Some(kind))) => {
            drop(permit);
            crate::http_media::hand_off(stream, peer, kind, shared);
            return;
        }
        Ok(Ok(None)) => {}
        Ok(Err(_)) | Err(_) => return, // closed, or no request line in time
    }
    let _permit = permit;
    let service = service_fn(move |req| {
        let shared = shared.clone();
        // Handlers are synchronous snapshots of in-memory state (a few map
        // operations under short locks): nothing here can wait on a peer.
        async move { Ok::<_, Infallible>(router::route(&shared, peer, req)) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(MAX_CONNECTION_LIFETIME, conn).await {
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "http connection ended with an error"),
        Ok(Ok(())) => {}
        Err(_) => tracing::debug!(%peer, "http connection closed at its lifetime limit"),
    }
}
