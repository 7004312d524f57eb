//! The adaptation field (ISO/IEC 13818-1 2.4.3.4, Table 2-6): the flags the
//! muxer sets (discontinuity, random access), the PCR, and stuffing.
//! OPCR, splice countdown, private data and the extension are skipped on
//! decode and never written.

use bytes::BufMut;
use nom::bytes::complete::take;
use nom::number::complete::u8 as byte;

use crate::error::{need, DemuxError};

/// Mask of a 33-bit PCR base, PTS or DTS.
pub const TS_MASK: u64 = (1 << 33) - 1;
/// Bytes of a PCR on the wire (2.4.3.4: 33 + 6 reserved + 9 bits).
pub const PCR_LEN: usize = 6;

/// A program clock reference (2.4.2.2): `base` in 90 kHz units (33 bits),
/// `extension` in 27 MHz units (9 bits, 0..300).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pcr {
    /// `program_clock_reference_base`.
    pub base: u64,
    /// `program_clock_reference_extension`.
    pub extension: u16,
}

/// An adaptation field's content, without its stuffing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdaptationField {
    /// `discontinuity_indicator`.
    pub discontinuity: bool,
    /// `random_access_indicator`: the next PES starting in this PID begins a
    /// random access point (a keyframe).
    pub random_access: bool,
    /// `elementary_stream_priority_indicator`.
    pub es_priority: bool,
    /// The PCR, when `PCR_flag` is set.
    pub pcr: Option<Pcr>,
}

impl AdaptationField {
    /// Whether no flag is set: then a 1-byte field (length 0) carries it.
    pub fn is_empty(&self) -> bool {
        !self.discontinuity && !self.random_access && !self.es_priority && self.pcr.is_none()
    }

    /// The smallest encoding in bytes, counting `adaptation_field_length`.
    pub fn min_len(&self) -> usize {
        if self.is_empty() {
            1
        } else {
            2 + if self.pcr.is_some() { PCR_LEN } else { 0 }
        }
    }

    /// Writes the field in exactly `max(total_len, self.min_len())` bytes,
    /// filling with stuffing bytes 0xFF (2.4.3.5). `total_len` is at most
    /// 184 (the packet body), so the length byte never overflows.
    pub fn encode(&self, total_len: usize, out: &mut impl BufMut) {
        let total = total_len.clamp(self.min_len(), super::packet::PACKET_BODY);
        // 2.4.3.5: adaptation_field_length counts the bytes after itself.
        out.put_u8((total - 1) as u8);
        if total == 1 {
            return;
        }
        out.put_u8(
            u8::from(self.discontinuity) << 7
                | u8::from(self.random_access) << 6
                | u8::from(self.es_priority) << 5
                | u8::from(self.pcr.is_some()) << 4,
        );
        let mut written = 2;
        if let Some(pcr) = self.pcr {
            // 33-bit base, 6 reserved bits set to 1, 9-bit extension.
            let v = (pcr.base & TS_MASK) << 15 | 0x3F << 9 | u64::from(pcr.extension & 0x1FF);
            out.put_slice(&v.to_be_bytes()[2..]);
            written += PCR_LEN;
        }
        out.put_bytes(0xFF, total - written);
    }

    /// Decodes an adaptation field at the start of `input` (the bytes after
    /// the packet header), returning the bytes after it.
    pub fn decode(input: &[u8]) -> Result<(&[u8], AdaptationField), DemuxError> {
        let (i, len) = need(byte(input), "adaptation_field_length")?;
        // 2.4.3.5: at most 183 when a payload follows, 183 without one;
        // never more than the packet holds.
        if usize::from(len) > super::packet::PACKET_BODY - 1 {
            return Err(DemuxError::Invalid {
                what: "adaptation_field_length",
                value: u64::from(len),
            });
        }
        let (rest, body) = need(take(len)(i), "adaptation field")?;
        let Some((&flags, body)) = body.split_first() else {
            return Ok((rest, AdaptationField::default()));
        };
        let pcr = if flags & 0x10 != 0 {
            let b = body.get(..PCR_LEN).ok_or(crate::error::truncated("PCR"))?;
            let mut v = [0u8; 8];
            v[2..].copy_from_slice(b);
            let v = u64::from_be_bytes(v);
            Some(Pcr {
                base: v >> 15,
                extension: (v & 0x1FF) as u16,
            })
        } else {
            None
        };
        Ok((
            rest,
            AdaptationField {
                discontinuity: flags & 0x80 != 0,
                random_access: flags & 0x40 != 0,
                es_priority: flags & 0x20 != 0,
                pcr,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_bytes() {
        let af = AdaptationField {
            random_access: true,
            pcr: Some(Pcr {
                base: 1,
                extension: 0,
            }),
            ..AdaptationField::default()
        };
        let mut out = Vec::new();
        af.encode(10, &mut out);
        assert_eq!(
            out,
            [0x09, 0x50, 0x00, 0x00, 0x00, 0x00, 0xFE, 0x00, 0xFF, 0xFF]
        );
        let (rest, back) = AdaptationField::decode(&out).unwrap();
        assert!(rest.is_empty());
        assert_eq!(back, af);
    }

    #[test]
    fn single_stuffing_byte_and_limits() {
        let mut out = Vec::new();
        AdaptationField::default().encode(1, &mut out);
        assert_eq!(out, [0x00]);
        assert_eq!(
            AdaptationField::decode(&out).unwrap().1,
            AdaptationField::default()
        );
        assert!(AdaptationField::decode(&[0xB8]).is_err()); // 184 > 183
        assert!(AdaptationField::decode(&[0x05, 0x10]).is_err()); // truncated
        assert!(AdaptationField::decode(&[0x02, 0x10, 0x00]).is_err()); // PCR cut off
    }

    proptest! {
        #[test]
        fn round_trip(d: bool, r: bool, p: bool, pcr in proptest::option::of((0u64..1 << 33, 0u16..300)),
                      extra in 0usize..184) {
            let af = AdaptationField { discontinuity: d, random_access: r, es_priority: p,
                pcr: pcr.map(|(base, extension)| Pcr { base, extension }) };
            let total = (af.min_len() + extra).min(184);
            let mut out = Vec::new();
            af.encode(total, &mut out);
            prop_assert_eq!(out.len(), total);
            let (rest, back) = AdaptationField::decode(&out).unwrap();
            prop_assert!(rest.is_empty());
            // A 1-byte field carries no flags; the empty field decodes as empty.
            prop_assert_eq!(back, af);
        }
    }
}
