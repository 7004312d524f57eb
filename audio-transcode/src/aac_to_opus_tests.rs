//! AacToOpus: real AAC from fdk-aac, Opus decoded back with ropus.

use super::*;
use crate::test_support::*;

/// `secs` of a 1 kHz sine at amplitude 0.5 as AAC-LC frames with their
/// timestamps (µs) from `start_us`.
fn aac_tone(
    rate: u32,
    channels: usize,
    secs: f64,
    start_us: i64,
) -> (Vec<u8>, Vec<(Vec<u8>, i64)>) {
    let pcm = sine(
        rate,
        channels,
        1000.0,
        0.5,
        (f64::from(rate) * secs) as usize,
    );
    let (asc, frames) = aac_encode(rate, channels, &pcm);
    let stamped = frames
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            (
                f,
                start_us + (i as i64 * 1024 * 1_000_000) / i64::from(rate),
            )
        })
        .collect();
    (asc, stamped)
}

fn run(t: &mut AacToOpus, frames: &[(Vec<u8>, i64)]) -> Vec<OpusPacket> {
    let mut out = Vec::new();
    for (f, pts) in frames {
        t.push(f, *pts).unwrap();
        out.extend(std::iter::from_fn(|| t.pop()));
    }
    out
}

/// Every packet lasts 20 ms and starts where the previous one ended.
fn assert_continuous(packets: &[OpusPacket]) {
    for w in packets.windows(2) {
        assert_eq!(w[0].duration_us, 20_000);
        assert_eq!(
            w[1].pts_us,
            w[0].pts_us + 20_000,
            "{:?}",
            (w[0].pts_us, w[1].pts_us)
        );
    }
}

/// The decoded Opus of `packets`, without the first 200 ms (codec warm-up),
/// carries the 1 kHz tone at amplitude 0.5 on both channels.
fn assert_tone_both_channels(packets: &[OpusPacket]) {
    let pcm = opus_decode(packets.iter().map(|p| &p.data[..]));
    let steady = &pcm[2 * 9600..];
    for ch in 0..2 {
        assert_tone_1k(&channel(steady, 2, ch, 32768.0), 48_000, 0.5 / 2f64.sqrt());
    }
}

#[test]
fn sine_44k1_stereo_survives_as_opus_48k_stereo() {
    let (asc, frames) = aac_tone(44_100, 2, 1.0, 1_000_000);
    let mut t = AacToOpus::new(&asc, 96_000).unwrap();
    assert_eq!((t.input_rate(), t.input_channels()), (44_100, 2));
    let packets = run(&mut t, &frames);
    assert_eq!(
        packets[0].pts_us, 1_000_000,
        "first pts is the first input pts"
    );
    assert_continuous(&packets);
    // 1024 × frames at 44.1 kHz, in 20 ms packets, minus the resampler's trimmed delay.
    let input_us = frames.len() as i64 * 1024 * 1_000_000 / 44_100;
    assert!(
        (input_us / 20_000 - packets.len() as i64).abs() <= 1,
        "{} packets",
        packets.len()
    );
    assert_tone_both_channels(&packets);
    let s = t.stats();
    assert_eq!(
        (s.packets_in, s.packets_out),
        (frames.len() as u64, packets.len() as u64)
    );
    assert_eq!((s.decode_errors, s.dropped_packets, s.resyncs), (0, 0, 0));
}

#[test]
fn sine_48k_mono_is_duplicated_to_both_channels() {
    let (asc, frames) = aac_tone(48_000, 1, 1.0, 0);
    let mut t = AacToOpus::new(&asc, 64_000).unwrap();
    let packets = run(&mut t, &frames);
    assert_eq!(packets.len(), frames.len() * 1024 / 960);
    assert_eq!(packets[0].pts_us, 0);
    assert_continuous(&packets);
    assert_tone_both_channels(&packets);
}

#[test]
fn a_pts_jump_resyncs_and_drops_the_partial_packet() {
    let (asc, frames) = aac_tone(48_000, 2, 0.5, 0);
    let mut t = AacToOpus::new(&asc, 64_000).unwrap();
    // 10 frames = 10240 samples = 10 packets + 640 samples left over.
    let first = run(&mut t, &frames[..10]);
    assert_eq!(first.len(), 10);
    assert_eq!(t.buffered_us(), 640 * 1_000_000 / 48_000);
    // The publisher restarts 5 s later; the leftover is dropped.
    let later: Vec<_> = frames[10..]
        .iter()
        .map(|(f, p)| (f.clone(), p + 5_000_000))
        .collect();
    let second = run(&mut t, &later);
    assert_eq!(t.stats().resyncs, 1);
    assert_eq!(second[0].pts_us, later[0].1);
    assert_continuous(&second);
    // Backwards too, below the first timestamps.
    let back = run(&mut t, &[(frames[0].0.clone(), -3_000_000)]);
    assert_eq!(t.stats().resyncs, 2);
    assert_eq!(back[0].pts_us, -3_000_000);
    // Jitter under the threshold is absorbed: no resync, packets stay on the sample grid.
    let mut t = AacToOpus::new(&asc, 64_000).unwrap();
    let jittered: Vec<_> = frames
        .iter()
        .enumerate()
        .map(|(i, (f, p))| (f.clone(), p + if i % 2 == 0 { 40_000 } else { -40_000 }))
        .collect();
    let packets = run(&mut t, &jittered);
    assert_eq!(t.stats().resyncs, 0);
    assert_continuous(&packets);
}

#[test]
fn a_bad_frame_is_an_error_for_itself_only() {
    let (asc, frames) = aac_tone(44_100, 2, 1.0, 0);
    let mut t = AacToOpus::new(&asc, 64_000).unwrap();
    let mut packets = Vec::new();
    for (i, (f, pts)) in frames.iter().enumerate() {
        if i == 5 {
            assert!(
                t.push(&[0x40; 40], *pts).is_err(),
                "a coupling channel element"
            );
            assert_eq!(t.push(&[], *pts), Err(Error::EmptyPacket));
            assert!(matches!(
                t.push(&[0; MAX_INPUT_PACKET + 1], *pts),
                Err(Error::PacketTooLarge { .. })
            ));
            continue;
        }
        t.push(f, *pts).unwrap();
        packets.extend(std::iter::from_fn(|| t.pop()));
    }
    assert_eq!(t.stats().decode_errors, 3);
    assert_continuous(&packets);
    assert_tone_both_channels(&packets);
}

#[test]
fn without_pops_at_most_one_second_is_buffered() {
    let (asc, frames) = aac_tone(48_000, 2, 3.0, 0);
    let mut t = AacToOpus::new(&asc, 64_000).unwrap();
    for (f, pts) in &frames {
        t.push(f, *pts).unwrap();
        assert!(t.buffered_us() <= MAX_BUFFERED_US);
    }
    let dropped = t.stats().dropped_packets;
    assert!(dropped > 90, "{dropped}");
    let packets: Vec<_> = std::iter::from_fn(|| t.pop()).collect();
    assert!((49..=50).contains(&packets.len()), "{}", packets.len());
    // What is left is the newest audio, at its own timestamps.
    assert_eq!(packets[0].pts_us, dropped as i64 * 20_000);
    assert_continuous(&packets);
}

#[test]
fn unsupported_configs_are_refused() {
    for asc in [
        &[][..],
        &[0x12],
        &[0x2b, 0x92, 0x08, 0x00], // HE-AAC (AOT 5)
        &[0x11, 0xb0],             // AAC-LC 48 kHz, 6 channels
        &[0x11, 0x80],             // channel configuration 0 (PCE)
        &[0xff; 8],
        &[0x12; 65],
    ] {
        assert!(
            matches!(
                AacToOpus::new(asc, 64_000),
                Err(Error::UnsupportedConfig(_))
            ),
            "{asc:02x?}"
        );
    }
}
