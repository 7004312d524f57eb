//! Playing back a recorded range as one fragmented MP4: which bytes of
//! which files, on one timeline, with its length known before a byte is
//! sent (so a download has a `Content-Length` and serves `Range`s).
//!
//! The plan ([`plan`]) reads the catalogue and the files' sidecar indexes,
//! the first file's init segment and one `moof` — never the media:
//! - **Files**: those overlapping `[start, start + duration)`, oldest first.
//! - **Fragments**: from the last keyframe fragment at or before `start` (a
//!   player needs one to decode anything), up to the first fragment at or
//!   after the end (not included).
//! - **Track change**: a file whose tracks differ from the first file's
//!   (another codec, resolution, sample rate: the publisher changed) ends
//!   the plan before it. One MP4 has one set of tracks, and a player given
//!   new parameters mid-file shows garbage; a caller who wants what follows
//!   asks again from there ([`Plan::track_change_ms`], the download's
//!   `X-Strom-Track-Change` header).
//! - **Timeline**: each file's decode times start at 0 at the file's start;
//!   the output's start at 0 at the plan's first fragment, each file shifted
//!   by its start relative to it (per track, in the track's timescale), so
//!   files follow each other as they were recorded (a gap between files
//!   stays a gap). `mfhd` sequence numbers run from 1.
//!
//! The output is the init segment rebuilt with the total duration
//! (`fmp4::init_segment_with_duration`: players show a seekable duration),
//! then the fragments as stored, each `moof` rewritten in place
//! (`fmp4::rewrite_moof_times`: same sizes, so the length is known).
//! [`Reader`] produces it from any offset, in chunks, with blocking reads:
//! run both under `spawn_blocking`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use fmp4::{Demuxer, Event, TrackConfig};

use super::catalogue::Catalogue;
use super::index::{decode_all, FragmentEntry};
use super::layout::index_path;
use super::RecordError;

/// Largest init segment or `moof` read.
pub const MAX_HEADER: u64 = 1 << 20;
/// Largest sidecar read (a day of 100 ms fragments is ~20 MiB).
const MAX_SIDECAR: u64 = 64 << 20;

/// One file of a plan.
#[derive(Debug, Clone)]
pub struct PlanFile {
    /// The mp4.
    pub path: PathBuf,
    /// Its start, unix ms.
    pub start_ms: u64,
    /// Per track id: ticks added to each `tfdt` (may be negative; results
    /// clamp at 0).
    pub shift: Vec<(u32, i64)>,
}

/// One fragment of a plan: bytes `offset..offset + size` of a file.
#[derive(Debug, Clone, Copy)]
pub struct Piece {
    /// Index into [`Plan::files`].
    pub file: usize,
    /// Offset of its `moof` in the file.
    pub offset: u64,
    /// `moof` + `mdat` bytes.
    pub size: u32,
    /// Where it starts in the output.
    pub at: u64,
}

/// What a playback sends: an init segment, then fragments.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The tracks (the first file's).
    pub tracks: Vec<TrackConfig>,
    /// The init segment, with the total duration.
    pub init: Bytes,
    /// The files the fragments come from.
    pub files: Vec<PlanFile>,
    /// The fragments in output order.
    pub pieces: Vec<Piece>,
    /// Bytes of the whole output.
    pub len: u64,
    /// Unix ms of the output's time 0 (the first keyframe).
    pub start_ms: u64,
    /// Duration of the output, ms.
    pub duration_ms: u64,
    /// When a track change ended the plan early: the start (unix ms) of
    /// the first file left out.
    pub track_change_ms: Option<u64>,
}

fn io_err(what: String) -> RecordError {
    RecordError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, what))
}

/// Reads `len` bytes at `offset` of `file`.
fn read_at(file: &File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// A file's sidecar index, bounded.
fn sidecar(mp4: &Path) -> Result<Vec<FragmentEntry>, RecordError> {
    let file = File::open(index_path(mp4))?;
    let len = file.metadata()?.len().min(MAX_SIDECAR);
    Ok(decode_all(&read_at(&file, 0, len as usize)?))
}

/// A file's tracks, from its init segment (`init_len` bytes at its start).
fn tracks_of(file: &File, init_len: u64) -> Result<Vec<TrackConfig>, RecordError> {
    if init_len == 0 || init_len > MAX_HEADER {
        return Err(io_err(format!("init segment of {init_len} bytes")));
    }
    let mut d = Demuxer::new();
    d.push(&read_at(file, 0, init_len as usize)?);
    match d.next_event() {
        Ok(Some(Event::Init(tracks))) => Ok(tracks),
        Ok(_) => Err(io_err("no init segment at the file's start".into())),
        Err(e) => Err(io_err(format!("init segment: {e}"))),
    }
}

/// The length of the `moof` at `offset`, from its header, checked.
fn moof_len(file: &File, offset: u64, size: u32) -> std::io::Result<usize> {
    let head = read_at(file, offset, 8)?;
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if &head[4..8] != b"moof" || len < 8 || len > size || u64::from(len) > MAX_HEADER {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("no moof of a sane size at offset {offset}"),
        ));
    }
    Ok(len as usize)
}

/// Plans the playback of `stream` (`"app/stream"`) over
/// `[start_ms, start_ms + duration_ms)`. Blocking (catalogue, sidecars, one
/// init segment, one `moof`).
///
/// # Errors
/// [`RecordError::NothingRecorded`] when no fragment lies in the range;
/// [`RecordError::Catalogue`]; [`RecordError::Io`] for unreadable or
/// inconsistent files.
pub fn plan(
    catalogue: &Catalogue,
    root: &Path,
    stream: &str,
    start_ms: u64,
    duration_ms: u64,
) -> Result<Plan, RecordError> {
    let end_ms = start_ms.saturating_add(duration_ms);
    plan_rows(
        root,
        catalogue.list(stream, start_ms, end_ms)?,
        start_ms,
        end_ms,
    )
}

/// Plans the playback of one whole recorded file, named relative to
/// `root` (`app/stream/YYYY-MM-DD/HH-MM-SS.mp4`) and found in the catalogue
/// by its name's time. Blocking.
///
/// # Errors
/// [`RecordError::NothingRecorded`] for a name that is not a file of the
/// catalogue; as [`plan`].
pub fn plan_file(catalogue: &Catalogue, root: &Path, relative: &Path) -> Result<Plan, RecordError> {
    let text = relative.to_str().ok_or(RecordError::NothingRecorded)?;
    let mut parts: Vec<&str> = text.split('/').collect();
    let (Some(name), Some(day)) = (parts.pop(), parts.pop()) else {
        return Err(RecordError::NothingRecorded);
    };
    let hms = name
        .trim_end_matches(".mp4")
        .split('_')
        .next()
        .unwrap_or("");
    let second = super::layout::parse_time(&format!("{day}T{}Z", hms.replace('-', ":")))
        .ok_or(RecordError::NothingRecorded)?;
    let stream = parts.join("/");
    let row = catalogue
        .list(&stream, second, second + 1000)?
        .into_iter()
        .find(|(start, entry)| entry.path == text && *start < second + 1000)
        .ok_or(RecordError::NothingRecorded)?;
    let (start, end) = (row.0, row.1.end_ms.max(row.0 + 1));
    plan_rows(root, vec![row], start, end)
}

/// [`plan`] over catalogue rows (oldest first).
fn plan_rows(
    root: &Path,
    rows: Vec<(u64, super::catalogue::FileEntry)>,
    start_ms: u64,
    end_ms: u64,
) -> Result<Plan, RecordError> {
    let mut tracks: Option<Vec<TrackConfig>> = None;
    let mut files = Vec::new();
    let mut chosen: Vec<(usize, FragmentEntry, u64)> = Vec::new(); // (file, entry, end ms)
    let mut track_change_ms = None;
    for (file_start, entry) in rows {
        if file_start >= end_ms {
            break;
        }
        let path = root.join(&entry.path);
        let Ok(index) = sidecar(&path) else {
            tracing::warn!(file = %path.display(), "recording without a readable index: skipped");
            continue;
        };
        let Some(first) = index.first() else { continue };
        let file = File::open(&path)?;
        let file_len = file.metadata()?.len();
        let these = tracks_of(&file, first.offset)?;
        match &tracks {
            Some(t) if *t != these => {
                track_change_ms = Some(file_start);
                break;
            }
            Some(_) => {}
            None => tracks = Some(these),
        }
        let file_end = entry.end_ms.saturating_sub(file_start);
        let whole: Vec<&FragmentEntry> = index.iter().filter(|f| f.end() <= file_len).collect();
        // The first file: from the last keyframe at or before the start.
        let skip = if chosen.is_empty() {
            let at = start_ms.saturating_sub(file_start);
            let keys = whole.iter().enumerate().filter(|(_, f)| f.is_keyframe());
            let before = keys.clone().rfind(|(_, f)| f.time_ms <= at);
            match before.or_else(|| keys.clone().next()) {
                Some((i, _)) => i,
                None => continue,
            }
        } else {
            0
        };
        let n = files.len();
        let mut taken = 0;
        for (i, f) in whole.iter().enumerate().skip(skip) {
            if file_start + f.time_ms >= end_ms {
                break;
            }
            let next = whole.get(i + 1).map_or(file_end, |g| g.time_ms);
            chosen.push((n, **f, file_start + next.max(f.time_ms)));
            taken += 1;
        }
        if taken > 0 {
            files.push(PlanFile {
                path,
                start_ms: file_start,
                shift: Vec::new(),
            });
        }
    }
    let (Some(tracks), Some(&(_, first, _))) = (tracks, chosen.first()) else {
        return Err(RecordError::NothingRecorded);
    };
    // The output's time 0: the earliest track start in the first fragment.
    let origin_us =
        i128::from(files[0].start_ms) * 1000 + i128::from(origin_us(&files[0], first, &tracks)?);
    for f in &mut files {
        let from_origin_us = i128::from(f.start_ms) * 1000 - origin_us;
        f.shift = tracks
            .iter()
            .map(|t| {
                let ticks = (from_origin_us * i128::from(t.timescale)).div_euclid(1_000_000);
                (
                    t.id,
                    ticks.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
                )
            })
            .collect();
    }
    let plan_start_ms = (origin_us / 1000) as u64;
    let last_end = chosen.last().map_or(plan_start_ms, |c| c.2);
    let duration_ms = last_end.saturating_sub(plan_start_ms).max(1);
    let init = fmp4::init_segment_with_duration(&tracks, duration_ms)
        .map_err(|e| io_err(format!("init segment: {e}")))?;
    let mut at = init.len() as u64;
    let pieces = chosen
        .iter()
        .map(|&(file, f, _)| {
            let piece = Piece {
                file,
                offset: f.offset,
                size: f.size,
                at,
            };
            at += u64::from(f.size);
            piece
        })
        .collect();
    Ok(Plan {
        tracks,
        init,
        files,
        pieces,
        len: at,
        start_ms: plan_start_ms,
        duration_ms,
        track_change_ms,
    })
}

/// The earliest start (µs from the file's start) of any track in the
/// fragment `first` of `file`.
fn origin_us(
    file: &PlanFile,
    first: FragmentEntry,
    tracks: &[TrackConfig],
) -> Result<u64, RecordError> {
    let f = File::open(&file.path)?;
    let len = moof_len(&f, first.offset, first.size)?;
    let mut moof = read_at(&f, first.offset, len)?;
    let mut earliest: Option<u64> = None;
    fmp4::rewrite_moof_times(&mut moof, 1, |track, tfdt| {
        let ts = tracks.iter().find(|t| t.id == track)?.timescale;
        let us = (u128::from(tfdt) * 1_000_000 / u128::from(ts.max(1))) as u64;
        earliest = Some(earliest.map_or(us, |e| e.min(us)));
        Some(tfdt)
    })
    .map_err(|e| io_err(format!("{}: {e}", file.path.display())))?;
    Ok(earliest.unwrap_or(first.time_ms * 1000))
}

/// Produces a plan's output from any offset, in chunks. Keeps the file and
/// the `moof` length of the fragment it is in between chunks. Blocking.
#[derive(Debug)]
pub struct Reader {
    plan: std::sync::Arc<Plan>,
    open: Option<(usize, File)>,
    /// (piece, its moof's length)
    moof: Option<(usize, usize)>,
}

impl Reader {
    /// A reader of `plan`.
    pub fn new(plan: std::sync::Arc<Plan>) -> Reader {
        Reader {
            plan,
            open: None,
            moof: None,
        }
    }

    /// The plan read.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Up to `max` bytes (at least 1 unless `pos` is at the end) of the
    /// output from `pos`; a chunk never spans two fragments. A chunk that
    /// starts inside a `moof` is read with the whole `moof` (to rewrite it),
    /// so a read may take `max` plus a `moof`.
    ///
    /// # Errors
    /// A file that cannot be read, or a `moof` that no longer checks out.
    pub fn read(&mut self, pos: u64, max: usize) -> std::io::Result<Bytes> {
        let plan = self.plan.clone();
        if pos >= plan.len || max == 0 {
            return Ok(Bytes::new());
        }
        let init_len = plan.init.len() as u64;
        if pos < init_len {
            let end = init_len.min(pos + max as u64);
            return Ok(plan.init.slice(pos as usize..end as usize));
        }
        let i = plan.pieces.partition_point(|p| p.at <= pos) - 1;
        let piece = plan.pieces[i];
        let file_info = &plan.files[piece.file];
        if self.open.as_ref().map(|o| o.0) != Some(piece.file) {
            self.open = Some((piece.file, File::open(&file_info.path)?));
        }
        let Some((_, file)) = self.open.as_ref() else {
            return Ok(Bytes::new());
        };
        let local = pos - piece.at;
        let size = u64::from(piece.size);
        let moof = match self.moof {
            Some((p, len)) if p == i => len,
            _ => {
                let len = moof_len(file, piece.offset, piece.size)?;
                self.moof = Some((i, len));
                len
            }
        };
        let want_end = size.min(local + max as u64);
        if local >= moof as u64 {
            let data = read_at(file, piece.offset + local, (want_end - local) as usize)?;
            return Ok(Bytes::from(data));
        }
        let read_end = want_end.max(moof as u64);
        let mut data = read_at(file, piece.offset, read_end as usize)?;
        let sequence = (i + 1) as u32;
        let shift = &file_info.shift;
        fmp4::rewrite_moof_times(&mut data, sequence, |track, tfdt| {
            let s = shift.iter().find(|(t, _)| *t == track)?.1;
            Some((i128::from(tfdt) + i128::from(s)).clamp(0, i128::from(u64::MAX)) as u64)
        })
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        let out = Bytes::from(data).slice(local as usize..want_end as usize);
        Ok(out)
    }
}

#[cfg(test)]
#[path = "playback_tests.rs"]
pub(crate) mod tests;
