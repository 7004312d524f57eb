//! HTTP-TS: `GET /app/stream.live.ts` answers an endless MPEG-TS stream that
//! starts at a keyframe (with PAT/PMT). The TS bytes come from the stream's
//! feed ([`crate::ts_feed`]), muxed once per stream and shared by every
//! viewer; each viewer only adds its HTTP chunk-size lines, or, after a
//! WebSocket upgrade on the same path (WS-TS), a frame header per chunk.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::broadcast::error::RecvError;

use super::framing::{Framing, PlayerInput, Received};
use super::request::MediaRequest;
use crate::io::Outbox;
use crate::media::carriage::Output;
use crate::server::Shared;
use crate::session::SessionGuard;
use crate::ts_feed::{self, Chunk};

/// Most chunks queued before a write.
const MAX_BATCH: usize = 256;

/// Serves one HTTP-TS connection to its end.
pub async fn run(mut stream: TcpStream, shared: Arc<Shared>, mut guard: SessionGuard) {
    let Some(req) = super::admit(&mut stream, &shared, &mut guard).await else {
        return;
    };
    if !shared.hooks.stream_options(&req.key).enable_ts {
        guard.set_end_reason("refused");
        let why = "HTTP-TS is off for this stream (on_publish enable_ts)";
        let _ = super::reply_error(&mut stream, 403, why).await;
        return;
    }
    // A pulled stream's idle upstream is woken, and waited for, like for
    // any player; a refused wait is "try later", not "no such stream".
    let pulled = crate::waiting::await_pulled(&shared, &req.key, guard.peer_info()).await;
    use crate::waiting::WaitError;
    if let Err(why @ (WaitError::Refused(_) | WaitError::StoreDown(_))) = pulled {
        guard.set_end_reason("refused");
        let _ = super::reply_error(&mut stream, 503, &why.to_string()).await;
        return;
    }
    if !super::not_carried::admit(
        &mut stream,
        &shared,
        &req.key,
        Output::Ts,
        "http-ts",
        &mut guard,
    )
    .await
    {
        return;
    }
    let joined = ts_feed::ensure(&shared, &req.key).and_then(|feed| feed.join());
    let Some((start, live)) = joined else {
        tracing::info!(stream = %req.key, "http-ts play refused: stream not found");
        guard.set_end_reason("refused");
        let _ = super::reply_error(&mut stream, 404, "stream not found").await;
        return;
    };
    tracing::info!(stream = %req.key, websocket = req.websocket.is_some(), "http-ts playing");
    let (mut rd, mut wr) = stream.into_split();
    let (reason, end) = serve(&mut rd, &mut wr, &shared, &guard, &req, start, live).await;
    if !matches!(reason, "peer-closed" | "write-stall" | "write-error") {
        crate::io::linger_close(&mut rd, &mut wr, crate::io::LINGER).await;
    }
    guard.set_end_reason(reason);
    tracing::info!(
        bytes_out = guard.info().bytes_out.load(Ordering::Relaxed),
        "http-ts session ended: {end}"
    );
}

async fn serve(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    shared: &Shared,
    guard: &SessionGuard,
    req: &MediaRequest,
    start: Vec<Bytes>,
    mut live: tokio::sync::broadcast::Receiver<Chunk>,
) -> (&'static str, String) {
    let stall = Duration::from_millis(shared.config.server.write_stall_ms);
    let framing = Framing::of(req);
    let mut input = PlayerInput::of(&framing);
    let mut out = Outbox::default();
    let head = framing.response_head("video/mp2t");
    out.push(super::not_carried::head(head, shared, &req.key, Output::Ts));
    if req.head_only {
        let _ = out.flush(wr, stall).await;
        return ("head", "HEAD answered".into());
    }
    // Without buffered start chunks, begin at the next keyframe.
    let mut started = !start.is_empty();
    for chunk in start {
        framing.push_shared(&mut out, chunk);
    }
    let mut sink = [0u8; 512];
    let kicked = guard.info().kicked();
    tokio::pin!(kicked);
    loop {
        match out.flush(wr, stall).await {
            Ok(n) => {
                guard.info().bytes_out.fetch_add(n, Ordering::Relaxed);
            }
            Err(crate::io::WriteError::Stalled(d)) => {
                return ("write-stall", format!("player accepted nothing for {d:?}"))
            }
            Err(e) => return ("write-error", e.to_string()),
        }
        let first = tokio::select! {
            chunk = live.recv() => chunk,
            read = rd.read(&mut sink) => match read {
                Ok(0) | Err(_) => return ("peer-closed", "player closed".into()),
                // HTTP: dropped; WebSocket: a pong queued (flushed at the
                // loop's top), or a close answered and the end.
                Ok(n) => match input.received(&sink[..n], &mut out) {
                    Received::Nothing | Received::Reply => continue,
                    Received::End(reason, why) => {
                        let _ = out.flush(wr, stall).await;
                        return (reason, why);
                    }
                },
            },
            _ = &mut kicked => {
                let why = "kicked through the API";
                if let Some(bye) = framing.goodbye(why) {
                    out.push(bye);
                    let _ = out.flush(wr, stall).await;
                }
                return ("kicked", why.into());
            }
        };
        let mut next = Some(first);
        for _ in 0..MAX_BATCH {
            let chunk = match next.take() {
                Some(c) => c,
                None => match live.try_recv() {
                    Ok(c) => Ok(c),
                    Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break,
                    Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                        Err(RecvError::Lagged(n))
                    }
                    Err(tokio::sync::broadcast::error::TryRecvError::Closed) => {
                        Err(RecvError::Closed)
                    }
                },
            };
            match chunk {
                Ok(chunk) => {
                    started |= chunk.starts_gop;
                    if started {
                        framing.push_shared(&mut out, chunk.ts);
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    return ("lagged", format!("player {n} chunks behind"));
                }
                Err(RecvError::Closed) => {
                    if let Some(end) = framing.end("stream ended") {
                        out.push(end);
                    }
                    let _ = out.flush(wr, stall).await;
                    return ("stream-ended", "stream ended".into());
                }
            }
        }
    }
}
