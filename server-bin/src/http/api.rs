//! `/api/v1`: strom's own management API.
//!
//! - `GET /api/v1/streams`: every stream.
//! - `GET /api/v1/streams/{app}/{stream}`: one stream, with tracks and players.
//! - `DELETE /api/v1/streams/{app}/{stream}`: closes the stream, disconnecting
//!   its publisher and players.

use std::time::{SystemTime, UNIX_EPOCH};

use hyper::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;
use stream_core::{PeerInfo, StreamKey, StreamSnapshot, SubscriberSnapshot, Track};

use super::reply::{error, json, Reply};
use crate::server::Shared;

/// Routes `/api/v1/...`; `rest` is the path after `/api/v1`.
pub fn handle(shared: &Shared, method: &Method, rest: &[String]) -> Reply {
    match (method, rest) {
        (&Method::GET, [s]) if s == "streams" => {
            let streams: Vec<_> = shared.hub.streams().iter().map(stream_view).collect();
            json(StatusCode::OK, &json!({ "streams": streams }))
        }
        (m, [s, app, stream]) if s == "streams" => {
            let key = StreamKey::new(app.clone(), stream.clone());
            match *m {
                Method::GET => match shared.hub.stream(&key) {
                    Some(snapshot) => json(StatusCode::OK, &stream_view(&snapshot)),
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

fn not_found(key: &StreamKey) -> Reply {
    error(
        StatusCode::NOT_FOUND,
        "stream_not_found",
        &format!("no stream {key}"),
    )
}

fn method_not_allowed(allowed: &str) -> Reply {
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
    subscriber_count: usize,
    subscribers: Vec<SubscriberView>,
}

#[derive(Serialize)]
struct PeerView {
    session_id: u64,
    protocol: &'static str,
    peer: Option<String>,
}

#[derive(Serialize)]
struct TrackView {
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

fn track_view(t: &Track) -> TrackView {
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

fn stream_view(s: &StreamSnapshot) -> StreamView {
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
        subscriber_count: s.subscribers.len(),
        subscribers: s.subscribers.iter().map(subscriber_view).collect(),
    }
}
