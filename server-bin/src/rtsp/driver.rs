//! One RTSP connection: `rtsp_proto::signal::ServerSession` with the
//! server's policy around it (play and record halves, UDP port pairs, RTCP
//! sender reports), run by the generic [drive loop](crate::drive).
//!
//! Every state has a deadline, and the session owns it
//! (`SessionConfig::handshake_timeout`, `record_idle_timeout`,
//! `session_timeout_secs`): before media flows, the handshake deadline from
//! the connection's start whatever requests come; a publisher, its media
//! keep-alive (RTP only; UDP packets are reported with `note_media`); a
//! player over UDP or TCP, playing or paused, the RTSP session timeout,
//! kept by its requests, RTCP receiver reports and, over TCP only, media
//! written to it (`play.rs`). The adapter adds one timer of its own: the
//! next RTCP sender report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtsp_proto::signal::{Event, Reply, ServerSession, SessionConfig, SessionError, Timeout};
use stream_core::{CloseReason, EndReason, SubscriberEvent};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use super::play::Playing;
use super::record::Recording;
use super::udp::{Datagram, UdpPair};
use crate::drive::{Driven, End};
use crate::io::Outbox;
use crate::server::Shared;
use crate::session::{SessionGuard, SessionInfo};

/// Reads at most this much per read call.
const READ_CHUNK: usize = 64 * 1024;
/// Read size until the connection records: requests are small.
const SMALL_READ: usize = 4 * 1024;

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

/// One RTSP connection: the protocol machine and what the server keeps
/// beside it.
pub(crate) struct Conn {
    pub shared: Arc<Shared>,
    pub info: Arc<SessionInfo>,
    pub rtsp: ServerSession,
    pub out: Outbox,
    pub setups: Vec<SetupTrack>,
    pub playing: Option<Playing>,
    pub recording: Option<Recording>,
    pub udp_tx: mpsc::Sender<Datagram>,
    udp_rx: mpsc::Receiver<Datagram>,
    pub auth: super::auth::AuthState,
    /// Media may flow (PLAY or RECORD answered).
    pub started: bool,
    /// When the next RTCP sender report is due, while playing.
    next_report: Option<Instant>,
}

/// What wakes an RTSP connection besides its socket.
pub(crate) enum Wake {
    /// The server closed the publisher.
    PublisherClosed(CloseReason),
    /// The player's subscription has frames or ended.
    Play(Result<SubscriberEvent, EndReason>),
    /// A datagram on one of the connection's UDP ports.
    Datagram(Option<Datagram>),
    /// A WebRTC viewer asks the publisher for a keyframe.
    Keyframe,
}

impl Conn {
    /// A connection that has just been accepted.
    pub(crate) fn new(shared: Arc<Shared>, info: Arc<SessionInfo>) -> Conn {
        let cfg = &shared.config;
        let (udp_tx, udp_rx) = mpsc::channel(super::udp::QUEUE);
        let rtsp = ServerSession::new(
            SessionConfig {
                session_timeout_secs: cfg.rtsp.session_timeout_secs,
                handshake_timeout: Duration::from_secs(cfg.rtsp.handshake_secs),
                record_idle_timeout: Duration::from_secs(cfg.rtsp.keep_alive_secs),
                server_name: format!("strom/{}", env!("CARGO_PKG_VERSION")),
                allow_udp: shared.udp_ports.is_some(),
                ..SessionConfig::default()
            },
            super::session_id(info.id),
            crate::drive::now(),
        );
        Conn {
            auth: super::auth::AuthState::new(info.id),
            shared,
            info,
            rtsp,
            out: Outbox::default(),
            setups: Vec::new(),
            playing: None,
            recording: None,
            udp_tx,
            udp_rx,
            started: false,
            next_report: None,
        }
    }

    /// Starts the sender reports (called when PLAY is answered).
    pub(super) fn schedule_reports(&mut self) {
        self.next_report = Some(crate::drive::now() + super::play::REPORT_INTERVAL);
    }
}

/// Runs an accepted RTSP connection, given as its two halves, to its end.
pub async fn run<R, W>(rd: R, wr: W, shared: Arc<Shared>, guard: SessionGuard) -> End
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    tracing::debug!("rtsp connection accepted");
    let limits = shared.drive_limits();
    let info = guard.info().clone();
    // Built inside the call: a local moved into an awaited future would
    // take space twice in this function's state (rustc #59087), per connection.
    crate::drive::serve(Conn::new(shared, info), rd, wr, limits, guard, "rtsp").await
}

impl Driven for Conn {
    type Wake = Wake;

    fn input(&mut self, bytes: Bytes, now: Instant) -> Result<(), End> {
        if let Err(e) = self.rtsp.handle_input_bytes(bytes, now) {
            // Input that arrived after a deadline the timer had not fired
            // yet: the session closed and said why.
            if matches!(e, SessionError::Closed) {
                while let Some(event) = self.rtsp.poll_event() {
                    if let Event::TimedOut { what } = event {
                        return Err(End::Timeout(timeout_name(what)));
                    }
                }
            }
            // Tell the client why before closing (RFC 2326 §7.1.1 has no
            // CSeq to echo for a request that cannot be read).
            self.out.push(Bytes::from(error_reply(&e)));
            return Err(e.into());
        }
        Ok(())
    }

    async fn on_events(&mut self) -> Result<(), End> {
        while let Some(event) = self.rtsp.poll_event() {
            self.handle(event).await?;
        }
        Ok(())
    }

    /// What the protocol machine wants to send goes behind the media
    /// already queued.
    fn transmit(&mut self) -> &mut Outbox {
        while let Some(bytes) = self.rtsp.poll_transmit() {
            self.out.push(bytes);
        }
        &mut self.out
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let session = self.rtsp.poll_timeout();
        match (session, self.next_report) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.next_report.is_some_and(|due| now >= due) {
            self.send_reports();
            self.next_report = Some(now + super::play::REPORT_INTERVAL);
        }
        self.rtsp.handle_timeout(now);
    }

    async fn wake(&mut self) -> Wake {
        let recording = &self.recording;
        let playing = &mut self.playing;
        let started = self.started;
        let publisher_closed = async move {
            match recording {
                Some(r) => r.publisher.closed().await,
                None => std::future::pending().await,
            }
        };
        let keyframe = async move {
            match recording.as_ref().and_then(|r| r.keyframes.as_ref()) {
                Some(k) => k.wanted().await,
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
            reason = publisher_closed => Wake::PublisherClosed(reason),
            event = play_event => Wake::Play(event),
            datagram = self.udp_rx.recv() => Wake::Datagram(datagram),
            () = keyframe => Wake::Keyframe,
        }
    }

    async fn on_wake(&mut self, wake: Wake) -> Result<(), End> {
        match wake {
            Wake::PublisherClosed(reason) => Err(End::PublisherClosed(reason)),
            Wake::Play(event) => self.play_events(event),
            Wake::Datagram(Some(d)) => {
                let now = crate::drive::now();
                self.info
                    .bytes_in
                    .fetch_add(d.data.len() as u64, std::sync::atomic::Ordering::Relaxed);
                self.rtsp.note_activity(now);
                if !d.rtcp && self.recording.is_some() {
                    self.rtsp.note_media(now);
                    self.record_rtp(d.setup, &d.data);
                }
                Ok(())
            }
            // The sender lives in `self`: the channel cannot close.
            Wake::Datagram(None) => Ok(()),
            Wake::Keyframe => {
                self.ask_keyframe();
                Ok(())
            }
        }
    }

    fn read_size(&self) -> usize {
        if self.recording.is_some() && self.started {
            READ_CHUNK
        } else {
            SMALL_READ
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

/// The deadline's name in `End::Timeout` (and so in the log).
fn timeout_name(what: Timeout) -> &'static str {
    match what {
        Timeout::Handshake => "handshake",
        Timeout::PublisherIdle => "publisher keep-alive",
        Timeout::Session => "session timeout",
    }
}

impl Conn {
    async fn handle(&mut self, event: Event) -> Result<(), End> {
        match event {
            // Boxed: these futures (hooks, the wait for a stream) are large
            // and run once per connection; unboxed they would sit in every
            // connection's task for its whole life.
            Event::Describe { request_id, url } => Box::pin(self.describe(request_id, url)).await?,
            Event::Announce {
                request_id,
                url,
                sdp,
            } => Box::pin(self.announce(request_id, url, sdp)).await?,
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
            Event::TimedOut { what } => return Err(End::Timeout(timeout_name(what))),
            _ => {}
        }
        Ok(())
    }
}
