//! The program association table (ISO/IEC 13818-1 2.4.4.3, Table 2-30).

use bytes::BufMut;

use super::section::SectionHeader;
use crate::error::DemuxError;

/// `table_id` of the PAT (Table 2-31).
pub const PAT_TABLE_ID: u8 = 0x00;
/// The PID that carries the PAT (Table 2-3).
pub const PAT_PID: u16 = 0x0000;

/// One program of the PAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatEntry {
    /// `program_number`; 0 names the network PID.
    pub program_number: u16,
    /// `program_map_PID` (or `network_PID` for program 0), 13 bits.
    pub pid: u16,
}

/// A single-section PAT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pat {
    /// `transport_stream_id`.
    pub transport_stream_id: u16,
    /// 5-bit `version_number`.
    pub version: u8,
    /// The programs, in order.
    pub programs: Vec<PatEntry>,
}

impl Pat {
    /// The complete section (table_id through CRC_32).
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(4 * self.programs.len());
        for p in &self.programs {
            body.put_u16(p.program_number);
            // reserved '111', 13-bit PID.
            body.put_u16(0xE000 | (p.pid & 0x1FFF));
        }
        let mut out = Vec::with_capacity(12 + body.len());
        let header = SectionHeader {
            version: self.version,
            ..SectionHeader::single(PAT_TABLE_ID, self.transport_stream_id)
        };
        header.encode_section(&body, &mut out);
        out
    }

    /// Decodes a complete section, checking table_id and CRC.
    pub fn decode(section: &[u8]) -> Result<Pat, DemuxError> {
        let (header, body) = SectionHeader::decode_section(section, "PAT")?;
        if header.table_id != PAT_TABLE_ID {
            return Err(DemuxError::Invalid {
                what: "PAT table_id",
                value: u64::from(header.table_id),
            });
        }
        // 2.4.4.3: the loop is made of 4-byte entries.
        if body.len() % 4 != 0 {
            return Err(DemuxError::Invalid {
                what: "PAT section_length",
                value: body.len() as u64,
            });
        }
        let programs = body
            .chunks_exact(4)
            .map(|c| PatEntry {
                program_number: u16::from_be_bytes([c[0], c[1]]),
                pid: u16::from_be_bytes([c[2], c[3]]) & 0x1FFF,
            })
            .collect();
        Ok(Pat {
            transport_stream_id: header.table_id_extension,
            version: header.version,
            programs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn well_known_single_program_pat() {
        let pat = Pat {
            transport_stream_id: 1,
            version: 0,
            programs: vec![PatEntry {
                program_number: 1,
                pid: 0x1000,
            }],
        };
        let bytes = pat.encode();
        assert_eq!(
            bytes,
            [
                0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00, 0x2A, 0xB1,
                0x04, 0xB2
            ]
        );
        assert_eq!(Pat::decode(&bytes).unwrap(), pat);
    }

    #[test]
    fn refuses_other_tables() {
        let mut bytes = Vec::new();
        SectionHeader::single(0x02, 1).encode_section(&[0, 1, 0xF0, 0], &mut bytes);
        assert!(Pat::decode(&bytes).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(tsid: u16, version in 0u8..32,
                      programs in proptest::collection::vec((any::<u16>(), 0u16..0x2000), 0..50)) {
            let pat = Pat { transport_stream_id: tsid, version, programs: programs.into_iter()
                .map(|(program_number, pid)| PatEntry { program_number, pid }).collect() };
            prop_assert_eq!(Pat::decode(&pat.encode()).unwrap(), pat);
        }
    }
}
