//! The media model shared by every protocol: tracks and frames.
//!
//! # Canonical frame form
//!
//! stream-core carries exactly one representation of each codec; protocol adapters in
//! `server-bin` convert at the edges (ingest and egress) so that fan-out never copies or
//! rewrites media:
//!
//! | codec | [`Track::config`] | [`Frame::payload`] |
//! |---|---|---|
//! | H.264 | AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1) | NAL units, each prefixed by its 4-byte big-endian length (AVCC), no start codes |
//! | H.265 | HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1) | NAL units, 4-byte big-endian length prefixed |
//! | AV1 | AV1CodecConfigurationRecord (AV1-ISOBMFF §2.3) | OBUs, 4-byte big-endian length prefixed |
//! | AAC | AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) | one raw access unit, no ADTS header |
//! | Opus, G.711 A/µ, MP3 | empty (Opus may carry an OpusHead) | one raw frame |
//!
//! Timestamps are microseconds on the stream's timeline ([`Frame::dts_us`], [`Frame::pts_us`]);
//! the stream rebases them when a publisher resumes or takes over so that players which
//! stayed attached see a continuous timeline.

use std::sync::OnceLock;

use bytes::Bytes;

/// A media codec known to strom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// H.264 / AVC video.
    H264,
    /// H.265 / HEVC video.
    H265,
    /// AV1 video.
    Av1,
    /// AAC audio (any profile carried by an AudioSpecificConfig).
    Aac,
    /// Opus audio.
    Opus,
    /// G.711 A-law audio.
    G711A,
    /// G.711 µ-law audio.
    G711U,
    /// MPEG-1/2 Layer III audio.
    Mp3,
}

impl Codec {
    /// True for video codecs (H.264, H.265, AV1).
    pub fn is_video(self) -> bool {
        matches!(self, Codec::H264 | Codec::H265 | Codec::Av1)
    }

    /// A short, stable name: "H264", "H265", "AV1", "AAC", "OPUS", "PCMA", "PCMU", "MP3".
    pub fn name(self) -> &'static str {
        match self {
            Codec::H264 => "H264",
            Codec::H265 => "H265",
            Codec::Av1 => "AV1",
            Codec::Aac => "AAC",
            Codec::Opus => "OPUS",
            Codec::G711A => "PCMA",
            Codec::G711U => "PCMU",
            Codec::Mp3 => "MP3",
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Identifies a track within one stream (small: a stream has a handful of tracks).
pub type TrackId = u8;

/// One elementary stream of a published stream, announced with [`crate::Publisher::set_tracks`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Track {
    /// The id frames of this track carry in [`Frame::track`].
    pub id: TrackId,
    /// The codec.
    pub codec: Codec,
    /// Decoder configuration: AVCDecoderConfigurationRecord (H.264), HEVCDecoderConfigurationRecord
    /// (H.265), AV1CodecConfigurationRecord, AudioSpecificConfig (AAC); empty when the codec has none.
    pub config: Bytes,
    /// Native clock rate of the source (90000 for RTP video, the sample rate for audio, 1000 for RTMP).
    pub timescale: u32,
    /// Picture width in pixels (video, when known).
    pub width: Option<u32>,
    /// Picture height in pixels (video, when known).
    pub height: Option<u32>,
    /// Sample rate in Hz (audio, when known).
    pub sample_rate: Option<u32>,
    /// Channel count (audio, when known).
    pub channels: Option<u8>,
}

impl Track {
    /// A track with an empty config and no dimensions/sample format; fill the fields you know.
    pub fn new(id: TrackId, codec: Codec, timescale: u32) -> Track {
        Track {
            id,
            codec,
            config: Bytes::new(),
            timescale,
            width: None,
            height: None,
            sample_rate: None,
            channels: None,
        }
    }
}

/// One access unit of one track, in the canonical form described in the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The track this frame belongs to (must have been announced).
    pub track: TrackId,
    /// Decode timestamp in microseconds on the stream's timeline.
    pub dts_us: i64,
    /// Presentation timestamp in microseconds on the stream's timeline.
    pub pts_us: i64,
    /// A random access point (IDR / IRAP / key OBU). Always true for audio.
    pub keyframe: bool,
    /// Canonical payload: video = length-prefixed (4-byte big-endian) NAL units / AV1 OBUs;
    /// AAC = raw access unit (no ADTS); others = raw frames. Shared, never copied per subscriber.
    pub payload: Bytes,
    /// This frame's wire forms, encoded once and shared by every subscriber (see [`WireCache`]).
    pub wire: WireCache,
}

impl Frame {
    /// A frame with an empty [`WireCache`].
    pub fn new(track: TrackId, dts_us: i64, pts_us: i64, keyframe: bool, payload: Bytes) -> Frame {
        Frame {
            track,
            dts_us,
            pts_us,
            keyframe,
            payload,
            wire: WireCache::default(),
        }
    }

    /// Payload size in bytes (what the ingest and egress byte counters account).
    pub fn len(&self) -> usize {
        self.payload.len()
    }

    /// Bytes this frame keeps resident: the payload plus every wire form cached so far that
    /// is not a slice of the payload ([`WireCache::extra_bytes`]). This is what the GOP cache
    /// and the subscriber queues bound and what the stream snapshot reports; it only grows
    /// as players fill wire forms, so holders re-measure it (see `resident.rs`).
    pub fn resident_bytes(&self) -> usize {
        self.payload
            .len()
            .saturating_add(self.wire.extra_bytes(&self.payload))
    }

    /// True when the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }
}

/// A frame's encoded wire forms, one slot per output format, each filled once by the first
/// subscriber that needs it and shared (as `Bytes`) by all the others, so every frame is
/// serialized once per stream and format, never once per player.
///
/// stream-core never interprets the bytes: the server assigns slot numbers to its output
/// formats (for example RTMP chunks at the server's chunk size, FLV tags). Cloning a frame
/// gives it an empty cache, and the cache takes no part in equality.
#[derive(Default)]
pub struct WireCache {
    slots: [OnceLock<Bytes>; WireCache::SLOTS],
}

impl WireCache {
    /// Number of slots.
    pub const SLOTS: usize = 4;

    /// The bytes in `slot`, encoding them with `encode` if this is the first request.
    /// A slot number out of range encodes without caching.
    pub fn get_or_init(&self, slot: usize, encode: impl FnOnce() -> Bytes) -> Bytes {
        match self.slots.get(slot) {
            Some(cell) => cell.get_or_init(encode).clone(),
            None => encode(),
        }
    }

    /// Bytes the filled slots hold beyond `payload` (the frame's payload): a slot whose bytes
    /// lie inside the payload's memory counts 0 (a slice of the payload shares its memory),
    /// any other slot counts its length.
    pub fn extra_bytes(&self, payload: &Bytes) -> usize {
        let start = payload.as_ptr() as usize;
        let end = start.saturating_add(payload.len());
        self.slots
            .iter()
            .filter_map(OnceLock::get)
            .map(|b| {
                let at = b.as_ptr() as usize;
                if at >= start && at.saturating_add(b.len()) <= end {
                    0
                } else {
                    b.len()
                }
            })
            .fold(0, usize::saturating_add)
    }
}

impl Clone for WireCache {
    fn clone(&self) -> Self {
        WireCache::default()
    }
}

impl PartialEq for WireCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for WireCache {}

impl std::fmt::Debug for WireCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let filled = self.slots.iter().filter(|s| s.get().is_some()).count();
        write!(f, "WireCache({filled} filled)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_classification_and_names() {
        assert!(Codec::H264.is_video() && Codec::H265.is_video() && Codec::Av1.is_video());
        for c in [
            Codec::Aac,
            Codec::Opus,
            Codec::G711A,
            Codec::G711U,
            Codec::Mp3,
        ] {
            assert!(!c.is_video(), "{c}");
        }
        assert_eq!(Codec::H264.name(), "H264");
        assert_eq!(Codec::Aac.to_string(), "AAC");
    }

    #[test]
    fn frame_len_is_payload_len() {
        let f = Frame {
            track: 0,
            dts_us: 0,
            pts_us: 0,
            keyframe: true,
            payload: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
            wire: Default::default(),
        };
        assert_eq!(f.len(), 5);
        assert!(!f.is_empty());
        assert_eq!(Track::new(1, Codec::Aac, 48_000).config.len(), 0);
    }

    #[test]
    fn wire_cache_encodes_once_per_slot() {
        let f = Frame::new(0, 0, 0, true, Bytes::from_static(b"x"));
        let mut calls = 0;
        let a = f.wire.get_or_init(0, || {
            calls += 1;
            Bytes::from_static(b"rtmp")
        });
        let b = f.wire.get_or_init(0, || {
            calls += 1;
            Bytes::from_static(b"other")
        });
        assert_eq!(
            (a, b, calls),
            (Bytes::from_static(b"rtmp"), Bytes::from_static(b"rtmp"), 1)
        );
        assert_eq!(f.wire.get_or_init(1, || Bytes::from_static(b"flv")), "flv");
        assert_eq!(f.wire.get_or_init(99, || Bytes::from_static(b"nc")), "nc");
        assert_eq!(format!("{:?}", f.clone().wire), "WireCache(0 filled)");
        assert_eq!(f.clone(), f);
    }

    #[test]
    fn resident_bytes_count_payload_and_every_form_but_payload_slices() {
        let f = Frame::new(0, 0, 0, true, Bytes::from(vec![7u8; 1000]));
        assert_eq!(f.resident_bytes(), 1000);
        for slot in 0..WireCache::SLOTS {
            f.wire.get_or_init(slot, || Bytes::from(vec![1u8; 1000]));
        }
        assert_eq!(f.resident_bytes(), 5000, "1,000 payload + 4 forms of 1,000");
        let g = Frame::new(0, 0, 0, true, Bytes::from(vec![7u8; 1000]));
        g.wire.get_or_init(0, || g.payload.slice(4..));
        g.wire.get_or_init(1, || g.payload.clone());
        g.wire.get_or_init(2, || Bytes::from_static(b"hdr"));
        assert_eq!(g.resident_bytes(), 1003, "slices of the payload count 0");
        assert_eq!(g.wire.extra_bytes(&g.payload), 3);
    }
}
