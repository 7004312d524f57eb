//! HEVCDecoderConfigurationRecord (ISO/IEC 14496-15, 8.3.3.1): the payload
//! of an HEVC sequence header (legacy codec id 12 or E-RTMP `hvc1`).

use bytes::{BufMut, Bytes, BytesMut};
use nom::bytes::complete::take;
use nom::number::complete::{be_u16, be_u32, be_u8};

use crate::error::CodecError;
use crate::parse::{check_config_len, check_limit, need};

pub use crate::nal::h265::{NAL_PPS, NAL_SPS, NAL_VPS};

/// One `array` of the record: NAL units of one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcNalArray {
    /// `array_completeness`: all NAL units of this type are in the array.
    pub completeness: bool,
    /// `NAL_unit_type` (6 bits).
    pub nal_type: u8,
    /// The NAL units, zero-copy slices of the record.
    pub nalus: Vec<Bytes>,
}

/// `HEVCDecoderConfigurationRecord`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcDecoderConfigurationRecord {
    /// `general_profile_space` (2 bits).
    pub general_profile_space: u8,
    /// `general_tier_flag`.
    pub general_tier_flag: bool,
    /// `general_profile_idc` (5 bits), 1 = Main.
    pub general_profile_idc: u8,
    /// `general_profile_compatibility_flags`.
    pub general_profile_compatibility_flags: u32,
    /// `general_constraint_indicator_flags` (48 bits).
    pub general_constraint_indicator_flags: u64,
    /// `general_level_idc` (30 × level, e.g. 93 = 3.1).
    pub general_level_idc: u8,
    /// `min_spatial_segmentation_idc` (12 bits).
    pub min_spatial_segmentation_idc: u16,
    /// `parallelismType` (2 bits).
    pub parallelism_type: u8,
    /// `chromaFormat` (2 bits).
    pub chroma_format: u8,
    /// `bitDepthLumaMinus8` (3 bits).
    pub bit_depth_luma_minus8: u8,
    /// `bitDepthChromaMinus8` (3 bits).
    pub bit_depth_chroma_minus8: u8,
    /// `avgFrameRate` in frames per 256 s, 0 = unspecified.
    pub avg_frame_rate: u16,
    /// `constantFrameRate` (2 bits).
    pub constant_frame_rate: u8,
    /// `numTemporalLayers` (3 bits).
    pub num_temporal_layers: u8,
    /// `temporalIdNested`.
    pub temporal_id_nested: bool,
    /// Bytes in each NAL unit length prefix: 1, 2 or 4.
    pub nal_length_size: u8,
    /// The parameter set arrays, in wire order.
    pub arrays: Vec<HevcNalArray>,
}

impl HevcDecoderConfigurationRecord {
    /// Parses a record; NAL units are slices of `body`.
    ///
    /// # Errors
    /// Truncated or invalid bytes; a record longer than
    /// [`MAX_CODEC_CONFIG_LEN`](crate::MAX_CODEC_CONFIG_LEN) or with more
    /// VPS/SPS/PPS than [`MAX_VPS`](super::MAX_VPS) /
    /// [`MAX_SPS`](super::MAX_SPS) / [`MAX_PPS`](super::MAX_PPS) is
    /// [`CodecError::TooLarge`].
    pub fn decode(body: &Bytes) -> Result<Self, CodecError> {
        const W: &str = "hvcC";
        check_config_len(W, body.len())?;
        let i = &body[..];
        let (i, version) = need(be_u8(i), W)?;
        // Some pre-standard muxers wrote 0 here; accept it as ffmpeg does.
        if version > 1 {
            return Err(CodecError::Invalid {
                what: "hvcC configurationVersion",
                value: u64::from(version),
            });
        }
        let (i, b) = need(be_u8(i), W)?;
        let (i, compat) = need(be_u32(i), W)?;
        let (i, c_hi) = need(be_u16(i), W)?;
        let (i, c_lo) = need(be_u32(i), W)?;
        let (i, level) = need(be_u8(i), W)?;
        let (i, seg) = need(be_u16(i), W)?;
        let (i, par) = need(be_u8(i), W)?;
        let (i, chroma) = need(be_u8(i), W)?;
        let (i, luma_d) = need(be_u8(i), W)?;
        let (i, chroma_d) = need(be_u8(i), W)?;
        let (i, avg_frame_rate) = need(be_u16(i), W)?;
        let (i, flags) = need(be_u8(i), W)?;
        let (mut i, num_arrays) = need(be_u8(i), W)?;
        let mut arrays = Vec::with_capacity(usize::from(num_arrays).min(i.len() / 3));
        for _ in 0..num_arrays {
            let (rest, t) = need(be_u8(i), "hvcC array")?;
            let (mut rest, n) = need(be_u16(rest), "hvcC array")?;
            let mut nalus = Vec::with_capacity(usize::from(n).min(rest.len() / 2));
            for _ in 0..n {
                let (r, len) = need(be_u16(rest), "hvcC NAL unit")?;
                let (r, nal) = need(take(len)(r), "hvcC NAL unit")?;
                nalus.push(body.slice_ref(nal));
                rest = r;
            }
            arrays.push(HevcNalArray {
                completeness: t & 0x80 != 0,
                nal_type: t & 0x3F,
                nalus,
            });
            i = rest;
        }
        let count = |t: u8| {
            arrays
                .iter()
                .filter(|a| a.nal_type == t)
                .map(|a| a.nalus.len())
                .sum::<usize>()
        };
        check_limit("hvcC VPS count", count(NAL_VPS), super::MAX_VPS)?;
        check_limit("hvcC SPS count", count(NAL_SPS), super::MAX_SPS)?;
        check_limit("hvcC PPS count", count(NAL_PPS), super::MAX_PPS)?;
        Ok(HevcDecoderConfigurationRecord {
            general_profile_space: b >> 6,
            general_tier_flag: b & 0x20 != 0,
            general_profile_idc: b & 0x1F,
            general_profile_compatibility_flags: compat,
            general_constraint_indicator_flags: u64::from(c_hi) << 32 | u64::from(c_lo),
            general_level_idc: level,
            min_spatial_segmentation_idc: seg & 0x0FFF,
            parallelism_type: par & 0x03,
            chroma_format: chroma & 0x03,
            bit_depth_luma_minus8: luma_d & 0x07,
            bit_depth_chroma_minus8: chroma_d & 0x07,
            avg_frame_rate,
            constant_frame_rate: flags >> 6,
            num_temporal_layers: (flags >> 3) & 0x07,
            temporal_id_nested: flags & 0x04 != 0,
            nal_length_size: (flags & 0x03) + 1,
            arrays,
        })
    }

    /// Builds a record from VPS, SPS and PPS NAL units, copying profile,
    /// tier, level, chroma format and bit depths from the parsed SPS
    /// (H.265 7.3.2.2 and `profile_tier_level`, 7.3.3).
    pub fn from_parameter_sets(vps: Bytes, sps: Bytes, pps: Bytes) -> Result<Self, CodecError> {
        let info = super::HevcSps::parse(&sps)?;
        let array = |nal_type, nal: Bytes| HevcNalArray {
            completeness: true,
            nal_type,
            nalus: vec![nal],
        };
        Ok(HevcDecoderConfigurationRecord {
            general_profile_space: info.general_profile_space,
            general_tier_flag: info.general_tier_flag,
            general_profile_idc: info.general_profile_idc,
            general_profile_compatibility_flags: info.general_profile_compatibility_flags,
            general_constraint_indicator_flags: info.general_constraint_indicator_flags,
            general_level_idc: info.general_level_idc,
            min_spatial_segmentation_idc: 0,
            parallelism_type: 0,
            chroma_format: info.chroma_format_idc as u8 & 0x03,
            bit_depth_luma_minus8: info.bit_depth_luma_minus8,
            bit_depth_chroma_minus8: info.bit_depth_chroma_minus8,
            avg_frame_rate: 0,
            constant_frame_rate: 0,
            num_temporal_layers: info.max_sub_layers,
            temporal_id_nested: info.temporal_id_nesting,
            nal_length_size: 4,
            arrays: vec![
                array(NAL_VPS, vps),
                array(NAL_SPS, sps),
                array(NAL_PPS, pps),
            ],
        })
    }

    /// All NAL units of `nal_type` across the arrays.
    pub fn nalus_of_type(&self, nal_type: u8) -> impl Iterator<Item = &Bytes> {
        self.arrays
            .iter()
            .filter(move |a| a.nal_type == nal_type)
            .flat_map(|a| a.nalus.iter())
    }

    /// Appends the record. Reserved bits are written as 1s.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), CodecError> {
        if !matches!(self.nal_length_size, 1 | 2 | 4) {
            return Err(CodecError::Unencodable("NAL length size must be 1, 2 or 4"));
        }
        let n_arrays = u8::try_from(self.arrays.len())
            .map_err(|_| CodecError::Unencodable("more than 255 hvcC arrays"))?;
        out.put_u8(1);
        out.put_u8(
            (self.general_profile_space & 0x03) << 6
                | u8::from(self.general_tier_flag) << 5
                | (self.general_profile_idc & 0x1F),
        );
        out.put_u32(self.general_profile_compatibility_flags);
        out.put_u16((self.general_constraint_indicator_flags >> 32) as u16);
        out.put_u32(self.general_constraint_indicator_flags as u32);
        out.put_u8(self.general_level_idc);
        out.put_u16(0xF000 | (self.min_spatial_segmentation_idc & 0x0FFF));
        out.put_u8(0xFC | (self.parallelism_type & 0x03));
        out.put_u8(0xFC | (self.chroma_format & 0x03));
        out.put_u8(0xF8 | (self.bit_depth_luma_minus8 & 0x07));
        out.put_u8(0xF8 | (self.bit_depth_chroma_minus8 & 0x07));
        out.put_u16(self.avg_frame_rate);
        out.put_u8(
            (self.constant_frame_rate & 0x03) << 6
                | (self.num_temporal_layers & 0x07) << 3
                | u8::from(self.temporal_id_nested) << 2
                | (self.nal_length_size - 1),
        );
        out.put_u8(n_arrays);
        for a in &self.arrays {
            out.put_u8(u8::from(a.completeness) << 7 | (a.nal_type & 0x3F));
            let n = u16::try_from(a.nalus.len())
                .map_err(|_| CodecError::Unencodable("more than 65535 NAL units in an array"))?;
            out.put_u16(n);
            for nal in &a.nalus {
                let len = u16::try_from(nal.len())
                    .map_err(|_| CodecError::Unencodable("NAL unit longer than 65535 bytes"))?;
                out.put_u16(len);
                out.put_slice(nal);
            }
        }
        Ok(())
    }

    /// The encoded record as `Bytes`.
    pub fn to_bytes(&self) -> Result<Bytes, CodecError> {
        let mut out = BytesMut::new();
        self.encode(&mut out)?;
        Ok(out.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{PPS, SPS, VPS};
    use super::*;

    fn record() -> HevcDecoderConfigurationRecord {
        HevcDecoderConfigurationRecord::from_parameter_sets(
            Bytes::from_static(VPS),
            Bytes::from_static(SPS),
            Bytes::from_static(PPS),
        )
        .unwrap()
    }

    #[test]
    fn build_and_round_trip() {
        let r = record();
        assert_eq!(r.general_profile_idc, 1);
        assert_eq!(r.general_level_idc, 120);
        let bytes = r.to_bytes().unwrap();
        // 23 fixed bytes + 3 arrays of (3 + 2 + len).
        assert_eq!(bytes.len(), 23 + 3 * 5 + VPS.len() + SPS.len() + PPS.len());
        let back = HevcDecoderConfigurationRecord::decode(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            back.nalus_of_type(NAL_SPS).next().map(|b| &b[..]),
            Some(SPS)
        );
    }

    #[test]
    fn too_many_parameter_sets_or_bytes_are_refused() {
        let mut r = record();
        r.arrays[2].nalus = vec![Bytes::from_static(PPS); super::super::MAX_PPS];
        assert!(HevcDecoderConfigurationRecord::decode(&r.to_bytes().unwrap()).is_ok());
        r.arrays[2].nalus.push(Bytes::from_static(PPS));
        let e = HevcDecoderConfigurationRecord::decode(&r.to_bytes().unwrap()).unwrap_err();
        assert!(e.to_string().contains("hvcC PPS count of 65"), "{e}");
        let mut r = record();
        r.arrays[1].nalus = vec![Bytes::from_static(SPS); super::super::MAX_SPS + 1];
        assert!(HevcDecoderConfigurationRecord::decode(&r.to_bytes().unwrap()).is_err());
        // One SEI array of 40 KB + 30 KB: under every count, over 64 KiB.
        let mut r = record();
        r.arrays.push(HevcNalArray {
            completeness: false,
            nal_type: 39,
            nalus: vec![
                Bytes::from(vec![0x4e; 40_000]),
                Bytes::from(vec![0x4e; 30_000]),
            ],
        });
        let e = HevcDecoderConfigurationRecord::decode(&r.to_bytes().unwrap()).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::LimitExceeded);
    }

    #[test]
    fn truncation_is_an_error() {
        let bytes = record().to_bytes().unwrap();
        for n in 0..bytes.len() {
            assert!(
                HevcDecoderConfigurationRecord::decode(&bytes.slice(..n)).is_err(),
                "{n}"
            );
        }
    }
}
