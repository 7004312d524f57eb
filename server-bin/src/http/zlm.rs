//! `/index/api/…`: a compatibility layer with ZLMediaKit's HTTP API, so
//! dashboards and business systems written against it keep working.
//!
//! Parameters come from the query string (ZLMediaKit also accepts them that
//! way); answers have ZLMediaKit's shape, `{"code":0,…}`, with its codes
//! (-300 invalid arguments, -500 not found, -1 other) and HTTP status 200.
//! Which fields are filled, and how, is documented in the README.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::StatusCode;
use serde_json::{json, Map, Value};
use stream_core::{Codec, StreamKey, StreamSnapshot, Track};

use super::reply::{json as reply_json, Reply};
use super::url::query_param;
use crate::hooks::VHOST;
use crate::players::Players;
use crate::server::Shared;

const INVALID_ARGS: i64 = -300;
const NOT_FOUND: i64 = -500;

/// The calls that only read: every other name (strom's `close_streams`,
/// `kick_session`, … and whatever ZLMediaKit adds that strom does not
/// implement) counts as changing state and is refused from another site's
/// page (see `auth::cross_site`). An allowlist, so a new call is guarded
/// until someone decides it only reads.
const READ_ONLY: [&str; 9] = [
    "version",
    "listStreamProxy",
    "getProxyInfo",
    "getMediaList",
    "isMediaOnline",
    "getMediaInfo",
    "getAllSession",
    "getServerConfig",
    "getStatistic",
];

/// Whether `/index/api/{name}` only reads.
pub fn is_read_only(name: &str) -> bool {
    READ_ONLY.contains(&name)
}

/// Answers `/index/api/{name}`.
pub fn handle(shared: &Shared, name: &str, query: &str) -> Reply {
    let arg = |k: &str| query_param(query, k).filter(|v| !v.is_empty());
    let body = match name {
        "version" => json!({ "code": 0, "data": {
            "branchName": "main",
            "buildTime": env!("CARGO_PKG_VERSION"),
            "commitHash": "",
            "server": "strom",
            "version": env!("CARGO_PKG_VERSION"),
        }}),
        "getMediaList" => {
            let players = Players::count(&shared.sessions);
            let data: Vec<Value> = shared
                .hub
                .streams()
                .iter()
                .filter(|s| matches(s, &arg("app"), &arg("stream")))
                .flat_map(|s| {
                    schemas(shared, s, &arg("schema"))
                        .into_iter()
                        .map(|schema| media(shared, &players, s, schema))
                        .collect::<Vec<_>>()
                })
                .collect();
            json!({ "code": 0, "data": data })
        }
        "isMediaOnline" | "getMediaInfo" => {
            let (Some(app), Some(stream)) = (arg("app"), arg("stream")) else {
                return invalid("app and stream are required");
            };
            let schema = arg("schema").unwrap_or_else(|| "rtmp".into());
            let snapshot = shared
                .hub
                .stream(&StreamKey::new(app, stream))
                .filter(|s| s.publisher.is_some());
            match (name, snapshot) {
                ("isMediaOnline", s) => json!({ "code": 0, "online": s.is_some() }),
                (_, Some(s)) => {
                    let players = Players::count(&shared.sessions);
                    let mut v = media(shared, &players, &s, known_schema(&schema));
                    if let Some(obj) = v.as_object_mut() {
                        obj.insert("code".into(), json!(0));
                        obj.insert("online".into(), json!(true));
                    }
                    v
                }
                (_, None) => {
                    json!({ "code": NOT_FOUND, "online": false, "msg": "can not find the stream" })
                }
            }
        }
        "close_streams" | "close_stream" => {
            let hits: Vec<StreamKey> = shared
                .hub
                .streams()
                .into_iter()
                .filter(|s| matches(s, &arg("app"), &arg("stream")))
                .map(|s| s.key)
                .collect();
            let closed = hits.iter().filter(|k| shared.hub.close_stream(k)).count();
            tracing::info!(
                hit = hits.len(),
                closed,
                "streams closed through the ZLMediaKit API"
            );
            json!({ "code": 0, "count_hit": hits.len(), "count_closed": closed })
        }
        "kick_session" => match arg("id").and_then(|id| id.parse::<u64>().ok()) {
            Some(id) if shared.sessions.kick(id) => json!({ "code": 0, "msg": "success" }),
            Some(_) => json!({ "code": NOT_FOUND, "msg": "session not found" }),
            None => return invalid("id is required"),
        },
        "kick_sessions" | "getAllSession" => {
            let port = arg("local_port").and_then(|p| p.parse::<u16>().ok());
            let peer_ip = arg("peer_ip");
            let chosen: Vec<_> = shared
                .sessions
                .list()
                .into_iter()
                .filter(|s| port.is_none_or(|p| local_port(shared, s.protocol) == p))
                .filter(|s| {
                    peer_ip
                        .as_ref()
                        .is_none_or(|ip| s.peer.ip().to_string() == *ip)
                })
                .collect();
            if name == "kick_sessions" {
                chosen.iter().for_each(|s| s.kick());
                json!({ "code": 0, "count_hit": chosen.len() })
            } else {
                let data: Vec<Value> = chosen
                    .iter()
                    .map(|s| {
                        json!({
                            "id": s.id.to_string(),
                            "identifier": s.id.to_string(),
                            "local_ip": shared.config.server.bind.to_string(),
                            "local_port": local_port(shared, s.protocol),
                            "peer_ip": s.peer.ip().to_string(),
                            "peer_port": s.peer.port(),
                            "typeid": type_id(s.protocol),
                        })
                    })
                    .collect();
                json!({ "code": 0, "data": data })
            }
        }
        "getServerConfig" => {
            let mut flat = Map::new();
            if let Ok(v) = serde_json::to_value(super::redacted_config(&shared.config)) {
                flatten("", &v, &mut flat);
            }
            json!({ "code": 0, "data": [Value::Object(flat)] })
        }
        "getStatistic" => {
            let stats = shared.hub.stats();
            let by_protocol = shared.sessions.count_by_protocol();
            let count = |p: &str| by_protocol.get(p).copied().unwrap_or(0);
            json!({ "code": 0, "data": {
                "MediaSource": stats.streams,
                "MultiMediaSourceMuxer": stats.streams,
                "TcpSession": shared.sessions.len(),
                "RtmpSession": count("rtmp"),
                "RtspSession": count("rtsp"),
                "HttpSession": count("http-flv") + count("http-ts") + count("hls"),
                "Socket": shared.sessions.len(),
                "Frame": stats.frames_in,
            }})
        }
        _ => match super::proxies::zlm(shared, name, query)
            .or_else(|| super::pushes::zlm(shared, name, query))
        {
            Some(body) => body,
            None => {
                json!({ "code": -1, "msg": format!("strom does not implement /index/api/{name}") })
            }
        },
    };
    reply_json(StatusCode::OK, &body)
}

fn invalid(msg: &str) -> Reply {
    reply_json(StatusCode::OK, &json!({ "code": INVALID_ARGS, "msg": msg }))
}

fn matches(s: &StreamSnapshot, app: &Option<String>, stream: &Option<String>) -> bool {
    app.as_ref().is_none_or(|a| *a == s.key.app)
        && stream.as_ref().is_none_or(|st| *st == s.key.stream)
}

/// The schemas every published stream is playable in at once (RTMP also
/// covers HTTP-FLV, as in ZLMediaKit; `fmp4` is HTTP-/WebSocket-fMP4,
/// muxed per frame from the hub, so always there).
const SCHEMAS: [&str; 3] = ["rtmp", "rtsp", "fmp4"];

/// The schemas `s` is listed under: RTMP, RTSP and fMP4 always; `hls` and `ts`
/// while its TS packager runs (they are made on demand, as ZLMediaKit
/// registers them when generated).
fn schemas(shared: &Shared, s: &StreamSnapshot, filter: &Option<String>) -> Vec<&'static str> {
    let packaged = shared.feeds.get(&s.key).is_some_and(|f| !f.is_ended());
    let on_demand: &[&'static str] = if packaged { &["hls", "ts"] } else { &[] };
    SCHEMAS
        .iter()
        .chain(on_demand)
        .copied()
        .filter(|s| filter.as_ref().is_none_or(|f| f == s))
        .collect()
}

fn known_schema(s: &str) -> &'static str {
    ["rtmp", "rtsp", "hls", "ts", "fmp4"]
        .into_iter()
        .find(|k| *k == s)
        .unwrap_or("rtmp")
}

fn local_port(shared: &Shared, p: stream_core::Protocol) -> u16 {
    use stream_core::Protocol::*;
    match p {
        Rtmp => shared.config.rtmp.port,
        Rtsp => shared.config.rtsp.port,
        _ => shared.config.http.port,
    }
}

/// ZLMediaKit reports a session's C++ class name; these are the equivalents.
fn type_id(p: stream_core::Protocol) -> &'static str {
    use stream_core::Protocol::*;
    match p {
        Rtmp => "mediakit::RtmpSession",
        Rtsp => "mediakit::RtspSession",
        _ => "mediakit::HttpSession",
    }
}

fn media(shared: &Shared, players: &Players, s: &StreamSnapshot, schema: &str) -> Value {
    let now = SystemTime::now();
    let created = s.publishing_since.unwrap_or(now);
    let alive = now
        .duration_since(created)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let origin = s.publisher.as_ref().and_then(|p| {
        let session = shared
            .sessions
            .list()
            .into_iter()
            .find(|x| x.id == p.session_id)?;
        let peer = p.peer?;
        Some(json!({
            "identifier": p.session_id.to_string(),
            "local_ip": shared.config.server.bind.to_string(),
            "local_port": local_port(shared, p.protocol),
            "peer_ip": peer.ip().to_string(),
            "peer_port": peer.port(),
            "bytes_in": session.bytes_in.load(Ordering::Relaxed),
        }))
    });
    // A stream a proxy pulls is ZLMediaKit's "pull" origin (4), its URL the upstream's.
    let pulled = s
        .publisher
        .as_ref()
        .and(shared.relays.get(&s.key))
        .filter(|p| p.state == crate::relay::State::Live);
    let mut view = json!({
        "app": s.key.app,
        "stream": s.key.stream,
        "vhost": VHOST,
        "schema": schema,
        "originType": if s.publisher.as_ref().is_some_and(|p| p.protocol == stream_core::Protocol::Rtsp) { 2 } else { 1 },
        "originTypeStr": s.publisher.as_ref().map(|p| p.protocol.name()).unwrap_or(""),
        // Where the origin pushed to, as ZLMediaKit reports it.
        "originUrl": match s.publisher.as_ref().map(|p| p.protocol) {
            Some(stream_core::Protocol::Rtsp) => format!(
                "rtsp://127.0.0.1:{}/{}/{}",
                shared.config.rtsp.port, s.key.app, s.key.stream
            ),
            _ => format!("rtmp://127.0.0.1/{}/{}", s.key.app, s.key.stream),
        },
        "originSock": origin,
        // Every player of the stream, whatever the protocol (ZLMediaKit
        // counts per schema; strom's players all read the one stream).
        "readerCount": players.of(s),
        "totalReaderCount": players.of(s),
        "bytesSpeed": s.bitrate_bps / 8,
        "createStamp": created.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "aliveSecond": alive,
        "tracks": s.tracks.iter().map(track).collect::<Vec<_>>(),
    });
    if let (Some(p), Some(obj)) = (pulled, view.as_object_mut()) {
        obj.insert("originType".into(), json!(4));
        obj.insert("originTypeStr".into(), json!("pull"));
        obj.insert("originUrl".into(), json!(p.url));
        // strom's own field: relayed from another node of the cluster.
        if p.origin == crate::relay::Origin::Cluster {
            let owner = shared
                .cluster
                .as_ref()
                .and_then(|c| c.directory.owner(&s.key));
            obj.insert(
                "cluster".into(),
                json!({ "relayed": true, "node": owner.as_ref().map(|o| &o.node), "epoch": owner.map(|o| o.epoch) }),
            );
        }
    }
    view
}

fn track(t: &Track) -> Value {
    // ZLMediaKit's CodecId numbering and names.
    let (id, name) = match t.codec {
        Codec::H264 => (0, "H264"),
        Codec::H265 => (1, "H265"),
        Codec::Aac => (2, "mpeg4-generic"),
        Codec::G711A => (3, "PCMA"),
        Codec::G711U => (4, "PCMU"),
        Codec::Opus => (5, "opus"),
        Codec::Av1 => (9, "AV1"),
        Codec::Mp3 => (-1, "MP3"),
    };
    let mut v = json!({
        "codec_id": id,
        "codec_id_name": name,
        "codec_type": if t.codec.is_video() { 0 } else { 1 },
        "ready": true,
    });
    if let Some(obj) = v.as_object_mut() {
        if t.codec.is_video() {
            obj.insert("width".into(), json!(t.width.unwrap_or(0)));
            obj.insert("height".into(), json!(t.height.unwrap_or(0)));
        } else {
            obj.insert("sample_rate".into(), json!(t.sample_rate.unwrap_or(0)));
            obj.insert("channels".into(), json!(t.channels.unwrap_or(0)));
            obj.insert("sample_bit".into(), json!(16));
        }
    }
    v
}

/// `{"rtmp":{"port":1935}}` → `{"rtmp.port":"1935"}`, as getServerConfig answers.
fn flatten(prefix: &str, v: &Value, out: &mut Map<String, Value>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.into(), json!(s));
        }
        other => {
            out.insert(prefix.into(), json!(other.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_like_zlmediakit() {
        let mut out = Map::new();
        flatten(
            "",
            &json!({"rtmp": {"port": 1935}, "api": {"secret": "x", "nets": ["a"]}}),
            &mut out,
        );
        assert_eq!(out["rtmp.port"], "1935");
        assert_eq!(out["api.secret"], "x");
        assert_eq!(out["api.nets"], "[\"a\"]");
    }
}
