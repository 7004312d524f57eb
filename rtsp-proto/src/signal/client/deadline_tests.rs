//! Every deadline of [`ClientSession`] in virtual time, against a scripted server; and
//! the protocol errors that end a session (wrong CSeq, refusals).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::tests::SDP;
use super::*;
use crate::signal::framing::{read_incoming, Incoming};

fn secs(t0: Instant, s: f64) -> Instant {
    t0 + Duration::from_secs_f64(s)
}

/// The requests the client queued.
fn sent(c: &mut ClientSession) -> Vec<Request> {
    let mut out = Vec::new();
    while let Some(b) = c.poll_transmit() {
        out.extend_from_slice(&b);
    }
    let mut buf = &out[..];
    let mut reqs = Vec::new();
    while let Some((u, n)) = read_incoming(buf, &Limits::default()).unwrap() {
        if let Incoming::Request(r) = u {
            reqs.push(r);
        }
        buf = &buf[n..];
    }
    reqs
}

/// Answers `req` with `status`, extra header lines and a body.
fn answer(
    c: &mut ClientSession,
    req: &Request,
    status: u16,
    headers: &str,
    body: &str,
    now: Instant,
) -> Result<(), ClientError> {
    let cseq = req.headers.cseq().unwrap();
    let len = if body.is_empty() {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    let wire = format!("RTSP/1.0 {status} X\r\nCSeq: {cseq}\r\n{headers}{len}\r\n{body}");
    c.handle_input(wire.as_bytes(), now)
}

/// Drives a TCP play to Playing at `t0`; the server gives `Session: abc;timeout=20`
/// and its `Public` has no GET_PARAMETER.
fn playing(timeouts: ClientTimeouts) -> (ClientSession, Instant) {
    let t0 = Instant::now();
    let mut config = ClientConfig::play("rtsp://cam/live/1");
    config.timeouts = timeouts;
    let mut c = ClientSession::new(config, t0).unwrap();
    let steps: [(&str, &str, &str); 5] = [
        (
            "OPTIONS",
            "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n",
            "",
        ),
        ("DESCRIBE", "Content-Base: rtsp://cam/live/1/\r\n", SDP),
        (
            "SETUP",
            "Session: abc;timeout=20\r\nTransport: RTP/AVP/TCP;interleaved=0-1\r\n",
            "",
        ),
        (
            "SETUP",
            "Session: abc;timeout=20\r\nTransport: RTP/AVP/TCP;interleaved=2-3\r\n",
            "",
        ),
        ("PLAY", "Session: abc\r\nRange: npt=0.000-\r\n", ""),
    ];
    for (method, headers, body) in steps {
        let reqs = sent(&mut c);
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].method.as_str(), method);
        answer(&mut c, &reqs[0], 200, headers, body, t0).unwrap();
    }
    assert_eq!(c.state(), ClientState::Playing);
    (c, t0)
}

fn last_event(c: &mut ClientSession) -> Option<ClientEvent> {
    let mut last = None;
    while let Some(e) = c.poll_event() {
        last = Some(e);
    }
    last
}

#[test]
fn response_deadline() {
    let t0 = Instant::now();
    let mut c = ClientSession::new(ClientConfig::play("rtsp://cam/live/1"), t0).unwrap();
    assert_eq!(sent(&mut c)[0].method, Method::Options);
    assert_eq!(c.poll_timeout(), Some(secs(t0, 10.0)));
    c.handle_timeout(secs(t0, 9.999));
    assert_eq!(c.poll_event(), None);
    c.handle_timeout(secs(t0, 10.0));
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::TimedOut {
            what: ClientTimeout::Response {
                method: Method::Options
            }
        })
    );
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(
        c.handle_input(b"RTSP/1.0 200 OK\r\n", secs(t0, 11.0)),
        Err(ClientError::Closed)
    );
}

#[test]
fn one_byte_per_second_is_closed_at_the_response_deadline() {
    let t0 = Instant::now();
    let mut c = ClientSession::new(ClientConfig::play("rtsp://cam/live/1"), t0).unwrap();
    let _ = sent(&mut c);
    let answer = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n";
    for (i, b) in answer.iter().enumerate() {
        let now = secs(t0, (i + 1) as f64);
        let r = c.handle_input(&[*b], now);
        if i + 1 < 10 {
            assert_eq!(r, Ok(()));
            assert!(sent(&mut c).is_empty());
        } else {
            assert_eq!(r, Err(ClientError::Closed));
            break;
        }
    }
    assert!(matches!(
        last_event(&mut c),
        Some(ClientEvent::TimedOut {
            what: ClientTimeout::Response { .. }
        })
    ));
}

#[test]
fn keep_alive_at_half_the_session_timeout() {
    let timeouts = ClientTimeouts {
        media_idle: Duration::from_secs(300),
        ..ClientTimeouts::default()
    };
    let (mut c, t0) = playing(timeouts);
    // `timeout=20`: every 10 s from the last request; OPTIONS (no GET_PARAMETER in Public).
    assert_eq!(c.poll_timeout(), Some(secs(t0, 10.0)));
    c.handle_timeout(secs(t0, 9.9));
    assert!(sent(&mut c).is_empty());
    c.handle_timeout(secs(t0, 10.0));
    let ka = sent(&mut c);
    assert_eq!(ka.len(), 1);
    assert_eq!(ka[0].method, Method::Options);
    assert_eq!(ka[0].uri, "rtsp://cam/live/1");
    assert_eq!(ka[0].headers.session_id(), Some("abc"));
    // While it is in flight the response deadline holds.
    assert_eq!(c.poll_timeout(), Some(secs(t0, 20.0)));
    answer(&mut c, &ka[0], 200, "", "", secs(t0, 10.5)).unwrap();
    assert_eq!(c.poll_timeout(), Some(secs(t0, 20.0)));
    c.handle_timeout(secs(t0, 20.0));
    let ka = sent(&mut c);
    assert_eq!(ka.len(), 1);
    // Unanswered: closed at its response deadline.
    c.handle_timeout(secs(t0, 30.0));
    assert_eq!(
        last_event(&mut c),
        Some(ClientEvent::TimedOut {
            what: ClientTimeout::Response {
                method: Method::Options
            }
        })
    );
}

#[test]
fn media_idle_counts_rtp_only() {
    let (mut c, t0) = playing(ClientTimeouts::default());
    while c.poll_event().is_some() {}
    // RTP on channel 0 at 5 s keeps it; RTCP (channel 1) at 12 s does not.
    c.handle_input_bytes(Bytes::from_static(b"$\x00\x00\x03rtp"), secs(t0, 5.0))
        .unwrap();
    c.handle_input(b"$\x01\x00\x04rtcp", secs(t0, 12.0))
        .unwrap();
    // The keep-alive at 10 s went out (and is answered) on the way.
    let ka = sent(&mut c);
    assert_eq!(ka.len(), 1);
    answer(&mut c, &ka[0], 200, "", "", secs(t0, 12.0)).unwrap();
    assert_eq!(c.poll_timeout(), Some(secs(t0, 15.0)));
    c.handle_timeout(secs(t0, 15.0));
    assert_eq!(
        last_event(&mut c),
        Some(ClientEvent::TimedOut {
            what: ClientTimeout::MediaIdle
        })
    );
    let td = sent(&mut c);
    assert_eq!(td[0].method, Method::Teardown);
    assert_eq!(c.state(), ClientState::Closed);
}

#[test]
fn wrong_cseq_and_unsolicited_responses_are_errors() {
    let t0 = Instant::now();
    let mut c = ClientSession::new(ClientConfig::play("rtsp://cam/live/1"), t0).unwrap();
    let err = c.handle_input(b"RTSP/1.0 200 OK\r\nCSeq: 7\r\n\r\n", t0);
    let want = ClientError::CSeqMismatch {
        expected: Some(1),
        got: Some(7),
    };
    assert_eq!(err, Err(want.clone()));
    assert_eq!(c.poll_event(), Some(ClientEvent::Error(want)));
    assert_eq!(c.state(), ClientState::Closed);
    let (mut c, t0) = playing(ClientTimeouts::default());
    let err = c.handle_input(b"RTSP/1.0 200 OK\r\nCSeq: 6\r\n\r\n", t0);
    assert_eq!(
        err,
        Err(ClientError::CSeqMismatch {
            expected: None,
            got: Some(6)
        })
    );
}

#[test]
fn refusals_fail_and_server_requests_are_answered() {
    let t0 = Instant::now();
    let mut c = ClientSession::new(ClientConfig::play("rtsp://cam/live/1"), t0).unwrap();
    let r = sent(&mut c);
    // A request from the server in between: answered, nothing else moves.
    c.handle_input(
        b"GET_PARAMETER rtsp://cam/live/1 RTSP/1.0\r\nCSeq: 9\r\n\r\n",
        t0,
    )
    .unwrap();
    let out = c.poll_transmit().unwrap();
    assert!(out.starts_with(b"RTSP/1.0 200 OK\r\nCSeq: 9\r\n"));
    // OPTIONS refused: DESCRIBE anyway; DESCRIBE refused: Failed.
    answer(&mut c, &r[0], 501, "", "", t0).unwrap();
    let r = sent(&mut c);
    assert_eq!(r[0].method, Method::Describe);
    assert_eq!(r[0].headers.get("Accept"), Some("application/sdp"));
    answer(&mut c, &r[0], 404, "", "", t0).unwrap();
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::Failed {
            status: 404,
            reason: "X".into()
        })
    );
    // 401 without credentials fails too; close() before a session is Closed at once.
    let mut c = ClientSession::new(ClientConfig::play("rtsp://cam/live/1"), t0).unwrap();
    let r = sent(&mut c);
    answer(
        &mut c,
        &r[0],
        401,
        "WWW-Authenticate: Basic realm=\"x\"\r\n",
        "",
        t0,
    )
    .unwrap();
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::Failed { status: 401, .. })
    ));
    let mut c = ClientSession::new(ClientConfig::play("rtsp://cam/live/1"), t0).unwrap();
    c.close(t0);
    assert_eq!(c.poll_event(), Some(ClientEvent::Closed));
    assert!(matches!(
        ClientSession::new(ClientConfig::play("http://cam/"), t0),
        Err(ClientError::Url(_))
    ));
}

#[test]
fn close_waits_for_the_request_in_flight() {
    let (mut c, t0) = playing(ClientTimeouts {
        media_idle: Duration::from_secs(300),
        ..ClientTimeouts::default()
    });
    c.handle_timeout(secs(t0, 10.0));
    let ka = sent(&mut c);
    assert_eq!(ka[0].method, Method::Options);
    c.close(secs(t0, 10.0));
    assert!(sent(&mut c).is_empty(), "one request in flight");
    answer(&mut c, &ka[0], 200, "", "", secs(t0, 10.1)).unwrap();
    let td = sent(&mut c);
    assert_eq!(td[0].method, Method::Teardown);
    answer(&mut c, &td[0], 200, "", "", secs(t0, 10.2)).unwrap();
    assert_eq!(last_event(&mut c), Some(ClientEvent::Closed));
}

#[test]
fn udp_setup_refused_without_auto_fails_and_missing_ports_are_errors() {
    let t0 = Instant::now();
    let mut config = ClientConfig::play("rtsp://cam/live/1");
    config.transport = ClientTransport::Udp {
        client_ports: vec![(5000, 5001)],
    };
    let mut c = ClientSession::new(config.clone(), t0).unwrap();
    let r = sent(&mut c);
    answer(&mut c, &r[0], 200, "", "", t0).unwrap();
    let r = sent(&mut c);
    answer(&mut c, &r[0], 200, "", SDP, t0).unwrap();
    let r = sent(&mut c);
    assert_eq!(
        r[0].headers.get("Transport"),
        Some("RTP/AVP;unicast;client_port=5000-5001")
    );
    // Track 1 has no ports: an error once track 0 is set up.
    let err = answer(
        &mut c,
        &r[0],
        200,
        "Transport: RTP/AVP;unicast;client_port=5000-5001;server_port=7000-7001\r\n",
        "",
        t0,
    );
    assert_eq!(err, Err(ClientError::NoClientPorts { track: 1 }));
    let mut c = ClientSession::new(config, t0).unwrap();
    let r = sent(&mut c);
    answer(&mut c, &r[0], 200, "", "", t0).unwrap();
    let r = sent(&mut c);
    answer(&mut c, &r[0], 200, "", SDP, t0).unwrap();
    let r = sent(&mut c);
    answer(&mut c, &r[0], 461, "", "", t0).unwrap();
    assert!(matches!(
        last_event(&mut c),
        Some(ClientEvent::Failed { status: 461, .. })
    ));
}
