//! The RTMP listener and its IO driver around `rtmp_proto::ServerSession`.
//!
//! Connections are accepted by [`crate::accept`] and each runs on a media
//! worker for its whole life.

mod driver;
mod play;
mod publish;

pub(crate) use driver::handshake_params;
pub(crate) use publish::push_flv;

use std::sync::Arc;

use stream_core::Protocol;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::server::Shared;
use crate::session::SessionGuard;

pub use driver::run as serve;

/// Accepts RTMP connections until `stop` turns true.
pub async fn listen(listener: TcpListener, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    crate::accept::accept_loop(listener, shared, stop, Protocol::Rtmp, serve_tcp).await
}

/// Runs an accepted RTMP connection on its socket's two owned halves.
async fn serve_tcp(stream: TcpStream, shared: Arc<Shared>, guard: SessionGuard) {
    let (rd, wr) = stream.into_split();
    driver::run(rd, wr, shared, guard).await;
}
