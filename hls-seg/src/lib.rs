//! # hls-seg
//!
//! strom's HLS packaging, with no IO: bytes and timestamps in, bytes and
//! text out. No sockets, clocks or threads; time is the frames' DTS.
//!
//! | module / type | what | spec |
//! |---|---|---|
//! | [`TsMuxer`] | frames → 188-byte transport packets: PAT/PMT, PES with 33-bit PTS/DTS, PCR, continuity counters, stuffing | ISO/IEC 13818-1 |
//! | [`ts`] | one wire structure per file: [`ts::packet`], [`ts::adaptation`], [`ts::section`], [`ts::pat`], [`ts::pmt`], [`ts::pes`], [`ts::crc`] | ISO/IEC 13818-1 2.4.3, 2.4.4, Annex A |
//! | [`es`] | ADTS headers from an AudioSpecificConfig; Annex-B access units with AUD and parameter sets | ISO/IEC 14496-3 1.A.2, H.264/H.265 Annex B |
//! | [`Packager`] | keyframe-aligned segments with exact durations, sliding window, retained segments, discontinuities | RFC 8216 §3, §6.2 |
//! | [`playlist`] | the live media playlist, a pure function of segments and [`PlaylistState`] | RFC 8216 §4.3 |
//! | [`m3u8`] | reading master and media playlists (bounded), following a live playlist: segments to fetch, reload times | RFC 8216 §4, §6.3 |
//! | [`cmaf`] | fMP4 (CMAF) segments and Low-Latency HLS: [`cmaf::CmafPackager`] cuts parts and keyframe-aligned segments (`moof`+`mdat` from the `fmp4` crate), the LL-HLS playlist, blocking-reload and preload-hint answers | RFC 8216bis §4.4, §6.2.5 |
//! | [`TsDemuxer`] | transport stream → frames: resync, CRC-checked PAT/PMT, bounded PES reassembly, continuity errors counted | ISO/IEC 13818-1 |
//!
//! Conventions:
//!
//! - **Output in one piece.** [`TsMuxer::mux`] writes a frame's packets into
//!   one buffer (one allocation) and hands out [`bytes::Bytes`]; a closed
//!   [`Segment`] is one `Bytes`, concatenated once when it closes.
//! - **Bounded.** The packager keeps `window + retain` closed segments and
//!   cuts an open one at 4 × the target or 64 MiB; the demuxer buffers at
//!   most one PES of 16 MiB per stream and 16 streams.
//! - **Never panics on input.** The demuxer takes arbitrary bytes (fuzz
//!   target `ts_demux`); broken input is counted and skipped.
//! - **Errors in tiers**: [`MuxError::kind`] and [`DemuxError::kind`] say
//!   malformed, limit exceeded, unsupported or caller misuse.
//!
//! Package a stream and serve it:
//!
//! ```
//! use bytes::Bytes;
//! use hls_seg::{AudioCodec, MuxInput, MuxerConfig, Packager, SegmenterConfig, VideoCodec};
//!
//! let mut packager = Packager::new(
//!     MuxerConfig {
//!         video: Some(VideoCodec::H264),
//!         // AAC LC, 48 kHz, stereo.
//!         audio: Some(AudioCodec::Aac { config: Bytes::from_static(&[0x11, 0x90]) }),
//!     },
//!     SegmenterConfig { target_secs: 2.0, window: 5, retain: 2 },
//! );
//! let sps_pps = [Bytes::from_static(&[0x67, 0x42, 0xC0, 0x1E]), Bytes::from_static(&[0x68, 0xCE, 0x3C, 0x80])];
//! let idr = [Bytes::from_static(&[0x65, 0x88, 0x84, 0x00])];
//! let p_slice = [Bytes::from_static(&[0x41, 0x9A, 0x02])];
//! let aac = Bytes::from_static(&[0x21, 0x10, 0x05]);
//!
//! // 5 s at 25 fps, a keyframe every second, one AAC frame per video frame.
//! for i in 0..125u64 {
//!     let dts = i * 3_600; // 90 kHz ticks
//!     let keyframe = i % 25 == 0;
//!     let nalus = if keyframe { &idr[..] } else { &p_slice[..] };
//!     let video = MuxInput::Video { pts: dts, dts, keyframe, nalus, parameter_sets: &sps_pps };
//!     let pushed = packager.push(video)?;
//!     // `pushed.ts` goes to HTTP-TS viewers; `pushed.closed` names a new segment.
//!     assert_eq!(pushed.closed.is_some(), keyframe && i > 0 && i % 50 == 0);
//!     packager.push(MuxInput::Audio { pts: dts, data: &aac })?;
//! }
//! packager.finish();
//!
//! let playlist = packager.playlist();
//! assert!(playlist.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"));
//! assert!(playlist.contains("#EXTINF:2.000,\n0.ts\n#EXTINF:2.000,\n1.ts\n#EXTINF:1.000,\n2.ts\n"));
//! assert!(playlist.ends_with("#EXT-X-ENDLIST\n"));
//! // GET /app/stream/1.ts
//! let segment = packager.segment(1).expect("held");
//! assert_eq!(segment.data[0], 0x47);
//! # Ok::<(), hls_seg::MuxError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cmaf;
pub mod demux;
pub mod error;
pub mod es;
pub mod m3u8;
pub mod packager;
pub mod playlist;
pub mod segment;
pub mod ts;

pub use demux::{DemuxedFrame, ProgramInfo, StreamInfo, TsDemuxer};
pub use error::{DemuxError, ErrorKind, MuxError};
pub use packager::{Packager, Pushed};
pub use playlist::PlaylistState;
pub use segment::{Segment, SegmenterConfig};
pub use ts::muxer::{AudioCodec, MuxInput, MuxerConfig, TsMuxer, VideoCodec};
