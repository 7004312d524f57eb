//! RTSP client: arbitrary server bytes, fed in two pieces (copied, then zero-copy) at
//! virtual instants, never panic the client session (responses, SDP of DESCRIBE,
//! Transport of SETUP, interleaved data, requests from the server); its buffers stay
//! bounded and an open session always has a deadline in the future.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rtsp_proto::signal::{ClientConfig, ClientSession, ClientState, ClientTransport};

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut config = ClientConfig::play("rtsp://user:pass@127.0.0.1/live/cam");
    if data.first().is_some_and(|b| b & 1 == 1) {
        config.transport = ClientTransport::Auto {
            client_ports: vec![(5000, 5001), (5002, 5003)],
        };
    }
    let Ok(mut client) = ClientSession::new(config, t0) else {
        return;
    };
    let split = usize::from(data.get(1).copied().unwrap_or(0)).min(data.len());
    // The second piece comes 0 to 25 s after the first: on either side of the deadlines.
    let later = t0 + Duration::from_millis(100 * u64::from(data.get(2).copied().unwrap_or(0)));
    for (i, piece) in [&data[..split], &data[split..]].into_iter().enumerate() {
        let now = if i == 0 { t0 } else { later };
        let fed = if i == 0 {
            client.handle_input(piece, now)
        } else {
            client.handle_input_bytes(Bytes::copy_from_slice(piece), now)
        };
        while client.poll_event().is_some() {}
        while client.poll_transmit().is_some() {}
        assert!(client.queued_bytes() == 0);
        if fed.is_err() {
            assert_eq!(client.state(), ClientState::Closed);
            assert_eq!(client.poll_timeout(), None);
            return;
        }
        client.handle_timeout(now);
        match client.poll_timeout() {
            Some(at) => assert!(at > now),
            None => return,
        }
    }
    client.close(later);
    while client.poll_transmit().is_some() {}
});
