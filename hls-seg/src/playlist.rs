//! The live media playlist (RFC 8216 §4.3), rendered from segments and a
//! little state by a pure function.

use std::fmt::Write;

use crate::segment::Segment;

/// The playlist-level values next to the segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaylistState {
    /// `EXT-X-TARGETDURATION` in seconds; see [`target_duration`].
    pub target_duration: u64,
    /// `EXT-X-MEDIA-SEQUENCE`: the sequence number of the first segment
    /// listed (§4.3.3.2).
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE`: discontinuity tags that have left
    /// the playlist (§4.3.3.3, §6.2.2).
    pub discontinuity_sequence: u64,
    /// Whether to end with `EXT-X-ENDLIST` (§4.3.3.4).
    pub ended: bool,
}

/// A duration rounded to whole milliseconds, as `EXTINF` writes it.
pub fn extinf_millis(duration_secs: f64) -> u64 {
    // `as` saturates: NaN and negatives become 0.
    (duration_secs * 1000.0).round() as u64
}

/// The smallest `EXT-X-TARGETDURATION` that covers a segment: its `EXTINF`
/// as written (3 decimals), rounded up. §4.3.3.1 only asks that the EXTINF
/// rounded to the nearest integer not exceed it; rounding up also keeps
/// clients that compare the decimal value happy.
pub fn target_for(duration_secs: f64) -> u64 {
    extinf_millis(duration_secs).div_ceil(1000)
}

/// The smallest `EXT-X-TARGETDURATION` covering all of `segments`
/// (0 when there are none).
pub fn target_duration<'a>(segments: impl IntoIterator<Item = &'a Segment>) -> u64 {
    segments
        .into_iter()
        .map(|s| target_for(s.duration_secs))
        .max()
        .unwrap_or(0)
}

/// Renders the playlist: header tags, then per segment an optional
/// `EXT-X-DISCONTINUITY`, `EXTINF` with 3 decimals (allowed from version 3,
/// §4.3.2.1) and the URI `{sequence}.ts`, relative to the playlist.
pub fn render<'a>(
    segments: impl IntoIterator<Item = &'a Segment>,
    state: &PlaylistState,
) -> String {
    let mut out = String::with_capacity(256);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{}\n#EXT-X-DISCONTINUITY-SEQUENCE:{}\n",
        state.target_duration, state.media_sequence, state.discontinuity_sequence
    );
    for s in segments {
        if s.discontinuity {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let ms = extinf_millis(s.duration_secs);
        let _ = write!(
            out,
            "#EXTINF:{}.{:03},\n{}.ts\n",
            ms / 1000,
            ms % 1000,
            s.sequence
        );
    }
    if state.ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn seg(sequence: u64, duration_secs: f64, discontinuity: bool) -> Segment {
        Segment {
            sequence,
            duration_secs,
            discontinuity,
            data: Bytes::new(),
        }
    }

    #[test]
    fn renders_live_and_ended() {
        let segs = [
            seg(5, 2.0, false),
            seg(6, 2.0004, true),
            seg(7, 1.9996, false),
        ];
        let state = PlaylistState {
            target_duration: target_duration(&segs),
            media_sequence: 5,
            discontinuity_sequence: 1,
            ended: false,
        };
        assert_eq!(
            render(&segs, &state),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:1\n\
             #EXTINF:2.000,\n5.ts\n\
             #EXT-X-DISCONTINUITY\n#EXTINF:2.000,\n6.ts\n\
             #EXTINF:2.000,\n7.ts\n"
        );
        let ended = PlaylistState {
            ended: true,
            ..state
        };
        assert!(render(&segs, &ended).ends_with("7.ts\n#EXT-X-ENDLIST\n"));
    }

    #[test]
    fn target_duration_is_ceil_of_rounded_extinf() {
        assert_eq!(target_for(2.0), 2);
        assert_eq!(target_for(2.0004), 2); // written as 2.000
        assert_eq!(target_for(2.0006), 3); // written as 2.001
        assert_eq!(target_for(0.0), 0);
        assert_eq!(target_for(f64::NAN), 0);
        assert_eq!(
            target_duration(&[seg(0, 1.5, false), seg(1, 4.2, false)]),
            5
        );
        assert_eq!(target_duration(&[]), 0);
    }

    #[test]
    fn empty_playlist() {
        let state = PlaylistState {
            target_duration: 2,
            media_sequence: 0,
            discontinuity_sequence: 0,
            ended: false,
        };
        assert_eq!(
            render(&[], &state),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n"
        );
    }
}
