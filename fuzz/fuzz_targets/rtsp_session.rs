//! RTSP: arbitrary bytes, fed in two pieces (copied, then zero-copy) at
//! virtual instants, never panic the server session (framing, messages,
//! headers, SDP of ANNOUNCE, Transport of SETUP), which is answered as a
//! permissive server would; its buffers stay bounded and an open session
//! always has a deadline.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rtsp_proto::signal::{
    content_base, describe_sdp, DescribeOptions, Event, Range, Reply, ServerSession, SessionConfig,
};

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut session = ServerSession::new(SessionConfig::default(), "fuzz", t0);
    let split = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    // The second piece comes 0 to 25 s after the first: on either side of the deadlines.
    let later = t0 + Duration::from_millis(100 * u64::from(data.get(1).copied().unwrap_or(0)));
    for (i, piece) in [&data[..split], &data[split..]].into_iter().enumerate() {
        let now = if i == 0 { t0 } else { later };
        let fed = if i == 0 {
            session.handle_input(piece, now)
        } else {
            session.handle_input_bytes(Bytes::copy_from_slice(piece), now)
        };
        if fed.is_err() {
            assert_eq!(session.poll_timeout(), None);
            return;
        }
        session.handle_timeout(now);
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
        match session.poll_timeout() {
            Some(at) => assert!(at > now),
            None => return,
        }
    }
});
