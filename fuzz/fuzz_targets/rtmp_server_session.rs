//! The whole RTMP server session (handshake, chunks, commands) fed arbitrary
//! bytes in two reads a virtual second apart, accepting every request, then
//! told its deadlines passed: never panics.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rtmp_proto::{Decision, ServerEvent, ServerSession};

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut s = ServerSession::new(Default::default(), now);
    let split = data.len() / 2;
    for part in [&data[..split], &data[split..]] {
        if s.handle_input_bytes(Bytes::copy_from_slice(part), now)
            .is_err()
        {
            return;
        }
        drain(&mut s);
        now += Duration::from_secs(1);
    }
    // Past every deadline: the session closes without panicking.
    while let Some(deadline) = s.poll_timeout() {
        s.handle_timeout(deadline);
        drain(&mut s);
    }
});

fn drain(s: &mut ServerSession) {
    while let Some(ev) = s.poll_event() {
        match ev {
            ServerEvent::ConnectRequested { req, .. }
            | ServerEvent::PublishRequested { req, .. }
            | ServerEvent::PlayRequested { req, .. } => s.respond(req, Decision::Accept),
            _ => {}
        }
    }
    while s.poll_transmit().is_some() {}
}
