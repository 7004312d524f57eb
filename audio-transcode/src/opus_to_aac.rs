//! Opus (any frame size, mono or stereo) → AAC-LC 48 kHz stereo.

use bytes::Bytes;
use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

use crate::aac_to_opus::check_len;
use crate::pcm::{Pcm, CHANNELS};
use crate::timeline::{Placement, Timeline};
use crate::{frames_to_us, Error, Stats, MAX_BUFFERED_US, OUTPUT_RATE, RESYNC_THRESHOLD_US};

/// Samples per channel in one AAC-LC frame.
pub const AAC_FRAME_FRAMES: usize = 1024;

/// The AudioSpecificConfig of the output: AAC-LC (2), 48 kHz (index 3),
/// channel configuration 2, 1024-sample frames.
const ASC_LC_48K_STEREO: [u8; 2] = [0x11, 0x90];

/// Samples per channel in the longest Opus packet: 120 ms at 48 kHz.
const MAX_OPUS_FRAMES: usize = 5760;

/// Packet-loss concealment comes in steps of 2.5 ms (120 samples at 48 kHz);
/// a gap shorter than one step is timestamp jitter, not a loss.
const PLC_STEP_FRAMES: usize = 120;

/// Largest AAC frame fdk-aac writes (6144 bits per channel), with room.
const MAX_AAC_FRAME: usize = 8192;

/// One raw AAC-LC frame (no ADTS header), 48 kHz stereo, 1024 samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacFrame {
    /// The raw access unit (`raw_data_block`).
    pub data: Bytes,
    /// Presentation time of its first sample (µs).
    pub pts_us: i64,
    /// Its duration (µs): 21 333 or 21 334 (1024 / 48 000 s; the
    /// durations of consecutive frames add up exactly).
    pub duration_us: u32,
}

/// Transcodes one Opus stream (as a WebRTC publisher sends it) to AAC-LC
/// 48 kHz stereo.
///
/// Lost packets: a timestamp gap of 2.5 ms up to [`RESYNC_THRESHOLD_US`] is
/// filled with the Opus decoder's packet-loss concealment (counted in
/// [`Stats::concealed_us`]), so the AAC timeline stays continuous; a larger
/// gap, or a jump back, resyncs the timeline instead (see the crate docs).
pub struct OpusToAac {
    decoder: ropus::Decoder,
    encoder: Encoder,
    pcm: Pcm<i16>,
    timeline: Timeline,
    stats: Stats,
    decoded: Vec<i16>,
    frame: Vec<u8>,
}

impl std::fmt::Debug for OpusToAac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusToAac")
            .field("buffered_frames", &self.pcm.frames())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl OpusToAac {
    /// A transcoder encoding AAC-LC 48 kHz stereo at `bitrate_bps`
    /// (constant bit rate, clamped to 16–320 kbit/s).
    pub fn new(bitrate_bps: u32) -> Result<Self, Error> {
        let decoder =
            ropus::Decoder::new(OUTPUT_RATE, ropus::Channels::Stereo).map_err(|e| Error::Init {
                what: "Opus decoder",
                detail: e.to_string(),
            })?;
        let encoder = Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(bitrate_bps.clamp(16_000, 320_000)),
            sample_rate: OUTPUT_RATE,
            transport: Transport::Raw,
            channels: ChannelMode::Stereo,
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })
        .map_err(|e| Error::Init {
            what: "AAC encoder",
            detail: e.to_string(),
        })?;
        let max_frames =
            usize::try_from(i64::from(OUTPUT_RATE) * MAX_BUFFERED_US / 1_000_000).unwrap_or(48_000);
        Ok(Self {
            decoder,
            encoder,
            pcm: Pcm::new(AAC_FRAME_FRAMES, max_frames),
            timeline: Timeline::new(OUTPUT_RATE, OUTPUT_RATE),
            stats: Stats::default(),
            decoded: vec![0; MAX_OPUS_FRAMES * CHANNELS],
            frame: vec![0; MAX_AAC_FRAME],
        })
    }

    /// The output's AudioSpecificConfig (AAC-LC, 48 kHz, stereo): the body of
    /// FLV's AAC sequence header, the `config=` of an RTSP SDP.
    pub fn audio_specific_config(&self) -> Bytes {
        Bytes::from_static(&ASC_LC_48K_STEREO)
    }

    /// Decodes one Opus packet stamped `pts_us` into the PCM buffer, first
    /// concealing a gap before it (see the type's docs). An error concerns
    /// this packet only; the transcoder stays usable.
    pub fn push(&mut self, opus_packet: &[u8], pts_us: i64) -> Result<(), Error> {
        self.stats.packets_in += 1;
        let result = self.push_inner(opus_packet, pts_us);
        if result.is_err() {
            self.stats.decode_errors += 1;
        }
        result
    }

    fn push_inner(&mut self, packet: &[u8], pts_us: i64) -> Result<(), Error> {
        check_len(packet)?;
        match self.timeline.place(pts_us) {
            Placement::Start => {}
            Placement::Resynced => {
                self.stats.resyncs += 1;
                self.pcm.clear();
            }
            Placement::InLine { gap_us } => self.conceal(gap_us),
        }
        let frames = self
            .decoder
            .decode(packet, &mut self.decoded, ropus::DecodeMode::Normal)
            .map_err(|e| Error::Decode(e.to_string()))?;
        self.add_decoded(frames);
        Ok(())
    }

    /// Fills a gap of `gap_us` (≤ the resync threshold) with concealment.
    fn conceal(&mut self, gap_us: i64) {
        let max_gap = u64::try_from(RESYNC_THRESHOLD_US).unwrap_or(0);
        let Ok(gap_us) = u64::try_from(gap_us) else {
            return;
        };
        let gap_frames = gap_us.min(max_gap) * u64::from(OUTPUT_RATE) / 1_000_000;
        let steps = usize::try_from(gap_frames).unwrap_or(0) / PLC_STEP_FRAMES;
        let frames = (steps * PLC_STEP_FRAMES).min(MAX_OPUS_FRAMES);
        if frames == 0 {
            return;
        }
        let Some(out) = self.decoded.get_mut(..frames * CHANNELS) else {
            return;
        };
        if let Ok(n) = self.decoder.decode(&[], out, ropus::DecodeMode::Normal) {
            self.stats.concealed_us += frames_to_us(n as u64, OUTPUT_RATE).unsigned_abs();
            self.add_decoded(n);
        }
    }

    /// Moves `frames` decoded samples per channel into the PCM buffer.
    fn add_decoded(&mut self, frames: usize) {
        let Some(samples) = self.decoded.get(..frames * CHANNELS) else {
            return;
        };
        self.timeline.add_input(frames as u64);
        let dropped = self.pcm.extend(samples);
        if dropped > 0 {
            self.stats.dropped_packets += dropped;
            self.timeline.take_output(dropped * AAC_FRAME_FRAMES as u64);
        }
    }

    /// Encodes and returns the next AAC frame, if enough PCM is buffered.
    /// The encoder's first frames come after 2048 samples of priming.
    pub fn pop(&mut self) -> Option<AacFrame> {
        loop {
            let pcm = self.pcm.packet()?;
            let info = match self.encoder.encode(pcm, &mut self.frame) {
                Ok(info) => info,
                Err(_) => {
                    self.stats.encode_errors += 1;
                    self.pcm.consume(AAC_FRAME_FRAMES * CHANNELS);
                    self.timeline.take_output(AAC_FRAME_FRAMES as u64);
                    continue;
                }
            };
            if info.input_consumed == 0 && info.output_size == 0 {
                // Cannot happen with a whole frame of input; never spin.
                self.stats.encode_errors += 1;
                self.pcm.consume(AAC_FRAME_FRAMES * CHANNELS);
                continue;
            }
            self.pcm.consume(info.input_consumed);
            if info.output_size > 0 {
                let (pts_us, duration_us) = self.timeline.take_output(AAC_FRAME_FRAMES as u64);
                self.stats.packets_out += 1;
                return Some(AacFrame {
                    data: Bytes::copy_from_slice(self.frame.get(..info.output_size)?),
                    pts_us,
                    duration_us,
                });
            }
        }
    }

    /// PCM buffered and not yet encoded (µs).
    pub fn buffered_us(&self) -> i64 {
        frames_to_us(self.pcm.frames() as u64, OUTPUT_RATE)
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }
}

#[cfg(test)]
#[path = "opus_to_aac_tests.rs"]
mod tests;
