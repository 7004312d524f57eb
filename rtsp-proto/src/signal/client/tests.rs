//! A [`ClientSession`] against strom's own [`ServerSession`] in memory: the test plays
//! the server's policy (DESCRIBE answered with an SDP, SETUP, PLAY, ANNOUNCE, RECORD,
//! Digest authentication with the server-side [`Authenticator`]) and moves virtual time.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::signal::auth::Authenticator;
use crate::signal::framing::{read_incoming, Incoming};
use crate::signal::range::Range;
use crate::signal::session::{content_base, Event, Reply, ServerSession, SessionConfig};
use crate::signal::transport::LowerTransport;

pub(super) const SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\na=control:*\r\n\
m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n\
m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/44100/1\r\na=fmtp:97 mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1208\r\na=control:trackID=1\r\n";

const URL: &str = "rtsp://u:pw@127.0.0.1:8554/live/cam";

/// A client and a server wired together, with the server's policy.
struct Pair {
    c: ClientSession,
    s: ServerSession,
    t0: Instant,
    now: Instant,
    /// The server's authenticator and the nonce of its current challenge.
    auth: Option<(Authenticator, String)>,
    /// Rotate the nonce when the next request with `Authorization` arrives (it is stale).
    stale_once: bool,
    /// Client events.
    events: Vec<ClientEvent>,
    /// Requests the server read: method and when.
    requests: Vec<(Method, Duration)>,
    /// Interleaved data the server received.
    to_server: Vec<(u8, Bytes)>,
}

impl Pair {
    fn new(config: ClientConfig, server: SessionConfig) -> Self {
        let t0 = Instant::now();
        Pair {
            c: ClientSession::new(config, t0).unwrap(),
            s: ServerSession::new(server, "S3ss10n1d", t0),
            t0,
            now: t0,
            auth: None,
            stale_once: false,
            events: Vec::new(),
            requests: Vec::new(),
            to_server: Vec::new(),
        }
    }

    /// Moves bytes both ways and answers the server's events until nothing moves.
    fn pump(&mut self) {
        loop {
            let mut out = Vec::new();
            while let Some(b) = self.c.poll_transmit() {
                out.extend_from_slice(&b);
            }
            let mut buf = &out[..];
            while let Some((unit, n)) = read_incoming(buf, &Limits::default()).unwrap() {
                if let Incoming::Request(r) = unit {
                    self.requests.push((r.method, self.now - self.t0));
                }
                buf = &buf[n..];
            }
            if !out.is_empty() {
                self.s.handle_input(&out, self.now).unwrap();
            }
            self.serve();
            let mut back = Vec::new();
            while let Some(b) = self.s.poll_transmit() {
                back.extend_from_slice(&b);
            }
            if !back.is_empty() {
                let fed = self
                    .c
                    .handle_input_bytes(Bytes::from(back.clone()), self.now);
                assert!(matches!(fed, Ok(()) | Err(ClientError::Closed)), "{fed:?}");
            }
            while let Some(e) = self.c.poll_event() {
                self.events.push(e);
            }
            if out.is_empty() && back.is_empty() {
                return;
            }
        }
    }

    /// The server's policy.
    fn serve(&mut self) {
        while let Some(ev) = self.s.poll_event() {
            let id = match &ev {
                Event::Describe { request_id, .. }
                | Event::Setup { request_id, .. }
                | Event::Play { request_id, .. }
                | Event::Record { request_id, .. }
                | Event::Announce { request_id, .. } => *request_id,
                Event::Interleaved { channel, data } => {
                    self.to_server.push((*channel, data.clone()));
                    continue;
                }
                _ => continue,
            };
            let req = self.s.request(id).unwrap().clone();
            if let Some((a, nonce)) = &mut self.auth {
                if self.stale_once && req.headers.contains("Authorization") {
                    self.stale_once = false;
                    nonce.push_str("-rotated");
                }
                if let Err(e) = a.check(&req, nonce) {
                    let stale = e == crate::signal::AuthError::StaleNonce;
                    let r = Reply::from(a.unauthorized(nonce, stale));
                    self.s.respond(id, r).unwrap();
                    continue;
                }
            }
            let reply = match ev {
                Event::Describe { .. } => {
                    let sdp = Sdp::parse(SDP.as_bytes()).unwrap();
                    Reply::describe(content_base(&req.uri), &sdp)
                }
                Event::Setup { transport, .. } => {
                    let mut t = transport;
                    if t.lower == LowerTransport::Udp {
                        let n = 6000 + 2 * self.s.tracks().len() as u16;
                        t.server_port = Some((n, n + 1));
                    }
                    Reply::setup(t)
                }
                Event::Play { .. } => Reply::play(Some(Range::live()), None),
                _ => Reply::ok(),
            };
            self.s.respond(id, reply).unwrap();
        }
    }

    /// Advances virtual time to `t0 + secs`, telling both sides.
    fn at(&mut self, secs: u64) {
        self.now = self.t0 + Duration::from_secs(secs);
        self.c.handle_timeout(self.now);
        self.s.handle_timeout(self.now);
        self.pump();
    }

    fn methods(&self) -> Vec<&str> {
        self.requests.iter().map(|(m, _)| m.as_str()).collect()
    }

    fn has(&self, want: impl Fn(&ClientEvent) -> bool) -> bool {
        self.events.iter().any(want)
    }
}

fn tcp_play() -> ClientConfig {
    ClientConfig::play(URL)
}

#[test]
fn play_tcp_with_media_and_keep_alives() {
    let mut p = Pair::new(tcp_play(), SessionConfig::default());
    p.pump();
    assert_eq!(
        p.methods(),
        ["OPTIONS", "DESCRIBE", "SETUP", "SETUP", "PLAY"]
    );
    let ClientEvent::Described { base, sdp } = &p.events[0] else {
        panic!("{:?}", p.events)
    };
    assert_eq!(base, "rtsp://127.0.0.1:8554/live/cam/");
    assert_eq!(sdp.media.len(), 2);
    assert_eq!(
        p.c.tracks()[1].url,
        "rtsp://127.0.0.1:8554/live/cam/trackID=1"
    );
    let chans: Vec<_> = p
        .events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::SetUp { track, transport } => Some((*track, transport.interleaved)),
            _ => None,
        })
        .collect();
    assert_eq!(chans, [(0, Some((0, 1))), (1, Some((2, 3)))]);
    assert!(p.has(|e| matches!(e, ClientEvent::Playing { .. })));
    assert_eq!(p.c.state(), ClientState::Playing);
    assert_eq!(p.c.session_id(), Some("S3ss10n1d"));
    // RTP every 5 s: keep-alives (GET_PARAMETER, in the server's Public) at 30 s and 60 s
    // (half the server's `timeout=60`); the server never times out.
    for t in (5..=95).step_by(5) {
        p.s.send_interleaved(0, Bytes::from_static(b"\x80\x60rtp"));
        p.at(t);
    }
    let keep: Vec<_> = p
        .requests
        .iter()
        .filter(|(m, _)| *m == Method::GetParameter)
        .map(|(_, at)| at.as_secs())
        .collect();
    assert_eq!(keep, [30, 60, 90]);
    let media = p
        .events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Interleaved { channel: 0, .. }))
        .count();
    assert_eq!(media, 19);
    assert_eq!(p.c.state(), ClientState::Playing);
    p.c.close(p.now);
    p.pump();
    assert_eq!(p.methods().last(), Some(&"TEARDOWN"));
    assert_eq!(p.events.last(), Some(&ClientEvent::Closed));
    assert_eq!(p.c.poll_timeout(), None);
}

#[test]
fn play_udp_reports_server_ports() {
    let mut config = tcp_play();
    config.transport = ClientTransport::Udp {
        client_ports: vec![(5000, 5001), (5002, 5003)],
    };
    let mut p = Pair::new(config, SessionConfig::default());
    p.pump();
    let ports: Vec<_> = p
        .events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::SetUp { transport, .. } => Some((
                transport.lower,
                transport.client_port,
                transport.server_port,
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        ports,
        [
            (LowerTransport::Udp, Some((5000, 5001)), Some((6000, 6001))),
            (LowerTransport::Udp, Some((5002, 5003)), Some((6002, 6003)))
        ]
    );
    assert_eq!(p.c.state(), ClientState::Playing);
    // UDP media noted by the caller keeps the session; keep-alives keep the server's.
    for t in (4..=64).step_by(4) {
        p.c.note_media(p.t0 + Duration::from_secs(t));
        p.at(t);
    }
    assert_eq!(p.c.state(), ClientState::Playing);
    assert_eq!(
        p.methods()
            .iter()
            .filter(|m| **m == "GET_PARAMETER")
            .count(),
        2
    );
    // Then silence: closed at the media-idle deadline, with a TEARDOWN.
    p.at(74);
    assert_eq!(
        p.events.last(),
        Some(&ClientEvent::TimedOut {
            what: ClientTimeout::MediaIdle
        })
    );
    assert_eq!(p.methods().last(), Some(&"TEARDOWN"));
}

#[test]
fn auto_retries_a_refused_udp_setup_over_tcp() {
    let mut config = tcp_play();
    config.transport = ClientTransport::Auto {
        client_ports: vec![(5000, 5001), (5002, 5003)],
    };
    let server = SessionConfig {
        allow_udp: false,
        ..SessionConfig::default()
    };
    let mut p = Pair::new(config, server);
    p.pump();
    assert_eq!(
        p.methods(),
        ["OPTIONS", "DESCRIBE", "SETUP", "SETUP", "SETUP", "PLAY"]
    );
    assert_eq!(p.c.state(), ClientState::Playing);
    assert!(p
        .c
        .tracks()
        .iter()
        .all(|t| t.transport.as_ref().unwrap().lower == LowerTransport::Tcp));
}

#[test]
fn auto_falls_back_to_tcp_when_udp_is_silent() {
    let mut config = tcp_play();
    config.transport = ClientTransport::Auto {
        client_ports: vec![(5000, 5001), (5002, 5003)],
    };
    let mut p = Pair::new(config, SessionConfig::default());
    p.pump();
    assert_eq!(p.c.state(), ClientState::Playing);
    p.at(9);
    assert_eq!(p.methods().len(), 5);
    // Nothing over UDP for 10 s: TEARDOWN, SETUP ×2 interleaved, PLAY.
    p.at(10);
    assert_eq!(p.methods()[5..], ["TEARDOWN", "SETUP", "SETUP", "PLAY"]);
    assert_eq!(p.c.state(), ClientState::Playing);
    let t = p.c.tracks()[1].transport.clone().unwrap();
    assert_eq!(
        (t.lower, t.interleaved),
        (LowerTransport::Tcp, Some((2, 3)))
    );
    // Interleaved media now keeps it alive; silence ends it for good.
    p.s.send_interleaved(2, Bytes::from_static(b"rtp"));
    p.at(15);
    p.at(24);
    assert_eq!(p.c.state(), ClientState::Playing);
    p.at(25);
    assert!(matches!(
        p.events.last(),
        Some(ClientEvent::TimedOut {
            what: ClientTimeout::MediaIdle
        })
    ));
}

#[test]
fn explicit_fallback_call() {
    let mut config = tcp_play();
    config.transport = ClientTransport::Auto {
        client_ports: vec![(5000, 5001), (5002, 5003)],
    };
    let mut p = Pair::new(config, SessionConfig::default());
    p.pump();
    p.c.udp_silent(p.now);
    p.pump();
    assert_eq!(p.methods()[5..], ["TEARDOWN", "SETUP", "SETUP", "PLAY"]);
    assert_eq!(p.c.state(), ClientState::Playing);
    // A second call does nothing: already on TCP.
    p.c.fallback_to_tcp(p.now);
    p.pump();
    assert_eq!(p.methods().len(), 9);
}

#[test]
fn record_tcp_sends_rtp() {
    let sdp = Sdp::parse(SDP.as_bytes()).unwrap();
    let mut p = Pair::new(
        ClientConfig::record("rtsp://127.0.0.1/live/pub", sdp),
        SessionConfig::default(),
    );
    p.pump();
    assert_eq!(
        p.methods(),
        ["OPTIONS", "ANNOUNCE", "SETUP", "SETUP", "RECORD"]
    );
    assert!(p.has(|e| *e == ClientEvent::Recording));
    assert_eq!(
        p.s.tracks()[0].transport.mode,
        Some(crate::signal::transport::TransportMode::Record)
    );
    assert_eq!(p.s.state(), crate::signal::SessionState::Recording);
    for t in (5..=65).step_by(5) {
        assert!(p
            .c
            .send_interleaved(0, Bytes::from_static(b"\x80\x60video")));
        assert!(p
            .c
            .send_interleaved(2, Bytes::from_static(b"\x80\x61audio")));
        p.at(t);
    }
    assert_eq!(p.to_server.len(), 26);
    assert_eq!(p.to_server[1], (2, Bytes::from_static(b"\x80\x61audio")));
    // Keep-alives while recording too; the server's record-idle deadline never passed.
    assert_eq!(
        p.methods()
            .iter()
            .filter(|m| **m == "GET_PARAMETER")
            .count(),
        2
    );
    assert_eq!(p.s.state(), crate::signal::SessionState::Recording);
    assert!(!p.c.send_interleaved(0, Bytes::from(vec![0; 70_000])));
}

fn with_auth(p: &mut Pair, nonce: &str) {
    p.auth = Some((
        Authenticator::new(
            "strom",
            vec![Credentials {
                user: "u".into(),
                password: "pw".into(),
            }],
        ),
        nonce.into(),
    ));
}

#[test]
fn digest_against_the_server_authenticator() {
    let mut p = Pair::new(tcp_play(), SessionConfig::default());
    with_auth(&mut p, "nonce-1");
    // OPTIONS is answered by the server session itself; DESCRIBE gets the 401.
    p.pump();
    assert_eq!(
        p.methods(),
        ["OPTIONS", "DESCRIBE", "DESCRIBE", "SETUP", "SETUP", "PLAY"]
    );
    assert_eq!(p.c.state(), ClientState::Playing);
    p.c.close(p.now);
    p.pump();
    assert_eq!(p.methods()[6..], ["TEARDOWN"]);
    assert_eq!(p.events.last(), Some(&ClientEvent::Closed));
}

#[test]
fn stale_nonce_is_retried_once_and_a_wrong_password_fails() {
    let sdp = Sdp::parse(SDP.as_bytes()).unwrap();
    let mut config = ClientConfig::record("rtsp://127.0.0.1/live/pub", sdp);
    config.credentials = Some(Credentials {
        user: "u".into(),
        password: "pw".into(),
    });
    let mut p = Pair::new(config, SessionConfig::default());
    with_auth(&mut p, "nonce-1");
    p.stale_once = true;
    p.pump();
    // 401 (no credentials yet), 401 stale=true (nonce rotated), then accepted.
    assert_eq!(
        p.methods(),
        ["OPTIONS", "ANNOUNCE", "ANNOUNCE", "ANNOUNCE", "SETUP", "SETUP", "RECORD"]
    );
    assert_eq!(p.c.state(), ClientState::Recording);
    let mut p2 = Pair::new(
        ClientConfig::play("rtsp://u:wrong@127.0.0.1/live/cam"),
        SessionConfig::default(),
    );
    with_auth(&mut p2, "n");
    p2.pump();
    // Wrong password: one retry, then Failed.
    assert_eq!(p2.methods(), ["OPTIONS", "DESCRIBE", "DESCRIBE"]);
    assert_eq!(
        p2.events.last(),
        Some(&ClientEvent::Failed {
            status: 401,
            reason: "Unauthorized".into()
        })
    );
    assert_eq!(p2.c.state(), ClientState::Closed);
}
