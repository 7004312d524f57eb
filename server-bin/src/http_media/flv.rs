//! HTTP-FLV: `GET /app/stream.live.flv` answers an endless FLV file — header,
//! `onMetaData`, sequence headers, the cached GOP, then live tags — in HTTP/1.1
//! chunked encoding (close-delimited for HTTP/1.0 clients), or, after a
//! WebSocket upgrade on the same path (WS-FLV), one binary message per tag.
//!
//! Every tag of a frame is built once per stream, as parts (its header and
//! trailer beside the frame's payload, never a copy of it), in the frame's
//! wire cache; players share those parts and add their own HTTP/1.1 chunk
//! framing (or WebSocket frame headers) beside them. Only the per-player start (header, metadata,
//! sequence headers) is built per player.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use flv_mux::{FlvHeader, TagType};
use std::future::Future;
use stream_core::{EndReason, SubscriberEvent, Track};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::framing::{Framing, PlayerInput, Received, Turn};
use super::request::MediaRequest;
use crate::io::Outbox;
use crate::media::{flv_egress, to_rtmp_ms, WIRE_FLV};
use crate::server::Shared;
use crate::session::SessionGuard;
use crate::waiting::WaitError;

/// Most events turned into bytes before a write.
const MAX_BATCH: usize = 256;

/// Serves one HTTP-FLV connection to its end.
pub async fn run(mut stream: TcpStream, shared: Arc<Shared>, mut guard: SessionGuard) {
    let Some(req) = super::admit(&mut stream, &shared, &mut guard).await else {
        return;
    };
    let sub = match crate::waiting::subscribe(&shared, &req.key, guard.peer_info()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(stream = %req.key, reason = %e, "http-flv play refused");
            guard.set_end_reason("refused");
            // Too many waiting: "try later", not "no such stream".
            let status = match e {
                WaitError::Refused(_) | WaitError::StoreDown(_) => 503,
                WaitError::Subscribe(_) => 404,
            };
            let _ = super::reply_error(&mut stream, status, &e.to_string()).await;
            return;
        }
    };
    tracing::info!(stream = %req.key, websocket = req.websocket.is_some(), "http-flv playing");
    let (reason, end) = stream_flv(stream, &shared, &guard, &req, sub).await;
    guard.set_end_reason(reason);
    tracing::info!(
        bytes_out = guard.info().bytes_out.load(Ordering::Relaxed),
        "http-flv session ended: {end}"
    );
}

async fn stream_flv(
    stream: TcpStream,
    shared: &Shared,
    guard: &SessionGuard,
    req: &MediaRequest,
    sub: stream_core::Subscriber,
) -> (&'static str, String) {
    let (mut rd, mut wr) = stream.into_split();
    let end = serve_flv(&mut rd, &mut wr, shared, guard, req, sub).await;
    // Ends the server chose (stream over, kicked, lagged): let the player
    // read the final chunk before the socket goes.
    if !matches!(end.0, "peer-closed" | "write-stall" | "write-error") {
        crate::io::linger_close(&mut rd, &mut wr, crate::io::LINGER).await;
    }
    end
}

async fn serve_flv(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    shared: &Shared,
    guard: &SessionGuard,
    req: &MediaRequest,
    mut sub: stream_core::Subscriber,
) -> (&'static str, String) {
    let stall = Duration::from_millis(shared.config.server.write_stall_ms);
    let merge = Duration::from_millis(shared.config.server.merge_write_ms);
    let mut out = Outbox::default();
    let framing = Framing::of(req);
    let mut input = PlayerInput::of(&framing);
    out.push(framing.response_head("video/x-flv"));
    if req.head_only {
        let _ = out.flush(wr, stall).await;
        return ("head", "HEAD answered".into());
    }
    let mut header = BytesMut::new();
    FlvHeader {
        version: 1,
        has_audio: true,
        has_video: true,
        data_offset: flv_mux::HEADER_LEN as u32,
    }
    .encode(&mut header);
    header.put_u32(0); // PreviousTagSize0
    framing.push_shared(&mut out, header.freeze());

    let mut tracks: Arc<[Track]> = Arc::from(Vec::new());
    let mut last_ts = 0u32;
    let mut sink = [0u8; 512];
    // Created once: a fresh `Notified` per loop turn would register and
    // unregister a waiter for every frame sent.
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
                // send is dropped, until the read is pending again);
                // WebSocket players' frames are decoded (a ping answered
                // before more media, a close ends). A read of 0 means they left.
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
                    if let Some(change) = crate::media::codec_change(&tracks, &t) {
                        if let Some(end) = framing.end("codec changed") {
                            out.push(end);
                        }
                        let _ = out.flush(wr, stall).await;
                        let end = crate::drive::End::CodecChanged(change);
                        return ("codec-changed", end.to_string());
                    }
                    let meta = flv_egress::metadata(&t);
                    let meta = flv_egress::tag(TagType::Script, last_ts, &[], &meta);
                    framing.push_parts(&mut out, &meta);
                    for track in t.iter() {
                        if let Some(body) = flv_egress::sequence_header(track) {
                            let seq =
                                flv_egress::tag(body.kind, last_ts, &body.header, &body.payload);
                            framing.push_parts(&mut out, &seq);
                        }
                    }
                    tracks = t;
                }
                Ok(SubscriberEvent::Frame(frame)) => {
                    let Some(track) = tracks.iter().find(|t| t.id == frame.track) else {
                        continue;
                    };
                    let ts = to_rtmp_ms(frame.dts_us);
                    last_ts = ts;
                    // Built once per stream by the first player that needs
                    // it; HTTP/1.1 players add their chunk framing beside it.
                    let form = frame
                        .wire
                        .get_or_init(WIRE_FLV, || flv_egress::frame_tag(track, &frame, ts));
                    framing.push_parts(&mut out, &form);
                }
                Err(reason) => {
                    // The end of the chunked body, or a WebSocket close.
                    if let Some(end) = framing.end("stream ended") {
                        out.push(end);
                    }
                    let _ = out.flush(wr, stall).await;
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
