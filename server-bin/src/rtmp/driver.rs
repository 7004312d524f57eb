//! One RTMP connection: a short loop that moves bytes between the socket and
//! `rtmp_proto::ServerSession`, answers its requests with stream-core, and
//! enforces the deadlines (DESIGN rule 4):
//!
//! - handshake, connect and publish/play within `rtmp.handshake_secs`;
//! - a publisher that sends no audio or video for `rtmp.keep_alive_secs` is
//!   closed (its guard drops, the stream lingers for `continue_push_ms`, then
//!   its players are told it ended): pings, acknowledgements, metadata and
//!   other commands do not keep a publisher alive, or a peer sending only
//!   those would hold its players forever;
//! - a player whose socket accepts nothing for `server.write_stall_ms` is
//!   closed; a player too far behind is dropped by stream-core (`max_lag_ms`).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rtmp_proto::{HandshakeParams, ServerConfig, ServerEvent, ServerSession};
use stream_core::{CloseReason, EndReason};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::play::Playing;
use super::publish::Publishing;
use crate::io::{Outbox, WriteError};
use crate::server::Shared;
use crate::session::SessionGuard;

/// Read buffer size for publishers; a read returns at most this much.
const READ_CHUNK: usize = 64 * 1024;
/// Read buffer size until a connection publishes: handshakes, commands and
/// players' acknowledgements are small, and a thousand idle 64 KiB buffers
/// would be most of a player's memory.
const SMALL_READ: usize = 2 * 1024;

/// How a session ended, for the log.
#[derive(Debug, thiserror::Error)]
pub enum End {
    /// The peer closed the connection or said it was done.
    #[error("peer closed")]
    PeerClosed,
    /// A deadline passed.
    #[error("{0} deadline passed")]
    Timeout(&'static str),
    /// The peer broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] rtmp_proto::Error),
    /// Socket error.
    #[error("read failed: {0}")]
    Read(std::io::Error),
    /// Write error or stall.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The request was refused (already publishing, stream not found).
    #[error("refused: {0}")]
    Refused(String),
    /// The server told the publisher to go (taken over, closed, shutdown).
    #[error("publisher closed by the server: {0}")]
    PublisherClosed(CloseReason),
    /// The stream ended for this player.
    #[error("stream ended for the player: {0}")]
    PlayEnded(EndReason),
    /// Closed through the API.
    #[error("kicked through the API")]
    Kicked,
    /// The publisher sent media we cannot use.
    #[error("bad media: {0}")]
    Media(#[from] crate::media::flv_ingest::IngestError),
}

/// Per-connection state beside the protocol machine.
pub(super) struct Conn<'a> {
    pub shared: &'a Arc<Shared>,
    pub guard: &'a SessionGuard,
    pub rtmp: ServerSession,
    pub out: Outbox,
    pub app: Option<String>,
    pub publishing: Option<Publishing>,
    pub playing: Option<Playing>,
    /// When the publish was accepted or its last audio/video message came.
    pub last_media: Instant,
}

impl End {
    /// Short name, the `reason` label of `strom_sessions_closed_total`.
    pub fn name(&self) -> &'static str {
        match self {
            End::PeerClosed => "peer-closed",
            End::Timeout(_) => "timeout",
            End::Protocol(_) => "protocol-error",
            End::Read(_) => "read-error",
            End::Write(WriteError::Stalled(_)) => "write-stall",
            End::Write(_) => "write-error",
            End::Refused(_) => "refused",
            End::PublisherClosed(CloseReason::TakenOver) => "taken-over",
            End::PublisherClosed(_) => "closed-by-server",
            End::PlayEnded(EndReason::Lagged) => "lagged",
            End::PlayEnded(_) => "stream-ended",
            End::Kicked => "kicked",
            End::Media(_) => "bad-media",
        }
    }
}

/// Runs the session to its end and logs how it ended.
pub async fn run(stream: TcpStream, shared: Arc<Shared>, mut guard: SessionGuard) {
    tracing::debug!("rtmp connection accepted");
    let (mut rd, mut wr) = stream.into_split();
    let end = drive(&mut rd, &mut wr, &shared, &guard).await;
    if !matches!(end, End::PeerClosed | End::Read(_) | End::Write(_)) {
        crate::io::linger_close(&mut rd, &mut wr, crate::io::LINGER).await;
    }
    guard.set_end_reason(end.name());
    let info = guard.info();
    match &end {
        End::PeerClosed | End::PlayEnded(EndReason::StreamEnded) => tracing::info!(
            bytes_in = info.bytes_in.load(Ordering::Relaxed),
            bytes_out = info.bytes_out.load(Ordering::Relaxed),
            "rtmp session ended: {end}"
        ),
        _ => tracing::warn!(
            bytes_in = info.bytes_in.load(Ordering::Relaxed),
            bytes_out = info.bytes_out.load(Ordering::Relaxed),
            "rtmp session closed: {end}"
        ),
    }
}

async fn drive(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    shared: &Arc<Shared>,
    guard: &SessionGuard,
) -> End {
    let cfg = &shared.config;
    let mut conn = Conn {
        shared,
        guard,
        rtmp: ServerSession::new(
            ServerConfig {
                chunk_size: cfg.rtmp.chunk_size,
                handshake: handshake_params(guard.info().id),
                timeouts: rtmp_proto::ServerTimeouts {
                    handshake: Duration::from_secs(cfg.rtmp.handshake_secs),
                    publisher_idle: Duration::from_secs(cfg.rtmp.keep_alive_secs),
                },
                ..ServerConfig::default()
            },
            Instant::now().into_std(),
        ),
        out: Outbox::default(),
        app: None,
        publishing: None,
        playing: None,
        last_media: Instant::now(),
    };
    let stall = Duration::from_millis(cfg.server.write_stall_ms);
    let keep_alive = Duration::from_secs(cfg.rtmp.keep_alive_secs);
    let merge = Duration::from_millis(cfg.server.merge_write_ms);
    let handshake_deadline = Instant::now() + Duration::from_secs(cfg.rtmp.handshake_secs);
    let mut buf = BytesMut::with_capacity(SMALL_READ);
    let timer = tokio::time::sleep_until(handshake_deadline);
    tokio::pin!(timer);
    // Created once: a fresh `Notified` per loop turn would register and
    // unregister a waiter for every frame sent.
    let kicked = guard.info().kicked();
    tokio::pin!(kicked);

    loop {
        while let Some(event) = conn.rtmp.poll_event() {
            if let Err(end) = conn.handle(event).await {
                // Tell the peer why (e.g. Publish.BadName) before closing.
                let _ = conn.flush(wr, stall).await;
                return end;
            }
        }
        if let Err(e) = conn.flush(wr, stall).await {
            return e.into();
        }

        // Players are bounded by the write stall and stream-core's max lag,
        // so they need no timer here (none is armed per frame).
        let deadline = if conn.publishing.is_some() {
            Some(conn.last_media + keep_alive)
        } else if conn.playing.is_some() {
            None
        } else {
            Some(handshake_deadline)
        };
        if let Some(d) = deadline {
            if timer.deadline() != d {
                timer.as_mut().reset(d);
            }
        }
        let publishing = &conn.publishing;
        let playing = &mut conn.playing;
        let publisher_closed = async move {
            match publishing {
                Some(p) => p.publisher.closed().await,
                None => std::future::pending().await,
            }
        };
        let play_event = async move {
            match playing.as_mut() {
                Some(p) => p.subscriber.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = rd.read_buf(&mut buf) => match read {
                Ok(0) => return End::PeerClosed,
                Ok(n) => {
                    guard.info().bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                    // Owned input: media payloads that arrive in one chunk stay
                    // slices of this buffer all the way to the players.
                    let input = buf.split().freeze();
                    if let Err(e) = conn.rtmp.handle_input_bytes(input, Instant::now().into_std()) {
                        let _ = conn.flush(wr, stall).await;
                        // Input that comes after the session's deadline is
                        // that deadline, not a protocol error.
                        return match e {
                            rtmp_proto::Error::TimedOut(t) => End::Timeout(t.as_str()),
                            e => e.into(),
                        };
                    }
                    buf.reserve(if conn.publishing.is_some() { READ_CHUNK } else { SMALL_READ });
                }
                Err(e) => return End::Read(e),
            },
            reason = publisher_closed => return End::PublisherClosed(reason),
            _ = &mut kicked => return End::Kicked,
            event = play_event => {
                if let Err(end) = conn.play_event(event) {
                    let _ = conn.flush(wr, stall).await;
                    return end;
                }
                // With `server.merge_write_ms`, keep collecting for that long so
                // several frames leave in one write (fewer syscalls, more latency).
                if let Err(end) = conn.merge_play_events(merge).await {
                    let _ = conn.flush(wr, stall).await;
                    return end;
                }
            }
            _ = &mut timer, if deadline.is_some() => {
                return End::Timeout(if conn.publishing.is_some() { "publisher keep-alive" } else { "handshake" });
            }
        }
    }
}

impl Conn<'_> {
    /// Moves everything the protocol machine wants to send to the socket.
    pub(super) async fn flush(
        &mut self,
        wr: &mut tokio::net::tcp::OwnedWriteHalf,
        stall: Duration,
    ) -> Result<(), WriteError> {
        while let Some(bytes) = self.rtmp.poll_transmit() {
            self.out.push(bytes);
        }
        if self.out.is_empty() {
            return Ok(());
        }
        let n = self.out.flush(wr, stall).await?;
        self.guard.info().bytes_out.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

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
                            &why,
                        ),
                    );
                    return Err(End::Refused(why));
                }
                tracing::debug!(%app, "rtmp connect");
                self.app = Some(app);
                self.rtmp.respond(req, rtmp_proto::Decision::Accept);
            }
            ServerEvent::PublishRequested {
                req,
                stream_id,
                name,
                query,
                ..
            } => {
                self.publish(req, stream_id, name, query).await?;
                self.last_media = Instant::now();
            }
            ServerEvent::PlayRequested {
                req,
                stream_id,
                name,
                query,
                ..
            } => self.play(req, stream_id, name, query).await?,
            ServerEvent::Media {
                kind,
                timestamp,
                payload,
                ..
            } => {
                self.last_media = Instant::now();
                self.media(kind, timestamp, &payload)?
            }
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

/// Handshake randomness for one connection, from the process's random
/// hasher keys (std seeds them from the OS) mixed with the session id.
fn handshake_params(session_id: u64) -> HandshakeParams {
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
