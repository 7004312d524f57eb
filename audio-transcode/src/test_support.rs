//! Test helpers: test tones, reference encoders and decoders, and a tone
//! detector (Goertzel).

use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};
use symphonia_codec_aac::AacDecoder;
use symphonia_core::codecs::audio::well_known::CODEC_ID_AAC;
use symphonia_core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia_core::packet::PacketRef;
use symphonia_core::units::{Duration, Timestamp};

/// `frames` samples per channel of a `freq` Hz sine at amplitude `amp`
/// (0..1 of full scale), interleaved over `channels` (all channels equal).
pub fn sine(rate: u32, channels: usize, freq: f64, amp: f64, frames: usize) -> Vec<i16> {
    let mut out = Vec::with_capacity(frames * channels);
    for i in 0..frames {
        let t = i as f64 / f64::from(rate);
        let v = (amp * 32767.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16;
        out.extend(std::iter::repeat_n(v, channels));
    }
    out
}

/// AAC-LC with fdk-aac: the AudioSpecificConfig and the raw frames.
pub fn aac_encode(rate: u32, channels: usize, pcm: &[i16]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let encoder = Encoder::new(EncoderParams {
        bit_rate: BitRate::Cbr(64_000 * channels as u32),
        sample_rate: rate,
        transport: Transport::Raw,
        channels: if channels == 1 {
            ChannelMode::Mono
        } else {
            ChannelMode::Stereo
        },
        audio_object_type: AudioObjectType::Mpeg4LowComplexity,
    })
    .unwrap();
    let info = encoder.info().unwrap();
    let asc = info.confBuf[..info.confSize as usize].to_vec();
    let mut frames = Vec::new();
    let mut out = vec![0u8; 8192];
    for chunk in pcm.chunks_exact(1024 * channels) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let r = encoder.encode(rest, &mut out).unwrap();
            rest = &rest[r.input_consumed..];
            if r.output_size > 0 {
                frames.push(out[..r.output_size].to_vec());
            }
            if r.input_consumed == 0 && r.output_size == 0 {
                break;
            }
        }
    }
    (asc, frames)
}

/// Opus packets of `frame` samples per channel (48 kHz) with ropus.
pub fn opus_encode(channels: usize, pcm: &[i16], frame: usize) -> Vec<Vec<u8>> {
    let ch = if channels == 1 {
        ropus::Channels::Mono
    } else {
        ropus::Channels::Stereo
    };
    let mut enc = ropus::Encoder::builder(48_000, ch, ropus::Application::Audio)
        .bitrate(ropus::Bitrate::Bits(64_000))
        .build()
        .unwrap();
    let mut out = vec![0u8; 1500];
    pcm.chunks_exact(frame * channels)
        .map(|c| {
            let n = enc.encode(c, &mut out).unwrap();
            out[..n].to_vec()
        })
        .collect()
}

/// Opus packets decoded to 48 kHz stereo, interleaved.
pub fn opus_decode<'a>(packets: impl IntoIterator<Item = &'a [u8]>) -> Vec<i16> {
    let mut dec = ropus::Decoder::new(48_000, ropus::Channels::Stereo).unwrap();
    let mut buf = vec![0i16; 5760 * 2];
    let mut out = Vec::new();
    for p in packets {
        let n = dec.decode(p, &mut buf, ropus::DecodeMode::Normal).unwrap();
        out.extend_from_slice(&buf[..n * 2]);
    }
    out
}

/// Raw AAC frames decoded with symphonia: (rate, channels, interleaved).
pub fn aac_decode<'a>(
    asc: &[u8],
    frames: impl IntoIterator<Item = &'a [u8]>,
) -> (u32, usize, Vec<f32>) {
    let mut params = AudioCodecParameters::new();
    params.codec = CODEC_ID_AAC;
    params.with_extra_data(asc.into());
    let mut dec = AacDecoder::try_new(&params, &AudioDecoderOptions::default()).unwrap();
    let rate = dec.codec_params().sample_rate.unwrap();
    let channels = dec.codec_params().channels.as_ref().unwrap().count();
    let mut out = Vec::new();
    let mut tmp = Vec::new();
    for f in frames {
        let p = PacketRef::new(0, Timestamp::new(0), Duration::new(1024), f);
        dec.decode_ref(&p)
            .unwrap()
            .copy_to_vec_interleaved::<f32>(&mut tmp);
        out.extend_from_slice(&tmp);
    }
    (rate, channels, out)
}

/// Channel `ch` of interleaved samples, as floats of full scale 1.0.
pub fn channel<T: Copy + Into<f64>>(
    interleaved: &[T],
    channels: usize,
    ch: usize,
    scale: f64,
) -> Vec<f64> {
    interleaved
        .chunks_exact(channels)
        .map(|f| f[ch].into() / scale)
        .collect()
}

/// Goertzel power of `freq` Hz in `x` (normalised by length²).
pub fn goertzel(x: &[f64], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let p = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    p / (x.len() as f64).powi(2)
}

/// Root mean square.
pub fn rms(x: &[f64]) -> f64 {
    (x.iter().map(|v| v * v).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Asserts that a 1 kHz tone of RMS `expected_rms` dominates `x`: its
/// Goertzel power is at least 100× (20 dB) that at 500, 750, 1250, 1500,
/// 2000 and 3000 Hz, and the RMS is within 25% of `expected_rms`.
pub fn assert_tone_1k(x: &[f64], rate: u32, expected_rms: f64) {
    let p1k = goertzel(x, rate, 1000.0);
    for f in [500.0, 750.0, 1250.0, 1500.0, 2000.0, 3000.0] {
        let p = goertzel(x, rate, f);
        assert!(p1k > 100.0 * p, "1 kHz power {p1k} vs {f} Hz {p}");
    }
    let level = rms(x);
    assert!(
        (level - expected_rms).abs() < 0.25 * expected_rms,
        "rms {level}, expected {expected_rms}"
    );
}
