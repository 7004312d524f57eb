//! WebSocket client frames: `ws_proto::Decoder` over arbitrary bytes, whole
//! and in pieces (the first byte picks the cut): never panics, the same
//! events either way, buffering within its limit, pongs within 125 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ws_proto::{Decoder, Event, Limits};

fn decode(pieces: &[&[u8]]) -> (Vec<Event>, Option<ws_proto::DecodeError>) {
    let limits = Limits {
        max_buffered: 1 << 16,
        ..Limits::default()
    };
    let mut dec = Decoder::new(limits);
    let mut events = Vec::new();
    for piece in pieces {
        if let Err(e) = dec.push(piece) {
            return (events, Some(e));
        }
        loop {
            match dec.next_event() {
                Ok(Some(e)) => {
                    if let Event::Ping(p) = &e {
                        assert!(ws_proto::pong_frame(p).len() <= 127);
                    }
                    events.push(e);
                }
                Ok(None) => break,
                Err(e) => return (events, Some(e)),
            }
        }
        assert!(dec.buffered() <= limits.max_buffered);
    }
    (events, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(rest.len());
    let whole = decode(&[rest]);
    let split = decode(&[&rest[..cut], &rest[cut..]]);
    assert_eq!(whole, split);
});
