//! Tests of [`super::playback`] on recordings written by [`super::synthetic`].

use std::sync::Arc;

use bytes::Bytes;
use fmp4::{Demuxer, Event, Sample, TrackConfig, TrackRun};
use stream_core::StreamKey;

use crate::record::catalogue::Catalogue;
use crate::record::fixtures::{audio, video, TempDir};
use crate::record::playback::{plan, Plan, Reader};
use crate::record::synthetic::{write_file, Data};
use crate::record::RecordError;

/// A scratch directory for a playback or replay test.
pub(crate) fn temp(name: &str) -> TempDir {
    TempDir::new("play", name)
}

/// `secs` one-second fragments: 25 video frames (a keyframe every
/// `gop` seconds) and 1 s of audio.
pub(crate) fn fragments(secs: u64, gop: u64) -> Vec<Vec<TrackRun>> {
    (0..secs)
        .map(|s| {
            let v = (0..25)
                .map(|f| Sample {
                    duration: 3600,
                    cts_offset: 0,
                    keyframe: f == 0 && s % gop == 0,
                    data: Bytes::from(vec![s as u8; 100]),
                })
                .collect();
            let a = Sample {
                duration: 48_000,
                cts_offset: 0,
                keyframe: true,
                data: Bytes::from_static(b"aac"),
            };
            vec![
                TrackRun {
                    track_id: 1,
                    base_decode_time: s * 90_000,
                    samples: v,
                },
                TrackRun {
                    track_id: 2,
                    base_decode_time: s * 48_000,
                    samples: vec![a],
                },
            ]
        })
        .collect()
}

fn read_all(plan: &Arc<Plan>, max: usize) -> Vec<u8> {
    let mut r = Reader::new(plan.clone());
    let mut out = Vec::new();
    while (out.len() as u64) < plan.len {
        let chunk = r.read(out.len() as u64, max).unwrap();
        assert!(!chunk.is_empty());
        out.extend_from_slice(&chunk);
    }
    out
}

fn events(bytes: &[u8]) -> Vec<Event> {
    let mut d = Demuxer::new();
    d.push(bytes);
    let mut out = Vec::new();
    while let Some(e) = d.next_event().unwrap() {
        out.push(e);
    }
    out
}

pub(crate) const T0: u64 = 1_796_551_200_000;

/// Writes one file of live/cam at `start`.
pub(crate) fn record(
    root: &std::path::Path,
    cat: &Catalogue,
    start: u64,
    tracks: &[TrackConfig],
    frags: Vec<Vec<TrackRun>>,
) {
    let key = StreamKey::new("live", "cam");
    write_file(root, cat, &key, start, tracks, frags, Data::Written).unwrap();
}

#[test]
fn a_range_across_two_files_is_one_timeline_from_a_keyframe() {
    let root = temp("two");
    let cat = Catalogue::open(&root.join(".catalogue.redb")).unwrap();
    let tracks = [video(640, 360), audio()];
    record(&root, &cat, T0, &tracks, fragments(10, 2));
    // The second file starts 12 s in (a 2 s gap).
    record(&root, &cat, T0 + 12_000, &tracks, fragments(10, 2));
    // From 5.5 s for 10 s: the keyframe at 4 s, to (not including) 15.5 s.
    let p = Arc::new(plan(&cat, &root, "live/cam", T0 + 5_500, 10_000).unwrap());
    assert_eq!(p.start_ms, T0 + 4_000);
    assert_eq!(p.files.len(), 2);
    assert_eq!(
        p.pieces.len(),
        6 + 4,
        "4..10 s of the first, 12..16 s of the second"
    );
    assert_eq!(p.duration_ms, 12_000);
    assert_eq!(p.track_change_ms, None);
    let whole = read_all(&p, 1 << 20);
    assert_eq!(whole.len() as u64, p.len);
    assert_eq!(read_all(&p, 7), whole, "small chunks give the same bytes");
    let ev = events(&whole);
    assert_eq!(ev[0], Event::Init(tracks.to_vec()));
    let times: Vec<(u32, u64, u64)> = ev[1..]
        .iter()
        .map(|e| match e {
            Event::Fragment { sequence, runs } => (
                *sequence,
                runs[0].base_decode_time,
                runs[1].base_decode_time,
            ),
            Event::Init(_) => panic!("a second init"),
        })
        .collect();
    assert_eq!(times[0], (1, 0, 0));
    assert_eq!(times[5], (6, 5 * 90_000, 5 * 48_000));
    assert_eq!(times[6], (7, 8 * 90_000, 8 * 48_000), "the gap stays");
    assert_eq!(times[9].0, 10);
    // Any slice read from its offset equals the slice of the whole.
    let mut r = Reader::new(p.clone());
    for start in [0u64, 10, p.pieces[3].at - 1, p.pieces[3].at + 3, p.len - 5] {
        let got = r.read(start, 50).unwrap();
        let s = start as usize;
        assert_eq!(&got[..], &whole[s..s + got.len()], "from {start}");
    }
}

#[test]
fn a_track_change_ends_the_plan_and_empty_ranges_are_nothing() {
    let root = temp("change");
    let cat = Catalogue::open(&root.join(".catalogue.redb")).unwrap();
    record(
        &root,
        &cat,
        T0,
        &[video(640, 360), audio()],
        fragments(4, 1),
    );
    record(
        &root,
        &cat,
        T0 + 4_000,
        &[video(1280, 360), audio()],
        fragments(4, 1),
    );
    let p = plan(&cat, &root, "live/cam", T0, 8_000).unwrap();
    assert_eq!(p.track_change_ms, Some(T0 + 4_000));
    assert_eq!(p.pieces.len(), 4);
    assert_eq!(p.tracks[0].width, 640);
    assert!(matches!(
        plan(&cat, &root, "live/cam", T0 + 60_000, 1_000),
        Err(RecordError::NothingRecorded)
    ));
    assert!(matches!(
        plan(&cat, &root, "live/other", T0, 1_000),
        Err(RecordError::NothingRecorded)
    ));
}
