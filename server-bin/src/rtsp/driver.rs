//! The IO driver of one RTSP connection: bytes from the socket into
//! `rtsp_proto::signal::ServerSession`, its events to the play and record
//! halves, and everything to send through one vectored [`Outbox`].

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtsp_proto::signal::{Event, Reply, ServerSession, SessionConfig, SessionError, Timeout};
use stream_core::{CloseReason, EndReason};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::play::Playing;
use super::record::Recording;
use super::udp::{Datagram, UdpPair};
use crate::io::{Outbox, WriteError};
use crate::server::Shared;
use crate::session::SessionGuard;

/// How an RTSP session ended.
#[derive(Debug, thiserror::Error)]
pub(super) enum End {
    /// The peer closed the connection or tore the session down.
    #[error("peer closed")]
    PeerClosed,
    /// A deadline of the session passed.
    #[error("{0} deadline passed")]
    Timeout(Timeout),
    /// The peer broke the protocol beyond what one error answer covers.
    #[error("protocol error: {0}")]
    Protocol(#[from] SessionError),
    /// Socket error.
    #[error("read failed: {0}")]
    Read(std::io::Error),
    /// Write error or stall.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The server told the publisher to go.
    #[error("publisher closed by the server: {0}")]
    PublisherClosed(CloseReason),
    /// The stream ended for this player.
    #[error("stream ended for the player: {0}")]
    PlayEnded(EndReason),
    /// Closed through the API.
    #[error("kicked through the API")]
    Kicked,
}

impl End {
    /// The `reason` label of `strom_sessions_closed_total`.
    pub fn name(&self) -> &'static str {
        match self {
            End::PeerClosed => "peer-closed",
            End::Timeout(_) => "timeout",
            End::Protocol(_) => "protocol-error",
            End::Read(_) => "read-error",
            End::Write(WriteError::Stalled(_)) => "write-stall",
            End::Write(_) => "write-error",
            End::PublisherClosed(CloseReason::TakenOver) => "taken-over",
            End::PublisherClosed(_) => "closed-by-server",
            End::PlayEnded(EndReason::Lagged) => "lagged",
            End::PlayEnded(_) => "stream-ended",
            End::Kicked => "kicked",
        }
    }
}

/// One track the client SETUP, in SETUP order (the session's track index).
#[derive(Debug)]
pub(super) struct SetupTrack {
    /// Index into the described (play) or announced (record) tracks.
    pub index: usize,
    /// The client's RTP/RTCP addresses and our pair, over UDP.
    pub udp: Option<(UdpPair, std::net::SocketAddr, std::net::SocketAddr)>,
    /// Interleaved channels, over TCP.
    pub channels: Option<(u8, u8)>,
}

/// Per-connection state beside the protocol machine.
pub(super) struct Conn<'a> {
    pub shared: &'a Arc<Shared>,
    pub guard: &'a SessionGuard,
    pub rtsp: ServerSession,
    pub out: Outbox,
    pub setups: Vec<SetupTrack>,
    pub playing: Option<Playing>,
    pub recording: Option<Recording>,
    pub udp_tx: mpsc::Sender<Datagram>,
    pub auth: super::auth::AuthState,
    /// Media may flow (PLAY or RECORD answered).
    pub started: bool,
}

/// Runs the session to its end and logs how it ended.
pub async fn run(stream: TcpStream, shared: Arc<Shared>, mut guard: SessionGuard) {
    tracing::debug!("rtsp connection accepted");
    let (mut rd, mut wr) = stream.into_split();
    let end = drive(&mut rd, &mut wr, &shared, &guard).await;
    if !matches!(end, End::PeerClosed | End::Read(_) | End::Write(_)) {
        crate::io::linger_close(&mut rd, &mut wr, crate::io::LINGER).await;
    }
    guard.set_end_reason(end.name());
    let info = guard.info();
    let (bytes_in, bytes_out) = (
        info.bytes_in.load(Ordering::Relaxed),
        info.bytes_out.load(Ordering::Relaxed),
    );
    match &end {
        End::PeerClosed | End::PlayEnded(EndReason::StreamEnded) => {
            tracing::info!(bytes_in, bytes_out, "rtsp session ended: {end}")
        }
        _ => tracing::warn!(bytes_in, bytes_out, "rtsp session closed: {end}"),
    }
}

/// Reads at most this much per read call.
const READ_CHUNK: usize = 64 * 1024;

async fn drive(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    shared: &Arc<Shared>,
    guard: &SessionGuard,
) -> End {
    let cfg = &shared.config;
    let now = Instant::now();
    let (udp_tx, mut udp_rx) = mpsc::channel(super::udp::QUEUE);
    let mut conn = Conn {
        shared,
        guard,
        rtsp: ServerSession::new(
            SessionConfig {
                session_timeout_secs: cfg.rtsp.session_timeout_secs,
                server_name: format!("strom/{}", env!("CARGO_PKG_VERSION")),
                allow_udp: shared.udp_ports.is_some(),
                handshake_timeout: Duration::from_secs(cfg.rtsp.handshake_secs),
                record_idle_timeout: Duration::from_secs(cfg.rtsp.keep_alive_secs),
                ..SessionConfig::default()
            },
            super::session_id(guard.info().id),
            now,
        ),
        out: Outbox::default(),
        setups: Vec::new(),
        playing: None,
        recording: None,
        udp_tx,
        auth: super::auth::AuthState::new(guard.info().id),
        started: false,
    };
    let stall = Duration::from_millis(cfg.server.write_stall_ms);
    let mut buf = BytesMut::with_capacity(4096);
    let timer = tokio::time::sleep_until(now.into());
    tokio::pin!(timer);
    let kicked = guard.info().kicked();
    tokio::pin!(kicked);
    let mut reports = tokio::time::interval(super::play::REPORT_INTERVAL);
    reports.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        while let Some(event) = conn.rtsp.poll_event() {
            if let Err(end) = conn.handle(event).await {
                let _ = conn.flush(wr, stall).await;
                return end;
            }
        }
        if let Err(e) = conn.flush(wr, stall).await {
            return e.into();
        }

        // Every state has a deadline, kept by the session (rtsp-proto's
        // `session/timers.rs`). Before media flows: the handshake deadline
        // (from the connection's start, whatever requests come). A publisher:
        // its media keep-alive (interleaved RTP, or UDP RTP noted below). A
        // player, over UDP or TCP, playing or paused: the RTSP session
        // timeout, kept by its requests (GET_PARAMETER/OPTIONS keep-alives),
        // RTCP receiver reports and, over TCP only, media written to it
        // (`play.rs`); so a paused or media-less player that says nothing
        // expires. At the deadline the session queues `Event::TimedOut`.
        let deadline = conn.rtsp.poll_timeout();
        if let Some(at) = deadline.map(tokio::time::Instant::from_std) {
            if timer.deadline() != at {
                timer.as_mut().reset(at);
            }
        }
        let reporting = conn.playing.is_some() && conn.started;
        let recording = &conn.recording;
        let playing = &mut conn.playing;
        let started = conn.started;
        let publisher_closed = async move {
            match recording {
                Some(r) => r.publisher.closed().await,
                None => std::future::pending().await,
            }
        };
        let play_event = async move {
            match playing.as_mut() {
                Some(p) if started => p.subscriber.recv().await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            read = rd.read_buf(&mut buf) => match read {
                Ok(0) => return End::PeerClosed,
                Ok(n) => {
                    guard.info().bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                    // Owned input: interleaved payloads that arrive in one
                    // read stay slices of this buffer.
                    let input = buf.split().freeze();
                    match conn.rtsp.handle_input_bytes(input, Instant::now()) {
                        // Input after a passed deadline: the session queued
                        // `Event::TimedOut`, handled at the top of the loop.
                        Ok(()) | Err(SessionError::Closed) => {}
                        Err(e) => {
                            // Tell the client why before closing (RFC 2326 §7.1.1
                            // has no CSeq to echo for a request that cannot be read).
                            conn.out.push(bytes::Bytes::from(error_reply(&e)));
                            let _ = conn.flush(wr, stall).await;
                            return e.into();
                        }
                    }
                    buf.reserve(READ_CHUNK.min(buf.capacity().max(4096)));
                }
                Err(e) => return End::Read(e),
            },
            datagram = udp_rx.recv() => {
                if let Some(d) = datagram {
                    guard.info().bytes_in.fetch_add(d.data.len() as u64, Ordering::Relaxed);
                    let now = Instant::now();
                    conn.rtsp.note_activity(now);
                    if !d.rtcp && conn.recording.is_some() {
                        conn.rtsp.note_media(now);
                        conn.record_rtp(d.setup, &d.data);
                    }
                }
            }
            reason = publisher_closed => return End::PublisherClosed(reason),
            _ = &mut kicked => return End::Kicked,
            event = play_event => {
                if let Err(end) = conn.play_events(event) {
                    let _ = conn.flush(wr, stall).await;
                    return end;
                }
            }
            _ = reports.tick(), if reporting => conn.send_reports(),
            _ = &mut timer, if deadline.is_some() => {
                if let Some(at) = deadline {
                    conn.rtsp.handle_timeout(Instant::now().max(at));
                }
            }
        }
    }
}

/// The last answer to a connection whose input cannot be used any more.
fn error_reply(e: &SessionError) -> String {
    let (status, reason) = match e {
        SessionError::Framing(rtsp_proto::signal::ParseError::TooLarge { .. })
        | SessionError::InterleavedTooLarge { .. } => (413, "Request Entity Too Large"),
        SessionError::TooManyPipelined { .. } => (503, "Service Unavailable"),
        _ => (400, "Bad Request"),
    };
    format!("RTSP/1.0 {status} {reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
}

impl Conn<'_> {
    /// Moves what the protocol machine wants to send, then the media queued
    /// behind it, to the socket.
    pub(super) async fn flush(
        &mut self,
        wr: &mut tokio::net::tcp::OwnedWriteHalf,
        stall: Duration,
    ) -> Result<(), WriteError> {
        while let Some(bytes) = self.rtsp.poll_transmit() {
            self.out.push(bytes);
        }
        if self.out.is_empty() {
            return Ok(());
        }
        let n = self.out.flush(wr, stall).await?;
        self.guard.info().bytes_out.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    async fn handle(&mut self, event: Event) -> Result<(), End> {
        match event {
            Event::Describe { request_id, url } => self.describe(request_id, url).await?,
            Event::Announce {
                request_id,
                url,
                sdp,
            } => self.announce(request_id, url, sdp).await?,
            Event::Setup {
                request_id,
                track,
                transport,
                ..
            } => self.setup(request_id, track, transport)?,
            Event::Play { request_id, .. } => self.play(request_id)?,
            Event::Record { request_id, .. } => self.record(request_id)?,
            Event::Pause { request_id } => {
                if let Some(p) = self.playing.as_mut() {
                    p.paused = true;
                }
                self.rtsp.respond(request_id, Reply::ok())?;
            }
            Event::Teardown => return Err(End::PeerClosed),
            Event::TimedOut { what } => return Err(End::Timeout(what)),
            Event::Interleaved { channel, data } => {
                if let Some((setup, false)) = self.rtsp.track_for_channel(channel) {
                    if self.recording.is_some() {
                        self.record_rtp(setup, &data);
                    }
                }
            }
            Event::Rejected { status, reason } => {
                tracing::info!(status, %reason, "rtsp request refused");
            }
            _ => {}
        }
        Ok(())
    }
}
