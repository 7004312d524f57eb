//! The RTMP listener and its IO driver around `rtmp_proto::ServerSession`.
//!
//! Accepting happens on the control-plane runtime (it is cheap and must not
//! depend on any media worker); each accepted socket is moved to a media
//! worker, where its session runs for its whole life.

mod driver;
mod play;
mod publish;

use std::sync::Arc;
use std::time::Duration;

use stream_core::Protocol;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::server::Shared;

/// Accepts RTMP connections until `stop` turns true.
pub async fn listen(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Typically EMFILE: back off instead of spinning, and keep serving.
                tracing::warn!(error = %e, "rtmp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let std_stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot hand an rtmp socket to a worker");
                continue;
            }
        };
        crate::io::limit_send_buffer(&std_stream, shared.config.server.socket_send_buffer);
        let guard = shared.sessions.register(Protocol::Rtmp, peer);
        let worker = shared.pool.pick();
        let shared = shared.clone();
        let info = guard.info().clone();
        crate::session::spawn(&worker.handle, &info, async move {
            match tokio::net::TcpStream::from_std(std_stream) {
                Ok(stream) => driver::run(stream, shared, guard).await,
                Err(e) => tracing::warn!(error = %e, "cannot register the socket on its worker"),
            }
        });
    }
}
