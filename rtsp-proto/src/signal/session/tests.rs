//! Replays of real client captures (see `../testdata/README.md`) and state-machine checks.

use std::time::Instant;

use bytes::Bytes;

use super::*;
use crate::signal::auth::{Authenticator, Credentials};
use crate::signal::framing::{read_incoming, Incoming};
use crate::signal::message::{Limits, Method};
use crate::signal::range::NptTime;
use crate::signal::sdp::{describe_sdp, DescribeOptions, MediaInfo};
use crate::signal::transport::{LowerTransport, TransportMode};

const FFMPEG_PLAY: &[u8] =
    include_bytes!("../testdata/ffmpeg-5.1_rtsp_play_tcp.client-to-server.bin");
pub(super) const FFMPEG_RECORD: &[u8] =
    include_bytes!("../testdata/ffmpeg-5.1_rtsp_record_tcp.client-to-server.bin");
const GST_PLAY: &[u8] =
    include_bytes!("../testdata/gstreamer-1.22_rtspsrc_play_tcp.client-to-server.bin");

/// A session plus an application that accepts everything, and what it saw.
pub(super) struct Harness {
    pub(super) s: ServerSession,
    pub(super) now: Instant,
    pub(super) events: Vec<Event>,
    pub(super) sent: Vec<u8>,
}

impl Harness {
    pub(super) fn new(id: &str) -> Self {
        let now = Instant::now();
        Harness {
            s: ServerSession::new(SessionConfig::default(), id, now),
            now,
            events: Vec::new(),
            sent: Vec::new(),
        }
    }

    pub(super) fn feed(&mut self, data: &[u8]) -> Result<(), SessionError> {
        let r = self.s.handle_input(data, self.now);
        self.pump();
        r
    }

    /// Answers every event as a permissive application would, then collects output.
    pub(super) fn pump(&mut self) {
        while let Some(ev) = self.s.poll_event() {
            let reply = match &ev {
                Event::Describe { request_id, .. } => {
                    let uri = self.s.request(*request_id).unwrap().uri.clone();
                    let infos: Vec<MediaInfo> =
                        crate::signal::sdp::Sdp::parse(ANNOUNCED_SDP.as_bytes())
                            .unwrap()
                            .media_infos()
                            .into_iter()
                            .map(Result::unwrap)
                            .collect();
                    Some((
                        *request_id,
                        Reply::describe(
                            content_base(&uri),
                            &describe_sdp(&infos, &DescribeOptions::default()),
                        ),
                    ))
                }
                Event::Announce { request_id, .. }
                | Event::Record { request_id, .. }
                | Event::Pause { request_id } => Some((*request_id, Reply::ok())),
                Event::Setup {
                    request_id,
                    transport,
                    ..
                } => {
                    let mut t = transport.clone();
                    t.ssrc = Some(0x1234);
                    Some((*request_id, Reply::setup(t)))
                }
                Event::Play { request_id, .. } => {
                    Some((*request_id, Reply::play(Some(Range::live()), None)))
                }
                _ => None,
            };
            self.events.push(ev);
            if let Some((id, r)) = reply {
                self.s.respond(id, r).unwrap();
            }
        }
        while let Some(b) = self.s.poll_transmit() {
            self.sent.extend_from_slice(&b);
        }
    }

    fn responses(&self) -> Vec<Response> {
        let mut buf = &self.sent[..];
        let mut out = Vec::new();
        while let Some((inc, n)) = read_incoming(buf, &Limits::default()).unwrap() {
            if let Incoming::Response(r) = inc {
                out.push(r);
            }
            buf = &buf[n..];
        }
        assert!(buf.is_empty());
        out
    }

    pub(super) fn statuses(&self) -> Vec<(u32, u16)> {
        self.responses()
            .iter()
            .map(|r| (r.headers.cseq().unwrap_or(0), r.status))
            .collect()
    }

    fn requests_only(&self) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| !matches!(e, Event::Interleaved { .. }))
            .collect()
    }
}

pub(super) const ANNOUNCED_SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n\
a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z0LADdoFB+wEQAAAAwBAAAAMo8UKqA==,aM48gA==\r\n\
m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/44100/1\r\na=fmtp:97 mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1208\r\n";

#[test]
fn ffmpeg_play_replay() {
    let mut h = Harness::new("rUdvIDl5VAKx");
    h.feed(FFMPEG_PLAY).unwrap();
    let ev = h.requests_only();
    assert_eq!(ev.len(), 5, "{ev:#?}");
    let Event::Describe { url, .. } = ev[0] else {
        panic!("{:?}", ev[0])
    };
    assert_eq!(
        (url.app.as_str(), url.stream.as_str(), url.port),
        ("live", "rcap2", Some(19411))
    );
    for (i, e) in ev[1..3].iter().enumerate() {
        let Event::Setup {
            track,
            transport,
            url,
            ..
        } = e
        else {
            panic!("{e:?}")
        };
        assert_eq!(track.as_deref(), Some(format!("trackID={i}").as_str()));
        assert_eq!(url.stream, "rcap2");
        assert_eq!(transport.lower, LowerTransport::Tcp);
        assert_eq!(transport.interleaved, Some((2 * i as u8, 2 * i as u8 + 1)));
    }
    let Event::Play { range, .. } = ev[3] else {
        panic!()
    };
    assert_eq!(range, &Some(Range::live()));
    assert_eq!(ev[4], &Event::Teardown);
    assert_eq!(h.statuses(), (1..=6).map(|c| (c, 200)).collect::<Vec<_>>());
    let resp = h.responses();
    assert_eq!(resp[0].headers.get("Public"), Some(PUBLIC_METHODS));
    assert_eq!(
        resp[1].headers.get("Content-Base"),
        Some("rtsp://127.0.0.1:19411/live/rcap2/")
    );
    assert_eq!(resp[1].headers.get("Content-Type"), Some("application/sdp"));
    assert!(
        resp[1].headers.get("Session").is_none(),
        "no session before SETUP"
    );
    assert_eq!(
        resp[2].headers.get("Session"),
        Some("rUdvIDl5VAKx;timeout=60")
    );
    assert_eq!(
        resp[2].headers.get("Transport"),
        Some("RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=00001234")
    );
    assert_eq!(
        resp[3].headers.get("Transport"),
        Some("RTP/AVP/TCP;unicast;interleaved=2-3;ssrc=00001234")
    );
    assert_eq!(resp[4].headers.get("Range"), Some("npt=0.000-"));
    assert!(resp
        .iter()
        .all(|r| r.headers.get("Server") == Some("strom")));
    assert_eq!(h.s.state(), SessionState::Init, "after TEARDOWN");
    assert!(h.s.tracks().is_empty());
}

#[test]
fn ffmpeg_record_replay_in_odd_chunks() {
    for chunk in [1usize, 7, 1000, 4096] {
        let mut h = Harness::new("3uloepI7tDIs");
        let mut played = None;
        for c in FFMPEG_RECORD.chunks(chunk) {
            h.feed(c).unwrap();
            if h.s.state() == SessionState::Recording && played.is_none() {
                played = Some(h.s.tracks().to_vec());
            }
        }
        let ev = h.requests_only();
        assert_eq!(ev.len(), 5, "chunk {chunk}: {ev:#?}");
        let Event::Announce { sdp, url, .. } = ev[0] else {
            panic!()
        };
        assert_eq!((url.app.as_str(), url.stream.as_str()), ("live", "rcap"));
        assert_eq!(sdp.media.len(), 2);
        let Event::Setup {
            track, transport, ..
        } = ev[2]
        else {
            panic!()
        };
        assert_eq!(track.as_deref(), Some("streamid=1"));
        assert_eq!(transport.mode, Some(TransportMode::Record));
        assert!(matches!(ev[3], Event::Record { .. }));
        assert_eq!(ev[4], &Event::Teardown);
        let tracks = played.unwrap();
        assert_eq!(tracks.len(), 2);
        assert_eq!(tracks[0].control.as_deref(), Some("streamid=0"));
        // Every interleaved frame arrives, in order, on the channels set up.
        let media: Vec<(u8, usize)> = h
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Interleaved { channel, data } => Some((*channel, data.len())),
                _ => None,
            })
            .collect();
        assert_eq!(media.len(), 97);
        assert!(media.iter().all(|(c, _)| *c < 4));
        let bytes: usize = media.iter().map(|(_, n)| n + 4).sum();
        assert!(bytes > 90_000);
        assert_eq!(h.statuses(), (1..=6).map(|c| (c, 200)).collect::<Vec<_>>());
    }
}

#[test]
fn gstreamer_replay() {
    let mut h = Harness::new("C5YdAidtVRGA");
    h.feed(GST_PLAY).unwrap();
    let ev = h.requests_only();
    assert!(matches!(ev[0], Event::Describe { .. }));
    let Event::Play { range, .. } = ev[3] else {
        panic!("{:?}", ev[3])
    };
    assert_eq!(
        range,
        &Some(Range::Npt {
            start: NptTime::Now,
            end: None
        })
    );
    assert!(matches!(ev[4], Event::Pause { .. }));
    assert_eq!(ev[5], &Event::Teardown);
    let rtcp: Vec<u8> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Interleaved { channel, .. } => Some(*channel),
            _ => None,
        })
        .collect();
    assert_eq!(rtcp.len(), 3);
    assert!(rtcp.iter().all(|c| *c == 1 || *c == 3), "{rtcp:?}");
    assert_eq!(h.statuses(), (1..=7).map(|c| (c, 200)).collect::<Vec<_>>());
}

pub(super) fn req(method: &str, uri: &str, cseq: u32, extra: &str) -> Vec<u8> {
    format!("{method} {uri} RTSP/1.0\r\nCSeq: {cseq}\r\n{extra}\r\n").into_bytes()
}

pub(super) const U: &str = "rtsp://h/live/cam";

#[test]
fn state_rules() {
    let mut h = Harness::new("sess0001");
    h.feed(&req("PLAY", U, 1, "")).unwrap();
    h.feed(&req("RECORD", U, 2, "")).unwrap();
    h.feed(&req("PAUSE", U, 3, "")).unwrap();
    h.feed(&req("OPTIONS", U, 4, "Session: other\r\n")).unwrap();
    h.feed(&req(
        "SETUP",
        &format!("{U}/trackID=0"),
        5,
        "Transport: RTP/AVP/TCP;unicast;mode=record\r\n",
    ))
    .unwrap();
    h.feed(&req(
        "SETUP",
        &format!("{U}/trackID=0"),
        6,
        "Transport: RTP/AVP;multicast\r\n",
    ))
    .unwrap();
    h.feed(&req("SETUP", &format!("{U}/trackID=0"), 7, ""))
        .unwrap();
    h.feed(&req("REDIRECT", U, 8, "")).unwrap();
    h.feed(b"OPTIONS * RTSP/1.0\r\n\r\n").unwrap();
    h.feed(&req("PLAY", U, 9, "Range: bogus\r\n")).unwrap();
    assert_eq!(
        h.statuses(),
        [
            (1, 455),
            (2, 455),
            (3, 455),
            (4, 454),
            (5, 455),
            (6, 461),
            (7, 400),
            (8, 501),
            (0, 400),
            (9, 455)
        ]
    );
    // TCP without interleaved= gets the next free pair; then a clash is refused.
    h.sent.clear();
    h.feed(&req(
        "SETUP",
        &format!("{U}/trackID=0"),
        10,
        "Transport: RTP/AVP/TCP;unicast\r\n",
    ))
    .unwrap();
    h.feed(&req(
        "SETUP",
        &format!("{U}/trackID=1"),
        11,
        "Transport: RTP/AVP/TCP;unicast;interleaved=1-2\r\n",
    ))
    .unwrap();
    h.feed(&req(
        "SETUP",
        &format!("{U}/trackID=1"),
        12,
        "Transport: RTP/AVP/TCP;unicast\r\nSession: sess0001\r\n",
    ))
    .unwrap();
    h.feed(&req(
        "PLAY",
        U,
        13,
        "Session: sess0001\r\nRange: smpte=bogus\r\n",
    ))
    .unwrap();
    h.feed(&req("PLAY", U, 14, "Range: npt=x-\r\n")).unwrap();
    h.feed(&req("RECORD", U, 15, "")).unwrap();
    h.feed(&req("GET_PARAMETER", U, 16, "Session: sess0001\r\n"))
        .unwrap();
    assert_eq!(
        h.statuses(),
        [
            (10, 200),
            (11, 461),
            (12, 200),
            (13, 200),
            (14, 457),
            (15, 455),
            (16, 200)
        ]
    );
    assert_eq!(h.s.tracks()[0].transport.interleaved, Some((0, 1)));
    assert_eq!(h.s.tracks()[1].transport.interleaved, Some((2, 3)));
    assert_eq!(h.s.track_for_channel(3), Some((1, true)));
    assert_eq!(h.s.state(), SessionState::Playing);
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, Event::Rejected { status: 461, .. })));
}

#[test]
fn garbage_answered_then_cut_off() {
    let mut h = Harness::new("s");
    h.feed(b"HELLO WORLD\r\nCSeq: 3\r\n\r\n").unwrap();
    h.feed(&req("OPTIONS", "*", 4, "")).unwrap();
    assert_eq!(h.statuses(), [(3, 400), (4, 200)]);
    let mut r = Ok(());
    for _ in 0..9 {
        r = h.feed(b"junk\r\n\r\n");
    }
    assert_eq!(r, Err(SessionError::Garbage { count: 9 }));
    assert_eq!(h.feed(b"x"), Err(SessionError::Closed));
    // A line over the limit cannot be framed.
    let mut h = Harness::new("s");
    assert!(matches!(
        h.feed(&[b'A'; 5000]),
        Err(SessionError::Framing(_))
    ));
}

#[test]
fn interleaved_limit_and_pipelining() {
    let mut h = Harness::new("s");
    h.s = ServerSession::new(
        SessionConfig {
            max_interleaved: 10,
            ..SessionConfig::default()
        },
        "s",
        h.now,
    );
    h.feed(b"$\x00\x00\x02ab").unwrap();
    assert_eq!(
        h.events,
        [Event::Interleaved {
            channel: 0,
            data: Bytes::from_static(b"ab")
        }]
    );
    assert!(matches!(
        h.feed(b"$\x00\x00\x0babcdefghijk"),
        Err(SessionError::InterleavedTooLarge { len: 11, .. })
    ));

    // While DESCRIBE waits for the caller, later requests wait, interleaved data does not.
    let now = Instant::now();
    let mut s = ServerSession::new(SessionConfig::default(), "s", now);
    let mut input = req("DESCRIBE", U, 1, "");
    input.extend_from_slice(&req("OPTIONS", U, 2, ""));
    input.extend_from_slice(b"$\x01\x00\x01z");
    s.handle_input(&input, now).unwrap();
    let Some(Event::Describe { request_id, .. }) = s.poll_event() else {
        panic!()
    };
    assert!(matches!(
        s.poll_event(),
        Some(Event::Interleaved { channel: 1, .. })
    ));
    assert!(s.poll_transmit().is_none());
    let unknown = RequestId(request_id.0 + 100);
    assert_eq!(
        s.respond(unknown, Reply::ok()),
        Err(SessionError::UnknownRequest(unknown))
    );
    s.respond(request_id, Reply::status(404)).unwrap();
    let a = s.poll_transmit().unwrap();
    let b = s.poll_transmit().unwrap();
    assert!(a.starts_with(b"RTSP/1.0 404 Not Found\r\nCSeq: 1\r\n"));
    assert!(b.starts_with(b"RTSP/1.0 200 OK\r\nCSeq: 2\r\n"));
    // One request waits for the caller, MAX_DEFERRED wait behind it, one more is too many.
    for i in 0..=MAX_DEFERRED as u32 + 1 {
        let r = s.handle_input(&req("DESCRIBE", U, 10 + i, ""), now);
        if i == MAX_DEFERRED as u32 + 1 {
            assert_eq!(
                r,
                Err(SessionError::TooManyPipelined {
                    limit: MAX_DEFERRED
                })
            );
        }
    }
}

#[test]
fn send_interleaved_and_session_ids() {
    let mut s = ServerSession::new(SessionConfig::default(), "s", Instant::now());
    assert!(s.send_interleaved(2, Bytes::from_static(b"rtp")));
    assert_eq!(s.queued_bytes(), 7);
    assert_eq!(&s.poll_transmit().unwrap()[..], b"$\x02\x00\x03");
    assert_eq!(&s.poll_transmit().unwrap()[..], b"rtp");
    assert!(!s.send_interleaved(0, Bytes::from(vec![0; 70_000])));
    assert_eq!(session_id_from_seed(7).len(), 16);
    assert_ne!(session_id_from_seed(7), session_id_from_seed(8));
}

#[test]
fn auth_by_the_caller() {
    let auth = Authenticator::new(
        "strom",
        vec![Credentials {
            user: "u".into(),
            password: "p".into(),
        }],
    );
    let now = Instant::now();
    let mut s = ServerSession::new(SessionConfig::default(), "s", now);
    s.handle_input(&req("DESCRIBE", U, 1, ""), now).unwrap();
    let Some(Event::Describe { request_id, .. }) = s.poll_event() else {
        panic!()
    };
    let request = s.request(request_id).unwrap();
    assert_eq!(request.method, Method::Describe);
    assert!(auth.check(request, "n1").is_err());
    s.respond(request_id, Reply::from(auth.unauthorized("n1", false)))
        .unwrap();
    let out = s.poll_transmit().unwrap();
    let (Incoming::Response(r), _) = read_incoming(&out, &Limits::default()).unwrap().unwrap()
    else {
        panic!()
    };
    assert_eq!((r.status, r.headers.cseq()), (401, Some(1)));
    assert_eq!(r.headers.get_all("WWW-Authenticate").count(), 2);
    let basic = "Authorization: Basic dTpw\r\n"; // u:p
    s.handle_input(&req("DESCRIBE", U, 2, basic), now).unwrap();
    let Some(Event::Describe { request_id, .. }) = s.poll_event() else {
        panic!()
    };
    assert_eq!(auth.check(s.request(request_id).unwrap(), "n1"), Ok("u"));
}

/// Request events and interleaved events apart: how they interleave depends on when the
/// application answered (requests wait behind a pending one, media does not).
pub(super) fn summary(events: &[Event]) -> (Vec<String>, Vec<String>) {
    let (media, requests): (Vec<&Event>, Vec<&Event>) = events
        .iter()
        .partition(|e| matches!(e, Event::Interleaved { .. }));
    let show = |v: Vec<&Event>| v.iter().map(|e| format!("{e:?}")).collect();
    (show(requests), show(media))
}

#[test]
fn trickled_head_is_linear_and_bounded() {
    let mut h = Harness::new("s");
    let mut msg = b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n".to_vec();
    for i in 0..60 {
        msg.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "v".repeat(60)).as_bytes());
    }
    msg.extend_from_slice(b"\r\n");
    for b in &msg {
        h.feed(std::slice::from_ref(b)).unwrap();
    }
    assert_eq!(h.statuses(), [(1, 200)]);
    // Too many lines is cut off before the head ends.
    let mut h = Harness::new("s");
    let mut r = Ok(());
    for _ in 0..100 {
        r = r.and(h.feed(b"X: y\r\n"));
    }
    assert!(matches!(
        r,
        Err(SessionError::Framing(ParseError::TooLarge {
            what: "header count",
            ..
        }))
    ));
}

use crate::signal::error::ParseError;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// The record capture cut anywhere gives the same requests, media and answers as in one
    /// piece.
    #[test]
    fn record_capture_any_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40)) {
        let mut whole = Harness::new("3uloepI7tDIs");
        whole.feed(FFMPEG_RECORD).unwrap();
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(FFMPEG_RECORD.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(FFMPEG_RECORD.len());
        let mut split = Harness::new("3uloepI7tDIs");
        let mut prev = 0;
        for c in cuts {
            split.feed(&FFMPEG_RECORD[prev..c]).unwrap();
            prev = c;
        }
        prop_assert_eq!(summary(&split.events), summary(&whole.events));
        prop_assert_eq!(split.sent, whole.sent);
    }

    /// Arbitrary bytes (with RTSP-ish pieces mixed in) never panic; the session either
    /// keeps going or reports an error, and its buffer stays bounded.
    #[test]
    fn hostile_input(chunks in prop::collection::vec(prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        Just(b"SETUP rtsp://h/a/b/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP\r\n\r\n".to_vec()),
        Just(b"PLAY rtsp://h/a/b RTSP/1.0\r\nCSeq: 2\r\nRange: npt=now-\r\n\r\n".to_vec()),
        Just(b"ANNOUNCE rtsp://h/a/b RTSP/1.0\r\nCSeq: 3\r\nContent-Length: 12\r\n\r\nv=0\r\ns=x\r\nab".to_vec()),
        Just(b"$\x00\x00\x03abc".to_vec()),
        Just(b"\r\n".to_vec()),
    ], 0..30)) {
        let mut h = Harness::new("s");
        for c in chunks {
            if h.feed(&c).is_err() {
                break;
            }
            prop_assert!(h.s.inbuf.len() <= 65 * 4098 + 64 * 1024);
        }
    }
}

#[test]
fn require_and_udp_policy() {
    let mut h = Harness::new("s");
    h.feed(&req("OPTIONS", U, 1, "Require: implicit-play\r\n"))
        .unwrap();
    let r = h.responses();
    assert_eq!(
        (r[0].status, r[0].headers.get("Unsupported")),
        (551, Some("implicit-play"))
    );
    let offer =
        "Transport: RTP/AVP;unicast;client_port=5000-5001,RTP/AVP/TCP;unicast;interleaved=0-1\r\n";
    h.feed(&req("SETUP", &format!("{U}/trackID=0"), 2, offer))
        .unwrap();
    assert_eq!(h.s.tracks()[0].transport.client_port, Some((5000, 5001)));
    let mut h = Harness::new("s");
    h.s = ServerSession::new(
        SessionConfig {
            allow_udp: false,
            ..SessionConfig::default()
        },
        "s",
        h.now,
    );
    h.feed(&req("SETUP", &format!("{U}/trackID=0"), 2, offer))
        .unwrap();
    assert_eq!(h.s.tracks()[0].transport.lower, LowerTransport::Tcp);
    h.feed(&req(
        "SETUP",
        &format!("{U}/trackID=1"),
        3,
        "Transport: RTP/AVP;unicast;client_port=6000-6001\r\n",
    ))
    .unwrap();
    assert_eq!(h.statuses(), [(2, 200), (3, 461)]);
}
