//! The long form of a PSI section (ISO/IEC 13818-1 2.4.4.10 and Tables 2-30,
//! 2-33): the header shared by the PAT and the PMT, and the trailing CRC_32.
//! Also the `pointer_field` framing of sections in packets (2.4.4.2).

use bytes::BufMut;
use nom::number::complete::{be_u16, u8 as byte};

use super::crc::crc32_mpeg2;
use crate::error::{need, DemuxError};

/// Largest `section_length` of a PAT or PMT (2.4.4.3, 2.4.4.9: "shall not
/// exceed 1021").
pub const MAX_SECTION_LENGTH: usize = 1021;
/// Largest whole section: 3 header bytes plus `section_length`.
pub const MAX_SECTION: usize = 3 + MAX_SECTION_LENGTH;

/// The header fields of a long-form section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionHeader {
    /// `table_id` (0x00 PAT, 0x02 PMT).
    pub table_id: u8,
    /// `transport_stream_id` (PAT) or `program_number` (PMT).
    pub table_id_extension: u16,
    /// 5-bit `version_number`.
    pub version: u8,
    /// `current_next_indicator`.
    pub current_next: bool,
    /// `section_number`.
    pub section_number: u8,
    /// `last_section_number`.
    pub last_section_number: u8,
}

impl SectionHeader {
    /// A current, single-section table of version 0.
    pub fn single(table_id: u8, table_id_extension: u16) -> Self {
        SectionHeader {
            table_id,
            table_id_extension,
            version: 0,
            current_next: true,
            section_number: 0,
            last_section_number: 0,
        }
    }

    /// Writes the header, `body` and the CRC_32. `body` must keep
    /// `section_length` within [`MAX_SECTION_LENGTH`]; the muxer's tables
    /// are a few dozen bytes.
    pub fn encode_section(&self, body: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        // section_length counts from after itself: 5 header bytes, body, CRC.
        let section_length = (5 + body.len() + 4).min(MAX_SECTION_LENGTH) as u16;
        out.put_u8(self.table_id);
        // section_syntax_indicator 1, '0', reserved '11'.
        out.put_u16(0xB000 | section_length);
        out.put_u16(self.table_id_extension);
        out.put_u8(0xC0 | (self.version & 0x1F) << 1 | u8::from(self.current_next));
        out.put_u8(self.section_number);
        out.put_u8(self.last_section_number);
        out.put_slice(body);
        let crc = crc32_mpeg2(out.get(start..).unwrap_or_default());
        out.put_u32(crc);
    }

    /// Decodes one complete section (from `table_id` through CRC_32),
    /// checking the CRC (Annex A) and `section_syntax_indicator`, and
    /// returns the header and the body between header and CRC.
    pub fn decode_section<'a>(
        section: &'a [u8],
        what: &'static str,
    ) -> Result<(SectionHeader, &'a [u8]), DemuxError> {
        let (i, table_id) = need(byte(section), what)?;
        let (i, word) = need(be_u16(i), what)?;
        let section_length = usize::from(word & 0x0FFF);
        // 2.4.4.3/2.4.4.9: section_syntax_indicator is '1' for PAT and PMT.
        if word & 0x8000 == 0 {
            return Err(DemuxError::Invalid {
                what: "section_syntax_indicator",
                value: 0,
            });
        }
        if !(9..=MAX_SECTION_LENGTH).contains(&section_length) {
            return Err(DemuxError::Invalid {
                what: "section_length",
                value: section_length as u64,
            });
        }
        let whole = section
            .get(..3 + section_length)
            .ok_or(crate::error::truncated(what))?;
        if crc32_mpeg2(whole) != 0 {
            return Err(DemuxError::BadCrc { what });
        }
        let (i, ext) = need(be_u16(i), what)?;
        let (i, v) = need(byte(i), what)?;
        let (i, section_number) = need(byte(i), what)?;
        let (i, last_section_number) = need(byte(i), what)?;
        // Body: what remains of section_length after 5 header and 4 CRC bytes.
        let body = i
            .get(..section_length - 9)
            .ok_or(crate::error::truncated(what))?;
        Ok((
            SectionHeader {
                table_id,
                table_id_extension: ext,
                version: (v >> 1) & 0x1F,
                current_next: v & 1 != 0,
                section_number,
                last_section_number,
            },
            body,
        ))
    }
}

/// Total length of the section starting at `data` (3 + `section_length`),
/// once its first 3 bytes are there.
pub fn section_total_len(data: &[u8]) -> Option<usize> {
    let hi = *data.get(1)?;
    let lo = *data.get(2)?;
    Some(3 + usize::from(u16::from_be_bytes([hi, lo]) & 0x0FFF))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_crc_check() {
        let h = SectionHeader {
            version: 3,
            ..SectionHeader::single(0x02, 7)
        };
        let mut out = Vec::new();
        h.encode_section(&[1, 2, 3], &mut out);
        assert_eq!(section_total_len(&out), Some(out.len()));
        let (back, body) = SectionHeader::decode_section(&out, "t").unwrap();
        assert_eq!(back, h);
        assert_eq!(body, [1, 2, 3]);
        let mut bad = out.clone();
        bad[8] ^= 1;
        assert_eq!(
            SectionHeader::decode_section(&bad, "t"),
            Err(DemuxError::BadCrc { what: "t" })
        );
        assert!(SectionHeader::decode_section(&out[..out.len() - 1], "t").is_err());
    }
}
