//! `moof` + `mdat`: one `traf` per run, the samples' data as shared parts.

use crate::write::BoxWriter;
use crate::{Fmp4Error, Fragment, TrackRun, MAX_SAMPLES_PER_FRAGMENT, MAX_TRACKS};
use bytes::Bytes;

/// `tfhd` flags: default-base-is-moof (data offsets count from the `moof`).
pub(crate) const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// `trun` flags: data-offset-present.
pub(crate) const TRUN_DATA_OFFSET: u32 = 0x000001;
/// `trun` flags: first-sample-flags-present.
pub(crate) const TRUN_FIRST_SAMPLE_FLAGS: u32 = 0x000004;
/// `trun` flags: sample-duration-present.
pub(crate) const TRUN_DURATION: u32 = 0x000100;
/// `trun` flags: sample-size-present.
pub(crate) const TRUN_SIZE: u32 = 0x000200;
/// `trun` flags: sample-flags-present.
pub(crate) const TRUN_FLAGS: u32 = 0x000400;
/// `trun` flags: sample-composition-time-offsets-present.
pub(crate) const TRUN_CTS: u32 = 0x000800;
/// Sample flags of a sync sample: sample_depends_on = 2 (depends on no other).
pub(crate) const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// Sample flags of other samples: sample_depends_on = 1, is_non_sync_sample.
pub(crate) const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;
/// The is_non_sync_sample bit of sample flags.
pub(crate) const IS_NON_SYNC: u32 = 0x0001_0000;

/// Builds the fragment; the header is one buffer, the payload the samples'
/// `Bytes` (clones of the caller's handles, not copies of the data).
pub(crate) fn build(sequence: u32, runs: &[TrackRun]) -> Result<Fragment, Fmp4Error> {
    if runs.is_empty() {
        return Err(Fmp4Error::Invalid("a fragment without runs".into()));
    }
    let total: usize = runs.iter().map(|r| r.samples.len()).sum();
    if total > MAX_SAMPLES_PER_FRAGMENT || runs.len() > MAX_TRACKS {
        return Err(Fmp4Error::Limit(format!(
            "{total} samples in {} runs, at most {MAX_SAMPLES_PER_FRAGMENT} in {MAX_TRACKS}",
            runs.len()
        )));
    }
    let mut w = BoxWriter::with_capacity(
        64 + runs
            .iter()
            .map(|r| 64 + 16 * r.samples.len())
            .sum::<usize>(),
    );
    let moof = w.open(b"moof");
    let mfhd = w.open_full(b"mfhd", 0, 0);
    w.u32(sequence);
    w.close(mfhd)?;
    // Where each trun's data_offset goes, and its run's bytes.
    let mut offsets = Vec::with_capacity(runs.len());
    let mut mdat_len: u64 = 0;
    for run in runs {
        if run.track_id == 0 {
            return Err(Fmp4Error::Invalid("track id 0 in a run".into()));
        }
        if run.samples.is_empty() {
            return Err(Fmp4Error::Invalid(format!(
                "empty run of track {}",
                run.track_id
            )));
        }
        let traf = w.open(b"traf");
        let tfhd = w.open_full(b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF);
        w.u32(run.track_id);
        w.close(tfhd)?;
        let tfdt = w.open_full(b"tfdt", 1, 0);
        w.u64(run.base_decode_time);
        w.close(tfdt)?;
        let flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS | TRUN_CTS;
        let trun = w.open_full(b"trun", 1, flags);
        w.u32(run.samples.len() as u32); // ≤ MAX_SAMPLES_PER_FRAGMENT
        offsets.push((w.len(), mdat_len));
        w.u32(0); // data_offset, patched below
        for s in &run.samples {
            let size = u32::try_from(s.data.len())
                .map_err(|_| Fmp4Error::Limit(format!("sample of {} bytes", s.data.len())))?;
            w.u32(s.duration);
            w.u32(size);
            w.u32(if s.keyframe {
                SYNC_SAMPLE_FLAGS
            } else {
                NON_SYNC_SAMPLE_FLAGS
            });
            w.u32(s.cts_offset as u32); // version 1: signed
            mdat_len += u64::from(size);
        }
        w.close(trun)?;
        w.close(traf)?;
    }
    w.close(moof)?;
    let moof_len = w.len() as u64;
    // A 32-bit mdat size when it fits, else the 64-bit largesize form.
    let mdat_header: u64 = if mdat_len + 8 <= u64::from(u32::MAX) {
        w.u32((mdat_len + 8) as u32);
        w.bytes(b"mdat");
        8
    } else {
        w.u32(1);
        w.bytes(b"mdat");
        w.u64(mdat_len + 16);
        16
    };
    for (at, before) in offsets {
        let offset = i32::try_from(moof_len + mdat_header + before)
            .map_err(|_| Fmp4Error::Limit("fragment data beyond 2 GiB".into()))?;
        w.patch_u32(at, offset as u32);
    }
    let payload: Vec<Bytes> = runs
        .iter()
        .flat_map(|r| r.samples.iter().map(|s| s.data.clone()))
        .collect();
    Ok(Fragment {
        header: Bytes::from(w.into_vec()),
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sample;

    fn sample(data: &'static [u8], keyframe: bool) -> Sample {
        Sample {
            duration: 10,
            cts_offset: -3,
            keyframe,
            data: Bytes::from_static(data),
        }
    }

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }

    /// Offsets of every `trun` box in `header`.
    fn truns(header: &[u8]) -> Vec<usize> {
        header
            .windows(4)
            .enumerate()
            .filter(|(_, w)| w == b"trun")
            .map(|(i, _)| i - 4)
            .collect()
    }

    #[test]
    fn data_offsets_point_at_each_runs_first_byte() {
        let runs = [
            TrackRun {
                track_id: 1,
                base_decode_time: 1 << 40,
                samples: vec![sample(b"AAA", true), sample(b"BB", false)],
            },
            TrackRun {
                track_id: 2,
                base_decode_time: 7,
                samples: vec![sample(b"CCCC", true)],
            },
        ];
        let f = build(9, &runs).unwrap();
        assert_eq!(f.payload.len(), 3);
        let bytes = f.to_bytes();
        let moof_len = be32(&bytes, 0) as usize;
        assert_eq!(&bytes[4..8], b"moof");
        assert_eq!(be32(&bytes, moof_len), 8 + 9);
        assert_eq!(&bytes[moof_len + 4..moof_len + 8], b"mdat");
        let t = truns(&f.header);
        assert_eq!(t.len(), 2);
        // trun: size, type, version+flags, sample_count, data_offset.
        assert_eq!(be32(&bytes, t[0] + 8), 0x0100_0f01);
        let first = be32(&bytes, t[0] + 16) as usize;
        let second = be32(&bytes, t[1] + 16) as usize;
        assert_eq!(&bytes[first..first + 5], b"AAABB");
        assert_eq!(&bytes[second..], b"CCCC");
        // Per sample: duration, size, flags, cts.
        assert_eq!(be32(&bytes, t[0] + 20), 10);
        assert_eq!(be32(&bytes, t[0] + 24), 3);
        assert_eq!(be32(&bytes, t[0] + 28), SYNC_SAMPLE_FLAGS);
        assert_eq!(be32(&bytes, t[0] + 32) as i32, -3);
        assert_eq!(be32(&bytes, t[0] + 40), 2);
        assert_eq!(be32(&bytes, t[0] + 44), NON_SYNC_SAMPLE_FLAGS);
    }

    #[test]
    fn payload_shares_the_callers_bytes() {
        let data = Bytes::from(vec![1u8; 100]);
        let run = TrackRun {
            track_id: 1,
            base_decode_time: 0,
            samples: vec![Sample {
                duration: 1,
                cts_offset: 0,
                keyframe: true,
                data: data.clone(),
            }],
        };
        let f = build(1, &[run]).unwrap();
        assert_eq!(f.payload[0].as_ptr(), data.as_ptr());
    }

    #[test]
    fn empty_and_unnumbered_runs_are_invalid() {
        let empty = TrackRun {
            track_id: 1,
            base_decode_time: 0,
            samples: vec![],
        };
        assert!(matches!(build(1, &[]), Err(Fmp4Error::Invalid(_))));
        assert!(matches!(build(1, &[empty]), Err(Fmp4Error::Invalid(_))));
        let zero = TrackRun {
            track_id: 0,
            base_decode_time: 0,
            samples: vec![sample(b"x", true)],
        };
        assert!(matches!(build(1, &[zero]), Err(Fmp4Error::Invalid(_))));
    }
}
