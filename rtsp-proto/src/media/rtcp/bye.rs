//! Goodbye (BYE, packet type 203; RFC 3550 §6.6).

use bytes::{BufMut, Bytes, BytesMut};

use super::{write_header, MAX_COUNT, PT_BYE};
use crate::media::MediaError;

/// Sources leaving the session, with an optional reason.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Goodbye {
    /// The sources (at most 31 are written).
    pub sources: Vec<u32>,
    /// Reason for leaving (at most 255 bytes are written).
    pub reason: Option<Bytes>,
}

impl Goodbye {
    /// Parses the body (after the common header, padding removed) with `count` sources.
    pub fn parse(count: u8, body: &Bytes) -> Result<Self, MediaError> {
        const WHAT: &str = "RTCP BYE";
        let n = usize::from(count);
        let ids = body
            .get(..4 * n)
            .ok_or(MediaError::truncated(WHAT, body.len()))?;
        let sources = ids
            .chunks_exact(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        // RFC 3550 §6.6: an optional length octet and text follow the SSRC list.
        let reason = match body.get(4 * n) {
            None => None,
            Some(&len) => {
                let start = 4 * n + 1;
                let text = body
                    .get(start..start + usize::from(len))
                    .ok_or(MediaError::truncated(WHAT, start))?;
                Some(body.slice_ref(text))
            }
        };
        Ok(Self { sources, reason })
    }

    fn body_len(&self) -> usize {
        let ids = 4 * self.sources.len().min(MAX_COUNT);
        ids + self
            .reason
            .as_ref()
            .map_or(0, |r| (1 + r.len().min(255)).div_ceil(4) * 4)
    }

    /// Appends the whole packet, header included.
    pub fn write(&self, out: &mut BytesMut) {
        let sources = self
            .sources
            .get(..self.sources.len().min(MAX_COUNT))
            .unwrap_or_default();
        write_header(out, sources.len() as u8, PT_BYE, self.body_len());
        for s in sources {
            out.put_u32(*s);
        }
        if let Some(reason) = &self.reason {
            let text = reason.get(..reason.len().min(255)).unwrap_or_default();
            out.put_u8(text.len() as u8);
            out.put_slice(text);
            let pad = (1 + text.len()).div_ceil(4) * 4 - 1 - text.len();
            out.put_bytes(0, pad);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtcp::{parse_compound, RtcpPacket};
    use proptest::prelude::*;

    #[test]
    fn layout_and_truncation() {
        let mut out = BytesMut::new();
        Goodbye {
            sources: vec![5],
            reason: Some(Bytes::from_static(b"bye")),
        }
        .write(&mut out);
        assert_eq!(
            &out[..],
            &[0x81, 203, 0, 2, 0, 0, 0, 5, 3, b'b', b'y', b'e']
        );
        assert!(Goodbye::parse(2, &Bytes::from_static(&[0, 0, 0, 5])).is_err());
        assert!(Goodbye::parse(1, &Bytes::from_static(&[0, 0, 0, 5, 9, b'x'])).is_err());
    }

    proptest! {
        #[test]
        fn write_parse_round_trip(
            sources in proptest::collection::vec(any::<u32>(), 0..=31),
            reason in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..=255)),
        ) {
            let bye = Goodbye { sources, reason: reason.map(Bytes::from) };
            let mut out = BytesMut::new();
            bye.write(&mut out);
            let pkts = parse_compound(&out.freeze()).unwrap();
            prop_assert_eq!(pkts, vec![RtcpPacket::Goodbye(bye)]);
        }
    }
}
