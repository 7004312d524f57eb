//! `[webrtc]`: WHEP viewers and WHIP publishers on one UDP port.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// `[webrtc]`: browsers, OBS and ffmpeg over WebRTC (WHEP to play, WHIP to
/// publish). Signalling is HTTP on the HTTP port; media is one UDP port
/// shared by every peer (ICE-lite: strom only answers connectivity checks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebRtcConfig {
    /// WebRTC on or off.
    pub enabled: bool,
    /// The UDP port of every peer's media (ZLMediaKit's `rtc.port`); 0: any.
    pub port: u16,
    /// Addresses announced as candidates, as peers reach this server (set
    /// the public address of a server behind NAT). Empty: the address the
    /// offer was posted to.
    pub public_addresses: Vec<IpAddr>,
    /// ICE-TCP on the same port number (TCP), for networks that block UDP.
    pub ice_tcp: bool,
    /// AAC audio is transcoded once per stream to Opus for WebRTC viewers
    /// (browsers cannot play AAC); off: AAC streams play without sound.
    pub transcode_aac: bool,
    /// Streams transcoded at once at most (each takes 1–2 % of a core, on a
    /// thread of its own); viewers of more AAC streams play without sound.
    pub max_transcodes: usize,
    /// A peer must finish ICE and DTLS within this long after the answer.
    pub connect_timeout_ms: u64,
    /// A connected peer that sends nothing (no media, no RTCP, no consent
    /// check) for this long is dropped; browsers check consent every ~5 s.
    pub peer_timeout_ms: u64,
    /// WebRTC sessions at most, in total (beside `server.max_sessions`).
    pub max_sessions: usize,
    /// Keyframes asked of a WHIP publisher this often (browsers send one
    /// only when asked): new viewers and HLS segments need them.
    pub keyframe_interval_ms: u64,
}

impl Default for WebRtcConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            port: 8000,
            public_addresses: Vec::new(),
            ice_tcp: true,
            transcode_aac: true,
            max_transcodes: 64,
            connect_timeout_ms: 10_000,
            peer_timeout_ms: 15_000,
            max_sessions: 10_000,
            keyframe_interval_ms: 2_000,
        }
    }
}

impl super::Config {
    /// Checks `[webrtc]`: the key that failed and why.
    pub(super) fn validate_webrtc(&self) -> Result<(), (String, String)> {
        let w = &self.webrtc;
        for (key, v, min) in [
            ("webrtc.connect_timeout_ms", w.connect_timeout_ms, 100),
            ("webrtc.peer_timeout_ms", w.peer_timeout_ms, 1000),
            ("webrtc.keyframe_interval_ms", w.keyframe_interval_ms, 200),
        ] {
            if v < min {
                return Err((key.into(), format!("must be at least {min}")));
            }
        }
        if w.peer_timeout_ms > 30_000 {
            return Err((
                "webrtc.peer_timeout_ms".into(),
                "must be at most 30000 (RFC 7675: consent expires after 30 s)".into(),
            ));
        }
        Ok(())
    }
}
