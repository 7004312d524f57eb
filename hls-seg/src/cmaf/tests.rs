//! Cutting, bookkeeping, playlist and blocking behaviour over synthetic
//! streams.

use bytes::Bytes;
use fmp4::{CodecConfig, TrackConfig};

use super::part::{ClosedPart, Cutter};
use super::*;

const VIDEO: u32 = 1;
const AUDIO: u32 = 2;
/// 25 fps at 90 kHz.
const FRAME: u64 = 3_600;
/// 1024 samples at 48 kHz.
const AAC: u64 = 1_024;

fn video_track() -> TrackConfig {
    TrackConfig {
        id: VIDEO,
        timescale: 90_000,
        codec: CodecConfig::Avc {
            avcc: Bytes::from_static(&[
                1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 4, 0x67, 0x42, 0xC0, 0x1E, 1, 0, 4, 0x68, 0xCE,
                0x3C, 0x80,
            ]),
        },
        width: 320,
        height: 240,
        channels: 0,
        sample_rate: 0,
    }
}

fn audio_track() -> TrackConfig {
    TrackConfig {
        id: AUDIO,
        timescale: 48_000,
        codec: CodecConfig::Aac {
            asc: Bytes::from_static(&[0x11, 0x90]),
        },
        width: 0,
        height: 0,
        channels: 2,
        sample_rate: 48_000,
    }
}

fn input(track_id: u32, dts: u64, keyframe: bool) -> CmafInput {
    CmafInput {
        track_id,
        dts,
        cts_offset: if track_id == VIDEO { 7_200 } else { 0 },
        keyframe,
        data: Bytes::from(vec![track_id as u8; 10 + (dts % 7) as usize]),
    }
}

/// `secs` of 25 fps video (a keyframe every `gop` frames) and AAC,
/// interleaved by time, as inputs.
fn av_stream(secs: u64, gop: u64) -> Vec<CmafInput> {
    let mut out = Vec::new();
    let (mut v, mut a) = (0u64, 0u64);
    while v * FRAME < secs * 90_000 {
        // Compare in seconds: video v*3600/90000, audio a*1024/48000.
        if v * FRAME * 48_000 <= a * AAC * 90_000 {
            out.push(input(VIDEO, v * FRAME, v % gop == 0));
            v += 1;
        } else {
            out.push(input(AUDIO, a * AAC, true));
            a += 1;
        }
    }
    out
}

fn cut_all(
    tracks: &[TrackConfig],
    target: f64,
    part: f64,
    inputs: Vec<CmafInput>,
) -> Vec<ClosedPart> {
    let mut cutter = Cutter::new(tracks, target, part);
    let mut parts = Vec::new();
    for i in inputs {
        let k = cutter.index(i.track_id).unwrap();
        parts.extend(cutter.push(k, i).closed);
    }
    parts.extend(cutter.end());
    parts
}

/// The parts grouped into segments.
fn segments(parts: &[ClosedPart]) -> Vec<Vec<&ClosedPart>> {
    let mut out = vec![Vec::new()];
    for p in parts {
        out.last_mut().unwrap().push(p);
        if p.ends_segment {
            out.push(Vec::new());
        }
    }
    out.pop();
    out
}

#[test]
fn av_parts_and_segments() {
    let parts = cut_all(&[video_track(), audio_track()], 2.0, 0.2, av_stream(6, 25));
    let segs = segments(&parts);
    assert_eq!(segs.len(), 3);
    for seg in &segs {
        // 2 s of 200 ms parts: 5 frames each.
        assert_eq!(seg.len(), 10);
        assert!(seg.iter().all(|p| p.ticks == 5 * FRAME));
        // A keyframe every second: parts 0 and 5 start with one.
        let independent: Vec<bool> = seg.iter().map(|p| p.independent).collect();
        assert_eq!(independent, (0..10).map(|i| i % 5 == 0).collect::<Vec<_>>());
        for p in seg.iter() {
            // One run per track, video first; the video run starts with a
            // keyframe exactly when the part is independent.
            assert_eq!(p.runs.len(), 2);
            assert_eq!((p.runs[0].track_id, p.runs[1].track_id), (VIDEO, AUDIO));
            assert_eq!(p.runs[0].samples.len(), 5);
            assert_eq!(p.runs[0].samples[0].keyframe, p.independent);
        }
    }
    // Every sample is in exactly one part, in order, decode times exact.
    for (track, step, total) in [(0, FRAME, 150), (1, AAC, 280)] {
        let mut next = 0;
        let mut count = 0;
        for p in &parts {
            let run = &p.runs[track];
            assert_eq!(run.base_decode_time, next * step);
            for s in &run.samples {
                next += 1;
                count += 1;
                if count < total {
                    assert_eq!(u64::from(s.duration), step);
                }
            }
        }
        assert_eq!(count, total, "track {track}");
    }
}

#[test]
fn parts_never_exceed_the_target_when_frames_allow() {
    // 30 fps (3000 ticks): 6 frames = 200 ms exactly.
    let tracks = [video_track()];
    let inputs = (0..90)
        .map(|i| input(VIDEO, i * 3_000, i % 30 == 0))
        .collect();
    let parts = cut_all(&tracks, 1.0, 0.2, inputs);
    assert!(
        parts.iter().all(|p| p.ticks == 18_000),
        "{:?}",
        parts.iter().map(|p| p.ticks).collect::<Vec<_>>()
    );
    // 24 fps (3750 ticks): 5 frames = 208 ms would exceed, so 4 (167 ms);
    // the segment's last part is what is left.
    let inputs = (0..52)
        .map(|i| input(VIDEO, i * 3_750, i % 26 == 0))
        .collect();
    let parts = cut_all(&tracks, 1.0, 0.2, inputs);
    let ticks: Vec<u64> = segments(&parts)[0].iter().map(|p| p.ticks).collect();
    assert_eq!(
        ticks,
        [15_000, 15_000, 15_000, 15_000, 15_000, 15_000, 7_500]
    );
    // Audio only: 9 AAC frames (192 ms), every part independent, segments
    // cut at any frame once 1 s long (47 frames).
    let parts = cut_all(
        &[audio_track()],
        1.0,
        0.2,
        (0..94).map(|i| input(AUDIO, i * AAC, true)).collect(),
    );
    let segs = segments(&parts);
    assert_eq!(segs.len(), 2);
    assert!(parts.iter().all(|p| p.independent));
    let frames: Vec<usize> = segs[0].iter().map(|p| p.runs[0].samples.len()).collect();
    assert_eq!(frames, [9, 9, 9, 9, 9, 2]);
}

#[test]
fn first_keyframe_starts_and_long_gops_are_forced_cut() {
    let tracks = [video_track()];
    // Frames before the first keyframe are dropped; then one keyframe only:
    // cuts forced at 4 × the 1 s target.
    let inputs = (0..250).map(|i| input(VIDEO, i * FRAME, i == 10)).collect();
    let parts = cut_all(&tracks, 1.0, 0.2, inputs);
    let segs = segments(&parts);
    assert_eq!(parts[0].runs[0].base_decode_time, 10 * FRAME);
    let durations: Vec<u64> = segs
        .iter()
        .map(|s| s.iter().map(|p| p.ticks).sum())
        .collect();
    assert_eq!(durations, [360_000, 360_000, 180_000 - 10 * FRAME]);
    assert!(segs[0][0].independent && !segs[1][0].independent);
}

#[test]
fn dts_jumps_end_the_segment() {
    let tracks = [video_track(), audio_track()];
    let mut cutter = Cutter::new(&tracks, 2.0, 0.2);
    let mut opened = Vec::new();
    let mut ended = 0;
    let jumps = [
        // Back in time: the segment ends, the next keyframe opens one with
        // a discontinuity; a forward jump of 12 s does the same.
        input(VIDEO, 0, false),
        input(VIDEO, FRAME, true),
        input(VIDEO, 12 * 90_000, true),
    ];
    for i in av_stream(1, 25).into_iter().chain(jumps) {
        let k = cutter.index(i.track_id).unwrap();
        let step = cutter.push(k, i);
        ended += step.closed.iter().filter(|p| p.ends_segment).count();
        opened.extend(step.opened);
    }
    assert_eq!(ended, 2);
    assert_eq!(opened, [false, true, true]);
}

#[test]
fn config_is_sanitised() {
    let c = CmafConfig {
        target_secs: f64::NAN,
        part_secs: 5.0,
        window: 0,
        ..CmafConfig::default()
    };
    assert_eq!((c.target(), c.part(), c.window()), (0.001, 0.001, 1));
    let d = CmafConfig::default();
    assert_eq!((d.target(), d.part(), d.window()), (2.0, 0.2, 5));
}

// ---- packager level (needs the fmp4 muxer) ----

fn packager(target: f64, window: usize, retain: usize) -> CmafPackager {
    let config = CmafConfig {
        target_secs: target,
        part_secs: 0.2,
        window,
        retain,
        first_msn: 100,
    };
    CmafPackager::new(vec![video_track(), audio_track()], config).unwrap()
}

#[test]
fn segments_are_their_parts_concatenated() {
    let mut p = packager(1.0, 3, 1);
    let mut parts_closed = Vec::new();
    let mut segments_closed = Vec::new();
    for i in av_stream(3, 25) {
        let pushed = p.push(i).unwrap();
        parts_closed.extend(pushed.part_closed);
        segments_closed.extend(pushed.segment_closed);
    }
    assert_eq!(segments_closed, [100, 101]);
    assert_eq!(parts_closed.len(), 14);
    assert_eq!(
        parts_closed[..6],
        [(100, 0), (100, 1), (100, 2), (100, 3), (100, 4), (101, 0)]
    );
    for msn in [100, 101] {
        let seg = p.segment(msn).unwrap();
        let mut joined = Vec::new();
        for i in 0..5 {
            joined.extend_from_slice(&p.part(msn, i).unwrap());
        }
        assert_eq!(&joined[..], &seg[..]);
        assert!(p.part(msn, 5).is_none());
    }
    assert!(p.segment(102).is_none());
    assert!(matches!(p.part_state(102, 3), PartState::Ready(_)));
    assert_eq!(p.part_state(102, 4), PartState::Pending);
    assert_eq!(p.part_state(102, 5), PartState::Unknown);
    assert_eq!(p.next_part(), Some((102, 4)));
    let init = p.init();
    assert_eq!(&init[4..8], b"ftyp");
}

#[test]
fn playlist_live_then_ended() {
    let mut p = packager(1.0, 2, 0);
    assert!(p.playlist().ends_with(
        "#EXT-X-MEDIA-SEQUENCE:100\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n#EXT-X-MAP:URI=\"fmp4/init.mp4\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"fmp4/100.0.m4s\"\n"
    ));
    // Up to video frame 51 (2.04 s) and audio before 2 s.
    let upto = |i: &CmafInput| match i.track_id {
        VIDEO => i.dts <= 51 * FRAME,
        _ => i.dts < 96_000,
    };
    for i in av_stream(3, 25).into_iter().filter(upto) {
        p.push(i).unwrap();
    }
    let part = |msn, i, ind: bool| {
        format!(
            "#EXT-X-PART:DURATION=0.200,URI=\"fmp4/{msn}.{i}.m4s\"{}\n",
            if ind { ",INDEPENDENT=YES" } else { "" }
        )
    };
    let mut body = String::new();
    for msn in [100, 101] {
        for i in 0..5 {
            body += &part(msn, i, i == 0);
        }
        body += &format!("#EXTINF:1.000,\nfmp4/{msn}.m4s\n");
    }
    let head = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n\
        #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,HOLD-BACK=3.000,PART-HOLD-BACK=0.600\n\
        #EXT-X-PART-INF:PART-TARGET=0.200\n#EXT-X-MEDIA-SEQUENCE:100\n\
        #EXT-X-DISCONTINUITY-SEQUENCE:0\n#EXT-X-MAP:URI=\"fmp4/init.mp4\"\n";
    assert_eq!(
        p.playlist(),
        format!("{head}{body}#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"fmp4/102.0.m4s\"\n")
    );
    assert_eq!(p.blocking_state(101, None), Blocking::Ready);
    assert_eq!(p.blocking_state(102, None), Blocking::Wait);
    assert_eq!(p.blocking_state(102, Some(0)), Blocking::Wait);
    assert_eq!(p.blocking_state(101, Some(4)), Blocking::Ready);
    assert_eq!(p.blocking_state(103, None), Blocking::Wait);
    assert_eq!(p.blocking_state(104, None), Blocking::TooFar);
    let pushed = p.finish().unwrap();
    assert_eq!(pushed.part_closed, Some((102, 0)));
    assert_eq!(pushed.segment_closed, Some(102));
    let text = p.playlist();
    assert!(
        text.starts_with(head.replace(":100\n", ":101\n").as_str()),
        "{text}"
    );
    assert!(text.ends_with(&format!(
        "{}#EXTINF:0.080,\nfmp4/102.m4s\n#EXT-X-ENDLIST\n",
        part(102, 0, true).replace("0.200", "0.080")
    )));
    assert!(!text.contains("PRELOAD-HINT"));
    assert_eq!(p.blocking_state(500, None), Blocking::Ready);
    assert_eq!(p.part_state(103, 0), PartState::Unknown);
}

#[test]
fn window_and_retain_bound_what_is_held() {
    let mut p = packager(1.0, 3, 2);
    for i in av_stream(20, 25) {
        p.push(i).unwrap();
    }
    // 19 closed (100..=118): 5 held, 3 listed.
    let listed: Vec<u64> = p.segments().map(|s| s.msn).collect();
    assert_eq!(listed, [116, 117, 118]);
    assert!(p.segment(113).is_none() && p.segment(114).is_some());
    assert!(p.part(114, 0).is_some() && p.part(113, 0).is_none());
    // Parts listed for segments ending within 3 target durations of the edge.
    let view = p.playlist_view();
    assert_eq!(view.parts_from, 0);
    let held = p.bytes_held();
    assert!(held < 20_000, "{held}");
}

#[test]
fn discontinuities_are_tagged_and_counted() {
    let mut p = packager(1.0, 2, 0);
    for i in av_stream(2, 25) {
        p.push(i).unwrap();
    }
    p.mark_discontinuity().unwrap();
    for i in av_stream(2, 25) {
        p.push(i).unwrap();
    }
    let text = p.playlist();
    assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:0\n"), "{text}");
    assert!(
        text.contains("#EXT-X-DISCONTINUITY\n#EXT-X-PART:DURATION=0.200,URI=\"fmp4/102.0.m4s\""),
        "{text}"
    );
    // Slide it out: the discontinuity sequence counts it.
    for i in av_stream(4, 25) {
        // 12 s later on both tracks.
        let shift = if i.track_id == VIDEO {
            12 * 90_000
        } else {
            12 * 48_000
        };
        p.push(CmafInput {
            dts: i.dts + shift,
            ..i
        })
        .unwrap();
    }
    let text = p.playlist();
    assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:2\n"), "{text}");
    assert_eq!(p.push(input(9, 0, true)), Err(CmafError::UnknownTrack(9)));
}
