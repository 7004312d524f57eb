//! HLS: `GET /app/stream/hls.m3u8` and `GET /app/stream/{sequence}.ts`,
//! served from the stream's feed in memory ([`crate::ts_feed`]).
//!
//! Players poll the playlist every few seconds on a keep-alive connection,
//! so the connection is served by hyper — on a media worker, away from the
//! control plane. The first playlist request of a stream that is not
//! packaged yet starts its feed and waits (at most
//! `hls.first_segment_wait_ms`) for the first segment instead of answering
//! an empty playlist. The play hook is asked once per connection and stream.

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderValue, ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use stream_core::StreamKey;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::request::{parse_hls_path, HlsTarget};
use crate::hooks::{Access, Decision, Notification};
use crate::http::reply::{self, Reply};
use crate::media::carriage::Output;
use crate::server::Shared;
use crate::session::{lock, SessionGuard};
use crate::ts_feed;
use crate::waiting::WaitError;

/// Longest an HLS connection is kept (players reconnect; bounds a leaked one).
const MAX_CONNECTION_LIFETIME: Duration = Duration::from_secs(600);

/// Serves one HLS connection (any number of keep-alive requests).
///
/// Deadlines: each request head, and the idle time between requests, is
/// bounded by `http.request_timeout_ms` (hyper's header read timeout, which
/// runs from the end of the previous response); every write by
/// `server.write_stall_ms` ([`StallIo`]); the first playlist's wait by
/// `hls.first_segment_wait_ms`; the whole connection by
/// [`MAX_CONNECTION_LIFETIME`].
pub async fn run(stream: TcpStream, shared: Arc<Shared>, mut guard: SessionGuard) {
    let timeout = Duration::from_millis(shared.config.http.request_timeout_ms);
    let stall = Duration::from_millis(shared.config.server.write_stall_ms);
    let stalled = Arc::new(AtomicBool::new(false));
    let io = StallIo::new(stream, stall, stalled.clone());
    let conn_state = Arc::new(Connection {
        shared: shared.clone(),
        allowed: Mutex::default(),
        info: guard.info().clone(),
        logged: Default::default(),
    });
    let service = service_fn(move |req| {
        let conn = conn_state.clone();
        async move { Ok::<_, Infallible>(conn.answer(req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(TokioIo::new(io), service);
    let kicked = guard.info().kicked();
    let mut stopping = shared.stopping.clone();
    let end = tokio::select! {
        r = tokio::time::timeout(MAX_CONNECTION_LIFETIME, conn) => match r {
            Ok(Ok(())) => "peer-closed",
            Ok(Err(_)) if stalled.load(Ordering::Relaxed) => "write-stall",
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "hls connection ended with an error");
                "peer-closed"
            }
            Err(_) => "lifetime",
        },
        _ = kicked => "kicked",
        _ = stopping.wait_for(|s| *s) => "shutdown",
    };
    guard.set_end_reason(end);
    let bytes_out = guard.info().bytes_out.load(Ordering::Relaxed);
    if end == "write-stall" {
        tracing::warn!(
            bytes_out,
            "hls connection closed: the player accepted nothing for {stall:?}"
        );
    } else {
        tracing::debug!(bytes_out, "hls connection ended: {end}");
    }
}

/// The connection's socket with `server.write_stall_ms` on writes: hyper has
/// no write deadline, so without it a client that stops reading a segment
/// would hold the connection (and the segment) for its whole lifetime. A
/// write or flush that makes no progress for `stall` fails with `TimedOut`
/// and sets `stalled`; any progress re-arms it.
pub(crate) struct StallIo<T> {
    inner: T,
    stall: Duration,
    /// Armed while writes make no progress.
    blocked: Option<Pin<Box<tokio::time::Sleep>>>,
    stalled: Arc<AtomicBool>,
}

impl<T> StallIo<T> {
    /// `inner` with writes that fail after `stall` without progress,
    /// setting `stalled`.
    pub(crate) fn new(inner: T, stall: Duration, stalled: Arc<AtomicBool>) -> StallIo<T> {
        StallIo {
            inner,
            stall,
            blocked: None,
            stalled,
        }
    }

    /// What to do with an inner write's poll: progress disarms the timer, no
    /// progress arms it (once) and fails when it fires.
    fn watch<R>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.blocked = None;
            return poll;
        }
        let stall = self.stall;
        let timer = self
            .blocked
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.stalled.store(true, Ordering::Relaxed);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the player accepted nothing for {stall:?}"),
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch(cx, poll)
    }
}

struct Connection {
    shared: Arc<Shared>,
    /// Streams the play hook allowed on this connection.
    allowed: Mutex<HashSet<StreamKey>>,
    info: Arc<crate::session::SessionInfo>,
    /// Streams whose tracks left out were logged on this connection.
    logged: super::not_carried::Logged,
}

impl Connection {
    async fn answer<B>(&self, req: Request<B>) -> Reply {
        let mut reply = self.route(&req).await;
        let headers = reply.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        if req.method() == Method::HEAD {
            *reply.body_mut() = reply::Body::new(Bytes::new());
        }
        reply
    }

    async fn route<B>(&self, req: &Request<B>) -> Reply {
        if req.method() == Method::OPTIONS {
            let mut r = reply::with_type(StatusCode::NO_CONTENT, "text/plain", Bytes::new());
            r.headers_mut().insert(
                hyper::header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            return r;
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "GET or HEAD",
            );
        }
        let (key, target) = match parse_hls_path(req.uri().path()) {
            Ok(parsed) => parsed,
            Err(e) => return reply::error(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()),
        };
        // Another node's edge fetching this owner's HLS: checked by epoch
        // (and signature) instead of the viewers' hooks.
        match crate::cluster::serve_edge(&self.shared, &key, req.uri().query()) {
            Ok(true) => {}
            Ok(false) => {
                if let Some(denied) = self.authorize(&key, req.uri().query()).await {
                    return denied;
                }
            }
            Err(why) => return reply::error(StatusCode::FORBIDDEN, "not_owner", &why),
        }
        let shared = &self.shared;
        if !shared.hooks.stream_options(&key).enable_hls {
            let why = "HLS is off for this stream (on_publish enable_hls)";
            return reply::error(StatusCode::FORBIDDEN, "forbidden", why);
        }
        let not_found = |what: &str| reply::error(StatusCode::NOT_FOUND, "not_found", what);
        let owner = shared
            .cluster
            .as_ref()
            .and_then(|c| Some((c, c.hls_owner(&key)?)));
        let reply = match (owner, target) {
            (Some(_), HlsTarget::Fmp4(_)) => {
                return not_found("fMP4 HLS is served by the node that owns the stream");
            }
            // Another node owns the stream: its HLS, so every node serves
            // the same names with the same bytes.
            (Some((cluster, owner)), target) => {
                let query = cluster.edge_query(&key, owner.epoch);
                match cluster
                    .hls
                    .get(shared, &key, &target, &owner.http, &query)
                    .await
                {
                    Ok(body) => match target {
                        HlsTarget::Playlist => playlist_reply(shared, body),
                        HlsTarget::Segment(_) | HlsTarget::Fmp4(_) => segment_reply(body),
                    },
                    Err(e) => {
                        tracing::info!(stream = %key, error = %e, "hls from the owner node failed");
                        return reply::error(
                            StatusCode::BAD_GATEWAY,
                            "owner_unavailable",
                            &e.to_string(),
                        );
                    }
                }
            }
            (None, target) => match target {
                HlsTarget::Fmp4(target) => {
                    let who = self.info.peer_info();
                    let query = req.uri().query();
                    super::hls_fmp4::answer(shared, who, &key, target, query, &self.logged).await
                }
                HlsTarget::Playlist => {
                    let pulled = crate::waiting::await_pulled(shared, &key, self.info.peer_info());
                    if let Err(why @ (WaitError::Refused(_) | WaitError::StoreDown(_))) =
                        pulled.await
                    {
                        let why = why.to_string();
                        return reply::error(StatusCode::SERVICE_UNAVAILABLE, "busy", &why);
                    }
                    let told = match super::not_carried::playlist(
                        shared,
                        &key,
                        Output::Ts,
                        &self.logged,
                    ) {
                        Ok(told) => told,
                        Err(refused) => return *refused,
                    };
                    let Some(feed) = ts_feed::ensure(shared, &key) else {
                        return not_found("stream not found");
                    };
                    feed.touch();
                    let wait = Duration::from_millis(shared.config.hls.first_segment_wait_ms);
                    if feed.playlist().is_none() && !feed.wait_first_segment(wait).await {
                        return not_found("no segment yet");
                    }
                    let Some(text) = feed.playlist() else {
                        return not_found("no segment yet");
                    };
                    super::not_carried::tell(playlist_reply(shared, Bytes::from(text)), told)
                }
                HlsTarget::Segment(sequence) => {
                    let Some(feed) = shared.feeds.get(&key) else {
                        return not_found("stream not packaged");
                    };
                    feed.touch();
                    let Some(segment) = feed.segment(sequence) else {
                        return not_found("segment not held");
                    };
                    segment_reply(segment.data)
                }
            },
        };
        let len = hyper::body::Body::size_hint(reply.body())
            .exact()
            .unwrap_or(0);
        self.info.bytes_out.fetch_add(len, Ordering::Relaxed);
        reply
    }

    /// The play hook's answer for `key`, asked once per connection.
    async fn authorize(&self, key: &StreamKey, query: Option<&str>) -> Option<Reply> {
        if lock(&self.allowed).contains(key) {
            return None;
        }
        self.info.set_stream(key.clone(), query.map(str::to_string));
        let access = Access::new(key, query, &self.info);
        if let Decision::Deny(why) = self.shared.hooks.on_play(&access).await {
            tracing::warn!(stream = %key, reason = %why, "hls play denied");
            return Some(reply::error(StatusCode::FORBIDDEN, "forbidden", &why));
        }
        if self.shared.hub.stream(key).is_none() {
            self.shared.hooks.notify(Notification::not_found(&access));
        }
        let mut allowed = lock(&self.allowed);
        if allowed.len() < 64 {
            allowed.insert(key.clone());
        }
        None
    }
}

/// How long a live playlist may be served from a cache (and from an edge's
/// copy of the owner's): half a target duration, at least a second.
pub(crate) fn playlist_max_age(shared: &crate::server::Shared) -> Duration {
    Duration::from_secs((shared.config.hls.segment_secs / 2.0).floor().max(1.0) as u64)
}

/// A playlist answer. A shared cache (nginx `proxy_cache` in front of
/// several nodes) may serve a live playlist for half a target duration, as
/// Apple's HLS authoring guide allows; longer would stall players at the
/// live edge.
fn playlist_reply(shared: &crate::server::Shared, text: Bytes) -> Reply {
    let mut r = reply::with_type(StatusCode::OK, "application/vnd.apple.mpegurl", text);
    let max_age = playlist_max_age(shared).as_secs();
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        r.headers_mut().insert(CACHE_CONTROL, v);
    }
    r
}

/// A segment answer: a segment URI names one content for good (numbers
/// start from the clock, see `ts_feed`), so caches may keep it.
fn segment_reply(data: Bytes) -> Reply {
    let mut r = reply::with_type(StatusCode::OK, "video/mp2t", data);
    r.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn stall_io<T>(inner: T) -> (StallIo<T>, Arc<AtomicBool>) {
        let stalled = Arc::new(AtomicBool::new(false));
        let io = StallIo {
            inner,
            stall: Duration::from_secs(2),
            blocked: None,
            stalled: stalled.clone(),
        };
        (io, stalled)
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_makes_no_progress_fails_after_the_stall() {
        let (near, _far) = tokio::io::duplex(1024);
        let (mut io, stalled) = stall_io(near);
        let start = tokio::time::Instant::now();
        let err = io.write_all(&[0u8; 4096]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert!(stalled.load(Ordering::Relaxed));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_that_keeps_reading_is_not_a_stall() {
        let (near, mut far) = tokio::io::duplex(1024);
        let (mut io, stalled) = stall_io(near);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let mut total = 0;
            while total < 8192 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                total += far.read(&mut buf).await.unwrap();
            }
        });
        // 8 KiB through a 1 KiB pipe read 512 bytes a second: 16 s in all,
        // never 2 s without progress.
        io.write_all(&[0u8; 8192]).await.unwrap();
        reader.await.unwrap();
        assert!(!stalled.load(Ordering::Relaxed));
    }
}
