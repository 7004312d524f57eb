//! The digest ("complex") handshake of Flash Player 9 and later.
//!
//! Adobe never published this part; it is the form every Flash-compatible
//! client and server agrees on (librtmp `handshake.h`, ffmpeg `rtmpproto.c`,
//! nginx-rtmp `ngx_rtmp_handshake.c`, SRS `srs_rtmp_handshake.cpp`):
//!
//! - C1/S1 = time (4) | version (4, non-zero) | two 764-byte blocks. One block
//!   holds the 32-byte digest; [`DigestSchema`] says which. The digest's offset
//!   inside its block is `4 + (sum of the block's first 4 bytes) % 728`.
//! - The digest is HMAC-SHA256 over the 1504 other bytes, keyed with the first
//!   30 bytes of [`FP_KEY`] (client) or the first 36 bytes of [`FMS_KEY`]
//!   (server).
//! - C2/S2 = 1504 random bytes | HMAC-SHA256(key = HMAC-SHA256(full key, peer's
//!   digest), the 1504 bytes). The server signs S2 with the full 68-byte
//!   [`FMS_KEY`] and the C1 digest; the client signs C2 with the full 62-byte
//!   [`FP_KEY`] and the S1 digest.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::PACKET_SIZE;

/// The constant appended to both textual keys.
const KEY_TAIL: [u8; 32] = [
    0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1, 0x02, 0x9e, 0x7e, 0x57,
    0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae,
];

const fn join<const A: usize, const N: usize>(text: &[u8; A]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut i = 0;
    while i < A {
        out[i] = text[i];
        i += 1;
    }
    while i < N {
        out[i] = KEY_TAIL[i - A];
        i += 1;
    }
    out
}

/// "Genuine Adobe Flash Player 001" followed by the 32-byte constant.
pub const FP_KEY: [u8; 62] = join::<30, 62>(b"Genuine Adobe Flash Player 001");
/// "Genuine Adobe Flash Media Server 001" followed by the 32-byte constant.
pub const FMS_KEY: [u8; 68] = join::<36, 68>(b"Genuine Adobe Flash Media Server 001");
/// Length of the textual part of [`FP_KEY`], which alone signs C1.
pub const FP_KEY_TEXT_LEN: usize = 30;
/// Length of the textual part of [`FMS_KEY`], which alone signs S1.
pub const FMS_KEY_TEXT_LEN: usize = 36;

/// Size of an HMAC-SHA256 digest.
pub const DIGEST_LEN: usize = 32;
/// Size of each of the two blocks after the 8-byte C1/S1 header.
const BLOCK_LEN: usize = 764;
/// Offset of the signature in C2/S2.
const SIGNATURE_AT: usize = PACKET_SIZE - DIGEST_LEN;

/// Where the digest block sits in C1/S1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestSchema {
    /// Key block first, digest block second (bytes 772..1536). librtmp's
    /// "offset 2"; SRS's "schema0".
    Schema0,
    /// Digest block first (bytes 8..772), key block second. What ffmpeg,
    /// librtmp and Flash Player send; SRS's "schema1".
    Schema1,
}

impl DigestSchema {
    /// Start of the digest block.
    fn block_start(self) -> usize {
        match self {
            DigestSchema::Schema0 => 8 + BLOCK_LEN,
            DigestSchema::Schema1 => 8,
        }
    }

    /// Offset of the digest in `packet`, derived from the packet's own bytes.
    /// Always `<= PACKET_SIZE - DIGEST_LEN`: the block is 764 bytes and the
    /// offset inside it at most 4 + 727, leaving room for 32 bytes.
    pub fn digest_offset(self, packet: &[u8; PACKET_SIZE]) -> usize {
        let start = self.block_start();
        let sum: usize = packet[start..start + 4]
            .iter()
            .map(|&b| usize::from(b))
            .sum();
        start + 4 + sum % 728
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    // HMAC takes keys of any length (RFC 2104 section 2 hashes long keys), so
    // the error arm is unreachable; a zero digest would never verify anyway.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0; DIGEST_LEN];
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Computes the digest of `packet` at `schema`'s position with `key`.
fn compute(packet: &[u8; PACKET_SIZE], schema: DigestSchema, key: &[u8]) -> [u8; DIGEST_LEN] {
    let at = schema.digest_offset(packet);
    hmac(key, &[&packet[..at], &packet[at + DIGEST_LEN..]])
}

/// Writes the digest into `packet` at `schema`'s position and returns it.
pub fn imprint(packet: &mut [u8; PACKET_SIZE], schema: DigestSchema, key: &[u8]) -> [u8; 32] {
    let at = schema.digest_offset(packet);
    let d = compute(packet, schema, key);
    packet[at..at + DIGEST_LEN].copy_from_slice(&d);
    d
}

/// Looks for a valid digest under both schemas (schema 1 first: what
/// ffmpeg, librtmp and Flash Player send). Returns the schema and digest.
pub fn find(packet: &[u8; PACKET_SIZE], key: &[u8]) -> Option<(DigestSchema, [u8; 32])> {
    [DigestSchema::Schema1, DigestSchema::Schema0]
        .into_iter()
        .find_map(|schema| {
            let at = schema.digest_offset(packet);
            let d = compute(packet, schema, key);
            (packet[at..at + DIGEST_LEN] == d).then_some((schema, d))
        })
}

/// Signs a C2/S2 `packet` in place: its last 32 bytes become
/// HMAC(HMAC(`full_key`, `peer_digest`), first 1504 bytes).
pub fn sign_reply(packet: &mut [u8; PACKET_SIZE], full_key: &[u8], peer_digest: &[u8; 32]) {
    let sig = reply_signature(packet, full_key, peer_digest);
    packet[SIGNATURE_AT..].copy_from_slice(&sig);
}

/// Checks a C2/S2 signature made by [`sign_reply`].
pub fn verify_reply(packet: &[u8; PACKET_SIZE], full_key: &[u8], our_digest: &[u8; 32]) -> bool {
    reply_signature(packet, full_key, our_digest) == packet[SIGNATURE_AT..]
}

fn reply_signature(packet: &[u8; PACKET_SIZE], full_key: &[u8], digest: &[u8; 32]) -> [u8; 32] {
    let temp = hmac(full_key, &[digest]);
    hmac(&temp, &[&packet[..SIGNATURE_AT]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_text_plus_constant() {
        assert_eq!(&FP_KEY[..30], b"Genuine Adobe Flash Player 001");
        assert_eq!(&FMS_KEY[..36], b"Genuine Adobe Flash Media Server 001");
        assert_eq!(FP_KEY[30..], KEY_TAIL);
        assert_eq!(FMS_KEY[36..], KEY_TAIL);
    }

    #[test]
    fn offsets_stay_inside_their_block() {
        let mut p = [0xffu8; PACKET_SIZE];
        for schema in [DigestSchema::Schema0, DigestSchema::Schema1] {
            let at = schema.digest_offset(&p);
            assert!(at + DIGEST_LEN <= schema.block_start() + BLOCK_LEN);
        }
        p[8..12].copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(DigestSchema::Schema1.digest_offset(&p), 8 + 4 + 10);
    }

    #[test]
    fn imprint_then_find_round_trips() {
        for schema in [DigestSchema::Schema0, DigestSchema::Schema1] {
            let mut p = [0u8; PACKET_SIZE];
            for (i, b) in p.iter_mut().enumerate() {
                *b = (i * 7 % 251) as u8;
            }
            let d = imprint(&mut p, schema, &FP_KEY[..FP_KEY_TEXT_LEN]);
            assert_eq!(find(&p, &FP_KEY[..FP_KEY_TEXT_LEN]), Some((schema, d)));
            assert_eq!(find(&p, &FMS_KEY[..FMS_KEY_TEXT_LEN]), None);
            let mut reply = [9u8; PACKET_SIZE];
            sign_reply(&mut reply, &FMS_KEY, &d);
            assert!(verify_reply(&reply, &FMS_KEY, &d));
            reply[0] ^= 1;
            assert!(!verify_reply(&reply, &FMS_KEY, &d));
        }
    }
}
