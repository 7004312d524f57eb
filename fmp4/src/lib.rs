//! # fmp4
//!
//! Fragmented MP4 (ISO/IEC 14496-12, CMAF) for live streaming, with no IO:
//! track descriptions and samples in, bytes out; bytes in, tracks and samples
//! out (the demuxer, for tests, fuzzing and tools).
//!
//! - [`init_segment`]: `ftyp` (`iso5`, CMAF `cmfc`) + `moov` with one
//!   track per [`TrackConfig`]: H.264 (`avc1`), H.265 (`hvc1`), AV1
//!   (`av01`), AAC (`mp4a`/`esds`), Opus (`Opus`/`dOps`).
//! - [`fragment`]: `moof` + `mdat` for runs of samples, as a small header
//!   buffer plus the samples' own [`Bytes`] (shared, never copied), so one
//!   fragment can go to many viewers as parts.
//! - [`Demuxer`]: the reverse, from bytes in arbitrary pieces; bounded
//!   ([`Demuxer::MAX_BOX`], [`MAX_TRACKS`], [`MAX_SAMPLES_PER_FRAGMENT`]),
//!   truncated input is "need more", never a panic.
//!
//! Timescales are the caller's; nothing is rescaled.
//!
//! ```
//! use bytes::Bytes;
//! use fmp4::{CodecConfig, Demuxer, Event, Sample, TrackConfig, TrackRun};
//!
//! let track = TrackConfig {
//!     id: 1,
//!     timescale: 48_000,
//!     codec: CodecConfig::Opus { pre_skip: 312 },
//!     width: 0,
//!     height: 0,
//!     channels: 2,
//!     sample_rate: 48_000,
//! };
//! let init = fmp4::init_segment(&[track.clone()])?;
//! let run = TrackRun {
//!     track_id: 1,
//!     base_decode_time: 0,
//!     samples: vec![Sample {
//!         duration: 960,
//!         cts_offset: 0,
//!         keyframe: true,
//!         data: Bytes::from_static(&[0xfc, 0xff, 0xfe]),
//!     }],
//! };
//! let frag = fmp4::fragment(1, &[run.clone()])?;
//!
//! let mut demuxer = Demuxer::new();
//! demuxer.push(&init);
//! for part in frag.parts() {
//!     demuxer.push(part);
//! }
//! assert_eq!(demuxer.next_event()?, Some(Event::Init(vec![track])));
//! assert_eq!(
//!     demuxer.next_event()?,
//!     Some(Event::Fragment { sequence: 1, runs: vec![run] })
//! );
//! assert_eq!(demuxer.next_event()?, None);
//! # Ok::<(), fmp4::Fmp4Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use bytes::Bytes;

mod demux;
mod error;
mod fragment;
pub mod fuzzing;
mod init;
mod rewrite;
mod write;

pub use demux::Demuxer;
pub use error::Fmp4Error;
pub use init::MAX_TRACKS;
pub use rewrite::rewrite_moof_times;

/// Longest codec configuration record accepted (`avcC`, `hvcC`, `av1C`, AudioSpecificConfig).
pub const MAX_CONFIG_LEN: usize = 64 * 1024;
/// Most samples in one fragment (all its runs together), on both sides.
pub const MAX_SAMPLES_PER_FRAGMENT: usize = 100_000;

/// A track's codec and its decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecConfig {
    /// H.264: the AVCDecoderConfigurationRecord (`avcC`), sample entry `avc1`.
    Avc {
        /// The `avcC` record.
        avcc: Bytes,
    },
    /// H.265: the HEVCDecoderConfigurationRecord (`hvcC`), sample entry `hvc1`.
    Hevc {
        /// The `hvcC` record.
        hvcc: Bytes,
    },
    /// AV1: the AV1CodecConfigurationRecord (`av1C`), sample entry `av01`.
    Av1 {
        /// The `av1C` record.
        av1c: Bytes,
    },
    /// AAC: the AudioSpecificConfig, carried in `esds`, sample entry `mp4a`.
    Aac {
        /// The AudioSpecificConfig.
        asc: Bytes,
    },
    /// Opus: `dOps` (channel mapping family 0), sample entry `Opus`.
    Opus {
        /// Samples (at 48 kHz) the decoder drops at the start.
        pre_skip: u16,
    },
}

/// One track of an init segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackConfig {
    /// The `track_ID` (≥ 1), unique in the file.
    pub id: u32,
    /// Ticks per second of this track's sample times.
    pub timescale: u32,
    /// Codec and its configuration.
    pub codec: CodecConfig,
    /// Picture width (video; 0 for audio).
    pub width: u32,
    /// Picture height (video; 0 for audio).
    pub height: u32,
    /// Channel count (audio; 0 for video).
    pub channels: u16,
    /// Sample rate in Hz (audio; 0 for video).
    pub sample_rate: u32,
}

/// One sample (access unit) of a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Duration in the track's timescale.
    pub duration: u32,
    /// Presentation time minus decode time, in the track's timescale.
    pub cts_offset: i32,
    /// A sync sample (keyframe); audio samples are always sync samples.
    pub keyframe: bool,
    /// The sample as MP4 stores it: length-prefixed (4-byte) NAL units for
    /// H.264/H.265, low-overhead OBUs for AV1, a raw access unit for AAC, an
    /// Opus packet. Shared, never copied by the muxer.
    pub data: Bytes,
}

/// The samples of one track in one fragment (a `traf` and its `trun`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRun {
    /// The `track_ID` of a track of the init segment.
    pub track_id: u32,
    /// Decode time of the first sample, in the track's timescale (`tfdt`).
    pub base_decode_time: u64,
    /// The samples, in decode order.
    pub samples: Vec<Sample>,
}

/// A `moof` + `mdat` as parts: the boxes' headers in one small buffer, then
/// each sample's data as the caller's `Bytes` (never a copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// `moof` and the `mdat` header.
    pub header: Bytes,
    /// The samples' data in `mdat` order (track runs in the order given).
    pub payload: Vec<Bytes>,
}

impl Fragment {
    /// Bytes on the wire: header plus payload.
    pub fn len(&self) -> usize {
        self.header.len() + self.payload.iter().map(Bytes::len).sum::<usize>()
    }

    /// True when there is nothing to send (never, for a built fragment).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parts in wire order: header, then the samples.
    pub fn parts(&self) -> impl Iterator<Item = &Bytes> + '_ {
        std::iter::once(&self.header).chain(self.payload.iter())
    }

    /// The fragment as one contiguous buffer (a copy: tests and files).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.len());
        for part in self.parts() {
            out.extend_from_slice(part);
        }
        Bytes::from(out)
    }
}

/// The init segment: `ftyp` and `moov` (with `mvex`/`trex` for every track).
///
/// # Errors
/// [`Fmp4Error::Invalid`] for no tracks, a track id 0 or repeated, a zero
/// timescale, an empty codec configuration, a picture above 65535 pixels,
/// an audio track without channels, AAC above 65535 Hz, Opus with more than
/// 2 channels; [`Fmp4Error::Limit`] above [`MAX_TRACKS`].
pub fn init_segment(tracks: &[TrackConfig]) -> Result<Bytes, Fmp4Error> {
    init::build(tracks, None)
}

/// [`init_segment`] for a file of known length (a recording served as one
/// file): `mvhd` carries the movie's total duration and `mvex` a `mehd`
/// with it as the fragment duration, both in milliseconds (timescale 1000;
/// version 1 boxes above 32 bits), so a player shows a seekable duration.
///
/// # Errors
/// As [`init_segment`].
pub fn init_segment_with_duration(
    tracks: &[TrackConfig],
    duration_ms: u64,
) -> Result<Bytes, Fmp4Error> {
    init::build(tracks, Some(duration_ms))
}

/// One fragment: `moof` (`mfhd` with `sequence`, one `traf` per run with
/// `tfhd` default-base-is-moof, `tfdt` version 1, `trun` with data offset,
/// per-sample duration, size, flags and signed composition offsets) and `mdat`.
///
/// Each `trun`'s data offset points at its run's first byte in `mdat`,
/// counted from the start of `moof`. Sync samples get sample_depends_on = 2,
/// others sample_depends_on = 1 and is_non_sync_sample.
///
/// # Errors
/// [`Fmp4Error::Invalid`] for no runs, an empty run or track id 0 (the
/// muxer does not know the init segment: matching runs to its tracks is the
/// caller's job); [`Fmp4Error::Limit`] above [`MAX_SAMPLES_PER_FRAGMENT`] samples,
/// [`MAX_TRACKS`] runs or 2 GiB of data.
pub fn fragment(sequence: u32, runs: &[TrackRun]) -> Result<Fragment, Fmp4Error> {
    fragment::build(sequence, runs)
}

/// What [`Demuxer`] read from a stream of boxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An init segment (`ftyp` + `moov`): the tracks.
    Init(Vec<TrackConfig>),
    /// A `moof` + `mdat`: its sequence number and runs (sample data sliced
    /// from the input, not copied).
    Fragment {
        /// `mfhd` sequence number.
        sequence: u32,
        /// The runs, in `traf` order.
        runs: Vec<TrackRun>,
    },
}
