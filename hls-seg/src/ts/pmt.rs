//! The program map table (ISO/IEC 13818-1 2.4.4.8, Table 2-33).

use bytes::{BufMut, Bytes};
use nom::bytes::complete::take;
use nom::number::complete::{be_u16, u8 as byte};

use super::section::SectionHeader;
use crate::error::{need, DemuxError};

/// `table_id` of the PMT (Table 2-31).
pub const PMT_TABLE_ID: u8 = 0x02;

/// Stream types of Table 2-34 (and its amendments) this crate writes.
pub mod stream_type {
    /// ISO/IEC 11172-3 (MPEG-1) audio, used for MP3.
    pub const MPEG1_AUDIO: u8 = 0x03;
    /// ISO/IEC 13818-7 audio with ADTS transport syntax.
    pub const AAC_ADTS: u8 = 0x0F;
    /// AVC video (ITU-T H.264).
    pub const H264: u8 = 0x1B;
    /// HEVC video (ITU-T H.265).
    pub const H265: u8 = 0x24;
}

/// One elementary stream of a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PmtStream {
    /// `stream_type`.
    pub stream_type: u8,
    /// `elementary_PID`, 13 bits.
    pub pid: u16,
    /// The ES_info descriptors, raw.
    pub descriptors: Bytes,
}

/// A single-section PMT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pmt {
    /// `program_number`.
    pub program_number: u16,
    /// 5-bit `version_number`.
    pub version: u8,
    /// `PCR_PID`, 13 bits.
    pub pcr_pid: u16,
    /// The program_info descriptors, raw.
    pub descriptors: Bytes,
    /// The elementary streams, in order.
    pub streams: Vec<PmtStream>,
}

/// Writes a 12-bit descriptor loop length after 4 reserved bits
/// ('1111', with the two top length bits '00' as 2.4.4.9 requires).
fn put_info_len(out: &mut Vec<u8>, len: usize) {
    out.put_u16(0xF000 | (len.min(0x3FF) as u16));
}

impl Pmt {
    /// The complete section (table_id through CRC_32).
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(4 + self.descriptors.len() + 5 * self.streams.len());
        body.put_u16(0xE000 | (self.pcr_pid & 0x1FFF));
        put_info_len(&mut body, self.descriptors.len());
        body.put_slice(&self.descriptors);
        for s in &self.streams {
            body.put_u8(s.stream_type);
            body.put_u16(0xE000 | (s.pid & 0x1FFF));
            put_info_len(&mut body, s.descriptors.len());
            body.put_slice(&s.descriptors);
        }
        let mut out = Vec::with_capacity(12 + body.len());
        let header = SectionHeader {
            version: self.version,
            ..SectionHeader::single(PMT_TABLE_ID, self.program_number)
        };
        header.encode_section(&body, &mut out);
        out
    }

    /// Decodes a complete section, checking table_id and CRC.
    pub fn decode(section: &[u8]) -> Result<Pmt, DemuxError> {
        let (header, body) = SectionHeader::decode_section(section, "PMT")?;
        if header.table_id != PMT_TABLE_ID {
            return Err(DemuxError::Invalid {
                what: "PMT table_id",
                value: u64::from(header.table_id),
            });
        }
        let (i, pcr) = need(be_u16(body), "PMT PCR_PID")?;
        let (i, info_len) = need(be_u16(i), "PMT program_info_length")?;
        let (mut i, descriptors) = need(take(info_len & 0x0FFF)(i), "PMT program_info")?;
        let mut streams = Vec::new();
        while !i.is_empty() {
            let (r, stream_type) = need(byte(i), "PMT stream")?;
            let (r, pid) = need(be_u16(r), "PMT stream")?;
            let (r, len) = need(be_u16(r), "PMT ES_info_length")?;
            let (r, d) = need(take(len & 0x0FFF)(r), "PMT ES_info")?;
            streams.push(PmtStream {
                stream_type,
                pid: pid & 0x1FFF,
                descriptors: Bytes::copy_from_slice(d),
            });
            i = r;
        }
        Ok(Pmt {
            program_number: header.table_id_extension,
            version: header.version,
            pcr_pid: pcr & 0x1FFF,
            descriptors: Bytes::copy_from_slice(descriptors),
            streams,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn h264_aac_pmt_matches_ffmpeg() {
        // ffmpeg's PMT for an H.264 + AAC program 1 (PCR on the video PID).
        let pmt = Pmt {
            program_number: 1,
            version: 0,
            pcr_pid: 0x100,
            descriptors: Bytes::new(),
            streams: vec![
                PmtStream {
                    stream_type: stream_type::H264,
                    pid: 0x100,
                    descriptors: Bytes::new(),
                },
                PmtStream {
                    stream_type: stream_type::AAC_ADTS,
                    pid: 0x101,
                    descriptors: Bytes::new(),
                },
            ],
        };
        let bytes = pmt.encode();
        let expected = [
            0x02, 0xB0, 0x17, 0x00, 0x01, 0xC1, 0x00, 0x00, 0xE1, 0x00, 0xF0, 0x00, 0x1B, 0xE1,
            0x00, 0xF0, 0x00, 0x0F, 0xE1, 0x01, 0xF0, 0x00, 0x2F, 0x44, 0xB9, 0x9B,
        ];
        assert_eq!(bytes, expected);
        assert_eq!(Pmt::decode(&bytes).unwrap(), pmt);
    }

    #[test]
    fn truncated_loop_is_an_error() {
        let mut out = Vec::new();
        // PCR_PID, program_info_length 0, then a stream entry cut after 3 bytes.
        SectionHeader::single(PMT_TABLE_ID, 1)
            .encode_section(&[0xE1, 0x00, 0xF0, 0x00, 0x1B, 0xE1, 0x00], &mut out);
        assert!(Pmt::decode(&out).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(program_number: u16, version in 0u8..32, pcr_pid in 0u16..0x2000,
                      info in proptest::collection::vec(any::<u8>(), 0..20),
                      streams in proptest::collection::vec(
                          (any::<u8>(), 0u16..0x2000, proptest::collection::vec(any::<u8>(), 0..10)), 0..20)) {
            let pmt = Pmt { program_number, version, pcr_pid, descriptors: Bytes::from(info),
                streams: streams.into_iter().map(|(stream_type, pid, d)| PmtStream {
                    stream_type, pid, descriptors: Bytes::from(d) }).collect() };
            prop_assert_eq!(Pmt::decode(&pmt.encode()).unwrap(), pmt);
        }
    }
}
