//! Deadlines under virtual time (a base `Instant` plus offsets) and the zero-copy input
//! path, from byte vectors.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::tests::{req, summary, Harness, ANNOUNCED_SDP, FFMPEG_RECORD, U};
use super::*;

const MS: Duration = Duration::from_millis(1);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A harness whose session has `config`, created at the harness's base instant.
fn harness(config: SessionConfig) -> (Harness, Instant) {
    let mut h = Harness::new("s");
    h.s = ServerSession::new(config, "s", h.now);
    let t0 = h.now;
    (h, t0)
}

impl Harness {
    /// Feeds `data` at `t`.
    fn feed_at(&mut self, t: Instant, data: &[u8]) -> Result<(), SessionError> {
        self.now = t;
        self.feed(data)
    }

    /// Tells the session the time is `t`; the timeout that closed it, if any.
    fn tick(&mut self, t: Instant) -> Option<Timeout> {
        self.now = t;
        self.s.handle_timeout(t);
        self.pump();
        self.timed_out()
    }

    fn timed_out(&self) -> Option<Timeout> {
        let mut all = self.events.iter().filter_map(|e| match e {
            Event::TimedOut { what } => Some(*what),
            _ => None,
        });
        let first = all.next();
        assert_eq!(all.next(), None, "one TimedOut at most");
        first
    }

    /// SETUP (TCP, channels 0-1) and PLAY, answered 2xx, at `t`.
    fn play_at(&mut self, t: Instant) {
        let tcp = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n";
        self.feed_at(t, &req("SETUP", &format!("{U}/trackID=0"), 1, tcp))
            .unwrap();
        self.feed_at(t, &req("PLAY", U, 2, "")).unwrap();
        assert_eq!(self.s.state(), SessionState::Playing);
    }

    /// ANNOUNCE, SETUP with `transport` (mode=record) and RECORD, answered 2xx, at `t`.
    fn record_at(&mut self, t: Instant, transport: &str) {
        let body = ANNOUNCED_SDP;
        let head = format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n",
            body.len()
        );
        let mut announce = req("ANNOUNCE", U, 1, &head);
        announce.extend_from_slice(body.as_bytes());
        self.feed_at(t, &announce).unwrap();
        let transport = format!("Transport: {transport};mode=record\r\n");
        self.feed_at(t, &req("SETUP", &format!("{U}/trackID=0"), 2, &transport))
            .unwrap();
        self.feed_at(t, &req("RECORD", U, 3, "")).unwrap();
        assert_eq!(self.s.state(), SessionState::Recording);
    }
}

/// An RTP (channel 0) or RTCP (channel 1) frame.
fn frame(channel: u8) -> Vec<u8> {
    let mut v = vec![b'$', channel, 0, 4];
    v.extend_from_slice(b"\x80\x60\x00\x01");
    v
}

fn keep_alive(cseq: u32) -> Vec<u8> {
    req("GET_PARAMETER", U, cseq, "Session: s\r\n")
}

#[test]
fn handshake_expires_despite_a_stream_of_options() {
    let (mut h, t0) = harness(SessionConfig::default());
    assert_eq!(h.s.poll_timeout(), Some(t0 + secs(15)));
    for i in 0..15u32 {
        let r = match i % 3 {
            0 => req("OPTIONS", U, i + 1, ""),
            1 => req("DESCRIBE", U, i + 1, ""),
            _ => req(
                "SETUP",
                &format!("{U}/trackID={i}"),
                i + 1,
                "Transport: RTP/AVP/TCP;unicast\r\n",
            ),
        };
        h.feed_at(t0 + secs(u64::from(i)), &r).unwrap();
        assert_eq!(h.s.poll_timeout(), Some(t0 + secs(15)), "request {i}");
    }
    assert_eq!(h.statuses().len(), 15);
    assert!(h.statuses().iter().all(|&(_, status)| status == 200));
    assert_eq!(h.tick(t0 + secs(15) - MS), None);
    assert_eq!(h.tick(t0 + secs(15)), Some(Timeout::Handshake));
    assert_eq!(h.s.poll_timeout(), None);
    assert_eq!(
        h.feed_at(t0 + secs(16), &req("PLAY", U, 99, "")),
        Err(SessionError::Closed)
    );
    assert_eq!(
        h.tick(t0 + secs(17)),
        Some(Timeout::Handshake),
        "no second event"
    );
}

#[test]
fn play_answered_switches_to_the_session_timeout_kept_by_get_parameter() {
    let (mut h, t0) = harness(SessionConfig {
        session_timeout_secs: 30,
        ..SessionConfig::default()
    });
    h.play_at(t0 + secs(1));
    assert_eq!(h.s.poll_timeout(), Some(t0 + secs(31)));
    // Past the handshake deadline, a player lives on its keep-alives.
    let mut last = t0 + secs(1);
    for n in 1..=6u64 {
        last = t0 + secs(1 + 20 * n);
        h.feed_at(last, &keep_alive(10 + n as u32)).unwrap();
        assert_eq!(h.tick(last + secs(10)), None);
        assert_eq!(h.s.poll_timeout(), Some(last + secs(30)));
    }
    // RTCP and note_activity (e.g. media written) keep it too.
    h.feed_at(last + secs(20), &frame(1)).unwrap();
    assert_eq!(h.s.poll_timeout(), Some(last + secs(50)));
    h.s.note_activity(last + secs(40));
    let last = last + secs(40);
    assert_eq!(h.s.poll_timeout(), Some(last + secs(30)));
    h.s.note_activity(last - secs(5));
    assert_eq!(
        h.s.poll_timeout(),
        Some(last + secs(30)),
        "never moves back"
    );
    assert_eq!(h.tick(last + secs(30) - MS), None);
    assert_eq!(h.tick(last + secs(30)), Some(Timeout::Session));
}

#[test]
fn recording_with_interleaved_rtp_every_second_stays_alive() {
    let (mut h, t0) = harness(SessionConfig::default());
    h.record_at(t0 + secs(2), "RTP/AVP/TCP;unicast;interleaved=0-1");
    assert_eq!(h.s.poll_timeout(), Some(t0 + secs(17)));
    for n in 3..=120 {
        h.feed_at(t0 + secs(n), &frame(0)).unwrap();
        assert_eq!(h.tick(t0 + secs(n) + Duration::from_millis(999)), None);
    }
    assert_eq!(h.s.poll_timeout(), Some(t0 + secs(135)));
    // PAUSE: the recorder is Ready and on the session timeout (60 s by default).
    h.feed_at(t0 + secs(121), &req("PAUSE", U, 9, "")).unwrap();
    assert_eq!(h.s.state(), SessionState::Ready);
    assert_eq!(h.s.poll_timeout(), Some(t0 + secs(181)));
    assert_eq!(h.tick(t0 + secs(181)), Some(Timeout::Session));
}

#[test]
fn recording_with_only_rtcp_and_keep_alives_hits_publisher_idle() {
    let (mut h, t0) = harness(SessionConfig::default());
    h.record_at(t0 + secs(1), "RTP/AVP/TCP;unicast;interleaved=0-1");
    for n in 2..16u64 {
        let t = t0 + secs(n);
        h.feed_at(t, &frame(1)).unwrap(); // RTCP
        h.feed_at(t, &frame(4)).unwrap(); // a channel no track uses
        h.feed_at(t, &keep_alive(10 + n as u32)).unwrap();
        assert_eq!(h.tick(t), None);
        assert_eq!(h.s.poll_timeout(), Some(t0 + secs(16)));
    }
    assert_eq!(h.tick(t0 + secs(16)), Some(Timeout::PublisherIdle));
    assert_eq!(
        h.feed_at(t0 + secs(16), &frame(0)),
        Err(SessionError::Closed)
    );
}

#[test]
fn note_media_keeps_a_udp_recording_alive() {
    let (mut h, t0) = harness(SessionConfig {
        record_idle_timeout: secs(3),
        ..SessionConfig::default()
    });
    h.record_at(t0, "RTP/AVP;unicast;client_port=5000-5001");
    for n in 1..=30 {
        h.s.note_media(t0 + secs(n));
        assert_eq!(h.tick(t0 + secs(n) + secs(2)), None);
    }
    assert_eq!(h.s.poll_timeout(), Some(t0 + secs(33)));
    h.s.note_activity(t0 + secs(32)); // RTCP over UDP does not count as media
    assert_eq!(h.tick(t0 + secs(33) - MS), None);
    assert_eq!(h.tick(t0 + secs(33)), Some(Timeout::PublisherIdle));
}

/// Alive 1 ms before each deadline, closed at it; input at the deadline does not revive
/// the session (it is closed first, and the input refused).
#[test]
fn deadlines_are_exact() {
    // Handshake, by handle_timeout.
    let (mut h, t0) = harness(SessionConfig::default());
    assert_eq!(h.tick(t0 + secs(15) - MS), None);
    assert!(h.s.poll_timeout().is_some());
    assert_eq!(h.tick(t0 + secs(15)), Some(Timeout::Handshake));

    // Handshake, by input arriving at the deadline.
    let (mut h, t0) = harness(SessionConfig::default());
    h.feed_at(t0 + secs(15) - MS, &req("OPTIONS", U, 1, ""))
        .unwrap();
    assert_eq!(
        h.feed_at(t0 + secs(15), &req("OPTIONS", U, 2, "")),
        Err(SessionError::Closed)
    );
    assert_eq!(h.timed_out(), Some(Timeout::Handshake));
    assert_eq!(h.statuses(), [(1, 200)]);

    // Record idle: the clock starts when RECORD is answered, at the last instant known.
    let (mut h, t0) = harness(SessionConfig::default());
    h.record_at(t0 + secs(5), "RTP/AVP/TCP;unicast;interleaved=0-1");
    h.feed_at(t0 + secs(7), &frame(0)).unwrap();
    assert_eq!(h.s.poll_timeout(), Some(t0 + secs(22)));
    h.s.note_media(t0 + secs(22) - MS);
    assert_eq!(h.s.poll_timeout(), Some(t0 + secs(37) - MS));
    assert_eq!(h.tick(t0 + secs(37) - MS - MS), None);
    h.s.note_media(t0 + secs(37) - MS);
    h.pump();
    assert_eq!(h.timed_out(), Some(Timeout::PublisherIdle));
    assert_eq!(h.s.poll_timeout(), None);

    // Session timeout.
    let (mut h, t0) = harness(SessionConfig {
        session_timeout_secs: 5,
        ..SessionConfig::default()
    });
    h.play_at(t0);
    assert_eq!(h.tick(t0 + secs(5) - MS), None);
    h.s.note_activity(t0 + secs(5));
    h.pump();
    assert_eq!(h.timed_out(), Some(Timeout::Session));
}

/// The trickle: a valid OPTIONS-then-DESCRIBE stream, one byte per virtual second,
/// the timer run every second; the session is closed at its handshake deadline, however
/// far the requests got.
#[test]
fn trickle_of_one_byte_per_second_closes_at_the_handshake_deadline() {
    let mut stream = req("OPTIONS", U, 1, "");
    stream.extend_from_slice(&req("DESCRIBE", U, 2, ""));
    for deadline_secs in [15u64, 120] {
        let (mut h, t0) = harness(SessionConfig {
            handshake_timeout: secs(deadline_secs),
            ..SessionConfig::default()
        });
        let mut closed_at = None;
        for (i, byte) in stream.iter().cycle().enumerate() {
            let t = t0 + secs(i as u64);
            if h.tick(t).is_some() {
                closed_at = Some(i as u64);
                break;
            }
            h.feed_at(t, std::slice::from_ref(byte)).unwrap();
            assert_eq!(h.tick(t + secs(1) - MS), None);
        }
        assert_eq!(closed_at, Some(deadline_secs));
        assert_eq!(h.timed_out(), Some(Timeout::Handshake));
        assert_eq!(h.s.poll_timeout(), None);
        assert_eq!(
            h.feed_at(t0 + secs(deadline_secs), b"\r\n"),
            Err(SessionError::Closed)
        );
        if deadline_secs == 120 {
            // Both requests were complete and answered; they did not extend the deadline.
            assert!(stream.len() < 120);
            assert_eq!(h.statuses(), [(1, 200), (2, 200)]);
        } else {
            assert!(h.statuses().is_empty());
        }
    }
}

fn within(input: &Bytes, part: &[u8]) -> bool {
    let range = input.as_ptr_range();
    let p = part.as_ptr_range();
    !part.is_empty() && range.start <= p.start && p.end <= range.end
}

#[test]
fn handle_input_bytes_slices_payloads_out_of_the_input() {
    let now = Instant::now();
    let mut s = ServerSession::new(SessionConfig::default(), "s", now);
    let mut wire = frame(0);
    let body = ANNOUNCED_SDP.as_bytes();
    let head = format!("Content-Length: {}\r\n", body.len());
    wire.extend_from_slice(&req("ANNOUNCE", U, 1, &head));
    wire.extend_from_slice(body);
    wire.extend_from_slice(&frame(1));
    let tail = b"$\x02\x00\x08half";
    wire.extend_from_slice(tail);
    let input = Bytes::from(wire);
    s.handle_input_bytes(input.clone(), now).unwrap();

    let Some(Event::Interleaved { channel: 0, data }) = s.poll_event() else {
        panic!("RTP first")
    };
    assert!(within(&input, &data), "interleaved payload not copied");
    let Some(Event::Announce { request_id, .. }) = s.poll_event() else {
        panic!("ANNOUNCE second")
    };
    let announced = &s.request(request_id).unwrap().body;
    assert_eq!(&announced[..], body);
    assert!(within(&input, announced), "request body not copied");
    let Some(Event::Interleaved { channel: 1, data }) = s.poll_event() else {
        panic!("RTCP third")
    };
    assert!(within(&input, &data));
    assert_eq!(s.poll_event(), None);
    // Only the incomplete tail was copied; the frame it starts completes from the buffer.
    assert_eq!(&s.inbuf[..], tail);
    let more = Bytes::from_static(b"done$\x03\x00\x01x");
    s.handle_input_bytes(more.clone(), now).unwrap();
    let Some(Event::Interleaved { channel: 2, data }) = s.poll_event() else {
        panic!()
    };
    assert_eq!(&data[..], b"halfdone");
    let Some(Event::Interleaved { channel: 3, data }) = s.poll_event() else {
        panic!()
    };
    assert_eq!(&data[..], b"x");
    assert!(s.inbuf.is_empty());
    // The buffer is empty again: the next input is sliced, not copied.
    let next = Bytes::from(frame(0));
    s.handle_input_bytes(next.clone(), now).unwrap();
    let Some(Event::Interleaved { data, .. }) = s.poll_event() else {
        panic!()
    };
    assert!(within(&next, &data));
}

/// The zero-copy path gives the same events and answers as the copying one, however the
/// input is cut.
#[test]
fn handle_input_bytes_matches_handle_input() {
    for chunk in [1, 7, 100, 1400, 65536] {
        let mut copied = Harness::new("3uloepI7tDIs");
        let mut sliced = Harness::new("3uloepI7tDIs");
        for piece in FFMPEG_RECORD.chunks(chunk) {
            copied.feed(piece).unwrap();
            let now = sliced.now;
            sliced
                .s
                .handle_input_bytes(Bytes::copy_from_slice(piece), now)
                .unwrap();
            sliced.pump();
        }
        assert_eq!(summary(&sliced.events), summary(&copied.events), "{chunk}");
        assert_eq!(sliced.sent, copied.sent, "{chunk}");
    }
}
