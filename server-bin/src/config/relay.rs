//! `[relay]` (how pulled streams are supervised) and `[[proxy]]` (the pulls
//! declared in the configuration).
//!
//! TOML cannot hold both a `[proxy]` table and a `[[proxy]]` array, so the
//! settings shared by every proxy live under `[relay]`.

use serde::{Deserialize, Serialize};

/// `[relay]`: supervision of pulled streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// First wait after an upstream failed (jittered, doubled per failure).
    pub retry_min_ms: u64,
    /// Longest wait between attempts.
    pub retry_max_ms: u64,
    /// An upstream that stayed live this long resets the wait to `retry_min_ms`.
    pub stable_secs: u64,
    /// Connecting, the handshake and the upstream's answer to play must
    /// complete within this.
    pub connect_secs: u64,
    /// An upstream that sends no audio or video for this long (after its
    /// play started, or from the start) is closed and retried.
    pub no_media_secs: u64,
    /// An on-demand proxy closes its upstream this long after its last
    /// player left.
    pub idle_close_secs: u64,
    /// Proxies made at once from `[[proxy]]` stream patterns (each is made
    /// when a player asks for a matching name, removed when idle).
    pub max_pattern_proxies: usize,
    /// Of those, made at once for players from one address (an outsider
    /// asking many names cannot take every place).
    pub max_pattern_proxies_per_ip: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            retry_min_ms: 1_000,
            retry_max_ms: 60_000,
            stable_secs: 60,
            connect_secs: 10,
            no_media_secs: 10,
            idle_close_secs: 30,
            max_pattern_proxies: 1000,
            max_pattern_proxies_per_ip: 100,
        }
    }
}

/// `[state]`: what the server keeps across restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Directory of the kept state (proxies added through the API), created
    /// when first needed; relative to the working directory. Empty: nothing
    /// is kept (API-added proxies end with the process).
    pub dir: String,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            dir: "state".into(),
        }
    }
}

/// One `[[proxy]]`: a stream pulled from an upstream into `app/stream`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Local application.
    pub app: String,
    /// Local stream name, or a pattern: `"~^cam(\\d+)$"` (a regular
    /// expression after `~`) makes an on-demand proxy for every asked name
    /// that matches, with `$1`, `${name}` … of the match in `url`.
    pub stream: String,
    /// Where to pull from: `rtmp://host[:port]/app/stream[?query]`,
    /// `rtsp://[user:pass@]host[:port]/path` or `http://host[:port]/path.flv`.
    pub url: String,
    /// Connect when the first player asks, close `relay.idle_close_secs`
    /// after the last one left (RTMP, RTSP and HTTP-FLV players ask).
    #[serde(default)]
    pub on_demand: bool,
    /// RTSP upstreams: `tcp` (interleaved, the default), `udp`, or `auto`
    /// (UDP, falling back to TCP when refused or when no packet comes).
    #[serde(default)]
    pub rtsp_transport: RtspTransport,
}

/// How an RTSP upstream sends its media.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RtspTransport {
    /// Interleaved on the RTSP connection.
    #[default]
    Tcp,
    /// RTP/RTCP port pairs from `rtsp.udp_port_range`.
    Udp,
    /// UDP first, TCP when the camera refuses it or sends nothing.
    Auto,
}

impl super::Config {
    /// Checks `[relay]` and every `[[proxy]]`: the key that failed and why.
    pub(super) fn validate_relays(&self) -> Result<(), (String, String)> {
        let r = &self.relay;
        for (key, value) in [
            ("relay.retry_min_ms", r.retry_min_ms),
            ("relay.retry_max_ms", r.retry_max_ms),
            ("relay.connect_secs", r.connect_secs),
            ("relay.no_media_secs", r.no_media_secs),
            ("relay.idle_close_secs", r.idle_close_secs),
            ("relay.max_pattern_proxies", r.max_pattern_proxies as u64),
            (
                "relay.max_pattern_proxies_per_ip",
                r.max_pattern_proxies_per_ip as u64,
            ),
        ] {
            if value == 0 {
                return Err((key.into(), "must be greater than 0".into()));
            }
        }
        if r.retry_max_ms < r.retry_min_ms {
            return Err((
                "relay.retry_max_ms".into(),
                "must not be below relay.retry_min_ms".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.proxy.iter().enumerate() {
            let at = |field: &str| format!("proxy[{i}].{field}");
            if let Some(pattern) = p.stream.strip_prefix('~') {
                if let Err(e) = stream_pattern(pattern) {
                    return Err((at("stream"), format!("not a valid pattern: {e}")));
                }
                if let Err(e) = stream_core::StreamKey::parse(p.app.clone(), "x") {
                    return Err((at("app"), e.to_string()));
                }
            } else if let Err(e) = stream_core::StreamKey::parse(p.app.clone(), p.stream.clone()) {
                return Err((at("stream"), e.to_string()));
            }
            if let Err(e) = crate::relay::PullUrl::parse(&p.url) {
                return Err((at("url"), e.to_string()));
            }
            if p.rtsp_transport != RtspTransport::Tcp && !p.url.starts_with("rtsp://") {
                return Err((
                    at("rtsp_transport"),
                    "only rtsp:// upstreams have a transport".into(),
                ));
            }
            if p.rtsp_transport != RtspTransport::Tcp
                && self.rtsp.udp_ports().ok().flatten().is_none()
            {
                return Err((
                    at("rtsp_transport"),
                    "udp and auto need rtsp.udp_port_range".into(),
                ));
            }
            if !seen.insert((p.app.as_str(), p.stream.as_str())) {
                return Err((
                    at("stream"),
                    format!("{}/{} is pulled by an earlier [[proxy]]", p.app, p.stream),
                ));
            }
        }
        Ok(())
    }
}

/// Compiles a `[[proxy]]` stream pattern (the text after `~`), with a size
/// bound: the configuration is trusted, but a typo must not cost memory.
pub fn stream_pattern(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn with(proxies: Vec<ProxyConfig>) -> Config {
        Config {
            proxy: proxies,
            ..Config::default()
        }
    }

    fn proxy(stream: &str, url: &str) -> ProxyConfig {
        ProxyConfig {
            app: "live".into(),
            stream: stream.into(),
            url: url.into(),
            on_demand: false,
            rtsp_transport: RtspTransport::Tcp,
        }
    }

    #[test]
    fn proxies_are_checked_key_by_key() {
        assert!(with(vec![proxy("cam", "rtmp://10.0.0.5/live/cam")])
            .validate()
            .is_ok());
        let err = |c: Config| c.validate().unwrap_err().0;
        assert_eq!(err(with(vec![proxy("cam", "srt://x/y")])), "proxy[0].url");
        assert_eq!(
            err(with(vec![proxy("../x", "rtmp://h/a/b")])),
            "proxy[0].stream"
        );
        let twice = vec![proxy("cam", "rtmp://h/a/b"), proxy("cam", "rtmp://h/a/c")];
        assert_eq!(err(with(twice)), "proxy[1].stream");
        let mut udp_over_rtmp = proxy("cam", "rtmp://h/a/b");
        udp_over_rtmp.rtsp_transport = RtspTransport::Udp;
        assert_eq!(err(with(vec![udp_over_rtmp])), "proxy[0].rtsp_transport");
        assert!(with(vec![proxy("~^cam(\\d+)$", "rtsp://10.0.0.$1/live")])
            .validate()
            .is_ok());
        assert_eq!(
            err(with(vec![proxy("~^cam(", "rtsp://h/live")])),
            "proxy[0].stream"
        );
        let mut c = Config::default();
        c.relay.retry_max_ms = 10;
        assert_eq!(err(c), "relay.retry_max_ms");
    }

    #[test]
    fn proxies_come_from_toml() {
        let c: Config = toml::from_str(
            "[relay]\nno_media_secs = 5\n\n[[proxy]]\napp = \"live\"\nstream = \"cam1\"\nurl = \"rtmp://10.0.0.5/live/cam1\"\n",
        )
        .unwrap();
        assert_eq!(c.relay.no_media_secs, 5);
        assert_eq!(c.proxy, vec![proxy("cam1", "rtmp://10.0.0.5/live/cam1")]);
    }
}
