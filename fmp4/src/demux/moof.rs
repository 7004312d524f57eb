//! `moof` + `mdat` read back into [`TrackRun`]s; sample data is sliced
//! from the `mdat` body.

use super::boxes::{children, find, require, Cursor};
use super::moov::TrackDefaults;
use crate::fragment::{
    IS_NON_SYNC, TFHD_DEFAULT_BASE_IS_MOOF, TRUN_CTS, TRUN_DATA_OFFSET, TRUN_DURATION,
    TRUN_FIRST_SAMPLE_FLAGS, TRUN_FLAGS, TRUN_SIZE,
};
use crate::{Fmp4Error, Sample, TrackRun, MAX_SAMPLES_PER_FRAGMENT, MAX_TRACKS};
use bytes::Bytes;

/// `tfhd` flags.
const TFHD_BASE_DATA_OFFSET: u32 = 0x01;
const TFHD_DESCRIPTION_INDEX: u32 = 0x02;
const TFHD_DURATION: u32 = 0x08;
const TFHD_SIZE: u32 = 0x10;
const TFHD_FLAGS: u32 = 0x20;

/// Where a fragment's `mdat` data lies: its body, and the body's first
/// byte counted from the start of the `moof`.
#[derive(Debug)]
pub(crate) struct Mdat {
    pub(crate) body: Bytes,
    pub(crate) start: u64,
}

/// Parses a `moof` body with the `mdat` that followed it. `tracks` are the
/// init segment's (empty when none was read: any track id goes, no defaults).
pub(crate) fn parse(
    moof: &Bytes,
    mdat: &Mdat,
    tracks: &[TrackDefaults],
) -> Result<(u32, Vec<TrackRun>), Fmp4Error> {
    let kids = children(moof)?;
    let (mut c, _, _) = Cursor::full(require(&kids, b"mfhd")?, "mfhd")?;
    let sequence = c.u32()?;
    let mut runs = Vec::new();
    // Without default-base-is-moof or a base offset, a traf's data starts
    // where the previous traf's ended (the first one's at the moof).
    let mut data_end: u64 = 0;
    let mut total = 0usize;
    for (_, traf) in kids.iter().filter(|(t, _)| t == b"traf") {
        if runs.len() == MAX_TRACKS {
            return Err(Fmp4Error::Limit(format!("more than {MAX_TRACKS} traf")));
        }
        let (run, end) = parse_traf(traf, mdat, tracks, data_end, &mut total)?;
        data_end = end;
        runs.push(run);
    }
    Ok((sequence, runs))
}

/// One `traf`: its run (all its `trun`s) and where its data ended.
fn parse_traf(
    traf: &Bytes,
    mdat: &Mdat,
    tracks: &[TrackDefaults],
    data_end: u64,
    total: &mut usize,
) -> Result<(TrackRun, u64), Fmp4Error> {
    let kids = children(traf)?;
    let (mut c, _, flags) = Cursor::full(require(&kids, b"tfhd")?, "tfhd")?;
    let track_id = c.u32()?;
    let mut defaults = if tracks.is_empty() {
        TrackDefaults::default()
    } else {
        *tracks
            .iter()
            .find(|t| t.track_id == track_id)
            .ok_or_else(|| Fmp4Error::Malformed(format!("traf of unknown track {track_id}")))?
    };
    if flags & TFHD_BASE_DATA_OFFSET != 0 {
        return Err(Fmp4Error::Unsupported(
            "tfhd base_data_offset (file offsets)".into(),
        ));
    }
    if flags & TFHD_DESCRIPTION_INDEX != 0 {
        c.skip(4)?;
    }
    if flags & TFHD_DURATION != 0 {
        defaults.duration = c.u32()?;
    }
    if flags & TFHD_SIZE != 0 {
        defaults.size = c.u32()?;
    }
    if flags & TFHD_FLAGS != 0 {
        defaults.flags = c.u32()?;
    }
    let base = if flags & TFHD_DEFAULT_BASE_IS_MOOF != 0 {
        0
    } else {
        data_end
    };
    let base_decode_time = match find(&kids, b"tfdt") {
        None => 0,
        Some(tfdt) => {
            let (mut c, version, _) = Cursor::full(tfdt, "tfdt")?;
            if version == 1 {
                c.u64()?
            } else {
                u64::from(c.u32()?)
            }
        }
    };
    let mut samples = Vec::new();
    let mut pos = base;
    for (_, trun) in kids.iter().filter(|(t, _)| t == b"trun") {
        pos = parse_trun(trun, mdat, &defaults, base, pos, &mut samples, total)?;
    }
    let run = TrackRun {
        track_id,
        base_decode_time,
        samples,
    };
    Ok((run, pos))
}

/// One `trun`'s samples appended to `samples`; returns where its data ended.
fn parse_trun(
    trun: &Bytes,
    mdat: &Mdat,
    defaults: &TrackDefaults,
    base: u64,
    mut pos: u64,
    samples: &mut Vec<Sample>,
    total: &mut usize,
) -> Result<u64, Fmp4Error> {
    let (mut c, _, flags) = Cursor::full(trun, "trun")?;
    let count = c.u32()? as usize;
    *total += count;
    if *total > MAX_SAMPLES_PER_FRAGMENT {
        return Err(Fmp4Error::Limit(format!(
            "more than {MAX_SAMPLES_PER_FRAGMENT} samples in a fragment"
        )));
    }
    if flags & TRUN_DATA_OFFSET != 0 {
        let offset = i64::from(c.u32()? as i32);
        pos = base
            .checked_add_signed(offset)
            .ok_or_else(|| Fmp4Error::Malformed("trun data offset before the moof".into()))?;
    }
    let first_flags = if flags & TRUN_FIRST_SAMPLE_FLAGS != 0 {
        Some(c.u32()?)
    } else {
        None
    };
    let per_sample = [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTS]
        .iter()
        .filter(|f| flags & **f != 0)
        .count()
        * 4;
    if c.remaining() < count * per_sample {
        return Err(Fmp4Error::Malformed(format!(
            "trun of {count} samples in {} bytes",
            c.remaining()
        )));
    }
    samples.reserve(count);
    for i in 0..count {
        let field = |c: &mut Cursor<'_>, bit: u32, default: u32| {
            if flags & bit != 0 {
                c.u32()
            } else {
                Ok(default)
            }
        };
        let duration = field(&mut c, TRUN_DURATION, defaults.duration)?;
        let size = field(&mut c, TRUN_SIZE, defaults.size)?;
        let default_flags = match (i, first_flags) {
            (0, Some(f)) => f,
            _ => defaults.flags,
        };
        let sample_flags = field(&mut c, TRUN_FLAGS, default_flags)?;
        let cts_offset = field(&mut c, TRUN_CTS, 0)? as i32;
        let data = slice(mdat, pos, size)?;
        pos += u64::from(size);
        samples.push(Sample {
            duration,
            cts_offset,
            keyframe: sample_flags & IS_NON_SYNC == 0,
            data,
        });
    }
    Ok(pos)
}

/// `size` bytes at `pos` (from the moof start), which must lie in the mdat.
fn slice(mdat: &Mdat, pos: u64, size: u32) -> Result<Bytes, Fmp4Error> {
    let outside = || {
        Fmp4Error::Malformed(format!(
            "sample of {size} bytes at {pos} outside the mdat ({} bytes at {})",
            mdat.body.len(),
            mdat.start
        ))
    };
    let at = pos.checked_sub(mdat.start).ok_or_else(outside)?;
    let end = at + u64::from(size);
    if end > mdat.body.len() as u64 {
        return Err(outside());
    }
    Ok(mdat.body.slice(at as usize..end as usize))
}
