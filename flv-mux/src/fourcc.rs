//! FourCC codec identifiers of Enhanced RTMP (veovera E-RTMP v1/v2).

use std::fmt;

/// A four-character codec code as sent in E-RTMP audio/video tag headers.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    /// H.264 / AVC.
    pub const AVC1: FourCc = FourCc(*b"avc1");
    /// H.265 / HEVC.
    pub const HVC1: FourCc = FourCc(*b"hvc1");
    /// AV1.
    pub const AV01: FourCc = FourCc(*b"av01");
    /// VP9.
    pub const VP09: FourCc = FourCc(*b"vp09");
    /// VP8.
    pub const VP08: FourCc = FourCc(*b"vp08");
    /// Opus audio.
    pub const OPUS: FourCc = FourCc(*b"Opus");
    /// AAC (MPEG-4 audio).
    pub const MP4A: FourCc = FourCc(*b"mp4a");
    /// FLAC.
    pub const FLAC: FourCc = FourCc(*b"fLaC");
    /// AC-3.
    pub const AC3: FourCc = FourCc(*b"ac-3");
    /// E-AC-3.
    pub const EAC3: FourCc = FourCc(*b"ec-3");
    /// MP3.
    pub const MP3: FourCc = FourCc(*b".mp3");

    /// True for codecs whose E-RTMP `CodedFrames` carry an SI24
    /// composition time offset (E-RTMP v1, ExVideoTagBody: AVC and HEVC).
    pub fn has_composition_time(self) -> bool {
        self == FourCc::AVC1 || self == FourCc::HVC1
    }
}

impl fmt::Debug for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FourCc({self})")
    }
}

impl fmt::Display for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        assert_eq!(FourCc::HVC1.to_string(), "hvc1");
        assert_eq!(
            format!("{:?}", FourCc([0, b'a', b'b', b'c'])),
            "FourCc(\\x00abc)"
        );
        assert!(FourCc::AVC1.has_composition_time());
        assert!(!FourCc::AV01.has_composition_time());
    }
}
