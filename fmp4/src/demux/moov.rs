//! `moov` read back into [`TrackConfig`]s, plus each track's `trex`
//! defaults (used by fragments that leave fields out).

use super::boxes::{children, find, fourcc_str, require, Cursor};
use crate::init::sample_entry::{OBJECT_TYPE_AAC, TAG_DECODER_CONFIG, TAG_DEC_SPECIFIC, TAG_ES};
use crate::{CodecConfig, Fmp4Error, TrackConfig, MAX_CONFIG_LEN, MAX_TRACKS};
use bytes::Bytes;

/// A track's `trex` defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TrackDefaults {
    pub(crate) track_id: u32,
    pub(crate) duration: u32,
    pub(crate) size: u32,
    pub(crate) flags: u32,
}

/// Parses a `moov` body.
pub(crate) fn parse(body: &Bytes) -> Result<(Vec<TrackConfig>, Vec<TrackDefaults>), Fmp4Error> {
    let kids = children(body)?;
    let mut tracks: Vec<TrackConfig> = Vec::new();
    for (_, trak_body) in kids.iter().filter(|(t, _)| t == b"trak") {
        if tracks.len() == MAX_TRACKS {
            return Err(Fmp4Error::Limit(format!("more than {MAX_TRACKS} tracks")));
        }
        let t = trak(trak_body)?;
        if tracks.iter().any(|o| o.id == t.id) {
            return Err(Fmp4Error::Malformed(format!("track id {} twice", t.id)));
        }
        tracks.push(t);
    }
    if tracks.is_empty() {
        return Err(Fmp4Error::Malformed("moov without tracks".into()));
    }
    let mut defaults = Vec::new();
    if let Some(mvex) = find(&kids, b"mvex") {
        for (_, trex) in children(mvex)?.iter().filter(|(t, _)| t == b"trex") {
            let (mut c, _, _) = Cursor::full(trex, "trex")?;
            let track_id = c.u32()?;
            c.skip(4)?; // default_sample_description_index
            defaults.push(TrackDefaults {
                track_id,
                duration: c.u32()?,
                size: c.u32()?,
                flags: c.u32()?,
            });
            if defaults.len() > MAX_TRACKS {
                return Err(Fmp4Error::Limit(format!("more than {MAX_TRACKS} trex")));
            }
        }
    }
    Ok((tracks, defaults))
}

fn trak(body: &Bytes) -> Result<TrackConfig, Fmp4Error> {
    let kids = children(body)?;
    let (mut c, version, _) = Cursor::full(require(&kids, b"tkhd")?, "tkhd")?;
    c.skip(if version == 1 { 16 } else { 8 })?; // creation, modification
    let id = c.u32()?;
    if id == 0 {
        return Err(Fmp4Error::Malformed("track id 0".into()));
    }
    let mdia = children(require(&kids, b"mdia")?)?;
    let (mut c, version, _) = Cursor::full(require(&mdia, b"mdhd")?, "mdhd")?;
    c.skip(if version == 1 { 16 } else { 8 })?;
    let timescale = c.u32()?;
    if timescale == 0 {
        return Err(Fmp4Error::Malformed(format!("track {id}: timescale 0")));
    }
    let minf = children(require(&mdia, b"minf")?)?;
    let stbl = children(require(&minf, b"stbl")?)?;
    let (mut c, _, _) = Cursor::full(require(&stbl, b"stsd")?, "stsd")?;
    if c.u32()? == 0 {
        return Err(Fmp4Error::Malformed(format!("track {id}: no sample entry")));
    }
    let entries = children(&c.rest())?;
    let (kind, entry) = entries
        .first()
        .ok_or_else(|| Fmp4Error::Malformed(format!("track {id}: no sample entry")))?;
    let mut track = TrackConfig {
        id,
        timescale,
        codec: CodecConfig::Opus { pre_skip: 0 },
        width: 0,
        height: 0,
        channels: 0,
        sample_rate: 0,
    };
    match kind {
        b"avc1" | b"avc3" | b"hvc1" | b"hev1" | b"av01" => visual(&mut track, kind, entry)?,
        b"mp4a" | b"Opus" => audio(&mut track, kind, entry)?,
        other => {
            return Err(Fmp4Error::Unsupported(format!(
                "track {id}: sample entry {}",
                fourcc_str(other)
            )))
        }
    }
    Ok(track)
}

/// A configuration record box's body, bounded and not empty.
fn config(kids: &[([u8; 4], Bytes)], fourcc: &[u8; 4]) -> Result<Bytes, Fmp4Error> {
    let b = require(kids, fourcc)?;
    if b.is_empty() || b.len() > MAX_CONFIG_LEN {
        return Err(Fmp4Error::Malformed(format!(
            "{} of {} bytes",
            fourcc_str(fourcc),
            b.len()
        )));
    }
    Ok(b.clone())
}

fn visual(track: &mut TrackConfig, kind: &[u8; 4], entry: &Bytes) -> Result<(), Fmp4Error> {
    let mut c = Cursor::new(entry, "visual sample entry");
    c.skip(24)?; // reserved, data_reference_index, pre_defined, reserved
    track.width = u32::from(c.u16()?);
    track.height = u32::from(c.u16()?);
    c.skip(50)?; // resolutions, reserved, frame_count, compressorname, depth, pre_defined
    let kids = children(&c.rest())?;
    track.codec = match kind {
        b"avc1" | b"avc3" => CodecConfig::Avc {
            avcc: config(&kids, b"avcC")?,
        },
        b"hvc1" | b"hev1" => CodecConfig::Hevc {
            hvcc: config(&kids, b"hvcC")?,
        },
        _ => CodecConfig::Av1 {
            av1c: config(&kids, b"av1C")?,
        },
    };
    Ok(())
}

fn audio(track: &mut TrackConfig, kind: &[u8; 4], entry: &Bytes) -> Result<(), Fmp4Error> {
    let mut c = Cursor::new(entry, "audio sample entry");
    c.skip(8)?; // reserved, data_reference_index
    let version = c.u16()?; // QuickTime's sound sample description version
    c.skip(6)?;
    track.channels = c.u16()?;
    c.skip(6)?; // samplesize, pre_defined, reserved
    track.sample_rate = c.u32()? >> 16;
    match version {
        0 => {}
        1 => c.skip(16)?,
        2 => c.skip(36)?,
        v => {
            return Err(Fmp4Error::Unsupported(format!(
                "audio sample entry version {v}"
            )))
        }
    }
    let kids = children(&c.rest())?;
    if kind == b"mp4a" {
        let asc = esds(require(&kids, b"esds")?)?;
        track.codec = CodecConfig::Aac { asc };
    } else {
        let dops = require(&kids, b"dOps")?;
        let mut c = Cursor::new(dops, "dOps");
        if c.u8()? != 0 {
            return Err(Fmp4Error::Unsupported("dOps version".into()));
        }
        track.channels = u16::from(c.u8()?);
        let pre_skip = c.u16()?;
        track.sample_rate = c.u32()?;
        c.skip(2)?; // OutputGain
        if c.u8()? != 0 {
            return Err(Fmp4Error::Unsupported("Opus channel mapping family".into()));
        }
        track.codec = CodecConfig::Opus { pre_skip };
    }
    Ok(())
}

/// A descriptor's tag and body (ISO/IEC 14496-1 §8.3.3: up to four 7-bit
/// length groups).
fn descriptor(c: &mut Cursor<'_>) -> Result<(u8, Bytes), Fmp4Error> {
    let tag = c.u8()?;
    let mut len = 0usize;
    for i in 0..4 {
        let b = c.u8()?;
        len = (len << 7) | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            break;
        }
        if i == 3 {
            return Err(Fmp4Error::Malformed(
                "descriptor length over 4 bytes".into(),
            ));
        }
    }
    Ok((tag, c.take(len)?))
}

/// The AudioSpecificConfig from `esds`.
fn esds(body: &Bytes) -> Result<Bytes, Fmp4Error> {
    let (mut c, _, _) = Cursor::full(body, "esds")?;
    let (tag, es) = descriptor(&mut c)?;
    if tag != TAG_ES {
        return Err(Fmp4Error::Malformed(format!("esds starts with tag {tag}")));
    }
    let mut c = Cursor::new(&es, "ES_Descriptor");
    c.skip(2)?; // ES_ID
    let flags = c.u8()?;
    if flags & 0x80 != 0 {
        c.skip(2)?; // dependsOn_ES_ID
    }
    if flags & 0x40 != 0 {
        let n = c.u8()?;
        c.skip(usize::from(n))?; // URL
    }
    if flags & 0x20 != 0 {
        c.skip(2)?; // OCR_ES_Id
    }
    while c.remaining() > 0 {
        let (tag, dcd) = descriptor(&mut c)?;
        if tag != TAG_DECODER_CONFIG {
            continue;
        }
        let mut d = Cursor::new(&dcd, "DecoderConfigDescriptor");
        let object_type = d.u8()?;
        // MPEG-4 audio, or the MPEG-2 AAC profiles.
        if object_type != OBJECT_TYPE_AAC && !(0x66..=0x68).contains(&object_type) {
            return Err(Fmp4Error::Unsupported(format!(
                "esds objectTypeIndication {object_type:#x}"
            )));
        }
        d.skip(12)?; // streamType, bufferSizeDB, maxBitrate, avgBitrate
        while d.remaining() > 0 {
            let (tag, dsi) = descriptor(&mut d)?;
            if tag == TAG_DEC_SPECIFIC {
                if dsi.is_empty() || dsi.len() > MAX_CONFIG_LEN {
                    return Err(Fmp4Error::Malformed(format!(
                        "AudioSpecificConfig of {} bytes",
                        dsi.len()
                    )));
                }
                return Ok(dsi);
            }
        }
    }
    Err(Fmp4Error::Malformed(
        "esds without AudioSpecificConfig".into(),
    ))
}
