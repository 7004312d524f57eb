//! Recorded spans: contiguous files merged into one continuous range.

use serde::Serialize;

/// Files further apart than this are two spans (a publisher that dropped
/// and came back); closer, one (the cut between two files of a recording
/// loses no media, but their recorded ends and starts differ by a frame).
pub const MAX_GAP_MS: u64 = 2000;

/// One file as the merge sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece<'a> {
    /// Start, unix ms.
    pub start_ms: u64,
    /// End, unix ms.
    pub end_ms: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// The tracks, e.g. `h264+aac`: a change splits a span.
    pub tracks: &'a str,
}

/// A continuous recorded range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// Start, unix ms.
    pub start_ms: u64,
    /// End, unix ms.
    pub end_ms: u64,
    /// Bytes of its files.
    pub bytes: u64,
    /// How many files it covers.
    pub files: usize,
    /// The tracks of its files.
    pub tracks: String,
}

/// Merges `pieces` (in any order) into spans, in time order: a file joins
/// the span before it when it starts at most [`MAX_GAP_MS`] after that
/// span's end (or overlaps it) and has the same tracks.
pub fn merge<'a>(pieces: impl IntoIterator<Item = Piece<'a>>) -> Vec<Span> {
    let mut pieces: Vec<Piece<'a>> = pieces.into_iter().collect();
    pieces.sort_by_key(|p| (p.start_ms, p.end_ms));
    let mut spans: Vec<Span> = Vec::new();
    for p in pieces {
        let end_ms = p.end_ms.max(p.start_ms);
        match spans.last_mut() {
            Some(s)
                if p.start_ms <= s.end_ms.saturating_add(MAX_GAP_MS) && s.tracks == p.tracks =>
            {
                s.end_ms = s.end_ms.max(end_ms);
                s.bytes += p.bytes;
                s.files += 1;
            }
            _ => spans.push(Span {
                start_ms: p.start_ms,
                end_ms,
                bytes: p.bytes,
                files: 1,
                tracks: p.tracks.to_string(),
            }),
        }
    }
    spans
}

/// `spans` cut to `[from_ms, to_ms]`; spans wholly outside are left out.
pub fn clip(spans: Vec<Span>, from_ms: u64, to_ms: u64) -> Vec<Span> {
    spans
        .into_iter()
        .filter(|s| s.end_ms >= from_ms && s.start_ms <= to_ms)
        .map(|mut s| {
            s.start_ms = s.start_ms.max(from_ms);
            s.end_ms = s.end_ms.min(to_ms);
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(start_ms: u64, end_ms: u64, tracks: &str) -> Piece<'_> {
        Piece {
            start_ms,
            end_ms,
            bytes: 10,
            tracks,
        }
    }

    #[test]
    fn contiguous_files_make_one_span() {
        let spans = merge([
            p(3_600_000, 7_200_000, "h264+aac"),
            p(0, 3_599_960, "h264+aac"),
            p(7_201_500, 8_000_000, "h264+aac"),
        ]);
        assert_eq!(
            spans,
            vec![Span {
                start_ms: 0,
                end_ms: 8_000_000,
                bytes: 30,
                files: 3,
                tracks: "h264+aac".into()
            }]
        );
    }

    #[test]
    fn a_gap_or_a_track_change_splits() {
        let spans = merge([
            p(0, 1000, "h264"),
            p(3001, 4000, "h264"),            // 2001 ms after: a gap
            p(4000, 5000, "h264+aac"),        // audio came: new tracks
            p(5000, 6000, "h264+aac"),        // joins
            p(5500, 5800, "h264+aac"),        // inside: joins
            p(6000 + 2000, 9000, "h264+aac"), // exactly the limit: joins
        ]);
        let ranges: Vec<_> = spans
            .iter()
            .map(|s| (s.start_ms, s.end_ms, s.files))
            .collect();
        assert_eq!(ranges, vec![(0, 1000, 1), (3001, 4000, 1), (4000, 9000, 4)]);
        assert!(merge([]).is_empty());
    }

    #[test]
    fn clipping_keeps_what_overlaps() {
        let spans = merge([p(0, 1000, "h264"), p(5000, 9000, "h264")]);
        let clipped = clip(spans, 500, 6000);
        let ranges: Vec<_> = clipped.iter().map(|s| (s.start_ms, s.end_ms)).collect();
        assert_eq!(ranges, vec![(500, 1000), (5000, 6000)]);
        assert!(clip(merge([p(0, 1000, "h264")]), 2000, 3000).is_empty());
    }
}
