//! `moov`: `mvhd`, one `trak` per track (with empty sample tables: the
//! samples live in fragments) and `mvex` with a `trex` per track.

use super::{is_video, sample_entry};
use crate::write::BoxWriter;
use crate::{Fmp4Error, TrackConfig};

/// Timescale of `mvhd` and `mehd`: milliseconds.
const MOVIE_TIMESCALE: u32 = 1000;
/// The identity transformation matrix of `mvhd`/`tkhd`.
const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];
/// `tkhd` flags: track_enabled | track_in_movie.
const TKHD_FLAGS: u32 = 0x000003;
/// ISO-639-2/T `und`, packed as three 5-bit letters.
const LANGUAGE_UND: u16 = 0x55c4;

/// Writes `moov`; `tracks` are already validated.
/// With `duration_ms`, `mvhd` carries it and `mvex` starts with a `mehd`
/// (version 1, 64-bit, when it does not fit 32 bits); without it both say
/// nothing (a live stream).
pub(crate) fn write(
    w: &mut BoxWriter,
    tracks: &[TrackConfig],
    duration_ms: Option<u64>,
) -> Result<(), Fmp4Error> {
    let moov = w.open(b"moov");
    mvhd(w, tracks, duration_ms.unwrap_or(0))?;
    for t in tracks {
        trak(w, t)?;
    }
    let mvex = w.open(b"mvex");
    if let Some(duration) = duration_ms {
        match u32::try_from(duration) {
            Ok(d) => {
                let mehd = w.open_full(b"mehd", 0, 0);
                w.u32(d);
                w.close(mehd)?;
            }
            Err(_) => {
                let mehd = w.open_full(b"mehd", 1, 0);
                w.u64(duration);
                w.close(mehd)?;
            }
        }
    }
    for t in tracks {
        let trex = w.open_full(b"trex", 0, 0);
        w.u32(t.id);
        w.u32(1); // default_sample_description_index
        w.u32(0); // default_sample_duration
        w.u32(0); // default_sample_size
        w.u32(0); // default_sample_flags
        w.close(trex)?;
    }
    w.close(mvex)?;
    w.close(moov)
}

fn mvhd(w: &mut BoxWriter, tracks: &[TrackConfig], duration: u64) -> Result<(), Fmp4Error> {
    let next_id = tracks
        .iter()
        .map(|t| t.id)
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    let b = match u32::try_from(duration) {
        Ok(d) => {
            let b = w.open_full(b"mvhd", 0, 0);
            w.u32(0); // creation_time
            w.u32(0); // modification_time
            w.u32(MOVIE_TIMESCALE);
            w.u32(d);
            b
        }
        Err(_) => {
            let b = w.open_full(b"mvhd", 1, 0);
            w.u64(0); // creation_time
            w.u64(0); // modification_time
            w.u32(MOVIE_TIMESCALE);
            w.u64(duration);
            b
        }
    };
    w.u32(0x0001_0000); // rate 1.0
    w.u16(0x0100); // volume 1.0
    w.zeros(10); // reserved
    matrix(w);
    w.zeros(24); // pre_defined
    w.u32(next_id);
    w.close(b)
}

fn matrix(w: &mut BoxWriter) {
    for m in MATRIX {
        w.u32(m);
    }
}

fn trak(w: &mut BoxWriter, t: &TrackConfig) -> Result<(), Fmp4Error> {
    let video = is_video(&t.codec);
    let trak = w.open(b"trak");
    let tkhd = w.open_full(b"tkhd", 0, TKHD_FLAGS);
    w.u32(0); // creation_time
    w.u32(0); // modification_time
    w.u32(t.id);
    w.u32(0); // reserved
    w.u32(0); // duration
    w.zeros(8); // reserved
    w.u16(0); // layer
    w.u16(0); // alternate_group
    w.u16(if video { 0 } else { 0x0100 }); // volume
    w.u16(0); // reserved
    matrix(w);
    let (width, height) = if video { (t.width, t.height) } else { (0, 0) };
    w.u32(width << 16); // 16.16 (checked ≤ 65535)
    w.u32(height << 16);
    w.close(tkhd)?;

    let mdia = w.open(b"mdia");
    let mdhd = w.open_full(b"mdhd", 0, 0);
    w.u32(0); // creation_time
    w.u32(0); // modification_time
    w.u32(t.timescale);
    w.u32(0); // duration
    w.u16(LANGUAGE_UND);
    w.u16(0); // pre_defined
    w.close(mdhd)?;
    let hdlr = w.open_full(b"hdlr", 0, 0);
    w.u32(0); // pre_defined
    w.bytes(if video { b"vide" } else { b"soun" });
    w.zeros(12); // reserved
    w.bytes(if video {
        b"VideoHandler\0"
    } else {
        b"SoundHandler\0"
    });
    w.close(hdlr)?;
    minf(w, t, video)?;
    w.close(mdia)?;
    w.close(trak)
}

fn minf(w: &mut BoxWriter, t: &TrackConfig, video: bool) -> Result<(), Fmp4Error> {
    let minf = w.open(b"minf");
    if video {
        let vmhd = w.open_full(b"vmhd", 0, 1);
        w.u16(0); // graphicsmode
        w.zeros(6); // opcolor
        w.close(vmhd)?;
    } else {
        let smhd = w.open_full(b"smhd", 0, 0);
        w.u16(0); // balance
        w.u16(0); // reserved
        w.close(smhd)?;
    }
    let dinf = w.open(b"dinf");
    let dref = w.open_full(b"dref", 0, 0);
    w.u32(1); // entry_count
    let url = w.open_full(b"url ", 0, 1); // self-contained
    w.close(url)?;
    w.close(dref)?;
    w.close(dinf)?;

    let stbl = w.open(b"stbl");
    let stsd = w.open_full(b"stsd", 0, 0);
    w.u32(1); // entry_count
    sample_entry::write(w, t)?;
    w.close(stsd)?;
    for table in [b"stts", b"stsc", b"stco"] {
        let b = w.open_full(table, 0, 0);
        w.u32(0); // entry_count
        w.close(b)?;
    }
    let stsz = w.open_full(b"stsz", 0, 0);
    w.u32(0); // sample_size
    w.u32(0); // sample_count
    w.close(stsz)?;
    w.close(stbl)?;
    w.close(minf)
}
