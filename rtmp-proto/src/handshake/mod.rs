//! The RTMP handshake (RTMP spec section 5.2), sans-IO.
//!
//! Both sides exchange a version byte (C0/S0), a 1536-byte packet (C1/S1) and
//! a 1536-byte reply (C2/S2). Two variants are in use:
//!
//! - **simple**: C1/S1 carry a time, four zero bytes and random filler;
//!   C2/S2 echo the peer's packet (spec 5.2.3, 5.2.4);
//! - **digest** ("complex", Flash Player 9+): C1/S1 carry a non-zero version
//!   and an HMAC-SHA256 digest at a position derived from their own bytes;
//!   the reply is signed from the peer's digest. Flash clients and ffmpeg
//!   refuse a server that does not answer a digest C1 in kind. See [`digest`].
//!
//! [`ServerHandshake`] detects which variant the client used and answers in
//! kind (falling back to simple when a non-zero-version C1 carries no valid
//! digest, as nginx-rtmp and SRS do). [`ClientHandshake`] can speak either.
//!
//! Neither side owns a clock or an RNG: the caller passes the epoch value and
//! a seed in [`HandshakeParams`]; the filler bytes are SHA-256 in counter
//! mode over the seed, so tests are deterministic.
//!
//! **Version byte.** Only 3 is accepted. 6, 8 and 9 ask for RTMPE (encrypted
//! RTMP) which strom does not implement: [`Unsupported::Encrypted`]. Anything
//! else is [`Unsupported::Version`]. Answering a 6 with a plain 3 would only
//! fail later in a confusing way, since the client then encrypts its chunks.
//!
//! The drive loop an IO driver runs (here both ends in memory):
//!
//! ```
//! use rtmp_proto::handshake::{
//!     ClientHandshake, HandshakeParams, HandshakeStatus, ServerHandshake,
//! };
//!
//! let mut server = ServerHandshake::new(HandshakeParams { epoch: 0, seed: [1; 32] });
//! let mut client = ClientHandshake::new(HandshakeParams { epoch: 0, seed: [2; 32] }, true);
//! let c0c1 = client.poll_transmit().unwrap();
//! server.handle_input(&c0c1)?;
//! let s0s1s2 = server.poll_transmit().unwrap();
//! assert_eq!(client.handle_input(&s0s1s2)?, HandshakeStatus::Done);
//! let mut c2 = client.poll_transmit().unwrap().to_vec();
//! c2.extend_from_slice(b"first chunk bytes");
//! assert_eq!(server.handle_input(&c2)?, HandshakeStatus::Done);
//! // What followed C2 belongs to the chunk decoder.
//! assert_eq!(&server.take_leftover()[..], b"first chunk bytes");
//! # Ok::<(), rtmp_proto::Error>(())
//! ```
//!
//! [`Unsupported::Encrypted`]: crate::error::Unsupported::Encrypted
//! [`Unsupported::Version`]: crate::error::Unsupported::Version

pub mod client;
pub mod digest;
pub mod server;

pub use client::ClientHandshake;
pub use digest::DigestSchema;
pub use server::ServerHandshake;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Unsupported};

/// The RTMP version byte of C0/S0 (spec 5.2.2).
pub const RTMP_VERSION: u8 = 3;
/// Size of C1, S1, C2 and S2 (spec 5.2.3).
pub const PACKET_SIZE: usize = 1536;

/// What the caller supplies in place of a clock and an RNG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeParams {
    /// Our epoch value, written in the time field of C1/S1 (milliseconds on
    /// some clock of the caller's choosing; peers only echo it).
    pub epoch: u32,
    /// Seed from which the random filler bytes are derived. Pass fresh
    /// random bytes in production.
    pub seed: [u8; 32],
}

/// Which handshake variant was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeKind {
    /// Plain echo handshake (spec 5.2).
    Simple,
    /// Digest handshake with the digest at the given schema's position.
    Digest(DigestSchema),
}

/// Whether the handshake is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeStatus {
    /// More bytes from the peer are needed.
    InProgress,
    /// The handshake completed; take the leftover bytes and feed them to the
    /// chunk decoder.
    Done,
}

/// Checks the C0/S0 version byte (see the module doc for the policy).
fn check_version(v: u8) -> Result<(), Error> {
    match v {
        RTMP_VERSION => Ok(()),
        6 | 8 | 9 => Err(Unsupported::Encrypted(v).into()),
        _ => Err(Unsupported::Version(v).into()),
    }
}

/// Fills `out` with bytes derived from `seed` (SHA-256 in counter mode,
/// `label` keeps the streams of S1 and S2 apart).
fn fill_random(seed: &[u8; 32], label: u8, out: &mut [u8]) {
    for (counter, block) in out.chunks_mut(32).enumerate() {
        let h = Sha256::new()
            .chain_update(seed)
            .chain_update([label])
            .chain_update((counter as u64).to_be_bytes())
            .finalize();
        block.copy_from_slice(&h[..block.len()]);
    }
}

/// A boxed 1536-byte packet (kept off the stack).
type Packet = Box<[u8; PACKET_SIZE]>;

fn new_packet() -> Packet {
    Box::new([0u8; PACKET_SIZE])
}

/// Copies the first [`PACKET_SIZE`] bytes of `src` into a packet.
/// `src` must be at least that long (callers check).
fn packet_from(src: &[u8]) -> Option<Packet> {
    let arr: [u8; PACKET_SIZE] = src.get(..PACKET_SIZE)?.try_into().ok()?;
    Some(Box::new(arr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_policy() {
        assert!(check_version(3).is_ok());
        assert_eq!(
            check_version(6),
            Err(Error::Unsupported(Unsupported::Encrypted(6)))
        );
        assert_eq!(
            check_version(31),
            Err(Error::Unsupported(Unsupported::Version(31)))
        );
    }

    #[test]
    fn random_is_deterministic_and_labelled() {
        let mut a = [0u8; 100];
        let mut b = [0u8; 100];
        let mut c = [0u8; 100];
        fill_random(&[7; 32], 1, &mut a);
        fill_random(&[7; 32], 1, &mut b);
        fill_random(&[7; 32], 2, &mut c);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// Simple and digest handshakes between our own client and server.
    #[test]
    fn client_server_round_trips() {
        for digest in [false, true] {
            let mut client = ClientHandshake::new(
                HandshakeParams {
                    epoch: 1000,
                    seed: [1; 32],
                },
                digest,
            );
            let mut server = ServerHandshake::new(HandshakeParams {
                epoch: 2000,
                seed: [2; 32],
            });
            let c0c1 = client.poll_transmit().unwrap();
            assert_eq!(c0c1.len(), 1 + PACKET_SIZE);
            assert_eq!(
                server.handle_input(&c0c1).unwrap(),
                HandshakeStatus::InProgress
            );
            let s012 = server.poll_transmit().unwrap();
            assert_eq!(s012.len(), 1 + 2 * PACKET_SIZE);
            // Deliver S0S1S2 plus the start of the chunk stream in odd pieces.
            let mut from_server = s012.to_vec();
            from_server.extend_from_slice(b"after-s2");
            let mut status = HandshakeStatus::InProgress;
            for piece in from_server.chunks(500) {
                status = client.handle_input(piece).unwrap();
            }
            assert_eq!(status, HandshakeStatus::Done);
            assert_eq!(&client.take_leftover()[..], b"after-s2");
            let mut c2 = client.poll_transmit().unwrap().to_vec();
            assert_eq!(c2.len(), PACKET_SIZE);
            c2.extend_from_slice(b"connect");
            assert_eq!(server.handle_input(&c2).unwrap(), HandshakeStatus::Done);
            assert_eq!(&server.take_leftover()[..], b"connect");
            assert_eq!(server.peer_epoch(), Some(1000));
            let expect = if digest {
                HandshakeKind::Digest(DigestSchema::Schema1)
            } else {
                HandshakeKind::Simple
            };
            assert_eq!(server.kind(), Some(expect));
            assert_eq!(client.kind(), Some(expect));
            if digest {
                assert_eq!(server.c2_verified(), Some(true));
            }
        }
    }
}
