//! Stream names and who is on the other end of a session.

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

impl StreamKey {
    /// Builds a key from its two parts.
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
    /// HLS segmenter (one internal subscriber per stream).
    Hls,
    /// Anything inside the server (tests, relays).
    Internal,
}

impl Protocol {
    /// "rtmp", "rtsp", "http-flv", "http-ts", "hls" or "internal".
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Rtmp => "rtmp",
            Protocol::Rtsp => "rtsp",
            Protocol::HttpFlv => "http-flv",
            Protocol::HttpTs => "http-ts",
            Protocol::Hls => "hls",
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
    fn protocol_names() {
        let all = [
            (Protocol::Rtmp, "rtmp"),
            (Protocol::Rtsp, "rtsp"),
            (Protocol::HttpFlv, "http-flv"),
            (Protocol::HttpTs, "http-ts"),
            (Protocol::Hls, "hls"),
            (Protocol::Internal, "internal"),
        ];
        for (p, n) in all {
            assert_eq!(p.name(), n);
        }
        assert_eq!(PeerInfo::internal(7).protocol, Protocol::Internal);
    }
}
