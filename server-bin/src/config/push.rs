//! `[[push]]`: local streams forwarded to an RTMP or RTSP target while they
//! are live (nginx-rtmp's `push`, ZLMediaKit's `addStreamPusherProxy`).
//!
//! Supervision (backoff, connect deadline) shares the `[relay]` settings
//! with the pulls.

use serde::{Deserialize, Serialize};

use super::RtspTransport;

/// One `[[push]]`: `app/stream` forwarded to `url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    /// Local application.
    pub app: String,
    /// Local stream name.
    pub stream: String,
    /// Where to publish: `rtmp://host[:port]/app/stream[?query]` or
    /// `rtsp://[user:pass@]host[:port]/path`.
    pub url: String,
    /// RTSP targets: `tcp` (interleaved, the default and the only one so
    /// far: UDP record is refused by the validation).
    #[serde(default)]
    pub rtsp_transport: RtspTransport,
}

/// Why a push target cannot be used (the configuration's and the API's check).
pub fn check_push(p: &PushConfig) -> Result<(), (&'static str, String)> {
    if let Err(e) = stream_core::StreamKey::parse(p.app.clone(), p.stream.clone()) {
        return Err(("stream", e.to_string()));
    }
    match crate::relay::PullUrl::parse(&p.url) {
        Ok(u)
            if matches!(
                u.scheme,
                crate::relay::Scheme::Rtmp | crate::relay::Scheme::Rtsp
            ) => {}
        Ok(_) => return Err(("url", "pushes go to rtmp:// or rtsp:// targets".into())),
        Err(e) => return Err(("url", e.to_string())),
    }
    if p.rtsp_transport != RtspTransport::Tcp {
        return Err((
            "rtsp_transport",
            "pushes go over tcp (interleaved) only".into(),
        ));
    }
    Ok(())
}

impl super::Config {
    /// Checks every `[[push]]`: the key that failed and why.
    pub(super) fn validate_pushes(&self) -> Result<(), (String, String)> {
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.push.iter().enumerate() {
            let at = |field: &str| format!("push[{i}].{field}");
            check_push(p).map_err(|(field, why)| (at(field), why))?;
            if !seen.insert((p.app.as_str(), p.stream.as_str(), p.url.as_str())) {
                return Err((
                    at("url"),
                    format!(
                        "{}/{} is pushed to this URL by an earlier [[push]]",
                        p.app, p.stream
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn push(stream: &str, url: &str) -> PushConfig {
        PushConfig {
            app: "live".into(),
            stream: stream.into(),
            url: url.into(),
            rtsp_transport: RtspTransport::Tcp,
        }
    }

    fn with(pushes: Vec<PushConfig>) -> Config {
        Config {
            push: pushes,
            ..Config::default()
        }
    }

    #[test]
    fn pushes_are_checked_key_by_key() {
        assert!(with(vec![
            push("cam", "rtmp://cdn.example/live/cam?key=s"),
            push("cam", "rtsp://10.0.0.9:8554/live/cam"),
        ])
        .validate()
        .is_ok());
        let err = |c: Config| c.validate().unwrap_err().0;
        assert_eq!(err(with(vec![push("cam", "srt://x/y")])), "push[0].url");
        assert_eq!(
            err(with(vec![push("cam", "http://h/live/cam.flv")])),
            "push[0].url"
        );
        assert_eq!(
            err(with(vec![push("../x", "rtmp://h/a/b")])),
            "push[0].stream"
        );
        let twice = vec![push("cam", "rtmp://h/a/b"), push("cam", "rtmp://h/a/b")];
        assert_eq!(err(with(twice)), "push[1].url");
        let mut udp = push("cam", "rtsp://h/a/b");
        udp.rtsp_transport = RtspTransport::Udp;
        assert_eq!(err(with(vec![udp])), "push[0].rtsp_transport");
    }

    #[test]
    fn pushes_come_from_toml() {
        let c: Config = toml::from_str(
            "[[push]]\napp = \"live\"\nstream = \"cam\"\nurl = \"rtmp://cdn.example/live/cam\"\n",
        )
        .unwrap();
        assert_eq!(c.push, vec![push("cam", "rtmp://cdn.example/live/cam")]);
        assert!(toml::from_str::<Config>(
            "[[push]]\napp = \"live\"\nstream = \"cam\"\nurl = \"rtmp://h/a/b\"\nbogus = 1\n"
        )
        .is_err());
    }
}
