//! HLS with fragmented-MP4 (CMAF) segments and Low-Latency HLS
//! (RFC 8216bis), with no IO: samples in, init segment, partial segments,
//! segments, the playlist and blocking-reload answers out.
//!
//! - [`CmafPackager`]: samples of every track in, each track's times in its
//!   own timescale. A sample is held until the next sample of its track
//!   arrives (that gives its duration); a *partial segment* ("part") closes
//!   when the timing track (the first video track, else the first track)
//!   has run about [`CmafConfig::part_secs`]; a *segment* closes at the
//!   first video keyframe at least [`CmafConfig::target_secs`] after its
//!   start (forced at 4 × the target or 64 MiB, as the TS
//!   [`Packager`](crate::Packager) does). Each part is one `moof`+`mdat`
//!   ([`fmp4::fragment`], one `traf` per track present); a segment's bytes
//!   are its parts' bytes, concatenated once when it closes.
//! - [`playlist::render`]: the LL-HLS media playlist, a pure function.
//! - [`blocking`]: what to do with a blocking playlist reload
//!   (`_HLS_msn`/`_HLS_part`, RFC 8216bis §6.2.5.2) and a request for the
//!   preload-hinted part.
//!
//! URIs, relative to the playlist: `fmp4/init.mp4`, `fmp4/{msn}.m4s`,
//! `fmp4/{msn}.{part}.m4s`. There is one rendition, so no
//! `EXT-X-RENDITION-REPORT` (§4.4.5.4 asks for reports of the *other*
//! renditions of a master playlist) and no `_HLS_skip` delta updates.
//!
//! ```
//! use bytes::Bytes;
//! use fmp4::{CodecConfig, TrackConfig};
//! use hls_seg::cmaf::{Blocking, CmafConfig, CmafInput, CmafPackager, PartState};
//!
//! let aac = TrackConfig {
//!     id: 1,
//!     timescale: 48_000,
//!     codec: CodecConfig::Aac { asc: Bytes::from_static(&[0x11, 0x90]) },
//!     width: 0,
//!     height: 0,
//!     channels: 2,
//!     sample_rate: 48_000,
//! };
//! let config = CmafConfig { target_secs: 1.0, part_secs: 0.2, ..CmafConfig::default() };
//! let mut packager = CmafPackager::new(vec![aac], config)?;
//! let init = packager.init(); // GET fmp4/init.mp4
//! assert!(!init.is_empty());
//! for i in 0..100u64 {
//!     let input = CmafInput {
//!         track_id: 1,
//!         dts: i * 1024,
//!         cts_offset: 0,
//!         keyframe: true,
//!         data: Bytes::from_static(&[0x21, 0x10, 0x05]),
//!     };
//!     let pushed = packager.push(input)?;
//!     // `pushed.part_closed` / `pushed.segment_closed` wake blocked requests.
//!     let _ = pushed;
//! }
//! let playlist = packager.playlist();
//! assert!(playlist.contains("#EXT-X-PART-INF:PART-TARGET=0.200\n"));
//! assert!(playlist.contains("#EXTINF:1.003,\nfmp4/0.m4s\n"));
//! // Segments 0 and 1 closed (47 frames each); 2 is being filled.
//! assert_eq!(packager.blocking_state(1, None), Blocking::Ready);
//! assert_eq!(packager.blocking_state(2, None), Blocking::Wait); // hold, ≤ 3 × target
//! assert_eq!(packager.blocking_state(4, None), Blocking::TooFar); // 400
//! assert_eq!(packager.part_state(2, 0), PartState::Pending); // the preload hint
//! assert!(matches!(packager.part_state(0, 0), PartState::Ready(_)));
//! assert_eq!(packager.part_state(2, 1), PartState::Unknown); // 404
//! assert!(packager.segment(0).is_some());
//! # Ok::<(), hls_seg::cmaf::CmafError>(())
//! ```

pub mod blocking;
mod packager;
mod part;
pub mod playlist;

pub use blocking::{Blocking, PartState};
pub use packager::{CmafPackager, CmafPart, CmafSegment};

use bytes::Bytes;

/// An open segment this large is cut at the next sample of the timing
/// track, keyframe or not.
pub const MAX_SEGMENT_BYTES: usize = 64 << 20;
/// An open segment this many targets long is cut at the next sample of the
/// timing track, keyframe or not.
pub const MAX_SEGMENT_TARGETS: u64 = 4;
/// A DTS jump forward by more than this many seconds on a track (or any
/// jump back) is a discontinuity.
pub const MAX_DTS_JUMP_SECS: u64 = 10;

/// How segments and parts are cut, numbered and kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CmafConfig {
    /// Target segment length in seconds: a segment is cut at the first
    /// video keyframe at least this far from its start.
    pub target_secs: f64,
    /// Part target in seconds (`hls.part_ms` / 1000): parts are as long as
    /// possible without exceeding it, frame timing permitting.
    pub part_secs: f64,
    /// Segments listed in the playlist; at least 1.
    pub window: usize,
    /// Extra segments kept after they leave the playlist.
    pub retain: usize,
    /// The media sequence number of the first segment. A server that starts
    /// each packager of a stream at a number no earlier packager of that
    /// name reached (a clock-derived one) gives every URI one content.
    pub first_msn: u64,
}

impl Default for CmafConfig {
    /// 2 s segments, 200 ms parts, 5 listed, 2 retained, numbered from 0.
    fn default() -> Self {
        CmafConfig {
            target_secs: 2.0,
            part_secs: 0.2,
            window: 5,
            retain: 2,
            first_msn: 0,
        }
    }
}

impl CmafConfig {
    /// The segment target in seconds, positive (NaN, zero or negative
    /// targets become 1 ms: a cut at every keyframe).
    pub fn target(&self) -> f64 {
        if self.target_secs.is_finite() && self.target_secs >= 0.001 {
            self.target_secs
        } else {
            0.001
        }
    }

    /// The part target in seconds, positive and at most the segment target.
    pub fn part(&self) -> f64 {
        let part = if self.part_secs.is_finite() && self.part_secs >= 0.001 {
            self.part_secs
        } else {
            0.001
        };
        part.min(self.target())
    }

    /// The playlist window, at least 1.
    pub fn window(&self) -> usize {
        self.window.max(1)
    }
}

/// One sample (access unit) of one track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmafInput {
    /// The `track_ID` of one of the packager's tracks.
    pub track_id: u32,
    /// Decode time in the track's timescale; every track counts from the
    /// same origin (the stream's timeline).
    pub dts: u64,
    /// Presentation time minus decode time, in the track's timescale
    /// (negative allowed: the `trun` is version 1).
    pub cts_offset: i32,
    /// A sync sample (video keyframe); audio samples are always sync samples.
    pub keyframe: bool,
    /// The sample as MP4 stores it (see [`fmp4::Sample::data`]).
    pub data: Bytes,
}

/// What a [`CmafPackager::push`] (or finish) changed: what to wake blocked
/// requests for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CmafPushed {
    /// `(msn, part index)` of a part that closed (it is now in the playlist
    /// and served).
    pub part_closed: Option<(u64, u64)>,
    /// The msn of a segment that closed.
    pub segment_closed: Option<u64>,
}

impl CmafPushed {
    /// Whether the playlist changed.
    pub fn changed(&self) -> bool {
        self.part_closed.is_some() || self.segment_closed.is_some()
    }
}

/// What can go wrong packaging fMP4.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CmafError {
    /// A sample of a track the packager was not made with.
    #[error("track {0} is not in the init segment")]
    UnknownTrack(u32),
    /// The tracks given to [`CmafPackager::new`] are unusable.
    #[error("invalid tracks: {0}")]
    InvalidTracks(String),
    /// The muxer refused the init segment or a fragment.
    #[error("fmp4: {0}")]
    Mux(#[from] fmp4::Fmp4Error),
}

#[cfg(test)]
mod tests;
