//! BENCHMARKS.md holds the players' table and sections other bench commands
//! own (`--ingest`, `--edge`, `--webrtc`), each between its markers: a command rewrites
//! its own section and keeps the others.

use std::path::Path;

/// A section of BENCHMARKS.md another command produces.
pub struct Markers {
    /// Where it starts…
    pub begin: &'static str,
    /// …and ends.
    pub end: &'static str,
}

/// `--ingest`'s section.
pub const INGEST: Markers = Markers {
    begin: "<!-- ingest: produced by cargo xtask bench --ingest -->",
    end: "<!-- /ingest -->",
};

/// `--edge`'s section.
pub const EDGE: Markers = Markers {
    begin: "<!-- edge: produced by cargo xtask bench --edge -->",
    end: "<!-- /edge -->",
};

/// `--webrtc`'s section.
pub const WEBRTC: Markers = Markers {
    begin: "<!-- webrtc: produced by cargo xtask bench --webrtc -->",
    end: "<!-- /webrtc -->",
};

/// The recording benchmark's section.
pub const RECORD: Markers = Markers {
    begin: "<!-- record: produced by cargo xtask bench --record -->",
    end: "<!-- /record -->",
};

/// Every command-owned section, in the order they follow the players' table.
pub const ALL: [&Markers; 4] = [&INGEST, &EDGE, &WEBRTC, &RECORD];

/// Writes `section` (markers included) into the file at `out`, replacing an
/// earlier one or appending it.
pub fn write(out: &Path, m: &Markers, section: &str) -> Result<(), String> {
    let old = std::fs::read_to_string(out).unwrap_or_default();
    let text = match (old.find(m.begin), old.find(m.end)) {
        (Some(b), Some(e)) if e > b => {
            format!(
                "{}{section}{}",
                &old[..b],
                &old[e + m.end.len()..].trim_start_matches('\n')
            )
        }
        _ if old.is_empty() => format!("# strom benchmarks\n\n{section}"),
        _ => format!("{}\n\n{section}", old.trim_end_matches('\n')),
    };
    std::fs::write(out, text).map_err(|e| format!("{}: {e}", out.display()))
}

/// The section `m` of `text`, markers included, if it has one.
pub fn of<'t>(text: &'t str, m: &Markers) -> Option<&'t str> {
    let (b, e) = (text.find(m.begin)?, text.find(m.end)?);
    (e > b).then(|| &text[b..e + m.end.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_replaced_in_place_and_the_others_kept() {
        let dir = std::env::temp_dir().join(format!("strom-sections-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("B.md");
        std::fs::write(&out, "# t\n").unwrap();
        let ingest = format!("{}\nI1\n{}\n", INGEST.begin, INGEST.end);
        let edge = format!("{}\nE1\n{}\n", EDGE.begin, EDGE.end);
        write(&out, &INGEST, &ingest).unwrap();
        write(&out, &EDGE, &edge).unwrap();
        write(&out, &INGEST, &ingest.replace("I1", "I2")).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.contains("I2") && !text.contains("I1") && text.contains("E1"),
            "{text}"
        );
        assert_eq!(of(&text, &EDGE).map(|s| s.contains("E1")), Some(true));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
