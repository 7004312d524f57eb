//! RTMP chunk stream decoder: arbitrary bytes never panic, and every message
//! it yields goes through the command and data decoders without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_proto::command::{Command, DataMessage};
use rtmp_proto::ChunkDecoder;

fuzz_target!(|data: &[u8]| {
    let mut dec = ChunkDecoder::new(Default::default());
    dec.push(data);
    for _ in 0..10_000 {
        match dec.poll_message() {
            Ok(Some(msg)) => {
                let _ = Command::decode_message(&msg);
                let _ = DataMessage::decode(&msg.payload);
            }
            Ok(None) | Err(_) => break,
        }
    }
});
