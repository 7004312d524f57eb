//! Blocking playlist reloads and preload-hinted parts (RFC 8216bis
//! §6.2.5.2, §6.2.6), decided without IO: the server asks, then serves,
//! waits for the packager's next change (bounded) or refuses.

use bytes::Bytes;

/// The answer to a playlist request with `_HLS_msn` (and `_HLS_part`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocking {
    /// The playlist already holds that segment or part, or a later one
    /// (also for numbers long gone, and once the stream ended): serve it now.
    Ready,
    /// Not yet: wait for the packager's next change and ask again; after
    /// 3 × the target duration (§6.2.5.2 "three times the Target
    /// Duration") without it, answer 503.
    Wait,
    /// More than two segments beyond the last one, or the part more than
    /// the Advance Part Limit beyond the last part: answer 400 now.
    TooFar,
}

/// The answer to a request for a part (`fmp4/{msn}.{part}.m4s`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartState {
    /// Here it is.
    Ready(Bytes),
    /// The part being filled (the one the playlist's
    /// `EXT-X-PRELOAD-HINT` names): wait for the next part to close, then
    /// ask again, with a deadline (§6.2.6: the server holds the request).
    Pending,
    /// Neither held nor next: 404.
    Unknown,
}

/// Where the live edge is, as [`decide`] needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    /// The msn of the last closed segment, if any.
    pub last_msn: Option<u64>,
    /// The msn of the open segment (or of the next one, when none is open).
    pub next_msn: u64,
    /// `(msn, index)` of the last part in the playlist, if any.
    pub last_part: Option<(u64, u64)>,
    /// The part target duration, seconds.
    pub part_target_secs: f64,
    /// The stream ended (`EXT-X-ENDLIST`): nothing more will come.
    pub ended: bool,
}

impl Edge {
    /// The Advance Part Limit (§6.2.5.2): 3 ÷ the part target when it is
    /// under one second, else 3.
    pub fn advance_part_limit(&self) -> u64 {
        if self.part_target_secs > 0.0 && self.part_target_secs < 1.0 {
            // `as` saturates.
            (3.0 / self.part_target_secs).ceil() as u64
        } else {
            3
        }
    }
}

/// §6.2.5.2: hold the request until the playlist contains segment `msn`
/// (or later), or with `part`, part `part` of segment `msn` (or a later
/// part, in (msn, part) order); "if the `_HLS_msn` is greater than the
/// Media Sequence Number of the last Media Segment in the current Playlist
/// plus two, or if the `_HLS_part` exceeds the last Partial Segment in the
/// current Playlist by the Advance Part Limit", refuse at once.
pub fn decide(edge: &Edge, msn: u64, part: Option<u64>) -> Blocking {
    if edge.ended {
        return Blocking::Ready;
    }
    // The last complete segment; before any, the one before the open one
    // (i128: it may be -1).
    let last = edge
        .last_msn
        .map_or(i128::from(edge.next_msn) - 1, i128::from);
    let want = i128::from(msn);
    if want > last + 2 {
        return Blocking::TooFar;
    }
    let Some(part) = part else {
        return if want <= last {
            Blocking::Ready
        } else {
            Blocking::Wait
        };
    };
    // (msn, index) of the last part; before any, "part -1" of the open
    // segment.
    let (part_msn, part_idx) = edge
        .last_part
        .map_or((i128::from(edge.next_msn), -1), |(m, i)| {
            (i128::from(m), i128::from(i))
        });
    if (want, i128::from(part)) <= (part_msn, part_idx) {
        return Blocking::Ready;
    }
    let ahead = if want == part_msn {
        i128::from(part) - part_idx
    } else {
        i128::from(part) + 1
    };
    if ahead > i128::from(edge.advance_part_limit()) {
        Blocking::TooFar
    } else {
        Blocking::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(last_msn: Option<u64>, next_msn: u64, last_part: Option<(u64, u64)>) -> Edge {
        Edge {
            last_msn,
            next_msn,
            last_part,
            part_target_secs: 0.2,
            ended: false,
        }
    }

    #[test]
    fn segments_at_the_boundaries() {
        let e = edge(Some(10), 11, Some((11, 2)));
        assert_eq!(decide(&e, 3, None), Blocking::Ready);
        assert_eq!(decide(&e, 10, None), Blocking::Ready);
        assert_eq!(decide(&e, 11, None), Blocking::Wait);
        assert_eq!(decide(&e, 12, None), Blocking::Wait);
        assert_eq!(decide(&e, 13, None), Blocking::TooFar);
        assert_eq!(
            decide(&Edge { ended: true, ..e }, 13, None),
            Blocking::Ready
        );
    }

    #[test]
    fn parts_at_the_boundaries() {
        let e = edge(Some(10), 11, Some((11, 2)));
        assert_eq!(e.advance_part_limit(), 15);
        assert_eq!(decide(&e, 10, Some(99)), Blocking::Ready);
        assert_eq!(decide(&e, 11, Some(2)), Blocking::Ready);
        assert_eq!(decide(&e, 11, Some(3)), Blocking::Wait);
        assert_eq!(decide(&e, 11, Some(17)), Blocking::Wait);
        assert_eq!(decide(&e, 11, Some(18)), Blocking::TooFar);
        assert_eq!(decide(&e, 12, Some(0)), Blocking::Wait);
        assert_eq!(decide(&e, 12, Some(15)), Blocking::TooFar);
        // Nothing yet: the first part of the first segment is awaited.
        let start = edge(None, 0, None);
        assert_eq!(decide(&start, 0, Some(0)), Blocking::Wait);
        assert_eq!(decide(&start, 0, None), Blocking::Wait);
        assert_eq!(decide(&start, 1, None), Blocking::Wait);
        assert_eq!(decide(&start, 2, None), Blocking::TooFar);
        let slow = Edge {
            part_target_secs: 1.5,
            ..e
        };
        assert_eq!(slow.advance_part_limit(), 3);
        assert_eq!(decide(&slow, 11, Some(6)), Blocking::TooFar);
    }
}
