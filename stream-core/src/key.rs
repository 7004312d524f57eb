//! Stream names and who is on the other end of a session.
//!
//! Names from the network are checked in one place, [`StreamKey::parse`] (or
//! [`check_name`] for an RTMP app on its own), used by every protocol:
//!
//! - each part at most [`MAX_NAME_LEN`] bytes and not empty;
//! - `/` separates segments in both parts (RTMP apps like `live/sub`, HTTP
//!   paths `/a/b/cam.live.flv`, RTSP `rtsp://h/live/a/b`); no segment may be
//!   empty, `.` or `..` (names become HLS directories and URLs);
//! - no backslash, no whitespace (a name is never written with one, and it
//!   would split log fields and URLs), no control characters (C0, DEL, C1:
//!   CR/LF would forge log lines), no invisible format characters (zero-width,
//!   bidi overrides, word joiners, BOM) and no U+FFFD (the trace of invalid
//!   UTF-8 decoded lossily).
//!
//! Errors never echo the name, so they are safe to log and to send back.

use std::fmt;
use std::net::SocketAddr;

/// The name of a stream: `app/stream`, as in `rtmp://host/app/stream`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// The application part (`live` in `rtmp://host/live/cam1`).
    pub app: String,
    /// The stream part (`cam1` in `rtmp://host/live/cam1`).
    pub stream: String,
}

/// Longest app or stream name accepted from the network, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Which part of a stream name an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamePart {
    /// The application (`live` in `live/cam`).
    App,
    /// The stream (`cam` in `live/cam`).
    Stream,
}

impl fmt::Display for NamePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NamePart::App => "app",
            NamePart::Stream => "stream",
        })
    }
}

/// Why a name was refused (see the module docs). The name itself is not
/// included.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The part is empty.
    #[error("{0} name is empty")]
    Empty(NamePart),
    /// The part is longer than [`MAX_NAME_LEN`].
    #[error("{part} name is {len} bytes long, the limit is {limit}")]
    TooLong {
        /// Which part.
        part: NamePart,
        /// Its length in bytes.
        len: usize,
        /// [`MAX_NAME_LEN`].
        limit: usize,
    },
    /// A character that is not allowed, by code point.
    #[error("{part} name contains the character U+{code:04X} (control, whitespace, invisible or backslash)")]
    BadChar {
        /// Which part.
        part: NamePart,
        /// The code point.
        code: u32,
    },
    /// An empty, `.` or `..` segment between slashes.
    #[error("{0} name has an empty, '.' or '..' segment")]
    BadSegment(NamePart),
}

/// Whether `c` may appear in a name.
fn allowed(c: char) -> bool {
    !(c.is_control()
        || c.is_whitespace()
        || c == '\\'
        || c == '\u{FFFD}'
        || c == '\u{FEFF}'
        || c == '\u{00AD}'
        || ('\u{200B}'..='\u{200F}').contains(&c)
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2060}'..='\u{206F}').contains(&c)
        || ('\u{FFF9}'..='\u{FFFB}').contains(&c))
}

/// Checks one part of a stream name against the rules in the module docs.
pub fn check_name(part: NamePart, name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty(part));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            part,
            len: name.len(),
            limit: MAX_NAME_LEN,
        });
    }
    if let Some(c) = name.chars().find(|&c| !allowed(c)) {
        return Err(NameError::BadChar {
            part,
            code: u32::from(c),
        });
    }
    if name
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(NameError::BadSegment(part));
    }
    Ok(())
}

impl StreamKey {
    /// Builds a key from names received from the network, checking both
    /// parts with [`check_name`].
    pub fn parse(
        app: impl Into<String>,
        stream: impl Into<String>,
    ) -> Result<StreamKey, NameError> {
        let (app, stream) = (app.into(), stream.into());
        check_name(NamePart::App, &app)?;
        check_name(NamePart::Stream, &stream)?;
        Ok(StreamKey { app, stream })
    }

    /// Builds a key from its two parts, unchecked: for names the server
    /// made or looks up. Names from the network go through
    /// [`StreamKey::parse`].
    pub fn new(app: impl Into<String>, stream: impl Into<String>) -> StreamKey {
        StreamKey {
            app: app.into(),
            stream: stream.into(),
        }
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.stream)
    }
}

/// The protocol a session speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// RTMP publish or play.
    Rtmp,
    /// RTSP record or play.
    Rtsp,
    /// HTTP-FLV player.
    HttpFlv,
    /// HTTP-TS player.
    HttpTs,
    /// Fragmented-MP4 player (`.live.mp4` over HTTP or WebSocket).
    HttpMp4,
    /// HLS segmenter (one internal subscriber per stream) or HLS viewer.
    Hls,
    /// An HLS upstream pulled by a relay (a publisher, not an HLS viewer).
    HlsPull,
    /// WebRTC (WHEP viewer or WHIP publisher).
    WebRtc,
    /// Anything inside the server (tests, relays).
    Internal,
}

impl Protocol {
    /// "rtmp", "rtsp", "http-flv", "http-ts", "http-mp4", "hls", "hls-pull", "webrtc" or "internal".
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Rtmp => "rtmp",
            Protocol::Rtsp => "rtsp",
            Protocol::HttpFlv => "http-flv",
            Protocol::HttpTs => "http-ts",
            Protocol::HttpMp4 => "http-mp4",
            Protocol::Hls => "hls",
            Protocol::HlsPull => "hls-pull",
            Protocol::WebRtc => "webrtc",
            Protocol::Internal => "internal",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who publishes or plays: the session id used in logs, the protocol and the peer address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The server-wide session id (the same id the session's tracing span carries).
    pub session_id: u64,
    /// The protocol of the session.
    pub protocol: Protocol,
    /// The remote address, when there is one.
    pub peer: Option<SocketAddr>,
}

impl PeerInfo {
    /// An internal peer without an address (tests, relays).
    pub fn internal(session_id: u64) -> PeerInfo {
        PeerInfo {
            session_id,
            protocol: Protocol::Internal,
            peer: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_displays_as_app_slash_stream_and_orders_by_app_then_stream() {
        let a = StreamKey::new("live", "b");
        let b = StreamKey::new("live", "c");
        let c = StreamKey::new("vod", "a");
        assert_eq!(a.to_string(), "live/b");
        let mut v = vec![c.clone(), b.clone(), a.clone()];
        v.sort();
        assert_eq!(v, vec![a, b, c]);
    }

    #[test]
    fn names_are_checked() {
        for ok in [
            ("live", "cam-1"),
            ("live/sub", "cam_1.x"),
            ("a", "b/c"),
            ("live", "Ünïcode名"),
            ("live", "a..b"),
        ] {
            assert!(StreamKey::parse(ok.0, ok.1).is_ok(), "{ok:?}");
        }
        let long = "x".repeat(MAX_NAME_LEN + 1);
        let cases: &[(&str, &str, &str)] = &[
            ("", "s", "app name is empty"),
            ("live", "", "stream name is empty"),
            (&long, "s", "app name is 129 bytes long, the limit is 128"),
            ("live", "a\r\nINFO forged", "U+000D"),
            ("live", "a\u{7f}", "U+007F"),
            ("live", "a\u{85}", "U+0085"),
            ("live", "a b", "U+0020"),
            ("live", "a\tb", "U+0009"),
            ("live", "a\u{202E}b", "U+202E"),
            ("live", "a\u{200B}b", "U+200B"),
            ("live", "a\u{FFFD}", "U+FFFD"),
            ("li\\ve", "s", "U+005C"),
            (
                "live",
                "..",
                "stream name has an empty, '.' or '..' segment",
            ),
            ("live", "a/../b", "segment"),
            ("live", "./a", "segment"),
            ("live", "a//b", "segment"),
            ("live", "/a", "segment"),
            ("live/", "a", "app name has an empty"),
        ];
        for (app, stream, want) in cases {
            let e = StreamKey::parse(*app, *stream).unwrap_err().to_string();
            assert!(e.contains(want), "{app:?}/{stream:?}: {e}");
            assert!(!e.contains('\r') && !e.contains('\n'), "{e}");
        }
        let max = "y".repeat(MAX_NAME_LEN);
        assert!(StreamKey::parse(&max, &max).is_ok());
    }

    #[test]
    fn protocol_names() {
        let all = [
            (Protocol::Rtmp, "rtmp"),
            (Protocol::Rtsp, "rtsp"),
            (Protocol::HttpFlv, "http-flv"),
            (Protocol::HttpTs, "http-ts"),
            (Protocol::Hls, "hls"),
            (Protocol::HlsPull, "hls-pull"),
            (Protocol::WebRtc, "webrtc"),
            (Protocol::Internal, "internal"),
        ];
        for (p, n) in all {
            assert_eq!(p.name(), n);
        }
        assert_eq!(PeerInfo::internal(7).protocol, Protocol::Internal);
    }
}
