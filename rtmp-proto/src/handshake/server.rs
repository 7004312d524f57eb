//! Server side of the handshake: read C0+C1, answer S0+S1+S2 at once, read C2.

use bytes::{Bytes, BytesMut};

use super::digest::{self, FMS_KEY, FMS_KEY_TEXT_LEN, FP_KEY, FP_KEY_TEXT_LEN};
use super::{
    check_version, fill_random, new_packet, packet_from, HandshakeKind, HandshakeParams,
    HandshakeStatus, PACKET_SIZE, RTMP_VERSION,
};
use crate::error::{Error, Misuse};

/// Version field of a digest S1. Flash clients only check it is non-zero;
/// this is the value nginx-rtmp sends (13.14.10.13).
const SERVER_VERSION: [u8; 4] = [0x0d, 0x0e, 0x0a, 0x0d];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitC0C1,
    AwaitC2,
    Done,
    Failed,
}

/// Server side of the RTMP handshake (spec 5.2.5), sans-IO.
///
/// Feed the socket's bytes to [`handle_input`](Self::handle_input) and write
/// out what [`poll_transmit`](Self::poll_transmit) returns. When the status is
/// [`HandshakeStatus::Done`], [`take_leftover`](Self::take_leftover) gives the
/// bytes that followed C2 (clients pipeline their first chunks behind C2).
///
/// S0, S1 and S2 are sent together as soon as C1 is in (as nginx-rtmp and SRS
/// do; the spec allows S2 once C1 is received). C2 is read but not required
/// to match: many clients send a C2 that is neither an exact echo nor signed,
/// and no server in the field rejects them. [`c2_verified`](Self::c2_verified)
/// reports what was seen, for logs.
#[derive(Debug)]
pub struct ServerHandshake {
    params: HandshakeParams,
    state: State,
    input: BytesMut,
    output: BytesMut,
    kind: Option<HandshakeKind>,
    peer_epoch: Option<u32>,
    /// Our S1 digest (digest handshake only), which a signed C2 uses.
    s1_digest: Option<[u8; 32]>,
    c2_verified: Option<bool>,
}

impl ServerHandshake {
    /// A server handshake waiting for C0+C1.
    pub fn new(params: HandshakeParams) -> Self {
        ServerHandshake {
            params,
            state: State::AwaitC0C1,
            input: BytesMut::new(),
            output: BytesMut::new(),
            kind: None,
            peer_epoch: None,
            s1_digest: None,
            c2_verified: None,
        }
    }

    /// Feeds bytes from the client. Truncated input is never an error: the
    /// handshake keeps what it has and waits for more.
    ///
    /// # Errors
    /// An unsupported C0 version (see the [module doc](super)); after an
    /// error every further call fails with [`Misuse::HandshakeFailed`].
    pub fn handle_input(&mut self, data: &[u8]) -> Result<HandshakeStatus, Error> {
        if self.state == State::Failed {
            return Err(Misuse::HandshakeFailed.into());
        }
        self.input.extend_from_slice(data);
        let r = self.advance();
        if r.is_err() {
            self.state = State::Failed;
        }
        r
    }

    fn advance(&mut self) -> Result<HandshakeStatus, Error> {
        if self.state == State::AwaitC0C1 {
            if self.input.len() < 1 + PACKET_SIZE {
                // Check C0 early so a wrong protocol fails fast.
                if let Some(&v) = self.input.first() {
                    check_version(v)?;
                }
                return Ok(HandshakeStatus::InProgress);
            }
            let c0c1 = self.input.split_to(1 + PACKET_SIZE);
            check_version(c0c1[0])?;
            let Some(c1) = packet_from(&c0c1[1..]) else {
                return Ok(HandshakeStatus::InProgress);
            };
            self.answer(&c1);
            self.state = State::AwaitC2;
        }
        if self.state == State::AwaitC2 {
            if self.input.len() < PACKET_SIZE {
                return Ok(HandshakeStatus::InProgress);
            }
            let c2 = self.input.split_to(PACKET_SIZE);
            if let (Some(s1_digest), Some(c2)) = (self.s1_digest, packet_from(&c2)) {
                self.c2_verified = Some(digest::verify_reply(&c2, &FP_KEY, &s1_digest));
            }
            self.state = State::Done;
        }
        Ok(if self.state == State::Done {
            HandshakeStatus::Done
        } else {
            HandshakeStatus::InProgress
        })
    }

    /// Builds S0+S1+S2 for this C1.
    fn answer(&mut self, c1: &[u8; PACKET_SIZE]) {
        self.peer_epoch = Some(u32::from_be_bytes([c1[0], c1[1], c1[2], c1[3]]));
        // A zero version field means a pre-Flash-9 client: simple handshake.
        let client_digest = if c1[4..8] == [0, 0, 0, 0] {
            None
        } else {
            digest::find(c1, &FP_KEY[..FP_KEY_TEXT_LEN])
        };
        let mut s1 = new_packet();
        s1[..4].copy_from_slice(&self.params.epoch.to_be_bytes());
        fill_random(&self.params.seed, 1, &mut s1[8..]);
        self.output.extend_from_slice(&[RTMP_VERSION]);
        match client_digest {
            Some((schema, c1_digest)) => {
                self.kind = Some(HandshakeKind::Digest(schema));
                s1[4..8].copy_from_slice(&SERVER_VERSION);
                // Flash clients look for the S1 digest where they put theirs.
                self.s1_digest = Some(digest::imprint(
                    &mut s1,
                    schema,
                    &FMS_KEY[..FMS_KEY_TEXT_LEN],
                ));
                let mut s2 = new_packet();
                fill_random(&self.params.seed, 2, &mut s2[..]);
                digest::sign_reply(&mut s2, &FMS_KEY, &c1_digest);
                self.output.extend_from_slice(&s1[..]);
                self.output.extend_from_slice(&s2[..]);
            }
            None => {
                // Spec 5.2.3: S1 = time, zero, random; 5.2.4: S2 echoes C1.
                self.kind = Some(HandshakeKind::Simple);
                self.output.extend_from_slice(&s1[..]);
                self.output.extend_from_slice(&c1[..]);
            }
        }
    }

    /// Bytes to send to the client, if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        (!self.output.is_empty()).then(|| self.output.split().freeze())
    }

    /// Whether C2 was received.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes received after C2; empty before the handshake is done.
    pub fn take_leftover(&mut self) -> Bytes {
        if self.state == State::Done {
            self.input.split().freeze()
        } else {
            Bytes::new()
        }
    }

    /// The variant the client used, once C1 is in.
    pub fn kind(&self) -> Option<HandshakeKind> {
        self.kind
    }

    /// The client's epoch (C1 time field), once C1 is in.
    pub fn peer_epoch(&self) -> Option<u32> {
        self.peer_epoch
    }

    /// For a digest handshake, whether C2 carried a valid signature of our S1
    /// digest (informational: it is not required, see the type doc).
    pub fn c2_verified(&self) -> Option<bool> {
        self.c2_verified
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Unsupported;
    use crate::handshake::DigestSchema;

    fn params() -> HandshakeParams {
        HandshakeParams {
            epoch: 0x01020304,
            seed: [5; 32],
        }
    }

    #[test]
    fn simple_c1_gets_echo_s2() {
        let mut hs = ServerHandshake::new(params());
        let mut c0c1 = vec![3u8];
        c0c1.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 0]);
        c0c1.resize(1 + PACKET_SIZE, 0xab);
        assert_eq!(
            hs.handle_input(&c0c1[..100]).unwrap(),
            HandshakeStatus::InProgress
        );
        assert!(hs.poll_transmit().is_none());
        hs.handle_input(&c0c1[100..]).unwrap();
        let out = hs.poll_transmit().unwrap();
        assert_eq!(out[0], 3);
        assert_eq!(&out[1..5], &[1, 2, 3, 4]);
        assert_eq!(&out[5..9], &[0, 0, 0, 0]);
        assert_eq!(&out[1 + PACKET_SIZE..], &c0c1[1..]);
        assert_eq!(hs.kind(), Some(HandshakeKind::Simple));
        assert_eq!(hs.peer_epoch(), Some(9));
        assert!(!hs.is_done());
        assert_eq!(
            hs.handle_input(&[0u8; PACKET_SIZE]).unwrap(),
            HandshakeStatus::Done
        );
        assert!(hs.take_leftover().is_empty());
    }

    #[test]
    fn nonzero_version_without_digest_falls_back_to_simple() {
        let mut hs = ServerHandshake::new(params());
        let mut c0c1 = vec![3u8, 0, 0, 0, 0, 9, 0, 124, 2];
        c0c1.resize(1 + PACKET_SIZE, 0x11);
        hs.handle_input(&c0c1).unwrap();
        assert_eq!(hs.kind(), Some(HandshakeKind::Simple));
    }

    #[test]
    fn digest_c1_gets_digest_s1_and_signed_s2() {
        let mut c1 = [0x5au8; PACKET_SIZE];
        c1[4..8].copy_from_slice(&[9, 0, 124, 2]);
        let d = digest::imprint(&mut c1, DigestSchema::Schema0, &FP_KEY[..FP_KEY_TEXT_LEN]);
        let mut hs = ServerHandshake::new(params());
        let mut input = vec![3u8];
        input.extend_from_slice(&c1);
        hs.handle_input(&input).unwrap();
        assert_eq!(
            hs.kind(),
            Some(HandshakeKind::Digest(DigestSchema::Schema0))
        );
        let out = hs.poll_transmit().unwrap();
        let s1 = packet_from(&out[1..]).unwrap();
        let s2 = packet_from(&out[1 + PACKET_SIZE..]).unwrap();
        let (schema, _) = digest::find(&s1, &FMS_KEY[..FMS_KEY_TEXT_LEN]).unwrap();
        assert_eq!(schema, DigestSchema::Schema0);
        assert!(digest::verify_reply(&s2, &FMS_KEY, &d));
        // An unsigned C2 is accepted but reported.
        hs.handle_input(&[0u8; PACKET_SIZE]).unwrap();
        assert!(hs.is_done());
        assert_eq!(hs.c2_verified(), Some(false));
    }

    #[test]
    fn bad_versions_fail_fast_and_stay_failed() {
        let mut hs = ServerHandshake::new(params());
        assert_eq!(
            hs.handle_input(&[6]),
            Err(Error::Unsupported(Unsupported::Encrypted(6)))
        );
        assert_eq!(
            hs.handle_input(&[3]),
            Err(Error::Misuse(Misuse::HandshakeFailed))
        );
        let mut hs = ServerHandshake::new(params());
        assert!(hs.handle_input(b"GET / HTTP/1.1").is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn arbitrary_bytes_never_panic(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4000),
            split in 0usize..4000,
        ) {
            let mut hs = ServerHandshake::new(params());
            let mut data = data;
            // Mostly a valid C0, so the arbitrary C1/C2 get parsed too.
            if let Some(b) = data.first_mut().filter(|b| **b < 200) {
                *b = 3;
            }
            let split = split.min(data.len());
            let _ = hs.handle_input(&data[..split]);
            let _ = hs.handle_input(&data[split..]);
            let _ = hs.poll_transmit();
            let _ = hs.take_leftover();
            let _ = (hs.kind(), hs.peer_epoch(), hs.c2_verified(), hs.is_done());
        }
    }
}
