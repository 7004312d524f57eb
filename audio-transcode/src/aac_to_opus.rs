//! AAC-LC (any rate, mono or stereo) → Opus 48 kHz stereo, 20 ms packets.

use bytes::Bytes;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};
use symphonia_codec_aac::AacDecoder;
use symphonia_core::codecs::audio::well_known::CODEC_ID_AAC;
use symphonia_core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia_core::packet::PacketRef;
use symphonia_core::units::{Duration, Timestamp};

use crate::pcm::{Pcm, CHANNELS};
use crate::timeline::{Placement, Timeline};
use crate::{frames_to_us, Error, Stats, MAX_BUFFERED_US, MAX_INPUT_PACKET, OUTPUT_RATE};

/// Samples per channel in one 20 ms Opus packet at 48 kHz.
pub const OPUS_PACKET_FRAMES: usize = 960;

/// Samples per channel in one AAC-LC frame.
const AAC_FRAME: usize = 1024;

/// Longest AudioSpecificConfig accepted (bytes).
const MAX_ASC_LEN: usize = 64;

/// Largest Opus packet produced (bytes): ample for 20 ms at 510 kbit/s.
const MAX_OPUS_PACKET: usize = 1500;

/// One Opus packet for WebRTC's `opus/48000/2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusPacket {
    /// The Opus packet (RFC 6716), one 20 ms frame.
    pub data: Bytes,
    /// Presentation time of its first sample (µs).
    pub pts_us: i64,
    /// Its duration (µs): 20 000.
    pub duration_us: u32,
}

/// Transcodes one AAC-LC stream to Opus 48 kHz stereo in 20 ms packets.
///
/// Mono input is duplicated to both channels; other sample rates are
/// resampled to 48 kHz. See the crate docs for timestamps and bounds.
pub struct AacToOpus {
    decoder: AacDecoder,
    in_rate: u32,
    in_channels: usize,
    resampler: Option<Async<f32>>,
    /// Resampler output still to discard after a (re)start: its delay.
    skip_frames: usize,
    encoder: ropus::Encoder,
    pcm: Pcm<f32>,
    timeline: Timeline,
    stats: Stats,
    interleaved: Vec<f32>,
    resampled: Vec<f32>,
    planes: Vec<Vec<f32>>,
    packet: Vec<u8>,
}

impl std::fmt::Debug for AacToOpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AacToOpus")
            .field("in_rate", &self.in_rate)
            .field("in_channels", &self.in_channels)
            .field("buffered_frames", &self.pcm.frames())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl AacToOpus {
    /// A transcoder for the AAC-LC stream described by `audio_specific_config`
    /// (ISO/IEC 14496-3 1.6.2.1: 1–2 channels, 8–96 kHz), encoding Opus at
    /// `bitrate_bps` (clamped to Opus's 6–510 kbit/s).
    pub fn new(audio_specific_config: &[u8], bitrate_bps: u32) -> Result<Self, Error> {
        if audio_specific_config.len() > MAX_ASC_LEN {
            return Err(Error::UnsupportedConfig(format!(
                "{} bytes, over {MAX_ASC_LEN}",
                audio_specific_config.len()
            )));
        }
        let mut params = AudioCodecParameters::new();
        params.codec = CODEC_ID_AAC;
        params.with_extra_data(audio_specific_config.into());
        let decoder = AacDecoder::try_new(&params, &AudioDecoderOptions::default())
            .map_err(|e| Error::UnsupportedConfig(e.to_string()))?;
        let in_rate = decoder.codec_params().sample_rate.unwrap_or(0);
        let in_channels = decoder
            .codec_params()
            .channels
            .as_ref()
            .map_or(0, |c| c.count());
        if !(8_000..=96_000).contains(&in_rate) || !(1..=2).contains(&in_channels) {
            return Err(Error::UnsupportedConfig(format!(
                "{in_rate} Hz, {in_channels} channels"
            )));
        }
        let resampler = if in_rate == OUTPUT_RATE {
            None
        } else {
            Some(new_resampler(in_rate)?)
        };
        let bitrate = bitrate_bps.clamp(6_000, 510_000);
        let encoder = ropus::Encoder::builder(
            OUTPUT_RATE,
            ropus::Channels::Stereo,
            ropus::Application::Audio,
        )
        .bitrate(ropus::Bitrate::Bits(bitrate))
        .build()
        .map_err(|e| Error::Init {
            what: "Opus encoder",
            detail: e.to_string(),
        })?;
        let max_frames = usize::try_from(i64::from(OUTPUT_RATE) * MAX_BUFFERED_US / 1_000_000)
            .unwrap_or(OUTPUT_RATE as usize);
        let skip_frames = resampler.as_ref().map_or(0, |r| r.output_delay());
        Ok(Self {
            decoder,
            in_rate,
            in_channels,
            resampler,
            skip_frames,
            encoder,
            pcm: Pcm::new(OPUS_PACKET_FRAMES, max_frames),
            timeline: Timeline::new(in_rate, OUTPUT_RATE),
            stats: Stats::default(),
            interleaved: Vec::new(),
            resampled: Vec::new(),
            planes: Vec::new(),
            packet: vec![0; MAX_OPUS_PACKET],
        })
    }

    /// The input's sample rate (Hz), from the AudioSpecificConfig.
    pub fn input_rate(&self) -> u32 {
        self.in_rate
    }

    /// The input's channel count (1 or 2), from the AudioSpecificConfig.
    pub fn input_channels(&self) -> usize {
        self.in_channels
    }

    /// Decodes one raw AAC frame (no ADTS header) stamped `pts_us` into the
    /// PCM buffer. An error concerns this frame only (nothing is added for
    /// it); the transcoder stays usable.
    pub fn push(&mut self, raw_aac_frame: &[u8], pts_us: i64) -> Result<(), Error> {
        self.stats.packets_in += 1;
        let result = self.push_inner(raw_aac_frame, pts_us);
        if result.is_err() {
            self.stats.decode_errors += 1;
        }
        result
    }

    fn push_inner(&mut self, frame: &[u8], pts_us: i64) -> Result<(), Error> {
        check_len(frame)?;
        match self.timeline.place(pts_us) {
            Placement::Start | Placement::InLine { .. } => {}
            Placement::Resynced => {
                self.stats.resyncs += 1;
                self.pcm.clear();
                if let Some(r) = self.resampler.as_mut() {
                    r.reset();
                    self.skip_frames = r.output_delay();
                }
            }
        }
        let packet = PacketRef::new(0, Timestamp::new(0), Duration::new(AAC_FRAME as u64), frame);
        let decoded = self
            .decoder
            .decode_ref(&packet)
            .map_err(|e| Error::Decode(e.to_string()))?;
        let spec = decoded.spec();
        let channels = spec.channels().count();
        if spec.rate() != self.in_rate || channels != self.in_channels {
            return Err(Error::FormatChanged(format!(
                "{} Hz, {channels} channels",
                spec.rate()
            )));
        }
        let frames = decoded.frames();
        if frames != AAC_FRAME {
            return Err(Error::FormatChanged(format!("{frames} samples per frame")));
        }
        decoded.copy_to_vecs_planar::<f32>(&mut self.planes);
        interleave_stereo(&self.planes, frames, &mut self.interleaved);
        self.timeline.add_input(frames as u64);

        let out: &[f32] = match self.resampler.as_mut() {
            None => &self.interleaved,
            Some(r) => {
                let max = r.output_frames_max();
                self.resampled.resize(max * CHANNELS, 0.0);
                let input = InterleavedSlice::new(&self.interleaved[..], CHANNELS, frames)
                    .map_err(|e| Error::Decode(format!("resampler input: {e}")))?;
                let mut output = InterleavedSlice::new_mut(&mut self.resampled[..], CHANNELS, max)
                    .map_err(|e| Error::Decode(format!("resampler output: {e}")))?;
                let (_, written) = r
                    .process_into_buffer(&input, &mut output, None)
                    .map_err(|e| Error::Decode(format!("resampler: {e}")))?;
                let skip = self.skip_frames.min(written);
                self.skip_frames -= skip;
                &self.resampled[skip * CHANNELS..written * CHANNELS]
            }
        };
        let dropped = self.pcm.extend(out);
        if dropped > 0 {
            self.stats.dropped_packets += dropped;
            self.timeline
                .take_output(dropped * OPUS_PACKET_FRAMES as u64);
        }
        Ok(())
    }

    /// Encodes and returns the next 20 ms Opus packet, if 20 ms of PCM is
    /// buffered.
    pub fn pop(&mut self) -> Option<OpusPacket> {
        loop {
            let pcm = self.pcm.packet()?;
            let encoded = self.encoder.encode_float(pcm, &mut self.packet);
            self.pcm.consume(OPUS_PACKET_FRAMES * CHANNELS);
            let (pts_us, duration_us) = self.timeline.take_output(OPUS_PACKET_FRAMES as u64);
            match encoded {
                Ok(len) => {
                    self.stats.packets_out += 1;
                    return Some(OpusPacket {
                        data: Bytes::copy_from_slice(self.packet.get(..len)?),
                        pts_us,
                        duration_us,
                    });
                }
                Err(_) => self.stats.encode_errors += 1,
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

/// Refuses empty and oversized input packets.
pub(crate) fn check_len(packet: &[u8]) -> Result<(), Error> {
    if packet.is_empty() {
        return Err(Error::EmptyPacket);
    }
    if packet.len() > MAX_INPUT_PACKET {
        return Err(Error::PacketTooLarge {
            len: packet.len(),
            max: MAX_INPUT_PACKET,
        });
    }
    Ok(())
}

/// `planes` (1 or 2 channels, `frames` each) as interleaved stereo; mono is
/// duplicated.
fn interleave_stereo(planes: &[Vec<f32>], frames: usize, out: &mut Vec<f32>) {
    out.clear();
    let left = planes.first().map(Vec::as_slice).unwrap_or_default();
    let right = planes.get(1).map_or(left, Vec::as_slice);
    for i in 0..frames {
        let l = left.get(i).copied().unwrap_or(0.0);
        let r = right.get(i).copied().unwrap_or(0.0);
        out.push(l);
        out.push(r);
    }
}

/// A windowed-sinc resampler from `in_rate` to 48 kHz taking one AAC frame
/// (1024 samples per channel) per call.
fn new_resampler(in_rate: u32) -> Result<Async<f32>, Error> {
    let params = SincInterpolationParameters::new(64, WindowFunction::BlackmanHarris2)
        .interpolation(SincInterpolationType::Linear);
    Async::<f32>::new_sinc(
        f64::from(OUTPUT_RATE) / f64::from(in_rate),
        1.0,
        &params,
        AAC_FRAME,
        CHANNELS,
        FixedAsync::Input,
    )
    .map_err(|e| Error::Init {
        what: "resampler",
        detail: e.to_string(),
    })
}

#[cfg(test)]
#[path = "aac_to_opus_tests.rs"]
mod tests;
