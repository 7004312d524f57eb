//! FLV tag bodies (what RTMP audio and video messages carry) → stream-core
//! tracks and frames.
//!
//! The payload of a coded frame is passed through as a slice of the message:
//! FLV already carries H.264/H.265 as 4-byte length-prefixed NAL units and AAC
//! as raw access units, which is stream-core's canonical form.

use bytes::Bytes;
use codec::aac::AudioSpecificConfig;
use codec::avc::{AvcDecoderConfigurationRecord, AvcSps};
use codec::hevc::{HevcDecoderConfigurationRecord, HevcSps};
use flv_mux::{
    AacPacketType, AudioTag, AvcPacketType, CodecId, FlvError, FourCc, SoundFormat,
    VideoPacketType, VideoTag,
};
use stream_core::{Codec, Frame, Track, TrackId};

use super::clock::MsClock;

/// Track id of the video track of a stream ingested from FLV/RTMP.
pub const VIDEO_TRACK: TrackId = 0;
/// Track id of the audio track.
pub const AUDIO_TRACK: TrackId = 1;

/// What one tag body turned into.
#[derive(Debug)]
pub enum Ingested {
    /// The track set changed (a new or different sequence header): announce it.
    Tracks(Vec<Track>),
    /// A coded frame.
    Frame(Frame),
    /// Nothing to forward (end of sequence, empty tag, unsupported codec).
    Skip,
}

/// Why a tag body was refused. The session ends: the publisher is sending
/// something we cannot make sense of.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The tag body or a configuration record inside it is malformed.
    #[error("malformed media: {0}")]
    Malformed(FlvError),
    /// A codec configuration over the limits of the codec crates
    /// ([`flv_mux::MAX_CODEC_CONFIG_LEN`], parameter set counts): never stored.
    #[error("codec configuration over the limits: {0}")]
    OverLimit(FlvError),
    /// Coded frames arrived before the sequence header that describes them.
    #[error("{0} frames before their sequence header")]
    NoSequenceHeader(&'static str),
    /// The NAL unit length size in the record is not 4 bytes.
    #[error("NAL unit length size {0} (only 4 is supported)")]
    NalLengthSize(u8),
}

impl From<FlvError> for IngestError {
    fn from(e: FlvError) -> IngestError {
        match e.kind() {
            flv_mux::ErrorKind::LimitExceeded => IngestError::OverLimit(e),
            _ => IngestError::Malformed(e),
        }
    }
}

impl From<codec::CodecError> for IngestError {
    fn from(e: codec::CodecError) -> IngestError {
        FlvError::from(e).into()
    }
}

/// Per-publisher conversion state: the current tracks and the timestamp clock.
#[derive(Debug, Default)]
pub struct FlvIngest {
    video: Option<Track>,
    audio: Option<Track>,
    clock: MsClock,
    warned_unsupported: bool,
}

impl FlvIngest {
    /// The tracks announced so far (video first).
    pub fn tracks(&self) -> Vec<Track> {
        self.video
            .iter()
            .chain(self.audio.iter())
            .cloned()
            .collect()
    }

    /// Converts a video tag body with its RTMP/FLV timestamp (milliseconds).
    pub fn video(&mut self, timestamp: u32, body: &Bytes) -> Result<Ingested, IngestError> {
        if body.is_empty() {
            return Ok(Ingested::Skip);
        }
        let dts_us = self.clock.micros(timestamp);
        let tag = VideoTag::decode(body)?;
        let (codec, header, frame) = match &tag {
            VideoTag::Avc {
                codec,
                packet_type,
                data,
                ..
            } => {
                let codec = match codec {
                    CodecId::Avc => Codec::H264,
                    _ => Codec::H265, // legacy codec id 12, the only other `Avc` form
                };
                match packet_type {
                    AvcPacketType::SequenceHeader => (codec, Some(data), None),
                    AvcPacketType::Nalu => (codec, None, Some(data)),
                    AvcPacketType::EndOfSequence => return Ok(Ingested::Skip),
                }
            }
            VideoTag::Enhanced {
                packet_type,
                fourcc,
                data,
                ..
            } => {
                let codec = match *fourcc {
                    FourCc::AVC1 => Codec::H264,
                    FourCc::HVC1 => Codec::H265,
                    FourCc::AV01 => Codec::Av1,
                    other => return Ok(self.unsupported(format!("video {other:?}"))),
                };
                match packet_type {
                    VideoPacketType::SequenceStart => (codec, Some(data), None),
                    VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX => {
                        (codec, None, Some(data))
                    }
                    _ => return Ok(Ingested::Skip),
                }
            }
            _ => return Ok(self.unsupported("legacy video codec".into())),
        };
        if let Some(config) = header {
            let track = video_track(VIDEO_TRACK, codec, config.clone())?;
            return Ok(self.replace(true, track));
        }
        let Some(data) = frame.filter(|d| !d.is_empty()) else {
            return Ok(Ingested::Skip);
        };
        if self.video.as_ref().is_none_or(|t| t.codec != codec) {
            return Err(IngestError::NoSequenceHeader("video"));
        }
        let cts_us = i64::from(tag.composition_time()) * 1000;
        Ok(Ingested::Frame(Frame::new(
            VIDEO_TRACK,
            dts_us,
            dts_us + cts_us,
            tag.is_keyframe(),
            data.clone(),
        )))
    }

    /// Converts an audio tag body with its RTMP/FLV timestamp (milliseconds).
    pub fn audio(&mut self, timestamp: u32, body: &Bytes) -> Result<Ingested, IngestError> {
        if body.is_empty() {
            return Ok(Ingested::Skip);
        }
        let ts_us = self.clock.micros(timestamp);
        let tag = AudioTag::decode(body)?;
        let data = match &tag {
            AudioTag::Aac {
                packet_type: AacPacketType::SequenceHeader,
                data,
                ..
            } => {
                let asc = AudioSpecificConfig::parse(data)?;
                let mut track = Track::new(AUDIO_TRACK, Codec::Aac, asc.sample_rate);
                track.config = data.clone();
                track.sample_rate = Some(asc.sample_rate);
                track.channels = Some(asc.channel_configuration);
                return Ok(self.replace(false, track));
            }
            AudioTag::Aac { data, .. } => {
                if self.audio.as_ref().is_none_or(|t| t.codec != Codec::Aac) {
                    return Err(IngestError::NoSequenceHeader("AAC"));
                }
                data
            }
            AudioTag::Legacy { header, data } => {
                let (codec, rate) = match header.format {
                    SoundFormat::Mp3 => (Codec::Mp3, header.rate_hz()),
                    SoundFormat::Mp3_8k => (Codec::Mp3, 8_000),
                    SoundFormat::G711ALaw => (Codec::G711A, 8_000),
                    SoundFormat::G711MuLaw => (Codec::G711U, 8_000),
                    other => return Ok(self.unsupported(format!("audio {other:?}"))),
                };
                // These codecs have no sequence header: the first frame announces the track.
                if self.audio.as_ref().is_none_or(|t| t.codec != codec) {
                    let mut track = Track::new(AUDIO_TRACK, codec, rate);
                    track.sample_rate = Some(rate);
                    track.channels = Some(if header.stereo { 2 } else { 1 });
                    self.audio = Some(track);
                    // The caller announces the tracks, then gets this frame on the next call;
                    // dropping one 20 ms audio frame at start is inaudible.
                    return Ok(Ingested::Tracks(self.tracks()));
                }
                data
            }
            _ => return Ok(self.unsupported("enhanced audio codec".into())),
        };
        if data.is_empty() {
            return Ok(Ingested::Skip);
        }
        Ok(Ingested::Frame(Frame::new(
            AUDIO_TRACK,
            ts_us,
            ts_us,
            true,
            data.clone(),
        )))
    }

    /// Installs a track from a sequence header; a repeat of the same header
    /// (encoders resend it) changes nothing.
    fn replace(&mut self, video: bool, track: Track) -> Ingested {
        let slot = if video {
            &mut self.video
        } else {
            &mut self.audio
        };
        if slot.as_ref() == Some(&track) {
            return Ingested::Skip;
        }
        *slot = Some(track);
        Ingested::Tracks(self.tracks())
    }

    fn unsupported(&mut self, what: String) -> Ingested {
        if !self.warned_unsupported {
            self.warned_unsupported = true;
            tracing::warn!(codec = %what, "publisher sends a codec strom does not carry; dropping it");
        }
        Ingested::Skip
    }
}

/// A video track from a sequence header, with the resolution from the SPS when it parses.
/// A video track from its decoder configuration record, with the picture size
/// from the SPS when it parses. Shared with RTP ingest.
pub(crate) fn video_track(id: TrackId, codec: Codec, config: Bytes) -> Result<Track, IngestError> {
    let mut track = Track::new(id, codec, 1000);
    match codec {
        Codec::H264 => {
            let record = AvcDecoderConfigurationRecord::decode(&config)?;
            if record.nal_length_size != 4 {
                return Err(IngestError::NalLengthSize(record.nal_length_size));
            }
            if let Some(sps) = record.sps.first().and_then(|s| AvcSps::parse(s).ok()) {
                track.width = Some(sps.width);
                track.height = Some(sps.height);
            }
        }
        Codec::H265 => {
            let record = HevcDecoderConfigurationRecord::decode(&config)?;
            if record.nal_length_size != 4 {
                return Err(IngestError::NalLengthSize(record.nal_length_size));
            }
            let sps = record
                .nalus_of_type(codec::hevc::NAL_SPS)
                .next()
                .and_then(|s| HevcSps::parse(s).ok());
            if let Some(sps) = sps {
                track.width = Some(sps.width);
                track.height = Some(sps.height);
            }
        }
        _ => {}
    }
    track.config = config;
    Ok(track)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// avcC of a 320x240 High-profile x264 stream, as ffmpeg sends it.
    pub(crate) fn avc_config() -> Bytes {
        let sps = Bytes::from_static(&[
            0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03,
            0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60,
        ]);
        let pps = Bytes::from_static(&[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0]);
        AvcDecoderConfigurationRecord::from_parameter_sets(vec![sps], vec![pps])
            .unwrap()
            .to_bytes()
            .unwrap()
    }

    #[test]
    fn avc_sequence_header_then_frames() {
        let mut ingest = FlvIngest::default();
        let seq = VideoTag::avc_sequence_header(avc_config())
            .to_bytes()
            .unwrap();
        let Ingested::Tracks(tracks) = ingest.video(0, &seq).unwrap() else {
            panic!("tracks expected")
        };
        assert_eq!(tracks[0].codec, Codec::H264);
        assert_eq!((tracks[0].width, tracks[0].height), (Some(320), Some(240)));
        assert!(
            matches!(ingest.video(0, &seq).unwrap(), Ingested::Skip),
            "repeat is a no-op"
        );

        let nalus = Bytes::from_static(&[0, 0, 0, 2, 0x65, 0x88]);
        let body = VideoTag::avc_nalus(true, 80, nalus.clone())
            .to_bytes()
            .unwrap();
        let Ingested::Frame(f) = ingest.video(1000, &body).unwrap() else {
            panic!("frame expected")
        };
        assert_eq!(
            (f.track, f.dts_us, f.pts_us, f.keyframe),
            (VIDEO_TRACK, 1_000_000, 1_080_000, true)
        );
        assert_eq!(f.payload, nalus);
    }

    /// hvcC from libx265 parameter sets of a 1366x766 Main-profile stream.
    fn hevc_config() -> Bytes {
        const VPS: &[u8] = &[
            0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00,
            0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0x95, 0x98, 0x09,
        ];
        const SPS: &[u8] = &[
            0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00,
            0x00, 0x03, 0x00, 0x78, 0xa0, 0x02, 0xac, 0x80, 0x30, 0x1d, 0x56, 0x59, 0x59, 0xa4,
            0x93, 0x2b, 0xc0, 0x5a, 0x02, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00,
            0x32, 0x10,
        ];
        const PPS: &[u8] = &[0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40];
        HevcDecoderConfigurationRecord::from_parameter_sets(
            Bytes::from_static(VPS),
            Bytes::from_static(SPS),
            Bytes::from_static(PPS),
        )
        .unwrap()
        .to_bytes()
        .unwrap()
    }

    /// HEVC arrives two ways: enhanced RTMP (`hvc1`) and the legacy codec id 12
    /// that many Chinese encoders and patched ffmpeg builds send. Both become
    /// the same H.265 track and frames.
    #[test]
    fn hevc_in_enhanced_and_legacy_form() {
        use flv_mux::FrameType;
        let config = hevc_config();
        let nalus = Bytes::from_static(&[0, 0, 0, 3, 0x26, 0x01, 0xaf]);
        let legacy = |packet_type, data: Bytes| VideoTag::Avc {
            frame_type: FrameType::Key,
            codec: CodecId::Hevc,
            packet_type,
            composition_time: if packet_type == AvcPacketType::Nalu {
                40
            } else {
                0
            },
            data,
        };
        let enhanced = |packet_type, data: Bytes| VideoTag::Enhanced {
            frame_type: FrameType::Key,
            packet_type,
            fourcc: FourCc::HVC1,
            composition_time: if packet_type == VideoPacketType::CodedFrames {
                40
            } else {
                0
            },
            data,
        };
        let forms = [
            (
                legacy(AvcPacketType::SequenceHeader, config.clone()),
                legacy(AvcPacketType::Nalu, nalus.clone()),
            ),
            (
                enhanced(VideoPacketType::SequenceStart, config.clone()),
                enhanced(VideoPacketType::CodedFrames, nalus.clone()),
            ),
        ];
        for (seq, frame) in forms {
            let mut ingest = FlvIngest::default();
            let Ingested::Tracks(t) = ingest.video(0, &seq.to_bytes().unwrap()).unwrap() else {
                panic!("tracks expected for {seq:?}")
            };
            assert_eq!(t[0].codec, Codec::H265);
            assert_eq!((t[0].width, t[0].height), (Some(1366), Some(766)));
            assert_eq!(t[0].config, config);
            let Ingested::Frame(f) = ingest.video(80, &frame.to_bytes().unwrap()).unwrap() else {
                panic!("frame expected")
            };
            assert_eq!((f.dts_us, f.pts_us, f.keyframe), (80_000, 120_000, true));
            assert_eq!(f.payload, nalus);
        }
    }

    #[test]
    fn sequence_headers_over_64_kib_are_refused_and_not_stored() {
        let rec = AvcDecoderConfigurationRecord::decode(&avc_config()).unwrap();
        let mut ingest = FlvIngest::default();
        let sps = Bytes::from(vec![0x67; 30_000]);
        let big = AvcDecoderConfigurationRecord::from_parameter_sets(vec![sps; 3], rec.pps)
            .unwrap()
            .to_bytes()
            .unwrap();
        let seq = VideoTag::avc_sequence_header(big).to_bytes().unwrap();
        let e = ingest.video(0, &seq).unwrap_err();
        assert!(matches!(e, IngestError::OverLimit(_)), "{e}");
        assert!(
            e.to_string()
                .starts_with("codec configuration over the limits: avcC of"),
            "{e}"
        );
        assert!(ingest.tracks().is_empty());
        let mut asc = vec![0x12, 0x10];
        asc.resize(70_000, 0);
        let seq = flv_mux::AudioTag::aac_sequence_header(Bytes::from(asc))
            .to_bytes()
            .unwrap();
        assert!(matches!(
            ingest.audio(0, &seq),
            Err(IngestError::OverLimit(_))
        ));
    }

    #[test]
    fn frames_before_the_sequence_header_are_refused() {
        let mut ingest = FlvIngest::default();
        let body = VideoTag::avc_nalus(true, 0, Bytes::from_static(&[0, 0, 0, 1, 0x65]))
            .to_bytes()
            .unwrap();
        assert!(matches!(
            ingest.video(0, &body),
            Err(IngestError::NoSequenceHeader("video"))
        ));
    }

    #[test]
    fn aac_sequence_header_and_raw_frames() {
        let mut ingest = FlvIngest::default();
        let asc = AudioSpecificConfig::aac_lc(44_100, 2).to_bytes().unwrap();
        let seq = AudioTag::aac_sequence_header(asc).to_bytes().unwrap();
        let Ingested::Tracks(t) = ingest.audio(0, &seq).unwrap() else {
            panic!()
        };
        assert_eq!(
            (t[0].codec, t[0].sample_rate, t[0].channels),
            (Codec::Aac, Some(44_100), Some(2))
        );
        let raw = AudioTag::aac_raw(Bytes::from_static(&[0x21, 0x10]))
            .to_bytes()
            .unwrap();
        let Ingested::Frame(f) = ingest.audio(23, &raw).unwrap() else {
            panic!()
        };
        assert_eq!((f.track, f.dts_us, f.keyframe), (AUDIO_TRACK, 23_000, true));
        assert_eq!(&f.payload[..], &[0x21, 0x10]);
    }

    #[test]
    fn empty_and_garbage_bodies() {
        let mut ingest = FlvIngest::default();
        assert!(matches!(
            ingest.video(0, &Bytes::new()).unwrap(),
            Ingested::Skip
        ));
        assert!(ingest.video(0, &Bytes::from_static(&[0x17, 0x00])).is_err());
        assert!(ingest.audio(0, &Bytes::from_static(&[0xaf])).is_err());
    }
}
