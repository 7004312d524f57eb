//! Test support: an in-memory client/server pair (after quinn-proto's
//! `tests/util.rs`), a policy that answers the server's requests, and a
//! transcript decoder for what went over the "wire".
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtmp_proto::command::{Command, StatusCode};
use rtmp_proto::handshake::PACKET_SIZE;
use rtmp_proto::{
    ChunkDecoder, ChunkEncoder, ClientConfig, ClientEvent, ClientMode, ClientSession,
    ClientTimeouts, Decision, HandshakeParams, Message, ServerConfig, ServerEvent, ServerSession,
};

/// The base of virtual time: tests add offsets to it and never sleep.
pub fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

/// `t0() + secs` seconds.
pub fn at(secs: f64) -> Instant {
    t0() + Duration::from_secs_f64(secs)
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// How the test application answers requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    AcceptAll,
    RejectPublish,
    RejectPlay,
    /// Leave requests unanswered (the test answers them).
    Defer,
}

/// Answers one server event according to `policy`.
pub fn apply_policy(server: &mut ServerSession, policy: Policy, e: &ServerEvent) {
    match (e, policy) {
        (_, Policy::Defer) => {}
        (ServerEvent::PublishRequested { req, .. }, Policy::RejectPublish) => server.respond(
            *req,
            Decision::reject(StatusCode::PublishBadName, "Already publishing"),
        ),
        (ServerEvent::PlayRequested { req, .. }, Policy::RejectPlay) => server.respond(
            *req,
            Decision::reject(StatusCode::PlayStreamNotFound, "No such stream"),
        ),
        (
            ServerEvent::ConnectRequested { req, .. }
            | ServerEvent::PublishRequested { req, .. }
            | ServerEvent::PlayRequested { req, .. },
            _,
        ) => server.respond(*req, Decision::Accept),
        _ => {}
    }
}

pub fn client_config(mode: ClientMode, stream: &str) -> ClientConfig {
    ClientConfig {
        app: "live".into(),
        tc_url: "rtmp://127.0.0.1/live".into(),
        stream: stream.into(),
        mode,
        chunk_size: 1000,
        handshake: HandshakeParams {
            epoch: 7,
            seed: [1; 32],
        },
        digest: true,
        timeouts: ClientTimeouts::default(),
    }
}

/// A client and a server connected by two in-memory pipes.
pub struct Pair {
    pub client: ClientSession,
    pub server: ServerSession,
    pub policy: Policy,
    /// The virtual time given with every input (starts at [`t0`]).
    pub now: Instant,
    pub client_events: Vec<ClientEvent>,
    pub server_events: Vec<ServerEvent>,
    /// Every byte client → server and server → client, in order.
    pub c2s: Vec<u8>,
    pub s2c: Vec<u8>,
}

impl Pair {
    pub fn new(client: ClientConfig, server: ServerConfig, policy: Policy) -> Self {
        Pair {
            client: ClientSession::new(client, t0()),
            server: ServerSession::new(server, t0()),
            policy,
            now: t0(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            c2s: Vec::new(),
            s2c: Vec::new(),
        }
    }

    /// Moves bytes and events both ways until nothing moves.
    pub fn drive(&mut self) {
        loop {
            let mut moved = false;
            while let Some(b) = self.client.poll_transmit() {
                self.c2s.extend_from_slice(&b);
                self.server
                    .handle_input(&b, self.now)
                    .expect("server error");
                moved = true;
            }
            while let Some(e) = self.server.poll_event() {
                apply_policy(&mut self.server, self.policy, &e);
                self.server_events.push(e);
                moved = true;
            }
            while let Some(b) = self.server.poll_transmit() {
                self.s2c.extend_from_slice(&b);
                self.client
                    .handle_input(&b, self.now)
                    .expect("client error");
                moved = true;
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
                moved = true;
            }
            if !moved {
                break;
            }
        }
    }

    /// Sends a message straight to the server on a chunk stream the client
    /// never uses (so the client's header compression stays valid).
    pub fn inject_to_server(&mut self, msg: &Message) {
        let b = encode_alone(msg);
        self.c2s.extend_from_slice(&b);
        self.server
            .handle_input(&b, self.now)
            .expect("server error");
    }

    /// Sends a message straight to the client, likewise.
    pub fn inject_to_client(&mut self, msg: &Message) {
        let b = encode_alone(msg);
        self.s2c.extend_from_slice(&b);
        self.client
            .handle_input(&b, self.now)
            .expect("client error");
    }

    pub fn take_client_events(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.client_events)
    }

    pub fn take_server_events(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.server_events)
    }
}

/// Encodes one message with a fresh encoder on csid 10 (fmt 0, 128-byte
/// chunks; keep such messages under 128 bytes).
pub fn encode_alone(msg: &Message) -> Bytes {
    let mut m = msg.clone();
    m.csid = 10;
    let mut out = BytesMut::new();
    ChunkEncoder::new().encode(&m, &mut out).unwrap();
    out.freeze()
}

/// Handshake bytes at the start of each direction.
pub const C_HANDSHAKE: usize = 1 + 2 * PACKET_SIZE;
pub const S_HANDSHAKE: usize = 1 + 2 * PACKET_SIZE;

/// Decodes a direction's bytes after the handshake into messages.
pub fn transcript(bytes: &[u8], handshake_len: usize) -> Vec<Message> {
    let mut dec = ChunkDecoder::new(Default::default());
    dec.push(&bytes[handshake_len..]);
    let mut out = Vec::new();
    while let Some(m) = dec.poll_message().expect("transcript decodes") {
        out.push(m);
    }
    assert_eq!(dec.pending_len(), 0, "partial message at the end");
    out
}

/// Command names in a transcript, with their message stream id.
pub fn commands(msgs: &[Message]) -> Vec<(u32, Command)> {
    msgs.iter()
        .filter(|m| m.type_id == 20 || m.type_id == 17)
        .map(|m| (m.stream_id, Command::decode_message(m).expect("command")))
        .collect()
}

/// A scripted client: real handshake, then hand-made messages, for testing
/// the server's rules with inputs a well-behaved ClientSession never sends.
pub struct Raw {
    pub server: ServerSession,
    pub policy: Policy,
    /// The virtual time given with every input (starts at [`t0`]).
    pub now: Instant,
    pub events: Vec<ServerEvent>,
    enc: ChunkEncoder,
    answers: ChunkDecoder,
}

impl Raw {
    pub fn new(policy: Policy) -> Self {
        Self::with_config(policy, ServerConfig::default())
    }

    /// Like [`Raw::new`], with the server's settings.
    pub fn with_config(policy: Policy, config: ServerConfig) -> Self {
        use rtmp_proto::ClientHandshake;
        let now = t0();
        let mut server = ServerSession::new(config, now);
        let mut hs = ClientHandshake::new(
            HandshakeParams {
                epoch: 1,
                seed: [3; 32],
            },
            false,
        );
        server
            .handle_input(&hs.poll_transmit().unwrap(), now)
            .unwrap();
        let mut s012 = Vec::new();
        while let Some(b) = server.poll_transmit() {
            s012.extend_from_slice(&b);
        }
        hs.handle_input(&s012).unwrap();
        server
            .handle_input(&hs.poll_transmit().unwrap(), now)
            .unwrap();
        let mut raw = Raw {
            server,
            policy,
            now,
            events: Vec::new(),
            enc: ChunkEncoder::new(),
            answers: ChunkDecoder::new(Default::default()),
        };
        raw.pump();
        assert_eq!(raw.events, [ServerEvent::HandshakeDone { digest: false }]);
        raw.events.clear();
        raw
    }

    /// Sends a message (the encoder compresses headers as a client would).
    pub fn send_msg(&mut self, msg: &Message) -> Result<(), rtmp_proto::Error> {
        let mut out = BytesMut::new();
        self.enc.encode(msg, &mut out).unwrap();
        let r = self.server.handle_input(&out, self.now);
        self.pump();
        r
    }

    /// Sends a command on message stream `stream_id`.
    pub fn send(&mut self, stream_id: u32, cmd: &Command) -> Result<(), rtmp_proto::Error> {
        self.send_msg(&rtmp_proto::command::command_message(
            3,
            stream_id,
            cmd.encode(),
        ))
    }

    /// Takes events (answering them per the policy) and feeds the server's
    /// output to a client-side decoder.
    pub fn pump(&mut self) {
        while let Some(e) = self.server.poll_event() {
            apply_policy(&mut self.server, self.policy, &e);
            self.events.push(e);
        }
        while let Some(b) = self.server.poll_transmit() {
            self.answers.push(&b);
        }
    }

    /// Messages the server sent since the last call.
    pub fn answers(&mut self) -> Vec<Message> {
        self.pump();
        let mut out = Vec::new();
        while let Some(m) = self.answers.poll_message().expect("server output decodes") {
            out.push(m);
        }
        out
    }

    /// Commands the server sent since the last call.
    pub fn answer_commands(&mut self) -> Vec<(u32, Command)> {
        commands(&self.answers())
    }

    pub fn take_events(&mut self) -> Vec<ServerEvent> {
        self.pump();
        std::mem::take(&mut self.events)
    }

    /// connect (accepted if the policy says so) and createStream → 1.
    pub fn connect_and_create(&mut self) {
        use rtmp_proto::command::Connect;
        self.send(0, &Command::Connect(Connect::new("live", "rtmp://h/live")))
            .unwrap();
        self.send(
            0,
            &Command::CreateStream {
                transaction_id: 2.0,
            },
        )
        .unwrap();
    }
}
