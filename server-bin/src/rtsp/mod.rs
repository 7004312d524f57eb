//! The RTSP listener (RFC 2326) and its IO driver around
//! `rtsp_proto::signal::ServerSession`: publishing with ANNOUNCE/RECORD and
//! playing with DESCRIBE/PLAY, over TCP interleaving or UDP port pairs.
//!
//! As for RTMP, connections are accepted by [`crate::accept`] and each runs
//! on a media worker for its whole life. Media crosses stream-core in
//! its canonical form, so RTSP plays what RTMP publishes and the reverse
//! ([`crate::media::rtp_ingest`], [`crate::media::rtp_egress`]).

mod auth;
mod driver;
mod play;
mod record;
mod setup;
pub mod udp;

use std::sync::Arc;

use stream_core::Protocol;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::server::Shared;

/// Accepts RTSP connections until `stop` turns true.
pub async fn listen(listener: TcpListener, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    crate::accept::accept_loop(listener, shared, stop, Protocol::Rtsp, driver::run).await
}

/// The RTSP `Session` id of a connection: unguessable, unique per process.
fn session_id(id: u64) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(id);
    rtsp_proto::signal::session_id_from_seed(h.finish() ^ id)
}
