//! A stream pulled over RTSP (cameras, NVRs, other servers): rtsp-proto's
//! `ClientSession` (OPTIONS, DESCRIBE with Basic/Digest, SETUP of every
//! track interleaved on the connection, PLAY, keep-alives) on the generic
//! [drive loop](crate::drive), its RTP depacketized by the same ingest as
//! RTSP publishers and published into the local stream.
//!
//! Deadlines are the client session's: each request's answer within
//! `relay.connect_secs`; no RTP for `relay.no_media_secs` while playing.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtsp_proto::signal::{ClientConfig, ClientEvent, ClientSession, ClientTimeout, ClientTimeouts};
use stream_core::{CloseReason, Publisher};

use super::Proxy;
use crate::drive::{Driven, End};
use crate::io::Outbox;
use crate::media::rtp_ingest::RtpIngest;
use crate::server::Shared;
use crate::session::SessionInfo;

/// Read buffer size: a pull carries media from PLAY on.
const READ_CHUNK: usize = 64 * 1024;

/// One attempt at pulling an `rtsp://` upstream.
pub(crate) struct RtspPull {
    shared: Arc<Shared>,
    info: Arc<SessionInfo>,
    proxy: Arc<Proxy>,
    client: ClientSession,
    out: Outbox,
    /// From DESCRIBE: the depacketizers of the tracks strom can ingest.
    ingest: Option<RtpIngest>,
    /// Interleaved RTP channel → SDP track index, from the SETUP answers.
    channels: Vec<(u8, usize)>,
    publisher: Option<Publisher>,
    ingested: Vec<crate::media::rtp_ingest::RtpIngested>,
}

impl RtspPull {
    /// A pull that starts with OPTIONS.
    pub(crate) fn new(
        shared: Arc<Shared>,
        info: Arc<SessionInfo>,
        proxy: Arc<Proxy>,
    ) -> Result<RtspPull, End> {
        let relay = &shared.config.relay;
        let mut config = ClientConfig::play(proxy.url.raw.clone());
        config.user_agent = format!("strom/{}", env!("CARGO_PKG_VERSION"));
        config.seed = info.id ^ 0x5eed_5eed_5eed_5eed;
        config.timeouts = ClientTimeouts {
            response: Duration::from_secs(relay.connect_secs),
            media_idle: Duration::from_secs(relay.no_media_secs),
            ..ClientTimeouts::default()
        };
        let client = ClientSession::new(config, crate::drive::now())
            .map_err(|e| End::Refused(format!("upstream URL: {e}")))?;
        Ok(RtspPull {
            shared,
            info,
            proxy,
            client,
            out: Outbox::default(),
            ingest: None,
            channels: Vec::new(),
            publisher: None,
            ingested: Vec::new(),
        })
    }

    /// PLAY answered: take the local name.
    fn claim(&mut self) -> Result<(), End> {
        let key = self.proxy.key.clone();
        let mut publisher = self
            .shared
            .hub
            .publish(key.clone(), self.info.peer_info())
            .map_err(|e| End::Refused(format!("the local name is taken: {e}")))?;
        if let Some(tracks) = self.ingest.as_ref().map(|i| i.tracks()) {
            if !tracks.is_empty() {
                publisher.set_tracks(tracks);
            }
        }
        tracing::info!(stream = %key, upstream = %self.proxy.url, resumed = publisher.resumed(), "relay live");
        self.info.set_stream(key, None);
        self.proxy.went_live();
        self.publisher = Some(publisher);
        Ok(())
    }

    fn rtp(&mut self, channel: u8, data: &Bytes) {
        let Some(&(_, track)) = self.channels.iter().find(|(c, _)| *c == channel) else {
            return; // RTCP, or a track not set up
        };
        let (Some(ingest), Some(publisher)) = (self.ingest.as_mut(), self.publisher.as_mut())
        else {
            return;
        };
        if ingest.has(track) {
            ingest.push(track, data, &mut self.ingested);
            crate::rtsp::deliver_rtp(&mut self.ingested, publisher);
        }
    }
}

impl Driven for RtspPull {
    type Wake = CloseReason;

    fn input(&mut self, bytes: Bytes, now: std::time::Instant) -> Result<(), End> {
        match self.client.handle_input_bytes(bytes, now) {
            Ok(()) => Ok(()),
            // Why the session closed (a deadline, the server's broken input)
            // is queued as an event: say that rather than the bare error.
            Err(e) => {
                while let Some(event) = self.client.poll_event() {
                    if let ClientEvent::TimedOut { what } = event {
                        return Err(End::Timeout(timeout_name(&what)));
                    }
                }
                Err(End::Protocol(Box::new(e)))
            }
        }
    }

    async fn on_events(&mut self) -> Result<(), End> {
        while let Some(event) = self.client.poll_event() {
            match event {
                ClientEvent::Described { sdp, .. } => {
                    let infos = sdp.media_infos();
                    let (ingest, skipped) = RtpIngest::from_sdp(&infos)
                        .map_err(|e| End::Refused(format!("upstream SDP: {e}")))?;
                    for s in &skipped {
                        tracing::warn!(stream = %self.proxy.key, "upstream track not ingested: {s}");
                    }
                    self.ingest = Some(ingest);
                }
                ClientEvent::SetUp { track, transport } => {
                    if let Some((rtp, _)) = transport.interleaved {
                        self.channels.push((rtp, track));
                    }
                }
                ClientEvent::Playing { .. } => self.claim()?,
                ClientEvent::Interleaved { channel, data } => self.rtp(channel, &data),
                ClientEvent::Failed { status, reason } => {
                    return Err(End::Refused(format!("upstream: {status} {reason}")))
                }
                ClientEvent::TimedOut { what } => return Err(End::Timeout(timeout_name(&what))),
                ClientEvent::Error(e) => return Err(End::Protocol(Box::new(e))),
                ClientEvent::Closed => return Err(End::PeerClosed),
                _ => {}
            }
        }
        Ok(())
    }

    fn transmit(&mut self) -> &mut Outbox {
        while let Some(bytes) = self.client.poll_transmit() {
            self.out.push(bytes);
        }
        &mut self.out
    }

    fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.client.poll_timeout()
    }

    fn handle_timeout(&mut self, now: std::time::Instant) {
        self.client.handle_timeout(now);
    }

    async fn wake(&mut self) -> CloseReason {
        match &self.publisher {
            Some(publisher) => publisher.closed().await,
            None => std::future::pending().await,
        }
    }

    async fn on_wake(&mut self, reason: CloseReason) -> Result<(), End> {
        Err(End::PublisherClosed(reason))
    }

    fn read_size(&self) -> usize {
        READ_CHUNK
    }
}

fn timeout_name(what: &ClientTimeout) -> &'static str {
    match what {
        ClientTimeout::MediaIdle => "upstream media",
        _ => "upstream response",
    }
}
