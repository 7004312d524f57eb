//! stream-core tracks and frames → FLV tag bodies, for RTMP players and
//! HTTP-FLV.
//!
//! A body is returned as its few header bytes plus the frame's payload
//! `Bytes` untouched, and the wire forms built from it ([`tag`] for HTTP-FLV,
//! [`rtmp_message`] for RTMP) keep it that way: parts beside the payload,
//! written with one vectored write, never a copy of it.
//!
//! Codec choices, for the players operators have: H.264 and AAC in their
//! classic FLV form; H.265 and AV1 in enhanced RTMP (FourCC `hvc1`, `av01`),
//! the published standard that ffmpeg ≥ 6.1, OBS and hls.js/flv.js forks read;
//! MP3 and G.711 in their legacy sound formats. Opus has no legacy form and is
//! sent as enhanced audio.

use bytes::{BufMut, Bytes, BytesMut};
use flv_mux::{
    AacPacketType, AudioPacketType, AudioTag, AvcPacketType, CodecId, FourCc, FrameType,
    LegacyAudioHeader, Metadata, ScriptData, SoundFormat, TagType, VideoPacketType, VideoTag,
};
use stream_core::{Codec, Frame, Track, WireParts};

/// One FLV tag body: `header` then `payload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// Audio, video or script.
    pub kind: TagType,
    /// The tag-body header (1 to 8 bytes).
    pub header: Bytes,
    /// The frame payload or configuration record, shared, not copied.
    pub payload: Bytes,
}

impl Body {
    /// Header and payload as one contiguous buffer: a copy, for tests that
    /// compare bodies (egress sends the two apart, see [`tag`] and
    /// [`rtmp_message`]).
    #[cfg(test)]
    pub fn contiguous(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.header.len() + self.payload.len());
        out.put_slice(&self.header);
        out.put_slice(&self.payload);
        out.freeze()
    }
}

/// A complete FLV tag (11-byte tag header and the body header, then the
/// payload, then the 4-byte PreviousTagSize) as parts: the header and trailer
/// share one small buffer, the payload is `payload` itself, not a copy.
/// Empty if the body is too large for FLV (16 MiB - 1).
pub fn tag(kind: TagType, ts: u32, body_header: &[u8], payload: &Bytes) -> WireParts {
    let Some(data_size) = u32::try_from(body_header.len() + payload.len())
        .ok()
        .filter(|&n| n <= flv_mux::MAX_DATA_SIZE)
    else {
        tracing::debug!("tag larger than FLV allows; skipped");
        return WireParts::new();
    };
    let head_len = flv_mux::TAG_HEADER_LEN + body_header.len();
    let mut buf = BytesMut::with_capacity(head_len + 4);
    flv_mux::TagHeader {
        tag_type: kind,
        filter: false,
        data_size,
        timestamp: ts,
        stream_id: 0,
    }
    .encode(&mut buf);
    buf.put_slice(body_header);
    buf.put_u32(data_size + flv_mux::TAG_HEADER_LEN as u32);
    let buf = buf.freeze();
    WireParts::from_parts([
        buf.slice(..head_len),
        payload.clone(),
        buf.slice(head_len..),
    ])
}

/// A frame's complete FLV tag at `ts` (see [`tag`]); empty if the codec has
/// no FLV form.
pub fn frame_tag(track: &Track, frame: &Frame, ts: u32) -> WireParts {
    frame_body(track, frame)
        .map(|b| tag(b.kind, ts, &b.header, &b.payload))
        .unwrap_or_default()
}

/// A frame's RTMP media message on message stream `stream_id`, chunked at
/// `chunk_size` as parts (chunk headers beside slices of the payload, see
/// [`rtmp_proto::session::encode_media_parts`]); empty if the codec has no
/// FLV form.
pub fn rtmp_message(
    track: &Track,
    frame: &Frame,
    ts: u32,
    stream_id: u32,
    chunk_size: u32,
) -> WireParts {
    let kind = if track.codec.is_video() {
        rtmp_proto::session::MediaKind::Video
    } else {
        rtmp_proto::session::MediaKind::Audio
    };
    frame_body(track, frame)
        .map(|b| {
            WireParts::from_parts(rtmp_proto::session::encode_media_parts(
                kind, stream_id, ts, &b.header, &b.payload, chunk_size,
            ))
        })
        .unwrap_or_default()
}

/// The sequence header that must precede a track's frames, if its codec has one.
pub fn sequence_header(track: &Track) -> Option<Body> {
    let video = |codec: CodecId| VideoTag::Avc {
        frame_type: FrameType::Key,
        codec,
        packet_type: AvcPacketType::SequenceHeader,
        composition_time: 0,
        data: track.config.clone(),
    };
    let enhanced_video = |fourcc| VideoTag::Enhanced {
        frame_type: FrameType::Key,
        packet_type: VideoPacketType::SequenceStart,
        fourcc,
        composition_time: 0,
        data: track.config.clone(),
    };
    match track.codec {
        Codec::H264 => video_body(&video(CodecId::Avc)),
        Codec::H265 => video_body(&enhanced_video(FourCc::HVC1)),
        Codec::Av1 => video_body(&enhanced_video(FourCc::AV01)),
        Codec::Aac => audio_body(&AudioTag::aac_sequence_header(track.config.clone())),
        Codec::Opus if !track.config.is_empty() => audio_body(&AudioTag::Enhanced {
            packet_type: AudioPacketType::SequenceStart,
            fourcc: FourCc::OPUS,
            data: track.config.clone(),
        }),
        _ => None,
    }
}

/// A frame's tag body.
pub fn frame_body(track: &Track, frame: &Frame) -> Option<Body> {
    let frame_type = if frame.keyframe {
        FrameType::Key
    } else {
        FrameType::Inter
    };
    let cts = i32::try_from((frame.pts_us - frame.dts_us) / 1000).unwrap_or(0);
    let enhanced_video = |fourcc| VideoTag::Enhanced {
        frame_type,
        packet_type: VideoPacketType::CodedFrames,
        fourcc,
        composition_time: cts,
        data: frame.payload.clone(),
    };
    match track.codec {
        Codec::H264 => video_body(&VideoTag::avc_nalus(
            frame.keyframe,
            cts,
            frame.payload.clone(),
        )),
        Codec::H265 => video_body(&enhanced_video(FourCc::HVC1)),
        Codec::Av1 => video_body(&enhanced_video(FourCc::AV01)),
        Codec::Aac => audio_body(&AudioTag::Aac {
            header: LegacyAudioHeader::AAC,
            packet_type: AacPacketType::Raw,
            data: frame.payload.clone(),
        }),
        Codec::Mp3 | Codec::G711A | Codec::G711U => audio_body(&AudioTag::Legacy {
            header: legacy_header(track),
            data: frame.payload.clone(),
        }),
        Codec::Opus => audio_body(&AudioTag::Enhanced {
            packet_type: AudioPacketType::CodedFrames,
            fourcc: FourCc::OPUS,
            data: frame.payload.clone(),
        }),
    }
}

/// An `onMetaData` script body describing the tracks, as players expect
/// before the first tag.
pub fn metadata(tracks: &[Track]) -> Bytes {
    let mut meta = Metadata::default();
    for t in tracks {
        if t.codec.is_video() {
            meta.width = t.width.map(f64::from);
            meta.height = t.height.map(f64::from);
            meta.videocodecid = Some(match t.codec {
                Codec::H264 => 7.0,
                Codec::H265 => f64::from(u32::from_be_bytes(FourCc::HVC1.0)),
                _ => f64::from(u32::from_be_bytes(FourCc::AV01.0)),
            });
        } else {
            meta.audiosamplerate = t.sample_rate.map(f64::from);
            meta.stereo = t.channels.map(|c| c >= 2);
            meta.audiocodecid = Some(match t.codec {
                Codec::Aac => 10.0,
                Codec::Mp3 => 2.0,
                Codec::G711A => 7.0,
                Codec::G711U => 8.0,
                _ => f64::from(u32::from_be_bytes(FourCc::OPUS.0)),
            });
        }
    }
    meta.encoder = Some(concat!("strom ", env!("CARGO_PKG_VERSION")).to_string());
    ScriptData::on_metadata(&meta).encode()
}

fn legacy_header(track: &Track) -> LegacyAudioHeader {
    let format = match track.codec {
        Codec::G711A => SoundFormat::G711ALaw,
        Codec::G711U => SoundFormat::G711MuLaw,
        _ if track.sample_rate == Some(8_000) => SoundFormat::Mp3_8k,
        _ => SoundFormat::Mp3,
    };
    let rate = match track.sample_rate.unwrap_or(44_100) {
        r if r >= 44_000 => 3,
        r if r >= 22_000 => 2,
        r if r >= 11_000 => 1,
        _ => 0,
    };
    LegacyAudioHeader {
        format,
        rate,
        sample_16bit: true,
        stereo: track.channels.unwrap_or(1) >= 2,
    }
}

fn video_body(tag: &VideoTag) -> Option<Body> {
    let mut header = BytesMut::with_capacity(8);
    tag.encode_header(&mut header).ok()?;
    Some(Body {
        kind: TagType::Video,
        header: header.freeze(),
        payload: tag.data().clone(),
    })
}

fn audio_body(tag: &AudioTag) -> Option<Body> {
    let mut header = BytesMut::with_capacity(8);
    tag.encode_header(&mut header).ok()?;
    Some(Body {
        kind: TagType::Audio,
        header: header.freeze(),
        payload: tag.data().clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::flv_ingest::{FlvIngest, Ingested};

    fn ingest_tracks(ingest: &mut FlvIngest, body: &Bytes, video: bool) -> Vec<Track> {
        let r = if video {
            ingest.video(0, body)
        } else {
            ingest.audio(0, body)
        };
        match r.unwrap() {
            Ingested::Tracks(t) => t,
            other => panic!("tracks expected, got {other:?}"),
        }
    }

    /// Ingest → egress reproduces the tag bodies a publisher sent, byte for byte.
    #[test]
    fn avc_and_aac_round_trip_through_stream_core_form() {
        let mut ingest = FlvIngest::default();
        let avc_seq = VideoTag::avc_sequence_header(crate::media::flv_ingest::tests::avc_config())
            .to_bytes()
            .unwrap();
        let tracks = ingest_tracks(&mut ingest, &avc_seq, true);
        assert_eq!(sequence_header(&tracks[0]).unwrap().contiguous(), avc_seq);

        let asc = flv_mux::aac::AudioSpecificConfig::aac_lc(48_000, 2)
            .to_bytes()
            .unwrap();
        let aac_seq = AudioTag::aac_sequence_header(asc).to_bytes().unwrap();
        let tracks = ingest_tracks(&mut ingest, &aac_seq, false);
        assert_eq!(sequence_header(&tracks[1]).unwrap().contiguous(), aac_seq);

        let video = VideoTag::avc_nalus(false, -40, Bytes::from_static(&[0, 0, 0, 1, 0x41]))
            .to_bytes()
            .unwrap();
        let Ingested::Frame(f) = ingest.video(2000, &video).unwrap() else {
            panic!()
        };
        let body = frame_body(&tracks[0], &f).unwrap();
        assert_eq!(body.kind, TagType::Video);
        assert_eq!(
            body.payload.as_ptr(),
            f.payload.as_ptr(),
            "payload not copied"
        );
        assert_eq!(body.contiguous(), video);

        let audio = AudioTag::aac_raw(Bytes::from_static(&[1, 2, 3]))
            .to_bytes()
            .unwrap();
        let Ingested::Frame(f) = ingest.audio(2005, &audio).unwrap() else {
            panic!()
        };
        assert_eq!(frame_body(&tracks[1], &f).unwrap().contiguous(), audio);
    }

    #[test]
    fn hevc_goes_out_as_enhanced_rtmp_and_reads_back() {
        let mut track = Track::new(0, Codec::H265, 1000);
        track.config = Bytes::from_static(&[1, 2, 3]);
        let seq = sequence_header(&track).unwrap().contiguous();
        match VideoTag::decode(&seq).unwrap() {
            VideoTag::Enhanced {
                packet_type: VideoPacketType::SequenceStart,
                fourcc: FourCc::HVC1,
                data,
                ..
            } => assert_eq!(&data[..], &[1, 2, 3]),
            other => panic!("{other:?}"),
        }
        let f = Frame::new(
            0,
            1000,
            41_000,
            true,
            Bytes::from_static(&[0, 0, 0, 1, 0x26]),
        );
        let body = frame_body(&track, &f).unwrap().contiguous();
        let tag = VideoTag::decode(&body).unwrap();
        assert!(tag.is_keyframe());
        assert_eq!(tag.composition_time(), 40);
        assert_eq!(&tag.data()[..], &[0, 0, 0, 1, 0x26]);
    }

    #[test]
    fn metadata_describes_the_tracks() {
        let mut v = Track::new(0, Codec::H264, 1000);
        v.width = Some(1280);
        v.height = Some(720);
        let mut a = Track::new(1, Codec::Aac, 44_100);
        a.sample_rate = Some(44_100);
        a.channels = Some(2);
        let body = metadata(&[v, a]);
        let meta = ScriptData::decode(&body).unwrap().metadata().unwrap();
        assert_eq!((meta.width, meta.height), (Some(1280.0), Some(720.0)));
        assert_eq!(
            (meta.videocodecid, meta.audiocodecid),
            (Some(7.0), Some(10.0))
        );
        assert_eq!(meta.stereo, Some(true));
    }
}
