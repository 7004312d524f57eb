//! A push to an RTSP target: rtsp-proto's `ClientSession` recording
//! (OPTIONS, ANNOUNCE with the stream's SDP, SETUP of each track
//! interleaved with `mode=record`, RECORD, keep-alives) on the generic
//! [drive loop](crate::drive). The SDP and the RTP are the RTSP players'
//! ([`crate::media::rtp_egress`]): the same track descriptions, the same
//! packets, packetized once per frame and shared with the players.
//!
//! Deadlines: each request's answer within `relay.connect_secs`; a target
//! that accepts no bytes for `server.write_stall_ms` is closed and the
//! supervisor reconnects. RTP goes over TCP only (UDP record is not
//! offered).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtsp_proto::signal::{
    describe_sdp, ClientConfig, ClientEvent, ClientSession, ClientTimeout, ClientTimeouts,
    DescribeOptions,
};
use stream_core::{EndReason, Frame, SubscriberEvent, Track};

use super::queue::{Event, Feed};
use super::Push;
use crate::drive::{Driven, End};
use crate::io::Outbox;
use crate::media::rtp_egress::{follow_tracks, interleave, RtpSender, RtpTrack};
use crate::media::WIRE_RTP;
use crate::server::Shared;
use crate::session::SessionInfo;

/// Read buffer: a target only answers requests.
const READ_CHUNK: usize = 4 * 1024;

/// One attempt at recording the source to an RTSP target.
pub(super) struct RtspPush {
    push: Arc<Push>,
    client: ClientSession,
    feed: Feed,
    target: Target,
    /// RECORD answered: frames go out.
    recording: bool,
}

/// What the target is sent: the announced tracks, their channels and RTP state.
struct Target {
    out: Outbox,
    mtu: usize,
    seed: u64,
    tracks: Vec<RtpTrack>,
    /// Interleaved RTP channel per announced track, from the SETUP answers.
    channels: Vec<Option<u8>>,
    senders: Vec<RtpSender>,
    /// A frame read while waiting for the tracks, sent first.
    first_frame: Option<Arc<Frame>>,
}

impl RtspPush {
    /// Waits (up to `relay.connect_secs`) for the source's tracks, then
    /// starts with OPTIONS.
    pub(super) async fn new(
        shared: &Shared,
        info: &SessionInfo,
        push: Arc<Push>,
        mut feed: Feed,
    ) -> Result<RtspPush, End> {
        let relay = &shared.config.relay;
        let wait = Duration::from_secs(relay.connect_secs);
        let Some((tracks, first_frame)) = crate::rtsp::first_tracks(feed.subscriber(), wait).await
        else {
            return Err(End::Refused(
                "the source has no track RTSP can carry (H.264, H.265, AAC, G.711)".into(),
            ));
        };
        let infos: Vec<_> = tracks.iter().map(|t| t.info.clone()).collect();
        let sdp = describe_sdp(
            &infos,
            &DescribeOptions {
                session_name: push.key.to_string(),
                ..DescribeOptions::default()
            },
        );
        let mut config = ClientConfig::record(push.url.raw.clone(), sdp);
        config.user_agent = format!("strom/{}", env!("CARGO_PKG_VERSION"));
        let seed = info.id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed_5eed_5eed_5eed;
        config.seed = seed;
        config.timeouts = ClientTimeouts {
            response: Duration::from_secs(relay.connect_secs),
            ..ClientTimeouts::default()
        };
        let client = ClientSession::new(config, crate::drive::now())
            .map_err(|e| End::Refused(format!("target URL: {e}")))?;
        Ok(RtspPush {
            push,
            client,
            feed,
            target: Target {
                out: Outbox::default(),
                mtu: shared.config.rtsp.mtu,
                seed,
                channels: vec![None; tracks.len()],
                tracks,
                senders: Vec::new(),
                first_frame,
            },
            recording: false,
        })
    }
}

impl Target {
    fn start(&mut self) {
        self.senders = self
            .tracks
            .iter()
            .enumerate()
            .map(|(i, t)| RtpSender::new(t, self.seed.rotate_left(i as u32 * 13)))
            .collect();
        if let Some(frame) = self.first_frame.take() {
            self.frame(&frame);
        }
    }

    fn event(&mut self, event: Event) -> Result<(), End> {
        match event {
            Event::Frame(frame) => self.frame(&frame),
            Event::Tracks(tracks) => self.tracks_changed(&tracks)?,
        }
        Ok(())
    }

    fn frame(&mut self, frame: &Frame) {
        for (i, track) in self.tracks.iter().enumerate() {
            if track.id != frame.track {
                continue;
            }
            let (Some(Some(ch)), Some(sender)) = (self.channels.get(i), self.senders.get_mut(i))
            else {
                continue;
            };
            let packed = frame
                .wire
                .get_or_init(WIRE_RTP, || track.payloads(frame, self.mtu));
            interleave(&mut self.out, *ch, sender, frame.pts_us, &packed);
        }
    }

    /// The source's tracks changed (its publisher resumed or was replaced).
    /// The announced tracks go on while their codec stays; a codec change
    /// ends this attempt, and the next one announces the new tracks.
    fn tracks_changed(&mut self, tracks: &[Track]) -> Result<(), End> {
        follow_tracks(&mut self.tracks, tracks).map_err(End::CodecChanged)
    }
}

impl Driven for RtspPush {
    type Wake = Result<SubscriberEvent, EndReason>;

    fn input(&mut self, bytes: Bytes, now: std::time::Instant) -> Result<(), End> {
        crate::relay::rtsp_pull::client_input(&mut self.client, bytes, now, timeout_name)
    }

    async fn on_events(&mut self) -> Result<(), End> {
        while let Some(event) = self.client.poll_event() {
            match event {
                ClientEvent::SetUp { track, transport } => {
                    if let Some(slot) = self.target.channels.get_mut(track) {
                        *slot = transport.interleaved.map(|(rtp, _)| rtp);
                    }
                }
                ClientEvent::Recording => {
                    tracing::info!(stream = %self.push.key, target = %self.push.url, "push live");
                    // The RECORD request leaves before the first RTP packet.
                    while let Some(bytes) = self.client.poll_transmit() {
                        self.target.out.push(bytes);
                    }
                    self.recording = true;
                    self.push.went_live();
                    self.target.start();
                }
                ClientEvent::Failed { status, reason } => {
                    return Err(End::Refused(format!("target: {status} {reason}")))
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
            self.target.out.push(bytes);
        }
        &mut self.target.out
    }

    fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.client.poll_timeout()
    }

    fn handle_timeout(&mut self, now: std::time::Instant) {
        self.client.handle_timeout(now);
    }

    async fn wake(&mut self) -> Result<SubscriberEvent, EndReason> {
        // Until RECORD is answered the source's frames wait in the bounded queue.
        if !self.recording {
            return std::future::pending().await;
        }
        self.feed.recv().await
    }

    async fn on_wake(&mut self, first: Result<SubscriberEvent, EndReason>) -> Result<(), End> {
        let target = &mut self.target;
        let result = self.feed.drain(first, |e| target.event(e));
        if result.is_err() {
            // TEARDOWN in the last flush.
            self.client.close(crate::drive::now());
        }
        result
    }

    fn read_size(&self) -> usize {
        READ_CHUNK
    }
}

fn timeout_name(what: &ClientTimeout) -> &'static str {
    match what {
        ClientTimeout::MediaIdle => "target media",
        _ => "target response",
    }
}
