//! Mux → demux round trips per structure: init segments of every codec,
//! fragments of several runs, boxes the demuxer skips, and what it does
//! with cut or broken input.

mod common;

use bytes::Bytes;
use common::{all_codecs, demux};
use fmp4::{init_segment, Demuxer, Event, Fmp4Error, Sample, TrackRun};

fn sample(len: usize, fill: u8, keyframe: bool, cts: i32) -> Sample {
    Sample {
        duration: 3000 + len as u32,
        cts_offset: cts,
        keyframe,
        data: Bytes::from(vec![fill; len]),
    }
}

fn runs() -> Vec<TrackRun> {
    vec![
        TrackRun {
            track_id: 1,
            base_decode_time: 90_000 * 3600 * 30, // beyond 32 bits
            samples: vec![
                sample(500, 1, true, 6000),
                sample(20, 2, false, -3000),
                sample(0, 0, false, 0),
            ],
        },
        TrackRun {
            track_id: 4,
            base_decode_time: 48_000,
            samples: vec![sample(300, 3, true, 0), sample(301, 4, true, 0)],
        },
        TrackRun {
            track_id: 5,
            base_decode_time: 7,
            samples: vec![sample(80, 5, true, 0)],
        },
    ]
}

/// The init segment of all codecs, then two fragments.
fn stream() -> Vec<u8> {
    let mut out = init_segment(&all_codecs()).unwrap().to_vec();
    out.extend_from_slice(&fmp4::fragment(1, &runs()).unwrap().to_bytes());
    out.extend_from_slice(&fmp4::fragment(2, &runs()[1..]).unwrap().to_bytes());
    out
}

fn expected() -> Vec<Event> {
    vec![
        Event::Init(all_codecs()),
        Event::Fragment {
            sequence: 1,
            runs: runs(),
        },
        Event::Fragment {
            sequence: 2,
            runs: runs()[1..].to_vec(),
        },
    ]
}

#[test]
fn init_of_each_codec_reads_back_the_same_track() {
    for track in all_codecs() {
        let init = init_segment(std::slice::from_ref(&track)).unwrap();
        assert_eq!(
            demux(&init, init.len()).unwrap(),
            vec![Event::Init(vec![track])]
        );
    }
    let init = init_segment(&all_codecs()).unwrap();
    assert_eq!(demux(&init, 7).unwrap(), vec![Event::Init(all_codecs())]);
}

#[test]
fn fragments_of_several_runs_read_back_the_same_samples() {
    let data = stream();
    for piece in [1, 3, 100, data.len()] {
        assert_eq!(
            demux(&data, piece).unwrap(),
            expected(),
            "pieces of {piece}"
        );
    }
}

#[test]
fn sample_data_is_sliced_from_the_input() {
    let frag = fmp4::fragment(9, &runs()).unwrap().to_bytes();
    let mut d = Demuxer::new();
    d.push(&frag);
    let Some(Event::Fragment { runs: got, .. }) = d.next_event().unwrap() else {
        panic!("no fragment");
    };
    // All samples of a run lie back to back: one buffer, no copies.
    let first = &got[0].samples;
    assert_eq!(
        first[0].data.as_ptr().wrapping_add(first[0].data.len()),
        first[1].data.as_ptr()
    );
}

/// A box of `kind` with `body`, with a 32-bit or a 64-bit size.
fn boxed(kind: &[u8; 4], body: &[u8], large: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if large {
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(&(16 + body.len() as u64).to_be_bytes());
    } else {
        out.extend_from_slice(&(8 + body.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
    }
    out.extend_from_slice(body);
    out
}

/// Adds `delta` to the data offset of every `trun` of a `moof`.
fn shift_offsets(moof: &mut [u8], delta: u32) {
    let truns: Vec<usize> = moof
        .windows(4)
        .enumerate()
        .filter(|(_, w)| w == b"trun")
        .map(|(i, _)| i - 4)
        .collect();
    for t in truns {
        let off = u32::from_be_bytes(moof[t + 16..t + 20].try_into().unwrap()).wrapping_add(delta);
        moof[t + 16..t + 20].copy_from_slice(&off.to_be_bytes());
    }
}

#[test]
fn styp_sidx_free_and_unknown_boxes_are_skipped() {
    let init = init_segment(&all_codecs()).unwrap();
    let frag = fmp4::fragment(1, &runs()).unwrap();
    let moof_len = frag.header.len() - 8;
    let mut data = boxed(b"styp", b"msdhmsdh", false);
    data.extend_from_slice(&init);
    data.extend(boxed(b"sidx", &[0; 40], true));
    data.extend(boxed(b"xyz1", &[9; 5000], false));
    // A free box between moof and mdat: offsets count from the moof, so
    // they step over it, and the demuxer must count it to find the mdat.
    let mut moof = frag.header[..moof_len].to_vec();
    shift_offsets(&mut moof, 11);
    data.extend_from_slice(&moof);
    data.extend(boxed(b"free", &[0; 3], false));
    data.extend_from_slice(&frag.to_bytes()[moof_len..]);
    data.extend(boxed(b"mdat", b"orphan", false));
    data.extend(boxed(b"free", &[0; 3], false));
    for piece in [1, 13, data.len()] {
        assert_eq!(
            demux(&data, piece).unwrap(),
            expected()[..2],
            "pieces of {piece}"
        );
    }
}

#[test]
fn mdat_with_a_64_bit_size() {
    let frag = fmp4::fragment(1, &runs()).unwrap();
    let moof_len = frag.header.len() - 8;
    // The mdat header as largesize (16 bytes): the offsets move by 8.
    let mut data = init_segment(&all_codecs()).unwrap().to_vec();
    let mut moof = frag.header[..moof_len].to_vec();
    shift_offsets(&mut moof, 8);
    data.extend_from_slice(&moof);
    let payload: Vec<u8> = frag.payload.iter().flat_map(|b| b.to_vec()).collect();
    data.extend(boxed(b"mdat", &payload, true));
    assert_eq!(demux(&data, 5).unwrap(), expected()[..2]);
}

#[test]
fn offsets_outside_the_mdat_are_errors() {
    let frag = fmp4::fragment(1, &runs()).unwrap();
    let moof_len = frag.header.len() - 8;
    for delta in [1, u32::MAX - 7, 0x8000_0000] {
        let mut moof = frag.header[..moof_len].to_vec();
        shift_offsets(&mut moof, delta);
        moof.extend_from_slice(&frag.to_bytes()[moof_len..]);
        assert!(
            matches!(demux(&moof, 99), Err(Fmp4Error::Malformed(_))),
            "{delta}"
        );
    }
}

#[test]
fn every_prefix_gives_the_whole_events_then_asks_for_more() {
    let data = stream();
    let ends: Vec<usize> = {
        let init = init_segment(&all_codecs()).unwrap().len();
        let f1 = fmp4::fragment(1, &runs()).unwrap().len();
        vec![init, init + f1, data.len()]
    };
    for cut in 0..data.len() {
        let mut d = Demuxer::new();
        d.push(&data[..cut]);
        let mut n = 0;
        while d.next_event().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(
            n,
            ends.iter().filter(|&&e| e <= cut).count(),
            "cut at {cut}"
        );
    }
}

#[test]
fn every_cut_of_each_box_is_none_or_an_error_never_a_panic() {
    // Truncating a box's insides (with the outer sizes patched to match)
    // must give an error or nothing, never a panic.
    let data = stream();
    let init_len = init_segment(&all_codecs()).unwrap().len();
    let moov_at = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
    for cut in moov_at + 8..init_len {
        let mut broken = data[moov_at..cut].to_vec();
        let len = broken.len() as u32;
        broken[..4].copy_from_slice(&len.to_be_bytes());
        let _ = demux(&broken, broken.len().max(1));
    }
    for cut in init_len..data.len() {
        let mut broken = data[..init_len].to_vec();
        let mut frag = data[init_len..cut].to_vec();
        if frag.len() >= 4 {
            let len = frag.len() as u32;
            frag[..4].copy_from_slice(&len.to_be_bytes());
        }
        broken.extend(frag);
        broken.extend(boxed(b"mdat", &[0; 16], false));
        let _ = demux(&broken, 64);
    }
}

#[test]
fn broken_and_oversized_boxes_are_errors() {
    let small = [0, 0, 0, 4, b'f', b'r', b'e', b'e'];
    assert!(matches!(demux(&small, 8), Err(Fmp4Error::Malformed(_))));
    let mut huge = vec![0, 0, 0, 1];
    huge.extend_from_slice(b"mdat");
    huge.extend_from_slice(&(Demuxer::MAX_BOX + 1).to_be_bytes());
    assert!(matches!(demux(&huge, 16), Err(Fmp4Error::Limit(_))));
    // An error sticks: the stream is out of step.
    let mut d = Demuxer::new();
    d.push(&small);
    assert!(d.next_event().is_err());
    d.push(&init_segment(&all_codecs()).unwrap());
    assert!(d.next_event().is_err());
    // A moov whose trak has no tkhd.
    let moov = boxed(b"moov", &boxed(b"trak", &[], false), false);
    assert!(matches!(demux(&moov, 100), Err(Fmp4Error::Malformed(_))));
}

#[test]
fn a_fragment_of_a_track_not_in_the_init_is_an_error() {
    let mut data = init_segment(&all_codecs()[..1]).unwrap().to_vec();
    data.extend_from_slice(&fmp4::fragment(1, &runs()).unwrap().to_bytes());
    assert!(matches!(demux(&data, 1000), Err(Fmp4Error::Malformed(_))));
    // Without an init, any track goes (a stream joined mid-way).
    let frag = fmp4::fragment(1, &runs()).unwrap().to_bytes();
    assert_eq!(demux(&frag, 1000).unwrap()[0], expected()[1]);
}
