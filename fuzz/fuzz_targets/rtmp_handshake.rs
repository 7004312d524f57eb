//! RTMP handshake, both sides, simple and digest: arbitrary bytes, fed in two
//! pieces split at `data[0]`, never panic the server or the client. The server
//! sends exactly S0+S1+S2 once C0 (3) and C1 are in, and nothing otherwise; a
//! client sends C0+C1 and at most C2; after an error both stay failed; when
//! done, each hands on exactly the bytes past the handshake. A simple answer
//! echoes the peer's packet; a digest C1 gets an S1 whose digest verifies and an
//! S2 signed from the C1 digest (checked with the public `digest` functions the
//! client uses). Then, seeded from the input: a C1 carrying a valid digest at
//! either schema is answered in kind, and our own client (simple and digest)
//! completes against our server, which verifies the digest client's C2.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_proto::handshake::digest::{
    self, DigestSchema, FMS_KEY, FMS_KEY_TEXT_LEN, FP_KEY, FP_KEY_TEXT_LEN,
};
use rtmp_proto::handshake::{HandshakeKind, PACKET_SIZE};
use rtmp_proto::{ClientHandshake, HandshakeParams, HandshakeStatus, ServerHandshake};

/// C0+C1+C2 (or S0+S1+S2).
const FULL: usize = 1 + 2 * PACKET_SIZE;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let pieces = [&data[..split], &data[split..]];
    server_side(data, pieces);
    client_side(data, pieces, false);
    client_side(data, pieces, true);
    crafted_digest_c1(data);
    our_client_against_our_server(data);
});

fn params(data: &[u8], label: u8) -> HandshakeParams {
    let mut seed = [label; 32];
    for (s, d) in seed.iter_mut().zip(data.iter().skip(4)) {
        *s ^= d;
    }
    let epoch = data
        .iter()
        .take(4)
        .fold(0u32, |e, &b| e << 8 | u32::from(b));
    HandshakeParams { epoch, seed }
}

fn packet(bytes: &[u8]) -> [u8; PACKET_SIZE] {
    bytes.try_into().expect("a 1536-byte slice")
}

/// Feeds `pieces` to a handshake, collecting what it sends; returns the last status.
fn drive<H>(
    hs: &mut H,
    pieces: [&[u8]; 2],
    sent: &mut Vec<u8>,
    input: impl Fn(&mut H, &[u8]) -> rtmp_proto::Result<HandshakeStatus>,
    transmit: impl Fn(&mut H) -> Option<bytes::Bytes>,
) -> rtmp_proto::Result<HandshakeStatus> {
    let mut status = Ok(HandshakeStatus::InProgress);
    for piece in pieces {
        status = input(hs, piece);
        while let Some(out) = transmit(hs) {
            sent.extend_from_slice(&out);
        }
        if status.is_err() {
            assert!(input(hs, b"").is_err(), "a failed handshake stays failed");
            break;
        }
    }
    status
}

fn server_side(data: &[u8], pieces: [&[u8]; 2]) {
    let mut hs = ServerHandshake::new(params(data, 1));
    let mut sent = Vec::new();
    let status = drive(
        &mut hs,
        pieces,
        &mut sent,
        ServerHandshake::handle_input,
        ServerHandshake::poll_transmit,
    );
    let version_ok = data.first() == Some(&3);
    assert_eq!(status.is_ok(), data.is_empty() || version_ok);
    let answered = version_ok && data.len() > PACKET_SIZE;
    assert_eq!(sent.len(), if answered { FULL } else { 0 });
    let done = version_ok && data.len() >= FULL;
    assert_eq!(status == Ok(HandshakeStatus::Done), done);
    assert_eq!(hs.is_done(), done);
    let leftover = hs.take_leftover();
    assert_eq!(
        &leftover[..],
        data.get(FULL..).filter(|_| done).unwrap_or_default()
    );
    if !answered {
        return;
    }
    let c1 = packet(&data[1..=PACKET_SIZE]);
    assert_eq!(sent[0], 3);
    let s1 = packet(&sent[1..=PACKET_SIZE]);
    let s2 = packet(&sent[1 + PACKET_SIZE..]);
    assert_eq!(
        hs.peer_epoch(),
        Some(u32::from_be_bytes([c1[0], c1[1], c1[2], c1[3]]))
    );
    match hs.kind().expect("kind known once C1 is in") {
        HandshakeKind::Simple => {
            // A non-zero version field without a valid digest falls back to simple.
            assert!(c1[4..8] == [0; 4] || digest::find(&c1, &FP_KEY[..FP_KEY_TEXT_LEN]).is_none());
            assert_eq!(s1[4..8], [0; 4]);
            assert_eq!(s2, c1, "simple S2 echoes C1");
            assert_eq!(hs.c2_verified(), None);
        }
        HandshakeKind::Digest(schema) => {
            let (c1_schema, c1_digest) =
                digest::find(&c1, &FP_KEY[..FP_KEY_TEXT_LEN]).expect("C1 digest verifies");
            assert_eq!(c1_schema, schema);
            assert_ne!(s1[4..8], [0; 4], "digest S1 has a non-zero version");
            let (s1_schema, s1_digest) =
                digest::find(&s1, &FMS_KEY[..FMS_KEY_TEXT_LEN]).expect("S1 digest verifies");
            assert_eq!(s1_schema, schema, "S1 digest where the client put its own");
            assert!(
                digest::verify_reply(&s2, &FMS_KEY, &c1_digest),
                "S2 signed from C1"
            );
            if done {
                let c2 = packet(&data[1 + PACKET_SIZE..FULL]);
                let signed = digest::verify_reply(&c2, &FP_KEY, &s1_digest);
                assert_eq!(hs.c2_verified(), Some(signed));
            }
        }
    }
}

fn client_side(data: &[u8], pieces: [&[u8]; 2], use_digest: bool) {
    let mut hs = ClientHandshake::new(params(data, 2), use_digest);
    let c0c1 = hs.poll_transmit().expect("C0+C1 queued on creation");
    assert_eq!(c0c1.len(), 1 + PACKET_SIZE);
    let c1 = packet(&c0c1[1..]);
    let c1_digest = digest::find(&c1, &FP_KEY[..FP_KEY_TEXT_LEN]);
    if use_digest {
        assert_eq!(c1_digest.map(|d| d.0), Some(DigestSchema::Schema1));
    }
    let mut sent = Vec::new();
    let status = drive(
        &mut hs,
        pieces,
        &mut sent,
        ClientHandshake::handle_input,
        ClientHandshake::poll_transmit,
    );
    assert!(sent.is_empty() || sent.len() == PACKET_SIZE, "at most C2");
    if data.first().is_some_and(|&v| v != 3) {
        assert!(status.is_err() && sent.is_empty());
    }
    let done = status == Ok(HandshakeStatus::Done);
    assert_eq!(hs.is_done(), done);
    assert_eq!(
        &hs.take_leftover()[..],
        data.get(FULL..).filter(|_| done).unwrap_or_default()
    );
    if done {
        assert!(data.len() >= FULL && sent.len() == PACKET_SIZE);
    }
    if sent.is_empty() {
        return;
    }
    let s1 = packet(&data[1..=PACKET_SIZE]);
    assert_eq!(
        hs.peer_version().map(|v| v.to_vec()),
        Some(s1[4..8].to_vec())
    );
    match hs.kind().expect("kind known once S1 is in") {
        HandshakeKind::Simple => {
            assert!(!use_digest || s1[4..8] == [0; 4]);
            assert_eq!(sent[..], s1[..], "simple C2 echoes S1");
        }
        HandshakeKind::Digest(schema) => {
            assert!(use_digest);
            let (s1_schema, s1_digest) =
                digest::find(&s1, &FMS_KEY[..FMS_KEY_TEXT_LEN]).expect("S1 digest verifies");
            assert_eq!(s1_schema, schema);
            assert!(
                digest::verify_reply(&packet(&sent), &FP_KEY, &s1_digest),
                "C2 signed from S1"
            );
            if done {
                let s2 = packet(&data[1 + PACKET_SIZE..FULL]);
                let (_, c1_digest) = c1_digest.expect("digest client has a C1 digest");
                assert!(
                    digest::verify_reply(&s2, &FMS_KEY, &c1_digest),
                    "S2 was verified"
                );
            }
        }
    }
}

/// The input's first bytes as a C1 signed at the schema bit 0 of `data[0]` picks: the server
/// answers with a digest handshake at that schema whose S1 and S2 verify.
fn crafted_digest_c1(data: &[u8]) {
    let mut c1 = [0u8; PACKET_SIZE];
    for (c, d) in c1.iter_mut().zip(data) {
        *c = *d;
    }
    if c1[4..8] == [0; 4] {
        c1[4..8].copy_from_slice(&[9, 0, 124, 2]);
    }
    let schema = if data.first().is_some_and(|b| b & 1 == 1) {
        DigestSchema::Schema0
    } else {
        DigestSchema::Schema1
    };
    let c1_digest = digest::imprint(&mut c1, schema, &FP_KEY[..FP_KEY_TEXT_LEN]);
    let Some((found, _)) = digest::find(&c1, &FP_KEY[..FP_KEY_TEXT_LEN]) else {
        panic!("an imprinted digest is found");
    };
    let mut hs = ServerHandshake::new(params(data, 3));
    let mut input = vec![3u8];
    input.extend_from_slice(&c1);
    assert_eq!(hs.handle_input(&input), Ok(HandshakeStatus::InProgress));
    // `find` tries schema 1 first; a schema-0 C1 whose bytes also verify at schema 1
    // (an HMAC collision) would be answered at schema 1, so compare with what `find` says.
    assert_eq!(hs.kind(), Some(HandshakeKind::Digest(found)));
    let out = hs.poll_transmit().expect("S0+S1+S2");
    assert_eq!(out.len(), FULL);
    let s1 = packet(&out[1..=PACKET_SIZE]);
    let s2 = packet(&out[1 + PACKET_SIZE..]);
    let (s1_schema, _) = digest::find(&s1, &FMS_KEY[..FMS_KEY_TEXT_LEN]).expect("S1 verifies");
    assert_eq!(s1_schema, found);
    if found == schema {
        assert!(digest::verify_reply(&s2, &FMS_KEY, &c1_digest));
    }
}

/// Our client (simple and digest) against our server, parameters from the input: both
/// finish, agree on the variant, and the server sees a verified C2 in digest mode.
fn our_client_against_our_server(data: &[u8]) {
    for use_digest in [false, true] {
        let mut client = ClientHandshake::new(params(data, 4), use_digest);
        let mut server = ServerHandshake::new(params(data, 5));
        let c0c1 = client.poll_transmit().expect("C0+C1");
        assert_eq!(server.handle_input(&c0c1), Ok(HandshakeStatus::InProgress));
        let mut s012 = server.poll_transmit().expect("S0+S1+S2").to_vec();
        s012.extend_from_slice(b"tail");
        assert_eq!(client.handle_input(&s012), Ok(HandshakeStatus::Done));
        assert_eq!(&client.take_leftover()[..], b"tail");
        let mut c2 = client.poll_transmit().expect("C2").to_vec();
        assert_eq!(c2.len(), PACKET_SIZE);
        c2.extend_from_slice(b"connect");
        assert_eq!(server.handle_input(&c2), Ok(HandshakeStatus::Done));
        assert_eq!(&server.take_leftover()[..], b"connect");
        let kind = if use_digest {
            HandshakeKind::Digest(DigestSchema::Schema1)
        } else {
            HandshakeKind::Simple
        };
        assert_eq!((client.kind(), server.kind()), (Some(kind), Some(kind)));
        assert_eq!(server.c2_verified(), use_digest.then_some(true));
        assert_eq!(server.peer_epoch(), Some(params(data, 4).epoch));
        assert_eq!(client.peer_epoch(), Some(params(data, 5).epoch));
    }
}
