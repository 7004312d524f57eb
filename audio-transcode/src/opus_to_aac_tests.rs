//! OpusToAac: real Opus from ropus, AAC decoded back with symphonia.

use super::*;
use crate::test_support::*;

/// `secs` of a 1 kHz sine at amplitude 0.5 as Opus packets of `frame`
/// samples with their timestamps (µs) from `start_us`.
fn opus_tone(channels: usize, frame: usize, secs: f64, start_us: i64) -> Vec<(Vec<u8>, i64)> {
    let pcm = sine(48_000, channels, 1000.0, 0.5, (48_000.0 * secs) as usize);
    opus_encode(channels, &pcm, frame)
        .into_iter()
        .enumerate()
        .map(|(i, p)| (p, start_us + i as i64 * frame as i64 * 1_000_000 / 48_000))
        .collect()
}

fn run(t: &mut OpusToAac, packets: &[(Vec<u8>, i64)]) -> Vec<AacFrame> {
    let mut out = Vec::new();
    for (p, pts) in packets {
        t.push(p, *pts).unwrap();
        out.extend(std::iter::from_fn(|| t.pop()));
    }
    out
}

/// Each frame starts where the previous one ended; 1024 samples each.
fn assert_continuous(frames: &[AacFrame]) {
    for w in frames.windows(2) {
        assert!(matches!(w[0].duration_us, 21_333 | 21_334));
        assert_eq!(w[1].pts_us, w[0].pts_us + i64::from(w[0].duration_us));
    }
}

/// The AAC decoded with symphonia, past 200 ms of warm-up, is the tone on both channels.
fn assert_tone_both_channels(t: &OpusToAac, frames: &[AacFrame]) {
    let (rate, channels, pcm) = aac_decode(
        &t.audio_specific_config(),
        frames.iter().map(|f| &f.data[..]),
    );
    assert_eq!((rate, channels), (48_000, 2));
    let steady = &pcm[2 * 9600..];
    for ch in 0..2 {
        assert_tone_1k(&channel(steady, 2, ch, 1.0), 48_000, 0.5 / 2f64.sqrt());
    }
}

#[test]
fn opus_stereo_20ms_survives_as_aac_48k_stereo() {
    let packets = opus_tone(2, 960, 1.0, 7_000_000);
    let mut t = OpusToAac::new(128_000).unwrap();
    let frames = run(&mut t, &packets);
    assert_eq!(
        frames[0].pts_us, 7_000_000,
        "first pts is the first input pts"
    );
    assert_continuous(&frames);
    // 48000 samples in, 1024 per frame: all whole frames but the encoder's priming.
    assert!((44..=46).contains(&frames.len()), "{} frames", frames.len());
    assert_tone_both_channels(&t, &frames);
    let s = t.stats();
    assert_eq!((s.packets_in, s.packets_out), (50, frames.len() as u64));
    assert_eq!((s.decode_errors, s.resyncs, s.concealed_us), (0, 0, 0));
}

#[test]
fn opus_mono_10ms_and_60ms_packets_become_stereo_aac() {
    for frame in [480, 2880] {
        let packets = opus_tone(1, frame, 1.2, 0);
        let mut t = OpusToAac::new(96_000).unwrap();
        let frames = run(&mut t, &packets);
        assert_eq!(frames[0].pts_us, 0);
        assert_continuous(&frames);
        assert_tone_both_channels(&t, &frames);
    }
}

#[test]
fn lost_packets_are_concealed_and_the_timeline_continues() {
    let packets = opus_tone(2, 960, 1.0, 0);
    let mut t = OpusToAac::new(128_000).unwrap();
    // Packets 20 and 21 are lost (40 ms).
    let kept: Vec<_> = packets
        .iter()
        .enumerate()
        .filter(|(i, _)| !(20..22).contains(i))
        .map(|(_, p)| p.clone())
        .collect();
    let frames = run(&mut t, &kept);
    let s = t.stats();
    assert_eq!((s.concealed_us, s.resyncs), (40_000, 0));
    assert_continuous(&frames);
    // As many samples came out as a lossless run gives.
    let mut lossless = OpusToAac::new(128_000).unwrap();
    assert_eq!(frames.len(), run(&mut lossless, &packets).len());
    // The tone is back after the loss.
    let (_, _, pcm) = aac_decode(
        &t.audio_specific_config(),
        frames[30..].iter().map(|f| &f.data[..]),
    );
    assert_tone_1k(&channel(&pcm, 2, 0, 1.0), 48_000, 0.5 / 2f64.sqrt());
}

#[test]
fn a_gap_over_100ms_or_a_jump_back_resyncs() {
    let packets = opus_tone(2, 960, 1.0, 0);
    let mut t = OpusToAac::new(128_000).unwrap();
    run(&mut t, &packets[..25]);
    let later: Vec<_> = packets[25..]
        .iter()
        .map(|(p, pts)| (p.clone(), pts + 500_000))
        .collect();
    let frames = run(&mut t, &later);
    assert_eq!((t.stats().resyncs, t.stats().concealed_us), (1, 0));
    assert_eq!(frames[0].pts_us, later[0].1);
    assert_continuous(&frames);
    run(&mut t, &[(packets[0].0.clone(), 0)]);
    assert_eq!(t.stats().resyncs, 2);
}

#[test]
fn bad_packets_are_errors_for_themselves_only() {
    let packets = opus_tone(2, 960, 1.0, 0);
    let mut t = OpusToAac::new(128_000).unwrap();
    let mut frames = Vec::new();
    for (i, (p, pts)) in packets.iter().enumerate() {
        if i == 10 {
            // A code-3 packet (TOC 0x03) announcing 63 frames with no data.
            assert!(t.push(&[0x03, 0x3f], *pts).is_err());
            assert_eq!(t.push(&[], *pts), Err(Error::EmptyPacket));
        }
        t.push(p, *pts).unwrap();
        frames.extend(std::iter::from_fn(|| t.pop()));
    }
    assert_eq!(t.stats().decode_errors, 2);
    assert_continuous(&frames);
    assert_tone_both_channels(&t, &frames);
}

#[test]
fn the_audio_specific_config_is_fdk_aacs() {
    let t = OpusToAac::new(128_000).unwrap();
    let info = t.encoder.info().unwrap();
    assert_eq!(
        &t.audio_specific_config()[..],
        &info.confBuf[..info.confSize as usize]
    );
}
