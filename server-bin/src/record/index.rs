//! A recording's fragment index: the sidecar `.{name}.mp4.idx` beside each
//! file, one fixed-size record per fragment, appended after the fragment
//! itself was written.
//!
//! Why a sidecar and not the catalogue: a `get` of ten minutes from inside a
//! one-hour file must find its first keyframe and the byte length of what
//! it will send without reading the hour (one read of ~86 KiB instead of
//! 3,600 `moof` lookups), and per-fragment rows for months of many streams
//! would make the catalogue hundreds of millions of rows. The sidecar goes
//! with its file (retention deletes both) and can be rebuilt from the file
//! ([`rebuild`]), so after a crash the file, not the sidecar, is the truth.
//!
//! Record, 24 bytes, little-endian: `offset: u64` (of the fragment's `moof`
//! in the mp4), `size: u32` (`moof` + `mdat`), `flags: u32`
//! ([`KEYFRAME`]), `time_ms: u64` (the fragment's start, from the file's
//! start). A torn last record (a crash mid-append) is ignored.

use fmp4::{Demuxer, Event};

/// Bytes per record.
pub const RECORD_LEN: usize = 24;
/// Flag: the fragment starts with a video keyframe (or the file has no
/// video): a playback may start here.
pub const KEYFRAME: u32 = 1;

/// One fragment of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentEntry {
    /// Byte offset of the `moof` in the file.
    pub offset: u64,
    /// Bytes of `moof` + `mdat`.
    pub size: u32,
    /// [`KEYFRAME`] or 0.
    pub flags: u32,
    /// Start of the fragment, ms from the file's start.
    pub time_ms: u64,
}

impl FragmentEntry {
    /// Whether a playback may start at this fragment.
    pub fn is_keyframe(&self) -> bool {
        self.flags & KEYFRAME != 0
    }

    /// The end of the fragment in the file.
    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.size)
    }

    /// The record's bytes.
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[..8].copy_from_slice(&self.offset.to_le_bytes());
        out[8..12].copy_from_slice(&self.size.to_le_bytes());
        out[12..16].copy_from_slice(&self.flags.to_le_bytes());
        out[16..].copy_from_slice(&self.time_ms.to_le_bytes());
        out
    }

    /// One record from its bytes.
    pub fn decode(record: &[u8; RECORD_LEN]) -> FragmentEntry {
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&record[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let u32_at = |i: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&record[i..i + 4]);
            u32::from_le_bytes(b)
        };
        FragmentEntry {
            offset: u64_at(0),
            size: u32_at(8),
            flags: u32_at(12),
            time_ms: u64_at(16),
        }
    }
}

/// Every whole record of a sidecar's bytes (a torn tail is ignored).
pub fn decode_all(bytes: &[u8]) -> Vec<FragmentEntry> {
    bytes
        .chunks_exact(RECORD_LEN)
        .filter_map(|c| <&[u8; RECORD_LEN]>::try_from(c).ok())
        .map(FragmentEntry::decode)
        .collect()
}

/// What a scan of a recording found: its fragments and where its last whole
/// fragment ends (the length to truncate a torn file to).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Length of the init segment.
    pub init_len: u64,
    /// The fragments, in file order.
    pub fragments: Vec<FragmentEntry>,
    /// End of the last complete fragment (or of the init segment).
    pub complete_len: u64,
}

/// Rebuilds the index of a recording from its bytes (read whole: recovery
/// after a crash, not the playback path). Fragment times come from the
/// first track's `tfdt` in its timescale; a fragment is a keyframe when its
/// video run starts with a sync sample (or there is no video).
pub fn rebuild(file: &[u8]) -> Scan {
    let mut demuxer = Demuxer::new();
    let mut scan = Scan::default();
    let mut timescales: Vec<(u32, u32, bool)> = Vec::new(); // (track id, timescale, video)
    let mut pos = 0usize;
    // Feed box by box so each event's byte range is known.
    while pos + 8 <= file.len() {
        let size = u32::from_be_bytes([file[pos], file[pos + 1], file[pos + 2], file[pos + 3]]);
        let size = match size {
            0 | 2..=7 => break,
            1 if pos + 16 <= file.len() => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&file[pos + 8..pos + 16]);
                u64::from_be_bytes(b)
            }
            1 => break,
            n => u64::from(n),
        };
        let Some(end) = usize::try_from(size).ok().and_then(|s| pos.checked_add(s)) else {
            break;
        };
        if end > file.len() {
            break;
        }
        let kind = &file[pos + 4..pos + 8];
        demuxer.push(&file[pos..end]);
        pos = end;
        if kind == b"moof" {
            continue; // its event comes with the mdat
        }
        loop {
            match demuxer.next_event() {
                Ok(Some(Event::Init(tracks))) => {
                    timescales = tracks
                        .iter()
                        .map(|t| (t.id, t.timescale, t.width > 0 || t.height > 0))
                        .collect();
                    scan.init_len = end as u64;
                    scan.complete_len = end as u64;
                }
                Ok(Some(Event::Fragment { runs, .. })) => {
                    let moof = scan.complete_len;
                    let has_video = timescales.iter().any(|t| t.2);
                    let video = runs
                        .iter()
                        .find(|r| timescales.iter().any(|t| t.0 == r.track_id && t.2));
                    let keyframe = match video {
                        Some(run) => run.samples.first().is_some_and(|s| s.keyframe),
                        None => !has_video,
                    };
                    let first = video.or(runs.first());
                    let time_ms = first.map_or(0, |run| {
                        let scale = timescales
                            .iter()
                            .find(|t| t.0 == run.track_id)
                            .map_or(1000, |t| t.1.max(1));
                        (u128::from(run.base_decode_time) * 1000 / u128::from(scale)) as u64
                    });
                    scan.fragments.push(FragmentEntry {
                        offset: moof,
                        size: u32::try_from(end as u64 - moof).unwrap_or(u32::MAX),
                        flags: if keyframe { KEYFRAME } else { 0 },
                        time_ms,
                    });
                    scan.complete_len = end as u64;
                }
                Ok(None) => break,
                Err(_) => return scan,
            }
        }
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use fmp4::{Sample, TrackConfig, TrackRun};

    #[test]
    fn records_round_trip_and_torn_tails_are_ignored() {
        let e = FragmentEntry {
            offset: 1 << 40,
            size: 123_456,
            flags: KEYFRAME,
            time_ms: 3_599_000,
        };
        let mut bytes = e.encode().to_vec();
        bytes.extend_from_slice(&FragmentEntry { flags: 0, ..e }.encode());
        bytes.extend_from_slice(&[1, 2, 3]);
        let all = decode_all(&bytes);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], e);
        assert!(all[0].is_keyframe() && !all[1].is_keyframe());
        assert_eq!(all[0].end(), (1 << 40) + 123_456);
    }

    fn video() -> TrackConfig {
        crate::record::fixtures::video(640, 480)
    }

    fn frag(seq: u32, t: u64, key: bool) -> Bytes {
        let run = TrackRun {
            track_id: 1,
            base_decode_time: t,
            samples: vec![Sample {
                duration: 3600,
                cts_offset: 0,
                keyframe: key,
                data: Bytes::from(vec![0, 0, 0, 1, 0x65]),
            }],
        };
        fmp4::fragment(seq, &[run]).unwrap().to_bytes()
    }

    #[test]
    fn a_torn_file_is_scanned_up_to_its_last_whole_fragment() {
        let init = fmp4::init_segment(&[video()]).unwrap();
        let mut file = init.to_vec();
        let f1 = frag(1, 0, true);
        let f2 = frag(2, 90_000, false);
        file.extend_from_slice(&f1);
        file.extend_from_slice(&f2);
        let whole = file.len() as u64;
        file.extend_from_slice(&frag(3, 180_000, true)[..20]);
        let scan = rebuild(&file);
        assert_eq!(scan.init_len, init.len() as u64);
        assert_eq!(scan.complete_len, whole);
        assert_eq!(scan.fragments.len(), 2);
        assert_eq!(scan.fragments[0].offset, init.len() as u64);
        assert!(scan.fragments[0].is_keyframe());
        assert_eq!(scan.fragments[1].time_ms, 1000);
        assert!(!scan.fragments[1].is_keyframe());
        assert_eq!(scan.fragments[1].end(), whole);
        // Garbage never panics.
        for cut in 0..file.len() {
            let _ = rebuild(&file[..cut]);
        }
    }
}
