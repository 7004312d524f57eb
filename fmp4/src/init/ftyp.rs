//! `ftyp`: CMAF brands plus one per video codec present.

use crate::write::BoxWriter;
use crate::{CodecConfig, Fmp4Error, TrackConfig};

/// Major brand (`iso5`: default-base-is-moof, the tfdt-based timeline).
pub(crate) const MAJOR_BRAND: &[u8; 4] = b"iso5";
/// Minor version.
pub(crate) const MINOR_VERSION: u32 = 512;
/// Compatible brands always listed.
const BASE_BRANDS: [&[u8; 4]; 4] = [b"iso5", b"iso6", b"mp41", b"cmfc"];

/// Writes `ftyp`: `iso5`/512, compatible `iso5 iso6 mp41 cmfc` and `avc1`,
/// `hvc1`, `av01` for the video codecs present (each once).
pub(crate) fn write(w: &mut BoxWriter, tracks: &[TrackConfig]) -> Result<(), Fmp4Error> {
    let ftyp = w.open(b"ftyp");
    w.bytes(MAJOR_BRAND);
    w.u32(MINOR_VERSION);
    let mut brands: Vec<&[u8; 4]> = BASE_BRANDS.to_vec();
    for t in tracks {
        let brand: &[u8; 4] = match t.codec {
            CodecConfig::Avc { .. } => b"avc1",
            CodecConfig::Hevc { .. } => b"hvc1",
            CodecConfig::Av1 { .. } => b"av01",
            CodecConfig::Aac { .. } | CodecConfig::Opus { .. } => continue,
        };
        if !brands.contains(&brand) {
            brands.push(brand);
        }
    }
    for b in brands {
        w.bytes(b);
    }
    w.close(ftyp)
}
