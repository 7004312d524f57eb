//! The RTMP listener and its IO driver around `rtmp_proto::ServerSession`.
//!
//! Connections are accepted by [`crate::accept`] and each runs on a media
//! worker for its whole life.

mod driver;
mod play;
mod publish;

use std::sync::Arc;

use stream_core::Protocol;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::server::Shared;

/// Accepts RTMP connections until `stop` turns true.
pub async fn listen(listener: TcpListener, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    crate::accept::accept_loop(listener, shared, stop, Protocol::Rtmp, driver::run).await
}
