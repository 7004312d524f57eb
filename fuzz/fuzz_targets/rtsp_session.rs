//! RTSP: arbitrary bytes, fed in two pieces, never panic the server session
//! (framing, messages, headers, SDP of ANNOUNCE, Transport of SETUP), which
//! is answered as a permissive server would, and its buffers stay bounded.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rtsp_proto::signal::{
    content_base, describe_sdp, DescribeOptions, Event, Range, Reply, ServerSession, SessionConfig,
};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut session = ServerSession::new(SessionConfig::default(), "fuzz", now);
    let split = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    for piece in [&data[..split], &data[split..]] {
        if session.handle_input(piece, now).is_err() {
            return;
        }
        while let Some(event) = session.poll_event() {
            let answer = match event {
                Event::Describe { request_id, .. } => {
                    let uri = session
                        .request(request_id)
                        .map(|r| r.uri.clone())
                        .unwrap_or_default();
                    let sdp = describe_sdp(&[], &DescribeOptions::default());
                    Some((request_id, Reply::describe(content_base(&uri), &sdp)))
                }
                Event::Setup { request_id, .. }
                | Event::Record { request_id, .. }
                | Event::Pause { request_id }
                | Event::Announce { request_id, .. } => Some((request_id, Reply::ok())),
                Event::Play { request_id, .. } => {
                    Some((request_id, Reply::play(Some(Range::live()), None)))
                }
                _ => None,
            };
            if let Some((id, reply)) = answer {
                if session.respond(id, reply).is_err() {
                    return;
                }
            }
        }
        while session.poll_transmit().is_some() {}
        assert!(session.queued_bytes() < 1 << 20);
    }
});
