//! The init segment: `ftyp` + `moov`.

mod ftyp;
mod moov;
pub(crate) mod sample_entry;

use crate::write::BoxWriter;
use crate::{CodecConfig, Fmp4Error, TrackConfig};
use bytes::Bytes;

/// Most tracks in one file (the demuxer's bound too).
pub const MAX_TRACKS: usize = 64;

/// True for the video codecs.
pub(crate) fn is_video(codec: &CodecConfig) -> bool {
    matches!(
        codec,
        CodecConfig::Avc { .. } | CodecConfig::Hevc { .. } | CodecConfig::Av1 { .. }
    )
}

/// Builds `ftyp` + `moov` for `tracks`; with `duration_ms`, the movie's
/// total duration in `mvhd` and `mvex/mehd`.
pub(crate) fn build(tracks: &[TrackConfig], duration_ms: Option<u64>) -> Result<Bytes, Fmp4Error> {
    validate(tracks)?;
    let mut w = BoxWriter::with_capacity(1024);
    ftyp::write(&mut w, tracks)?;
    moov::write(&mut w, tracks, duration_ms)?;
    Ok(Bytes::from(w.into_vec()))
}

fn validate(tracks: &[TrackConfig]) -> Result<(), Fmp4Error> {
    let invalid = |s: String| Err(Fmp4Error::Invalid(s));
    if tracks.is_empty() {
        return invalid("no tracks".into());
    }
    if tracks.len() > MAX_TRACKS {
        return Err(Fmp4Error::Limit(format!(
            "{} tracks, at most {MAX_TRACKS}",
            tracks.len()
        )));
    }
    for (i, t) in tracks.iter().enumerate() {
        if t.id == 0 {
            return invalid("track id 0".into());
        }
        if tracks[..i].iter().any(|o| o.id == t.id) {
            return invalid(format!("track id {} twice", t.id));
        }
        if t.timescale == 0 {
            return invalid(format!("track {}: timescale 0", t.id));
        }
        let config_len = match &t.codec {
            CodecConfig::Avc { avcc } => avcc.len(),
            CodecConfig::Hevc { hvcc } => hvcc.len(),
            CodecConfig::Av1 { av1c } => av1c.len(),
            CodecConfig::Aac { asc } => asc.len(),
            CodecConfig::Opus { .. } => 1,
        };
        if config_len == 0 {
            return invalid(format!("track {}: empty codec configuration", t.id));
        }
        if config_len > crate::MAX_CONFIG_LEN {
            return invalid(format!(
                "track {}: codec configuration of {config_len} bytes",
                t.id
            ));
        }
        if is_video(&t.codec) {
            if t.width > 0xffff || t.height > 0xffff {
                return invalid(format!(
                    "track {}: {}x{} too large",
                    t.id, t.width, t.height
                ));
            }
        } else {
            if t.channels == 0 {
                return invalid(format!("track {}: 0 channels", t.id));
            }
            match t.codec {
                CodecConfig::Opus { .. } if t.channels > 2 => {
                    return invalid(format!(
                        "track {}: Opus with {} channels needs a channel mapping family",
                        t.id, t.channels
                    ))
                }
                CodecConfig::Aac { .. } if t.sample_rate == 0 || t.sample_rate > 0xffff => {
                    return invalid(format!("track {}: AAC at {} Hz", t.id, t.sample_rate))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_plain(tracks: &[TrackConfig]) -> Result<Bytes, Fmp4Error> {
        build(tracks, None)
    }

    fn video(id: u32, codec: CodecConfig) -> TrackConfig {
        TrackConfig {
            id,
            timescale: 90_000,
            codec,
            width: 640,
            height: 360,
            channels: 0,
            sample_rate: 0,
        }
    }

    fn avc() -> CodecConfig {
        CodecConfig::Avc {
            avcc: Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff, 0xe0, 0]),
        }
    }

    #[test]
    fn ftyp_lists_cmaf_brands_and_the_video_codecs() {
        let hevc = CodecConfig::Hevc {
            hvcc: Bytes::from_static(&[1; 23]),
        };
        let init = build_plain(&[video(1, avc()), video(2, hevc), video(3, avc())]).unwrap();
        let size = u32::from_be_bytes(init[..4].try_into().unwrap()) as usize;
        assert_eq!(
            &init[4..size],
            b"ftypiso5\0\0\x02\0iso5iso6mp41cmfcavc1hvc1"
        );
        assert_eq!(&init[size + 4..size + 8], b"moov");
    }

    #[test]
    fn inconsistent_tracks_are_invalid() {
        let invalid =
            |tracks: &[TrackConfig]| matches!(build_plain(tracks), Err(Fmp4Error::Invalid(_)));
        assert!(invalid(&[]));
        assert!(invalid(&[video(0, avc())]));
        assert!(invalid(&[video(1, avc()), video(1, avc())]));
        for empty in [
            CodecConfig::Avc { avcc: Bytes::new() },
            CodecConfig::Hevc { hvcc: Bytes::new() },
            CodecConfig::Av1 { av1c: Bytes::new() },
        ] {
            assert!(invalid(&[video(1, empty)]));
        }
        let mut aac = video(1, CodecConfig::Aac { asc: Bytes::new() });
        aac.channels = 2;
        aac.sample_rate = 48_000;
        assert!(invalid(&[aac.clone()]));
        aac.codec = CodecConfig::Aac {
            asc: Bytes::from_static(&[0x11, 0x90]),
        };
        assert!(build_plain(&[aac.clone()]).is_ok());
        aac.sample_rate = 96_000;
        assert!(invalid(&[aac.clone()]));
        let mut opus = aac;
        opus.codec = CodecConfig::Opus { pre_skip: 312 };
        opus.channels = 6;
        assert!(invalid(&[opus]));
        let mut zero = video(1, avc());
        zero.timescale = 0;
        assert!(invalid(&[zero]));
    }
}
