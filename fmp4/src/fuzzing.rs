//! The fuzz target's entry point (`fuzz/fuzz_targets/fmp4_demux.rs` is a
//! one-line shim into it).

use crate::{fragment, init_segment, Demuxer, Event, Fmp4Error};

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
            Ok(f) => f.to_bytes(),
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
