//! MPEG-TS demuxer: arbitrary bytes, pushed in two pieces split at
//! `data[0]`, never panic; every frame stays within the PES limit, and the
//! single-structure decoders take the same bytes without panicking.
#![no_main]

use hls_seg::demux::MAX_PES;
use hls_seg::ts::{pat::Pat, pes::PesHeader, pmt::Pmt};
use hls_seg::TsDemuxer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut demuxer = TsDemuxer::new();
    let mut frames = demuxer.push(&data[..split]).unwrap_or_default();
    frames.extend(demuxer.push(&data[split..]).unwrap_or_default());
    frames.extend(demuxer.flush());
    for f in &frames {
        assert!(f.data.len() <= MAX_PES);
        assert!(f.pts.is_none_or(|t| t < 1 << 33));
    }
    let tail = data.get(1..).unwrap_or_default();
    drop(Pat::decode(tail));
    drop(Pmt::decode(tail));
    drop(PesHeader::decode(tail));
});
