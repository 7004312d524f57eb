//! Protocol control messages (RTMP spec 5.4): types 1, 2, 3, 5 and 6.
//!
//! They travel on chunk stream 2, message stream 0, and each has a fixed-size
//! body; a body of any other length is [`Malformed::BodyLength`].

use bytes::{BufMut, Bytes, BytesMut};

use super::{Message, MessageType, CONTROL_CSID};
use crate::error::{Error, Malformed, Violation};

/// The limit type of Set Peer Bandwidth (spec 5.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerBandwidthLimit {
    /// 0: limit output to the window size.
    Hard,
    /// 1: limit to the window size or the limit in effect, whichever is smaller.
    Soft,
    /// 2: treat as Hard if the previous limit was Hard, otherwise ignore.
    Dynamic,
}

impl PeerBandwidthLimit {
    fn to_byte(self) -> u8 {
        match self {
            PeerBandwidthLimit::Hard => 0,
            PeerBandwidthLimit::Soft => 1,
            PeerBandwidthLimit::Dynamic => 2,
        }
    }

    fn from_byte(b: u8) -> Result<Self, Error> {
        match b {
            0 => Ok(PeerBandwidthLimit::Hard),
            1 => Ok(PeerBandwidthLimit::Soft),
            2 => Ok(PeerBandwidthLimit::Dynamic),
            other => Err(Violation::InvalidLimitType(other).into()),
        }
    }
}

/// A decoded protocol control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolControl {
    /// Type 1: the sender's new maximum chunk size (5.4.1). Decoding checks
    /// the value is 1..=0x7FFFFFFF (bit 31 must be zero).
    SetChunkSize(u32),
    /// Type 2: discard the partly received message on this chunk stream (5.4.2).
    Abort {
        /// Chunk stream whose partial message is dropped.
        csid: u32,
    },
    /// Type 3: bytes received so far (5.4.3).
    Acknowledgement {
        /// Sequence number: total bytes received, modulo 2^32.
        sequence: u32,
    },
    /// Type 5: send an Acknowledgement after this many bytes (5.4.4).
    WindowAckSize(u32),
    /// Type 6: limit the peer's output bandwidth (5.4.5).
    SetPeerBandwidth {
        /// Window size in bytes.
        size: u32,
        /// How to apply it.
        limit: PeerBandwidthLimit,
    },
}

/// Reads a body of exactly `N` bytes.
fn exact<const N: usize>(what: &'static str, payload: &[u8]) -> Result<[u8; N], Error> {
    payload.try_into().map_err(|_| {
        Malformed::BodyLength {
            what,
            expected: N,
            got: payload.len(),
        }
        .into()
    })
}

impl ProtocolControl {
    /// Decodes a protocol control message body. `Ok(None)` if `type_id` is
    /// not a protocol control type.
    ///
    /// # Errors
    /// A body of the wrong size, a chunk size of 0 or with bit 31 set, or an
    /// unknown bandwidth limit type.
    pub fn decode(type_id: u8, payload: &[u8]) -> Result<Option<Self>, Error> {
        let be = u32::from_be_bytes;
        Ok(Some(match MessageType::from(type_id) {
            MessageType::SetChunkSize => {
                let size = be(exact("Set Chunk Size", payload)?);
                // 5.4.1: the size "MUST be at least 1 byte" and "the first
                // bit of this field MUST be zero".
                if size == 0 || size & 0x8000_0000 != 0 {
                    return Err(Violation::InvalidChunkSize(size).into());
                }
                ProtocolControl::SetChunkSize(size)
            }
            MessageType::Abort => ProtocolControl::Abort {
                csid: be(exact("Abort Message", payload)?),
            },
            MessageType::Acknowledgement => ProtocolControl::Acknowledgement {
                sequence: be(exact("Acknowledgement", payload)?),
            },
            MessageType::WindowAckSize => {
                ProtocolControl::WindowAckSize(be(exact("Window Acknowledgement Size", payload)?))
            }
            MessageType::SetPeerBandwidth => {
                let [a, b, c, d, limit] = exact::<5>("Set Peer Bandwidth", payload)?;
                ProtocolControl::SetPeerBandwidth {
                    size: be([a, b, c, d]),
                    limit: PeerBandwidthLimit::from_byte(limit)?,
                }
            }
            _ => return Ok(None),
        }))
    }

    /// The message type id.
    pub fn type_id(&self) -> u8 {
        let t = match self {
            ProtocolControl::SetChunkSize(_) => MessageType::SetChunkSize,
            ProtocolControl::Abort { .. } => MessageType::Abort,
            ProtocolControl::Acknowledgement { .. } => MessageType::Acknowledgement,
            ProtocolControl::WindowAckSize(_) => MessageType::WindowAckSize,
            ProtocolControl::SetPeerBandwidth { .. } => MessageType::SetPeerBandwidth,
        };
        t.into()
    }

    /// Appends the message body to `out`.
    pub fn encode_payload(&self, out: &mut BytesMut) {
        match *self {
            ProtocolControl::SetChunkSize(v)
            | ProtocolControl::Abort { csid: v }
            | ProtocolControl::Acknowledgement { sequence: v }
            | ProtocolControl::WindowAckSize(v) => out.put_u32(v),
            ProtocolControl::SetPeerBandwidth { size, limit } => {
                out.put_u32(size);
                out.put_u8(limit.to_byte());
            }
        }
    }

    /// The complete message: chunk stream 2, message stream 0, timestamp 0.
    pub fn to_message(&self) -> Message {
        let mut body = BytesMut::with_capacity(5);
        self.encode_payload(&mut body);
        Message {
            csid: CONTROL_CSID,
            timestamp: 0,
            type_id: self.type_id(),
            stream_id: 0,
            payload: Bytes::from(body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_byte_vectors() {
        assert_eq!(
            ProtocolControl::decode(1, &[0, 0, 0x10, 0]).unwrap(),
            Some(ProtocolControl::SetChunkSize(4096))
        );
        assert_eq!(
            ProtocolControl::decode(6, &[0, 0x4c, 0x4b, 0x40, 2]).unwrap(),
            Some(ProtocolControl::SetPeerBandwidth {
                size: 5_000_000,
                limit: PeerBandwidthLimit::Dynamic
            })
        );
        assert_eq!(ProtocolControl::decode(9, &[1]).unwrap(), None);
    }

    #[test]
    fn rejects_bad_bodies() {
        assert!(matches!(
            ProtocolControl::decode(1, &[0, 0, 0]),
            Err(Error::Malformed(Malformed::BodyLength {
                expected: 4,
                got: 3,
                ..
            }))
        ));
        assert_eq!(
            ProtocolControl::decode(1, &[0, 0, 0, 0]),
            Err(Violation::InvalidChunkSize(0).into())
        );
        assert_eq!(
            ProtocolControl::decode(1, &[0x80, 0, 0, 1]),
            Err(Violation::InvalidChunkSize(0x8000_0001).into())
        );
        assert_eq!(
            ProtocolControl::decode(6, &[0, 0, 0, 1, 3]),
            Err(Violation::InvalidLimitType(3).into())
        );
    }

    #[test]
    fn round_trips() {
        let all = [
            ProtocolControl::SetChunkSize(60000),
            ProtocolControl::Abort { csid: 7 },
            ProtocolControl::Acknowledgement { sequence: u32::MAX },
            ProtocolControl::WindowAckSize(2_500_000),
            ProtocolControl::SetPeerBandwidth {
                size: 2_500_000,
                limit: PeerBandwidthLimit::Soft,
            },
        ];
        for pc in all {
            let m = pc.to_message();
            assert_eq!((m.csid, m.stream_id), (2, 0));
            assert_eq!(
                ProtocolControl::decode(m.type_id, &m.payload).unwrap(),
                Some(pc)
            );
        }
    }
}
