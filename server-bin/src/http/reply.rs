//! Building responses: JSON bodies and the one error shape every endpoint uses,
//! `{"error": {"code": "...", "message": "..."}}`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;

/// Response body type of the control plane: always complete, never streamed.
pub type Body = Full<Bytes>;
/// A complete response.
pub type Reply = Response<Body>;

/// `status` with `value` as JSON.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => with_type(status, "application/json", body.into()),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &format!("cannot encode the response: {e}"),
        ),
    }
}

/// `status` with a machine-readable `code` and a human `message`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    with_type(status, "application/json", body.to_string().into())
}

/// `status` with a body of the given content type; never cached.
pub fn with_type(status: StatusCode, content_type: &'static str, body: Bytes) -> Reply {
    let mut reply = Response::new(Full::new(body));
    *reply.status_mut() = status;
    let headers = reply.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    reply
}
