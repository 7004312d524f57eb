//! Reading HLS playlists (RFC 8216 §4): the master playlist's variants and
//! the media playlist's segments, for a client pulling a live stream
//! ([`Follower`] says what to fetch next and when to reload).
//!
//! What is read:
//!
//! - master playlists: `EXT-X-STREAM-INF` (`BANDWIDTH`, `RESOLUTION`,
//!   `CODECS`) and the URI line after it; [`MasterPlaylist::pick`] chooses
//!   the variant with the highest `BANDWIDTH` (the first among equals), the
//!   quality a relay should carry: its players pick a rendition of their own
//!   only if strom transcodes, which it does not;
//! - media playlists: `EXT-X-TARGETDURATION`, `EXT-X-MEDIA-SEQUENCE`,
//!   `EXT-X-DISCONTINUITY-SEQUENCE`, `EXTINF`, `EXT-X-DISCONTINUITY`,
//!   `EXT-X-ENDLIST`, `EXT-X-VERSION`, and the segment URIs, relative or
//!   absolute ([`resolve`]);
//! - every other tag, and comments, are skipped (§4.1: clients ignore
//!   unknown tags) — except those that change how segments must be read and
//!   that a transport-stream client cannot honour: `EXT-X-KEY` with a method
//!   other than `NONE` (encrypted segments), `EXT-X-MAP` (fragmented MP4)
//!   and `EXT-X-BYTERANGE`, refused with [`PlaylistError::Unsupported`].
//!
//! Bounded: the text's size, its line count, the segments and variants and
//! each URI's length are checked against [`Limits`] before anything is
//! kept. Never panics on input (fuzz target `m3u8`).

mod follow;
#[cfg(test)]
mod tests;

pub use follow::{FollowConfig, Follower, SegmentToFetch, Update};

use thiserror::Error;

/// Bounds on what a playlist may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of playlist text (default 1 MiB).
    pub max_bytes: usize,
    /// Lines (default 50,000).
    pub max_lines: usize,
    /// Segments of a media playlist (default 10,000).
    pub max_segments: usize,
    /// Variants of a master playlist (default 256).
    pub max_variants: usize,
    /// Bytes of one URI or tag line (default 8 KiB).
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 1 << 20,
            max_lines: 50_000,
            max_segments: 10_000,
            max_variants: 256,
            max_line: 8 << 10,
        }
    }
}

/// Longest `EXTINF` or `EXT-X-TARGETDURATION` accepted: a day.
pub const MAX_DURATION_SECS: u64 = 86_400;

/// Why a playlist cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PlaylistError {
    /// The text does not start with `#EXTM3U` (§4.3.1.1).
    #[error("not an M3U8 playlist: it does not start with #EXTM3U")]
    NoHeader,
    /// Not UTF-8 (§4.1).
    #[error("playlist is not UTF-8")]
    NotUtf8,
    /// Over one of the [`Limits`].
    #[error("playlist {what} of {size} exceeds the limit of {limit}")]
    TooLarge {
        /// What was counted.
        what: &'static str,
        /// How many (so far).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A tag whose value cannot be read, or a line out of place.
    #[error("playlist line {line}: bad {what}")]
    Invalid {
        /// 1-based line number.
        line: usize,
        /// The tag or construct.
        what: &'static str,
    },
    /// A media playlist without `EXT-X-TARGETDURATION` (§4.3.3.1 makes it
    /// required).
    #[error("media playlist without EXT-X-TARGETDURATION")]
    NoTargetDuration,
    /// Master and media playlist tags mixed (§4.3.3, §4.3.4).
    #[error("playlist mixes master and media playlist tags")]
    Mixed,
    /// A feature a transport-stream client cannot honour.
    #[error("playlist line {line}: {what} is not supported")]
    Unsupported {
        /// 1-based line number.
        line: usize,
        /// What (encryption, fMP4, byte ranges).
        what: &'static str,
    },
}

/// A parsed playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playlist {
    /// Lists variant streams.
    Master(MasterPlaylist),
    /// Lists segments.
    Media(MediaPlaylist),
}

/// One variant stream of a master playlist (§4.3.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// `BANDWIDTH`, bits per second.
    pub bandwidth: u64,
    /// `RESOLUTION` (width, height), when given.
    pub resolution: Option<(u32, u32)>,
    /// `CODECS`, when given (without its quotes).
    pub codecs: Option<String>,
    /// The media playlist's URI, as written.
    pub uri: String,
}

/// A master playlist: its variant streams, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterPlaylist {
    /// The variants (at least one).
    pub variants: Vec<Variant>,
}

impl MasterPlaylist {
    /// The variant with the highest `BANDWIDTH`; the first of equals.
    pub fn pick(&self) -> Option<&Variant> {
        self.variants.iter().rev().max_by_key(|v| v.bandwidth)
    }
}

/// One media segment (§3, §4.3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSegment {
    /// Its media sequence number: `EXT-X-MEDIA-SEQUENCE` plus its index.
    pub sequence: u64,
    /// `EXTINF`, in whole milliseconds (rounded).
    pub duration_ms: u64,
    /// Preceded by `EXT-X-DISCONTINUITY`.
    pub discontinuity: bool,
    /// The URI, as written.
    pub uri: String,
}

/// A media playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPlaylist {
    /// `EXT-X-VERSION`, when given.
    pub version: Option<u64>,
    /// `EXT-X-TARGETDURATION`, seconds.
    pub target_duration: u64,
    /// `EXT-X-MEDIA-SEQUENCE` (0 when absent, §4.3.3.2).
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE` (0 when absent).
    pub discontinuity_sequence: u64,
    /// The segments, in order.
    pub segments: Vec<MediaSegment>,
    /// `EXT-X-ENDLIST` seen: no segment will be added.
    pub ended: bool,
}

impl MediaPlaylist {
    /// The sequence number after the last segment.
    pub fn end_sequence(&self) -> u64 {
        self.media_sequence
            .saturating_add(self.segments.len() as u64)
    }
}

/// Parses a playlist.
///
/// # Errors
/// [`PlaylistError`] naming the limit, line or tag at fault.
pub fn parse(text: &[u8], limits: &Limits) -> Result<Playlist, PlaylistError> {
    if text.len() > limits.max_bytes {
        return Err(too_large("bytes", text.len(), limits.max_bytes));
    }
    let text = std::str::from_utf8(text).map_err(|_| PlaylistError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l));
    match lines.next() {
        Some((_, first)) if first.trim_end() == "#EXTM3U" => {}
        _ => return Err(PlaylistError::NoHeader),
    }
    let mut p = Parser::default();
    for (n, line) in lines {
        if n > limits.max_lines {
            return Err(too_large("lines", n, limits.max_lines));
        }
        if line.len() > limits.max_line {
            return Err(too_large("line bytes", line.len(), limits.max_line));
        }
        p.line(n, line.trim(), limits)?;
    }
    p.finish()
}

fn too_large(what: &'static str, size: usize, limit: usize) -> PlaylistError {
    PlaylistError::TooLarge {
        what,
        size: size as u64,
        limit: limit as u64,
    }
}

/// What the lines read so far say.
#[derive(Debug, Default)]
struct Parser {
    master: bool,
    media: bool,
    version: Option<u64>,
    target: Option<u64>,
    sequence: Option<u64>,
    discontinuity_sequence: u64,
    ended: bool,
    /// `EXTINF` (ms) and `EXT-X-DISCONTINUITY` waiting for their URI.
    pending_inf: Option<u64>,
    pending_discontinuity: bool,
    /// `EXT-X-STREAM-INF` waiting for its URI.
    pending_variant: Option<Variant>,
    segments: Vec<MediaSegment>,
    variants: Vec<Variant>,
}

impl Parser {
    fn line(&mut self, n: usize, line: &str, limits: &Limits) -> Result<(), PlaylistError> {
        let bad = |what| PlaylistError::Invalid { line: n, what };
        if line.is_empty() {
            return Ok(());
        }
        let Some(tag) = line.strip_prefix('#') else {
            return self.uri(n, line, limits);
        };
        let (name, value) = tag.split_once(':').unwrap_or((tag, ""));
        match name {
            "EXTINF" => {
                self.media = true;
                let secs = value.split(',').next().unwrap_or_default();
                self.pending_inf = Some(duration_ms(secs).ok_or(bad("EXTINF"))?);
            }
            "EXT-X-TARGETDURATION" => {
                self.media = true;
                let t = integer(value).filter(|&t| t <= MAX_DURATION_SECS);
                self.target = Some(t.ok_or(bad("EXT-X-TARGETDURATION"))?);
            }
            "EXT-X-MEDIA-SEQUENCE" => {
                self.media = true;
                // §4.3.3.2: before the first segment; later it would
                // renumber segments already read.
                if !self.segments.is_empty() {
                    return Err(bad("EXT-X-MEDIA-SEQUENCE after a segment"));
                }
                self.sequence = Some(integer(value).ok_or(bad("EXT-X-MEDIA-SEQUENCE"))?);
            }
            "EXT-X-DISCONTINUITY-SEQUENCE" => {
                self.media = true;
                self.discontinuity_sequence =
                    integer(value).ok_or(bad("EXT-X-DISCONTINUITY-SEQUENCE"))?;
            }
            "EXT-X-DISCONTINUITY" => {
                self.media = true;
                self.pending_discontinuity = true;
            }
            "EXT-X-ENDLIST" => {
                self.media = true;
                self.ended = true;
            }
            "EXT-X-VERSION" => self.version = Some(integer(value).ok_or(bad("EXT-X-VERSION"))?),
            "EXT-X-STREAM-INF" => {
                self.master = true;
                self.pending_variant = Some(variant(value).ok_or(bad("EXT-X-STREAM-INF"))?);
            }
            "EXT-X-KEY" => {
                let method = attributes(value)
                    .find(|(k, _)| *k == "METHOD")
                    .map(|(_, v)| v);
                if method != Some("NONE") {
                    return Err(PlaylistError::Unsupported {
                        line: n,
                        what: "encryption (EXT-X-KEY)",
                    });
                }
            }
            "EXT-X-MAP" => {
                return Err(PlaylistError::Unsupported {
                    line: n,
                    what: "fragmented MP4 (EXT-X-MAP)",
                })
            }
            "EXT-X-BYTERANGE" => {
                return Err(PlaylistError::Unsupported {
                    line: n,
                    what: "byte-range segments (EXT-X-BYTERANGE)",
                })
            }
            // Unknown tags and comments are ignored (§4.1).
            _ => {}
        }
        if self.master && self.media {
            return Err(PlaylistError::Mixed);
        }
        Ok(())
    }

    fn uri(&mut self, n: usize, uri: &str, limits: &Limits) -> Result<(), PlaylistError> {
        if let Some(mut v) = self.pending_variant.take() {
            if self.variants.len() >= limits.max_variants {
                return Err(too_large(
                    "variants",
                    self.variants.len() + 1,
                    limits.max_variants,
                ));
            }
            v.uri = uri.into();
            self.variants.push(v);
            return Ok(());
        }
        let Some(duration_ms) = self.pending_inf.take() else {
            // §4.3.2.1: every media segment has an EXTINF.
            return Err(PlaylistError::Invalid {
                line: n,
                what: "URI without EXTINF or EXT-X-STREAM-INF",
            });
        };
        if self.segments.len() >= limits.max_segments {
            return Err(too_large(
                "segments",
                self.segments.len() + 1,
                limits.max_segments,
            ));
        }
        let first = self.sequence.unwrap_or(0);
        let sequence =
            first
                .checked_add(self.segments.len() as u64)
                .ok_or(PlaylistError::Invalid {
                    line: n,
                    what: "EXT-X-MEDIA-SEQUENCE",
                })?;
        self.segments.push(MediaSegment {
            sequence,
            duration_ms,
            discontinuity: std::mem::take(&mut self.pending_discontinuity),
            uri: uri.into(),
        });
        Ok(())
    }

    fn finish(self) -> Result<Playlist, PlaylistError> {
        if self.master {
            return Ok(Playlist::Master(MasterPlaylist {
                variants: self.variants,
            }));
        }
        let target_duration = self.target.ok_or(PlaylistError::NoTargetDuration)?;
        Ok(Playlist::Media(MediaPlaylist {
            version: self.version,
            target_duration,
            media_sequence: self.sequence.unwrap_or(0),
            discontinuity_sequence: self.discontinuity_sequence,
            segments: self.segments,
            ended: self.ended,
        }))
    }
}

/// A `decimal-integer` (§4.2): 1 to 20 digits, fitting 64 bits.
fn integer(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A `decimal-floating-point` or integer duration in seconds → whole ms.
fn duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = integer(int).filter(|&v| v <= MAX_DURATION_SECS)?;
    // Milliseconds from the first three decimals, rounded by the fourth.
    let mut ms = 0u64;
    for i in 0..3 {
        ms = ms * 10 + frac.as_bytes().get(i).map_or(0, |b| u64::from(b - b'0'));
    }
    if frac.as_bytes().get(3).is_some_and(|&b| b >= b'5') {
        ms += 1;
    }
    Some(secs * 1000 + ms)
}

/// `NAME=value` pairs of an attribute list (§4.2), quoted strings kept
/// whole (commas inside quotes do not split).
fn attributes(list: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = list;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let (name, after) = rest.split_once('=')?;
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            let next = quoted.get(end + 1..).unwrap_or_default();
            (quoted.get(..end).unwrap_or_default(), next)
        } else {
            after.split_once(',').map_or((after, ""), |(v, n)| (v, n))
        };
        rest = next.strip_prefix(',').unwrap_or(next).trim_start();
        let name = name.trim();
        if !name.is_empty() {
            return Some((name, value));
        }
    })
}

fn variant(list: &str) -> Option<Variant> {
    let mut v = Variant {
        bandwidth: 0,
        resolution: None,
        codecs: None,
        uri: String::new(),
    };
    let mut bandwidth = None;
    for (name, value) in attributes(list) {
        match name {
            "BANDWIDTH" => bandwidth = Some(integer(value)?),
            "RESOLUTION" => {
                let (w, h) = value.split_once(['x', 'X'])?;
                v.resolution = Some((w.parse().ok()?, h.parse().ok()?));
            }
            "CODECS" => v.codecs = Some(value.into()),
            _ => {}
        }
    }
    // §4.3.4.2: BANDWIDTH is required.
    v.bandwidth = bandwidth?;
    Some(v)
}

/// Resolves `uri` against the URL of the playlist that names it
/// (RFC 3986 §5.2, the cases playlists use): an absolute URI
/// (`scheme://…`) stays; `//host/…` takes the base's scheme; `/path` the
/// base's scheme and authority; anything else replaces the base's last
/// path segment (its query dropped). `.` and `..` segments are not
/// collapsed: servers resolve them, and strom's own never use them.
pub fn resolve(base: &str, uri: &str) -> String {
    if uri.contains("://") && uri.find("://") < uri.find(['/', '?']) {
        return uri.into();
    }
    let (scheme, after) = base.split_once("://").unwrap_or(("", base));
    if let Some(net) = uri.strip_prefix("//") {
        return format!("{scheme}://{net}");
    }
    let authority_end = after.find('/').unwrap_or(after.len());
    let authority = after.get(..authority_end).unwrap_or_default();
    if uri.starts_with('/') {
        return format!("{scheme}://{authority}{uri}");
    }
    let path = after.get(authority_end..).unwrap_or_default();
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{scheme}://{authority}{dir}/{uri}")
}
