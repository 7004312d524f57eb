//! A WHIP publisher's media into the hub: str0m reassembles, reorders and
//! retransmits; its access units and audio frames take the same path as
//! RTSP's ([`crate::media::rtp_ingest`]): parameter sets tracked into the
//! track's configuration, timestamps extended and rebased.
//!
//! The publisher's Opus becomes the stream's AAC (one transcode per
//! publisher, on a thread of its own), which RTMP, FLV, HLS and RTSP
//! players can all play; WebRTC viewers get it back as Opus.
//!
//! Browsers send a keyframe only when asked, so the publisher is asked every
//! `webrtc.keyframe_interval_ms` (a GOP for new players and HLS segments)
//! and whenever a WebRTC viewer lost the picture (rate-limited).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtsp_proto::signal::{MediaInfo, MediaKind as SdpKind, SdpCodec};
use str0m::format::Codec as RtcCodec;
use str0m::media::{KeyframeRequestKind, MediaAdded, MediaData, MediaKind, Mid};
use str0m::Rtc;
use stream_core::{CloseReason, Publisher};
use tokio::time::Instant;

use super::peer::PeerEnd;
use super::transcode::OpusToAacThread;
use super::{KeyframeSource, WebRtc};
use crate::media::rtp_ingest::{RtpIngest, RtpIngested};
use stream_core::Codec;

/// A WHIP publisher's receiving side.
pub(super) struct Ingest {
    publisher: Publisher,
    ingest: Option<RtpIngest>,
    video_mid: Option<Mid>,
    audio_mid: Option<Mid>,
    keyframes: KeyframeSource,
    interval: Duration,
    next_keyframe: Option<Instant>,
    end: Option<PeerEnd>,
    out: Vec<RtpIngested>,
    /// The hub has the tracks.
    announced: bool,
    /// Opus → AAC (`None`: the Opus goes as it is, if it could not start).
    aac: Option<OpusToAacThread>,
    /// The Opus track's id, once known.
    opus_track: Option<stream_core::TrackId>,
}

impl Ingest {
    pub(super) fn new(publisher: Publisher, webrtc: &Arc<WebRtc>) -> Ingest {
        let keyframes = KeyframeSource::new(webrtc, publisher.key());
        Ingest {
            publisher,
            ingest: None,
            video_mid: None,
            audio_mid: None,
            keyframes,
            interval: Duration::from_millis(webrtc.config.keyframe_interval_ms),
            next_keyframe: None,
            end: None,
            out: Vec::new(),
            announced: false,
            aac: None,
            opus_track: None,
        }
    }

    pub(super) fn ended(&self) -> Option<PeerEnd> {
        self.end
    }

    pub(super) fn media_added(&mut self, m: MediaAdded) {
        super::first_mid(&m, MediaKind::Video, &mut self.video_mid);
        super::first_mid(&m, MediaKind::Audio, &mut self.audio_mid);
    }

    /// Connected: a first keyframe is asked on the next turn (str0m
    /// announces the media right after `Connected`).
    pub(super) fn connected(&mut self) {
        self.next_keyframe = Some(Instant::now());
    }

    /// The tracks the peer negotiated, once known.
    fn ensure_ingest(&mut self) {
        if self.ingest.is_some() || self.end.is_some() {
            return;
        }
        let info = |kind, codec, clock_rate, channels| {
            Ok(MediaInfo {
                kind,
                payload_type: 0,
                codec,
                clock_rate,
                channels,
                control: None,
                bandwidth_kbps: None,
            })
        };
        // Track 0 video, 1 audio: indexes into `RtpIngest`.
        let infos = [
            info(
                SdpKind::Video,
                SdpCodec::H264 {
                    sps: Vec::new(),
                    pps: Vec::new(),
                    packetization_mode: 1,
                },
                90_000,
                1,
            ),
            info(SdpKind::Audio, SdpCodec::Other("opus".into()), 48_000, 2),
        ];
        let used = [self.video_mid.is_some(), self.audio_mid.is_some()];
        let infos: Vec<_> = infos
            .into_iter()
            .zip(used)
            .map(|(i, used)| {
                if used {
                    i
                } else {
                    Err(rtsp_proto::signal::ParseError::Unsupported {
                        what: "media",
                        detail: "not offered".into(),
                    })
                }
            })
            .collect();
        match RtpIngest::from_sdp(&infos) {
            Ok((ingest, _)) => {
                if self.audio_mid.is_some() {
                    match OpusToAacThread::start() {
                        Ok(t) => self.aac = Some(t),
                        Err(e) => {
                            tracing::warn!(error = %e, "whip: Opus stays Opus (no AAC for RTMP, HLS, RTSP)")
                        }
                    }
                }
                self.announce(ingest.tracks());
                self.ingest = Some(ingest);
            }
            Err(e) => {
                tracing::warn!(error = %e, "whip publish refused");
                self.end = Some(PeerEnd::Refused);
            }
        }
    }

    /// One frame from str0m.
    pub(super) fn media(&mut self, d: MediaData) {
        self.ensure_ingest();
        let Some(ingest) = &mut self.ingest else {
            return;
        };
        let rtp = d.time.numer() as u32;
        match d.params.spec().codec {
            RtcCodec::H264 if Some(d.mid) == self.video_mid => {
                let nalus = codec::nalu::split_annexb(&Bytes::from(d.data.to_vec()));
                let keyframe = d.is_keyframe();
                ingest.push_access_unit(0, rtp, keyframe, nalus, &mut self.out);
            }
            RtcCodec::Opus if Some(d.mid) == self.audio_mid => {
                ingest.push_audio_frame(1, rtp, Bytes::from(d.data.to_vec()), &mut self.out);
            }
            other => {
                tracing::debug!(codec = ?other, "whip: media of a codec strom does not ingest");
            }
        }
        for item in std::mem::take(&mut self.out) {
            match item {
                RtpIngested::Tracks(t) => self.announce(t),
                // Nothing before the tracks: players need the whole set.
                RtpIngested::Frame(_) if !self.announced => {}
                RtpIngested::Frame(f) if Some(f.track) == self.opus_track => {
                    if let Some(aac) = &self.aac {
                        let _ = aac.push(f.payload, f.pts_us);
                    }
                }
                RtpIngested::Frame(f) => {
                    if let Err(e) = self.publisher.push(f) {
                        tracing::debug!(error = %e, "whip: frame not taken");
                    }
                }
                RtpIngested::Refused(e) => {
                    tracing::warn!(error = %e, "whip publisher refused");
                    self.end = Some(PeerEnd::Refused);
                }
            }
        }
        self.push_aac();
    }

    /// The AAC the transcode thread made since the last call.
    fn push_aac(&mut self) {
        let (Some(aac), Some(track)) = (&self.aac, self.opus_track) else {
            return;
        };
        while let Some(f) = aac.pop() {
            let frame = stream_core::Frame::new(track, f.pts_us, f.pts_us, true, f.data);
            if let Err(e) = self.publisher.push(frame) {
                tracing::debug!(error = %e, "whip: AAC frame not taken");
            }
        }
    }

    /// Tells the hub the tracks once every negotiated medium has one (the
    /// video's configuration comes with the first keyframe's parameter
    /// sets): a stream whose tracks grow later would end its players.
    fn announce(&mut self, mut tracks: Vec<stream_core::Track>) {
        if let Some(aac) = &self.aac {
            for t in tracks.iter_mut().filter(|t| t.codec == Codec::Opus) {
                self.opus_track = Some(t.id);
                let mut track = stream_core::Track::new(t.id, Codec::Aac, 48_000);
                track.config = aac.config.clone();
                track.sample_rate = Some(48_000);
                track.channels = Some(2);
                *t = track;
            }
        }
        let wanted = usize::from(self.video_mid.is_some()) + usize::from(self.audio_mid.is_some());
        if tracks.len() >= wanted && !tracks.is_empty() {
            self.publisher.set_tracks(tracks);
            self.announced = true;
        }
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        self.next_keyframe
    }

    /// Waits for the publisher's end (closed by the hub or the API) or a
    /// keyframe to ask for (a viewer's request, or the interval).
    pub(super) async fn next(&mut self) -> Result<(), PeerEnd> {
        let interval = async {
            match self.next_keyframe {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            reason = self.publisher.closed() => Err(match reason {
                CloseReason::Shutdown => PeerEnd::Shutdown,
                CloseReason::Refused | CloseReason::TrackChanges => PeerEnd::Refused,
                other => {
                    tracing::info!(reason = other.name(), "whip publisher closed by the server");
                    PeerEnd::Kicked
                }
            }),
            () = self.keyframes.notify.notified() => Ok(()),
            () = interval => Ok(()),
        }
    }

    /// Asks the publisher for a keyframe (PLI) and schedules the next one.
    pub(super) fn ask_keyframe(&mut self, rtc: &mut Rtc) {
        self.next_keyframe = Some(Instant::now() + self.interval);
        self.ensure_ingest();
        let Some(mid) = self.video_mid else { return };
        self.keyframes
            .webrtc
            .counters
            .keyframe_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(mut w) = rtc.writer(mid) {
            if w.is_request_keyframe_possible(KeyframeRequestKind::Pli) {
                if let Err(e) = w.request_keyframe(None, KeyframeRequestKind::Pli) {
                    tracing::debug!(error = %e, "whip: keyframe request not sent");
                }
            }
        }
    }
}
