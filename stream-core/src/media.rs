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

use std::sync::{Arc, OnceLock};

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

/// One wire form of a frame (an RTMP message's chunks, an FLV tag, a frame's RTP
/// payloads): a list of parts, each a `Bytes` that is either a small header built for
/// this form or a slice of the frame's shared payload, never a copy of it. Written with
/// one vectored write; concatenated, the parts are the bytes on the wire.
///
/// A form may be divided into units (RTP packets, each with a marker flag): see
/// [`WireParts::end_unit`] and [`WireParts::units`]. A form without units is one unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WireParts {
    parts: Vec<Bytes>,
    len: usize,
    units: Vec<WireUnit>,
}

impl From<Bytes> for WireParts {
    /// A form of one part (its part list holds exactly one `Bytes`).
    fn from(b: Bytes) -> WireParts {
        if b.is_empty() {
            return WireParts::new();
        }
        WireParts {
            len: b.len(),
            parts: vec![b],
            units: Vec::new(),
        }
    }
}

/// The end of one unit of a [`WireParts`] (see [`WireParts::end_unit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct WireUnit {
    /// Index one past the unit's last part.
    end: usize,
    /// The unit's length in bytes.
    len: usize,
    /// Bytes in this and all earlier units.
    closed: usize,
    /// The flag given to [`WireParts::end_unit`] (the RTP marker bit).
    mark: bool,
}

impl WireParts {
    /// An empty form.
    pub fn new() -> WireParts {
        WireParts::default()
    }

    /// A form of these parts, in order (empty parts are dropped).
    pub fn from_parts(parts: impl IntoIterator<Item = Bytes>) -> WireParts {
        // Collecting a `Vec`'s own iterator reuses its allocation.
        let parts: Vec<Bytes> = parts.into_iter().filter(|p| !p.is_empty()).collect();
        WireParts {
            len: parts.iter().map(Bytes::len).sum(),
            parts,
            units: Vec::new(),
        }
    }

    /// A form whose [`extra_bytes`](Self::extra_bytes) is exactly `n` (at least the
    /// size of one part), for tests of the resident-byte bounds.
    #[cfg(test)]
    pub(crate) fn with_extra(n: usize) -> WireParts {
        let own = n.saturating_sub(std::mem::size_of::<Bytes>()).max(1);
        WireParts::from(Bytes::from(vec![1u8; own]))
    }

    /// Appends a part (an empty one is dropped).
    pub fn push(&mut self, part: Bytes) {
        if !part.is_empty() {
            self.len += part.len();
            self.parts.push(part);
        }
    }

    /// Ends the current unit: the parts pushed since the previous unit ended, with
    /// flag `mark` (for RTP, the marker bit of the packet).
    pub fn end_unit(&mut self, mark: bool) {
        let closed = self.units.last().map_or(0, |u| u.closed);
        self.units.push(WireUnit {
            end: self.parts.len(),
            len: self.len - closed,
            closed: self.len,
            mark,
        });
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the form has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The units in order, as `(mark, parts, length)`. A form on which
    /// [`end_unit`](Self::end_unit) was never called is one unit with flag `false`.
    pub fn units(&self) -> impl Iterator<Item = (bool, &[Bytes], usize)> + '_ {
        let whole = self
            .units
            .is_empty()
            .then_some((false, &self.parts[..], self.len))
            .filter(|_| !self.parts.is_empty());
        let mut start = 0;
        let listed = self.units.iter().map(move |u| {
            let parts = self.parts.get(start..u.end).unwrap_or_default();
            start = u.end;
            (u.mark, parts, u.len)
        });
        whole.into_iter().chain(listed)
    }

    /// The parts concatenated into one buffer (a copy: for tests and for datagrams
    /// that must be contiguous).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.len);
        for p in &self.parts {
            out.extend_from_slice(p);
        }
        Bytes::from(out)
    }

    /// The memory this form holds beyond `payload` (the frame's payload, which it
    /// shares): the bytes of every part that is not a slice of `payload` (chunk, tag
    /// and packet headers, parameter sets), plus the part and unit lists themselves.
    /// What a frame really keeps resident is `payload.len()` plus this, for each of
    /// its cached forms (see [`WireCache::extra_bytes`]).
    pub fn extra_bytes(&self, payload: &Bytes) -> usize {
        let range = payload.as_ptr() as usize..payload.as_ptr() as usize + payload.len();
        let own: usize = self
            .parts
            .iter()
            .filter(|p| {
                let at = p.as_ptr() as usize;
                !(range.contains(&at) && at + p.len() <= range.end)
            })
            .map(Bytes::len)
            .sum();
        own + self.parts.capacity() * std::mem::size_of::<Bytes>()
            + self.units.capacity() * std::mem::size_of::<WireUnit>()
    }
}

/// A frame's encoded wire forms ([`WireParts`]), one slot per output format, each
/// filled once by the first subscriber that needs it and shared by all the others, so
/// every frame is serialized once per stream and format, never once per player, and
/// no form copies the payload.
///
/// stream-core never interprets the parts: the server assigns slot numbers to its
/// output formats (for example RTMP chunks at the server's chunk size, FLV tags).
/// Cloning a frame gives it an empty cache, and the cache takes no part in equality.
#[derive(Default)]
pub struct WireCache {
    /// Allocated by the first form cached, so a frame nobody plays (or only
    /// the HLS packager reads) carries one pointer, not the slots.
    slots: OnceLock<Box<Slots>>,
}

/// The cache's storage, allocated with the first form.
#[derive(Default)]
struct Slots {
    parts: [OnceLock<WireParts>; WireCache::SLOTS],
    /// One contiguous form, for libraries that take `Arc<[u8]>` input
    /// (WebRTC's packetizers); see [`WireCache::contiguous`].
    contiguous: OnceLock<Arc<[u8]>>,
}

impl WireCache {
    /// Number of slots.
    pub const SLOTS: usize = 4;

    /// The form in `slot`, encoding it with `encode` if this is the first request.
    /// A slot number out of range encodes without caching (an owned form).
    pub fn get_or_init(
        &self,
        slot: usize,
        encode: impl FnOnce() -> WireParts,
    ) -> std::borrow::Cow<'_, WireParts> {
        if slot >= Self::SLOTS {
            return std::borrow::Cow::Owned(encode());
        }
        let slots = self.slots.get_or_init(Default::default);
        match slots.parts.get(slot) {
            Some(cell) => std::borrow::Cow::Borrowed(cell.get_or_init(encode)),
            None => std::borrow::Cow::Owned(encode()),
        }
    }

    /// The frame's one contiguous form, made by `encode` on the first
    /// request and shared by every later one: for consumers that need the
    /// frame as one `Arc<[u8]>` (str0m packetizes from it), so the form is
    /// built once per stream, not once per player.
    pub fn contiguous(&self, encode: impl FnOnce() -> Arc<[u8]>) -> Arc<[u8]> {
        let slots = self.slots.get_or_init(Default::default);
        slots.contiguous.get_or_init(encode).clone()
    }

    fn filled(&self) -> impl Iterator<Item = &WireParts> {
        self.slots
            .get()
            .into_iter()
            .flat_map(|s| s.parts.iter().filter_map(OnceLock::get))
    }

    /// The bytes the cache holds beyond the frame's `payload`: the sum of
    /// [`WireParts::extra_bytes`] over the cached forms (a form's own header bytes and
    /// its part lists; slices of the payload count 0). The slots themselves, allocated
    /// once per frame with the first form, are a fixed per-frame cost like the `Frame`
    /// struct and are not counted.
    pub fn extra_bytes(&self, payload: &Bytes) -> usize {
        let contiguous = self
            .slots
            .get()
            .and_then(|s| s.contiguous.get())
            .map_or(0, |c| c.len());
        self.filled()
            .map(|w| w.extra_bytes(payload))
            .fold(contiguous, usize::saturating_add)
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
        let filled = self.filled().count();
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
        let form = |b: &'static [u8]| WireParts::from_parts([Bytes::from_static(b)]);
        let a = f.wire.get_or_init(0, || {
            calls += 1;
            form(b"rtmp")
        });
        let b = f.wire.get_or_init(0, || {
            calls += 1;
            form(b"other")
        });
        assert_eq!(
            (a.to_bytes(), b.to_bytes(), calls),
            (Bytes::from_static(b"rtmp"), Bytes::from_static(b"rtmp"), 1)
        );
        assert_eq!(f.wire.get_or_init(1, || form(b"flv")).to_bytes(), "flv");
        assert_eq!(f.wire.get_or_init(99, || form(b"nc")).to_bytes(), "nc");
        assert_eq!(format!("{:?}", f.clone().wire), "WireCache(0 filled)");
        assert_eq!(f.clone(), f);
    }

    #[test]
    fn resident_bytes_count_payload_and_every_form_but_payload_slices() {
        let f = Frame::new(0, 0, 0, true, Bytes::from(vec![7u8; 1000]));
        assert_eq!(f.resident_bytes(), 1000);
        for slot in 0..WireCache::SLOTS {
            f.wire.get_or_init(slot, || WireParts::with_extra(1000));
        }
        assert_eq!(f.resident_bytes(), 5000, "1,000 payload + 4 forms of 1,000");
        let g = Frame::new(0, 0, 0, true, Bytes::from(vec![7u8; 1000]));
        let list = std::mem::size_of::<Bytes>();
        g.wire.get_or_init(0, || g.payload.slice(4..).into());
        g.wire.get_or_init(1, || g.payload.clone().into());
        g.wire.get_or_init(2, || Bytes::from_static(b"hdr").into());
        assert_eq!(
            g.resident_bytes(),
            1003 + 3 * list,
            "slices of the payload count 0, their part lists count"
        );
        assert_eq!(g.wire.extra_bytes(&g.payload), 3 + 3 * list);
    }

    #[test]
    fn parts_share_the_payload_and_count_only_their_own_bytes() {
        let payload = Bytes::from(vec![7u8; 1000]);
        let mut w = WireParts::new();
        w.push(Bytes::from_static(&[1, 2, 3]));
        w.push(payload.slice(..600));
        w.end_unit(false);
        w.push(Bytes::from_static(&[4, 5]));
        w.push(payload.slice(600..));
        w.push(Bytes::new());
        w.end_unit(true);
        assert_eq!(w.len(), 1005);
        assert_eq!(w.parts().len(), 4);
        assert_eq!(
            w.parts()[1].as_ptr(),
            payload.as_ptr(),
            "a slice, not a copy"
        );
        let units: Vec<_> = w.units().map(|(m, p, l)| (m, p.len(), l)).collect();
        assert_eq!(units, [(false, 2, 603), (true, 2, 402)]);
        let extra = w.extra_bytes(&payload);
        let lists = w.parts.capacity() * std::mem::size_of::<Bytes>()
            + w.units.capacity() * std::mem::size_of::<WireUnit>();
        assert_eq!(extra, 5 + lists, "headers and lists, not the payload");
        assert_eq!(w.to_bytes().len(), 1005);

        // A form without units is one unit; an empty form has none.
        let whole = WireParts::from_parts([payload.clone()]);
        assert_eq!(whole.units().count(), 1);
        assert_eq!(WireParts::new().units().count(), 0);

        let f = Frame::new(0, 0, 0, true, payload.clone());
        assert_eq!(f.wire.extra_bytes(&f.payload), 0);
        let a = f.wire.get_or_init(0, || w.clone()).extra_bytes(&payload);
        let b = f
            .wire
            .get_or_init(1, || whole.clone())
            .extra_bytes(&payload);
        assert!(a > 5 && b > 0);
        assert_eq!(f.wire.extra_bytes(&f.payload), a + b);
    }
}
