//! The serving loop shared by the streamed outputs that read the hub
//! directly (HTTP-/WS-FLV and HTTP-/WS-fMP4):
//! one subscriber per viewer, frames turned into the format's wire form
//! (cached on the frame, shared by every viewer), framed for the
//! connection, and written with vectored writes under the stall deadline.
//!
//! A format ([`LiveFormat`]) decides only bytes: what the first tracks
//! become (or why the viewer is refused: HTTP 415 when no track can be
//! carried), what later track announcements and frames become. The loop owns
//! everything that makes a viewer safe to serve: the kick, the peer's close,
//! the write stall, the batch bound and `server.merge_write_ms`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use std::future::Future;
use stream_core::{EndReason, Frame, SubscriberEvent, Track};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::framing::{Framing, PlayerInput, Received, Turn};
use crate::io::Outbox;
use crate::server::Shared;
use crate::session::SessionGuard;
use crate::waiting::WaitError;

/// Most events turned into bytes before a write.
const MAX_BATCH: usize = 256;

/// Why a viewer cannot be served (answered before the response head).
pub(super) struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// The message of the JSON error body and the log.
    pub message: String,
}

/// How a session ended: the guard's end reason and the log's words.
pub(super) type Ended = (&'static str, String);

/// One streamed output format.
pub(super) trait LiveFormat: Send {
    /// The name in logs ("http-mp4").
    const NAME: &'static str;
    /// The response's Content-Type.
    const CONTENT_TYPE: &'static str;

    /// The stream's first tracks: queue the body's start, or refuse.
    fn begin(
        &mut self,
        tracks: &Arc<[Track]>,
        framing: &Framing,
        out: &mut Outbox,
    ) -> Result<(), Refusal>;

    /// Tracks announced again (new parameters, a resumed publisher): queue
    /// what the format needs, or end the viewer.
    fn tracks(
        &mut self,
        tracks: &Arc<[Track]>,
        framing: &Framing,
        out: &mut Outbox,
    ) -> Result<(), Ended>;

    /// One frame.
    fn frame(&mut self, frame: &Frame, framing: &Framing, out: &mut Outbox);
}

/// Serves one viewer of `format` to its end: admission, hooks, the wait for
/// the stream, then [`serve`].
pub(super) async fn run<F: LiveFormat>(
    mut stream: TcpStream,
    shared: Arc<Shared>,
    mut guard: SessionGuard,
    mut format: F,
) {
    let Some((req, mut sub)) = admit_and_subscribe(&mut stream, &shared, &mut guard, F::NAME).await
    else {
        return;
    };
    let framing = Framing::of(&req);
    let mut out = Outbox::default();
    // The head waits for the tracks: a stream this format cannot carry is
    // refused with a status, not an empty body. The subscription bounds the
    // wait (a stream nobody publishes ends it at `stream.max_stream_wait_ms`).
    let first = match first_tracks(&mut sub).await {
        Some(tracks) => tracks,
        None => {
            guard.set_end_reason("stream-ended");
            let _ = super::reply_error(&mut stream, 404, "stream ended").await;
            return;
        }
    };
    // Nothing is written before `begin` agrees: a refusal discards the queue
    // (a HEAD request learns the answer a GET would get, without the body).
    let mut body = Outbox::default();
    let begun = if req.head_only {
        format.begin(&first, &framing, &mut body)
    } else {
        out.push(framing.response_head(F::CONTENT_TYPE));
        format.begin(&first, &framing, &mut out)
    };
    if let Err(refusal) = begun {
        tracing::warn!(stream = %req.key, reason = %refusal.message, "{} play refused", F::NAME);
        guard.set_end_reason("refused");
        let _ = super::reply_error(&mut stream, refusal.status, &refusal.message).await;
        return;
    }
    if req.head_only {
        let (_, mut wr) = stream.into_split();
        let stall = Duration::from_millis(shared.config.server.write_stall_ms);
        out.push(framing.response_head(F::CONTENT_TYPE));
        let _ = out.flush(&mut wr, stall).await;
        guard.set_end_reason("head");
        return;
    }
    tracing::info!(stream = %req.key, websocket = req.websocket.is_some(), "{} playing", F::NAME);
    let (mut rd, mut wr) = stream.into_split();
    let (reason, end) = serve(
        &mut rd, &mut wr, &shared, &guard, &framing, sub, out, format,
    )
    .await;
    // Ends the server chose (stream over, kicked, lagged): let the player
    // read the final chunk before the socket goes.
    if !matches!(reason, "peer-closed" | "write-stall" | "write-error") {
        crate::io::linger_close(&mut rd, &mut wr, crate::io::LINGER).await;
    }
    guard.set_end_reason(reason);
    tracing::info!(
        bytes_out = guard.info().bytes_out.load(Ordering::Relaxed),
        "{} session ended: {end}",
        F::NAME
    );
}

/// Reads the request, asks the hooks, and subscribes (waiting for a stream
/// not yet published, within the waiting players' caps); on refusal the
/// client has its error response and the guard its end reason.
pub(super) async fn admit_and_subscribe(
    stream: &mut TcpStream,
    shared: &Shared,
    guard: &mut SessionGuard,
    name: &str,
) -> Option<(super::MediaRequest, stream_core::Subscriber)> {
    let req = super::admit(stream, shared, guard).await?;
    match crate::waiting::subscribe(shared, &req.key, guard.peer_info()).await {
        Ok(sub) => Some((req, sub)),
        Err(e) => {
            tracing::info!(stream = %req.key, reason = %e, "{name} play refused");
            guard.set_end_reason("refused");
            // Too many waiting: "try later", not "no such stream".
            let status = match e {
                WaitError::Refused(_) | WaitError::StoreDown(_) => 503,
                WaitError::Subscribe(_) => 404,
            };
            let _ = super::reply_error(stream, status, &e.to_string()).await;
            None
        }
    }
}

/// The first track announcement (frames cannot come before it).
async fn first_tracks(sub: &mut stream_core::Subscriber) -> Option<Arc<[Track]>> {
    loop {
        match sub.recv().await {
            Ok(SubscriberEvent::Tracks(t)) => return Some(t),
            Ok(SubscriberEvent::Frame(_)) => {}
            Err(_) => return None,
        }
    }
}

/// Streams `sub` to the viewer in `format` until one side ends; `out` holds
/// what the caller queued first (the head, the format's start).
#[allow(clippy::too_many_arguments)]
pub(super) async fn serve<F: LiveFormat>(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    shared: &Shared,
    guard: &SessionGuard,
    framing: &Framing,
    mut sub: stream_core::Subscriber,
    mut out: Outbox,
    mut format: F,
) -> Ended {
    let stall = Duration::from_millis(shared.config.server.write_stall_ms);
    let merge = Duration::from_millis(shared.config.server.merge_write_ms);
    let mut sink = [0u8; 512];
    let mut input = PlayerInput::of(framing);
    let kicked = guard.info().kicked();
    tokio::pin!(kicked);
    // The socket and the kick are polled only when their own wakers fired
    // (see `drive::Readiness`): the turns are the subscriber's.
    let mut ready = crate::drive::Readiness::new();
    let read_due = ready.branch();
    let kick_due = ready.branch();
    loop {
        match out.flush(wr, stall).await {
            Ok(n) => {
                guard.info().bytes_out.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                let reason = match e {
                    crate::io::WriteError::Stalled(_) => "write-stall",
                    _ => "write-error",
                };
                return (reason, e.to_string());
            }
        }
        let event = {
            let recv = sub.recv();
            tokio::pin!(recv);
            std::future::poll_fn(|cx| {
                ready.register(cx);
                if kick_due.poll(|cx| kicked.as_mut().poll(cx)).is_ready() {
                    let why = "kicked through the API";
                    if let Some(bye) = framing.goodbye(why) {
                        out.push(bye);
                    }
                    return Poll::Ready(Turn::End("kicked", why.into()));
                }
                // HTTP players send nothing after the request (what they do
                // send is dropped); WebSocket players' frames are decoded (a
                // ping answered before more media, a close ends). A read of
                // 0 means they left.
                loop {
                    let read = read_due.poll(|cx| {
                        let read = rd.read(&mut sink);
                        tokio::pin!(read);
                        read.poll(cx)
                    });
                    match read {
                        Poll::Ready(Ok(0) | Err(_)) => {
                            return Poll::Ready(Turn::End("peer-closed", "player closed".into()));
                        }
                        Poll::Ready(Ok(n)) => match input.received(&sink[..n], &mut out) {
                            Received::Nothing => {}
                            Received::Reply => return Poll::Ready(Turn::Flush),
                            Received::End(reason, why) => {
                                return Poll::Ready(Turn::End(reason, why))
                            }
                        },
                        Poll::Pending => break,
                    }
                }
                recv.as_mut().poll(cx).map(Turn::Event)
            })
            .await
        };
        let event = match event {
            Turn::Event(event) => event,
            Turn::Flush => continue,
            Turn::End(reason, why) => {
                // What the player is owed (a WebSocket close) before the end.
                if !out.is_empty() {
                    let _ = out.flush(wr, stall).await;
                }
                return (reason, why);
            }
        };
        // With `server.merge_write_ms`, keep collecting for that long so
        // several frames leave in one write (fewer syscalls, more latency).
        let merge_until = (merge > Duration::ZERO).then(|| tokio::time::Instant::now() + merge);
        let mut next = Some(event);
        let mut budget = MAX_BATCH;
        loop {
            let event = match next.take() {
                Some(e) => e,
                None => match merge_until {
                    Some(until) if budget > 0 => {
                        match tokio::time::timeout_at(until, sub.recv()).await {
                            Ok(e) => e,
                            Err(_) => break,
                        }
                    }
                    _ => break,
                },
            };
            match event {
                Ok(SubscriberEvent::Tracks(t)) => {
                    if let Err(end) = format.tracks(&t, framing, &mut out) {
                        finish(framing, "codec changed", &mut out, wr, stall).await;
                        return end;
                    }
                }
                Ok(SubscriberEvent::Frame(frame)) => format.frame(&frame, framing, &mut out),
                Err(reason) => {
                    finish(framing, "stream ended", &mut out, wr, stall).await;
                    return match reason {
                        EndReason::StreamEnded => ("stream-ended", "stream ended".into()),
                        EndReason::Lagged => ("lagged", "player too far behind".into()),
                        other => ("stream-ended", format!("stream left the player: {other}")),
                    };
                }
            }
            budget -= 1;
            if budget > 0 {
                next = sub.try_recv();
            }
        }
    }
}

/// Queues the end of the body (a WebSocket close giving `why`) and writes
/// what is queued.
async fn finish(
    framing: &Framing,
    why: &str,
    out: &mut Outbox,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    stall: Duration,
) {
    if let Some(end) = framing.end(why) {
        out.push(end);
    }
    let _ = out.flush(wr, stall).await;
}
