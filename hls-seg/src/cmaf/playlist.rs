//! The LL-HLS media playlist (RFC 8216bis §4.4), rendered by a pure
//! function from what [`CmafPackager::playlist_view`] shows.
//!
//! [`CmafPackager::playlist_view`]: super::CmafPackager::playlist_view

use std::fmt::Write;

use super::{CmafPart, CmafSegment};
use crate::playlist::extinf_millis;

/// Parts are listed for segments ending within this many target durations
/// of the live edge (§4.4.4.9: parts older than that SHOULD be removed).
pub const PART_WINDOW_TARGETS: u64 = 3;

/// The open segment, as the playlist shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenView<'a> {
    /// Its msn.
    pub msn: u64,
    /// Follows a discontinuity.
    pub discontinuity: bool,
    /// Its closed parts.
    pub parts: &'a [CmafPart],
}

/// Everything the playlist shows.
#[derive(Debug, Clone, PartialEq)]
pub struct LlPlaylist<'a> {
    /// `EXT-X-TARGETDURATION`.
    pub target_duration: u64,
    /// `EXT-X-PART-INF:PART-TARGET`, seconds.
    pub part_target_secs: f64,
    /// `EXT-X-MEDIA-SEQUENCE`: the msn of the first segment listed.
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE`.
    pub discontinuity_sequence: u64,
    /// Closed segments listed, oldest first.
    pub segments: Vec<&'a CmafSegment>,
    /// `segments[parts_from..]` list their parts too.
    pub parts_from: usize,
    /// The open segment: its parts follow the closed segments.
    pub open: Option<OpenView<'a>>,
    /// `(msn, part)` of `EXT-X-PRELOAD-HINT` (none once ended).
    pub preload_hint: Option<(u64, u64)>,
    /// `EXT-X-ENDLIST`.
    pub ended: bool,
}

/// Seconds with 3 decimals.
fn secs(out: &mut String, s: f64) {
    let ms = extinf_millis(s);
    let _ = write!(out, "{}.{:03}", ms / 1000, ms % 1000);
}

fn parts(out: &mut String, msn: u64, parts: &[CmafPart]) {
    for (i, p) in parts.iter().enumerate() {
        out.push_str("#EXT-X-PART:DURATION=");
        secs(out, p.duration_secs);
        let _ = write!(out, ",URI=\"fmp4/{msn}.{i}.m4s\"");
        if p.independent {
            out.push_str(",INDEPENDENT=YES");
        }
        out.push('\n');
    }
}

/// Renders the playlist: `EXT-X-VERSION:6` (the lowest with `EXT-X-MAP` in
/// a media playlist, §4.4.4.5; no tag here needs more), target duration,
/// `EXT-X-SERVER-CONTROL` (blocking reload; `HOLD-BACK` 3 × the target
/// and `PART-HOLD-BACK` 3 × the part target, the recommended values of
/// §4.4.3.8), `EXT-X-PART-INF`, media and discontinuity sequences, the
/// `EXT-X-MAP`, then per segment its discontinuity, parts (recent ones
/// only), `EXTINF` and URI; then the open segment's parts and the preload
/// hint, or `EXT-X-ENDLIST`.
pub fn render(p: &LlPlaylist<'_>) -> String {
    let mut out = String::with_capacity(512 + 64 * p.segments.len());
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:{}\n",
        p.target_duration
    );
    out.push_str("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,HOLD-BACK=");
    secs(&mut out, 3.0 * p.target_duration as f64);
    out.push_str(",PART-HOLD-BACK=");
    secs(&mut out, 3.0 * p.part_target_secs);
    out.push_str("\n#EXT-X-PART-INF:PART-TARGET=");
    secs(&mut out, p.part_target_secs);
    let _ = write!(
        out,
        "\n#EXT-X-MEDIA-SEQUENCE:{}\n#EXT-X-DISCONTINUITY-SEQUENCE:{}\n#EXT-X-MAP:URI=\"fmp4/init.mp4\"\n",
        p.media_sequence, p.discontinuity_sequence
    );
    for (i, s) in p.segments.iter().enumerate() {
        if s.discontinuity {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if i >= p.parts_from {
            parts(&mut out, s.msn, &s.parts);
        }
        out.push_str("#EXTINF:");
        secs(&mut out, s.duration_secs);
        let _ = writeln!(out, ",\nfmp4/{}.m4s", s.msn);
    }
    if let Some(open) = &p.open {
        if open.discontinuity && !open.parts.is_empty() {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        parts(&mut out, open.msn, open.parts);
    }
    if p.ended {
        out.push_str("#EXT-X-ENDLIST\n");
    } else if let Some((msn, part)) = p.preload_hint {
        let _ = writeln!(
            out,
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"fmp4/{msn}.{part}.m4s\""
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn part(d: f64, independent: bool) -> CmafPart {
        CmafPart {
            duration_secs: d,
            independent,
            data: Bytes::new(),
        }
    }

    #[test]
    fn golden() {
        let seg = |msn, discontinuity| CmafSegment {
            msn,
            duration_secs: 1.0,
            discontinuity,
            parts: vec![part(0.6, true), part(0.4, false)],
            data: Bytes::new(),
        };
        let (a, b) = (seg(7, false), seg(8, true));
        let open = [part(0.6, true)];
        let mut p = LlPlaylist {
            target_duration: 1,
            part_target_secs: 0.6,
            media_sequence: 7,
            discontinuity_sequence: 2,
            segments: vec![&a, &b],
            parts_from: 1,
            open: Some(OpenView {
                msn: 9,
                discontinuity: false,
                parts: &open,
            }),
            preload_hint: Some((9, 1)),
            ended: false,
        };
        let head = "#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,HOLD-BACK=3.000,PART-HOLD-BACK=1.800
#EXT-X-PART-INF:PART-TARGET=0.600
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-DISCONTINUITY-SEQUENCE:2
#EXT-X-MAP:URI=\"fmp4/init.mp4\"
#EXTINF:1.000,
fmp4/7.m4s
#EXT-X-DISCONTINUITY
#EXT-X-PART:DURATION=0.600,URI=\"fmp4/8.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.400,URI=\"fmp4/8.1.m4s\"
#EXTINF:1.000,
fmp4/8.m4s
#EXT-X-PART:DURATION=0.600,URI=\"fmp4/9.0.m4s\",INDEPENDENT=YES
";
        assert_eq!(
            render(&p),
            format!("{head}#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"fmp4/9.1.m4s\"\n")
        );
        p.ended = true;
        assert_eq!(render(&p), format!("{head}#EXT-X-ENDLIST\n"));
    }
}
