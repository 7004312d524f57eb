//! Media over HTTP on the HTTP port: HTTP-FLV (`/app/stream.live.flv`),
//! HTTP-TS (`/app/stream.live.ts`), HTTP-fMP4 (`/app/stream.live.mp4`) and HLS (`/app/stream/hls.m3u8`,
//! with fMP4 segments and LL-HLS `/app/stream/hls.fmp4.m3u8`);
//! recorded ranges as one MP4 (`/api/v1/recordings/app/stream/get`, see
//! `recording_get`);
//! HTTP-FLV and HTTP-TS also over WebSocket (`ws://host/app/stream.live.flv`:
//! the same bytes, one binary message per tag or TS chunk — see [`framing`]).
//!
//! The control plane's accept loop peeks at each new connection's request
//! line ([`classify`]); media requests are handed to a media worker
//! ([`hand_off`]) where this module reads the request head itself and streams
//! the response with vectored writes, instead of going through hyper: the
//! response is one endless body whose bytes are shared between players.
//! HLS requests are ordinary keep-alive HTTP exchanges: their connection is
//! served by hyper, but on a media worker too, so that thousands of players
//! polling playlists never load the control plane.

mod byte_range;
pub mod flv;
pub mod framing;
pub(crate) mod hls;
mod hls_fmp4;
mod live;
mod mp4;
mod not_carried;
mod recording_get;
pub mod request;
mod ts;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use stream_core::Protocol;
use tokio::net::TcpStream;

use crate::hooks::{Access, Decision, Notification};
use crate::server::Shared;
use crate::session::SessionGuard;
pub use request::{MediaKind, MediaRequest};

/// Longest request line looked at to classify a connection.
const PEEK_LIMIT: usize = 1024;

/// What a connection's first request line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classified {
    /// Media, served on a media worker.
    Media(MediaKind),
    /// The control plane: API, `/healthz`, `/metrics` (or anything else,
    /// which it answers 404).
    Control(ControlPath),
}

/// The kind of control-plane request, for the admission reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlPath {
    /// `/healthz` or `/metrics`: what load balancers and monitoring poll.
    Probe,
    /// `/api/…` or `/index/api/…`.
    Api,
    /// Anything else (including an unreadable request line).
    Other,
}

impl ControlPath {
    fn of_line(line: &[u8]) -> ControlPath {
        let target = std::str::from_utf8(line)
            .ok()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("");
        let path = target.split('?').next().unwrap_or("");
        match path {
            "/healthz" | "/metrics" => ControlPath::Probe,
            p if p.starts_with("/api/") || p.starts_with("/index/api/") => ControlPath::Api,
            _ => ControlPath::Other,
        }
    }
}

/// What the connection's first request asks for. Waits (the caller bounds
/// the wait) until the request line is complete or `PEEK_LIMIT` bytes
/// arrived; consumes nothing.
pub async fn classify(stream: &TcpStream) -> std::io::Result<Classified> {
    let mut buf = [0u8; PEEK_LIMIT];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let seen = &buf[..n];
        if let Some(end) = seen.iter().position(|&b| b == b'\n') {
            let line = &seen[..end];
            return Ok(match request::media_kind_of_line(line) {
                Some(kind) => Classified::Media(kind),
                None => Classified::Control(ControlPath::of_line(line)),
            });
        }
        if n == PEEK_LIMIT {
            // An absurd request line: hyper will refuse it.
            return Ok(Classified::Control(ControlPath::Other));
        }
        // Part of a line: peek returns at once while data is buffered, so
        // give the client a moment instead of spinning.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Moves a media connection to a media worker and serves it there.
/// `ticket` holds the connection's place under the admission caps for the
/// session's life.
pub fn hand_off(
    stream: TcpStream,
    peer: SocketAddr,
    kind: MediaKind,
    shared: Arc<Shared>,
    ticket: crate::admission::Ticket,
) {
    let std_stream = match stream.into_std() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "cannot hand an http socket to a worker");
            return;
        }
    };
    crate::io::limit_send_buffer(&std_stream, shared.config.server.socket_send_buffer);
    // Media leaves in whole frames already: Nagle would only hold a frame's
    // tail back until the player's delayed ACK (~40 ms seen on HTTP-TS).
    let _ = std_stream.set_nodelay(true);
    let protocol = match kind {
        MediaKind::Flv => Protocol::HttpFlv,
        MediaKind::Ts => Protocol::HttpTs,
        MediaKind::Mp4 => Protocol::HttpMp4,
        MediaKind::Hls => Protocol::Hls,
        MediaKind::RecordingGet => Protocol::HttpMp4,
        MediaKind::WebRtc => {
            // Signalling is not a session: each offer makes its peer one.
            // The connection holds its place under the caps while it lasts.
            let worker = shared.pool.pick().handle.clone();
            let eviction = ticket.eviction();
            worker.spawn(async move {
                let _ticket = ticket;
                let Ok(stream) = TcpStream::from_std(std_stream) else {
                    return;
                };
                tokio::select! {
                    () = crate::webrtc::signal::serve(stream, peer, shared) => {}
                    () = eviction.evicted() => {}
                }
            });
            return;
        }
    };
    let eviction = ticket.eviction();
    let guard = shared.sessions.register(protocol, peer);
    guard.hold(ticket);
    let info = guard.info().clone();
    let worker = shared.pool.pick().handle.clone();
    crate::session::spawn(&worker, &info, async move {
        let stream = match TcpStream::from_std(std_stream) {
            Ok(stream) => stream,
            Err(e) => return tracing::warn!(error = %e, "cannot register the socket on its worker"),
        };
        let serve = async move {
            match kind {
                MediaKind::Flv => flv::run(stream, shared, guard).await,
                MediaKind::Ts => ts::run(stream, shared, guard).await,
                MediaKind::Mp4 => live::run(stream, shared, guard, mp4::Mp4::default()).await,
                MediaKind::Hls => hls::run(stream, shared, guard).await,
                MediaKind::RecordingGet => recording_get::run(stream, shared, guard, peer).await,
                MediaKind::WebRtc => {}
            }
        };
        // Evicted before its request head named a stream: it holds nothing.
        tokio::select! {
            () = serve => {}
            () = eviction.evicted() => tracing::debug!("evicted before naming a stream"),
        }
    });
}

/// Reads a streamed media request (HTTP-FLV, HTTP-TS) and asks the hooks
/// whether it may play. On refusal the client has its error response and the
/// guard its end reason.
async fn admit(
    stream: &mut TcpStream,
    shared: &Shared,
    guard: &mut SessionGuard,
) -> Option<MediaRequest> {
    let deadline = Duration::from_millis(shared.config.http.request_timeout_ms);
    let req = match request::read(stream, deadline).await {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "http media request refused");
            guard.set_end_reason("bad-request");
            let _ = reply_error(stream, e.status(), &e.to_string()).await;
            return None;
        }
    };
    guard.info().set_stream(req.key.clone(), req.query.clone());
    let access = Access::new(&req.key, req.query.as_deref(), guard.info());
    if let Decision::Deny(why) = shared.hooks.on_play(&access).await {
        tracing::warn!(stream = %req.key, reason = %why, "http media play denied");
        guard.set_end_reason("refused");
        let _ = reply_error(stream, 403, &why).await;
        return None;
    }
    if shared.hub.stream(&req.key).is_none() {
        shared.hooks.notify(Notification::not_found(&access));
    }
    Some(req)
}

/// Answers an error with the API's JSON error shape and closes.
async fn reply_error(stream: &mut TcpStream, status: u16, message: &str) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let (reason, code) = match status {
        403 => ("Forbidden", "forbidden"),
        426 => ("Upgrade Required", "upgrade_required"),
        404 => ("Not Found", "stream_not_found"),
        415 => ("Unsupported Media Type", "codec_not_carried"),
        503 => ("Service Unavailable", "unavailable"),
        _ => ("Bad Request", "bad_request"),
    };
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    // 426 names the WebSocket version spoken (RFC 6455 §4.4).
    let version = if status == 426 {
        "Sec-WebSocket-Version: 13\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{version}Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    };
    tokio::time::timeout(Duration::from_secs(5), write)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}
