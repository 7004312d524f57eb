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

pub(crate) use play::first_tracks;
pub(crate) use record::{deliver as deliver_rtp, REORDER_WAIT, REORDER_WINDOW};
mod setup;
pub mod udp;

use std::sync::Arc;

use stream_core::Protocol;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::server::Shared;
use crate::session::SessionGuard;

pub use driver::run as serve;

/// Accepts RTSP connections until `stop` turns true.
pub async fn listen(listener: TcpListener, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    crate::accept::accept_loop(listener, shared, stop, Protocol::Rtsp, serve_tcp).await
}

/// Runs an accepted RTSP connection on its socket's two owned halves.
async fn serve_tcp(stream: TcpStream, shared: Arc<Shared>, guard: SessionGuard) {
    let (rd, wr) = stream.into_split();
    driver::run(rd, wr, shared, guard).await;
}

/// The RTSP `Session` id of a connection: unguessable, unique per process.
fn session_id(id: u64) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(id);
    rtsp_proto::signal::session_id_from_seed(h.finish() ^ id)
}
