//! Property tests: a valid masked frame sequence decodes the same whatever
//! the byte split; arbitrary bytes never panic and stay within the limits.

use proptest::prelude::*;
use ws_proto::{encode_client_frame, Decoder, Event, Limits, Opcode};

#[derive(Debug, Clone)]
enum Frame {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Data(Opcode, bool, usize),
    Close(Option<u16>),
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Frame::Ping),
        proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Frame::Pong),
        (0usize..3000).prop_map(|n| Frame::Data(Opcode::Binary, true, n)),
        (0usize..300).prop_map(|n| Frame::Data(Opcode::Text, true, n)),
    ]
}

/// Encodes frames (a trailing close optional) and the events they must give.
fn encode(frames: &[Frame], mask: [u8; 4]) -> (Vec<u8>, Vec<Event>) {
    let mut bytes = Vec::new();
    let mut want = Vec::new();
    for f in frames {
        match f {
            Frame::Ping(p) => {
                bytes.extend(encode_client_frame(Opcode::Ping, true, p, mask));
                want.push(Event::Ping(p.clone().into()));
            }
            Frame::Pong(p) => {
                bytes.extend(encode_client_frame(Opcode::Pong, true, p, mask));
                want.push(Event::Pong);
            }
            Frame::Data(op, fin, n) => {
                bytes.extend(encode_client_frame(*op, *fin, &vec![0x5a; *n], mask));
                want.push(Event::Data {
                    opcode: *op,
                    len: *n as u64,
                });
            }
            Frame::Close(code) => {
                let payload = code.map(|c| c.to_be_bytes().to_vec()).unwrap_or_default();
                bytes.extend(encode_client_frame(Opcode::Close, true, &payload, mask));
                want.push(Event::Close {
                    code: *code,
                    reason: String::new(),
                });
            }
        }
    }
    (bytes, want)
}

fn decode_in_pieces(bytes: &[u8], cuts: &[usize]) -> Result<Vec<Event>, ws_proto::DecodeError> {
    let mut dec = Decoder::new(Limits::default());
    let mut got = Vec::new();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(bytes.len());
    for cut in cuts {
        // Pieces no larger than a socket read, as the server reads them.
        for piece in bytes[at..cut.max(at)].chunks(4096) {
            dec.push(piece)?;
            while let Some(e) = dec.next_event()? {
                got.push(e);
            }
            assert!(dec.buffered() <= 14 + 125 + 4096);
        }
        at = cut.max(at);
    }
    Ok(got)
}

proptest! {
    #[test]
    fn any_split_decodes_the_same(
        frames in proptest::collection::vec(frame(), 0..8),
        close in proptest::option::of(proptest::option::of(1000u16..=1003)),
        mask in any::<[u8; 4]>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut frames = frames;
        if let Some(code) = close {
            frames.push(Frame::Close(code));
        }
        let (bytes, want) = encode(&frames, mask);
        prop_assert_eq!(decode_in_pieces(&bytes, &cuts).unwrap(), want.clone());
        // One byte at a time.
        let every: Vec<usize> = (0..bytes.len()).collect();
        prop_assert_eq!(decode_in_pieces(&bytes, &every).unwrap(), want);
    }

    #[test]
    fn garbage_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let _ = decode_in_pieces(&bytes, &cuts);
    }
}
