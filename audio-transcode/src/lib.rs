//! # audio-transcode
//!
//! AAC-LC ⇄ Opus audio transcoding for WebRTC, sans-IO: bytes and timestamps
//! in, encoded packets out. No IO, no threads, no clocks, no async runtime and
//! no dependency on strom's media model, so it is reusable alone.
//!
//! | type | in | out |
//! |---|---|---|
//! | [`AacToOpus`] | raw AAC-LC frames (any sample rate, 1–2 channels) and their AudioSpecificConfig | Opus 48 kHz stereo, 20 ms packets (WebRTC's `opus/48000/2`) |
//! | [`OpusToAac`] | Opus packets of any frame size, mono or stereo (as WebRTC sends them) | raw AAC-LC 48 kHz stereo frames of 1024 samples, no ADTS |
//!
//! Codecs: AAC decoding with `symphonia-codec-aac` (pure Rust), Opus with
//! `ropus` (pure-Rust port of libopus), AAC encoding with `fdk-aac` (its C
//! source is bundled and built with `cc`), resampling to 48 kHz with
//! `rubato`'s windowed-sinc resampler.
//!
//! Conventions shared by both directions:
//!
//! - **Push, then pop.** [`AacToOpus::push`] / [`OpusToAac::push`] decode
//!   one input packet into an internal PCM buffer; `pop` encodes and returns
//!   one output packet at a time while enough PCM is buffered. Encoding
//!   happens in `pop`, so a caller that stops popping costs no encoder time.
//! - **Timestamps** (microseconds) follow the input: the first output packet
//!   carries the first input packet's timestamp, later ones advance by their
//!   sample count, so they are continuous and strictly increasing. When an
//!   input timestamp strays more than [`RESYNC_THRESHOLD_US`] from where the
//!   sample count says it should be (a gap, a jump back, a publisher that
//!   restarted, or accumulated clock drift), the output timeline resyncs to
//!   it and buffered partial PCM is dropped ([`Stats::resyncs`]). The codecs'
//!   own delays (AAC ≈ 2048 samples, Opus 6.5 ms) are not subtracted: the
//!   audio comes out that much late relative to its timestamps.
//! - **Bounded.** At most [`MAX_BUFFERED_US`] (1 s) of PCM is held; beyond
//!   it the oldest whole output packets' worth is dropped and counted
//!   ([`Stats::dropped_packets`]). Input packets over [`MAX_INPUT_PACKET`]
//!   bytes are refused.
//! - **Bad input** is an [`Error`] for that packet only; the transcoder
//!   stays usable. No input bytes make it panic.
//!
//! ```
//! use audio_transcode::{AacToOpus, OpusToAac};
//!
//! // An RTMP publisher's AAC-LC, 44.1 kHz stereo (AudioSpecificConfig 0x12 0x10),
//! // for WebRTC viewers.
//! let mut to_opus = AacToOpus::new(&[0x12, 0x10], 64_000)?;
//! # let frames_from_rtmp: Vec<(Vec<u8>, i64)> = Vec::new();
//! for (raw_aac, pts_us) in &frames_from_rtmp {
//!     if let Err(e) = to_opus.push(raw_aac, *pts_us) {
//!         eprintln!("bad AAC frame skipped: {e}"); // the next one decodes as usual
//!     }
//!     while let Some(packet) = to_opus.pop() {
//!         assert_eq!(packet.duration_us, 20_000);
//!         // send packet.data, stamped packet.pts_us, on the Opus track
//!     }
//! }
//!
//! // The other way: a WHIP publisher's Opus, to AAC for RTMP, HLS and RTSP.
//! let to_aac = OpusToAac::new(128_000)?;
//! assert_eq!(&to_aac.audio_specific_config()[..], &[0x11, 0x90]);
//! # Ok::<(), audio_transcode::Error>(())
//! ```
#![warn(missing_docs)]

mod aac_to_opus;
#[doc(hidden)]
pub mod fuzzing;
mod opus_to_aac;
mod pcm;
mod timeline;

#[cfg(test)]
mod proptest_tests;
#[cfg(test)]
mod test_support;

pub use aac_to_opus::{AacToOpus, OpusPacket, OPUS_PACKET_FRAMES};
pub use opus_to_aac::{AacFrame, OpusToAac, AAC_FRAME_FRAMES};

/// The output sample rate of Opus and of the AAC that [`OpusToAac`] makes.
pub const OUTPUT_RATE: u32 = 48_000;

/// An input timestamp this far (µs) from where the sample count puts it
/// resyncs the output timeline.
pub const RESYNC_THRESHOLD_US: i64 = 100_000;

/// At most this much PCM (µs) is buffered between `push` and `pop`.
pub const MAX_BUFFERED_US: i64 = 1_000_000;

/// Input packets longer than this (bytes) are refused with
/// [`Error::PacketTooLarge`]. A raw AAC-LC frame is at most 768 bytes per
/// channel; an Opus packet in RTP stays under the path MTU.
pub const MAX_INPUT_PACKET: usize = 8 * 1024;

/// What went wrong. Errors from `push` concern that packet only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The AudioSpecificConfig is malformed or not AAC-LC with 1–2 channels
    /// at a supported sample rate.
    #[error("unsupported AudioSpecificConfig: {0}")]
    UnsupportedConfig(String),
    /// An input packet is longer than [`MAX_INPUT_PACKET`].
    #[error("input packet of {len} bytes exceeds the limit of {max}")]
    PacketTooLarge {
        /// The packet's length.
        len: usize,
        /// [`MAX_INPUT_PACKET`].
        max: usize,
    },
    /// An input packet is empty.
    #[error("empty input packet")]
    EmptyPacket,
    /// The decoder refused an input packet.
    #[error("decode error: {0}")]
    Decode(String),
    /// The decoder returned a sample rate or channel count other than the
    /// configuration's.
    #[error("decoded audio changed format: {0}")]
    FormatChanged(String),
    /// An encoder or resampler could not be created with these parameters.
    #[error("cannot create the {what}: {detail}")]
    Init {
        /// Which component.
        what: &'static str,
        /// Its error.
        detail: String,
    },
}

/// Counters of one transcoder; they only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Input packets passed to `push`.
    pub packets_in: u64,
    /// Output packets returned by `pop`.
    pub packets_out: u64,
    /// Input packets refused (too large, empty, or not decodable).
    pub decode_errors: u64,
    /// Output packets whose encoding failed (their PCM is dropped).
    pub encode_errors: u64,
    /// Output packets' worth of PCM dropped because more than
    /// [`MAX_BUFFERED_US`] was buffered.
    pub dropped_packets: u64,
    /// Times the output timeline was resynced to an input timestamp.
    pub resyncs: u64,
    /// Audio synthesised by packet-loss concealment (µs; [`OpusToAac`] only).
    pub concealed_us: u64,
}

/// Microseconds spanned by `frames` samples at `rate` Hz (floor).
fn frames_to_us(frames: u64, rate: u32) -> i64 {
    let us = u128::from(frames) * 1_000_000 / u128::from(rate.max(1));
    i64::try_from(us).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    /// The server moves transcoders to a worker thread of their own.
    #[test]
    fn transcoders_are_send() {
        fn send<T: Send>() {}
        send::<crate::AacToOpus>();
        send::<crate::OpusToAac>();
    }
}
