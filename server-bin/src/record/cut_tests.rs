use super::*;
use crate::record::fixtures::{audio, video};
use fmp4::{Demuxer, Event};

const VIDEO: TrackId = 0;
const AUDIO: TrackId = 1;

fn tracks() -> Vec<(TrackId, TrackConfig)> {
    vec![(VIDEO, video(320, 240)), (AUDIO, audio())]
}

/// `secs` of 25 fps video with a keyframe every `gop` frames (starting
/// `lead` frames into a GOP) and 48 kHz AAC, interleaved by time.
fn stream(secs: i64, gop: i64, lead: i64) -> Vec<Arc<Frame>> {
    let mut frames = Vec::new();
    for i in 0..secs * 25 {
        let t = i * 40_000;
        let key = (i + lead) % gop == 0;
        frames.push(Arc::new(Frame::new(
            VIDEO,
            t,
            t,
            key,
            Bytes::from_static(b"v"),
        )));
    }
    let aac_us = 1024 * 1_000_000 / 48_000;
    for i in 0..secs * 1_000_000 / aac_us {
        let t = i * aac_us + 5_000;
        frames.push(Arc::new(Frame::new(
            AUDIO,
            t,
            t,
            true,
            Bytes::from_static(b"a"),
        )));
    }
    frames.sort_by_key(|f| f.dts_us);
    frames
}

fn run(cutter: &mut Cutter, frames: &[Arc<Frame>]) -> Vec<Cut> {
    let mut out = Vec::new();
    for f in frames {
        cutter.push(f, &mut out);
    }
    cutter.finish(&mut out);
    out
}

fn fragments(cuts: &[Cut]) -> Vec<&Fragment> {
    cuts.iter()
        .filter_map(|c| match c {
            Cut::Fragment(f) => Some(f),
            _ => None,
        })
        .collect()
}

#[test]
fn every_keyframe_starts_a_fragment() {
    let mut c = Cutter::new(
        &tracks(),
        Duration::from_millis(1000),
        Duration::from_secs(3600),
    );
    let cuts = run(&mut c, &stream(6, 25, 0));
    assert!(matches!(cuts.first(), Some(Cut::Open { start_us: 0, .. })));
    assert!(matches!(cuts.last(), Some(Cut::Close { .. })));
    let frags = fragments(&cuts);
    assert_eq!(frags.len(), 6);
    assert!(frags.iter().all(|f| f.keyframe));
    let times: Vec<u64> = frags.iter().map(|f| f.time_ms).collect();
    assert_eq!(times, [0, 1000, 2000, 3000, 4000, 5000]);
    assert_eq!(c.track_names(), "h264+aac");
}

#[test]
fn long_gops_are_cut_after_fragment_ms() {
    let mut c = Cutter::new(
        &tracks(),
        Duration::from_millis(500),
        Duration::from_secs(3600),
    );
    let cuts = run(&mut c, &stream(8, 100, 0));
    let frags = fragments(&cuts);
    let keyed = frags.iter().filter(|f| f.keyframe).count();
    assert_eq!(keyed, 2, "a keyframe at 0 s and 4 s");
    assert!(frags.len() >= 14, "{} fragments", frags.len());
    for f in &frags {
        assert!(f.end_ms - f.time_ms <= 560, "{} .. {}", f.time_ms, f.end_ms);
    }
}

#[test]
fn files_start_at_a_keyframe_after_segment_secs_with_time_zero() {
    let mut c = Cutter::new(
        &tracks(),
        Duration::from_millis(1000),
        Duration::from_secs(4),
    );
    // Starts mid-GOP: the leading frames are not recorded.
    let cuts = run(&mut c, &stream(13, 25, 10));
    let opens: Vec<i64> = cuts
        .iter()
        .filter_map(|c| match c {
            Cut::Open { start_us, .. } => Some(*start_us),
            _ => None,
        })
        .collect();
    assert_eq!(opens, [600_000, 4_600_000, 8_600_000, 12_600_000]);
    let closes = cuts
        .iter()
        .filter(|c| matches!(c, Cut::Close { .. }))
        .count();
    assert_eq!(closes, 4);
    // Each file's decode times start at 0 and its fragments follow without gaps.
    let mut demux: Option<Demuxer> = None;
    let mut video_next = 0u64;
    for cut in &cuts {
        match cut {
            Cut::Open { init, .. } => {
                let mut d = Demuxer::new();
                d.push(init);
                assert!(matches!(d.next_event(), Ok(Some(Event::Init(_)))));
                demux = Some(d);
                video_next = 0;
            }
            Cut::Fragment(f) => {
                let d = demux.as_mut().expect("open file");
                d.push(&f.fragment.to_bytes());
                let Ok(Some(Event::Fragment { runs, .. })) = d.next_event() else {
                    panic!("a fragment");
                };
                for run in runs.iter().filter(|r| r.track_id == 1) {
                    assert_eq!(run.base_decode_time, video_next);
                    video_next += run
                        .samples
                        .iter()
                        .map(|s| u64::from(s.duration))
                        .sum::<u64>();
                }
            }
            Cut::Close { end_us } => assert!(*end_us > 0),
        }
    }
}

#[test]
fn a_lost_fragment_skips_to_the_next_keyframe() {
    let mut c = Cutter::new(
        &tracks(),
        Duration::from_millis(1000),
        Duration::from_secs(3600),
    );
    let frames = stream(5, 25, 0);
    let mut out = Vec::new();
    let mut skipped = false;
    let mut after_skip = Vec::new();
    for f in &frames {
        let before = out.len();
        c.push(f, &mut out);
        if !skipped && out.len() > before && matches!(out.last(), Some(Cut::Fragment(_))) {
            // The writer's queue was full: this fragment is lost.
            out.pop();
            c.skip_to_keyframe();
            skipped = true;
            continue;
        }
        if skipped {
            after_skip.extend(out.drain(before..));
        }
    }
    let frags = fragments(&after_skip);
    assert!(!frags.is_empty());
    assert!(
        frags.iter().all(|f| f.keyframe && f.time_ms % 1000 < 50),
        "{:?}",
        frags.iter().map(|f| f.time_ms).collect::<Vec<_>>()
    );
    assert!(c.file_open(), "the same file goes on");
}

#[test]
fn audio_only_files_start_anywhere() {
    let audio = vec![tracks().remove(1)];
    let mut c = Cutter::new(
        &audio,
        Duration::from_millis(1000),
        Duration::from_secs(3600),
    );
    let frames: Vec<_> = stream(3, 25, 0)
        .into_iter()
        .filter(|f| f.track == AUDIO)
        .collect();
    let cuts = run(&mut c, &frames);
    assert!(matches!(
        cuts.first(),
        Some(Cut::Open {
            start_us: 5_000,
            ..
        })
    ));
    let frags = fragments(&cuts);
    assert_eq!(frags.len(), 3);
    assert!(frags.iter().all(|f| f.keyframe));
}

#[test]
fn abandon_reopens_at_the_next_keyframe() {
    let mut c = Cutter::new(
        &tracks(),
        Duration::from_millis(1000),
        Duration::from_secs(3600),
    );
    let frames = stream(3, 25, 0);
    let mut out = Vec::new();
    for f in &frames[..40] {
        c.push(f, &mut out);
    }
    c.abandon();
    out.clear();
    for f in &frames[40..] {
        c.push(f, &mut out);
    }
    assert!(matches!(
        out.first(),
        Some(Cut::Open {
            start_us: 1_000_000,
            ..
        })
    ));
}
