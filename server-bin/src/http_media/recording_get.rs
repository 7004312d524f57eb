//! `GET /api/v1/recordings/{app}/{stream}/get?start=…&duration=…&format=mp4`:
//! a recorded range as one fragmented MP4 file ([`crate::record::playback`]),
//! on a media worker so that downloads never load the control plane.
//!
//! - **Parameters**: `start` in unix seconds or RFC 3339 UTC, `duration` in
//!   seconds (at most a day), `format` `mp4` (the default). 400 otherwise;
//!   404 when nothing was recorded in the range.
//! - **Length and ranges**: the length is known before the first byte
//!   (`Content-Length`, `Accept-Ranges: bytes`); one `Range` (`bytes=a-b`,
//!   `a-`, `-n`) is a 206, a range past the end a 416; several ranges get
//!   the whole file (RFC 9110 allows ignoring them). The plan is made again
//!   for every request, so the ranges of a `<video>` element's requests are
//!   consistent once the range asked for is fully recorded.
//! - **Track change**: when the publisher's tracks changed within the range,
//!   the file ends before the change and `X-Strom-Track-Change` gives the
//!   time (RFC 3339) to ask again from.
//! - **Who**: the API's checks ([`crate::http::router::api_gate`]: address,
//!   secret, `Host`), on every request of the connection.
//! - **Bounds**: `record.max_gets` downloads at once, `record.max_gets_per_ip`
//!   per client address (503 above); reads on `spawn_blocking` in chunks of
//!   at most [`CHUNK`] (plus a `moof`), each within [`READ_DEADLINE`]; every
//!   write within `server.write_stall_ms`; each request head and the idle time
//!   between requests within `http.request_timeout_ms`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderValue, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::byte_range::{parse_duration, parse_range, parse_start, RangeAsk};
use super::hls::StallIo;
use crate::http::reply::{self, Reply};
use crate::http::url::{query_param, segments};
use crate::record::layout::Utc;
use crate::record::playback::{plan, Reader};
use crate::record::slots::{GetSlot, PlaybackSlots};
use crate::record::RecordError;
use crate::server::Shared;
use crate::session::{SessionGuard, SessionInfo};

/// Most bytes read from disk per chunk (a chunk starting inside a `moof`
/// also reads the `moof`).
pub const CHUNK: usize = 1 << 20;
/// Longest one disk read (or the plan's reads) may take.
pub const READ_DEADLINE: Duration = Duration::from_secs(10);
/// Longest a download connection is kept.
const MAX_CONNECTION_LIFETIME: Duration = Duration::from_secs(6 * 3600);

/// Serves one connection of downloads (any number of keep-alive requests).
pub async fn run(
    stream: TcpStream,
    shared: Arc<Shared>,
    mut guard: SessionGuard,
    peer: SocketAddr,
) {
    let timeout = Duration::from_millis(shared.config.http.request_timeout_ms);
    let stall = Duration::from_millis(shared.config.server.write_stall_ms);
    let stalled = Arc::new(AtomicBool::new(false));
    let io = StallIo::new(stream, stall, stalled.clone());
    let info = guard.info().clone();
    let service = service_fn(move |req| {
        let (shared, info) = (shared.clone(), info.clone());
        async move { Ok::<_, Infallible>(answer(&shared, &info, peer, req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(TokioIo::new(io), service);
    let kicked = guard.info().kicked();
    let end = tokio::select! {
        r = tokio::time::timeout(MAX_CONNECTION_LIFETIME, conn) => match r {
            Ok(Ok(())) => "peer-closed",
            Ok(Err(_)) if stalled.load(Ordering::Relaxed) => "write-stall",
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "recording download ended with an error");
                "peer-closed"
            }
            Err(_) => "lifetime",
        },
        _ = kicked => "kicked",
    };
    guard.set_end_reason(end);
}

/// A response of a download connection.
type GetReply = Response<GetBody>;

/// A complete reply (errors, HEAD) as a download reply.
fn full(reply: Reply) -> GetReply {
    reply.map(GetBody::Full)
}

async fn answer<B>(
    shared: &Arc<Shared>,
    info: &Arc<SessionInfo>,
    peer: SocketAddr,
    req: Request<B>,
) -> GetReply {
    let (parts, _body) = req.into_parts();
    let mut reply = match respond(shared, info, peer, &parts).await {
        Ok(r) => r,
        Err(r) => full(r),
    };
    let cors = HeaderValue::from_static("*");
    reply
        .headers_mut()
        .insert(hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN, cors);
    reply
}

/// The app/stream of the path (`/api/v1/recordings/{app…}/{stream}/get`).
fn stream_of(path: &str) -> Option<String> {
    let segs = segments(path)?;
    match segs.as_slice() {
        [api, v1, rec, name @ .., get] if api == "api" && v1 == "v1" && rec == "recordings" => {
            (get == "get" && name.len() >= 2 && name.iter().all(|s| !s.is_empty()))
                .then(|| name.join("/"))
        }
        _ => None,
    }
}

async fn respond(
    shared: &Arc<Shared>,
    info: &Arc<SessionInfo>,
    peer: SocketAddr,
    parts: &hyper::http::request::Parts,
) -> Result<GetReply, Reply> {
    if let Some(refused) = crate::http::router::api_gate(shared, peer, parts) {
        return Err(refused);
    }
    let bad = |msg: &str| reply::error(StatusCode::BAD_REQUEST, "bad_request", msg);
    if parts.method != Method::GET && parts.method != Method::HEAD {
        let why = "GET or HEAD";
        return Err(reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            why,
        ));
    }
    let stream = stream_of(parts.uri.path()).ok_or_else(|| bad("malformed recording path"))?;
    let query = parts.uri.query().unwrap_or("");
    let param = |name| query_param(query, name);
    let start = parse_start(&param("start").ok_or_else(|| bad("start is required"))?);
    let start = start.map_err(|e| bad(&e))?;
    let duration = param("duration").ok_or_else(|| bad("duration is required"))?;
    let duration = parse_duration(&duration).map_err(|e| bad(&e))?;
    if param("format").is_some_and(|f| f != "mp4") {
        return Err(bad("format: only mp4"));
    }
    let slot = GetSlot::take(shared, peer.ip()).map_err(|cap| {
        let msg = format!("too many recording downloads ({cap})");
        reply::error(StatusCode::SERVICE_UNAVAILABLE, "busy", &msg)
    })?;
    let planned = {
        let shared = shared.clone();
        let stream = stream.clone();
        tokio::task::spawn_blocking(move || {
            let (catalogue, root) = PlaybackSlots::store(&shared)?;
            plan(&catalogue, &root, &stream, start, duration)
        })
    };
    let planned = match tokio::time::timeout(READ_DEADLINE, planned).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) | Err(_) => Err(RecordError::Io(std::io::ErrorKind::TimedOut.into())),
    };
    let plan = Arc::new(planned.map_err(|e| match e {
        RecordError::NothingRecorded => reply::error(
            StatusCode::NOT_FOUND,
            "not_found",
            "nothing recorded in that range",
        ),
        e => {
            tracing::warn!(%stream, error = %e, "recording download: cannot plan");
            reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                &e.to_string(),
            )
        }
    })?);
    let total = plan.len;
    let (status, first, last) = match parse_range(
        parts
            .headers
            .get(hyper::header::RANGE)
            .and_then(|v| v.to_str().ok()),
        total,
    ) {
        RangeAsk::Full => (StatusCode::OK, 0, total - 1),
        RangeAsk::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end),
        RangeAsk::Unsatisfiable => {
            let mut r = reply::error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                &format!("the file has {total} bytes"),
            );
            let range = format!("bytes */{total}");
            if let Ok(v) = HeaderValue::from_str(&range) {
                r.headers_mut().insert(CONTENT_RANGE, v);
            }
            return Err(r);
        }
    };
    tracing::debug!(%stream, start, duration, bytes = total, first, last, "recording download");
    let body = if parts.method == Method::HEAD {
        GetBody::Full(reply::Body::new(Bytes::new()))
    } else {
        GetBody::Stream(Box::new(Chunks {
            reader: Some(Reader::new(plan.clone())),
            pos: first,
            end: last + 1,
            pending: None,
            info: info.clone(),
            _slot: slot,
        }))
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(last + 1 - first));
    let mut add = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    if status == StatusCode::PARTIAL_CONTENT {
        add("content-range", format!("bytes {first}-{last}/{total}"));
    }
    add("x-strom-start", Utc::from_ms(plan.start_ms).rfc3339());
    add("x-strom-duration-ms", plan.duration_ms.to_string());
    if let Some(at) = plan.track_change_ms {
        add("x-strom-track-change", Utc::from_ms(at).rfc3339());
    }
    Ok(r)
}

/// A download's body: complete (errors, HEAD) or read in chunks.
enum GetBody {
    Full(reply::Body),
    Stream(Box<Chunks>),
}

/// A chunk being read on the blocking pool: the reader comes back with it.
type ChunkRead = JoinHandle<(Reader, std::io::Result<Bytes>)>;

/// Bytes `pos..end` of a plan's output, read one chunk at a time on the
/// blocking pool.
struct Chunks {
    /// The reader, away while a read runs.
    reader: Option<Reader>,
    pos: u64,
    end: u64,
    pending: Option<(ChunkRead, Pin<Box<tokio::time::Sleep>>)>,
    info: Arc<SessionInfo>,
    _slot: GetSlot,
}

impl Chunks {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<std::io::Result<Bytes>>> {
        if self.pos >= self.end {
            return Poll::Ready(None);
        }
        if self.pending.is_none() {
            let Some(mut reader) = self.reader.take() else {
                return Poll::Ready(None);
            };
            let (pos, max) = (self.pos, CHUNK.min((self.end - self.pos) as usize));
            let read = tokio::task::spawn_blocking(move || {
                let r = reader.read(pos, max);
                (reader, r)
            });
            self.pending = Some((read, Box::pin(tokio::time::sleep(READ_DEADLINE))));
        }
        let Some((read, deadline)) = self.pending.as_mut() else {
            return Poll::Ready(None);
        };
        let done = match Pin::new(read).poll(cx) {
            Poll::Ready(done) => done,
            Poll::Pending => {
                return match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(std::io::ErrorKind::TimedOut.into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        };
        self.pending = None;
        let (reader, result) = match done {
            Ok(done) => done,
            Err(e) => return Poll::Ready(Some(Err(std::io::Error::other(e.to_string())))),
        };
        self.reader = Some(reader);
        let mut chunk = match result {
            Ok(chunk) if chunk.is_empty() => {
                return Poll::Ready(Some(Err(std::io::ErrorKind::UnexpectedEof.into())))
            }
            Ok(chunk) => chunk,
            Err(e) => {
                tracing::warn!(error = %e, "recording download: read failed");
                return Poll::Ready(Some(Err(e)));
            }
        };
        chunk.truncate((self.end - self.pos).min(chunk.len() as u64) as usize);
        self.pos += chunk.len() as u64;
        self.info
            .bytes_out
            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        Poll::Ready(Some(Ok(chunk)))
    }
}

impl Body for GetBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            GetBody::Full(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(|never| match never {}))),
            GetBody::Stream(chunks) => chunks.poll_chunk(cx).map(|c| c.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GetBody::Full(body) => body.is_end_stream(),
            GetBody::Stream(chunks) => chunks.pos >= chunks.end,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GetBody::Full(body) => body.size_hint(),
            GetBody::Stream(chunks) => SizeHint::with_exact(chunks.end - chunks.pos),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stream_is_what_lies_between_recordings_and_get() {
        assert_eq!(
            super::stream_of("/api/v1/recordings/live/cam/get").as_deref(),
            Some("live/cam")
        );
        assert_eq!(
            super::stream_of("/api/v1/recordings/a/b/c/get").as_deref(),
            Some("a/b/c")
        );
        assert_eq!(super::stream_of("/api/v1/recordings/cam/get"), None);
        assert_eq!(super::stream_of("/api/v1/recordings/live/cam/list"), None);
    }

    #[test]
    fn downloads_are_classified_as_media_and_the_rest_of_the_api_is_not() {
        use super::super::request::{media_kind_of_line, MediaKind};
        let line = |l: &str| media_kind_of_line(l.as_bytes());
        let get = "GET /api/v1/recordings/live/cam/get?start=1&duration=5 HTTP/1.1";
        assert_eq!(line(get), Some(MediaKind::RecordingGet));
        assert_eq!(
            line("HEAD /api/v1/recordings/a/b/c/get HTTP/1.1"),
            Some(MediaKind::RecordingGet)
        );
        assert_eq!(line("GET /api/v1/recordings/live/cam HTTP/1.1"), None);
        assert_eq!(line("GET /api/v1/recordings/get HTTP/1.1"), None);
        assert_eq!(line("POST /api/v1/recordings/live/cam/get HTTP/1.1"), None);
    }
}
