//! Which handler answers which request, and who may call it.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::{Method, Request, StatusCode};

use super::reply::{error, Reply};
use super::{api, auth, health, metrics, recordings, url};
use crate::server::Shared;

/// Which family an endpoint belongs to, for the shape of its refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// `/api/v1`, `/metrics`, `/debug`: `{"error":{…}}`.
    Strom,
    /// `/index/api`: ZLMediaKit's `{"code":…,"msg":…}`.
    Zlm,
}

/// The checks every API, metrics and debug request passes before its
/// handler runs: who calls ([`auth::authorize`]), under which `Host`
/// ([`auth::host_allowed`], 421) and, for calls that change state, from
/// which site ([`auth::cross_site`], 403). `Some` is the refusal.
fn gate(
    shared: &Shared,
    peer: SocketAddr,
    parts: &hyper::http::request::Parts,
    family: Family,
    destructive: bool,
) -> Option<Reply> {
    let refuse = |status: StatusCode, code: &str, msg: &str| match family {
        Family::Strom => error(status, code, msg),
        Family::Zlm => super::reply::json(
            status,
            &serde_json::json!({ "code": ZLM_AUTH_FAILED, "msg": msg }),
        ),
    };
    let trust = match auth::authorize(&shared.config.api, peer, parts) {
        Ok(trust) => trust,
        // ZLMediaKit's own answer to a bad secret: code -100, HTTP 200.
        Err(_) if family == Family::Zlm => {
            return Some(refuse(StatusCode::OK, "", "secret error"));
        }
        Err(refused) => return Some(refused.reply()),
    };
    if trust == auth::Trust::Network && !auth::host_allowed(parts, &shared.config.http.hostnames) {
        let host = parts
            .headers
            .get(hyper::header::HOST)
            .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
            .unwrap_or_default();
        tracing::warn!(%peer, %host, path = parts.uri.path(), "API call refused: Host names no address or name of this server (DNS rebinding?); list it in http.hostnames or give api.secret");
        return Some(refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected",
            "this Host is not an address or name of this server: list it in http.hostnames, or give api.secret",
        ));
    }
    if destructive {
        if let Some(why) = auth::cross_site(&shared.config.api, parts) {
            tracing::warn!(%peer, path = parts.uri.path(), reason = %why, "API call refused: cross-site request");
            return Some(refuse(StatusCode::FORBIDDEN, "cross_site", &why));
        }
    }
    None
}

/// The checks of a read-only `/api/v1` request served outside this router
/// (the recording download, on a media worker): [`gate`]'s, with the same
/// refusals. `Some` is the refusal.
pub(crate) fn api_gate(
    shared: &Shared,
    peer: SocketAddr,
    parts: &hyper::http::request::Parts,
) -> Option<Reply> {
    gate(shared, peer, parts, Family::Strom, false)
}

/// ZLMediaKit's code for an authentication failure.
const ZLM_AUTH_FAILED: i64 = -100;

/// Answers one request. Request bodies are never read: no endpoint takes
/// one, so a client cannot make the control plane buffer anything.
///
/// Handlers are synchronous snapshots of in-memory state, except the
/// recordings' calls that read the catalogue or the disk: those run on the
/// blocking pool under a deadline ([`recordings`]), and only they await.
pub async fn route<B>(shared: &Arc<Shared>, peer: SocketAddr, req: Request<B>) -> Reply {
    let (parts, body) = req.into_parts();
    drop(body);
    let Some(segments) = url::segments(parts.uri.path()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_path",
            "malformed percent-encoding in the path",
        );
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let read_only = parts.method == Method::GET || parts.method == Method::HEAD;
    let check = |family, destructive| gate(shared, peer, &parts, family, destructive);
    match segments.as_slice() {
        ["healthz"] if read_only => health::healthz(shared),
        ["metrics"] if read_only => match check(Family::Strom, false) {
            None => metrics::metrics(shared),
            Some(refused) => refused,
        },
        ["api", "v1", "recordings", rest @ ..] => match check(Family::Strom, !read_only) {
            None => recordings::strom(shared, &parts.method, rest, parts.uri.query()).await,
            Some(refused) => refused,
        },
        ["api", "v1", rest @ ..] => match check(Family::Strom, !read_only) {
            None => {
                let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
                api::handle(
                    shared,
                    &parts.method,
                    &rest,
                    parts.uri.query().unwrap_or(""),
                )
            }
            Some(refused) => refused,
        },
        ["index", "api", name] if recordings::is_zlm(name) => {
            match check(Family::Zlm, !recordings::is_zlm_read_only(name)) {
                None => recordings::zlm(shared, name, parts.uri.query().unwrap_or("")).await,
                Some(refused) => refused,
            }
        }
        ["index", "api", name] => match check(Family::Zlm, !super::zlm::is_read_only(name)) {
            None => super::zlm::handle(shared, name, parts.uri.query().unwrap_or("")),
            Some(refused) => refused,
        },
        #[cfg(debug_assertions)]
        ["debug", "block-worker"] if shared.test_hooks && parts.method == Method::POST => {
            match check(Family::Strom, true) {
                None => super::debug::block_worker(shared, parts.uri.query().unwrap_or("")),
                Some(refused) => refused,
            }
        }
        #[cfg(debug_assertions)]
        ["debug", "panic-session"] if shared.test_hooks && parts.method == Method::POST => {
            match check(Family::Strom, true) {
                None => super::debug::panic_session(shared, parts.uri.query().unwrap_or("")),
                Some(refused) => refused,
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
