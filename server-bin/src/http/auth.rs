//! Who may call the API: callers inside `api.trusted_networks` freely, others
//! only with `api.secret`; with no secret configured, others are refused.

use std::net::SocketAddr;

use hyper::http::request::Parts;
use hyper::StatusCode;

use super::reply::{error, Reply};
use super::url::query_param;
use crate::config::ApiConfig;

/// Why a caller was refused; becomes a 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(&'static str);

impl Refused {
    /// The 403 response.
    pub fn reply(self) -> Reply {
        error(StatusCode::FORBIDDEN, "forbidden", self.0)
    }
}

/// `Ok` when `peer` may call the API with these request parts. Refusals are
/// logged with the peer address.
pub fn authorize(api: &ApiConfig, peer: SocketAddr, parts: &Parts) -> Result<(), Refused> {
    if api.trusted_networks.iter().any(|n| n.contains(peer.ip())) {
        return Ok(());
    }
    if api.secret.is_empty() {
        tracing::warn!(%peer, path = parts.uri.path(), "API call refused: untrusted address and no api.secret configured");
        return Err(Refused(
            "this address is not in api.trusted_networks and no api.secret is configured",
        ));
    }
    let offered = presented_secret(parts);
    if offered
        .as_deref()
        .is_some_and(|s| constant_time_eq(s.as_bytes(), api.secret.as_bytes()))
    {
        return Ok(());
    }
    tracing::warn!(%peer, path = parts.uri.path(), secret_given = offered.is_some(), "API call refused: wrong or missing secret");
    Err(Refused("a valid api.secret is required from this address"))
}

/// The secret from `Authorization: Bearer`, `X-Strom-Secret` or `?secret=`.
fn presented_secret(parts: &Parts) -> Option<String> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(bearer) = header("authorization").and_then(|v| v.strip_prefix("Bearer ")) {
        return Some(bearer.trim().to_string());
    }
    if let Some(s) = header("x-strom-secret") {
        return Some(s.trim().to_string());
    }
    query_param(parts.uri.query().unwrap_or(""), "secret")
}

/// Compares without leaking the position of the first difference through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = hyper::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn api(secret: &str) -> ApiConfig {
        ApiConfig {
            secret: secret.into(),
            ..ApiConfig::default()
        }
    }

    const LOCAL: &str = "127.0.0.1:1234";
    const REMOTE: &str = "203.0.113.5:1234";

    #[test]
    fn loopback_needs_no_secret() {
        assert!(authorize(
            &api(""),
            LOCAL.parse().unwrap(),
            &parts("/api/v1/streams", &[])
        )
        .is_ok());
    }

    #[test]
    fn remote_without_configured_secret_is_refused() {
        let r = authorize(
            &api(""),
            REMOTE.parse().unwrap(),
            &parts("/api/v1/streams?secret=", &[]),
        );
        assert_eq!(r.unwrap_err().reply().status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn remote_with_secret_in_any_form() {
        let a = api("s3cret");
        let peer = REMOTE.parse().unwrap();
        assert!(authorize(&a, peer, &parts("/x?secret=s3cret", &[])).is_ok());
        assert!(authorize(&a, peer, &parts("/x", &[("x-strom-secret", "s3cret")])).is_ok());
        assert!(authorize(
            &a,
            peer,
            &parts("/x", &[("authorization", "Bearer s3cret")])
        )
        .is_ok());
        assert!(authorize(&a, peer, &parts("/x?secret=nope", &[])).is_err());
        assert!(authorize(&a, peer, &parts("/x", &[])).is_err());
    }
}
