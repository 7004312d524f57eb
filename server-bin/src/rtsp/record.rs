//! The publishing side of an RTSP session: ANNOUNCE (with its SDP) is
//! arbitrated like an RTMP publish (hooks, then stream-core), RECORD starts
//! the media, and RTP from TCP interleaving or UDP becomes frames.

use std::time::Duration;

use rtsp_proto::media::{ReorderBuffer, RtpPacket};
use rtsp_proto::signal::{Reply, RequestId, RtspUrl, Sdp};
use stream_core::{PublishError, Publisher, PushError, StreamKey};

use super::auth::Action;
use super::driver::Conn;
use crate::cluster::Refused;
use crate::counters::PublishOutcome;
use crate::drive::End;
use crate::hooks::{Access, Decision};
use crate::media::rtp_ingest::{RtpIngest, RtpIngested};

/// An announced (then recording) stream.
pub(super) struct Recording {
    /// The ownership guard: dropping it (on any exit) releases the stream.
    pub publisher: Publisher,
    ingest: RtpIngest,
    /// The `a=control` of each SDP media section.
    controls: Vec<Option<String>>,
    out: Vec<RtpIngested>,
    /// Per SETUP, for UDP: packets put back in order (loopback never
    /// reorders, networks do).
    reorder: Vec<Option<ReorderBuffer>>,
    /// Keyframes WebRTC viewers ask for (`None`: no video, or no WebRTC).
    pub keyframes: Option<crate::webrtc::KeyframeSource>,
    /// The SDP media index of the video, and its SSRC once seen.
    video: Option<(usize, Option<u32>)>,
    /// When the last PLI went out (one a second at most).
    last_pli: Option<std::time::Instant>,
}

/// The SSRC strom signs its feedback with.
const FEEDBACK_SSRC: u32 = 0x5354_524f; // "STRO"
/// PLIs to one publisher at most this often.
const PLI_EVERY: Duration = Duration::from_secs(1);

/// Packets a UDP reorder buffer holds at most, and how long it waits for a
/// missing one before declaring it lost.
pub(crate) const REORDER_WINDOW: usize = 64;
pub(crate) const REORDER_WAIT: Duration = Duration::from_millis(50);

impl Recording {
    /// The SDP media section a SETUP names: by its control (ffmpeg's
    /// `streamid=N`, GStreamer's `stream=N`, cameras' `trackID=N`), else in
    /// SETUP order.
    pub fn index_of(&self, control: Option<&str>, nth_setup: usize) -> Option<usize> {
        let by_control = control.and_then(|c| {
            self.controls.iter().position(|m| {
                m.as_deref().is_some_and(|m| {
                    m == c || m.ends_with(&format!("/{c}")) || c.ends_with(&format!("/{m}"))
                })
            })
        });
        by_control
            .or((nth_setup < self.controls.len()).then_some(nth_setup))
            .filter(|&i| self.ingest.has(i))
    }
}

impl Conn {
    pub(super) async fn announce(
        &mut self,
        request_id: RequestId,
        url: RtspUrl,
        sdp: Sdp,
    ) -> Result<(), End> {
        let key = match StreamKey::parse(url.app.clone(), url.stream.clone()) {
            Ok(key) => key,
            Err(e) => {
                tracing::warn!(reason = %e, "rtsp ANNOUNCE refused: bad stream name");
                self.rtsp.respond(request_id, Reply::status(400))?;
                return Ok(());
            }
        };
        if self.recording.is_some() || self.playing.is_some() {
            self.rtsp.respond(request_id, Reply::status(455))?;
            return Ok(());
        }
        let request = self.rtsp.request(request_id);
        if let Err(challenge) = self.auth.check(
            &self.shared.config.rtsp.auth,
            request,
            &key.app,
            Action::Publish,
        ) {
            self.rtsp.respond(request_id, challenge.into())?;
            return Ok(());
        }
        let infos = sdp.media_infos();
        let (ingest, skipped) = match RtpIngest::from_sdp(&infos) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(stream = %key, error = %e, "rtsp announce refused");
                self.rtsp.respond(request_id, Reply::status(415))?;
                return Ok(());
            }
        };
        for s in &skipped {
            tracing::warn!(stream = %key, "rtsp track not ingested: {s}");
        }
        let access = Access::new(&key, url.query.as_deref(), &self.info);
        if let Decision::Deny(why) = self.shared.hooks.on_publish(&access).await {
            tracing::warn!(stream = %key, reason = %why, "rtsp publish denied");
            self.shared.counters.publish(PublishOutcome::Denied);
            self.rtsp.respond(request_id, Reply::status(403))?;
            return Ok(());
        }
        let published = crate::cluster::publish(&self.shared, &key, self.info.peer_info()).await;
        let mut publisher = match published {
            Ok(p) => p,
            Err(e) => {
                let why = match &e {
                    Refused::Cluster(why) => why.clone(),
                    Refused::Hub(PublishError::AlreadyPublishing { current, .. }) => format!(
                        "stream {key} is already being published (session {} over {})",
                        current.session_id,
                        current.protocol.name()
                    ),
                    Refused::Hub(other) => other.to_string(),
                };
                tracing::warn!(stream = %key, reason = %why, "rtsp publish refused");
                self.shared.counters.publish(PublishOutcome::Conflict);
                // 406 Not Acceptable, as ZLMediaKit answers a busy stream.
                self.rtsp.respond(request_id, Reply::status(406))?;
                return Ok(());
            }
        };
        tracing::info!(stream = %key, resumed = publisher.resumed(), "rtsp publishing");
        self.shared.counters.publish(if publisher.resumed() {
            PublishOutcome::Resumed
        } else {
            PublishOutcome::Accepted
        });
        self.info.set_stream(key, url.query.clone());
        let tracks = ingest.tracks();
        if !tracks.is_empty() {
            publisher.set_tracks(tracks);
        }
        let video = infos.iter().position(|i| {
            i.as_ref()
                .is_ok_and(|i| i.kind == rtsp_proto::signal::MediaKind::Video)
        });
        let keyframes = match (&self.shared.webrtc, video) {
            (Some(w), Some(_)) => Some(crate::webrtc::KeyframeSource::new(w, publisher.key())),
            _ => None,
        };
        self.recording = Some(Recording {
            keyframes,
            video: video.map(|i| (i, None)),
            last_pli: None,
            publisher,
            ingest,
            controls: infos
                .iter()
                .map(|i| i.as_ref().ok().and_then(|i| i.control.clone()))
                .collect(),
            out: Vec::new(),
            reorder: Vec::new(),
        });
        self.rtsp.respond(request_id, Reply::ok())?;
        Ok(())
    }

    pub(super) fn record(&mut self, request_id: RequestId) -> Result<(), End> {
        if self.recording.is_none() || self.setups.is_empty() {
            self.rtsp.respond(request_id, Reply::status(455))?;
            return Ok(());
        }
        self.rtsp.respond(request_id, Reply::ok())?;
        self.started = true;
        Ok(())
    }

    /// One RTP packet from the publisher, on the track of SETUP `setup`.
    pub(super) fn record_rtp(&mut self, setup: usize, data: &bytes::Bytes) {
        let (Some(r), Some(s)) = (self.recording.as_mut(), self.setups.get(setup)) else {
            return;
        };
        if let Some((index, ssrc @ None)) = &mut r.video {
            if *index == s.index && data.len() >= 12 {
                *ssrc = Some(u32::from_be_bytes([data[8], data[9], data[10], data[11]]));
            }
        }
        if s.udp.is_some() {
            let Ok(packet) = RtpPacket::parse(data) else {
                return;
            };
            if r.reorder.len() <= setup {
                r.reorder.resize_with(setup + 1, || None);
            }
            let buffer = r.reorder[setup]
                .get_or_insert_with(|| ReorderBuffer::new(REORDER_WINDOW, REORDER_WAIT));
            let now = crate::drive::now();
            buffer.push(packet, now);
            while let Some(p) = buffer.pop(now) {
                r.ingest.push_packet(s.index, &p, &mut r.out);
            }
        } else {
            r.ingest.push(s.index, data, &mut r.out);
        }
        deliver(&mut r.out, &mut r.publisher);
    }
}

impl Conn {
    /// A WebRTC viewer lost the picture: an RTCP PLI to the publisher (one
    /// a second at most). Cameras and GStreamer answer with a keyframe;
    /// publishers that ignore it cost one small datagram.
    pub(super) fn ask_keyframe(&mut self) {
        let Some(r) = self.recording.as_mut() else {
            return;
        };
        let Some((index, Some(ssrc))) = r.video else {
            return;
        };
        let now = crate::drive::now();
        if r.last_pli.is_some_and(|t| now < t + PLI_EVERY) {
            return;
        }
        r.last_pli = Some(now);
        let Some(setup) = self.setups.iter().find(|s| s.index == index) else {
            return;
        };
        let pli = rtsp_proto::media::rtcp::picture_loss_indication(FEEDBACK_SSRC, ssrc);
        super::play::send_rtcp(&mut self.out, setup, bytes::Bytes::copy_from_slice(&pli));
        tracing::debug!("rtsp publisher asked for a keyframe (PLI)");
    }
}

/// What RTP ingest produced, into the stream. Shared by RTSP publishers and
/// RTSP pull relays; their drivers see a refusal or a close through
/// `publisher.closed()`.
pub(crate) fn deliver(items: &mut Vec<RtpIngested>, publisher: &mut Publisher) {
    for item in items.drain(..) {
        match item {
            RtpIngested::Tracks(tracks) => publisher.set_tracks(tracks),
            RtpIngested::Refused(e) => {
                tracing::warn!(stream = %publisher.key(), error = %e, "rtp publisher refused");
                publisher.refuse();
            }
            RtpIngested::Frame(frame) => match publisher.push(frame) {
                Ok(()) | Err(PushError::Closed(_)) => {}
                Err(e) => tracing::debug!(error = %e, "frame not accepted"),
            },
        }
    }
}
