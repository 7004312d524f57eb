//! Proxies through the API: strom's `/api/v1/proxies` and ZLMediaKit's
//! `addStreamProxy`, `delStreamProxy`, `listStreamProxy`, `getProxyInfo`
//! (its field names, `key` = `__defaultVhost__/app/stream`).
//!
//! - `GET /api/v1/proxies`: every proxy with its state.
//! - `POST /api/v1/proxies?app=&stream=&url=`: adds one (201), kept under
//!   `state.dir`; 400 bad name or URL, 409 the name is pulled or published.
//! - `GET /api/v1/proxies/{app}/{stream}`: one; `DELETE` removes it and frees
//!   the name at once (409 for those of the configuration file).

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use stream_core::StreamKey;

use super::api::{track_view, TrackView};
use super::reply::{error, json, Reply};
use super::url::query_param;
use crate::config::ProxyConfig;
use crate::relay::{AddError, Status};
use crate::server::Shared;

/// ZLMediaKit's vhost prefix of keys.
const VHOST: &str = "__defaultVhost__";

/// `/api/v1/proxies…`; `rest` is the path after `proxies`.
pub fn strom(shared: &Shared, method: &Method, rest: &[String], query: &str) -> Reply {
    match (method, rest) {
        (&Method::GET, []) => {
            let list: Vec<_> = shared
                .relays
                .list()
                .into_iter()
                .map(|s| view(shared, s))
                .collect();
            json(StatusCode::OK, &json!({ "proxies": list }))
        }
        (&Method::POST, []) => match add(shared, query) {
            Ok(status) => json(
                StatusCode::CREATED,
                &json!({ "proxy": view(shared, status) }),
            ),
            Err(e) => add_error(&e),
        },
        (m, [app, stream]) => {
            let Ok(key) = StreamKey::parse(app.clone(), stream.clone()) else {
                return error(StatusCode::BAD_REQUEST, "bad_name", "not a stream name");
            };
            match *m {
                Method::GET => match shared.relays.get(&key) {
                    Some(s) => json(StatusCode::OK, &json!({ "proxy": view(shared, s) })),
                    None => add_error(&AddError::NotFound(key)),
                },
                Method::DELETE => match shared.relays.remove(shared, &key) {
                    Ok(()) => json(StatusCode::OK, &json!({ "deleted": 1 })),
                    Err(e) => add_error(&e),
                },
                _ => error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "GET or DELETE",
                ),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such proxies path"),
    }
}

/// A proxy's status and, while its stream exists, what flows in: the
/// stream's tracks, bitrate and players.
#[derive(serde::Serialize)]
struct ProxyView {
    #[serde(flatten)]
    status: Status,
    tracks: Vec<TrackView>,
    bitrate_bps: u64,
    bytes_in: u64,
    player_count: usize,
}

fn view(shared: &Shared, status: Status) -> ProxyView {
    let stream = status
        .key
        .split_once('/')
        .and_then(|(app, stream)| StreamKey::parse(app.to_string(), stream.to_string()).ok())
        .and_then(|k| shared.hub.stream(&k));
    let players = crate::players::Players::count(&shared.sessions);
    ProxyView {
        tracks: stream
            .iter()
            .flat_map(|s| s.tracks.iter().map(track_view))
            .collect(),
        bitrate_bps: stream.as_ref().map_or(0, |s| s.bitrate_bps),
        bytes_in: stream.as_ref().map_or(0, |s| s.bytes_in),
        player_count: stream.as_ref().map_or(0, |s| players.of(s)),
        status,
    }
}

fn add(shared: &Shared, query: &str) -> Result<Status, AddError> {
    let arg = |k: &str| query_param(query, k).unwrap_or_default();
    shared.relays.add(
        shared,
        ProxyConfig {
            app: arg("app"),
            stream: arg("stream"),
            url: arg("url"),
            on_demand: matches!(arg("on_demand").as_str(), "1" | "true"),
            // ZLMediaKit's rtp_type: 0 TCP, 1 UDP.
            rtsp_transport: match (arg("rtsp_transport").as_str(), arg("rtp_type").as_str()) {
                ("udp", _) | (_, "1") => crate::config::RtspTransport::Udp,
                ("auto", _) => crate::config::RtspTransport::Auto,
                _ => crate::config::RtspTransport::Tcp,
            },
        },
    )
}

fn add_error(e: &AddError) -> Reply {
    let (status, code) = match e {
        AddError::Name(_) | AddError::Url(_) => (StatusCode::BAD_REQUEST, "bad_proxy"),
        AddError::Pulled(_) | AddError::Published(_) | AddError::Declared(_) => {
            (StatusCode::CONFLICT, "name_taken")
        }
        AddError::NotFound(_) => (StatusCode::NOT_FOUND, "proxy_not_found"),
        AddError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "state_not_saved"),
    };
    error(status, code, &e.to_string())
}

/// ZLMediaKit's proxy calls; `None` for other names.
pub fn zlm(shared: &Shared, name: &str, query: &str) -> Option<Value> {
    let arg = |k: &str| query_param(query, k).filter(|v| !v.is_empty());
    let key_of = || -> Option<StreamKey> {
        let key = arg("key")?;
        let mut parts = key.splitn(3, '/');
        let (_vhost, app, stream) = (parts.next()?, parts.next()?, parts.next()?);
        StreamKey::parse(app.to_string(), stream.to_string()).ok()
    };
    Some(match name {
        "addStreamProxy" => match add(shared, query) {
            Ok(s) => json!({ "code": 0, "data": { "key": format!("{VHOST}/{}", s.key) } }),
            Err(e) => json!({ "code": -1, "msg": e.to_string() }),
        },
        "delStreamProxy" => match key_of() {
            Some(key) => match shared.relays.remove(shared, &key) {
                Ok(()) => json!({ "code": 0, "data": { "flag": true } }),
                Err(e) => json!({ "code": -1, "msg": e.to_string(), "data": { "flag": false } }),
            },
            None => json!({ "code": -300, "msg": "key is required: __defaultVhost__/app/stream" }),
        },
        "listStreamProxy" => {
            let data: Vec<Value> = shared.relays.list().iter().map(zlm_view).collect();
            json!({ "code": 0, "data": data })
        }
        "getProxyInfo" => match key_of().and_then(|k| shared.relays.get(&k)) {
            Some(s) => json!({ "code": 0, "data": zlm_view(&s) }),
            None => json!({ "code": -500, "msg": "can not find the proxy" }),
        },
        _ => return None,
    })
}

/// A proxy with ZLMediaKit's field names (and strom's state beside them).
fn zlm_view(s: &Status) -> Value {
    let (app, stream) = s.key.split_once('/').unwrap_or((&s.key, ""));
    json!({
        "key": format!("{VHOST}/{}", s.key),
        "url": s.url,
        "status": if s.state == crate::relay::State::Live { 0 } else { -1 },
        "liveSecs": if s.state == crate::relay::State::Live { live_secs(s.since_ms) } else { 0 },
        "rePullCount": s.attempts.saturating_sub(1),
        "src": { "vhost": VHOST, "app": app, "stream": stream },
        "state": s.state,
        "last_error": s.last_error,
    })
}

/// Seconds since `since_ms` (ms since the Unix epoch).
fn live_secs(since_ms: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    now.saturating_sub(since_ms) / 1000
}
