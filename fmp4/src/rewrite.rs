//! Rewriting a `moof`'s times in place: its `mfhd` sequence number and each
//! `traf`'s `tfdt` base decode time, without changing any size, so a stored
//! fragment can be re-sent on another timeline (recordings played back as
//! one file) by patching a few bytes of its header.

use crate::demux::boxes::{child_ranges, fourcc_str, header};
use crate::Fmp4Error;

/// A child box inside a buffer: its type and its body's range.
struct Child {
    fourcc: [u8; 4],
    body: std::ops::Range<usize>,
}

/// The child boxes of `buf[range]`, which they must fill exactly.
fn children(buf: &[u8], range: std::ops::Range<usize>) -> Result<Vec<Child>, Fmp4Error> {
    let start = range.start;
    let inner = buf.get(range).unwrap_or_default();
    Ok(child_ranges(inner)?
        .into_iter()
        .map(|(fourcc, body)| Child {
            fourcc,
            body: start + body.start..start + body.end,
        })
        .collect())
}

/// Big-endian u32 at `at` (the caller checked the bounds through `need`).
fn read_u32(buf: &[u8], at: usize) -> u32 {
    let mut b = [0; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_be_bytes(b)
}

/// Fails unless the box body `body` has at least `n` bytes.
fn need(body: &std::ops::Range<usize>, n: usize, what: &str) -> Result<(), Fmp4Error> {
    if body.len() < n {
        return Err(Fmp4Error::Malformed(format!("{what} ends early")));
    }
    Ok(())
}

/// Rewrites, in place, the `moof` at the start of `buf` (whatever follows
/// it, such as its `mdat`, is left alone): the `mfhd` sequence number
/// becomes `sequence`, and each `traf`'s `tfdt` base decode time becomes
/// `base_decode_time(track_id, old)`. Returns the `moof`'s length.
///
/// Nothing is written unless the whole `moof` checks out, so on an error
/// `buf` is unchanged. Bounded (at most `MAX_CHILDREN` boxes per level,
/// two levels) and panic-free on any input.
///
/// # Errors
/// [`Fmp4Error::Truncated`] when `buf` ends inside the `moof`;
/// [`Fmp4Error::Malformed`] when it is not a `moof`, or has no `mfhd`, a
/// `traf` without `tfhd` or `tfdt`, a box cut short;
/// [`Fmp4Error::Unsupported`] for a version 0 `tfdt` (its 32-bit time cannot
/// take every value without growing the box);
/// [`Fmp4Error::Invalid`] when the closure returns `None` for a track.
pub fn rewrite_moof_times(
    buf: &mut [u8],
    sequence: u32,
    mut base_decode_time: impl FnMut(u32, u64) -> Option<u64>,
) -> Result<usize, Fmp4Error> {
    let h = header(buf)?.ok_or(Fmp4Error::Truncated("moof header"))?;
    if &h.fourcc != b"moof" {
        return Err(Fmp4Error::Malformed(format!(
            "expected moof, found {}",
            fourcc_str(&h.fourcc)
        )));
    }
    let len = match h.size {
        Some(s) if s <= buf.len() as u64 => s as usize,
        Some(_) => return Err(Fmp4Error::Truncated("moof")),
        None => buf.len(),
    };
    let mut sequence_at = None;
    // (offset of the 64-bit time, new time)
    let mut times: Vec<(usize, u64)> = Vec::new();
    for child in children(buf, h.header_len..len)? {
        match &child.fourcc {
            b"mfhd" => {
                need(&child.body, 8, "mfhd")?;
                sequence_at = Some(child.body.start + 4);
            }
            b"traf" => {
                let kids = children(buf, child.body.clone())?;
                let tfhd = kids
                    .iter()
                    .find(|k| &k.fourcc == b"tfhd")
                    .ok_or_else(|| Fmp4Error::Malformed("traf without tfhd".into()))?;
                need(&tfhd.body, 8, "tfhd")?;
                let track_id = read_u32(buf, tfhd.body.start + 4);
                let tfdt = kids
                    .iter()
                    .find(|k| &k.fourcc == b"tfdt")
                    .ok_or_else(|| Fmp4Error::Malformed("traf without tfdt".into()))?;
                need(&tfdt.body, 4, "tfdt")?;
                if buf[tfdt.body.start] != 1 {
                    return Err(Fmp4Error::Unsupported(format!(
                        "tfdt version {} (only version 1 is rewritten in place)",
                        buf[tfdt.body.start]
                    )));
                }
                need(&tfdt.body, 12, "tfdt")?;
                let at = tfdt.body.start + 4;
                let old = u64::from(read_u32(buf, at)) << 32 | u64::from(read_u32(buf, at + 4));
                let new = base_decode_time(track_id, old).ok_or_else(|| {
                    Fmp4Error::Invalid(format!("track {track_id}: no new base decode time"))
                })?;
                times.push((at, new));
            }
            _ => {}
        }
    }
    let sequence_at = sequence_at.ok_or_else(|| Fmp4Error::Malformed("no mfhd box".into()))?;
    buf[sequence_at..sequence_at + 4].copy_from_slice(&sequence.to_be_bytes());
    for (at, time) in times {
        buf[at..at + 8].copy_from_slice(&time.to_be_bytes());
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{fragment, Demuxer, Event, Sample, TrackRun};
    use bytes::Bytes;

    fn run(track_id: u32, base: u64) -> TrackRun {
        TrackRun {
            track_id,
            base_decode_time: base,
            samples: vec![Sample {
                duration: 10,
                cts_offset: 0,
                keyframe: true,
                data: Bytes::from_static(b"abc"),
            }],
        }
    }

    #[test]
    fn sequence_and_times_change_and_nothing_else() {
        let runs = [run(1, 5), run(2, u64::MAX - 1)];
        let frag = fragment(7, &runs).unwrap();
        let mut bytes = frag.to_bytes().to_vec();
        let before = bytes.clone();
        let len = rewrite_moof_times(&mut bytes, 42, |t, old| {
            Some(if t == 1 { old + 1000 } else { 3 })
        })
        .unwrap();
        assert_eq!(len, frag.header.len() - 8);
        assert_eq!(bytes.len(), before.len());
        let mut d = Demuxer::new();
        d.push(&bytes);
        let Some(Event::Fragment {
            sequence,
            runs: got,
        }) = d.next_event().unwrap()
        else {
            panic!("no fragment")
        };
        assert_eq!(sequence, 42);
        assert_eq!(got[0].base_decode_time, 1005);
        assert_eq!(got[1].base_decode_time, 3);
        assert_eq!(got[0].samples, runs[0].samples);
    }

    #[test]
    fn refusals_leave_the_buffer_unchanged() {
        let mut bytes = fragment(1, &[run(1, 0), run(2, 0)])
            .unwrap()
            .to_bytes()
            .to_vec();
        let before = bytes.clone();
        let r = rewrite_moof_times(&mut bytes, 9, |t, old| (t == 1).then_some(old + 1));
        assert!(matches!(r, Err(Fmp4Error::Invalid(_))));
        assert_eq!(bytes, before);
        assert!(matches!(
            rewrite_moof_times(&mut bytes[..20], 9, |_, o| Some(o)),
            Err(Fmp4Error::Truncated(_))
        ));
        assert!(rewrite_moof_times(&mut [], 1, |_, o| Some(o)).is_err());
        // tfdt version 0 is refused: find its box and clear the version.
        let at = bytes.windows(4).position(|w| w == b"tfdt").unwrap();
        bytes[at + 4] = 0;
        assert!(matches!(
            rewrite_moof_times(&mut bytes, 9, |_, o| Some(o)),
            Err(Fmp4Error::Unsupported(_))
        ));
        let mut mdat = b"\0\0\0\x08mdat".to_vec();
        assert!(matches!(
            rewrite_moof_times(&mut mdat, 1, |_, o| Some(o)),
            Err(Fmp4Error::Malformed(_))
        ));
    }
}

#[cfg(test)]
mod init_tests {
    use crate::{init_segment_with_duration, CodecConfig, TrackConfig};

    /// The body of the first box `fourcc` found anywhere in `data`.
    fn body<'a>(data: &'a [u8], fourcc: &[u8; 4]) -> &'a [u8] {
        let at = data.windows(4).position(|w| w == fourcc).unwrap();
        &data[at + 4..]
    }

    #[test]
    fn mvhd_and_mehd_carry_the_duration() {
        let track = TrackConfig {
            id: 1,
            timescale: 48_000,
            codec: CodecConfig::Opus { pre_skip: 0 },
            width: 0,
            height: 0,
            channels: 2,
            sample_rate: 48_000,
        };
        let init = init_segment_with_duration(std::slice::from_ref(&track), 600_000).unwrap();
        // version/flags, creation, modification, timescale, duration
        assert_eq!(
            &body(&init, b"mvhd")[..20],
            b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x03\xe8\0\x09\x27\xc0"
        );
        assert_eq!(&body(&init, b"mehd")[..8], b"\0\0\0\0\0\x09\x27\xc0");
        let long = init_segment_with_duration(&[track], 1 << 33).unwrap();
        assert_eq!(body(&long, b"mvhd")[0], 1);
        assert_eq!(&body(&long, b"mehd")[..12], b"\x01\0\0\0\0\0\0\x02\0\0\0\0");
    }
}
