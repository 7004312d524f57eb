//! RTP from an RTSP publisher (ANNOUNCE + RECORD) → stream-core tracks and
//! frames.
//!
//! One `IngestTrack` per SDP media section: its depacketizer hands out
//! whole access units, which become frames in stream-core's canonical form
//! (4-byte length-prefixed NAL units; raw AAC). Parameter sets come from the
//! SDP (`sprop-parameter-sets`, `sprop-vps/sps/pps`) or, for cameras that
//! only send them in-band, from the first access units that carry them; the
//! track is announced once its configuration is known, and again if it
//! changes.
//!
//! Timestamps: each track's RTP clock is extended past its 32-bit wrap and
//! counted from its first packet, so tracks are aligned on their first
//! packets' arrival, as publishers start them together. RTP carries only the
//! presentation time; decode times for streams with B-frames are rebuilt by
//! `codec::dts::DtsRebuilder`.

use bytes::{BufMut, Bytes, BytesMut};
use codec::aac::AudioSpecificConfig;
use codec::avc::AvcDecoderConfigurationRecord;
use codec::dts::DtsRebuilder;
use codec::hevc::HevcDecoderConfigurationRecord;
use codec::nal::{ParameterSet, VideoCodec};
use rtsp_proto::media::{
    AacConfig, AacDepacketizer, H264Depacketizer, H265Depacketizer, MediaError, RtpPacket,
    TimestampExtender,
};
use rtsp_proto::signal::{MediaInfo, SdpCodec};
use stream_core::{Codec, Frame, Track, TrackId};

use super::flv_ingest::{video_track, IngestError};

/// What one RTP packet turned into.
#[derive(Debug)]
pub enum RtpIngested {
    /// The track set changed (a configuration became known or changed).
    Tracks(Vec<Track>),
    /// A complete frame.
    Frame(Frame),
    /// In-band parameter sets over the limits: not stored; the publisher
    /// must be refused (closed).
    Refused(IngestError),
}

/// Why an announced stream cannot be ingested.
#[derive(Debug, thiserror::Error)]
pub enum RtpIngestError {
    /// No media section strom can carry.
    #[error("no supported track in the SDP (H.264, H.265, AAC, G.711): {0}")]
    NothingSupported(String),
    /// A media section's codec configuration is over the limits.
    #[error("media {index}: {error}")]
    OverLimit {
        /// The SDP media section.
        index: usize,
        /// What is over which limit.
        error: IngestError,
    },
}

/// Why a media section is not ingested.
#[derive(Debug)]
enum TrackError {
    /// Not something strom carries: skip the section.
    Skip(String),
    /// Over a limit: refuse the whole announcement.
    Refuse(IngestError),
}

impl From<String> for TrackError {
    fn from(why: String) -> TrackError {
        TrackError::Skip(why)
    }
}

/// The ingest state of one publisher.
#[derive(Debug)]
pub struct RtpIngest {
    tracks: Vec<Option<IngestTrack>>,
}

#[derive(Debug)]
struct IngestTrack {
    id: TrackId,
    depack: Depack,
    clock_rate: u32,
    ts: TimestampExtender,
    base: Option<i64>,
    /// Parameter sets, in decoding order (VPS, SPS, PPS).
    params: ParamSets,
    track: Option<Track>,
    dts: DtsRebuilder<Frame>,
}

#[derive(Debug)]
enum Depack {
    H264(H264Depacketizer),
    H265(H265Depacketizer),
    Aac(AacDepacketizer),
    /// One packet, one frame (G.711).
    Raw,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct ParamSets {
    vps: Option<Bytes>,
    sps: Option<Bytes>,
    pps: Option<Bytes>,
}

impl RtpIngest {
    /// Ingest state for the SDP's media sections, in their order (the index
    /// used by [`RtpIngest::push`]). Unsupported sections are skipped and
    /// named in the returned list.
    pub fn from_sdp(
        infos: &[Result<MediaInfo, rtsp_proto::signal::ParseError>],
    ) -> Result<(RtpIngest, Vec<String>), RtpIngestError> {
        let mut tracks = Vec::new();
        let mut skipped = Vec::new();
        let mut next_id: TrackId = 0;
        for (i, info) in infos.iter().enumerate() {
            let t = match info {
                Ok(info) => IngestTrack::new(next_id, info),
                Err(e) => Err(TrackError::Skip(e.to_string())),
            };
            match t {
                Ok(t) => {
                    next_id += 1;
                    tracks.push(Some(t));
                }
                Err(TrackError::Refuse(error)) => {
                    return Err(RtpIngestError::OverLimit { index: i, error })
                }
                Err(TrackError::Skip(why)) => {
                    skipped.push(format!("media {i}: {why}"));
                    tracks.push(None);
                }
            }
        }
        if tracks.iter().all(Option::is_none) {
            return Err(RtpIngestError::NothingSupported(skipped.join("; ")));
        }
        Ok((RtpIngest { tracks }, skipped))
    }

    /// The tracks whose configuration is known.
    pub fn tracks(&self) -> Vec<Track> {
        self.tracks
            .iter()
            .flatten()
            .filter_map(|t| t.track.clone())
            .collect()
    }

    /// True when media section `index` is ingested.
    pub fn has(&self, index: usize) -> bool {
        matches!(self.tracks.get(index), Some(Some(_)))
    }

    /// One RTP packet of media section `index`. Malformed packets and lost
    /// fragments cost the frame they belong to, never the stream.
    pub fn push(&mut self, index: usize, data: &Bytes, out: &mut Vec<RtpIngested>) {
        match RtpPacket::parse(data) {
            Ok(p) => self.push_packet(index, &p, out),
            Err(e) => tracing::debug!(error = %e, "rtp packet dropped"),
        }
    }

    /// [`RtpIngest::push`] for a parsed packet (after a reorder buffer).
    pub fn push_packet(&mut self, index: usize, packet: &RtpPacket, out: &mut Vec<RtpIngested>) {
        let Some(Some(t)) = self.tracks.get_mut(index) else {
            return;
        };
        let before = t.track.clone();
        t.push(packet, out);
        if t.track != before {
            out.push(RtpIngested::Tracks(self.tracks()));
        }
    }
}

impl RtpIngest {
    /// A whole access unit of track `index`, depacketized elsewhere (WebRTC:
    /// str0m reassembles, reorders and retransmits): `nalus` without start
    /// codes, `rtp` its RTP timestamp.
    pub fn push_access_unit(
        &mut self,
        index: usize,
        rtp: u32,
        keyframe: bool,
        nalus: Vec<Bytes>,
        out: &mut Vec<RtpIngested>,
    ) {
        let Some(Some(t)) = self.tracks.get_mut(index) else {
            return;
        };
        let before = t.track.clone();
        t.video_au(rtp, keyframe, nalus, out);
        if t.track != before {
            out.push(RtpIngested::Tracks(self.tracks()));
        }
    }

    /// One audio frame of track `index` (Opus, G.711), `rtp` its timestamp.
    pub fn push_audio_frame(
        &mut self,
        index: usize,
        rtp: u32,
        data: Bytes,
        out: &mut Vec<RtpIngested>,
    ) {
        let Some(Some(t)) = self.tracks.get_mut(index) else {
            return;
        };
        if data.is_empty() || !matches!(t.depack, Depack::Raw) {
            return;
        }
        let us = t.micros(rtp);
        out.push(RtpIngested::Frame(Frame::new(t.id, us, us, true, data)));
    }
}

impl IngestTrack {
    fn new(id: TrackId, info: &MediaInfo) -> Result<IngestTrack, TrackError> {
        let (depack, params, track) = match &info.codec {
            SdpCodec::H264 { sps, pps, .. } => {
                let params = ParamSets {
                    vps: None,
                    sps: sps.first().cloned(),
                    pps: pps.first().cloned(),
                };
                (Depack::H264(H264Depacketizer::new()), params, None)
            }
            SdpCodec::H265 { vps, sps, pps } => {
                let params = ParamSets {
                    vps: vps.first().cloned(),
                    sps: sps.first().cloned(),
                    pps: pps.first().cloned(),
                };
                (Depack::H265(H265Depacketizer::new()), params, None)
            }
            SdpCodec::Aac {
                config,
                size_length,
                index_length,
                index_delta_length,
            } => {
                let asc = AudioSpecificConfig::parse(config).map_err(|e| match e.kind() {
                    codec::ErrorKind::LimitExceeded => TrackError::Refuse(e.into()),
                    _ => TrackError::Skip(format!("AAC config: {e}")),
                })?;
                let depack = AacDepacketizer::new(AacConfig {
                    size_length: *size_length,
                    index_length: *index_length,
                    index_delta_length: *index_delta_length,
                    frame_duration: 1024,
                })
                .map_err(|e| format!("AAC: {e}"))?;
                let mut track = Track::new(id, Codec::Aac, info.clock_rate);
                track.config = config.clone();
                track.sample_rate = Some(asc.sample_rate);
                track.channels = Some(asc.channel_configuration);
                (Depack::Aac(depack), ParamSets::default(), Some(track))
            }
            SdpCodec::Pcma | SdpCodec::Pcmu => {
                let codec = if info.codec == SdpCodec::Pcma {
                    Codec::G711A
                } else {
                    Codec::G711U
                };
                let mut track = Track::new(id, codec, info.clock_rate.max(1));
                track.sample_rate = Some(info.clock_rate);
                track.channels = Some(info.channels.clamp(1, 8) as u8);
                (Depack::Raw, ParamSets::default(), Some(track))
            }
            SdpCodec::Other(name) if name.eq_ignore_ascii_case("opus") => {
                // RFC 7587: always `opus/48000/2` on the wire, whatever is
                // coded; a packet is a whole frame.
                let mut track = Track::new(id, Codec::Opus, 48_000);
                track.sample_rate = Some(48_000);
                track.channels = Some(2);
                (Depack::Raw, ParamSets::default(), Some(track))
            }
            SdpCodec::Other(name) => return Err(format!("codec {name} not supported").into()),
            other => return Err(format!("codec {other:?} not supported").into()),
        };
        if info.clock_rate == 0 {
            return Err(TrackError::Skip("clock rate 0".into()));
        }
        let mut t = IngestTrack {
            id,
            depack,
            clock_rate: info.clock_rate,
            ts: TimestampExtender::new(),
            base: None,
            params,
            track,
            dts: DtsRebuilder::new(),
        };
        t.refresh_video_track().map_err(TrackError::Refuse)?;
        Ok(t)
    }

    fn push(&mut self, packet: &RtpPacket, out: &mut Vec<RtpIngested>) {
        let mut units = Vec::new();
        let mut audio = Vec::new();
        match &mut self.depack {
            Depack::H264(d) => {
                log_drop(d.push(packet));
                units.extend(std::iter::from_fn(|| d.pop()));
            }
            Depack::H265(d) => {
                log_drop(d.push(packet));
                units.extend(std::iter::from_fn(|| d.pop()));
            }
            Depack::Aac(d) => {
                log_drop(d.push(packet));
                audio.extend(std::iter::from_fn(|| d.pop()).map(|f| (f.timestamp, f.data)));
            }
            Depack::Raw if !packet.payload.is_empty() => {
                audio.push((packet.timestamp, packet.payload.clone()));
            }
            Depack::Raw => {}
        }
        for au in units {
            self.video_au(au.timestamp, au.keyframe, au.nalus, out);
        }
        for (rtp, data) in audio {
            let us = self.micros(rtp);
            out.push(RtpIngested::Frame(Frame::new(self.id, us, us, true, data)));
        }
    }

    fn micros(&mut self, rtp: u32) -> i64 {
        let ext = self.ts.extend(rtp);
        let base = *self.base.get_or_insert(ext);
        rtsp_proto::media::rescale(ext - base, self.clock_rate, 1_000_000)
    }

    fn video_au(
        &mut self,
        rtp: u32,
        keyframe: bool,
        nalus: Vec<Bytes>,
        out: &mut Vec<RtpIngested>,
    ) {
        let codec = if matches!(self.depack, Depack::H265(_)) {
            VideoCodec::H265
        } else {
            VideoCodec::H264
        };
        let mut payload = BytesMut::with_capacity(nalus.iter().map(|n| n.len() + 4).sum());
        let mut params = self.params.clone();
        for nal in &nalus {
            // Access unit delimiters: every output format writes its own.
            if nal.is_empty() || codec.is_aud(nal) {
                continue;
            }
            match codec.parameter_set(nal) {
                Some(ParameterSet::Sps) => params.sps = Some(nal.clone()),
                Some(ParameterSet::Pps) => params.pps = Some(nal.clone()),
                Some(ParameterSet::Vps) => params.vps = Some(nal.clone()),
                None => {}
            }
            payload.put_u32(nal.len() as u32);
            payload.put_slice(nal);
        }
        if params != self.params {
            let old = std::mem::replace(&mut self.params, params);
            if let Err(e) = self.refresh_video_track() {
                self.params = old; // never stored
                out.push(RtpIngested::Refused(e));
                return;
            }
        }
        let pts = self.micros(rtp);
        if self.track.is_none() || payload.is_empty() {
            return; // no configuration yet: a decoder could not use it
        }
        let frame = Frame::new(self.id, pts, pts, keyframe, payload.freeze());
        for (mut frame, dts) in self.dts.push(pts, frame) {
            frame.dts_us = dts;
            out.push(RtpIngested::Frame(frame));
        }
    }

    /// Rebuilds the video track from the parameter sets, when complete.
    /// Parameter sets over the limits are an error (the caller refuses the
    /// publisher); other unusable ones are logged and leave the track as it is.
    fn refresh_video_track(&mut self) -> Result<(), IngestError> {
        let p = &self.params;
        let total: usize = [&p.vps, &p.sps, &p.pps]
            .into_iter()
            .flatten()
            .map(Bytes::len)
            .sum();
        if total > flv_mux::MAX_CODEC_CONFIG_LEN {
            return Err(IngestError::OverLimit(flv_mux::FlvError::TooLarge {
                what: "parameter sets",
                size: total as u64,
                limit: flv_mux::MAX_CODEC_CONFIG_LEN as u64,
            }));
        }
        let config = match (&self.depack, &p.vps, &p.sps, &p.pps) {
            (Depack::H264(_), _, Some(sps), Some(pps)) => {
                AvcDecoderConfigurationRecord::from_parameter_sets(
                    vec![sps.clone()],
                    vec![pps.clone()],
                )
                .and_then(|r| r.to_bytes())
                .map(|c| (Codec::H264, c))
            }
            (Depack::H265(_), Some(vps), Some(sps), Some(pps)) => {
                HevcDecoderConfigurationRecord::from_parameter_sets(
                    vps.clone(),
                    sps.clone(),
                    pps.clone(),
                )
                .and_then(|r| r.to_bytes())
                .map(|c| (Codec::H265, c))
            }
            _ => return Ok(()),
        };
        match config.map_err(IngestError::from) {
            Ok((codec, config)) => match video_track(self.id, codec, config) {
                Ok(track) => self.track = Some(track),
                Err(e @ IngestError::OverLimit(_)) => return Err(e),
                Err(e) => tracing::warn!(error = %e, "rtsp video configuration refused"),
            },
            Err(e @ IngestError::OverLimit(_)) => return Err(e),
            Err(e) => tracing::warn!(error = %e, "rtsp parameter sets unusable"),
        }
        Ok(())
    }
}

fn log_drop(r: Result<(), MediaError>) {
    if let Err(e) = r {
        tracing::debug!(error = %e, "rtp: access unit dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h264_info(sps: Vec<Bytes>, pps: Vec<Bytes>) -> MediaInfo {
        MediaInfo {
            kind: rtsp_proto::signal::MediaKind::Video,
            payload_type: 96,
            codec: SdpCodec::H264 {
                sps,
                pps,
                packetization_mode: 1,
            },
            clock_rate: 90_000,
            channels: 0,
            control: None,
            bandwidth_kbps: None,
        }
    }

    #[test]
    fn sdp_parameter_sets_over_64_kib_refuse_the_announcement() {
        let rec =
            AvcDecoderConfigurationRecord::decode(&crate::media::flv_ingest::tests::avc_config())
                .unwrap();
        let mut huge = rec.sps[0].to_vec();
        huge.resize(flv_mux::MAX_CODEC_CONFIG_LEN, 0x11);
        let info = h264_info(vec![Bytes::from(huge)], rec.pps.clone());
        let e = RtpIngest::from_sdp(&[Ok(info)]).unwrap_err();
        assert!(
            matches!(e, RtpIngestError::OverLimit { index: 0, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("over the limits"), "{e}");
    }

    #[test]
    fn in_band_parameter_sets_over_64_kib_are_refused_and_not_stored() {
        use rtsp_proto::media::H264Packetizer;
        let rec =
            AvcDecoderConfigurationRecord::decode(&crate::media::flv_ingest::tests::avc_config())
                .unwrap();
        let (mut ingest, _) =
            RtpIngest::from_sdp(&[Ok(h264_info(rec.sps.clone(), rec.pps.clone()))]).unwrap();
        let before = ingest.tracks();
        let mut huge = rec.sps[0].to_vec();
        huge.resize(70_000, 0x11);
        let au = [Bytes::from(huge), Bytes::from(vec![0x65; 3000])];
        let mut packetizer = H264Packetizer::new(1200, 96, 1, 0);
        let mut out = Vec::new();
        for p in packetizer.packetize(&au, 3600).unwrap() {
            ingest.push(0, &p.to_bytes(), &mut out);
        }
        assert!(
            matches!(
                out.as_slice(),
                [RtpIngested::Refused(IngestError::OverLimit(_))]
            ),
            "{out:?}"
        );
        assert_eq!(ingest.tracks(), before, "the old configuration stays");
    }

    #[test]
    fn h264_from_sdp_parameter_sets_and_fu_a() {
        use rtsp_proto::media::H264Packetizer;
        let avc = crate::media::flv_ingest::tests::avc_config();
        let rec = AvcDecoderConfigurationRecord::decode(&avc).unwrap();
        let info = MediaInfo {
            kind: rtsp_proto::signal::MediaKind::Video,
            payload_type: 96,
            codec: SdpCodec::H264 {
                sps: rec.sps.clone(),
                pps: rec.pps.clone(),
                packetization_mode: 1,
            },
            clock_rate: 90_000,
            channels: 0,
            control: Some("trackID=0".into()),
            bandwidth_kbps: None,
        };
        let (mut ingest, skipped) = RtpIngest::from_sdp(&[Ok(info)]).unwrap();
        assert!(skipped.is_empty());
        assert_eq!(ingest.tracks()[0].width, Some(320));
        let mut packetizer = H264Packetizer::new(1200, 96, 1, 0);
        let idr = Bytes::from(vec![0x65; 5000]);
        let mut out = Vec::new();
        for (i, ts) in [1000u32, 4600].iter().enumerate() {
            let nal = if i == 0 {
                idr.clone()
            } else {
                Bytes::from(vec![0x41; 300])
            };
            for p in packetizer.packetize(&[nal], *ts).unwrap() {
                ingest.push(0, &p.to_bytes(), &mut out);
            }
        }
        let frames: Vec<&Frame> = out
            .iter()
            .filter_map(|o| match o {
                RtpIngested::Frame(f) => Some(f),
                _ => None,
            })
            .collect();
        assert!(!frames.is_empty());
        assert!(frames[0].keyframe);
        assert_eq!(frames[0].payload.len(), 5004);
        assert_eq!(frames[0].pts_us, 0);
    }

    #[test]
    fn in_band_parameter_sets_announce_the_track_for_cameras_without_sprop() {
        use rtsp_proto::media::H264Packetizer;
        let avc = crate::media::flv_ingest::tests::avc_config();
        let rec = AvcDecoderConfigurationRecord::decode(&avc).unwrap();
        let info = MediaInfo {
            kind: rtsp_proto::signal::MediaKind::Video,
            payload_type: 96,
            codec: SdpCodec::H264 {
                sps: Vec::new(),
                pps: Vec::new(),
                packetization_mode: 1,
            },
            clock_rate: 90_000,
            channels: 0,
            control: None,
            bandwidth_kbps: None,
        };
        let (mut ingest, _) = RtpIngest::from_sdp(&[Ok(info)]).unwrap();
        assert!(ingest.tracks().is_empty(), "no configuration yet");
        let mut packetizer = H264Packetizer::new(1200, 96, 1, 0);
        let mut out = Vec::new();
        // A P-frame before any parameter set: nothing a decoder could use.
        for p in packetizer
            .packetize(&[Bytes::from(vec![0x41; 100])], 0)
            .unwrap()
        {
            ingest.push(0, &p.to_bytes(), &mut out);
        }
        let au = [
            rec.sps[0].clone(),
            rec.pps[0].clone(),
            Bytes::from(vec![0x65; 3000]),
        ];
        for p in packetizer.packetize(&au, 3600).unwrap() {
            ingest.push(0, &p.to_bytes(), &mut out);
        }
        let tracks = out.iter().find_map(|o| match o {
            RtpIngested::Tracks(t) => Some(t.clone()),
            _ => None,
        });
        let tracks = tracks.expect("the track is announced from the in-band SPS/PPS");
        assert_eq!((tracks[0].width, tracks[0].height), (Some(320), Some(240)));
        let frames: Vec<&Frame> = out
            .iter()
            .filter_map(|o| match o {
                RtpIngested::Frame(f) => Some(f),
                _ => None,
            })
            .collect();
        assert_eq!(
            frames.len(),
            1,
            "only the keyframe, after its configuration"
        );
        assert!(frames[0].keyframe);
    }
}
