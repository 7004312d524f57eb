//! Frame headers (RFC 6455 §5.2): encoding the server's unmasked ones beside
//! payloads the caller keeps, parsing any, and whole small frames (close,
//! pong, and masked client frames for tests and clients).

use bytes::{BufMut, Bytes, BytesMut};

use crate::decoder::DecodeError;

/// Longest frame header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// Largest payload of a control frame (close, ping, pong).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// The continuation of a fragmented message.
    Continuation,
    /// A text message (or its first fragment).
    Text,
    /// A binary message (or its first fragment).
    Binary,
    /// Close.
    Close,
    /// Ping.
    Ping,
    /// Pong.
    Pong,
}

impl Opcode {
    /// The opcode's 4-bit value.
    pub fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xa,
        }
    }

    /// The opcode of a 4-bit value; `None` for reserved values.
    pub fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xa => Opcode::Pong,
            _ => return None,
        })
    }

    /// Close, ping or pong.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// An unmasked (server → client) frame header for a payload of `len`
/// bytes: the header bytes and how many of them are used (2, 4 or 10). The
/// payload goes beside it, uncopied.
pub fn encode_header(opcode: Opcode, fin: bool, len: u64) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = (u8::from(fin) << 7) | opcode.bits();
    if len < 126 {
        h[1] = len as u8;
        (h, 2)
    } else if let Ok(short) = u16::try_from(len) {
        h[1] = 126;
        h[2..4].copy_from_slice(&short.to_be_bytes());
        (h, 4)
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&len.to_be_bytes());
        (h, 10)
    }
}

fn small_frame(opcode: Opcode, payload: &[u8]) -> Bytes {
    let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
    let (h, n) = encode_header(opcode, true, payload.len() as u64);
    let mut b = BytesMut::with_capacity(n + payload.len());
    b.put_slice(&h[..n]);
    b.put_slice(payload);
    b.freeze()
}

/// A server close frame with a status `code` and a `reason` (cut to fit the
/// 125-byte control payload, at a character boundary).
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let mut cut = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut payload = Vec::with_capacity(2 + cut);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..cut]);
    small_frame(Opcode::Close, &payload)
}

/// The server's pong answering a ping with `payload` (at most 125 bytes,
/// which the decoder guarantees).
pub fn pong_frame(payload: &[u8]) -> Bytes {
    small_frame(Opcode::Pong, payload)
}

/// A whole masked (client → server) frame: for clients and tests.
pub fn encode_client_frame(opcode: Opcode, fin: bool, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let (h, n) = encode_header(opcode, fin, payload.len() as u64);
    let mut v = Vec::with_capacity(n + 4 + payload.len());
    v.extend_from_slice(&h[..n]);
    v[1] |= 0x80;
    v.extend_from_slice(&mask);
    v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    v
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The last frame of its message.
    pub fin: bool,
    /// The opcode.
    pub opcode: Opcode,
    /// The masking key, if the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub len: u64,
}

impl FrameHeader {
    /// Parses a header from the start of `buf`: the header and its length in
    /// bytes, or `None` if `buf` is too short yet. Refuses reserved bits
    /// (no extension is ever negotiated), reserved opcodes, a length with
    /// its top bit set and malformed control frames (fragmented, or longer
    /// than 125 bytes).
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, DecodeError> {
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        if b0 & 0x70 != 0 {
            return Err(DecodeError::ReservedBits);
        }
        let opcode = Opcode::from_bits(b0 & 0x0f).ok_or(DecodeError::BadOpcode(b0 & 0x0f))?;
        let fin = b0 & 0x80 != 0;
        let masked = b1 & 0x80 != 0;
        let (len, mut at) = match b1 & 0x7f {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(b) => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    let len = u64::from_be_bytes(a);
                    if len >> 63 != 0 {
                        return Err(DecodeError::BadLength);
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        if opcode.is_control() {
            if !fin {
                return Err(DecodeError::FragmentedControl);
            }
            if len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(DecodeError::ControlTooLong(len));
            }
        }
        let mask = if masked {
            match buf.get(at..at + 4) {
                Some(m) => {
                    at += 4;
                    Some([m[0], m[1], m[2], m[3]])
                }
                None => return Ok(None),
            }
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin,
                opcode,
                mask,
                len,
            },
            at,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths() {
        let (h, n) = encode_header(Opcode::Binary, true, 125);
        assert_eq!(&h[..n], &[0x82, 125]);
        let (h, n) = encode_header(Opcode::Binary, true, 126);
        assert_eq!(&h[..n], &[0x82, 126, 0, 126]);
        let (h, n) = encode_header(Opcode::Binary, false, 65535);
        assert_eq!(&h[..n], &[0x02, 126, 0xff, 0xff]);
        let (h, n) = encode_header(Opcode::Binary, true, 65536);
        assert_eq!(&h[..n], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
        for len in [0u64, 1, 125, 126, 65535, 65536, 1 << 40] {
            let (h, n) = encode_header(Opcode::Binary, true, len);
            let (p, used) = FrameHeader::parse(&h[..n]).unwrap().unwrap();
            assert_eq!((p.len, used, p.mask), (len, n, None));
            assert_eq!(FrameHeader::parse(&h[..n - 1]).unwrap(), None);
        }
    }

    #[test]
    fn close_and_pong_frames() {
        assert_eq!(&close_frame(1000, "")[..], &[0x88, 2, 0x03, 0xe8]);
        let long = close_frame(1001, &"é".repeat(100));
        assert_eq!(long[1] as usize, long.len() - 2);
        assert!(long.len() - 2 <= MAX_CONTROL_PAYLOAD);
        assert!(std::str::from_utf8(&long[4..]).is_ok());
        assert_eq!(&pong_frame(b"abc")[..], b"\x8a\x03abc");
    }

    #[test]
    fn client_frames_are_masked() {
        let f = encode_client_frame(Opcode::Text, true, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        // RFC 6455 §5.7's example.
        assert_eq!(
            f,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn malformed_headers() {
        assert_eq!(
            FrameHeader::parse(&[0xc2, 0]),
            Err(DecodeError::ReservedBits)
        );
        assert_eq!(
            FrameHeader::parse(&[0x83, 0]),
            Err(DecodeError::BadOpcode(3))
        );
        assert_eq!(
            FrameHeader::parse(&[0x09, 0x80]),
            Err(DecodeError::FragmentedControl)
        );
        assert_eq!(
            FrameHeader::parse(&[0x89, 126, 0, 126]),
            Err(DecodeError::ControlTooLong(126))
        );
        assert_eq!(
            FrameHeader::parse(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::BadLength)
        );
    }
}
