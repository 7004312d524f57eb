//! Upstream URLs a relay pulls from.

use std::fmt;

/// Why an upstream URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not `rtmp://`, `rtsp://` or `http://`.
    #[error(
        "unsupported scheme in {0:?}: rtmp://, rtsp:// and http:// (HTTP-FLV, HLS) can be pulled"
    )]
    Scheme(String),
    /// `https://`: strom has no TLS client.
    #[error("{0:?}: https:// upstreams are not supported (strom has no TLS); use http://")]
    Https(String),
    /// No host, or an unparsable port.
    #[error("bad host or port in {0:?}")]
    Authority(String),
    /// The path is not `/app/stream`.
    #[error("the path of {0:?} must be /app/stream")]
    Path(String),
}

/// The protocol spoken to an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `rtmp://host[:port]/app/stream[?query]`, port 1935 by default.
    Rtmp,
    /// `rtsp://[user:pass@]host[:port]/path[?query]`, port 554 by default; TCP interleaved.
    Rtsp,
    /// `http://host[:port]/path[?query]` serving HTTP-FLV, port 80 by default.
    HttpFlv,
    /// `http://host[:port]/path.m3u8[?query]`: an HLS playlist (master or
    /// media), port 80 by default.
    Hls,
}

/// A parsed upstream URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullUrl {
    /// Which client pulls it.
    pub scheme: Scheme,
    /// The URL as configured (credentials included: never shown).
    pub raw: String,
    /// Host name or address.
    pub host: String,
    /// Port (1935 when absent).
    pub port: u16,
    /// Upstream application (may contain `/` for nested apps: all but the
    /// last segment); empty for RTSP.
    pub app: String,
    /// RTMP: the upstream stream name with its `?query`, as sent in play.
    /// RTSP: the path, without user info or query (for display).
    /// HTTP-FLV and HLS: the request target (`/path?query`).
    pub stream: String,
}

impl PullUrl {
    /// Parses an upstream URL.
    ///
    /// # Errors
    /// [`UrlError`] naming what is wrong.
    pub fn parse(url: &str) -> Result<PullUrl, UrlError> {
        let (scheme, rest, default_port) = if let Some(rest) = url.strip_prefix("rtmp://") {
            (Scheme::Rtmp, rest, 1935)
        } else if let Some(rest) = url.strip_prefix("rtsp://") {
            (Scheme::Rtsp, rest, 554)
        } else if let Some(rest) = url.strip_prefix("http://") {
            let path = rest.split(['?', '#']).next().unwrap_or_default();
            if path.ends_with(".m3u8") {
                (Scheme::Hls, rest, 80)
            } else {
                (Scheme::HttpFlv, rest, 80)
            }
        } else if url.starts_with("https://") {
            return Err(UrlError::Https(url.into()));
        } else {
            return Err(UrlError::Scheme(url.into()));
        };
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| UrlError::Path(url.into()))?;
        // User info (RTSP cameras' credentials) is not part of the address.
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        let (host, port) = match authority.rsplit_once(':') {
            // An IPv6 literal keeps its brackets' colons.
            Some((h, p)) if !p.contains(']') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| UrlError::Authority(url.into()))?,
            ),
            _ => (authority, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(UrlError::Authority(url.into()));
        }
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let (app, stream) = match scheme {
            Scheme::Rtmp => {
                let (app, stream) = path
                    .rsplit_once('/')
                    .filter(|(a, s)| !a.is_empty() && !s.is_empty())
                    .ok_or_else(|| UrlError::Path(url.into()))?;
                let stream = match query {
                    Some(q) => format!("{stream}?{q}"),
                    None => stream.into(),
                };
                (app.to_string(), stream)
            }
            _ if path.is_empty() => return Err(UrlError::Path(url.into())),
            // RTSP: the path for display (the client sends the raw URL).
            Scheme::Rtsp => (String::new(), path.to_string()),
            // HTTP-FLV and HLS: the request target, query kept (tokens);
            // only display drops it.
            Scheme::HttpFlv | Scheme::Hls => (
                String::new(),
                match query {
                    Some(q) => format!("/{path}?{q}"),
                    None => format!("/{path}"),
                },
            ),
        };
        Ok(PullUrl {
            scheme,
            raw: url.into(),
            host: host.into(),
            port,
            app,
            stream,
        })
    }

    /// The tcUrl sent in connect.
    pub fn tc_url(&self) -> String {
        format!("rtmp://{}:{}/{}", self.host_for_url(), self.port, self.app)
    }

    fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

/// Shown without the query, which may hold a key.
impl fmt::Display for PullUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stream = self.stream.split('?').next().unwrap_or_default();
        match self.scheme {
            Scheme::Rtmp => write!(
                f,
                "rtmp://{}:{}/{}/{stream}",
                self.host_for_url(),
                self.port,
                self.app
            ),
            Scheme::Rtsp => write!(f, "rtsp://{}:{}/{stream}", self.host_for_url(), self.port),
            Scheme::HttpFlv | Scheme::Hls => {
                write!(f, "http://{}:{}{stream}", self.host_for_url(), self.port)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_ports_apps_and_queries() {
        let u = PullUrl::parse("rtmp://cam.local/live/one?key=s3cret").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("cam.local", 1935));
        assert_eq!(
            (u.app.as_str(), u.stream.as_str()),
            ("live", "one?key=s3cret")
        );
        assert_eq!(u.tc_url(), "rtmp://cam.local:1935/live");
        assert_eq!(u.to_string(), "rtmp://cam.local:1935/live/one");
        let u = PullUrl::parse("rtmp://[::1]:1940/a/b/c").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.app.as_str()),
            ("::1", 1940, "a/b")
        );
        assert_eq!(u.tc_url(), "rtmp://[::1]:1940/a/b");
    }

    #[test]
    fn rtsp_urls_keep_credentials_out_of_the_address_and_the_display() {
        let u = PullUrl::parse("rtsp://admin:pw@10.0.0.9/Streaming/101?tok=1").unwrap();
        assert_eq!(u.scheme, Scheme::Rtsp);
        assert_eq!((u.host.as_str(), u.port), ("10.0.0.9", 554));
        assert_eq!(u.to_string(), "rtsp://10.0.0.9:554/Streaming/101");
        assert_eq!(u.raw, "rtsp://admin:pw@10.0.0.9/Streaming/101?tok=1");
        assert!(PullUrl::parse("rtsp://cam:8554/").is_err());
    }

    #[test]
    fn http_flv_urls_keep_the_query_in_the_request_only() {
        let u = PullUrl::parse("http://origin:8080/live/cam.live.flv?token=t").unwrap();
        assert_eq!(u.scheme, Scheme::HttpFlv);
        assert_eq!((u.host.as_str(), u.port), ("origin", 8080));
        assert_eq!(u.stream, "/live/cam.live.flv?token=t");
        assert_eq!(u.to_string(), "http://origin:8080/live/cam.live.flv");
    }

    #[test]
    fn hls_urls_are_chosen_by_the_m3u8_path_and_https_is_refused_clearly() {
        let u = PullUrl::parse("http://origin:8080/live/cam/hls.m3u8?token=t").unwrap();
        assert_eq!(u.scheme, Scheme::Hls);
        assert_eq!(u.stream, "/live/cam/hls.m3u8?token=t");
        assert_eq!(u.to_string(), "http://origin:8080/live/cam/hls.m3u8");
        assert_eq!(
            PullUrl::parse("http://origin/live/cam.flv?x=.m3u8")
                .unwrap()
                .scheme,
            Scheme::HttpFlv
        );
        let e = PullUrl::parse("https://cdn/live/cam.m3u8").unwrap_err();
        assert!(matches!(e, UrlError::Https(_)), "{e}");
        assert!(e.to_string().contains("no TLS"), "{e}");
    }

    #[test]
    fn refuses_what_cannot_be_pulled() {
        for bad in [
            "https://cam/live/one.m3u8",
            "srt://cam/live/one",
            "rtmp://cam",
            "rtmp://cam/live",
            "rtmp://cam/live/",
            "rtmp://:1935/live/one",
            "rtmp://cam:99999/live/one",
            "rtmp://cam:0/live/one",
        ] {
            assert!(PullUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
