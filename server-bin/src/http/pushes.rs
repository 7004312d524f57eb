//! Pushes through the API: strom's `/api/v1/pushes` and ZLMediaKit's
//! `addStreamPusherProxy` / `delStreamPusherProxy` (its parameters, and its
//! key `{schema}/{vhost}/{app}/{stream}/{md5(dst_url)}`).
//!
//! - `GET /api/v1/pushes`: every push with its state.
//! - `POST /api/v1/pushes?app=&stream=&url=`: adds one (201), kept under
//!   `state.dir`; 400 bad name, URL or transport, 409 the same push exists.
//! - `GET /api/v1/pushes/{app}/{stream}/{id}`: one (`id` as listed: the MD5
//!   of the target URL); `DELETE` removes it and closes its target
//!   connection (409 for those of the configuration file).

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use stream_core::StreamKey;

use super::reply::{error, json, Reply};
use super::url::query_param;
use crate::config::{PushConfig, RtspTransport};
use crate::relay::push::{PushError, PushStatus, VHOST};
use crate::server::Shared;

/// `/api/v1/pushes…`; `rest` is the path after `pushes`.
pub fn strom(shared: &Shared, method: &Method, rest: &[String], query: &str) -> Reply {
    let arg = |k: &str| query_param(query, k).unwrap_or_default();
    match (method, rest) {
        (&Method::GET, []) => json(StatusCode::OK, &json!({ "pushes": shared.pushes.list() })),
        (&Method::POST, []) => {
            let transport = match arg("rtsp_transport").as_str() {
                "" | "tcp" => Ok(RtspTransport::Tcp),
                "udp" => Ok(RtspTransport::Udp),
                other => Err(PushError::Invalid(format!("rtsp_transport {other:?}: tcp"))),
            };
            match transport.and_then(|t| add(shared, arg("app"), arg("stream"), arg("url"), t)) {
                Ok(status) => json(StatusCode::CREATED, &json!({ "push": status })),
                Err(e) => push_error(&e),
            }
        }
        (m, [app, stream, id]) => {
            let Ok(key) = StreamKey::parse(app.clone(), stream.clone()) else {
                return error(StatusCode::BAD_REQUEST, "bad_name", "not a stream name");
            };
            match *m {
                Method::GET => match shared.pushes.get(&key, id) {
                    Some(s) => json(StatusCode::OK, &json!({ "push": s })),
                    None => push_error(&PushError::NotFound(format!("{key}/{id}"))),
                },
                Method::DELETE => match shared.pushes.remove(&key, id) {
                    Ok(()) => json(StatusCode::OK, &json!({ "deleted": 1 })),
                    Err(e) => push_error(&e),
                },
                _ => error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "GET or DELETE",
                ),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such pushes path"),
    }
}

fn add(
    shared: &Shared,
    app: String,
    stream: String,
    url: String,
    rtsp_transport: RtspTransport,
) -> Result<PushStatus, PushError> {
    shared.pushes.add(PushConfig {
        app,
        stream,
        url,
        rtsp_transport,
    })
}

fn push_error(e: &PushError) -> Reply {
    let (status, code) = match e {
        PushError::Invalid(_) => (StatusCode::BAD_REQUEST, "bad_push"),
        PushError::Exists(_) | PushError::Declared(_) => (StatusCode::CONFLICT, "push_exists"),
        PushError::NotFound(_) => (StatusCode::NOT_FOUND, "push_not_found"),
        PushError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "state_not_saved"),
    };
    error(status, code, &e.to_string())
}

/// ZLMediaKit's pusher calls; `None` for other names.
pub fn zlm(shared: &Shared, name: &str, query: &str) -> Option<Value> {
    let arg = |k: &str| query_param(query, k).filter(|v| !v.is_empty());
    Some(match name {
        "addStreamPusherProxy" => {
            let (Some(app), Some(stream), Some(url)) = (arg("app"), arg("stream"), arg("dst_url"))
            else {
                return Some(
                    json!({ "code": -300, "msg": "app, stream and dst_url are required" }),
                );
            };
            // rtp_type: 0 TCP, 1 UDP (not offered).
            let transport = match arg("rtp_type").as_deref() {
                None | Some("0") => RtspTransport::Tcp,
                Some(_) => RtspTransport::Udp,
            };
            let schema = arg("schema").unwrap_or_else(|| "rtmp".into());
            let vhost = arg("vhost").unwrap_or_else(|| VHOST.into());
            match add(shared, app, stream, url, transport) {
                Ok(s) => json!({ "code": 0, "data": {
                    "key": format!("{schema}/{vhost}/{}/{}", s.stream, s.id),
                } }),
                Err(e) => json!({ "code": -1, "msg": e.to_string() }),
            }
        }
        "delStreamPusherProxy" => {
            // {schema}/{vhost}/{app}/{stream}/{id}: the schema and vhost are
            // ZLMediaKit's, strom keys a push by its stream and target.
            let parsed = arg("key").and_then(|key| {
                let parts: Vec<&str> = key.split('/').collect();
                let [_schema, _vhost, app, stream, id] = parts.as_slice() else {
                    return None;
                };
                let key = StreamKey::parse(app.to_string(), stream.to_string()).ok()?;
                Some((key, id.to_string()))
            });
            match parsed {
                Some((key, id)) => match shared.pushes.remove(&key, &id) {
                    Ok(()) => json!({ "code": 0, "data": { "flag": true } }),
                    Err(e) => {
                        json!({ "code": -1, "msg": e.to_string(), "data": { "flag": false } })
                    }
                },
                None => json!({
                    "code": -300,
                    "msg": "key is required: schema/__defaultVhost__/app/stream/id",
                }),
            }
        }
        _ => return None,
    })
}
