//! One reader over a connection's bytes: RTSP messages and `$`-interleaved binary data
//! share the TCP stream (RFC 2326 §10.12).

use bytes::{Bytes, BytesMut};

use super::error::ParseError;
use super::message::{frame_message, Framed, Limits, Message, Request, Response};

/// The `$` that starts an interleaved frame (RFC 2326 §10.12).
pub const INTERLEAVED_MAGIC: u8 = b'$';

/// One unit read from an RTSP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// An RTSP request.
    Request(Request),
    /// An RTSP response (e.g. to a server-sent GET_PARAMETER).
    Response(Response),
    /// Interleaved binary data: `$`, channel, 16-bit length, data (RFC 2326 §10.12).
    Interleaved {
        /// Channel id (from the Transport `interleaved=` pair).
        channel: u8,
        /// The embedded RTP or RTCP packet.
        data: Bytes,
    },
}

/// What the next unit in a buffer is, without copying it.
#[derive(Debug)]
pub(crate) enum Frame {
    /// An interleaved frame: data at `4..4 + len`.
    Interleaved { channel: u8, len: usize },
    /// An RTSP message (or a head that failed to parse).
    Message(Framed),
}

impl Frame {
    pub(crate) fn consumed(&self) -> usize {
        match self {
            Frame::Interleaved { len, .. } => 4 + len,
            Frame::Message(f) => f.consumed,
        }
    }
}

/// A buffer frames are cut from: a session's own, or the caller's `Bytes` (zero-copy).
/// Shared by the server and client sessions.
pub(crate) trait InputBuf {
    fn bytes(&self) -> &[u8];
    /// The first `n` bytes (`n <= bytes().len()`), removed from the buffer.
    fn take(&mut self, n: usize) -> Bytes;
}

impl InputBuf for BytesMut {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn take(&mut self, n: usize) -> Bytes {
        self.split_to(n).freeze()
    }
}

impl InputBuf for Bytes {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn take(&mut self, n: usize) -> Bytes {
        self.split_to(n)
    }
}

/// Finds the next complete unit at the start of `buf`; `Ok(Err(n))` = need at least `n`
/// bytes in all.
pub(crate) fn next_frame(buf: &[u8], limits: &Limits) -> Result<Result<Frame, usize>, ParseError> {
    match buf.first() {
        None => Ok(Err(1)),
        Some(&INTERLEAVED_MAGIC) => {
            // RFC 2326 §10.12: '$', one-byte channel identifier, two-byte length in network
            // order, then the data. The length is 16 bits, so it is bounded by 65535.
            let (Some(&channel), Some(&hi), Some(&lo)) = (buf.get(1), buf.get(2), buf.get(3))
            else {
                return Ok(Err(4));
            };
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            if buf.len() < 4 + len {
                return Ok(Err(4 + len));
            }
            Ok(Ok(Frame::Interleaved { channel, len }))
        }
        Some(_) => Ok(frame_message(buf, limits)?.map(Frame::Message)),
    }
}

/// Reads one unit from the start of `buf`: `Ok(None)` when more bytes are needed, else the
/// unit and the number of bytes it used. Data and bodies are copied out of `buf`.
/// A head that does not parse is an error here; [`ServerSession`](super::ServerSession)
/// instead answers it with 400 and goes on.
pub fn read_incoming(buf: &[u8], limits: &Limits) -> Result<Option<(Incoming, usize)>, ParseError> {
    // Empty lines between units are skipped before looking for `$`, as the server session
    // does: a stray CRLF after a message must not turn the next interleaved frame into a
    // request head (found by the `rtsp_message` fuzz target).
    let blank = buf
        .iter()
        .take(limits.max_line + 1)
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    if blank > limits.max_line {
        return Err(ParseError::TooLarge {
            what: "empty lines",
            limit: limits.max_line,
            got: blank,
        });
    }
    let buf = &buf[blank..];
    let Ok(frame) = next_frame(buf, limits)? else {
        return Ok(None);
    };
    let consumed = blank + frame.consumed();
    let incoming = match frame {
        Frame::Interleaved { channel, len } => Incoming::Interleaved {
            channel,
            data: Bytes::copy_from_slice(buf.get(4..4 + len).unwrap_or_default()),
        },
        Frame::Message(f) => {
            let (msg, range) = f.parsed.map_err(|(e, _)| e)?;
            let body = Bytes::copy_from_slice(buf.get(range).unwrap_or_default());
            match msg {
                Message::Request(mut r) => {
                    r.body = body;
                    Incoming::Request(r)
                }
                Message::Response(mut r) => {
                    r.body = body;
                    Incoming::Response(r)
                }
            }
        }
    };
    Ok(Some((incoming, consumed)))
}

/// The 4-byte header of an interleaved frame (RFC 2326 §10.12), so the caller writes the
/// header and the payload `Bytes` vectored, without copying the payload.
/// `None` if the payload is over 65535 bytes (it cannot be framed).
pub fn encode_interleaved(channel: u8, payload: &[u8]) -> Option<[u8; 4]> {
    let len = u16::try_from(payload.len()).ok()?;
    let [hi, lo] = len.to_be_bytes();
    Some([INTERLEAVED_MAGIC, channel, hi, lo])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::message::Method;
    use proptest::prelude::*;

    fn lim() -> Limits {
        Limits::default()
    }

    /// Reads everything from a buffer, stopping at "need more".
    fn read_all(mut buf: &[u8]) -> (Vec<Incoming>, usize) {
        let mut out = Vec::new();
        while let Some((inc, n)) = read_incoming(buf, &lim()).unwrap() {
            out.push(inc);
            buf = &buf[n..];
        }
        (out, buf.len())
    }

    #[test]
    fn a_stray_crlf_before_an_interleaved_frame_is_skipped() {
        let (units, left) = read_all(b"\r\n$\x01\x00\x02ab\n$\x00\x00\x00");
        assert_eq!(left, 0);
        assert_eq!(
            units,
            [
                Incoming::Interleaved {
                    channel: 1,
                    data: Bytes::from_static(b"ab"),
                },
                Incoming::Interleaved {
                    channel: 0,
                    data: Bytes::new(),
                },
            ]
        );
        // Not a request with the method `$X`: a frame on channel 'X' of 0x202a bytes.
        assert_eq!(
            read_incoming(b"\r\n$X * RTSP/1.0\r\n\r\n", &lim()),
            Ok(None)
        );
        // Too many empty lines: the same error as the message reader's (the fuzz target's
        // second finding: the two once disagreed on `got`).
        let endless = vec![b'\r'; lim().max_line + 3];
        assert_eq!(
            read_incoming(&endless, &lim()),
            Err(ParseError::TooLarge {
                what: "empty lines",
                limit: lim().max_line,
                got: lim().max_line + 1,
            })
        );
    }

    /// The `rtsp_message` fuzz target's input that found the stray-CRLF bug: every unit
    /// read from it, written back, reads back as the same unit.
    #[test]
    fn fuzz_regression_units_round_trip() {
        let raw = include_bytes!("testdata/fuzz-rtsp_message-crlf-before-dollar.bin");
        let mut buf = &raw[..];
        let mut units = 0;
        while let Ok(Some((unit, used))) = read_incoming(buf, &lim()) {
            let mut wire = bytes::BytesMut::new();
            match &unit {
                Incoming::Request(r) => r.encode(&mut wire),
                Incoming::Response(r) => r.encode(&mut wire),
                Incoming::Interleaved { channel, data } => {
                    wire.extend_from_slice(&encode_interleaved(*channel, data).unwrap());
                    wire.extend_from_slice(data);
                }
            }
            let relaxed = Limits {
                max_line: wire.len(),
                ..lim()
            };
            let (back, n) = read_incoming(&wire, &relaxed).unwrap().unwrap();
            assert_eq!(n, wire.len());
            if let (Incoming::Request(a), Incoming::Request(b)) = (&unit, &back) {
                assert_eq!(a.method, b.method);
                assert_eq!(a.uri, b.uri);
            } else {
                assert_eq!(std::mem::discriminant(&unit), std::mem::discriminant(&back));
            }
            buf = &buf[used..];
            units += 1;
        }
        assert!(units > 0);
    }

    #[test]
    fn ffmpeg_record_capture() {
        let raw = include_bytes!("testdata/ffmpeg-5.1_rtsp_record_tcp.client-to-server.bin");
        let (units, left) = read_all(raw);
        assert_eq!(left, 0);
        let methods: Vec<_> = units
            .iter()
            .filter_map(|u| match u {
                Incoming::Request(r) => Some(r.method.clone()),
                _ => None,
            })
            .collect();
        use Method::*;
        assert_eq!(
            methods[..6],
            [Options, Announce, Setup, Setup, Record, Teardown]
        );
        let channels: std::collections::BTreeSet<u8> = units
            .iter()
            .filter_map(|u| match u {
                Incoming::Interleaved { channel, .. } => Some(*channel),
                _ => None,
            })
            .collect();
        assert!(channels.is_subset(&[0, 1, 2, 3].into_iter().collect()));
        assert!(units.len() > 100);
    }

    #[test]
    fn header_helper() {
        assert_eq!(encode_interleaved(2, &[0; 300]), Some([b'$', 2, 1, 44]));
        assert_eq!(encode_interleaved(0, &vec![0; 70000]), None);
        assert_eq!(read_incoming(b"$\x01\x00", &lim()), Ok(None));
        assert_eq!(
            read_incoming(b"$\x01\x00\x02ab!", &lim()),
            Ok(Some((
                Incoming::Interleaved {
                    channel: 1,
                    data: Bytes::from_static(b"ab")
                },
                6
            )))
        );
    }

    fn unit() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (any::<u8>(), prop::collection::vec(any::<u8>(), 0..400)).prop_map(|(c, d)| {
                let mut v = encode_interleaved(c, &d).unwrap().to_vec();
                v.extend_from_slice(&d);
                v
            }),
            (1u32..1000).prop_map(|c| format!(
                "GET_PARAMETER rtsp://h/a/b RTSP/1.0\r\nCSeq: {c}\r\n\r\n"
            )
            .into_bytes()),
        ]
    }

    proptest! {
        /// Any split of the stream into chunks yields the same units as reading it whole.
        #[test]
        fn arbitrary_chunk_splits(units in prop::collection::vec(unit(), 1..20), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10)) {
            let stream: Vec<u8> = units.concat();
            let (whole, left) = read_all(&stream);
            prop_assert_eq!(left, 0);
            prop_assert_eq!(whole.len(), units.len());
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            cuts.sort_unstable();
            cuts.push(stream.len());
            let mut buf = Vec::new();
            let mut got = Vec::new();
            let mut prev = 0;
            for c in cuts {
                buf.extend_from_slice(&stream[prev..c]);
                prev = c;
                let (mut u, left) = read_all(&buf);
                got.append(&mut u);
                buf.drain(..buf.len() - left);
            }
            prop_assert!(buf.is_empty());
            prop_assert_eq!(got, whole);
        }
    }
}
