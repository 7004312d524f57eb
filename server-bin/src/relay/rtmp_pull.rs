//! A stream pulled over RTMP: rtmp-proto's `ClientSession` in play mode,
//! run by the generic [drive loop](crate::drive) like any server session,
//! its media published into the local stream through stream-core.
//!
//! Deadlines are the client session's: connect, handshake and Play.Start
//! within `relay.connect_secs`; then no audio or video for
//! `relay.no_media_secs` (an upstream that handshakes and sends nothing, or
//! freezes) ends the pull and the supervisor retries.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtmp_proto::{
    ClientConfig, ClientEvent, ClientMode, ClientSession, ClientTimeout, ClientTimeouts,
};
use stream_core::{CloseReason, Publisher, StreamKey};

use super::{Proxy, PullUrl};
use crate::drive::{Driven, End};
use crate::io::Outbox;
use crate::media::flv_ingest::FlvIngest;
use crate::server::Shared;
use crate::session::SessionInfo;

/// Read buffer size: a pull carries media from its first read.
const READ_CHUNK: usize = 64 * 1024;

/// One attempt at pulling `url` into the proxy's stream.
pub(crate) struct Pull {
    shared: Arc<Shared>,
    info: Arc<SessionInfo>,
    proxy: Arc<Proxy>,
    client: ClientSession,
    out: Outbox,
    publishing: Option<(Publisher, FlvIngest)>,
    /// Media went into the stream (the proxy shows `live` from then).
    live_noted: bool,
}

impl Pull {
    /// A pull that starts with the handshake.
    pub(crate) fn new(
        shared: Arc<Shared>,
        info: Arc<SessionInfo>,
        proxy: Arc<Proxy>,
        url: &PullUrl,
    ) -> Pull {
        let relay = &shared.config.relay;
        let client = ClientSession::new(
            ClientConfig {
                app: url.app.clone(),
                tc_url: url.tc_url(),
                stream: url.stream.clone(),
                mode: ClientMode::Play,
                chunk_size: shared.config.rtmp.chunk_size,
                handshake: crate::rtmp::handshake_params(info.id),
                digest: false,
                timeouts: ClientTimeouts {
                    response: Duration::from_secs(relay.connect_secs),
                    media_idle: Duration::from_secs(relay.no_media_secs),
                    ..ClientTimeouts::default()
                },
            },
            crate::drive::now(),
        );
        Pull {
            shared,
            info,
            proxy,
            client,
            out: Outbox::default(),
            publishing: None,
            live_noted: false,
        }
    }

    /// Play started upstream: take the local name (a local publisher that
    /// holds it wins; the supervisor retries later).
    fn claim(&mut self) -> Result<(), End> {
        let key: StreamKey = self.proxy.key.clone();
        match self.shared.hub.publish(key.clone(), self.info.peer_info()) {
            Ok(publisher) => {
                tracing::info!(stream = %key, upstream = %self.proxy.url(), resumed = publisher.resumed(), "relay live");
                self.info.set_stream(key, None);
                self.publishing = Some((publisher, FlvIngest::default()));
                Ok(())
            }
            Err(e) => Err(End::Refused(format!("the local name is taken: {e}"))),
        }
    }
}

impl Driven for Pull {
    type Wake = CloseReason;

    fn input(&mut self, bytes: Bytes, now: std::time::Instant) -> Result<(), End> {
        match self.client.handle_input(&bytes, now) {
            Err(rtmp_proto::Error::ClientTimedOut(what)) => Err(End::Timeout(timeout_name(what))),
            other => Ok(other?),
        }
    }

    async fn on_events(&mut self) -> Result<(), End> {
        while let Some(event) = self.client.poll_event() {
            match event {
                ClientEvent::Playing => self.claim()?,
                ClientEvent::Media {
                    kind,
                    timestamp,
                    payload,
                } => {
                    if let Some((publisher, ingest)) = self.publishing.as_mut() {
                        crate::rtmp::push_flv(ingest, publisher, kind, timestamp, &payload)?;
                        // Live from the first media, not from Play.Start: an
                        // upstream may start the play and send nothing.
                        if !self.live_noted {
                            self.live_noted = true;
                            self.proxy.went_live();
                        }
                    }
                }
                ClientEvent::Rejected { code, description } => {
                    return Err(End::Refused(format!("upstream: {code}: {description}")))
                }
                ClientEvent::UnpublishNotify | ClientEvent::StreamEof => {
                    return Err(End::PeerClosed)
                }
                ClientEvent::TimedOut { what } => return Err(End::Timeout(timeout_name(what))),
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
        match &self.publishing {
            Some((publisher, _)) => publisher.closed().await,
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

fn timeout_name(what: ClientTimeout) -> &'static str {
    match what {
        ClientTimeout::Response => "upstream connect",
        ClientTimeout::MediaIdle => "upstream media",
        ClientTimeout::Acknowledgement => "upstream acknowledgement",
    }
}
