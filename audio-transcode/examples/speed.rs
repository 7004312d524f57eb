//! How many times faster than real time each direction transcodes, on one
//! core: `cargo run --release -p audio-transcode --example speed [SECONDS]`.
//!
//! The input is a mix of tones and noise (so the encoders cannot coast on
//! silence), encoded once up front; only the transcoding is timed.

use std::time::Instant;

use audio_transcode::{AacToOpus, OpusToAac};
use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let secs: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20);
    for rate in [44_100, 48_000] {
        let (asc, frames) = aac_input(rate, secs)?;
        let mut t = AacToOpus::new(&asc, 64_000)?;
        let start = Instant::now();
        let mut out = 0;
        for (i, f) in frames.iter().enumerate() {
            t.push(f, (i as i64 * 1024 * 1_000_000) / i64::from(rate))?;
            while t.pop().is_some() {
                out += 1;
            }
        }
        report(
            &format!("AAC {rate} Hz stereo -> Opus 48 kHz stereo"),
            secs,
            start,
            out,
        );
    }
    let packets = opus_input(secs)?;
    let mut t = OpusToAac::new(128_000)?;
    let start = Instant::now();
    let mut out = 0;
    for (i, p) in packets.iter().enumerate() {
        t.push(p, i as i64 * 20_000)?;
        while t.pop().is_some() {
            out += 1;
        }
    }
    report("Opus 48 kHz stereo -> AAC 48 kHz stereo", secs, start, out);
    Ok(())
}

fn report(what: &str, secs: usize, start: Instant, packets: usize) {
    let took = start.elapsed().as_secs_f64();
    println!(
        "{what}: {secs} s of audio in {:.3} s = {:.0}x real time ({packets} packets out)",
        took,
        secs as f64 / took
    );
}

/// Stereo PCM: two tones per channel plus a little pseudo-random noise.
fn pcm(rate: u32, secs: usize) -> Vec<i16> {
    let mut seed = 0x1234_5678u32;
    let mut out = Vec::new();
    for i in 0..rate as usize * secs {
        let t = i as f64 / f64::from(rate);
        for (f1, f2) in [(440.0, 1320.0), (660.0, 2500.0)] {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = f64::from(seed >> 16) / 65536.0 - 0.5;
            let v = 0.3 * (std::f64::consts::TAU * f1 * t).sin()
                + 0.2 * (std::f64::consts::TAU * f2 * t).sin()
                + 0.05 * noise;
            out.push((v * 32767.0) as i16);
        }
    }
    out
}

fn aac_input(rate: u32, secs: usize) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let enc = Encoder::new(EncoderParams {
        bit_rate: BitRate::Cbr(128_000),
        sample_rate: rate,
        transport: Transport::Raw,
        channels: ChannelMode::Stereo,
        audio_object_type: AudioObjectType::Mpeg4LowComplexity,
    })
    .map_err(|e| e.to_string())?;
    let info = enc.info().map_err(|e| e.to_string())?;
    let asc = info.confBuf[..info.confSize as usize].to_vec();
    let mut frames = Vec::new();
    let mut buf = vec![0u8; 8192];
    for chunk in pcm(rate, secs).chunks_exact(2048) {
        let r = enc.encode(chunk, &mut buf).map_err(|e| e.to_string())?;
        if r.output_size > 0 {
            frames.push(buf[..r.output_size].to_vec());
        }
    }
    Ok((asc, frames))
}

fn opus_input(secs: usize) -> Result<Vec<Vec<u8>>> {
    let mut enc =
        ropus::Encoder::builder(48_000, ropus::Channels::Stereo, ropus::Application::Audio)
            .bitrate(ropus::Bitrate::Bits(64_000))
            .build()?;
    let mut buf = vec![0u8; 1500];
    pcm(48_000, secs)
        .chunks_exact(1920)
        .map(|c| {
            let n = enc.encode(c, &mut buf)?;
            Ok(buf[..n].to_vec())
        })
        .collect()
}
