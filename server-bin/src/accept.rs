//! The accept loop shared by the RTMP and RTSP listeners.
//!
//! Accepting happens on the control-plane runtime (it is cheap and must not
//! depend on any media worker); each accepted socket gets a session guard
//! and is moved to a media worker, where its session runs for its whole life.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use stream_core::Protocol;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::server::Shared;
use crate::session::SessionGuard;

/// Accepts connections until `stop` turns true, serving each with `serve`
/// on a media worker.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    protocol: Protocol,
    serve: F,
) where
    F: Fn(TcpStream, Arc<Shared>, SessionGuard) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let name = protocol.name();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Typically EMFILE: back off instead of spinning, and keep serving.
                tracing::warn!(error = %e, "{name} accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let std_stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot hand a {name} socket to a worker");
                continue;
            }
        };
        crate::io::limit_send_buffer(&std_stream, shared.config.server.socket_send_buffer);
        let guard = shared.sessions.register(protocol, peer);
        let worker = shared.pool.pick();
        let info = guard.info().clone();
        let shared = shared.clone();
        let serve = serve.clone();
        crate::session::spawn(&worker.handle, &info, async move {
            // Registering the socket must happen on the worker's own runtime.
            match TcpStream::from_std(std_stream) {
                Ok(stream) => serve(stream, shared, guard).await,
                Err(e) => tracing::warn!(error = %e, "cannot register the socket on its worker"),
            }
        });
    }
}
