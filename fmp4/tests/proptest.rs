//! Property tests: random tracks of all five codecs and random sample
//! sequences (durations, composition offsets, keyframes, sizes) survive
//! mux → demux unchanged, fed in random pieces; random bytes and random
//! cuts of valid streams never panic the demuxer.

mod common;

use bytes::Bytes;
use common::{all_codecs, demux};
use fmp4::{init_segment, Demuxer, Event, Sample, TrackConfig, TrackRun};
use proptest::prelude::*;

fn sample() -> impl Strategy<Value = Sample> {
    (
        any::<u32>(),
        any::<i32>(),
        any::<bool>(),
        0usize..300,
        any::<u8>(),
    )
        .prop_map(|(duration, cts_offset, keyframe, len, fill)| Sample {
            duration,
            cts_offset,
            keyframe,
            data: Bytes::from(vec![fill; len]),
        })
}

/// A subset of the five codec tracks (at least one), ids shuffled.
fn tracks() -> impl Strategy<Value = Vec<TrackConfig>> {
    (
        proptest::sample::subsequence(all_codecs(), 1..=5),
        1u32..1000,
        1u32..1_000_000,
    )
        .prop_map(|(mut tracks, id_base, timescale)| {
            for (i, t) in tracks.iter_mut().enumerate() {
                t.id = id_base + 7 * i as u32;
                t.timescale = timescale;
            }
            tracks
        })
}

/// Tracks and fragments of runs of those tracks.
fn stream() -> impl Strategy<Value = (Vec<TrackConfig>, Vec<Vec<TrackRun>>)> {
    tracks().prop_flat_map(|tracks| {
        let ids: Vec<u32> = tracks.iter().map(|t| t.id).collect();
        let run = (
            proptest::sample::select(ids),
            any::<u64>(),
            proptest::collection::vec(sample(), 1..12),
        )
            .prop_map(|(track_id, base_decode_time, samples)| TrackRun {
                track_id,
                base_decode_time,
                samples,
            });
        let fragments = proptest::collection::vec(proptest::collection::vec(run, 1..5), 0..5);
        (Just(tracks), fragments)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn mux_then_demux_gives_back_the_tracks_and_samples(
        (tracks, fragments) in stream(),
        first_sequence in any::<u32>(),
        piece in 1usize..2000,
    ) {
        let mut data = init_segment(&tracks).unwrap().to_vec();
        let mut want = vec![Event::Init(tracks)];
        for (i, runs) in fragments.into_iter().enumerate() {
            let sequence = first_sequence.wrapping_add(i as u32);
            data.extend_from_slice(&fmp4::fragment(sequence, &runs).unwrap().to_bytes());
            want.push(Event::Fragment { sequence, runs });
        }
        prop_assert_eq!(demux(&data, piece).unwrap(), want);
    }

    #[test]
    fn cut_or_corrupted_streams_never_panic(
        (tracks, fragments) in stream(),
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut data = init_segment(&tracks).unwrap().to_vec();
        for runs in &fragments {
            data.extend_from_slice(&fmp4::fragment(1, runs).unwrap().to_bytes());
        }
        let cut = cut.index(data.len() + 1);
        data.truncate(cut);
        for (at, value) in flips {
            if !data.is_empty() {
                let i = at.index(data.len());
                data[i] ^= value;
            }
        }
        let _ = demux(&data, 17);
    }

    #[test]
    fn random_bytes_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..2000),
        piece in 1usize..100,
    ) {
        let mut d = Demuxer::new();
        for chunk in data.chunks(piece) {
            d.push(chunk);
            while let Ok(Some(_)) = d.next_event() {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn rewritten_times_demux_to_the_same_samples_at_the_new_times(
        (_tracks, fragments) in stream(),
        sequence in any::<u32>(),
        shift in any::<u64>(),
    ) {
        for runs in fragments {
            let mut bytes = fmp4::fragment(1, &runs).unwrap().to_bytes().to_vec();
            let len = bytes.len();
            fmp4::rewrite_moof_times(&mut bytes, sequence, |_, t| Some(t.wrapping_add(shift)))
                .unwrap();
            prop_assert_eq!(bytes.len(), len);
            let want: Vec<TrackRun> = runs
                .into_iter()
                .map(|r| TrackRun { base_decode_time: r.base_decode_time.wrapping_add(shift), ..r })
                .collect();
            prop_assert_eq!(demux(&bytes, 4096).unwrap(), vec![Event::Fragment { sequence, runs: want }]);
        }
    }

    #[test]
    fn rewriting_cut_or_corrupted_moofs_never_panics_nor_resizes(
        (_tracks, fragments) in stream(),
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        for runs in &fragments {
            let mut data = fmp4::fragment(1, runs).unwrap().to_bytes().to_vec();
            let cut = cut.index(data.len() + 1);
            data.truncate(cut);
            for (at, value) in &flips {
                if !data.is_empty() {
                    let i = at.index(data.len());
                    data[i] ^= value;
                }
            }
            let before = data.clone();
            let r = fmp4::rewrite_moof_times(&mut data, 3, |_, t| Some(t ^ 1));
            prop_assert_eq!(data.len(), before.len());
            if r.is_err() {
                prop_assert_eq!(data, before);
            }
        }
    }

    #[test]
    fn init_with_duration_demuxes_to_the_same_tracks(
        tracks in tracks(),
        duration in any::<u64>(),
    ) {
        let init = fmp4::init_segment_with_duration(&tracks, duration).unwrap();
        prop_assert_eq!(demux(&init, 4096).unwrap(), vec![Event::Init(tracks)]);
    }
}
