//! The RTP fixed header and packet (RFC 3550 §5.1, header extension §5.3.1).

use bytes::{BufMut, Bytes, BytesMut};
use nom::bytes::complete::take;
use nom::multi::count;
use nom::number::complete::{be_u16, be_u32, be_u8};
use nom::sequence::tuple;
use nom::IResult;

use super::MediaError;

/// Length of the RTP fixed header without CSRCs or extension (RFC 3550 §5.1).
pub const RTP_HEADER_LEN: usize = 12;

/// Most CSRC identifiers a header can carry: the CC field has 4 bits (RFC 3550 §5.1).
pub const MAX_CSRCS: usize = 15;

/// One RTP packet. The payload is a zero-copy slice of the received buffer with any padding
/// removed; padding is never written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RtpPacket {
    /// The marker bit (M); for video, the last packet of an access unit.
    pub marker: bool,
    /// Payload type (PT), 7 bits.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp in the payload's clock rate.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Contributing sources (at most [`MAX_CSRCS`] are written).
    pub csrcs: Vec<u32>,
    /// Header extension: the profile-defined 16 bits and the data (a multiple of 4 bytes;
    /// shorter data is zero-padded when written).
    pub extension: Option<(u16, Bytes)>,
    /// The payload, padding removed.
    pub payload: Bytes,
}

type FixedHeader = (u8, u8, u16, u32, u32);

fn fixed_header(i: &[u8]) -> IResult<&[u8], FixedHeader> {
    tuple((be_u8, be_u8, be_u16, be_u32, be_u32))(i)
}

fn extension_header(i: &[u8]) -> IResult<&[u8], (u16, &[u8])> {
    let (i, (profile, words)) = tuple((be_u16, be_u16))(i)?;
    let (i, data) = take(usize::from(words) * 4)(i)?;
    Ok((i, (profile, data)))
}

impl RtpPacket {
    /// A packet with no CSRCs and no extension.
    pub fn new(
        payload_type: u8,
        sequence: u16,
        timestamp: u32,
        ssrc: u32,
        marker: bool,
        payload: Bytes,
    ) -> Self {
        Self {
            marker,
            payload_type,
            sequence,
            timestamp,
            ssrc,
            csrcs: Vec::new(),
            extension: None,
            payload,
        }
    }

    /// Parses one complete RTP packet (one UDP datagram or one `$` frame). The payload and
    /// the extension data are zero-copy slices of `data`.
    pub fn parse(data: &Bytes) -> Result<Self, MediaError> {
        const WHAT: &str = "RTP header";
        let input: &[u8] = data;
        let offset = |rest: &[u8]| input.len() - rest.len();
        let (rest, (b0, b1, sequence, timestamp, ssrc)) =
            fixed_header(input).map_err(|_| MediaError::truncated(WHAT, input.len()))?;
        // RFC 3550 §5.1: "The version defined by this specification is two (2)."
        if b0 >> 6 != 2 {
            return Err(MediaError::invalid(
                WHAT,
                0,
                "RFC 3550 §5.1: version must be 2",
            ));
        }
        let has_padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let csrc_count = usize::from(b0 & 0x0f);
        let (rest, csrcs) =
            count(be_u32, csrc_count)(rest).map_err(|_: nom::Err<nom::error::Error<&[u8]>>| {
                MediaError::truncated("RTP CSRC list", offset(rest))
            })?;
        let (rest, extension) = if has_extension {
            // RFC 3550 §5.3.1: 16 profile bits, a length in 32-bit words, then the data.
            let (after, (profile, ext)) = extension_header(rest)
                .map_err(|_| MediaError::truncated("RTP header extension", offset(rest)))?;
            (after, Some((profile, data.slice_ref(ext))))
        } else {
            (rest, None)
        };
        let mut payload = rest;
        if has_padding {
            // RFC 3550 §5.1: "The last octet of the padding contains a count of how many
            // padding octets should be ignored, including itself."
            let pad = payload.last().copied().map_or(0, usize::from);
            if pad == 0 || pad > payload.len() {
                return Err(MediaError::invalid(
                    "RTP padding",
                    input.len().saturating_sub(1),
                    "RFC 3550 §5.1: padding count must be 1..=payload length",
                ));
            }
            payload = payload.get(..payload.len() - pad).unwrap_or_default();
        }
        Ok(Self {
            marker: b1 & 0x80 != 0,
            payload_type: b1 & 0x7f,
            sequence,
            timestamp,
            ssrc,
            csrcs,
            extension,
            payload: data.slice_ref(payload),
        })
    }

    /// Length of the header [`write_header`](Self::write_header) produces.
    pub fn header_len(&self) -> usize {
        let ext = self
            .extension
            .as_ref()
            .map_or(0, |(_, d)| 4 + d.len().div_ceil(4) * 4);
        RTP_HEADER_LEN + 4 * self.csrcs.len().min(MAX_CSRCS) + ext
    }

    /// The 12-byte fixed header (version 2, no padding, extension or
    /// CSRCs) of a packet with these fields: what [`write_header`] writes
    /// for such a packet, on the stack, for senders that put a per-receiver
    /// header beside a shared payload.
    ///
    /// [`write_header`]: Self::write_header
    pub fn fixed_header(
        payload_type: u8,
        sequence: u16,
        timestamp: u32,
        ssrc: u32,
        marker: bool,
    ) -> [u8; super::RTP_HEADER_LEN] {
        let mut b = [0u8; super::RTP_HEADER_LEN];
        b[0] = 0x80;
        b[1] = u8::from(marker) << 7 | (payload_type & 0x7f);
        b[2..4].copy_from_slice(&sequence.to_be_bytes());
        b[4..8].copy_from_slice(&timestamp.to_be_bytes());
        b[8..12].copy_from_slice(&ssrc.to_be_bytes());
        b
    }

    /// Appends the header (fixed part, CSRCs, extension) to `out`, so that the caller can send
    /// it and [`payload`](Self::payload) as two buffers without copying the payload. At most
    /// [`MAX_CSRCS`] CSRCs are written, extension data is zero-padded to 32-bit words and
    /// truncated at 65535 words.
    pub fn write_header(&self, out: &mut BytesMut) {
        out.reserve(self.header_len());
        let csrcs = self
            .csrcs
            .get(..self.csrcs.len().min(MAX_CSRCS))
            .unwrap_or_default();
        let mut b0 = 0x80 | csrcs.len() as u8;
        if self.extension.is_some() {
            b0 |= 0x10;
        }
        out.put_u8(b0);
        out.put_u8(u8::from(self.marker) << 7 | (self.payload_type & 0x7f));
        out.put_u16(self.sequence);
        out.put_u32(self.timestamp);
        out.put_u32(self.ssrc);
        for csrc in csrcs {
            out.put_u32(*csrc);
        }
        if let Some((profile, data)) = &self.extension {
            let words = data.len().div_ceil(4).min(usize::from(u16::MAX));
            let data = data.get(..data.len().min(words * 4)).unwrap_or_default();
            out.put_u16(*profile);
            out.put_u16(words as u16);
            out.put_slice(data);
            out.put_bytes(0, words * 4 - data.len());
        }
    }

    /// The whole packet in one buffer (copies the payload; prefer
    /// [`write_header`](Self::write_header) plus the payload for sending).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.header_len() + self.payload.len());
        self.write_header(&mut out);
        out.extend_from_slice(&self.payload);
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_header_is_what_write_header_writes() {
        let p = RtpPacket::new(97, 0xfffe, 0x1234_5678, 0x9abc_def0, true, Bytes::new());
        let mut out = BytesMut::new();
        p.write_header(&mut out);
        let fixed = RtpPacket::fixed_header(97, 0xfffe, 0x1234_5678, 0x9abc_def0, true);
        assert_eq!(&out[..], &fixed[..]);
    }
    use proptest::prelude::*;

    #[test]
    fn parses_a_minimal_packet() {
        let data = Bytes::from_static(&[
            0x80, 0xe0, 0x12, 0x34, 0, 0, 0x0e, 0x10, 0xde, 0xad, 0xbe, 0xef, 0x65, 0x88,
        ]);
        let p = RtpPacket::parse(&data).unwrap();
        assert!(p.marker);
        assert_eq!(p.payload_type, 96);
        assert_eq!(p.sequence, 0x1234);
        assert_eq!(p.timestamp, 3600);
        assert_eq!(p.ssrc, 0xdead_beef);
        assert_eq!(&p.payload[..], &[0x65, 0x88]);
        assert_eq!(p.to_bytes(), data);
    }

    #[test]
    fn strips_padding_and_keeps_csrc_and_extension() {
        let data = Bytes::from_static(&[
            0xb1, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, // V=2 P X CC=1
            0, 0, 0, 9, // CSRC
            0xbe, 0xde, 0, 1, 1, 2, 3, 4, // extension, one word
            0xaa, 0xbb, 0, 0, 3, // payload + 3 bytes padding
        ]);
        let p = RtpPacket::parse(&data).unwrap();
        assert_eq!(p.csrcs, vec![9]);
        assert_eq!(
            p.extension,
            Some((0xbede, Bytes::from_static(&[1, 2, 3, 4])))
        );
        assert_eq!(&p.payload[..], &[0xaa, 0xbb]);
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        let cases: &[&[u8]] = &[
            &[],
            &[0x80, 0x60, 0, 1],
            &[0x40, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], // version 1
            &[0x82, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // CSRCs cut
            &[0x90, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1], // extension cut
            &[0xa0, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 5], // padding > payload
            &[0xa0, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0], // padding count 0
            &[0xa0, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], // padding bit, no payload
        ];
        for case in cases {
            assert!(
                RtpPacket::parse(&Bytes::copy_from_slice(case)).is_err(),
                "{case:?}"
            );
        }
    }

    #[test]
    fn payload_is_zero_copy() {
        let data = Bytes::from(vec![0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 7, 8, 9]);
        let p = RtpPacket::parse(&data).unwrap();
        assert_eq!(p.payload.as_ptr(), data[12..].as_ptr());
    }

    pub(crate) fn arb_packet() -> impl Strategy<Value = RtpPacket> {
        (
            any::<bool>(),
            0u8..128,
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            proptest::collection::vec(any::<u32>(), 0..=MAX_CSRCS),
            proptest::option::of((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..5))),
            proptest::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(
                |(marker, pt, seq, ts, ssrc, csrcs, ext, payload)| RtpPacket {
                    marker,
                    payload_type: pt,
                    sequence: seq,
                    timestamp: ts,
                    ssrc,
                    csrcs,
                    extension: ext.map(|(p, mut d)| {
                        d.resize(d.len().div_ceil(4) * 4, 0);
                        (p, Bytes::from(d))
                    }),
                    payload: Bytes::from(payload),
                },
            )
    }

    proptest! {
        #[test]
        fn write_then_parse_round_trips(p in arb_packet()) {
            let bytes = p.to_bytes();
            prop_assert_eq!(bytes.len(), p.header_len() + p.payload.len());
            prop_assert_eq!(RtpPacket::parse(&bytes).unwrap(), p);
        }

        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            let bytes = Bytes::from(data);
            if let Ok(p) = RtpPacket::parse(&bytes) {
                prop_assert!(p.payload.len() <= bytes.len());
            }
        }
    }
}
