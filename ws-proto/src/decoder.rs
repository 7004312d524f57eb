//! The decoder of client → server frames: control frames become events,
//! data frames are size-checked and dropped as they arrive.

use bytes::{Buf, Bytes, BytesMut};

use crate::close_code;
use crate::frame::{FrameHeader, Opcode};

/// Limits on what a client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest data frame accepted (bigger: close 1009).
    pub max_frame: u64,
    /// Most bytes held between [`Decoder::push`] and
    /// [`Decoder::next_event`] (a caller that drains events after every
    /// push of a read holds at most one header and one control payload).
    pub max_buffered: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: 64 * 1024,
            max_buffered: 8 * 1024,
        }
    }
}

/// What a client's frames amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A data frame (its payload dropped, unread).
    Data {
        /// Its opcode (text, binary or continuation).
        opcode: Opcode,
        /// Payload length.
        len: u64,
    },
    /// A ping: answer with [`crate::pong_frame`] of this payload.
    Ping(Bytes),
    /// A pong (unsolicited or not: nothing to do).
    Pong,
    /// The client closes: answer with a close frame and end. Nothing after
    /// it is decoded.
    Close {
        /// Its status code, if it sent one.
        code: Option<u16>,
        /// Its reason text.
        reason: String,
    },
}

/// Why the client's frames are refused. Each maps to the close code to send
/// before ending ([`DecodeError::close_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A client frame without a mask.
    #[error("client frame not masked")]
    Unmasked,
    /// RSV1–3 set with no extension negotiated.
    #[error("reserved bits set")]
    ReservedBits,
    /// A reserved opcode.
    #[error("reserved opcode {0:#x}")]
    BadOpcode(u8),
    /// A 64-bit length with its top bit set.
    #[error("payload length out of range")]
    BadLength,
    /// A close, ping or pong without FIN.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A control frame over 125 bytes.
    #[error("control frame of {0} bytes (at most 125)")]
    ControlTooLong(u64),
    /// A data frame over [`Limits::max_frame`].
    #[error("data frame of {len} bytes (at most {limit})")]
    FrameTooLarge {
        /// Its length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A continuation frame with no message started, or a new message
    /// before the last one's final fragment.
    #[error("bad fragmentation")]
    BadFragmentation,
    /// A close payload of one byte or with a code not allowed on the wire.
    #[error("bad close payload")]
    BadClose,
    /// A close reason that is not UTF-8.
    #[error("close reason is not UTF-8")]
    BadCloseReason,
    /// More bytes pushed than [`Limits::max_buffered`] without draining.
    #[error("more than {0} bytes buffered")]
    BufferFull(usize),
}

impl DecodeError {
    /// The close code to send (RFC 6455 §7.4.1): 1009 for sizes, 1007 for a
    /// bad reason text, 1002 otherwise.
    pub fn close_code(&self) -> u16 {
        match self {
            DecodeError::FrameTooLarge { .. } | DecodeError::BufferFull(_) => {
                close_code::MESSAGE_TOO_BIG
            }
            DecodeError::BadCloseReason => close_code::INVALID_PAYLOAD,
            _ => close_code::PROTOCOL_ERROR,
        }
    }
}

/// Decodes a client's frames from bytes pushed in any pieces.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    buf: BytesMut,
    /// Payload bytes of the current data frame still to drop.
    skip: u64,
    /// Inside a fragmented data message.
    in_message: bool,
    /// A close was decoded: the rest is ignored.
    closed: bool,
    /// The first error, returned again on every later call.
    failed: Option<DecodeError>,
}

impl Decoder {
    /// A decoder with `limits`.
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            buf: BytesMut::new(),
            skip: 0,
            in_message: false,
            closed: false,
            failed: None,
        }
    }

    /// Bytes held now.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Adds bytes read from the client. Payload bytes of a data frame being
    /// dropped are dropped here, unbuffered.
    pub fn push(&mut self, mut data: &[u8]) -> Result<(), DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.closed {
            return Ok(());
        }
        if self.skip > 0 && self.buf.is_empty() {
            let n = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(data.len());
            data = &data[n..];
            self.skip -= n as u64;
        }
        if self.buf.len() + data.len() > self.limits.max_buffered {
            return Err(self.fail(DecodeError::BufferFull(self.limits.max_buffered)));
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The next event, or `None` until more bytes arrive (and forever after
    /// a close).
    pub fn next_event(&mut self) -> Result<Option<Event>, DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.decode() {
            Ok(ev) => Ok(ev),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn fail(&mut self, e: DecodeError) -> DecodeError {
        self.failed = Some(e.clone());
        self.buf.clear();
        e
    }

    fn drop_skipped(&mut self) {
        let n = usize::try_from(self.skip)
            .unwrap_or(usize::MAX)
            .min(self.buf.len());
        self.buf.advance(n);
        self.skip -= n as u64;
    }

    fn decode(&mut self) -> Result<Option<Event>, DecodeError> {
        if self.closed {
            return Ok(None);
        }
        self.drop_skipped();
        if self.skip > 0 {
            return Ok(None);
        }
        let Some((h, header_len)) = FrameHeader::parse(&self.buf)? else {
            return Ok(None);
        };
        let mask = h.mask.ok_or(DecodeError::Unmasked)?;
        if !h.opcode.is_control() {
            if h.len > self.limits.max_frame {
                return Err(DecodeError::FrameTooLarge {
                    len: h.len,
                    limit: self.limits.max_frame,
                });
            }
            if (h.opcode == Opcode::Continuation) != self.in_message {
                return Err(DecodeError::BadFragmentation);
            }
            self.in_message = !h.fin;
            self.buf.advance(header_len);
            self.skip = h.len;
            self.drop_skipped();
            return Ok(Some(Event::Data {
                opcode: h.opcode,
                len: h.len,
            }));
        }
        // Control payloads are ≤ 125 bytes (checked by the header parser).
        let total = header_len + h.len as usize;
        if self.buf.len() < total {
            return Ok(None);
        }
        self.buf.advance(header_len);
        let mut payload = self.buf.split_to(h.len as usize);
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
        Ok(Some(match h.opcode {
            Opcode::Ping => Event::Ping(payload.freeze()),
            Opcode::Pong => Event::Pong,
            _ => {
                let (code, reason) = match payload.len() {
                    0 => (None, String::new()),
                    1 => return Err(DecodeError::BadClose),
                    _ => {
                        let code = u16::from_be_bytes([payload[0], payload[1]]);
                        if !valid_close_code(code) {
                            return Err(DecodeError::BadClose);
                        }
                        let reason = std::str::from_utf8(&payload[2..])
                            .map_err(|_| DecodeError::BadCloseReason)?;
                        (Some(code), reason.to_string())
                    }
                };
                self.closed = true;
                self.buf.clear();
                Event::Close { code, reason }
            }
        }))
    }
}

/// Codes a peer may send in a close frame (RFC 6455 §7.4, IANA registry).
fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode_client_frame as frame;

    const M: [u8; 4] = [9, 8, 7, 6];

    fn events(dec: &mut Decoder) -> Result<Vec<Event>, DecodeError> {
        let mut v = Vec::new();
        while let Some(e) = dec.next_event()? {
            v.push(e);
        }
        Ok(v)
    }

    #[test]
    fn ping_data_pong_close() {
        let mut input = frame(Opcode::Ping, true, b"p1", M);
        input.extend(frame(Opcode::Binary, false, &[1; 300], M));
        input.extend(frame(Opcode::Continuation, true, &[2; 10], M));
        input.extend(frame(Opcode::Pong, true, b"", M));
        let mut close = 1001u16.to_be_bytes().to_vec();
        close.extend_from_slice(b"bye");
        input.extend(frame(Opcode::Close, true, &close, M));
        input.extend(frame(Opcode::Ping, true, b"after", M));
        let mut dec = Decoder::new(Limits::default());
        dec.push(&input).unwrap();
        assert_eq!(
            events(&mut dec).unwrap(),
            vec![
                Event::Ping(Bytes::from_static(b"p1")),
                Event::Data {
                    opcode: Opcode::Binary,
                    len: 300
                },
                Event::Data {
                    opcode: Opcode::Continuation,
                    len: 10
                },
                Event::Pong,
                Event::Close {
                    code: Some(1001),
                    reason: "bye".into()
                },
            ]
        );
        assert_eq!(dec.buffered(), 0);
        dec.push(b"anything").unwrap();
        assert_eq!(dec.next_event(), Ok(None));
    }

    #[test]
    fn big_data_frames_are_dropped_unbuffered() {
        let f = frame(Opcode::Binary, true, &[7; 60_000], M);
        let mut dec = Decoder::new(Limits::default());
        for piece in f.chunks(512) {
            dec.push(piece).unwrap();
            events(&mut dec).unwrap();
            assert!(dec.buffered() < 512);
        }
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn refusals_with_their_close_codes() {
        let cases: Vec<(Vec<u8>, DecodeError, u16)> = vec![
            (vec![0x89, 0x00], DecodeError::Unmasked, 1002),
            (
                frame(Opcode::Binary, true, &[0; 65537], M),
                DecodeError::FrameTooLarge {
                    len: 65537,
                    limit: 65536,
                },
                1009,
            ),
            (
                frame(Opcode::Continuation, true, b"x", M),
                DecodeError::BadFragmentation,
                1002,
            ),
            (
                frame(Opcode::Close, true, b"x", M),
                DecodeError::BadClose,
                1002,
            ),
            (
                frame(Opcode::Close, true, &1005u16.to_be_bytes(), M),
                DecodeError::BadClose,
                1002,
            ),
            (
                frame(Opcode::Close, true, b"\x03\xe8\xff", M),
                DecodeError::BadCloseReason,
                1007,
            ),
        ];
        for (input, err, code) in cases {
            let mut dec = Decoder::new(Limits {
                max_buffered: 1 << 20,
                ..Limits::default()
            });
            dec.push(&input).unwrap();
            assert_eq!(events(&mut dec), Err(err.clone()));
            assert_eq!(err.close_code(), code);
            // Sticky.
            assert_eq!(dec.next_event(), Err(err));
        }
        let mut two = frame(Opcode::Binary, false, b"a", M);
        two.extend(frame(Opcode::Text, true, b"b", M));
        let mut dec = Decoder::new(Limits::default());
        dec.push(&two).unwrap();
        assert_eq!(events(&mut dec), Err(DecodeError::BadFragmentation));
    }

    #[test]
    fn buffering_is_bounded() {
        let mut dec = Decoder::new(Limits {
            max_frame: 10,
            max_buffered: 16,
        });
        dec.push(&[0x89, 0xfd]).unwrap(); // a masked ping of 125 bytes, header only
        assert_eq!(dec.next_event(), Ok(None));
        assert_eq!(dec.push(&[0; 15]), Err(DecodeError::BufferFull(16)));
        assert_eq!(dec.push(&[0]), Err(DecodeError::BufferFull(16)));
        assert_eq!(DecodeError::BufferFull(16).close_code(), 1009);
    }
}
