//! The HTTP listener: the management API, `/healthz` and `/metrics`, served
//! on the control-plane runtime (see [`crate::runtime::control`]).
//!
//! Every connection is admitted under the caps of [`crate::admission`]
//! (pending while its request line is classified, then a control-plane
//! connection or a media session), must send each request head within
//! `http.request_timeout_ms`, and lives at most [`MAX_CONNECTION_LIFETIME`].

mod api;
pub use api::{redacted_config, statistics};
mod auth;
mod cluster;
#[cfg(debug_assertions)]
mod debug;
mod health;
pub mod metrics;
mod proxies;
mod pushes;
pub mod recordings;
pub mod reply;
pub(crate) mod router;
pub mod url;
mod zlm;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::admission::fd::{is_exhaustion, Spare, Throttle};
use crate::admission::refuse::{refuse, Refusal};
use crate::admission::Ticket;
use crate::http_media::{Classified, ControlPath};
use crate::server::Shared;

/// A control-plane connection is closed after this long, keep-alive or not,
/// so idle clients cannot hold permits forever.
pub const MAX_CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// Accepts and serves connections until `shutdown` turns true.
///
/// Every connection is accepted at once and counted as pending while its
/// request line is classified ([`crate::admission`]); over a cap it gets 503
/// with `Connection: close` straight away. Accepting never waits for a
/// permit, so idle sockets cannot queue `/healthz` behind them.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut spare = Spare::new();
    let mut exhausted = Throttle::new(Duration::from_secs(1));
    let mut refused = Throttle::new(Duration::from_secs(1));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) if is_exhaustion(&e) => {
                if let Some(n) = exhausted.hit(Instant::now()) {
                    tracing::warn!(error = %e, occurrences = n, "http accept: out of descriptors; refusing with the spare");
                }
                crate::accept::refuse_with_spare(
                    &listener,
                    &mut spare,
                    &shared,
                    "http",
                    Refusal::Http,
                )
                .await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "http accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        match shared.admission.admit_pending("http", peer.ip()) {
            Ok(ticket) => {
                tokio::spawn(connection(stream, peer, shared.clone(), ticket));
            }
            Err(reason) => {
                if let Some(n) = refused.hit(Instant::now()) {
                    tracing::warn!(%peer, reason = reason.name(), occurrences = n, "http connection refused");
                }
                refuse(stream, Refusal::Http, reason);
            }
        }
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, ticket: Ticket) {
    let timeout = Duration::from_millis(shared.config.http.request_timeout_ms);
    // Media requests (HTTP-FLV, HTTP-TS, HLS) are served by a media worker:
    // look at the request line without consuming it, then hand the socket
    // over. The control plane keeps only API, health and metrics.
    let eviction = ticket.eviction();
    let classified = tokio::select! {
        c = tokio::time::timeout(timeout, crate::http_media::classify(&stream)) => c,
        () = eviction.evicted() => return, // to make room for a newcomer
    };
    let path = match classified {
        Ok(Ok(Classified::Media(kind))) => {
            match ticket.into_session() {
                Ok(ticket) => crate::http_media::hand_off(stream, peer, kind, shared, ticket),
                Err(reason) => refuse(stream, Refusal::Http, reason),
            }
            return;
        }
        Ok(Ok(Classified::Control(path))) => path,
        Ok(Err(_)) | Err(_) => return, // closed, or no request line in time
    };
    let privileged = match path {
        ControlPath::Probe => true,
        ControlPath::Api => shared
            .config
            .api
            .trusted_networks
            .iter()
            .any(|n| n.contains(peer.ip())),
        ControlPath::Other => false,
    };
    let _ticket = match ticket.into_control(privileged) {
        Ok(t) => t,
        Err(reason) => return refuse(stream, Refusal::Http, reason),
    };
    let service = service_fn(move |req| {
        let shared = shared.clone();
        // Handlers are snapshots of in-memory state (a few map operations
        // under short locks) or catalogue reads on the blocking pool under a
        // deadline: nothing here can wait on a peer.
        async move { Ok::<_, Infallible>(router::route(&shared, peer, req).await) }
    });
    // The header read timeout also bounds the idle time between requests of
    // a keep-alive connection (hyper starts it when it waits for a head).
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
