//! AVCDecoderConfigurationRecord (ISO/IEC 14496-15, 5.3.3.1): the payload
//! of an AVC sequence header tag.

use bytes::{BufMut, Bytes, BytesMut};
use nom::bytes::complete::take;
use nom::number::complete::{be_u16, be_u8};

use crate::error::CodecError;
use crate::parse::{check_config_len, check_limit, need};

/// The high-profile extension of the record (chroma format, bit depths,
/// SPS extensions), present for profiles 100, 110, 122 and 144.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcRecordExt {
    /// `chroma_format` (2 bits).
    pub chroma_format: u8,
    /// `bit_depth_luma_minus8` (3 bits).
    pub bit_depth_luma_minus8: u8,
    /// `bit_depth_chroma_minus8` (3 bits).
    pub bit_depth_chroma_minus8: u8,
    /// SequenceParameterSetExt NAL units.
    pub sps_ext: Vec<Bytes>,
}

/// `AVCDecoderConfigurationRecord`. NAL units are zero-copy slices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcDecoderConfigurationRecord {
    /// `AVCProfileIndication` (profile_idc of the SPS).
    pub profile: u8,
    /// `profile_compatibility` (the constraint flags byte).
    pub compatibility: u8,
    /// `AVCLevelIndication`.
    pub level: u8,
    /// Bytes in each NAL unit length prefix: 1, 2 or 4.
    pub nal_length_size: u8,
    /// Sequence parameter sets (at most 31).
    pub sps: Vec<Bytes>,
    /// Picture parameter sets (at most 255).
    pub pps: Vec<Bytes>,
    /// The high-profile extension when present on the wire. Many encoders
    /// omit it even for High profile, so it is optional on read.
    pub ext: Option<AvcRecordExt>,
}

fn nal_list<'a>(
    body: &Bytes,
    mut i: &'a [u8],
    count: usize,
    what: &'static str,
) -> Result<(&'a [u8], Vec<Bytes>), CodecError> {
    let mut out = Vec::with_capacity(count.min(i.len() / 2));
    for _ in 0..count {
        let (rest, len) = need(be_u16(i), what)?;
        let (rest, nal) = need(take(len)(rest), what)?;
        out.push(body.slice_ref(nal));
        i = rest;
    }
    Ok((i, out))
}

fn put_nal_list(out: &mut BytesMut, nals: &[Bytes]) -> Result<(), CodecError> {
    for n in nals {
        let len = u16::try_from(n.len())
            .map_err(|_| CodecError::Unencodable("parameter set longer than 65535 bytes"))?;
        out.put_u16(len);
        out.put_slice(n);
    }
    Ok(())
}

fn decode_ext(body: &Bytes, i: &[u8]) -> Result<AvcRecordExt, CodecError> {
    let (i, c) = need(be_u8(i), "avcC ext")?;
    let (i, l) = need(be_u8(i), "avcC ext")?;
    let (i, ch) = need(be_u8(i), "avcC ext")?;
    let (i, n) = need(be_u8(i), "avcC ext")?;
    let (_, sps_ext) = nal_list(body, i, usize::from(n), "avcC SPS ext")?;
    Ok(AvcRecordExt {
        chroma_format: c & 0x03,
        bit_depth_luma_minus8: l & 0x07,
        bit_depth_chroma_minus8: ch & 0x07,
        sps_ext,
    })
}

impl AvcDecoderConfigurationRecord {
    /// Parses a record; NAL units are slices of `body`.
    ///
    /// # Errors
    /// Truncated or invalid bytes; a record longer than
    /// [`MAX_CODEC_CONFIG_LEN`](crate::MAX_CODEC_CONFIG_LEN) or with more
    /// parameter sets than [`MAX_SPS`](super::MAX_SPS) /
    /// [`MAX_PPS`](super::MAX_PPS) is [`CodecError::TooLarge`].
    pub fn decode(body: &Bytes) -> Result<Self, CodecError> {
        check_config_len("avcC", body.len())?;
        let i = &body[..];
        let (i, version) = need(be_u8(i), "avcC")?;
        if version != 1 {
            return Err(CodecError::Invalid {
                what: "avcC configurationVersion",
                value: u64::from(version),
            });
        }
        let (i, profile) = need(be_u8(i), "avcC")?;
        let (i, compatibility) = need(be_u8(i), "avcC")?;
        let (i, level) = need(be_u8(i), "avcC")?;
        let (i, b) = need(be_u8(i), "avcC")?;
        let nal_length_size = (b & 0x03) + 1;
        let (i, b) = need(be_u8(i), "avcC")?;
        check_limit("avcC SPS count", usize::from(b & 0x1F), super::MAX_SPS)?;
        let (i, sps) = nal_list(body, i, usize::from(b & 0x1F), "avcC SPS")?;
        let (i, n) = need(be_u8(i), "avcC")?;
        check_limit("avcC PPS count", usize::from(n), super::MAX_PPS)?;
        let (i, pps) = nal_list(body, i, usize::from(n), "avcC PPS")?;
        // 5.3.3.1: the extension exists only for these profiles. Many
        // encoders omit it or leave padding instead, so a missing or
        // unparsable extension is ignored rather than failing the record.
        let ext = if matches!(profile, 100 | 110 | 122 | 144) {
            decode_ext(body, i).ok()
        } else {
            None
        };
        Ok(AvcDecoderConfigurationRecord {
            profile,
            compatibility,
            level,
            nal_length_size,
            sps,
            pps,
            ext,
        })
    }

    /// Builds a record from parameter sets, taking profile, compatibility
    /// and level from the first SPS (its bytes 1..4, after the NAL header).
    pub fn from_parameter_sets(sps: Vec<Bytes>, pps: Vec<Bytes>) -> Result<Self, CodecError> {
        let first = sps
            .first()
            .ok_or(CodecError::Unencodable("avcC needs at least one SPS"))?;
        let [_, profile, compatibility, level] = *first
            .get(..4)
            .and_then(|s| <&[u8; 4]>::try_from(s).ok())
            .ok_or(CodecError::Truncated { what: "H.264 SPS" })?;
        Ok(AvcDecoderConfigurationRecord {
            profile,
            compatibility,
            level,
            nal_length_size: 4,
            sps,
            pps,
            ext: None,
        })
    }

    /// Appends the record. Reserved bits are written as 1s.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), CodecError> {
        if !matches!(self.nal_length_size, 1 | 2 | 4) {
            return Err(CodecError::Unencodable("NAL length size must be 1, 2 or 4"));
        }
        let n_sps = u8::try_from(self.sps.len())
            .ok()
            .filter(|&n| n <= 31)
            .ok_or(CodecError::Unencodable("more than 31 SPS"))?;
        let n_pps = u8::try_from(self.pps.len())
            .map_err(|_| CodecError::Unencodable("more than 255 PPS"))?;
        out.put_u8(1);
        out.put_u8(self.profile);
        out.put_u8(self.compatibility);
        out.put_u8(self.level);
        out.put_u8(0xFC | (self.nal_length_size - 1));
        out.put_u8(0xE0 | n_sps);
        put_nal_list(out, &self.sps)?;
        out.put_u8(n_pps);
        put_nal_list(out, &self.pps)?;
        if let Some(ext) = &self.ext {
            let n = u8::try_from(ext.sps_ext.len())
                .map_err(|_| CodecError::Unencodable("more than 255 SPS ext"))?;
            out.put_u8(0xFC | (ext.chroma_format & 0x03));
            out.put_u8(0xF8 | (ext.bit_depth_luma_minus8 & 0x07));
            out.put_u8(0xF8 | (ext.bit_depth_chroma_minus8 & 0x07));
            out.put_u8(n);
            put_nal_list(out, &ext.sps_ext)?;
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
    use super::*;

    /// The record ffmpeg 5.1 + libx264 wrote into the fixture
    /// (High profile, level 1.3, 320x240).
    const FFMPEG_AVCC: &[u8] = &[
        0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41,
        0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1,
        0x42, 0x99, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd, 0xf8, 0xf8,
        0x00,
    ];

    #[test]
    fn decode_ffmpeg_record() {
        let body = Bytes::from_static(FFMPEG_AVCC);
        let r = AvcDecoderConfigurationRecord::decode(&body).unwrap();
        assert_eq!((r.profile, r.level, r.nal_length_size), (100, 13, 4));
        assert_eq!(r.sps.len(), 1);
        assert_eq!(r.sps[0].len(), 25);
        assert_eq!(r.pps.len(), 1);
        assert_eq!(r.ext.as_ref().map(|e| e.chroma_format), Some(1));
        assert_eq!(r.to_bytes().unwrap(), body);
    }

    #[test]
    fn truncation_is_an_error_but_a_bad_extension_is_dropped() {
        let pps_end = FFMPEG_AVCC.len() - 4;
        for n in 0..pps_end {
            let body = Bytes::copy_from_slice(&FFMPEG_AVCC[..n]);
            assert!(AvcDecoderConfigurationRecord::decode(&body).is_err(), "{n}");
        }
        for n in pps_end..FFMPEG_AVCC.len() {
            let body = Bytes::copy_from_slice(&FFMPEG_AVCC[..n]);
            let r = AvcDecoderConfigurationRecord::decode(&body).unwrap();
            assert_eq!(r.ext, None, "{n}");
        }
    }

    #[test]
    fn records_over_64_kib_are_refused() {
        // 31 SPS of 2200 bytes: a valid avcC of ~68 KB.
        let sps = Bytes::from(vec![0x67; 2200]);
        let pps = Bytes::from_static(&[0x68, 0xeb]);
        let mut r =
            AvcDecoderConfigurationRecord::from_parameter_sets(vec![sps; 31], vec![pps]).unwrap();
        let big = r.to_bytes().unwrap();
        assert!(big.len() > crate::MAX_CODEC_CONFIG_LEN);
        let e = AvcDecoderConfigurationRecord::decode(&big).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::LimitExceeded);
        assert!(e.to_string().contains("avcC of"), "{e}");
        r.sps.truncate(29);
        assert!(AvcDecoderConfigurationRecord::decode(&r.to_bytes().unwrap()).is_ok());
    }

    #[test]
    fn build_from_parameter_sets() {
        let body = Bytes::from_static(FFMPEG_AVCC);
        let r = AvcDecoderConfigurationRecord::decode(&body).unwrap();
        let built =
            AvcDecoderConfigurationRecord::from_parameter_sets(r.sps.clone(), r.pps.clone())
                .unwrap();
        assert_eq!(built.profile, 100);
        let round = AvcDecoderConfigurationRecord::decode(&built.to_bytes().unwrap()).unwrap();
        assert_eq!(round.sps, r.sps);
        assert_eq!(round.ext, None);
        assert!(AvcDecoderConfigurationRecord::from_parameter_sets(vec![], vec![]).is_err());
    }
}
