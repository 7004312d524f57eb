//! A WHEP viewer's media: the stream's frames written into str0m, which
//! packetizes, paces, retransmits (NACK) and reports (RTCP SR).
//!
//! H.264 goes as published (Annex B, the parameter sets before every
//! keyframe, built once per frame and stream in the frame's wire cache);
//! Opus and G.711 as they are; AAC as the stream's one Opus transcode
//! ([`super::transcode`]). A stream with B-frames is refused: WebRTC
//! has no reordering, and a browser shows such a stream broken.
//!
//! Fast start: when the peer connects, the frames already queued for it
//! (the cached GOP, from its keyframe on, and what arrived while ICE and
//! DTLS ran) go out at once with their timestamps squeezed into the last
//! few milliseconds before the newest one, so the browser decodes them in a
//! burst, paints the picture at once and plays live from there, instead of
//! showing the GOP's age as delay. Their audio is skipped.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use codec::avc::AvcDecoderConfigurationRecord;
use str0m::format::Codec as RtcCodec;
use str0m::media::{Frequency, KeyframeRequest, MediaAdded, MediaKind, MediaTime, Mid, Pt};
use str0m::Rtc;
use stream_core::{
    Codec, EndReason, Frame, StreamKey, Subscriber, SubscriberEvent, Track, TrackId,
};
use tokio::time::Instant;

use super::peer::PeerEnd;
use super::transcode::OpusFeed;
use super::WebRtc;
use crate::server::Shared;
use audio_transcode::OpusPacket;
use tokio::sync::broadcast;

/// Events taken at once when the peer connects (the cached GOP and what
/// queued during the handshake); the hub's queue bounds them anyway.
const MAX_BURST: usize = 4096;
/// Spacing of the burst's frames on the RTP clock.
const BURST_STEP_US: i64 = 1_000;
/// Transcoded audio older than the picture's start by more than this is
/// not sent.
const OLD_AUDIO_US: i64 = 0;
/// A viewer's keyframe requests reach the publisher at most this often.
const KEYFRAME_REQUEST_EVERY: Duration = Duration::from_secs(1);

/// The stream's video as this viewer sends it.
#[derive(Debug, Clone)]
struct VideoIn {
    track: TrackId,
    length_size: u8,
    /// SPS and PPS in Annex B, put before each keyframe.
    params: Bytes,
}

/// The stream's audio as this viewer sends it.
enum AudioIn {
    /// Opus or G.711, frames of `track` as they are.
    Direct { track: TrackId, codec: Codec },
    /// AAC, sent as the stream's Opus transcode.
    Transcoded { feed: OpusFeed },
}

/// What [`Egress::next`] found to do.
pub(super) enum EgressWork {
    /// Connected: the fast start.
    Start,
    /// An event of the subscription.
    Event(SubscriberEvent),
    /// A packet of the stream's Opus transcode.
    Opus(Arc<OpusPacket>),
    /// The transcode ended, or this viewer skipped packets of it.
    FeedGap { closed: bool },
}

/// A WHEP viewer's sending side.
pub(super) struct Egress {
    key: StreamKey,
    sub: Subscriber,
    shared: Arc<Shared>,
    webrtc: Arc<WebRtc>,
    video: Option<VideoIn>,
    audio: Option<AudioIn>,
    video_mid: Option<Mid>,
    audio_mid: Option<Mid>,
    video_pt: Option<Pt>,
    audio_pt: Option<Pt>,
    /// Stream time ↔ wall clock, for RTCP sender reports (lip sync).
    anchor: Option<(i64, Instant)>,
    /// Newest video time sent: the burst's squeezed times stay below it.
    last_video_us: Option<i64>,
    end: Option<PeerEnd>,
    last_keyframe_request: Option<Instant>,
    /// When the first video frame went out (logged once).
    first_video: bool,
    /// Connected, the fast start not made yet: str0m announces the media
    /// (`MediaAdded`) right after `Connected`, so it waits for the next turn.
    start_pending: bool,
}

impl Egress {
    pub(super) fn new(
        key: StreamKey,
        sub: Subscriber,
        shared: Arc<Shared>,
        webrtc: Arc<WebRtc>,
    ) -> Egress {
        Egress {
            key,
            sub,
            shared,
            webrtc,
            video: None,
            audio: None,
            video_mid: None,
            audio_mid: None,
            video_pt: None,
            audio_pt: None,
            anchor: None,
            last_video_us: None,
            end: None,
            last_keyframe_request: None,
            first_video: false,
            start_pending: false,
        }
    }

    pub(super) fn ended(&self) -> Option<PeerEnd> {
        self.end
    }

    pub(super) fn media_added(&mut self, m: MediaAdded) {
        super::first_mid(&m, MediaKind::Video, &mut self.video_mid);
        super::first_mid(&m, MediaKind::Audio, &mut self.audio_mid);
    }

    /// The next event of the subscription, once connected (before, media
    /// would be dropped by str0m: it waits in the hub's bounded queue).
    pub(super) async fn next(&mut self, connected: bool) -> Result<EgressWork, PeerEnd> {
        if !connected {
            return std::future::pending().await;
        }
        if self.start_pending {
            self.start_pending = false;
            return Ok(EgressWork::Start);
        }
        match &mut self.audio {
            Some(AudioIn::Transcoded { feed, .. }) => tokio::select! {
                ev = self.sub.recv() => ev.map(EgressWork::Event).map_err(end_of),
                p = feed.recv() => Ok(match p {
                    Ok(p) => EgressWork::Opus(p),
                    Err(broadcast::error::RecvError::Lagged(_)) => EgressWork::FeedGap { closed: false },
                    Err(broadcast::error::RecvError::Closed) => EgressWork::FeedGap { closed: true },
                }),
            },
            _ => self.sub.recv().await.map(EgressWork::Event).map_err(end_of),
        }
    }

    /// Connected: the fast start comes on the next turn.
    pub(super) fn connected(&mut self) {
        self.start_pending = true;
    }

    /// The payload types, then the frames queued so far in one burst.
    fn start(&mut self, rtc: &mut Rtc) {
        self.resolve_pts(rtc);
        let mut burst = Vec::new();
        for _ in 0..MAX_BURST {
            match self.sub.try_recv() {
                Some(Ok(SubscriberEvent::Tracks(t))) => self.set_tracks(&t, rtc),
                Some(Ok(SubscriberEvent::Frame(f))) => burst.push(f),
                Some(Err(e)) => {
                    self.end = Some(end_of(e));
                    return;
                }
                None => break,
            }
        }
        tracing::debug!(
            video_mid = ?self.video_mid,
            video_pt = ?self.video_pt,
            audio_pt = ?self.audio_pt,
            burst = burst.len(),
            "webrtc viewer connected"
        );
        let video: Vec<_> = burst
            .iter()
            .filter(|f| self.video.as_ref().is_some_and(|v| v.track == f.track))
            .collect();
        let Some(newest) = video.last().map(|f| f.pts_us) else {
            return;
        };
        let now = Instant::now();
        self.anchor = Some((newest, now));
        let n = video.len() as i64;
        for (i, f) in video.iter().enumerate() {
            let at = newest - (n - 1 - i as i64) * BURST_STEP_US;
            self.write_video(rtc, f, at);
            if self.end.is_some() {
                return; // refused (B-frames): once is enough
            }
        }
        tracing::debug!(frames = n, "webrtc fast start: cached frames sent");
    }

    /// One event of the subscription.
    pub(super) fn apply(&mut self, work: EgressWork, rtc: &mut Rtc) {
        let ev = match work {
            EgressWork::Start => return self.start(rtc),
            EgressWork::Opus(p) => return self.write_opus(rtc, &p),
            EgressWork::FeedGap { closed: true } => {
                self.audio = None;
                return;
            }
            EgressWork::FeedGap { closed: false } => return,
            EgressWork::Event(ev) => ev,
        };
        match ev {
            SubscriberEvent::Tracks(t) => self.set_tracks(&t, rtc),
            SubscriberEvent::Frame(f) => {
                if self.video.as_ref().is_some_and(|v| v.track == f.track) {
                    // Never behind what the burst sent.
                    let at = self.last_video_us.map_or(f.pts_us, |l| f.pts_us.max(l + 1));
                    self.write_video(rtc, &f, at);
                } else if let Some(AudioIn::Direct { track, codec }) = self.audio {
                    if track == f.track {
                        self.write_audio(rtc, &f, codec);
                    }
                }
            }
        }
    }

    /// A browser lost the picture: ask the publisher, at most once a second.
    pub(super) fn keyframe_request(&mut self, _r: KeyframeRequest, webrtc: &Arc<WebRtc>) {
        let now = Instant::now();
        if self
            .last_keyframe_request
            .is_some_and(|t| now < t + KEYFRAME_REQUEST_EVERY)
        {
            return;
        }
        self.last_keyframe_request = Some(now);
        webrtc.want_keyframe(&self.key);
    }

    fn set_tracks(&mut self, tracks: &[Track], rtc: &mut Rtc) {
        self.video = None;
        self.audio = None;
        for t in tracks {
            match t.codec {
                Codec::H264 => match video_in(t) {
                    Ok(v) => self.video = Some(v),
                    Err(e) => tracing::warn!(error = %e, "webrtc: unusable H.264 configuration"),
                },
                Codec::Opus | Codec::G711A | Codec::G711U => {
                    self.audio = Some(AudioIn::Direct {
                        track: t.id,
                        codec: t.codec,
                    });
                }
                Codec::Aac => {
                    let webrtc = self.webrtc.clone();
                    self.audio = webrtc
                        .opus_feed(&self.shared, &self.key, t)
                        .map(|feed| AudioIn::Transcoded { feed });
                }
                // Said once at the offer (`offer_carriage`).
                other => tracing::debug!(codec = %other, "webrtc: codec not sent"),
            }
        }
        self.resolve_pts(rtc);
    }

    /// The payload types the answer agreed for what the stream carries.
    fn resolve_pts(&mut self, rtc: &mut Rtc) {
        if let (Some(mid), Some(v)) = (self.video_mid, &self.video) {
            let profile = v.params.get(5).copied();
            self.video_pt = pick_pt(rtc, mid, RtcCodec::H264, |p| {
                let f = p.spec().format;
                u32::from(f.packetization_mode == Some(1)) * 2
                    + u32::from(
                        profile.is_some()
                            && f.profile_level_id.map(|id| (id >> 16) as u8) == profile,
                    )
            });
        }
        if let (Some(mid), Some(audio)) = (self.audio_mid, &self.audio) {
            let want = match audio {
                AudioIn::Direct {
                    codec: Codec::G711A,
                    ..
                } => RtcCodec::PCMA,
                AudioIn::Direct {
                    codec: Codec::G711U,
                    ..
                } => RtcCodec::PCMU,
                _ => RtcCodec::Opus,
            };
            self.audio_pt = pick_pt(rtc, mid, want, |_| 0);
        }
    }

    fn wallclock(&mut self, pts_us: i64) -> Instant {
        let (base, at) = *self.anchor.get_or_insert((pts_us, Instant::now()));
        let d = Duration::from_micros(pts_us.abs_diff(base));
        if pts_us >= base {
            at + d
        } else {
            at.checked_sub(d).unwrap_or(at)
        }
    }

    fn write_video(&mut self, rtc: &mut Rtc, f: &Frame, at_us: i64) {
        let (Some(mid), Some(pt), Some(v)) = (self.video_mid, self.video_pt, self.video.clone())
        else {
            return;
        };
        if f.pts_us != f.dts_us {
            tracing::warn!(stream = %self.key, "webrtc: the stream has B-frames, which WebRTC cannot show; viewer refused");
            self.end = Some(PeerEnd::Refused);
            return;
        }
        let data = f.wire.contiguous(|| annexb(f, &v));
        if data.is_empty() {
            return;
        }
        let wall = self.wallclock(at_us);
        let time = MediaTime::new(ticks(at_us, 90_000), Frequency::NINETY_KHZ);
        if let Some(w) = rtc.writer(mid) {
            if let Err(e) = w.write(pt, wall.into_std(), time, data) {
                tracing::debug!(error = %e, "webrtc: video frame not written");
            }
        }
        self.last_video_us = Some(at_us);
        if !self.first_video {
            self.first_video = true;
            tracing::debug!(keyframe = f.keyframe, "webrtc: first video frame sent");
        }
    }

    fn write_audio(&mut self, rtc: &mut Rtc, f: &Frame, codec: Codec) {
        let data = f.wire.contiguous(|| Arc::from(&f.payload[..]));
        self.write_sound(rtc, f.pts_us, codec == Codec::Opus, data);
    }

    fn write_opus(&mut self, rtc: &mut Rtc, p: &OpusPacket) {
        // A transcode that started with the cached GOP runs through old
        // audio first: nothing older than the picture's start is sent.
        if self
            .anchor
            .is_some_and(|(base, _)| p.pts_us < base - OLD_AUDIO_US)
        {
            return;
        }
        self.write_sound(rtc, p.pts_us, true, Arc::from(&p.data[..]));
    }

    /// One audio frame at `pts_us`: Opus on its 48 kHz clock, G.711 on 8 kHz.
    fn write_sound(&mut self, rtc: &mut Rtc, pts_us: i64, opus: bool, data: Arc<[u8]>) {
        let (Some(mid), Some(pt)) = (self.audio_mid, self.audio_pt) else {
            return;
        };
        // Audio waits for the picture: sound before the first frame would
        // anchor the wall clock to audio that the burst's video then lags.
        if self.last_video_us.is_none() && self.video.is_some() {
            return;
        }
        let (rate, freq) = match opus {
            true => (48_000, Frequency::FORTY_EIGHT_KHZ),
            false => (8_000, Frequency::EIGHT_KHZ),
        };
        let wall = self.wallclock(pts_us);
        let time = MediaTime::new(ticks(pts_us, rate), freq);
        if let Some(w) = rtc.writer(mid) {
            if let Err(e) = w.write(pt, wall.into_std(), time, data) {
                tracing::debug!(error = %e, "webrtc: audio frame not written");
            }
        }
    }
}

/// A stream time in µs on a `rate` clock (negative times clamp to 0).
fn ticks(us: i64, rate: u64) -> u64 {
    (us.max(0) as u64).saturating_mul(rate) / 1_000_000
}

fn end_of(e: EndReason) -> PeerEnd {
    match e {
        EndReason::Lagged => PeerEnd::Lagged,
        EndReason::Closed => PeerEnd::Kicked,
        EndReason::Shutdown => PeerEnd::Shutdown,
        EndReason::StreamEnded | EndReason::NotFound => PeerEnd::StreamEnded,
    }
}

fn pick_pt(
    rtc: &mut Rtc,
    mid: Mid,
    codec: RtcCodec,
    score: impl Fn(&str0m::format::PayloadParams) -> u32,
) -> Option<Pt> {
    let w = rtc.writer(mid)?;
    w.payload_params()
        .filter(|p| p.spec().codec == codec)
        .max_by_key(|p| score(p))
        .map(|p| p.pt())
}

fn video_in(t: &Track) -> Result<VideoIn, codec::CodecError> {
    let rec = AvcDecoderConfigurationRecord::decode(&t.config)?;
    let mut params = BytesMut::new();
    for nal in rec.sps.iter().chain(rec.pps.iter()) {
        params.put_slice(&[0, 0, 0, 1]);
        params.put_slice(nal);
    }
    Ok(VideoIn {
        track: t.id,
        length_size: rec.nal_length_size,
        params: params.freeze(),
    })
}

/// The frame in Annex B, with the parameter sets first on a keyframe.
fn annexb(f: &Frame, v: &VideoIn) -> Arc<[u8]> {
    let Ok(nalus) = codec::nalu::split_length_prefixed(&f.payload, v.length_size) else {
        return Arc::from(&[][..]);
    };
    let mut out = Vec::with_capacity(f.payload.len() + v.params.len() + 4 * nalus.len());
    if f.keyframe {
        out.extend_from_slice(&v.params);
    }
    for nal in nalus {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(&nal);
    }
    Arc::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_rescale_and_clamp() {
        assert_eq!(ticks(1_000_000, 90_000), 90_000);
        assert_eq!(ticks(40_000, 90_000), 3_600);
        assert_eq!(ticks(-5, 48_000), 0);
        assert_eq!(ticks(20_000, 48_000), 960);
    }

    #[test]
    fn keyframes_carry_the_parameter_sets() {
        let v = VideoIn {
            track: 0,
            length_size: 4,
            params: Bytes::from_static(&[0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2]),
        };
        let payload = Bytes::from_static(&[0, 0, 0, 2, 0x65, 9, 0, 0, 0, 1, 0x06]);
        let key = Frame::new(0, 0, 0, true, payload.clone());
        assert_eq!(
            &annexb(&key, &v)[..],
            &[0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 9, 0, 0, 0, 1, 0x06]
        );
        let delta = Frame::new(0, 0, 0, false, payload);
        assert_eq!(
            &annexb(&delta, &v)[..],
            &[0, 0, 0, 1, 0x65, 9, 0, 0, 0, 1, 0x06]
        );
        let broken = Frame::new(0, 0, 0, false, Bytes::from_static(&[0, 0, 0, 9, 1]));
        assert!(annexb(&broken, &v).is_empty());
    }
}
