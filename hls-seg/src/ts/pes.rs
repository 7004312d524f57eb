//! The PES packet header (ISO/IEC 13818-1 2.4.3.6, Table 2-21) with its
//! 33-bit PTS and DTS (2.4.3.7).

use bytes::BufMut;
use nom::bytes::complete::{tag, take};
use nom::number::complete::{be_u16, u8 as byte};

use super::adaptation::TS_MASK;
use crate::error::{need, DemuxError};

/// `stream_id` of the first video stream (Table 2-22: `1110 xxxx`).
pub const STREAM_ID_VIDEO: u8 = 0xE0;
/// `stream_id` of the first audio stream (Table 2-22: `110x xxxx`).
pub const STREAM_ID_AUDIO: u8 = 0xC0;
/// Bytes of the header without PTS/DTS: start code prefix, stream_id,
/// PES_packet_length, two flag bytes, PES_header_data_length.
pub const PES_HEADER_MIN: usize = 9;

/// A PES header, as the muxer writes and the demuxer reads it. Optional
/// fields other than PTS and DTS (ESCR, ES_rate, trick mode, CRC,
/// extension) are skipped on decode and never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PesHeader {
    /// `stream_id`.
    pub stream_id: u8,
    /// `PES_packet_length`: bytes after this field; 0 = unbounded (allowed
    /// only for video carried in transport packets, 2.4.3.7).
    pub packet_length: u16,
    /// `data_alignment_indicator`: the payload starts with an access unit.
    pub data_alignment: bool,
    /// PTS in 90 kHz units, 33 bits.
    pub pts: Option<u64>,
    /// DTS in 90 kHz units, 33 bits. Written only next to a PTS and when
    /// it differs from it (2.4.3.7: `PTS_DTS_flags` '01' is forbidden).
    pub dts: Option<u64>,
}

/// Whether a stream id has the optional PES header (2.4.3.6: all but
/// program_stream_map, padding, private_stream_2, ECM, EMM, DSMCC,
/// H.222.1 type E and the program_stream_directory).
fn has_optional_header(stream_id: u8) -> bool {
    !matches!(
        stream_id,
        0xBC | 0xBE | 0xBF | 0xF0 | 0xF1 | 0xF2 | 0xF8 | 0xFF
    )
}

/// Writes a 5-byte timestamp: 4-bit prefix, then 33 bits in 3/15/15 bit
/// groups, each followed by a marker bit (Table 2-21).
fn put_timestamp(out: &mut impl BufMut, prefix: u8, ts: u64) {
    let ts = ts & TS_MASK;
    out.put_u8(prefix << 4 | ((ts >> 29) as u8 & 0x0E) | 1);
    out.put_u16((((ts >> 14) as u16) & 0xFFFE) | 1);
    out.put_u16(((ts << 1) as u16 & 0xFFFE) | 1);
}

/// Reads a 5-byte timestamp, ignoring prefix and marker bits (encoders get
/// them wrong often enough that a strict reader would drop valid media).
fn timestamp(input: &[u8]) -> Result<(&[u8], u64), DemuxError> {
    let (i, b) = need(take(5usize)(input), "PES timestamp")?;
    let v = (u64::from(b[0]) & 0x0E) << 29
        | (u64::from(u16::from_be_bytes([b[1], b[2]])) >> 1) << 15
        | u64::from(u16::from_be_bytes([b[3], b[4]])) >> 1;
    Ok((i, v))
}

impl PesHeader {
    /// Whether the DTS is written (present and different from the PTS).
    fn writes_dts(&self) -> bool {
        matches!((self.pts, self.dts), (Some(p), Some(d)) if (p ^ d) & TS_MASK != 0)
    }

    /// Bytes this header takes on the wire.
    pub fn encoded_len(&self) -> usize {
        PES_HEADER_MIN
            + if self.pts.is_some() { 5 } else { 0 }
            + if self.writes_dts() { 5 } else { 0 }
    }

    /// The `PES_packet_length` for a payload of `payload_len` bytes after
    /// this header, or `None` if it does not fit 16 bits.
    pub fn bounded_length(&self, payload_len: usize) -> Option<u16> {
        u16::try_from(self.encoded_len() - 6 + payload_len).ok()
    }

    /// Writes the header. Timestamps are masked to 33 bits.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(&[0, 0, 1, self.stream_id]);
        out.put_u16(self.packet_length);
        // '10', scrambling 00, priority 0, data_alignment, copyright 0, original 0.
        out.put_u8(0x80 | u8::from(self.data_alignment) << 2);
        let dts = self.writes_dts();
        let flags = match (self.pts.is_some(), dts) {
            (true, true) => 0xC0,
            (true, false) => 0x80,
            _ => 0x00,
        };
        out.put_u8(flags);
        out.put_u8((self.encoded_len() - PES_HEADER_MIN) as u8);
        match (self.pts, self.dts) {
            (Some(p), Some(d)) if dts => {
                put_timestamp(out, 0b0011, p);
                put_timestamp(out, 0b0001, d);
            }
            (Some(p), _) => put_timestamp(out, 0b0010, p),
            _ => {}
        }
    }

    /// Decodes a header at the start of a PES packet, returning the bytes
    /// after it (the payload, up to the end of `input`).
    pub fn decode(input: &[u8]) -> Result<(&[u8], PesHeader), DemuxError> {
        let (i, _) =
            tag::<_, _, nom::error::Error<&[u8]>>(&[0u8, 0, 1][..])(input).map_err(|_| {
                DemuxError::Invalid {
                    what: "packet_start_code_prefix",
                    value: 0,
                }
            })?;
        let (i, stream_id) = need(byte(i), "PES header")?;
        let (i, packet_length) = need(be_u16(i), "PES header")?;
        let mut header = PesHeader {
            stream_id,
            packet_length,
            data_alignment: false,
            pts: None,
            dts: None,
        };
        if !has_optional_header(stream_id) {
            return Ok((i, header));
        }
        let (i, f1) = need(byte(i), "PES header")?;
        if f1 >> 6 != 0b10 {
            return Err(DemuxError::Invalid {
                what: "PES header marker bits",
                value: u64::from(f1 >> 6),
            });
        }
        header.data_alignment = f1 & 0x04 != 0;
        let (i, f2) = need(byte(i), "PES header")?;
        let (i, hlen) = need(byte(i), "PES_header_data_length")?;
        let (rest, fields) = need(take(hlen)(i), "PES header data")?;
        match f2 >> 6 {
            0b10 => header.pts = Some(timestamp(fields)?.1),
            0b11 => {
                let (f, pts) = timestamp(fields)?;
                header.pts = Some(pts);
                header.dts = Some(timestamp(f)?.1);
            }
            0b01 => {
                return Err(DemuxError::Invalid {
                    what: "PTS_DTS_flags",
                    value: 1,
                })
            }
            _ => {}
        }
        Ok((rest, header))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_bytes_pts_and_dts() {
        let h = PesHeader {
            stream_id: STREAM_ID_VIDEO,
            packet_length: 0,
            data_alignment: true,
            pts: Some(0x1_2345_6789),
            dts: Some(3600),
        };
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(
            out,
            [
                0x00, 0x00, 0x01, 0xE0, 0x00, 0x00, 0x84, 0xC0, 0x0A, // fixed part
                0x39, 0x8D, 0x15, 0xCF, 0x13, // PTS '0011' 0x1_2345_6789
                0x11, 0x00, 0x01, 0x1C, 0x21, // DTS '0001' 3600
            ]
        );
        assert_eq!(h.encoded_len(), out.len());
        let (rest, back) = PesHeader::decode(&out).unwrap();
        assert!(rest.is_empty());
        assert_eq!(back, h);
    }

    #[test]
    fn equal_dts_is_not_written_and_timestamps_wrap() {
        let h = PesHeader {
            stream_id: STREAM_ID_AUDIO,
            packet_length: 8,
            data_alignment: true,
            pts: Some((1 << 33) + 5),
            dts: Some(5),
        };
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out.len(), 14);
        let back = PesHeader::decode(&out).unwrap().1;
        assert_eq!((back.pts, back.dts), (Some(5), None));
    }

    #[test]
    fn garbage_is_refused() {
        assert!(PesHeader::decode(&[0, 0, 2, 0xE0, 0, 0]).is_err());
        assert!(PesHeader::decode(&[0, 0, 1, 0xE0, 0, 0, 0x40, 0, 0]).is_err());
        assert!(PesHeader::decode(&[0, 0, 1, 0xE0, 0, 0, 0x80, 0x40, 5, 0, 0, 0, 0, 0]).is_err());
        assert!(PesHeader::decode(&[0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 2, 0x21, 0]).is_err());
        assert!(PesHeader::decode(&[0, 0, 1]).is_err());
        // Padding stream: no optional header.
        let (rest, h) = PesHeader::decode(&[0, 0, 1, 0xBE, 0, 2, 0xFF, 0xFF]).unwrap();
        assert_eq!((rest.len(), h.pts), (2, None));
    }

    proptest! {
        #[test]
        fn round_trip(video: bool, len: u16, align: bool, pts in proptest::option::of(any::<u64>()),
                      dts in any::<u64>()) {
            let h = PesHeader { stream_id: if video { STREAM_ID_VIDEO } else { STREAM_ID_AUDIO },
                packet_length: len, data_alignment: align, pts, dts: pts.map(|_| dts) };
            let mut out = Vec::new();
            h.encode(&mut out);
            prop_assert_eq!(out.len(), h.encoded_len());
            let (rest, back) = PesHeader::decode(&out).unwrap();
            prop_assert!(rest.is_empty());
            prop_assert_eq!(back.pts, pts.map(|p| p & TS_MASK));
            let expected_dts = pts.and_then(|p| ((p ^ dts) & TS_MASK != 0).then_some(dts & TS_MASK));
            prop_assert_eq!(back.dts, expected_dts);
            prop_assert_eq!((back.stream_id, back.packet_length, back.data_alignment),
                            (h.stream_id, len, align));
        }
    }
}
