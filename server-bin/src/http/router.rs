//! Which handler answers which request, and who may call it.

use std::net::SocketAddr;

use hyper::{Method, Request, StatusCode};

use super::reply::{error, Reply};
use super::{api, auth, health, metrics, url};
use crate::server::Shared;

/// Answers one request. Request bodies are never read: no endpoint takes
/// one, so a client cannot make the control plane buffer anything.
pub fn route<B>(shared: &Shared, peer: SocketAddr, req: Request<B>) -> Reply {
    let (parts, _body) = req.into_parts();
    let Some(segments) = url::segments(parts.uri.path()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_path",
            "malformed percent-encoding in the path",
        );
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let read_only = parts.method == Method::GET || parts.method == Method::HEAD;
    match segments.as_slice() {
        ["healthz"] if read_only => health::healthz(shared),
        ["metrics"] if read_only => match auth::authorize(&shared.config.api, peer, &parts) {
            Ok(()) => metrics::metrics(shared),
            Err(refused) => refused.reply(),
        },
        ["api", "v1", rest @ ..] => match auth::authorize(&shared.config.api, peer, &parts) {
            Ok(()) => {
                let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
                api::handle(
                    shared,
                    &parts.method,
                    &rest,
                    parts.uri.query().unwrap_or(""),
                )
            }
            Err(refused) => refused.reply(),
        },
        ["index", "api", name] => match auth::authorize(&shared.config.api, peer, &parts) {
            Ok(()) => super::zlm::handle(shared, name, parts.uri.query().unwrap_or("")),
            // ZLMediaKit's own answer to a bad secret: code -100, HTTP 200.
            Err(_) => super::reply::json(
                StatusCode::OK,
                &serde_json::json!({ "code": -100, "msg": "secret error" }),
            ),
        },
        #[cfg(debug_assertions)]
        ["debug", "block-worker"] if shared.test_hooks && parts.method == Method::POST => {
            match auth::authorize(&shared.config.api, peer, &parts) {
                Ok(()) => super::debug::block_worker(shared, parts.uri.query().unwrap_or("")),
                Err(refused) => refused.reply(),
            }
        }
        #[cfg(debug_assertions)]
        ["debug", "panic-session"] if shared.test_hooks && parts.method == Method::POST => {
            match auth::authorize(&shared.config.api, peer, &parts) {
                Ok(()) => super::debug::panic_session(shared, parts.uri.query().unwrap_or("")),
                Err(refused) => refused.reply(),
            }
        }
        ["healthz"] | ["metrics"] => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "allowed: GET, HEAD",
        ),
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such endpoint"),
    }
}
