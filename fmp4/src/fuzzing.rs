//! The fuzz target's entry point (`fuzz/fuzz_targets/fmp4_demux.rs` is a
//! one-line shim into it): the demuxer, and [`crate::rewrite_moof_times`]
//! on the same input.

use crate::{fragment, init_segment, rewrite_moof_times, Demuxer, Event, Fmp4Error};

/// Most events read from one input (the input is at most a few MiB).
const MAX_EVENTS: usize = 100_000;

/// Runs `data` through a [`Demuxer`]: the first 4 bytes give the sizes of
/// the pieces the rest is pushed in (cycled, each byte + 1), the rest is the
/// stream. Asserts what must hold whatever the input: the pieces give the
/// same events and error as the whole input at once, and every init segment
/// or fragment read that the muxer accepts back muxes to bytes that demux to
/// the same event.
pub fn demux(data: &[u8]) {
    let (sizes, stream) = data.split_at(data.len().min(4));
    let whole = run(std::iter::once(stream));
    let mut pieces = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes
            .get(i % sizes.len().max(1))
            .map_or(rest.len(), |&b| usize::from(b) + 1);
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        pieces.push(piece);
        rest = tail;
        i += 1;
    }
    let pieced = run(pieces.into_iter());
    assert_eq!(whole, pieced, "whole input and pieces differ");
    let mut copy = stream.to_vec();
    let rewritten = rewrite_moof_times(&mut copy, 1, |_, t| Some(t.wrapping_add(1)));
    assert_eq!(copy.len(), stream.len(), "rewrite changed the length");
    if rewritten.is_err() {
        assert_eq!(copy, stream, "a refused rewrite changed the input");
    }
    for event in whole.0 {
        remux(&event);
    }
}

/// Events and the error that stopped them, if any.
fn run<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> (Vec<Event>, Option<Fmp4Error>) {
    let mut d = Demuxer::new();
    let mut events = Vec::new();
    for piece in pieces {
        d.push(piece);
        loop {
            match d.next_event() {
                Ok(Some(e)) if events.len() < MAX_EVENTS => events.push(e),
                Ok(Some(_)) => panic!("more than {MAX_EVENTS} events"),
                Ok(None) => break,
                Err(e) => return (events, Some(e)),
            }
        }
    }
    (events, None)
}

/// Muxes an event again (when the muxer takes it) and demuxes the result.
fn remux(event: &Event) {
    let bytes = match event {
        Event::Init(tracks) => match init_segment(tracks) {
            Ok(b) => b,
            Err(_) => return,
        },
        Event::Fragment { sequence, runs } => match fragment(*sequence, runs) {
            Ok(f) => {
                rewritten(sequence.wrapping_add(1), runs, &f.to_bytes());
                f.to_bytes()
            }
            Err(_) => return,
        },
    };
    let (events, error) = run(std::iter::once(&bytes[..]));
    assert_eq!(error, None, "re-muxed {event:?} does not demux");
    assert_eq!(
        events.as_slice(),
        std::slice::from_ref(event),
        "re-mux round trip"
    );
}

/// Rewrites a muxed fragment's times (each track's + its id) and checks
/// that it demuxes to the same runs at those times.
fn rewritten(sequence: u32, runs: &[crate::TrackRun], bytes: &[u8]) {
    let mut bytes = bytes.to_vec();
    let shift = |track: u32, t: u64| t.wrapping_add(u64::from(track));
    if let Err(e) = rewrite_moof_times(&mut bytes, sequence, |track, t| Some(shift(track, t))) {
        panic!("a muxed fragment cannot be rewritten: {e}");
    }
    let expected: Vec<_> = runs
        .iter()
        .map(|r| crate::TrackRun {
            base_decode_time: shift(r.track_id, r.base_decode_time),
            ..r.clone()
        })
        .collect();
    let (events, error) = run(std::iter::once(&bytes[..]));
    assert_eq!(error, None, "a rewritten fragment does not demux");
    assert_eq!(
        events,
        vec![Event::Fragment {
            sequence,
            runs: expected
        }],
        "rewritten times"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_shaped_input_runs() {
        let track = crate::TrackConfig {
            id: 3,
            timescale: 1000,
            codec: crate::CodecConfig::Opus { pre_skip: 0 },
            width: 0,
            height: 0,
            channels: 1,
            sample_rate: 48_000,
        };
        let mut data = vec![0, 5, 200, 1];
        data.extend_from_slice(&crate::init_segment(&[track]).unwrap());
        super::demux(&data);
        super::demux(&data[..data.len() - 3]);
        super::demux(&[]);
        super::demux(&[1, 2, 3, 4, 5]);
    }
}
