//! Aggregate messages (type 22; RTMP spec 7.1.6).
//!
//! The body is a run of FLV-tag-shaped sub-messages: type (1), payload length
//! (3), timestamp (3 low bytes + 1 high byte), stream id (3), payload, back
//! pointer (4). Sub-message timestamps are re-based so that the first one
//! lands on the aggregate's own timestamp ("the timestamp of the first
//! sub-message is the aggregate's timestamp; the others keep their offsets").

use bytes::{BufMut, BytesMut};
use nom::number::complete::{be_u24, be_u8};
use nom::IResult;

use super::{Message, MessageType};
use crate::error::{Error, Malformed, Violation};

/// Default cap on sub-messages in one aggregate (a 16 MiB aggregate of
/// 15-byte empty sub-messages would otherwise make a million messages).
pub const AGGREGATE_MAX_SUB_MESSAGES: usize = 4096;

/// Size of a sub-message header.
const SUB_HEADER_LEN: usize = 11;

struct SubHeader {
    type_id: u8,
    len: u32,
    timestamp: u32,
}

fn sub_header(i: &[u8]) -> IResult<&[u8], SubHeader> {
    let (i, type_id) = be_u8(i)?;
    let (i, len) = be_u24(i)?;
    let (i, low) = be_u24(i)?;
    let (i, high) = be_u8(i)?;
    let (i, _stream_id) = be_u24(i)?;
    Ok((
        i,
        SubHeader {
            type_id,
            len,
            timestamp: u32::from(high) << 24 | low,
        },
    ))
}

/// Splits an aggregate message into its sub-messages, each a zero-copy slice
/// of the aggregate's payload, on the aggregate's chunk and message stream.
///
/// The back pointers are not checked (encoders disagree on them, and nothing
/// depends on them) and the last one may be missing.
///
/// # Errors
/// A sub-message running past the end of the payload
/// ([`Malformed::AggregateTruncated`]) or more than `max_sub_messages`
/// sub-messages ([`Violation::TooManySubMessages`]).
pub fn split_aggregate(msg: &Message, max_sub_messages: usize) -> Result<Vec<Message>, Error> {
    let payload = &msg.payload;
    let mut out = Vec::new();
    let mut offset = 0usize;
    let mut first_ts = None;
    while offset < payload.len() {
        let rest = payload.get(offset..).unwrap_or_default();
        let truncated = Malformed::AggregateTruncated { offset };
        let (_, h) = sub_header(rest).map_err(|_| truncated.clone())?;
        let start = offset + SUB_HEADER_LEN;
        let end = start + h.len as usize;
        if end > payload.len() {
            return Err(truncated.into());
        }
        if out.len() == max_sub_messages {
            return Err(Violation::TooManySubMessages {
                max: max_sub_messages,
            }
            .into());
        }
        let base = *first_ts.get_or_insert(h.timestamp);
        out.push(Message {
            csid: msg.csid,
            timestamp: msg.timestamp.wrapping_add(h.timestamp.wrapping_sub(base)),
            type_id: h.type_id,
            stream_id: msg.stream_id,
            payload: payload.slice(start..end),
        });
        // Skip the back pointer; a missing final one is tolerated.
        offset = (end + 4).min(payload.len());
    }
    Ok(out)
}

/// Builds an aggregate message from `parts` (the inverse of
/// [`split_aggregate`]): timestamps are written relative to the first part,
/// which gives the aggregate its timestamp.
///
/// Returns `None` if `parts` is empty or a payload exceeds 24 bits.
pub fn build_aggregate(csid: u32, stream_id: u32, parts: &[Message]) -> Option<Message> {
    let first = parts.first()?;
    let mut body = BytesMut::new();
    for p in parts {
        let len = u32::try_from(p.payload.len())
            .ok()
            .filter(|&l| l <= 0xff_ffff)?;
        let ts = p.timestamp.wrapping_sub(first.timestamp);
        body.put_u8(p.type_id);
        body.put_slice(&len.to_be_bytes()[1..]);
        body.put_slice(&ts.to_be_bytes()[1..]);
        body.put_u8((ts >> 24) as u8);
        body.put_slice(&stream_id.to_be_bytes()[1..]);
        body.put_slice(&p.payload);
        body.put_u32(len + SUB_HEADER_LEN as u32);
    }
    Some(Message {
        csid,
        timestamp: first.timestamp,
        type_id: MessageType::Aggregate.into(),
        stream_id,
        payload: body.freeze(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn agg(payload: &'static [u8]) -> Message {
        Message {
            csid: 4,
            timestamp: 1000,
            type_id: 22,
            stream_id: 1,
            payload: Bytes::from_static(payload),
        }
    }

    #[test]
    fn splits_byte_vector() {
        #[rustfmt::skip]
        let m = agg(&[
            8, 0, 0, 2, 0, 0, 10, 0, 0, 0, 0, 0xaf, 0x01, 0, 0, 0, 13,
            9, 0, 0, 1, 0, 0, 50, 0, 0, 0, 0, 0x17, 0, 0, 0, 12,
        ]);
        let subs = split_aggregate(&m, 16).unwrap();
        assert_eq!(subs.len(), 2);
        assert_eq!((subs[0].type_id, subs[0].timestamp), (8, 1000));
        assert_eq!(&subs[0].payload[..], &[0xaf, 1]);
        assert_eq!((subs[1].type_id, subs[1].timestamp), (9, 1040));
        assert_eq!(subs[1].stream_id, 1);
    }

    #[test]
    fn rejects_truncated_and_too_many() {
        let m = agg(&[8, 0, 0, 9, 0, 0, 10, 0, 0, 0, 0, 1]);
        assert_eq!(
            split_aggregate(&m, 16),
            Err(Malformed::AggregateTruncated { offset: 0 }.into())
        );
        let m = agg(&[8, 0, 0]);
        assert!(matches!(split_aggregate(&m, 16), Err(Error::Malformed(_))));
        let m = agg(&[
            8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        assert_eq!(split_aggregate(&m, 2).unwrap().len(), 2);
        assert_eq!(
            split_aggregate(&m, 1),
            Err(Violation::TooManySubMessages { max: 1 }.into())
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        #[test]
        fn round_trip(parts in proptest::collection::vec(
            (proptest::prelude::any::<u8>(), proptest::prelude::any::<u32>(),
             proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)), 1..8)
        ) {
            let parts: Vec<Message> = parts.into_iter().map(|(t, ts, p)| Message {
                csid: 5, timestamp: ts, type_id: t, stream_id: 1, payload: Bytes::from(p),
            }).collect();
            let a = build_aggregate(5, 1, &parts).unwrap();
            proptest::prop_assert_eq!(split_aggregate(&a, 8).unwrap(), parts);
        }

        #[test]
        fn arbitrary_bytes_never_panic(p in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let m = Message { csid: 3, timestamp: 0, type_id: 22, stream_id: 0, payload: Bytes::from(p) };
            let _ = split_aggregate(&m, 16);
        }
    }
}
