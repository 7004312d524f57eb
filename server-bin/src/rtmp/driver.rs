//! One RTMP connection: `rtmp_proto::ServerSession` with the server's
//! policy around it, run by the generic [drive loop](crate::drive).
//!
//! The deadlines are the session's own (DESCRIBE: `ServerConfig::timeouts`):
//! handshake, connect and publish/play within `rtmp.handshake_secs`; a
//! publisher that sends no audio or video for `rtmp.keep_alive_secs` is
//! closed (its guard drops, the stream lingers for `continue_push_ms`, then
//! its players are told it ended). Pings, acknowledgements, metadata and
//! other commands do not keep a publisher alive, or a peer sending only
//! those would hold its players forever. Players are bounded by the loop's
//! write stall and stream-core's `max_lag_ms`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtmp_proto::{HandshakeParams, ServerConfig, ServerEvent, ServerSession, ServerTimeouts};
use stream_core::{CloseReason, EndReason, SubscriberEvent};
use tokio::io::{AsyncRead, AsyncWrite};

use super::play::Playing;
use super::publish::Publishing;
use crate::drive::{Driven, End};
use crate::io::Outbox;
use crate::server::Shared;
use crate::session::{SessionGuard, SessionInfo};

/// Read buffer size for publishers; a read returns at most this much.
const READ_CHUNK: usize = 64 * 1024;
/// Read buffer size until a connection publishes: handshakes, commands and
/// players' acknowledgements are small, and a thousand idle 64 KiB buffers
/// would be most of a player's memory.
const SMALL_READ: usize = 2 * 1024;

/// One RTMP connection: the protocol machine and what the server keeps
/// beside it.
pub(crate) struct Conn {
    pub shared: Arc<Shared>,
    pub info: Arc<SessionInfo>,
    pub rtmp: ServerSession,
    pub out: Outbox,
    pub app: Option<String>,
    pub publishing: Option<Publishing>,
    pub playing: Option<Playing>,
}

/// What wakes an RTMP connection besides its socket.
pub(crate) enum Wake {
    /// The server closed the publisher (taken over, kicked by policy, shutdown).
    PublisherClosed(CloseReason),
    /// The player's subscription has frames or ended.
    Play(Result<SubscriberEvent, EndReason>),
}

impl Conn {
    /// A connection that has just been accepted.
    pub(crate) fn new(shared: Arc<Shared>, info: Arc<SessionInfo>) -> Conn {
        let cfg = &shared.config;
        let rtmp = ServerSession::new(
            ServerConfig {
                chunk_size: cfg.rtmp.chunk_size,
                handshake: handshake_params(info.id),
                timeouts: ServerTimeouts {
                    handshake: Duration::from_secs(cfg.rtmp.handshake_secs),
                    publisher_idle: Duration::from_secs(cfg.rtmp.keep_alive_secs),
                },
                ..ServerConfig::default()
            },
            crate::drive::now(),
        );
        Conn {
            shared,
            info,
            rtmp,
            out: Outbox::default(),
            app: None,
            publishing: None,
            playing: None,
        }
    }
}

/// Runs an accepted RTMP connection, given as its two halves, to its end.
pub async fn run<R, W>(rd: R, wr: W, shared: Arc<Shared>, guard: SessionGuard) -> End
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    tracing::debug!("rtmp connection accepted");
    let limits = shared.drive_limits();
    let info = guard.info().clone();
    // Built inside the call: a local moved into an awaited future would
    // take space twice in this function's state (rustc #59087), per connection.
    crate::drive::serve(Conn::new(shared, info), rd, wr, limits, guard, "rtmp").await
}

impl Driven for Conn {
    type Wake = Wake;

    fn input(&mut self, bytes: Bytes, now: std::time::Instant) -> Result<(), End> {
        // Owned input: media payloads that arrive in one chunk stay slices
        // of this buffer all the way to the players.
        match self.rtmp.handle_input_bytes(bytes, now) {
            // Input that arrived after a deadline the timer had not fired yet.
            Err(rtmp_proto::Error::TimedOut(what)) => Err(End::Timeout(timeout_name(what))),
            other => Ok(other?),
        }
    }

    async fn on_events(&mut self) -> Result<(), End> {
        while let Some(event) = self.rtmp.poll_event() {
            self.handle(event).await?;
        }
        Ok(())
    }

    fn transmit(&mut self) -> &mut Outbox {
        while let Some(bytes) = self.rtmp.poll_transmit() {
            self.out.push(bytes);
        }
        &mut self.out
    }

    fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.rtmp.poll_timeout()
    }

    fn handle_timeout(&mut self, now: std::time::Instant) {
        self.rtmp.handle_timeout(now);
    }

    async fn wake(&mut self) -> Wake {
        if let Some(p) = &self.publishing {
            return Wake::PublisherClosed(p.publisher.closed().await);
        }
        if let Some(p) = &mut self.playing {
            return Wake::Play(p.subscriber.recv().await);
        }
        std::future::pending().await
    }

    async fn on_wake(&mut self, wake: Wake) -> Result<(), End> {
        match wake {
            Wake::PublisherClosed(reason) => Err(End::PublisherClosed(reason)),
            Wake::Play(event) => {
                self.play_event(event)?;
                // With `server.merge_write_ms`, keep collecting for that long
                // so several frames leave in one write (fewer syscalls, more
                // latency).
                let merge = Duration::from_millis(self.shared.config.server.merge_write_ms);
                self.merge_play_events(merge).await
            }
        }
    }

    fn read_size(&self) -> usize {
        if self.publishing.is_some() {
            READ_CHUNK
        } else {
            SMALL_READ
        }
    }
}

impl Conn {
    async fn handle(&mut self, event: ServerEvent) -> Result<(), End> {
        match event {
            ServerEvent::HandshakeDone { digest } => {
                tracing::debug!(digest, "rtmp handshake done");
            }
            ServerEvent::ConnectRequested { req, app, .. } => {
                if let Err(e) = stream_core::check_name(stream_core::NamePart::App, &app) {
                    let why = format!("bad app name: {e}");
                    tracing::warn!(reason = %why, "rtmp connect refused");
                    self.rtmp.respond(
                        req,
                        rtmp_proto::Decision::reject(
                            rtmp_proto::command::StatusCode::ConnectRejected,
                            why.clone(),
                        ),
                    );
                    return Err(End::Refused(why));
                }
                tracing::debug!(%app, "rtmp connect");
                self.app = Some(app);
                self.rtmp.respond(req, rtmp_proto::Decision::Accept);
            }
            // Boxed: these futures (hooks, the wait for a stream) are large
            // and run once per connection; unboxed they would sit in every
            // connection's task for its whole life.
            ServerEvent::PublishRequested {
                req, name, query, ..
            } => Box::pin(self.publish(req, name, query)).await?,
            ServerEvent::PlayRequested {
                req,
                stream_id,
                name,
                query,
                ..
            } => Box::pin(self.play(req, stream_id, name, query)).await?,
            ServerEvent::Media {
                kind,
                timestamp,
                payload,
                ..
            } => self.media(kind, timestamp, &payload)?,
            ServerEvent::TimedOut { what } => return Err(End::Timeout(timeout_name(what))),
            ServerEvent::Unpublished { .. }
            | ServerEvent::PlayStopped { .. }
            | ServerEvent::Closed => {
                return Err(End::PeerClosed);
            }
            // Metadata is rebuilt from the tracks for every protocol; pause is
            // not meaningful on a live stream.
            _ => {}
        }
        Ok(())
    }
}

/// The deadline's name in `End::Timeout` (and so in the log).
fn timeout_name(what: rtmp_proto::Timeout) -> &'static str {
    match what {
        rtmp_proto::Timeout::Handshake => "handshake",
        rtmp_proto::Timeout::PublisherIdle => "publisher keep-alive",
    }
}

/// Handshake randomness for one connection, from the process's random
/// hasher keys (std seeds them from the OS) mixed with the session id.
pub(crate) fn handshake_params(session_id: u64) -> HandshakeParams {
    let state = RandomState::new();
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_u64(session_id);
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u32)
        .unwrap_or(0);
    HandshakeParams { epoch, seed }
}
