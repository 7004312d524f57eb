//! `rtsp://host[:port]/app/stream[/track][?query]` split into the parts strom routes on.
//!
//! Clients build a track's SETUP URL as the Content-Base plus the SDP `a=control` value
//! (RFC 2326 §C.1.1), so `rtsp://h/live/cam/trackID=0`; when the DESCRIBE URL had a query,
//! ffmpeg appends the control after it: `rtsp://h/live/cam?token=x/trackID=0`.

use super::error::ParseError;

/// A parsed RTSP URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtspUrl {
    /// Host (IPv6 without brackets).
    pub host: String,
    /// Port, if given (RTSP's default is 554, RFC 2326 §3.2).
    pub port: Option<u16>,
    /// First path segment.
    pub app: String,
    /// The rest of the presentation path (may contain `/`).
    pub stream: String,
    /// The track control suffix (e.g. `trackID=0`, `streamid=1`), if any.
    pub track: Option<String>,
    /// The query without `?`, if any.
    pub query: Option<String>,
}

/// Whether a last path segment names a track: `trackID=0`, `streamid=1`, `stream=0`,
/// `track1` (live555, Wowza).
fn looks_like_control(seg: &str) -> bool {
    seg.contains('=')
        || seg
            .strip_prefix("track")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl RtspUrl {
    /// Parses an absolute `rtsp://` (or `rtsps://`) URL; a last segment that looks like a
    /// control becomes [`track`](RtspUrl::track) when at least app and stream precede it.
    pub fn parse(url: &str) -> Result<RtspUrl, ParseError> {
        Self::parse_with_base(url, None)
    }

    /// As [`parse`](RtspUrl::parse), but when the path starts with `base` (the `app/stream`
    /// of the presentation, from DESCRIBE or ANNOUNCE) the remainder is the track,
    /// whatever it looks like.
    pub fn parse_with_base(url: &str, base: Option<&str>) -> Result<RtspUrl, ParseError> {
        let bad = |pos| ParseError::malformed("RTSP URL", pos);
        let scheme_len = url.find("://").ok_or(bad(0))?;
        let scheme = url.get(..scheme_len).unwrap_or("");
        if !scheme.eq_ignore_ascii_case("rtsp") && !scheme.eq_ignore_ascii_case("rtsps") {
            return Err(bad(0));
        }
        let rest = url.get(scheme_len + 3..).unwrap_or("");
        let (authority, path_query) = match rest.find(['/', '?']) {
            Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("")),
            None => (rest, ""),
        };
        // Drop userinfo (`user:pass@`); credentials travel in Authorization.
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or(bad(scheme_len + 3))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p.parse().map_err(|_| bad(scheme_len + 3))?),
                None if after.is_empty() => None,
                None => return Err(bad(scheme_len + 3)),
            };
            (h, port)
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p.parse().map_err(|_| bad(scheme_len + 3))?)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(bad(scheme_len + 3));
        }
        let (path, mut query) = match path_query.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (path_query, None),
        };
        let mut path = path.trim_matches('/').to_string();
        // ffmpeg: content base with a query, then "/control" appended after the query.
        let mut track = None;
        if let Some(q) = query.as_mut() {
            if let Some((q0, ctl)) = q.rsplit_once('/') {
                if !ctl.is_empty() {
                    track = Some(ctl.to_string());
                }
                *q = q0.to_string();
            }
        }
        if track.is_none() {
            if let Some(b) = base.map(|b| b.trim_matches('/')).filter(|b| !b.is_empty()) {
                if let Some(tail) = path.strip_prefix(b).and_then(|t| t.strip_prefix('/')) {
                    track = Some(tail.to_string());
                    path = b.to_string();
                }
            } else if let Some((head, last)) = path.rsplit_once('/') {
                if head.contains('/') && looks_like_control(last) {
                    track = Some(last.to_string());
                    path = head.to_string();
                }
            }
        }
        let (app, stream) = path.split_once('/').unwrap_or((path.as_str(), ""));
        Ok(RtspUrl {
            host: host.to_string(),
            port,
            app: app.to_string(),
            stream: stream.to_string(),
            track,
            query: query.filter(|q| !q.is_empty()),
        })
    }

    /// `app/stream`, the presentation path.
    pub fn presentation(&self) -> String {
        if self.stream.is_empty() {
            self.app.clone()
        } else {
            format!("{}/{}", self.app, self.stream)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn forms() {
        let u = RtspUrl::parse("rtsp://127.0.0.1:19411/live/rcap2/trackID=0").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", Some(19411)));
        assert_eq!(
            (u.app.as_str(), u.stream.as_str(), u.track.as_deref()),
            ("live", "rcap2", Some("trackID=0"))
        );
        let u = RtspUrl::parse("rtsp://127.0.0.1:19411/live/rcap2/").unwrap();
        assert_eq!((u.stream.as_str(), u.track), ("rcap2", None));
        let u = RtspUrl::parse("rtsp://u:p@[::1]/live/cam?token=abc/trackID=1").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.query.as_deref(), Some("token=abc"));
        assert_eq!(u.track.as_deref(), Some("trackID=1"));
        let u = RtspUrl::parse("rtsp://h/live/a/b?x=1").unwrap();
        assert_eq!(
            (u.stream.as_str(), u.track, u.query.as_deref()),
            ("a/b", None, Some("x=1"))
        );
        let u = RtspUrl::parse_with_base("rtsp://h/live/a/b/video", Some("live/a/b")).unwrap();
        assert_eq!(
            (u.stream.as_str(), u.track.as_deref()),
            ("a/b", Some("video"))
        );
        assert_eq!(u.presentation(), "live/a/b");
        assert!(RtspUrl::parse("http://h/a").is_err());
        assert!(RtspUrl::parse("rtsp://:1/a").is_err());
        assert!(RtspUrl::parse("rtsp://h:99999/a").is_err());
        assert!(RtspUrl::parse("*").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "rtsp://[ -~]{0,60}") {
            let _ = RtspUrl::parse(&s);
            let _ = RtspUrl::parse_with_base(&s, Some("live/x"));
        }
    }
}
