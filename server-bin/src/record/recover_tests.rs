use super::*;
use crate::record::fixtures::{video, TempDir};
use bytes::Bytes;
use fmp4::{Sample, TrackRun};

fn init_and_fragments(n: u32) -> (Bytes, Vec<Bytes>) {
    let track = video(320, 240);
    let init = fmp4::init_segment(&[track]).expect("init");
    let frags = (0..n)
        .map(|i| {
            let run = TrackRun {
                track_id: 1,
                base_decode_time: u64::from(i) * 90_000,
                samples: vec![Sample {
                    duration: 90_000,
                    cts_offset: 0,
                    keyframe: true,
                    data: Bytes::from(vec![7u8; 500]),
                }],
            };
            fmp4::fragment(i + 1, &[run]).expect("fragment").to_bytes()
        })
        .collect();
    (init, frags)
}

fn temp(name: &str) -> TempDir {
    TempDir::new("recover", name)
}

/// A file of `whole` fragments and half of one more, with `indexed` sidecar
/// records (and a torn one).
fn torn_file(dir: &Path, whole: u32, indexed: usize) -> (std::path::PathBuf, u64) {
    let (init, frags) = init_and_fragments(whole + 1);
    let mut bytes = init.to_vec();
    let mut idx = Vec::new();
    for (i, f) in frags.iter().enumerate().take(whole as usize) {
        if i < indexed {
            let e = FragmentEntry {
                offset: bytes.len() as u64,
                size: f.len() as u32,
                flags: index::KEYFRAME,
                time_ms: i as u64 * 1000,
            };
            idx.extend_from_slice(&e.encode());
        }
        bytes.extend_from_slice(f);
    }
    let complete = bytes.len() as u64;
    let last = &frags[whole as usize];
    bytes.extend_from_slice(&last[..last.len() / 2]);
    idx.extend_from_slice(&[1, 2, 3, 4, 5]);
    let path = dir.join("10-00-00.mp4");
    std::fs::write(&path, &bytes).expect("write");
    std::fs::write(layout::index_path(&path), &idx).expect("write idx");
    (path, complete)
}

#[test]
fn a_torn_file_is_cut_after_its_last_whole_fragment() {
    let dir = temp("torn");
    let (path, complete) = torn_file(&dir, 3, 3);
    let r = repair_file(&path).expect("repair");
    assert_eq!(r.bytes, complete);
    assert_eq!(r.fragments.len(), 3);
    assert_eq!(std::fs::metadata(&path).expect("meta").len(), complete);
    let idx = std::fs::read(layout::index_path(&path)).expect("idx");
    assert_eq!(idx.len(), 3 * RECORD_LEN);
    // What is left demuxes to the end.
    let scan = index::rebuild(&std::fs::read(&path).expect("read"));
    assert_eq!((scan.complete_len, scan.fragments.len()), (complete, 3));
}

#[test]
fn a_short_sidecar_is_rebuilt_from_the_file() {
    let dir = temp("short");
    let (path, complete) = torn_file(&dir, 4, 2);
    let r = repair_file(&path).expect("repair");
    assert_eq!((r.bytes, r.fragments.len()), (complete, 4));
    assert_eq!(r.fragments[3].time_ms, 3000);
    let idx = std::fs::read(layout::index_path(&path)).expect("idx");
    assert_eq!(index::decode_all(&idx), r.fragments);
}

#[test]
fn a_lost_catalogue_is_rebuilt_from_the_files() {
    let dir = temp("rebuild");
    let day = dir.join("live/cam/2026-12-06");
    std::fs::create_dir_all(&day).expect("mkdir");
    let (path, complete) = torn_file(&day, 2, 2);
    std::fs::rename(&path, day.join("10-00-00_1.mp4")).expect("rename");
    std::fs::rename(
        layout::index_path(&path),
        layout::index_path(&day.join("10-00-00_1.mp4")),
    )
    .expect("rename idx");
    let cat = Catalogue::open(&dir.join(".catalogue.redb")).expect("catalogue");
    rebuild(&cat, &dir);
    let rows = cat.all().expect("rows");
    assert_eq!(rows.len(), 1);
    let (stream, start, entry) = &rows[0];
    assert_eq!(stream, "live/cam");
    assert_eq!(
        *start,
        layout::parse_time("2026-12-06T10:00:00Z").expect("time") + 1
    );
    assert_eq!(
        (entry.bytes, entry.fragments, entry.open),
        (complete, 2, false)
    );
    assert_eq!(entry.tracks, "h264");
    assert_eq!(entry.path, "live/cam/2026-12-06/10-00-00_1.mp4");
}
