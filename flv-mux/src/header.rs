//! The FLV file header (FLV spec v10.1, Annex E.2) and PreviousTagSize0.

use bytes::{BufMut, BytesMut};

use crate::error::FlvError;

/// Size of the version-1 header, the only DataOffset writers use.
pub const HEADER_LEN: usize = 9;
/// Largest DataOffset accepted: the spec leaves room for future header
/// fields, but nobody uses it, so anything large is garbage.
pub const MAX_DATA_OFFSET: u32 = 1024;

/// The FLV header: `FLV`, version, TypeFlags, DataOffset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlvHeader {
    /// Version; 1 is the only one defined.
    pub version: u8,
    /// `TypeFlagsAudio`: audio tags are present.
    pub has_audio: bool,
    /// `TypeFlagsVideo`: video tags are present.
    pub has_video: bool,
    /// Offset of the body from the start of the file (9 for version 1).
    /// Bytes between 9 and this offset are skipped on read and written as
    /// zeros.
    pub data_offset: u32,
}

impl FlvHeader {
    /// A version-1 header with the given stream flags.
    pub fn new(has_audio: bool, has_video: bool) -> Self {
        FlvHeader {
            version: 1,
            has_audio,
            has_video,
            data_offset: HEADER_LEN as u32,
        }
    }

    /// Decodes the header from the start of `input`.
    ///
    /// Returns `Ok(None)` when more bytes are needed (at least
    /// `data_offset` bytes), otherwise the header and the bytes it
    /// occupies (`data_offset`). PreviousTagSize0 is not included.
    pub fn decode(input: &[u8]) -> Result<Option<(FlvHeader, usize)>, FlvError> {
        // Check the signature as soon as 3 bytes are in, so a wrong stream
        // fails fast instead of waiting for more bytes.
        if let Some(sig) = input.get(..3).and_then(|s| <[u8; 3]>::try_from(s).ok()) {
            if &sig != b"FLV" {
                return Err(FlvError::BadSignature(sig));
            }
        }
        let Some(fixed) = input
            .get(..HEADER_LEN)
            .and_then(|s| <[u8; HEADER_LEN]>::try_from(s).ok())
        else {
            return Ok(None);
        };
        let version = fixed[3];
        if version != 1 {
            return Err(FlvError::Unsupported {
                what: "FLV version",
                value: u64::from(version),
            });
        }
        // TypeFlags: UB[5] reserved, UB[1] audio, UB[1] reserved, UB[1]
        // video. Reserved bits "shall be 0"; we ignore them rather than
        // refuse a playable file.
        let flags = fixed[4];
        let data_offset = u32::from_be_bytes([fixed[5], fixed[6], fixed[7], fixed[8]]);
        if data_offset < HEADER_LEN as u32 {
            return Err(FlvError::Invalid {
                what: "FLV DataOffset",
                value: u64::from(data_offset),
            });
        }
        if data_offset > MAX_DATA_OFFSET {
            return Err(FlvError::TooLarge {
                what: "FLV DataOffset",
                size: u64::from(data_offset),
                limit: u64::from(MAX_DATA_OFFSET),
            });
        }
        if input.len() < data_offset as usize {
            return Ok(None);
        }
        let header = FlvHeader {
            version,
            has_audio: flags & 0x04 != 0,
            has_video: flags & 0x01 != 0,
            data_offset,
        };
        Ok(Some((header, data_offset as usize)))
    }

    /// Appends the header (`data_offset` bytes) to `out`. PreviousTagSize0
    /// is not included; [`FlvWriter`](crate::FlvWriter) adds it.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_slice(b"FLV");
        out.put_u8(self.version);
        out.put_u8(u8::from(self.has_audio) << 2 | u8::from(self.has_video));
        let offset = self.data_offset.max(HEADER_LEN as u32);
        out.put_u32(offset);
        out.put_bytes(0, offset as usize - HEADER_LEN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FFMPEG: [u8; 9] = [b'F', b'L', b'V', 1, 0x05, 0, 0, 0, 9];

    #[test]
    fn decode_ffmpeg_header() {
        let (h, used) = FlvHeader::decode(&FFMPEG).unwrap().unwrap();
        assert_eq!(h, FlvHeader::new(true, true));
        assert_eq!(used, 9);
    }

    #[test]
    fn need_more_and_errors() {
        for n in 0..9 {
            assert_eq!(FlvHeader::decode(&FFMPEG[..n]), Ok(None));
        }
        assert!(matches!(
            FlvHeader::decode(b"GIF89a"),
            Err(FlvError::BadSignature(_))
        ));
        let mut b = FFMPEG;
        b[8] = 3;
        assert!(FlvHeader::decode(&b).is_err());
        b[8] = 12;
        assert_eq!(FlvHeader::decode(&b), Ok(None));
        let mut long = b.to_vec();
        long.extend_from_slice(&[0, 0, 0]);
        assert_eq!(FlvHeader::decode(&long).unwrap().unwrap().1, 12);
        b[3] = 2;
        assert!(FlvHeader::decode(&b).is_err());
    }

    #[test]
    fn round_trip() {
        for (a, v) in [(false, false), (true, false), (false, true), (true, true)] {
            let h = FlvHeader::new(a, v);
            let mut out = BytesMut::new();
            h.encode(&mut out);
            assert_eq!(FlvHeader::decode(&out).unwrap().unwrap(), (h, 9));
        }
        let mut out = BytesMut::new();
        FlvHeader::new(true, true).encode(&mut out);
        assert_eq!(&out[..], &FFMPEG);
    }
}
