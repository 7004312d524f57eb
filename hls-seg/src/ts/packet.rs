//! The 4-byte transport packet header (ISO/IEC 13818-1 2.4.3.2, Table 2-2).

use bytes::BufMut;
use nom::number::complete::{be_u16, u8 as byte};

use crate::error::{need, DemuxError};

/// Size of every transport packet (2.4.3.2: 188 bytes).
pub const PACKET_SIZE: usize = 188;
/// The `sync_byte` (2.4.3.3: `0x47`).
pub const SYNC_BYTE: u8 = 0x47;
/// Bytes after the 4-byte header: adaptation field plus payload.
pub const PACKET_BODY: usize = PACKET_SIZE - 4;
/// The null packet PID (Table 2-3).
pub const NULL_PID: u16 = 0x1FFF;

/// A transport packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TsHeader {
    /// `transport_error_indicator`: at least one uncorrectable bit error.
    pub transport_error: bool,
    /// `payload_unit_start_indicator`: a PES packet or PSI section starts
    /// in this packet.
    pub payload_unit_start: bool,
    /// `transport_priority`.
    pub priority: bool,
    /// 13-bit `PID`.
    pub pid: u16,
    /// 2-bit `transport_scrambling_control` (0 = not scrambled).
    pub scrambling: u8,
    /// `adaptation_field_control` bit 1: an adaptation field follows.
    pub has_adaptation: bool,
    /// `adaptation_field_control` bit 0: a payload follows.
    pub has_payload: bool,
    /// 4-bit `continuity_counter`.
    pub continuity_counter: u8,
}

impl TsHeader {
    /// Writes the 4 header bytes; fields are masked to their widths.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(SYNC_BYTE);
        out.put_u16(
            u16::from(self.transport_error) << 15
                | u16::from(self.payload_unit_start) << 14
                | u16::from(self.priority) << 13
                | (self.pid & 0x1FFF),
        );
        out.put_u8(
            (self.scrambling & 0x3) << 6
                | u8::from(self.has_adaptation) << 5
                | u8::from(self.has_payload) << 4
                | (self.continuity_counter & 0xF),
        );
    }

    /// Decodes the header at the start of `input`, returning the rest.
    pub fn decode(input: &[u8]) -> Result<(&[u8], TsHeader), DemuxError> {
        let (i, sync) = need(byte(input), "TS header")?;
        if sync != SYNC_BYTE {
            return Err(DemuxError::Invalid {
                what: "sync_byte",
                value: u64::from(sync),
            });
        }
        let (i, word) = need(be_u16(i), "TS header")?;
        let (i, flags) = need(byte(i), "TS header")?;
        Ok((
            i,
            TsHeader {
                transport_error: word & 0x8000 != 0,
                payload_unit_start: word & 0x4000 != 0,
                priority: word & 0x2000 != 0,
                pid: word & 0x1FFF,
                scrambling: flags >> 6,
                has_adaptation: flags & 0x20 != 0,
                has_payload: flags & 0x10 != 0,
                continuity_counter: flags & 0xF,
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
        let h = TsHeader {
            payload_unit_start: true,
            pid: 0x100,
            has_adaptation: true,
            has_payload: true,
            continuity_counter: 7,
            ..TsHeader::default()
        };
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out, [0x47, 0x41, 0x00, 0x37]);
        assert_eq!(TsHeader::decode(&out).unwrap().1, h);
        assert!(TsHeader::decode(&[0x47, 0x41]).is_err());
        assert!(TsHeader::decode(&[0x46, 0x41, 0x00, 0x37]).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(te: bool, pusi: bool, prio: bool, pid in 0u16..0x2000, sc in 0u8..4,
                      af: bool, pl: bool, cc in 0u8..16) {
            let h = TsHeader { transport_error: te, payload_unit_start: pusi, priority: prio, pid,
                scrambling: sc, has_adaptation: af, has_payload: pl, continuity_counter: cc };
            let mut out = Vec::new();
            h.encode(&mut out);
            prop_assert_eq!(out.len(), 4);
            let (rest, back) = TsHeader::decode(&out).unwrap();
            prop_assert!(rest.is_empty());
            prop_assert_eq!(back, h);
        }
    }
}
