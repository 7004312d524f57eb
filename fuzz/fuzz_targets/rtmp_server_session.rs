//! The whole RTMP server session (handshake, chunks, commands) fed arbitrary
//! bytes in two reads, accepting every request: never panics.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rtmp_proto::{ServerEvent, ServerSession};

fuzz_target!(|data: &[u8]| {
    let mut s = ServerSession::new(Default::default());
    let split = data.len() / 2;
    for part in [&data[..split], &data[split..]] {
        if s.handle_input_bytes(Bytes::copy_from_slice(part)).is_err() {
            return;
        }
        while let Some(ev) = s.poll_event() {
            match ev {
                ServerEvent::ConnectRequested { req, .. } => s.accept_connect(req),
                ServerEvent::PublishRequested { req, .. } => s.accept_publish(req),
                ServerEvent::PlayRequested { req, .. } => s.accept_play(req),
                _ => {}
            }
        }
        while s.poll_transmit().is_some() {}
    }
});
