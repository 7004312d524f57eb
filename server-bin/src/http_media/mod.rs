//! Media over HTTP on the HTTP port: HTTP-FLV today (`/app/stream.live.flv`);
//! HTTP-TS and HLS join here.
//!
//! The control plane's accept loop peeks at each new connection's request
//! line ([`classify`]); media requests are handed to a media worker
//! ([`hand_off`]) where this module reads the request head itself and streams
//! the response with vectored writes, instead of going through hyper: the
//! response is one endless body whose bytes are shared between players.

mod flv;
pub mod request;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use stream_core::Protocol;
use tokio::net::TcpStream;

use crate::server::Shared;
pub use request::{MediaKind, MediaRequest};

/// Longest request line looked at to classify a connection.
const PEEK_LIMIT: usize = 1024;

/// True when the connection's first request is for media. Waits (the caller
/// bounds the wait) until the request line is complete or `PEEK_LIMIT` bytes
/// arrived; consumes nothing.
pub async fn classify(stream: &TcpStream) -> std::io::Result<bool> {
    let mut buf = [0u8; PEEK_LIMIT];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let seen = &buf[..n];
        if let Some(end) = seen.iter().position(|&b| b == b'\n') {
            return Ok(request::media_kind_of_line(&seen[..end]).is_some());
        }
        if n == PEEK_LIMIT {
            return Ok(false); // an absurd request line: hyper will refuse it
        }
        // Part of a line: peek returns at once while data is buffered, so
        // give the client a moment instead of spinning.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Moves a media connection to a media worker and serves it there.
pub fn hand_off(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let std_stream = match stream.into_std() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "cannot hand an http socket to a worker");
            return;
        }
    };
    crate::io::limit_send_buffer(&std_stream, shared.config.server.socket_send_buffer);
    let guard = shared.sessions.register(Protocol::HttpFlv, peer);
    let info = guard.info().clone();
    let worker = shared.pool.pick().handle.clone();
    crate::session::spawn(&worker, &info, async move {
        match TcpStream::from_std(std_stream) {
            Ok(stream) => flv::run(stream, shared, guard).await,
            Err(e) => tracing::warn!(error = %e, "cannot register the socket on its worker"),
        }
    });
}
