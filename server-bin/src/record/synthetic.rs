//! Writing a recording without a recorder: the init segment, fragments, the
//! sidecar index and the catalogue row of one file, exactly as the layout
//! and index contracts describe them. For tests (recordings of known
//! content, several files, track changes) and the playback benchmark (an
//! hour at 2 Mbit/s in a second); the server's recorder writes its own.

use std::fs::{self, File};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use fmp4::{CodecConfig, TrackConfig, TrackRun};
use stream_core::StreamKey;

use super::catalogue::{Catalogue, FileEntry};
use super::index::{FragmentEntry, KEYFRAME};
use super::layout::{file_path, index_path, stream_name};
use crate::disk_path::stream_dir;

/// What [`write_file`] can fail with.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How the samples' data are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// Written: the file plays.
    Written,
    /// Left as holes of a sparse file (read back as zeros): an hour at
    /// megabits per second in a moment and no disk space, for measuring
    /// what does not decode the media.
    Holes,
}

/// Writes one recording of `key` started at `start_ms` (unix ms) under
/// `root`, with `fragments` (each a fragment's runs, times from the file's
/// start in each track's timescale), and upserts its catalogue row.
/// Returns the row.
///
/// # Errors
/// IO, a name that is not a safe path, what the muxer refuses, the catalogue.
pub fn write_file(
    root: &Path,
    catalogue: &Catalogue,
    key: &StreamKey,
    start_ms: u64,
    tracks: &[TrackConfig],
    fragments: impl IntoIterator<Item = Vec<TrackRun>>,
    data: Data,
) -> Result<FileEntry, Error> {
    let dir = stream_dir(root, key).ok_or("unsafe stream name")?;
    let relative = file_path(start_ms, 0);
    let mp4_path = dir.join(&relative);
    if let Some(parent) = mp4_path.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut mp4 = BufWriter::new(File::create(&mp4_path)?);
    let mut idx = BufWriter::new(File::create(index_path(&mp4_path))?);
    let init = fmp4::init_segment(tracks)?;
    mp4.write_all(&init)?;
    let mut offset = init.len() as u64;
    let mut count = 0u64;
    let mut end_ms = 0u64;
    let timescale = |id: u32| {
        tracks
            .iter()
            .find(|t| t.id == id)
            .map_or(1000, |t| t.timescale.max(1))
    };
    let is_video = |id: u32| tracks.iter().any(|t| t.id == id && t.width > 0);
    let has_video = tracks.iter().any(|t| t.width > 0);
    for (i, runs) in fragments.into_iter().enumerate() {
        let frag = fmp4::fragment(i as u32 + 1, &runs)?;
        if data == Data::Holes {
            mp4.write_all(&frag.header)?;
            let holes: usize = frag.payload.iter().map(|p| p.len()).sum();
            mp4.seek(SeekFrom::Current(i64::try_from(holes)?))?;
        } else {
            for part in frag.parts() {
                mp4.write_all(part)?;
            }
        }
        let video = runs.iter().find(|r| is_video(r.track_id));
        let first = video.or(runs.first()).ok_or("empty fragment")?;
        let ms = |run: &TrackRun, ticks: u64| {
            (u128::from(ticks) * 1000 / u128::from(timescale(run.track_id))) as u64
        };
        for run in &runs {
            let total: u64 = run.samples.iter().map(|s| u64::from(s.duration)).sum();
            end_ms = end_ms.max(ms(run, run.base_decode_time + total));
        }
        let keyframe = match video {
            Some(v) => v.samples.first().is_some_and(|s| s.keyframe),
            None => !has_video,
        };
        let entry = FragmentEntry {
            offset,
            size: u32::try_from(frag.len())?,
            flags: if keyframe { KEYFRAME } else { 0 },
            time_ms: ms(first, first.base_decode_time),
        };
        idx.write_all(&entry.encode())?;
        offset += frag.len() as u64;
        count += 1;
    }
    mp4.flush()?;
    mp4.get_ref().set_len(offset)?;
    idx.flush()?;
    let path = mp4_path
        .strip_prefix(root)?
        .to_str()
        .ok_or("non-UTF-8 path")?
        .to_string();
    let entry = FileEntry {
        end_ms: start_ms + end_ms,
        bytes: offset,
        path,
        open: false,
        tracks: tracks
            .iter()
            .map(|t| match t.codec {
                CodecConfig::Avc { .. } => "h264",
                CodecConfig::Hevc { .. } => "h265",
                CodecConfig::Av1 { .. } => "av1",
                CodecConfig::Aac { .. } => "aac",
                CodecConfig::Opus { .. } => "opus",
            })
            .collect::<Vec<_>>()
            .join("+"),
        fragments: count,
    };
    catalogue.upsert(&[(stream_name(key), start_ms, entry.clone())], true)?;
    Ok(entry)
}
