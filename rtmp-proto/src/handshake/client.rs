//! Client side of the handshake: send C0+C1, read S0+S1, send C2, read S2.

use bytes::{Bytes, BytesMut};

use super::digest::{self, DigestSchema, FMS_KEY, FMS_KEY_TEXT_LEN, FP_KEY, FP_KEY_TEXT_LEN};
use super::{
    check_version, fill_random, new_packet, packet_from, HandshakeKind, HandshakeParams,
    HandshakeStatus, Packet, PACKET_SIZE, RTMP_VERSION,
};
use crate::error::{Error, Misuse, Violation};

/// Version field of a digest C1: 9.0.124.2, what ffmpeg sends and what
/// Flash Media Server and every open-source server accept.
const CLIENT_VERSION: [u8; 4] = [9, 0, 124, 2];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitS0S1,
    AwaitS2,
    Done,
    Failed,
}

/// Client side of the RTMP handshake, sans-IO.
///
/// C0+C1 are queued on creation: call [`poll_transmit`](Self::poll_transmit)
/// first. With `digest = true` C1 carries a schema-1 digest (as ffmpeg and
/// Flash Player send); the server's S1 digest must then verify, and its S2
/// must be signed from our C1 digest, exactly as Flash clients check. If the
/// server answers with a zero version field (a simple-only server), the
/// client falls back to the simple handshake, as librtmp does. In simple
/// mode S2 is not checked: servers differ in what they put in its time fields.
#[derive(Debug)]
pub struct ClientHandshake {
    params: HandshakeParams,
    state: State,
    input: BytesMut,
    output: BytesMut,
    /// Our C1 digest, when C1 was a digest C1.
    c1_digest: Option<[u8; 32]>,
    kind: Option<HandshakeKind>,
    peer_epoch: Option<u32>,
    peer_version: Option<[u8; 4]>,
}

impl ClientHandshake {
    /// Starts a client handshake and queues C0+C1.
    pub fn new(params: HandshakeParams, digest: bool) -> Self {
        let mut c1 = new_packet();
        c1[..4].copy_from_slice(&params.epoch.to_be_bytes());
        fill_random(&params.seed, 1, &mut c1[8..]);
        let c1_digest = digest.then(|| {
            c1[4..8].copy_from_slice(&CLIENT_VERSION);
            digest::imprint(&mut c1, DigestSchema::Schema1, &FP_KEY[..FP_KEY_TEXT_LEN])
        });
        let mut output = BytesMut::with_capacity(1 + PACKET_SIZE);
        output.extend_from_slice(&[RTMP_VERSION]);
        output.extend_from_slice(&c1[..]);
        ClientHandshake {
            params,
            state: State::AwaitS0S1,
            input: BytesMut::new(),
            output,
            c1_digest,
            kind: None,
            peer_epoch: None,
            peer_version: None,
        }
    }

    /// Feeds bytes from the server. Truncated input is never an error.
    ///
    /// # Errors
    /// An unsupported S0 version, or (digest mode) an S1 digest or S2
    /// signature that does not verify. After an error every further call
    /// fails with [`Misuse::HandshakeFailed`].
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
        if self.state == State::AwaitS0S1 {
            if let Some(&v) = self.input.first() {
                check_version(v)?;
            }
            if self.input.len() < 1 + PACKET_SIZE {
                return Ok(HandshakeStatus::InProgress);
            }
            let s0s1 = self.input.split_to(1 + PACKET_SIZE);
            let Some(s1) = packet_from(&s0s1[1..]) else {
                return Ok(HandshakeStatus::InProgress);
            };
            let c2 = self.reply_to(&s1)?;
            self.output.extend_from_slice(&c2[..]);
            self.state = State::AwaitS2;
        }
        if self.state == State::AwaitS2 {
            if self.input.len() < PACKET_SIZE {
                return Ok(HandshakeStatus::InProgress);
            }
            let s2 = self.input.split_to(PACKET_SIZE);
            if let (Some(c1_digest), Some(HandshakeKind::Digest(_)), Some(s2)) =
                (self.c1_digest, self.kind, packet_from(&s2))
            {
                if !digest::verify_reply(&s2, &FMS_KEY, &c1_digest) {
                    return Err(Violation::DigestMismatch("S2 signature").into());
                }
            }
            self.state = State::Done;
        }
        Ok(if self.state == State::Done {
            HandshakeStatus::Done
        } else {
            HandshakeStatus::InProgress
        })
    }

    /// Checks S1 and builds C2.
    fn reply_to(&mut self, s1: &[u8; PACKET_SIZE]) -> Result<Packet, Error> {
        self.peer_epoch = Some(u32::from_be_bytes([s1[0], s1[1], s1[2], s1[3]]));
        let version = [s1[4], s1[5], s1[6], s1[7]];
        self.peer_version = Some(version);
        if self.c1_digest.is_none() || version == [0, 0, 0, 0] {
            // Spec 5.2.4: C2 echoes S1.
            self.kind = Some(HandshakeKind::Simple);
            let mut c2 = new_packet();
            c2.copy_from_slice(&s1[..]);
            return Ok(c2);
        }
        let (schema, s1_digest) = digest::find(s1, &FMS_KEY[..FMS_KEY_TEXT_LEN])
            .ok_or(Violation::DigestMismatch("S1 digest"))?;
        self.kind = Some(HandshakeKind::Digest(schema));
        let mut c2 = new_packet();
        fill_random(&self.params.seed, 2, &mut c2[..]);
        digest::sign_reply(&mut c2, &FP_KEY, &s1_digest);
        Ok(c2)
    }

    /// Bytes to send to the server, if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        (!self.output.is_empty()).then(|| self.output.split().freeze())
    }

    /// Whether S2 was received (and verified, in digest mode).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes received after S2; empty before the handshake is done.
    pub fn take_leftover(&mut self) -> Bytes {
        if self.state == State::Done {
            self.input.split().freeze()
        } else {
            Bytes::new()
        }
    }

    /// The variant in use, once S1 is in.
    pub fn kind(&self) -> Option<HandshakeKind> {
        self.kind
    }

    /// The server's epoch (S1 time field), once S1 is in.
    pub fn peer_epoch(&self) -> Option<u32> {
        self.peer_epoch
    }

    /// The server's version field (S1 bytes 4..8), once S1 is in.
    pub fn peer_version(&self) -> Option<[u8; 4]> {
        self.peer_version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> HandshakeParams {
        HandshakeParams {
            epoch: 77,
            seed: [3; 32],
        }
    }

    #[test]
    fn digest_c1_is_valid() {
        let mut hs = ClientHandshake::new(params(), true);
        let c0c1 = hs.poll_transmit().unwrap();
        assert_eq!(c0c1[0], 3);
        assert_eq!(&c0c1[1..5], &77u32.to_be_bytes());
        assert_eq!(&c0c1[5..9], &CLIENT_VERSION);
        let c1 = packet_from(&c0c1[1..]).unwrap();
        let found = digest::find(&c1, &FP_KEY[..FP_KEY_TEXT_LEN]);
        assert_eq!(found.map(|f| f.0), Some(DigestSchema::Schema1));
        assert!(hs.poll_transmit().is_none());
    }

    #[test]
    fn simple_mode_echoes_s1() {
        let mut hs = ClientHandshake::new(params(), false);
        let c0c1 = hs.poll_transmit().unwrap();
        assert_eq!(&c0c1[5..9], &[0, 0, 0, 0]);
        let mut s = vec![3u8];
        s.extend((0..PACKET_SIZE * 2).map(|i| i as u8));
        assert_eq!(
            hs.handle_input(&s[..1000]).unwrap(),
            HandshakeStatus::InProgress
        );
        hs.handle_input(&s[1000..]).unwrap();
        assert!(hs.is_done());
        assert_eq!(&hs.poll_transmit().unwrap()[..], &s[1..1 + PACKET_SIZE]);
    }

    #[test]
    fn digest_mode_rejects_unsigned_s1() {
        let mut hs = ClientHandshake::new(params(), true);
        let mut s = vec![3u8, 0, 0, 0, 1, 1, 2, 3, 4];
        s.resize(1 + PACKET_SIZE, 0x33);
        assert_eq!(
            hs.handle_input(&s),
            Err(Error::Violation(Violation::DigestMismatch("S1 digest")))
        );
        assert!(hs.handle_input(&[]).is_err());
    }

    #[test]
    fn digest_mode_falls_back_when_server_is_simple() {
        let mut hs = ClientHandshake::new(params(), true);
        let mut s = vec![3u8];
        s.resize(1 + 2 * PACKET_SIZE, 0);
        hs.handle_input(&s).unwrap();
        assert_eq!(hs.kind(), Some(HandshakeKind::Simple));
        assert!(hs.is_done());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn arbitrary_bytes_never_panic(
            digest in proptest::prelude::any::<bool>(),
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4000),
        ) {
            let mut hs = ClientHandshake::new(params(), digest);
            let mut data = data;
            if let Some(b) = data.first_mut() { *b = 3; }
            for piece in data.chunks(700) {
                let _ = hs.handle_input(piece);
            }
            let _ = hs.poll_transmit();
            let _ = hs.take_leftover();
        }
    }
}
