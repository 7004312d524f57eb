//! The sessions' deadlines under virtual time (a base `Instant` plus
//! offsets; nothing sleeps): every rule fires exactly at its deadline, not
//! one millisecond before, and what should keep a session alive does.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use flv_mux::amf0::Amf0Value;
use rtmp_proto::command::{Command, DataMessage, Play, Publish, PublishType};
use rtmp_proto::message::UserControl;
use rtmp_proto::{
    ClientEvent, ClientHandshake, ClientMode, ClientSession, ClientTimeout, Decision, Error,
    HandshakeParams, MediaKind, ServerConfig, ServerEvent, ServerHandshake, ServerSession,
    ServerTimeouts, Timeout,
};

const MS: Duration = Duration::from_millis(1);

fn params() -> HandshakeParams {
    HandshakeParams {
        epoch: 0,
        seed: [5; 32],
    }
}

fn publish() -> Command {
    Command::Publish(Publish {
        transaction_id: 5.0,
        stream_name: "cam".into(),
        publish_type: PublishType::Live,
    })
}

fn play() -> Command {
    let mut p = Play::new("cam");
    p.transaction_id = 5.0;
    Command::Play(p)
}

fn on_meta_data() -> Bytes {
    DataMessage::OnMetaData {
        metadata: Amf0Value::ecma_array([("width", Amf0Value::Number(320.0))]),
    }
    .encode()
}

/// What the deadline checks need from either session.
trait Session {
    type Event: PartialEq + std::fmt::Debug;
    fn input(&mut self, data: &[u8], now: Instant) -> Result<(), Error>;
    fn timeout(&mut self, now: Instant);
    fn next_timeout(&self) -> Option<Instant>;
    fn closed(&self) -> bool;
    fn next_event(&mut self) -> Option<Self::Event>;

    fn events(&mut self) -> Vec<Self::Event> {
        std::iter::from_fn(|| self.next_event()).collect()
    }
}

/// Both sessions have the same time and event methods.
macro_rules! impl_session {
    ($session:ty, $event:ty) => {
        impl Session for $session {
            type Event = $event;
            fn input(&mut self, data: &[u8], now: Instant) -> Result<(), Error> {
                self.handle_input(data, now)
            }
            fn timeout(&mut self, now: Instant) {
                self.handle_timeout(now)
            }
            fn next_timeout(&self) -> Option<Instant> {
                self.poll_timeout()
            }
            fn closed(&self) -> bool {
                self.is_closed()
            }
            fn next_event(&mut self) -> Option<$event> {
                self.poll_event()
            }
        }
    };
}
impl_session!(ServerSession, ServerEvent);
impl_session!(ClientSession, ClientEvent);

/// `handle_timeout` one millisecond before `deadline` leaves the session
/// open; at `deadline` it closes with the one event `timed_out` and then
/// refuses input with `error`, however often it is told the time.
fn expires_at<S: Session>(s: &mut S, deadline: Instant, timed_out: S::Event, error: Error) {
    assert_eq!(s.next_timeout(), Some(deadline));
    s.timeout(deadline - MS);
    assert!(!s.closed(), "closed before its deadline");
    assert!(s.events().is_empty());
    s.timeout(deadline);
    assert!(s.closed());
    assert_eq!(s.events(), [timed_out]);
    assert_eq!(s.next_timeout(), None);
    assert_eq!(s.input(&[3], deadline + MS), Err(error));
    s.timeout(deadline + Duration::from_secs(60));
    assert!(s.events().is_empty());
}

fn server_expires_at(s: &mut ServerSession, deadline: Instant, what: Timeout) {
    expires_at(
        s,
        deadline,
        ServerEvent::TimedOut { what },
        Error::TimedOut(what),
    );
}

fn client_expires_at(c: &mut ClientSession, deadline: Instant, what: ClientTimeout) {
    let error = Error::ClientTimedOut(what);
    expires_at(c, deadline, ClientEvent::TimedOut { what }, error);
}

/// The trickle: `bytes` (valid handshake bytes) fed one per virtual
/// second, the session told the time a second later each time. It must be
/// closed at `deadline` seconds with the one event `timed_out`.
fn trickle<S: Session>(s: &mut S, bytes: &[u8], deadline: f64, timed_out: S::Event) {
    let mut closed_at = None;
    for (k, byte) in bytes.iter().enumerate() {
        let k = k as f64;
        s.input(&[*byte], at(k)).expect("alive before the deadline");
        s.timeout(at(k + 1.0));
        if s.closed() {
            closed_at = Some(k + 1.0);
            break;
        }
    }
    assert_eq!(closed_at, Some(deadline));
    assert_eq!(s.events(), [timed_out]);
    assert_eq!(s.next_timeout(), None);
    assert!(s.input(&bytes[..1], at(deadline)).is_err());
}

/// A client publishing or playing through a server that accepts all,
/// started at virtual second 1.
fn started_pair(mode: ClientMode, config: ServerConfig) -> Pair {
    let mut p = Pair::new(client_config(mode, "cam"), config, Policy::AcceptAll);
    p.now = at(1.0);
    p.drive();
    let started = match mode {
        ClientMode::Publish => ClientEvent::Publishing,
        ClientMode::Play => ClientEvent::Playing,
    };
    assert!(p.client_events.contains(&started));
    p
}

// ---- server ----

#[test]
fn server_incomplete_handshake_times_out_exactly_at_the_deadline() {
    let mut s = ServerSession::new(ServerConfig::default(), t0());
    let c0c1 = ClientHandshake::new(params(), false)
        .poll_transmit()
        .unwrap();
    s.handle_input(&c0c1[..100], at(1.0)).unwrap();
    server_expires_at(&mut s, at(15.0), Timeout::Handshake);
}

#[test]
fn server_connect_without_publish_keeps_the_handshake_deadline() {
    let mut raw = Raw::new(Policy::AcceptAll);
    raw.now = at(3.0);
    raw.connect_and_create();
    assert!(matches!(
        raw.take_events().as_slice(),
        [ServerEvent::ConnectRequested { .. }]
    ));
    server_expires_at(&mut raw.server, at(15.0), Timeout::Handshake);
}

#[test]
fn server_input_after_the_deadline_does_not_revive_it() {
    let mut raw = Raw::new(Policy::AcceptAll);
    raw.now = at(15.0);
    let r = raw.send(
        0,
        &Command::Connect(rtmp_proto::command::Connect::new("live", "rtmp://h/live")),
    );
    assert_eq!(r, Err(Error::TimedOut(Timeout::Handshake)));
    assert_eq!(
        raw.take_events(),
        [ServerEvent::TimedOut {
            what: Timeout::Handshake
        }]
    );
    assert!(raw.server.is_closed());
}

#[test]
fn server_publisher_with_media_every_second_stays_alive() {
    let mut p = started_pair(ClientMode::Publish, ServerConfig::default());
    // The idle clock starts at the accept.
    assert_eq!(p.server.poll_timeout(), Some(at(16.0)));
    for s in 2..120 {
        p.now = at(f64::from(s));
        p.server.handle_timeout(p.now);
        let frame = Bytes::from_static(&[0x17, 1, 0, 0, 0]);
        p.client
            .send_media(MediaKind::Video, s * 1000, frame)
            .unwrap();
        p.drive();
        assert!(!p.server.is_closed());
        assert_eq!(p.server.poll_timeout(), Some(at(f64::from(s) + 15.0)));
    }
}

#[test]
fn server_publisher_sending_only_pings_and_metadata_is_idle() {
    let mut p = started_pair(ClientMode::Publish, ServerConfig::default());
    for s in 2..16 {
        p.now = at(f64::from(s));
        p.server.handle_timeout(p.now);
        p.inject_to_server(&UserControl::PingRequest { timestamp: s }.to_message(0));
        p.client.send_metadata(on_meta_data()).unwrap();
        p.drive();
    }
    let events = p.take_server_events();
    assert!(events
        .iter()
        .any(|e| matches!(e, ServerEvent::Metadata { .. })));
    assert!(!events
        .iter()
        .any(|e| matches!(e, ServerEvent::Media { .. })));
    server_expires_at(&mut p.server, at(16.0), Timeout::PublisherIdle);
}

#[test]
fn server_publish_accept_starts_the_idle_clock_at_the_last_now() {
    let mut raw = Raw::new(Policy::Defer);
    raw.now = at(2.0);
    raw.connect_and_create();
    let Some(ServerEvent::ConnectRequested { req, .. }) = raw.take_events().pop() else {
        panic!("no connect request")
    };
    raw.server.respond(req, Decision::Accept);
    raw.send(1, &publish()).unwrap();
    let Some(ServerEvent::PublishRequested { req, .. }) = raw.take_events().pop() else {
        panic!("no publish request")
    };
    // The application decides for a while; respond() takes no clock, so
    // the accept counts from the last `now` the session saw.
    raw.server.handle_timeout(at(6.0));
    raw.server.respond(req, Decision::Accept);
    assert_eq!(raw.server.publish_stream_id(), Some(1));
    assert_eq!(raw.server.poll_timeout(), Some(at(21.0)));
}

#[test]
fn server_player_has_no_deadline() {
    let mut raw = Raw::new(Policy::AcceptAll);
    raw.connect_and_create();
    raw.send(1, &play()).unwrap();
    assert_eq!(raw.server.play_stream_id(), Some(1));
    assert_eq!(raw.server.poll_timeout(), None);
    raw.server.handle_timeout(at(100_000.0));
    assert!(!raw.server.is_closed());
    assert!(!raw
        .take_events()
        .iter()
        .any(|e| matches!(e, ServerEvent::TimedOut { .. })));
}

#[test]
fn server_end_of_publish_rearms_the_handshake_deadline() {
    let mut raw = Raw::new(Policy::AcceptAll);
    raw.now = at(2.0);
    raw.connect_and_create();
    raw.send(1, &publish()).unwrap();
    assert_eq!(raw.server.poll_timeout(), Some(at(17.0)));
    raw.now = at(5.0);
    raw.send(
        1,
        &Command::CloseStream {
            transaction_id: 0.0,
        },
    )
    .unwrap();
    assert!(raw
        .take_events()
        .contains(&ServerEvent::Unpublished { stream_id: 1 }));
    server_expires_at(&mut raw.server, at(20.0), Timeout::Handshake);
}

#[test]
fn server_huge_timeouts_disable_the_rules() {
    let config = ServerConfig {
        timeouts: ServerTimeouts {
            handshake: Duration::MAX,
            publisher_idle: Duration::MAX,
        },
        ..ServerConfig::default()
    };
    let mut raw = Raw::with_config(Policy::AcceptAll, config);
    assert_eq!(raw.server.poll_timeout(), None);
    raw.connect_and_create();
    raw.send(1, &publish()).unwrap();
    assert_eq!(raw.server.poll_timeout(), None);
    raw.server.handle_timeout(at(1e9));
    assert!(!raw.server.is_closed());
}

/// The trickle: one byte of a valid C0C1 per virtual second. The
/// session is closed at its handshake deadline, whatever keeps arriving.
#[test]
fn server_trickle_of_one_byte_per_second_is_closed_at_the_handshake_deadline() {
    let mut s = ServerSession::new(ServerConfig::default(), t0());
    let c0c1 = ClientHandshake::new(params(), false)
        .poll_transmit()
        .unwrap();
    let what = Timeout::Handshake;
    trickle(&mut s, &c0c1, 15.0, ServerEvent::TimedOut { what });
}

// ---- client ----

#[test]
fn client_unanswered_connect_hits_the_response_deadline() {
    let mut p = Pair::new(
        client_config(ClientMode::Publish, "cam"),
        ServerConfig::default(),
        Policy::Defer,
    );
    p.now = at(2.0);
    p.drive();
    assert!(p
        .take_server_events()
        .iter()
        .any(|e| matches!(e, ServerEvent::ConnectRequested { .. })));
    client_expires_at(&mut p.client, at(10.0), ClientTimeout::Response);
}

#[test]
fn client_player_without_media_hits_the_media_idle_deadline() {
    let mut p = started_pair(ClientMode::Play, ServerConfig::default());
    assert_eq!(p.client.poll_timeout(), Some(at(11.0)));
    let sid = p.server.play_stream_id().unwrap();
    for s in 2..=5 {
        p.now = at(f64::from(s));
        p.client.handle_timeout(p.now);
        p.server.send_media(
            sid,
            MediaKind::Audio,
            s * 1000,
            Bytes::from_static(&[0xaf, 1, 0]),
        );
        p.drive();
        assert_eq!(p.client.poll_timeout(), Some(at(f64::from(s) + 10.0)));
    }
    // Metadata is not media.
    for s in 6..15 {
        p.now = at(f64::from(s));
        p.client.handle_timeout(p.now);
        p.server.send_metadata(sid, on_meta_data());
        p.drive();
    }
    assert!(p
        .take_client_events()
        .iter()
        .any(|e| matches!(e, ClientEvent::Metadata { .. })));
    client_expires_at(&mut p.client, at(15.0), ClientTimeout::MediaIdle);
}

/// A publishing client and a server whose answers (acknowledgements) reach
/// the client one virtual second late, or never once `stop_acks` is set.
struct AckLink {
    p: Pair,
    held: Vec<Bytes>,
}

impl AckLink {
    fn new() -> Self {
        let config = ServerConfig {
            window_ack_size: 5000,
            ..ServerConfig::default()
        };
        AckLink {
            p: started_pair(ClientMode::Publish, config),
            held: Vec::new(),
        }
    }

    /// One virtual second `s`: last second's server bytes reach the client
    /// (unless `deliver` is false), then 6000 bytes of media go out.
    fn tick(&mut self, s: u32, deliver: bool) {
        let now = at(f64::from(s));
        let p = &mut self.p;
        p.now = now;
        p.client.handle_timeout(now);
        for b in std::mem::take(&mut self.held) {
            if deliver {
                p.client.handle_input(&b, now).unwrap();
            }
        }
        let frame = Bytes::from(vec![0x17; 6000]);
        p.client
            .send_media(MediaKind::Video, s * 1000, frame)
            .unwrap();
        while let Some(b) = p.client.poll_transmit() {
            p.server.handle_input(&b, now).unwrap();
        }
        while p.server.poll_event().is_some() {}
        while let Some(b) = p.server.poll_transmit() {
            self.held.push(b);
        }
    }
}

#[test]
fn client_publisher_is_kept_alive_by_acknowledgements() {
    let mut link = AckLink::new();
    for s in 1..120 {
        link.tick(s, true);
        let c = &mut link.p.client;
        // More than the window is out: the clock starts at the next
        // handle_timeout, which poll_timeout asks for at once.
        assert_eq!(c.poll_timeout(), Some(at(f64::from(s))));
        c.handle_timeout(at(f64::from(s)));
        assert_eq!(c.poll_timeout(), Some(at(f64::from(s) + 10.0)));
        assert!(!c.is_closed());
    }
}

#[test]
fn client_publisher_times_out_when_the_server_stops_acknowledging() {
    let mut link = AckLink::new();
    for s in 1..=5 {
        link.tick(s, true);
        link.p.client.handle_timeout(at(f64::from(s)));
    }
    // The acknowledgements of second 5 never arrive: the clock started at
    // second 5 keeps running, whatever is sent.
    for s in 6..15 {
        link.tick(s, false);
        link.p.client.handle_timeout(at(f64::from(s)));
        assert_eq!(link.p.client.poll_timeout(), Some(at(15.0)));
    }
    link.p.client.events();
    client_expires_at(&mut link.p.client, at(15.0), ClientTimeout::Acknowledgement);
}

#[test]
fn client_trickle_of_one_byte_per_second_is_closed_at_the_response_deadline() {
    let mut c = ClientSession::new(client_config(ClientMode::Play, "cam"), t0());
    let mut server = ServerHandshake::new(params());
    server
        .handle_input(&c.poll_transmit().unwrap())
        .expect("C0C1");
    let s012 = server.poll_transmit().unwrap();
    let what = ClientTimeout::Response;
    trickle(&mut c, &s012, 10.0, ClientEvent::TimedOut { what });
}
