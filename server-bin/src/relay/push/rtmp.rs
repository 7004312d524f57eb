//! A push to an RTMP target: rtmp-proto's `ClientSession` in publish mode on
//! the generic [drive loop](crate::drive), fed by the source's subscriber.
//!
//! Deadlines: the handshake, connect, createStream and Publish.Start within
//! `relay.connect_secs` (the client session's response deadline); while
//! publishing, a target that asked for acknowledgements and stops sending
//! them for `relay.no_media_secs`, or that accepts no bytes for
//! `server.write_stall_ms`, is closed and the supervisor reconnects.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtmp_proto::session::MediaKind;
use rtmp_proto::{
    ClientConfig, ClientEvent, ClientMode, ClientSession, ClientTimeout, ClientTimeouts,
};
use stream_core::{EndReason, SubscriberEvent, Track};

use super::queue::{Event, Feed};
use super::Push;
use crate::drive::{Driven, End};
use crate::io::Outbox;
use crate::media::{flv_egress, to_rtmp_ms};
use crate::server::Shared;
use crate::session::SessionInfo;

/// Read buffer: a target only sends acknowledgements and statuses.
const READ_CHUNK: usize = 4 * 1024;

/// One attempt at publishing the source to an RTMP target.
pub(super) struct RtmpPush {
    push: Arc<Push>,
    target: Target,
    out: Outbox,
    feed: Feed,
    /// Publish.Start came: frames go out.
    publishing: bool,
}

/// The client session and what it has sent.
struct Target {
    client: ClientSession,
    tracks: Arc<[Track]>,
    last_ts: u32,
}

impl RtmpPush {
    /// A push that starts with the handshake.
    pub(super) fn new(
        shared: &Shared,
        info: &SessionInfo,
        push: Arc<Push>,
        feed: Feed,
    ) -> RtmpPush {
        let relay = &shared.config.relay;
        let url = &push.url;
        let client = ClientSession::new(
            ClientConfig {
                app: url.app.clone(),
                tc_url: url.tc_url(),
                stream: url.stream.clone(),
                mode: ClientMode::Publish,
                chunk_size: shared.config.rtmp.chunk_size,
                handshake: crate::rtmp::handshake_params(info.id),
                digest: false,
                timeouts: ClientTimeouts {
                    response: Duration::from_secs(relay.connect_secs),
                    ack: Duration::from_secs(relay.no_media_secs),
                    ..ClientTimeouts::default()
                },
            },
            crate::drive::now(),
        );
        RtmpPush {
            push,
            target: Target {
                client,
                tracks: Arc::from(Vec::new()),
                last_ts: 0,
            },
            out: Outbox::default(),
            feed,
            publishing: false,
        }
    }
}

impl Target {
    fn event(&mut self, event: Event) -> Result<(), End> {
        match event {
            Event::Tracks(tracks) => {
                self.client.send_metadata(flv_egress::metadata(&tracks))?;
                for track in tracks.iter() {
                    if let Some(body) = flv_egress::sequence_header(track) {
                        self.client.send_media_parts(
                            kind(track),
                            self.last_ts,
                            &body.header,
                            &body.payload,
                        )?;
                    }
                }
                self.tracks = tracks;
            }
            Event::Frame(frame) => {
                let Some(track) = self.tracks.iter().find(|t| t.id == frame.track) else {
                    return Ok(());
                };
                let Some(body) = flv_egress::frame_body(track, &frame) else {
                    return Ok(());
                };
                let ts = to_rtmp_ms(frame.dts_us);
                self.last_ts = ts;
                self.client
                    .send_media_parts(kind(track), ts, &body.header, &body.payload)?;
            }
        }
        Ok(())
    }
}

impl Driven for RtmpPush {
    type Wake = Result<SubscriberEvent, EndReason>;

    fn input(&mut self, bytes: Bytes, now: std::time::Instant) -> Result<(), End> {
        match self.target.client.handle_input(&bytes, now) {
            Err(rtmp_proto::Error::ClientTimedOut(what)) => Err(End::Timeout(timeout_name(what))),
            other => Ok(other?),
        }
    }

    async fn on_events(&mut self) -> Result<(), End> {
        while let Some(event) = self.target.client.poll_event() {
            match event {
                ClientEvent::Publishing => {
                    tracing::info!(stream = %self.push.key, target = %self.push.url, "push live");
                    self.publishing = true;
                    self.push.went_live();
                }
                ClientEvent::Rejected { code, description } => {
                    return Err(End::Refused(format!("target: {code}: {description}")))
                }
                ClientEvent::StreamEof | ClientEvent::UnpublishNotify => {
                    return Err(End::PeerClosed)
                }
                ClientEvent::TimedOut { what } => return Err(End::Timeout(timeout_name(what))),
                _ => {}
            }
        }
        Ok(())
    }

    fn transmit(&mut self) -> &mut Outbox {
        while let Some(bytes) = self.target.client.poll_transmit() {
            self.out.push(bytes);
        }
        &mut self.out
    }

    fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.target.client.poll_timeout()
    }

    fn handle_timeout(&mut self, now: std::time::Instant) {
        self.target.client.handle_timeout(now);
    }

    async fn wake(&mut self) -> Result<SubscriberEvent, EndReason> {
        // Until Publish.Start the source's frames wait in the bounded queue.
        if !self.publishing {
            return std::future::pending().await;
        }
        self.feed.recv().await
    }

    async fn on_wake(&mut self, first: Result<SubscriberEvent, EndReason>) -> Result<(), End> {
        let target = &mut self.target;
        let result = self.feed.drain(first, |e| target.event(e));
        if result.is_err() {
            // The source ended or the target failed: say goodbye politely
            // (FCUnpublish, deleteStream) in the last flush.
            self.target.client.close();
        }
        result
    }

    fn read_size(&self) -> usize {
        READ_CHUNK
    }
}

fn kind(track: &Track) -> MediaKind {
    if track.codec.is_video() {
        MediaKind::Video
    } else {
        MediaKind::Audio
    }
}

fn timeout_name(what: ClientTimeout) -> &'static str {
    match what {
        ClientTimeout::Response => "target connect",
        ClientTimeout::Acknowledgement => "target acknowledgement",
        ClientTimeout::MediaIdle => "target media",
    }
}
