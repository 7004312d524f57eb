//! Recovery at start, on a disk thread: files a crash left open are cut
//! back to their last whole fragment, their sidecar rebuilt when it falls
//! short, and their rows closed; a catalogue that could not be opened is
//! rebuilt by walking `record.dir`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use fmp4::{CodecConfig, Demuxer, Event};

use super::catalogue::{Catalogue, FileEntry, Row};
use super::index::{self, FragmentEntry, RECORD_LEN};
use super::layout::{self, Utc};

/// A file as recovery left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// Bytes kept (init and whole fragments).
    pub bytes: u64,
    /// Its fragments.
    pub fragments: Vec<FragmentEntry>,
}

/// Closes the rows a crash left open.
pub fn repair(catalogue: &Catalogue, root: &Path) {
    let rows = match catalogue.open_files() {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "recovery: catalogue unreadable");
            return;
        }
    };
    let mut fixed = Vec::new();
    let mut gone = Vec::new();
    for (stream, start, mut entry) in rows {
        let path = root.join(&entry.path);
        match repair_file(&path) {
            Ok(r) if r.fragments.is_empty() => {
                // Created, then the crash before its first fragment: an init
                // segment alone does not play.
                tracing::warn!(file = %entry.path, "recovery: recording without a fragment removed");
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_file(super::layout::index_path(&path));
                gone.push((stream, start));
            }
            Ok(r) => {
                tracing::warn!(file = %entry.path, bytes = r.bytes, fragments = r.fragments.len(), "recovery: recording left open by a crash closed");
                entry.bytes = r.bytes;
                entry.fragments = r.fragments.len() as u64;
                let last = r.fragments.last().map_or(0, |f| f.time_ms);
                entry.end_ms = entry.end_ms.max(start + last);
                entry.open = false;
                fixed.push((stream, start, entry));
            }
            Err(e) => {
                tracing::warn!(file = %entry.path, error = %e, "recovery: recording left open is unreadable: row removed");
                gone.push((stream, start));
            }
        }
    }
    if let Err(e) = catalogue.upsert(&fixed, true) {
        tracing::error!(error = %e, "recovery: catalogue not updated");
    }
    if let Err(e) = catalogue.remove(&gone) {
        tracing::error!(error = %e, "recovery: catalogue not updated");
    }
}

/// Cuts `mp4` back to its last whole fragment and makes its sidecar match.
/// The sidecar is trusted up to the file's end when nothing whole follows
/// what it covers; otherwise the file is read to rebuild it.
///
/// # Errors
/// The file cannot be read or written.
pub fn repair_file(mp4: &Path) -> std::io::Result<Repaired> {
    let idx_path = layout::index_path(mp4);
    let mut file = OpenOptions::new().read(true).write(true).open(mp4)?;
    let len = file.metadata()?.len();
    let sidecar = std::fs::read(&idx_path).unwrap_or_default();
    let mut fragments: Vec<FragmentEntry> = Vec::new();
    for e in index::decode_all(&sidecar) {
        let follows = fragments.last().is_none_or(|l| l.end() == e.offset);
        if !follows || e.end() > len {
            break;
        }
        fragments.push(e);
    }
    let covered = fragments.last().map(FragmentEntry::end);
    let (keep, fragments) = match covered {
        Some(end) if !whole_fragment_at(&mut file, end, len)? => (end, fragments),
        _ => {
            let mut bytes = Vec::new();
            file.seek(SeekFrom::Start(0))?;
            file.read_to_end(&mut bytes)?;
            let scan = index::rebuild(&bytes);
            (scan.complete_len, scan.fragments)
        }
    };
    file.set_len(keep)?;
    file.sync_all()?;
    let mut idx = File::create(&idx_path)?;
    let mut out = Vec::with_capacity(fragments.len() * RECORD_LEN);
    for f in &fragments {
        out.extend_from_slice(&f.encode());
    }
    idx.write_all(&out)?;
    idx.sync_all()?;
    Ok(Repaired {
        bytes: keep,
        fragments,
    })
}

/// Whether a whole `moof` + `mdat` starts at `at`.
fn whole_fragment_at(file: &mut File, at: u64, len: u64) -> std::io::Result<bool> {
    let mut pos = at;
    for kind in [b"moof", b"mdat"] {
        if pos + 8 > len {
            return Ok(false);
        }
        let mut head = [0u8; 8];
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut head)?;
        let size = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        if &head[4..] != kind || size < 8 {
            return Ok(false);
        }
        pos += size;
    }
    Ok(pos <= len)
}

/// Rebuilds the catalogue from the files under `root`
/// (`app/stream/YYYY-MM-DD/HH-MM-SS[_n].mp4`), repairing each.
pub fn rebuild(catalogue: &Catalogue, root: &Path) {
    let mut rows = Vec::new();
    walk(root, root, 0, &mut rows);
    tracing::warn!(
        files = rows.len(),
        "recovery: catalogue rebuilt from the files"
    );
    if let Err(e) = catalogue.upsert(&rows, true) {
        tracing::error!(error = %e, "recovery: rebuilt catalogue not written");
    }
}

fn walk(root: &Path, dir: &Path, depth: usize, rows: &mut Vec<Row>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() && depth < 16 {
            walk(root, &path, depth + 1, rows);
        } else if name.ends_with(".mp4") {
            if let Some(row) = row_of(root, &path) {
                rows.push(row);
            }
        }
    }
}

/// The row of a recorded file, from its place and its contents.
fn row_of(root: &Path, path: &Path) -> Option<Row> {
    let rel = path.strip_prefix(root).ok()?.to_string_lossy().into_owned();
    let parts: Vec<&str> = rel.split('/').collect();
    let [stream_parts @ .., day, file] = parts.as_slice() else {
        return None;
    };
    if stream_parts.len() < 2 {
        return None;
    }
    let start_ms = start_of(day, file)?;
    let repaired = repair_file(path).ok()?;
    let last = repaired.fragments.last().map_or(0, |f| f.time_ms);
    let entry = FileEntry {
        end_ms: start_ms + last,
        bytes: repaired.bytes,
        path: rel.clone(),
        open: false,
        tracks: tracks_of(path).unwrap_or_default(),
        fragments: repaired.fragments.len() as u64,
    };
    Some((stream_parts.join("/"), start_ms, entry))
}

/// Unix ms of `YYYY-MM-DD` / `HH-MM-SS[_n].mp4` (a `_n` file started
/// within the same second: a few ms later, to keep rows apart).
fn start_of(day: &str, file: &str) -> Option<u64> {
    let stem = file.strip_suffix(".mp4")?;
    let (time, n) = match stem.split_once('_') {
        Some((t, n)) => (t, n.parse::<u64>().ok()?),
        None => (stem, 0),
    };
    let num = |s: &str| s.parse::<u32>().ok();
    let d: Vec<&str> = day.split('-').collect();
    let t: Vec<&str> = time.split('-').collect();
    let ([y, mo, da], [h, mi, s]) = (d.as_slice(), t.as_slice()) else {
        return None;
    };
    let utc = Utc {
        year: y.parse().ok()?,
        month: num(mo)?,
        day: num(da)?,
        hour: num(h)?,
        minute: num(mi)?,
        second: num(s)?,
    };
    Some(utc.to_ms()? + n.min(999))
}

/// `"h264+aac"` from the file's init segment.
fn tracks_of(path: &Path) -> Option<String> {
    let mut head = Vec::new();
    File::open(path)
        .ok()?
        .take(1 << 20)
        .read_to_end(&mut head)
        .ok()?;
    let mut d = Demuxer::new();
    d.push(&head);
    let Ok(Some(Event::Init(tracks))) = d.next_event() else {
        return None;
    };
    let names: Vec<&str> = tracks
        .iter()
        .map(|t| match t.codec {
            CodecConfig::Avc { .. } => "h264",
            CodecConfig::Hevc { .. } => "h265",
            CodecConfig::Av1 { .. } => "av1",
            CodecConfig::Aac { .. } => "aac",
            CodecConfig::Opus { .. } => "opus",
        })
        .collect();
    Some(names.join("+"))
}

#[cfg(test)]
#[path = "recover_tests.rs"]
mod tests;
