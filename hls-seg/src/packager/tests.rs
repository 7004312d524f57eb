//! Segmenter and playlist behaviour over synthetic streams.

use bytes::Bytes;

use super::*;
use crate::ts::muxer::{AudioCodec, VideoCodec};
use crate::TsDemuxer;

const FPS25: u64 = 3_600;
const AAC_FRAME: u64 = 1_920; // 1024 samples at 48 kHz

fn av() -> MuxerConfig {
    MuxerConfig {
        video: Some(VideoCodec::H264),
        audio: Some(AudioCodec::Aac {
            config: Bytes::from_static(&[0x11, 0x90]),
        }),
    }
}

fn seg(target_secs: f64, window: usize, retain: usize) -> SegmenterConfig {
    SegmenterConfig {
        target_secs,
        window,
        retain,
    }
}

fn video(p: &mut Packager, dts: u64, keyframe: bool) -> Pushed {
    let nalus = [Bytes::from_static(&[0x65, 1, 2, 3])];
    let ps = [
        Bytes::from_static(&[0x67, 1]),
        Bytes::from_static(&[0x68, 1]),
    ];
    p.push(MuxInput::Video {
        pts: dts + 7_200,
        dts,
        keyframe,
        nalus: &nalus,
        parameter_sets: &ps,
    })
    .unwrap()
}

fn audio(p: &mut Packager, pts: u64) -> Pushed {
    let data = Bytes::from_static(&[0x21, 0x10, 0x04]);
    p.push(MuxInput::Audio { pts, data: &data }).unwrap()
}

/// Pushes `frames` video frames at 25 fps from `start` (keyframe every
/// `gop` frames, the first at `first_key`), with audio interleaved.
fn feed(p: &mut Packager, start: u64, frames: u64, gop: u64, first_key: u64) -> Vec<u64> {
    let mut closed = Vec::new();
    let mut next_audio = start;
    for i in 0..frames {
        let dts = start + i * FPS25;
        while next_audio <= dts {
            closed.extend(audio(p, next_audio).closed);
            next_audio += AAC_FRAME;
        }
        let key = i >= first_key && (i - first_key).is_multiple_of(gop);
        closed.extend(video(p, dts, key).closed);
    }
    closed
}

/// (EXTINF values, TARGETDURATION) of a rendered playlist.
fn parse(playlist: &str) -> (Vec<f64>, u64) {
    let extinf = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|v| v.trim_end_matches(',').parse().unwrap())
        .collect();
    let target = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .unwrap()
        .parse()
        .unwrap();
    (extinf, target)
}

#[test]
fn cuts_only_at_keyframes_after_the_target() {
    let mut p = Packager::new(av(), seg(2.0, 10, 0));
    // GOP of 1.2 s (30 frames), target 2 s: cuts every 2 GOPs = 2.4 s.
    // The first 5 frames come before the first keyframe and are dropped.
    let closed = feed(&mut p, 90_000, 5 + 30 * 9, 30, 5);
    assert_eq!(closed, [0, 1, 2, 3]);
    for s in p.segments() {
        assert!((s.duration_secs - 2.4).abs() < 1e-9, "{}", s.duration_secs);
        // Every segment starts with PAT then PMT, then a keyframe.
        assert_eq!(&s.data[..4], [0x47, 0x40, 0x00, 0x10 | (s.data[3] & 0xF)]);
        assert_eq!(
            u16::from_be_bytes([s.data[189], s.data[190]]) & 0x1FFF,
            0x1000
        );
        let mut d = TsDemuxer::new();
        let mut frames = d.push(&s.data).unwrap();
        frames.extend(d.flush());
        let first_video = frames.iter().find(|f| f.pid == 0x100).unwrap();
        assert!(first_video.random_access);
        assert_eq!(d.cc_errors(), 0);
    }
}

#[test]
fn frames_before_the_first_keyframe_are_dropped() {
    let mut p = Packager::new(av(), seg(2.0, 3, 0));
    assert!(audio(&mut p, 0).ts.is_empty());
    assert!(video(&mut p, 0, false).ts.is_empty());
    assert_eq!(p.bytes_held(), 0);
    let key = video(&mut p, FPS25, true);
    // A keyframe that starts a segment: PAT + PMT first.
    assert_eq!(&key.ts[..3], [0x47, 0x40, 0x00]);
    assert_eq!(p.bytes_held(), key.ts.len());
    // Keyframes carry tables even inside a segment; other frames do not.
    assert_eq!(&video(&mut p, 2 * FPS25, true).ts[..3], [0x47, 0x40, 0x00]);
    assert_eq!(&video(&mut p, 3 * FPS25, false).ts[..3], [0x47, 0x41, 0x00]);
}

#[test]
fn window_slides_and_retained_segments_stay_reachable() {
    let mut p = Packager::new(av(), seg(1.0, 3, 2));
    // GOP = 1 s: one segment per second.
    let closed = feed(&mut p, 0, 25 * 10 + 1, 25, 0);
    assert_eq!(closed, (0..10).collect::<Vec<_>>());
    let listed: Vec<u64> = p.segments().map(|s| s.sequence).collect();
    assert_eq!(listed, [7, 8, 9]);
    assert!(p.segment(4).is_none());
    assert!(p.segment(5).is_some() && p.segment(6).is_some());
    assert_eq!(p.segment(9).unwrap().sequence, 9);
    assert!(p.segment(10).is_none()); // still open
    let playlist = p.playlist();
    assert!(playlist.contains("#EXT-X-MEDIA-SEQUENCE:7\n"));
    assert!(playlist.contains("\n7.ts\n8.ts") || playlist.contains("7.ts\n#EXTINF:1.000,\n8.ts"));
    assert_eq!(parse(&playlist), (vec![1.0, 1.0, 1.0], 1));
    assert!(!playlist.contains("ENDLIST"));
}

#[test]
fn finish_adds_endlist_and_estimates_the_last_frame() {
    let mut p = Packager::new(av(), seg(1.0, 5, 0));
    feed(&mut p, 0, 25 + 10, 25, 0);
    p.finish();
    assert!(p.is_finished());
    let playlist = p.playlist();
    assert!(playlist.ends_with("1.ts\n#EXT-X-ENDLIST\n"), "{playlist}");
    // 10 frames of 40 ms: 9 gaps plus the last frame's estimated 40 ms.
    assert_eq!(parse(&playlist).0, [1.0, 0.4]);
    assert_eq!(
        p.bytes_held(),
        p.segments().map(|s| s.data.len()).sum::<usize>()
    );
    // Pushing again resumes with a discontinuity.
    video(&mut p, 10 * 90_000, true);
    assert!(!p.is_finished());
    feed(&mut p, 10 * 90_000 + FPS25, 25, 25, 24);
    let playlist = p.playlist();
    assert!(
        playlist.contains("#EXT-X-DISCONTINUITY\n#EXTINF:1.000,\n2.ts\n"),
        "{playlist}"
    );
}

#[test]
fn timestamp_jumps_are_discontinuities() {
    let mut p = Packager::new(av(), seg(1.0, 2, 0));
    feed(&mut p, 900_000, 25 * 2 + 5, 25, 0);
    // Backwards: the open segment closes at once (5 frames = 0.2 s).
    let closed = feed(&mut p, 0, 25 * 2 + 1, 25, 0);
    assert_eq!(closed, [2, 3, 4]);
    let playlist = p.playlist();
    assert!(playlist.contains("#EXT-X-MEDIA-SEQUENCE:3\n"));
    assert!(playlist.contains("#EXT-X-DISCONTINUITY-SEQUENCE:0\n"));
    assert!(
        playlist.contains("#EXT-X-DISCONTINUITY\n#EXTINF:1.000,\n3.ts\n"),
        "{playlist}"
    );
    // Forward by 20 s on the audio track alone: closes, waits for a keyframe.
    let pushed = audio(&mut p, 2 * 90_000 + 20 * 90_000);
    assert_eq!(pushed.closed, Some(5));
    assert!(pushed.ts.is_empty());
    assert!(video(&mut p, 2 * 90_000 + FPS25, false).ts.is_empty());
    let closed = feed(&mut p, 30 * 90_000, 25 * 3 + 1, 25, 0);
    assert_eq!(closed, [6, 7, 8]);
    // Segment 3's discontinuity slid out; 5 and 6 are gone too.
    let playlist = p.playlist();
    assert!(playlist.contains("#EXT-X-MEDIA-SEQUENCE:7\n"), "{playlist}");
    assert!(
        playlist.contains("#EXT-X-DISCONTINUITY-SEQUENCE:2\n"),
        "{playlist}"
    );
    assert!(!playlist.contains("#EXT-X-DISCONTINUITY\n"));
}

#[test]
fn mark_discontinuity_closes_and_tags_the_next_segment() {
    let mut p = Packager::new(av(), seg(4.0, 5, 0));
    feed(&mut p, 0, 10, 25, 0);
    p.mark_discontinuity();
    assert_eq!(p.segments().count(), 1);
    feed(&mut p, 5 * FPS25, 25 * 5, 25, 0);
    let listed: Vec<(u64, bool)> = p
        .segments()
        .map(|s| (s.sequence, s.discontinuity))
        .collect();
    assert_eq!(listed, [(0, false), (1, true)]);
    assert!(p
        .playlist()
        .contains("0.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:4.000,\n1.ts\n"));
}

#[test]
fn segments_without_keyframes_are_forced_at_four_targets() {
    let mut p = Packager::new(av(), seg(1.0, 10, 0));
    // One keyframe, then none for 10 s.
    let closed = feed(&mut p, 0, 250, 100_000, 0);
    assert_eq!(closed, [0, 1]);
    let (extinf, target) = parse(&p.playlist());
    assert_eq!(extinf, [4.0, 4.0]);
    assert_eq!(target, 4);
}

#[test]
fn audio_only_cuts_at_any_frame() {
    let mut p = Packager::new(
        MuxerConfig {
            video: None,
            audio: Some(AudioCodec::Mp3),
        },
        seg(1.0, 3, 0),
    );
    let mut closed = Vec::new();
    for i in 0..250u64 {
        closed.extend(audio(&mut p, i * 2_160).closed); // 24 ms frames
    }
    assert_eq!(closed, [0, 1, 2, 3, 4]);
    // 42 frames of 24 ms = 1.008 s.
    assert_eq!(parse(&p.playlist()), (vec![1.008, 1.008, 1.008], 2));
    let nalus: [Bytes; 0] = [];
    let v = MuxInput::Video {
        pts: 0,
        dts: 0,
        keyframe: true,
        nalus: &nalus,
        parameter_sets: &nalus,
    };
    assert_eq!(
        p.push(v),
        Err(MuxError::TrackNotConfigured { track: "video" })
    );
}

#[test]
fn target_duration_covers_every_extinf_and_never_drops() {
    let mut p = Packager::new(av(), seg(2.0, 3, 0));
    // Irregular GOPs: 2.0, 2.96, 2.04, 2.0, ... seconds.
    let mut dts = 0;
    let gops = [50u64, 74, 51, 50, 50, 50, 50];
    let mut targets = Vec::new();
    for g in gops {
        for i in 0..g {
            video(&mut p, dts, i == 0);
            dts += FPS25;
        }
        let (extinf, target) = parse(&p.playlist());
        assert!(extinf.iter().all(|&d| d.ceil() as u64 <= target));
        targets.push(target);
    }
    assert_eq!(targets, [2, 2, 3, 3, 3, 3, 3]);
}

#[test]
fn memory_is_bounded_over_ten_thousand_segments() {
    let mut p = Packager::new(av(), seg(1.0, 6, 4));
    let nalus = [Bytes::from(vec![0x41; 300])];
    let mut max_held = 0;
    let mut dts = 0;
    // 10 000 segments of 1 s (5 frames of 200 ms): close to 3 hours.
    for i in 0..50_001u64 {
        let keyframe = i % 5 == 0;
        p.push(MuxInput::Video {
            pts: dts,
            dts,
            keyframe,
            nalus: &nalus,
            parameter_sets: &[],
        })
        .unwrap();
        dts += 18_000;
        max_held = max_held.max(p.bytes_held());
    }
    assert_eq!(p.segments().last().unwrap().sequence, 9_999);
    let per_segment = p.segment(9_999).unwrap().data.len();
    assert!(
        max_held <= 11 * per_segment,
        "{max_held} > 11 x {per_segment}"
    );
    assert!(p.playlist().contains("#EXT-X-MEDIA-SEQUENCE:9994\n"));
}

#[test]
fn reconfigure_closes_the_segment_and_marks_a_discontinuity() {
    let mut p = Packager::new(
        MuxerConfig {
            video: Some(VideoCodec::H264),
            audio: None,
        },
        SegmenterConfig {
            target_secs: 1.0,
            window: 5,
            retain: 0,
        },
    );
    let nal = [Bytes::from_static(&[0x65, 0x88, 0x84])];
    for i in 0..30u64 {
        p.push(MuxInput::Video {
            pts: i * 9000,
            dts: i * 9000,
            keyframe: i % 10 == 0,
            nalus: &nal,
            parameter_sets: &[],
        })
        .unwrap();
    }
    let closed = p.reconfigure(MuxerConfig {
        video: Some(VideoCodec::H265),
        audio: None,
    });
    assert!(closed.is_some());
    let nal = [Bytes::from_static(&[0x26, 0x01, 0xaf])];
    for i in 0..12u64 {
        p.push(MuxInput::Video {
            pts: i * 9000,
            dts: i * 9000,
            keyframe: i % 10 == 0,
            nalus: &nal,
            parameter_sets: &[],
        })
        .unwrap();
    }
    let text = p.playlist();
    assert!(text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Random GOP lengths: every segment but the last starts at a
        /// keyframe and lasts from the target to the target plus one GOP;
        /// the playlist keeps its invariants at every step.
        #[test]
        fn durations_between_target_and_target_plus_gop(
            gops in proptest::collection::vec(1u64..90, 1..40),
            target_secs in 0.5f64..6.0,
            window in 1usize..6,
            retain in 0usize..3,
        ) {
            let mut p = Packager::new(av(), seg(target_secs, window, retain));
            let max_gop = gops.iter().max().copied().unwrap_or(1) * FPS25;
            let target = p.config.target_ticks();
            let mut dts = 0;
            let mut last_media_sequence = 0;
            for g in &gops {
                for i in 0..*g {
                    let pushed = video(&mut p, dts, i == 0);
                    if i == 0 {
                        prop_assert_eq!(&pushed.ts[..3], &[0x47, 0x40, 0x00]);
                    }
                    dts += FPS25;
                }
                audio(&mut p, dts);
                let playlist = p.playlist();
                let (extinf, target_duration) = parse(&playlist);
                prop_assert!(extinf.iter().all(|&d| d.ceil() as u64 <= target_duration));
                prop_assert!(extinf.len() <= window);
                let state = p.playlist_state();
                prop_assert!(state.media_sequence >= last_media_sequence);
                last_media_sequence = state.media_sequence;
                prop_assert!(p.segments.len() <= window + retain);
            }
            let ticks = |s: &Segment| (s.duration_secs * 90_000.0).round() as u64;
            for s in p.segments() {
                prop_assert!(ticks(s) >= target, "{} < {}", ticks(s), target);
                prop_assert!(ticks(s) < target + max_gop, "{} >= {} + {}", ticks(s), target, max_gop);
                prop_assert!(!s.discontinuity);
                prop_assert_eq!(&s.data[..3], &[0x47, 0x40, 0x00]);
            }
            let seqs: Vec<u64> = p.segments.iter().map(|s| s.sequence).collect();
            prop_assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
        }
    }
}

#[test]
fn a_first_sequence_numbers_segments_and_the_playlist_from_there() {
    let mut p = Packager::new(av(), seg(2.0, 10, 0)).with_first_sequence(17_000_000_000);
    let closed = feed(&mut p, 90_000, 5 + 30 * 5, 30, 5);
    assert_eq!(closed, [17_000_000_000, 17_000_000_001]);
    let text = p.playlist();
    assert!(
        text.contains("#EXT-X-MEDIA-SEQUENCE:17000000000\n"),
        "{text}"
    );
    assert!(text.contains("\n17000000001.ts\n"), "{text}");
    assert!(p.segment(17_000_000_001).is_some());
}
