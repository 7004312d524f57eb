//! `/api/v1`: strom's own management API.
//!
//! - `GET /api/v1/streams`: every stream.
//! - `GET /api/v1/streams/{app}/{stream}`: one stream, with tracks and players.
//! - `DELETE /api/v1/streams/{app}/{stream}`: closes the stream, disconnecting
//!   its publisher and players.
//! - `GET /api/v1/sessions`: every media session (protocol, peer, stream, bytes, duration).
//! - `DELETE /api/v1/sessions/{id}`: kicks one session;
//!   `DELETE /api/v1/sessions?peer=IP`: kicks every session of a peer address.
//! - `/api/v1/proxies`: pulled streams (see [`super::proxies`]).
//! - `/api/v1/pushes`: streams pushed to targets (see [`super::pushes`]).
//! - `GET /api/v1/server`: version, uptime, statistics and the effective
//!   configuration with secrets redacted.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;
use stream_core::{PeerInfo, StreamKey, StreamSnapshot, SubscriberSnapshot, Track};

use super::reply::{error, json, Reply};
use super::url::{query_param, redact_query, REDACTED};
use crate::config::Config;
use crate::media::carriage::{DroppedView, Rules};
use crate::players::Players;
use crate::server::Shared;
use crate::session::SessionInfo;

/// Routes `/api/v1/...`; `rest` is the path after `/api/v1`.
pub fn handle(shared: &Shared, method: &Method, rest: &[String], query: &str) -> Reply {
    match (method, rest) {
        (&Method::GET, [s]) if s == "sessions" => {
            let sessions: Vec<_> = shared
                .sessions
                .list()
                .iter()
                .map(|s| session_view(s))
                .collect();
            json(StatusCode::OK, &json!({ "sessions": sessions }))
        }
        (&Method::DELETE, [s]) if s == "sessions" => {
            let Some(peer) = query_param(query, "peer") else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "missing_peer",
                    "give ?peer=IP to kick every session of an address",
                );
            };
            let Ok(ip) = peer.parse::<std::net::IpAddr>() else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_peer",
                    &format!("`{peer}` is not an IP address"),
                );
            };
            let n = shared.sessions.kick_peer(ip);
            tracing::info!(%ip, sessions = n, "sessions of a peer kicked through the API");
            json(StatusCode::OK, &json!({ "kicked": n }))
        }
        (m, [s, id]) if s == "sessions" => {
            if *m != Method::DELETE {
                return method_not_allowed("DELETE");
            }
            match id.parse::<u64>() {
                Ok(id) if shared.sessions.kick(id) => {
                    tracing::info!(session = id, "session kicked through the API");
                    json(StatusCode::OK, &json!({ "kicked": 1 }))
                }
                _ => error(
                    StatusCode::NOT_FOUND,
                    "session_not_found",
                    &format!("no session {id}"),
                ),
            }
        }
        (&Method::GET, [s]) if s == "server" => server_view(shared),
        (&Method::GET, [s]) if s == "cluster" => super::cluster::view(shared),
        (_, [s, rest @ ..]) if s == "proxies" => super::proxies::strom(shared, method, rest, query),
        (_, [s, rest @ ..]) if s == "pushes" => super::pushes::strom(shared, method, rest, query),
        (&Method::GET, [s]) if s == "streams" => {
            let players = Players::count(&shared.sessions);
            let rules = Rules::of(&shared.config);
            let streams: Vec<_> = shared
                .hub
                .streams()
                .iter()
                .map(|s| stream_view(s, &players, &rules))
                .collect();
            json(StatusCode::OK, &json!({ "streams": streams }))
        }
        (m, [s, app, stream]) if s == "streams" => {
            let key = StreamKey::new(app.clone(), stream.clone());
            match *m {
                Method::GET => match shared.hub.stream(&key) {
                    Some(snapshot) => json(
                        StatusCode::OK,
                        &stream_view(
                            &snapshot,
                            &Players::count(&shared.sessions),
                            &Rules::of(&shared.config),
                        ),
                    ),
                    None => not_found(&key),
                },
                Method::DELETE => {
                    if shared.hub.close_stream(&key) {
                        tracing::info!(stream = %key, "stream closed through the API");
                        json(StatusCode::OK, &json!({ "closed": key.to_string() }))
                    } else {
                        not_found(&key)
                    }
                }
                _ => method_not_allowed("GET, DELETE"),
            }
        }
        (_, [s]) if s == "streams" => method_not_allowed("GET"),
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such API endpoint"),
    }
}

fn session_view(s: &SessionInfo) -> serde_json::Value {
    use std::sync::atomic::Ordering;
    json!({
        "id": s.id,
        "protocol": s.protocol.name(),
        "peer": s.peer.to_string(),
        "stream": s.stream().map(|k| k.to_string()),
        // Shown to operators: secret-looking values redacted (the hooks,
        // which need them, get the query as given).
        "params": s.params().map(|q| redact_query(&q)),
        "bytes_in": s.bytes_in.load(Ordering::Relaxed),
        "bytes_out": s.bytes_out.load(Ordering::Relaxed),
        "since_ms": unix_ms(s.since),
        "duration_secs": s.since.elapsed().map(|d| d.as_secs()).unwrap_or(0),
    })
}

/// The configuration with every secret redacted (`api.secret`, the values of
/// `auth.publish_tokens` and `auth.play_tokens`, `rtsp.auth.*.password`, and
/// secret-looking query values in hook URLs), as `/api/v1/server`,
/// `getServerConfig` and the `on_server_started` hook show it.
pub fn redacted_config(config: &Config) -> Config {
    let mut c = config.clone();
    let redact = |s: &mut String| {
        if !s.is_empty() {
            *s = REDACTED.into();
        }
    };
    redact(&mut c.api.secret);
    c.auth.publish_tokens.values_mut().for_each(redact);
    c.auth.play_tokens.values_mut().for_each(redact);
    c.rtsp
        .auth
        .values_mut()
        .for_each(|cred| redact(&mut cred.password));
    let hook = &mut c.hook;
    for url in [
        &mut hook.on_publish,
        &mut hook.on_play,
        &mut hook.on_stream_changed,
        &mut hook.on_stream_none_reader,
        &mut hook.on_stream_not_found,
        &mut hook.on_server_started,
        &mut hook.on_server_keepalive,
        &mut hook.on_record_mp4,
        &mut hook.on_record_disk,
    ] {
        if let Some((base, query)) = url.split_once('?') {
            *url = format!("{base}?{}", redact_query(query));
        }
    }
    // Upstreams and push targets carry camera passwords and stream keys:
    // shown without credentials or query.
    for url in c.proxy.iter_mut().map(|p| &mut p.url) {
        *url = shown_url(url);
    }
    for url in c.push.iter_mut().map(|p| &mut p.url) {
        *url = shown_url(url);
    }
    c
}

/// A relay URL without its credentials or query (also one that does not
/// parse, such as a pattern's template).
fn shown_url(url: &str) -> String {
    if let Ok(u) = crate::relay::PullUrl::parse(url) {
        return u.to_string();
    }
    let url = url.split_once('?').map_or(url, |(base, _)| base);
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}/{path}")
        }
        None => url.to_string(),
    }
}

/// Server statistics, as `/api/v1/server` and the keep-alive hook report them.
pub fn statistics(shared: &Shared) -> serde_json::Value {
    let hub = shared.hub.stats();
    json!({
        "streams": hub.streams,
        "publishers": hub.publishers,
        "subscribers": hub.subscribers,
        "bytes_in": hub.bytes_in,
        "bytes_out": hub.bytes_out,
        "frames_in": hub.frames_in,
        "drops": hub.drops,
        "sessions": shared.sessions.count_by_protocol(),
        "uptime_secs": shared.started.elapsed().as_secs(),
    })
}

fn server_view(shared: &Shared) -> Reply {
    json(
        StatusCode::OK,
        &json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_secs": shared.started.elapsed().as_secs(),
            "statistics": statistics(shared),
            "config": redacted_config(&shared.config),
        }),
    )
}

fn not_found(key: &StreamKey) -> Reply {
    error(
        StatusCode::NOT_FOUND,
        "stream_not_found",
        &format!("no stream {key}"),
    )
}

/// 405 with `Allow: {allowed}`.
pub(super) fn method_not_allowed(allowed: &str) -> Reply {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("allowed: {allowed}"),
    );
    if let Ok(v) = allowed.parse() {
        r.headers_mut().insert(hyper::header::ALLOW, v);
    }
    r
}

#[derive(Serialize)]
struct StreamView {
    app: String,
    stream: String,
    state: String,
    publisher: Option<PeerView>,
    publishing_since_ms: Option<u64>,
    tracks: Vec<TrackView>,
    bytes_in: u64,
    frames_in: u64,
    bitrate_bps: u64,
    drops: u64,
    /// Whether a browser plays the stream cleanly over WebRTC.
    webrtc_playable: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    webrtc_note: Option<String>,
    /// Per output (`hls`, `rtsp`, `webrtc`, …), the tracks it leaves out
    /// and why; outputs that carry every track are not listed.
    not_carried: BTreeMap<&'static str, Vec<DroppedView>>,
    /// Everyone watching, whatever the protocol ([`Players`]).
    player_count: usize,
    /// Hub subscribers: RTMP, HTTP-FLV and RTSP players, and the HLS/HTTP-TS
    /// packager (protocol `hls`, session 0) while the stream is packaged.
    subscriber_count: usize,
    subscribers: Vec<SubscriberView>,
}

#[derive(Serialize)]
struct PeerView {
    session_id: u64,
    protocol: &'static str,
    peer: Option<String>,
}

/// A track as the API shows it (streams and proxies).
#[derive(Serialize)]
pub(super) struct TrackView {
    id: u8,
    codec: &'static str,
    kind: &'static str,
    width: Option<u32>,
    height: Option<u32>,
    sample_rate: Option<u32>,
    channels: Option<u8>,
}

#[derive(Serialize)]
struct SubscriberView {
    id: u64,
    session_id: u64,
    protocol: &'static str,
    peer: Option<String>,
    since_ms: u64,
    frames_out: u64,
    bytes_out: u64,
    drops: u64,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn peer_view(p: &PeerInfo) -> PeerView {
    PeerView {
        session_id: p.session_id,
        protocol: p.protocol.name(),
        peer: p.peer.map(|a| a.to_string()),
    }
}

pub(super) fn track_view(t: &Track) -> TrackView {
    TrackView {
        id: t.id,
        codec: t.codec.name(),
        kind: if t.codec.is_video() { "video" } else { "audio" },
        width: t.width,
        height: t.height,
        sample_rate: t.sample_rate,
        channels: t.channels,
    }
}

fn subscriber_view(s: &SubscriberSnapshot) -> SubscriberView {
    SubscriberView {
        id: s.id,
        session_id: s.who.session_id,
        protocol: s.who.protocol.name(),
        peer: s.who.peer.map(|a| a.to_string()),
        since_ms: unix_ms(s.since),
        frames_out: s.frames_out,
        bytes_out: s.bytes_out,
        drops: s.drops,
    }
}

fn stream_view(s: &StreamSnapshot, players: &Players, rules: &Rules) -> StreamView {
    StreamView {
        app: s.key.app.clone(),
        stream: s.key.stream.clone(),
        state: format!("{:?}", s.state).to_lowercase(),
        publisher: s.publisher.as_ref().map(peer_view),
        publishing_since_ms: s.publishing_since.map(unix_ms),
        tracks: s.tracks.iter().map(track_view).collect(),
        bytes_in: s.bytes_in,
        frames_in: s.frames_in,
        bitrate_bps: s.bitrate_bps,
        drops: s.drops,
        webrtc_playable: crate::webrtc::playable(s).is_ok(),
        webrtc_note: crate::webrtc::playable(s).err(),
        not_carried: crate::media::carriage::api_view(rules, &s.tracks),
        player_count: players.of(s),
        subscriber_count: s.subscribers.len(),
        subscribers: s.subscribers.iter().map(subscriber_view).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_of_the_configuration_is_redacted() {
        let mut c = Config::default();
        c.api.secret = "api-s3cret".into();
        c.auth
            .publish_tokens
            .insert("live".into(), "pub-s3cret".into());
        c.auth
            .play_tokens
            .insert("live".into(), "play-s3cret".into());
        c.rtsp.auth.insert(
            "cam".into(),
            crate::config::RtspCredentials {
                user: "cam".into(),
                password: "rtsp-s3cret".into(),
                publish: true,
                play: true,
            },
        );
        c.hook.on_publish = "http://127.0.0.1:9/hook?token=hook-s3cret&x=1".into();
        for url in [
            "rtsp://admin:cam-s3cret@10.0.0.9/Streaming/101",
            "rtsp://admin:cam-s3cret@10.0.0.9/Streaming/$1",
            "rtmp://10.0.0.5/live/event?key=key-s3cret",
        ] {
            c.proxy.push(crate::config::ProxyConfig {
                app: "live".into(),
                stream: "cam".into(),
                url: url.into(),
                on_demand: false,
                rtsp_transport: Default::default(),
            });
        }
        let shown = serde_json::to_string(&redacted_config(&c)).unwrap();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("\"user\":\"cam\""), "names stay: {shown}");
        assert!(shown.contains("x=1"), "{shown}");
        assert!(
            shown.contains("rtsp://10.0.0.9:554/Streaming/$1"),
            "{shown}"
        );
        // A URL that does not parse loses its credentials and query too.
        assert_eq!(shown_url("srt://u:s3cret@h:9/x?k=s3cret"), "srt://h:9/x");
    }
}
