//! Who may call the API: callers inside `api.trusted_networks` freely, others
//! only with `api.secret`; with no secret configured, others are refused.
//!
//! Two checks keep a browser on a trusted host from being used as a lever:
//! - [`host_allowed`]: a caller trusted only by its address must name this
//!   server in `Host` (an IP literal, `localhost`, the machine's host name or
//!   one of `http.hostnames`), or DNS rebinding would let any web page read
//!   the API through the victim's browser; the router answers 421.
//! - [`cross_site`]: destructive calls (which ZLMediaKit's API makes with a
//!   plain GET, so an `<img>` tag suffices) are refused when `Origin`,
//!   `Sec-Fetch-Site` or `Referer` says another site sent them, unless the
//!   origin is in `api.allowed_origins`.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

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

/// How an authorized caller earned its trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Its address is in `api.trusted_networks` and it gave no valid secret:
    /// anything able to make it send a request (a browser) is trusted too,
    /// so `Host` is checked ([`host_allowed`]).
    Network,
    /// It presented `api.secret`.
    Secret,
}

/// `Ok` when `peer` may call the API with these request parts. Refusals are
/// logged with the peer address.
pub fn authorize(api: &ApiConfig, peer: SocketAddr, parts: &Parts) -> Result<Trust, Refused> {
    let offered = presented_secret(api, parts);
    let valid = !api.secret.is_empty()
        && offered
            .as_deref()
            .is_some_and(|s| constant_time_eq(s.as_bytes(), api.secret.as_bytes()));
    if valid {
        return Ok(Trust::Secret);
    }
    if api.trusted_networks.iter().any(|n| n.contains(peer.ip())) {
        return Ok(Trust::Network);
    }
    if api.secret.is_empty() {
        tracing::warn!(%peer, path = parts.uri.path(), "API call refused: untrusted address and no api.secret configured");
        return Err(Refused(
            "this address is not in api.trusted_networks and no api.secret is configured",
        ));
    }
    tracing::warn!(%peer, path = parts.uri.path(), secret_given = offered.is_some(), "API call refused: wrong or missing secret");
    Err(Refused("a valid api.secret is required from this address"))
}

/// The secret from `Authorization: Bearer`, `X-Strom-Secret` or, when
/// `api.secret_in_query` allows it, `?secret=`.
fn presented_secret(api: &ApiConfig, parts: &Parts) -> Option<String> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(bearer) = header("authorization").and_then(|v| v.strip_prefix("Bearer ")) {
        return Some(bearer.trim().to_string());
    }
    if let Some(s) = header("x-strom-secret") {
        return Some(s.trim().to_string());
    }
    if !api.secret_in_query {
        return None;
    }
    query_param(parts.uri.query().unwrap_or(""), "secret")
}

/// Compares without leaking the position of the first difference through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `Host` of a request: the header, or the authority of an absolute URI.
fn host_of(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
}

/// `host[:port]` or `[v6][:port]` → the host part, lowercased, without a
/// trailing dot; `None` when malformed.
fn host_name(host: &str) -> Option<String> {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.starts_with(':')) {
            return None;
        }
        return v6.parse::<std::net::Ipv6Addr>().ok().map(|a| a.to_string());
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            Some(_) => return None,
            None => host,
        }
    };
    Some(name.trim_end_matches('.').to_ascii_lowercase())
}

/// This machine's host name, read once (`/proc/sys/kernel/hostname` is what
/// `gethostname(2)` returns on Linux; the crate forbids `unsafe`, so no libc).
fn machine_hostname() -> Option<&'static str> {
    static NAME: OnceLock<Option<String>> = OnceLock::new();
    NAME.get_or_init(|| {
        ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
    })
    .as_deref()
}

/// Whether a request's `Host` names this server: an IP literal, `localhost`
/// (or a name under `.localhost`), the machine's host name, or one of
/// `hostnames`. A request without `Host` (HTTP/1.0 tools) is allowed:
/// browsers always send one.
pub fn host_allowed(parts: &Parts, hostnames: &[String]) -> bool {
    let Some(host) = host_of(parts) else {
        return true;
    };
    let Some(name) = host_name(host) else {
        return false;
    };
    name.parse::<IpAddr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
        || machine_hostname()
            .is_some_and(|m| m == name || m.split('.').next() == Some(name.as_str()))
        || hostnames
            .iter()
            .any(|h| h.trim().trim_end_matches('.').eq_ignore_ascii_case(&name))
}

/// `scheme://host[:port]` of an origin or URL, lowercased, without path;
/// `None` for `null` or anything unparsable.
fn origin_of(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if scheme.is_empty() || authority.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// `Some(reason)` when a request comes from another site's page and its
/// origin is not in `api.allowed_origins`. Decided by, in order: an allowed
/// `Origin`; `Sec-Fetch-Site` (`same-origin` and `none` pass; `cross-site`
/// and `same-site`, another port or subdomain, are refused); an `Origin`
/// (or, from browsers too old for either, a `Referer`) whose host and port
/// differ from `Host`. Requests with none of these headers come from tools,
/// not pages, and pass.
pub fn cross_site(api: &ApiConfig, parts: &Parts) -> Option<String> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let origin = header("origin");
    let allowed = |o: &str| {
        origin_of(o).is_some_and(|o| {
            api.allowed_origins
                .iter()
                .any(|a| a.trim().trim_end_matches('/').eq_ignore_ascii_case(&o))
        })
    };
    if origin.is_some_and(allowed) {
        return None;
    }
    match header("sec-fetch-site").map(|v| v.trim().to_ascii_lowercase()) {
        Some(v) if v == "same-origin" || v == "none" => return None,
        Some(v) => {
            return Some(format!(
                "Sec-Fetch-Site: {v}: destructive calls from another site's page are refused (see api.allowed_origins)"
            ))
        }
        None => {}
    }
    let (what, claimed) = match (origin, header("referer")) {
        (Some(o), _) => ("Origin", o),
        (None, Some(r)) if !allowed(r) => ("Referer", r),
        _ => return None,
    };
    let same_host = origin_of(claimed)
        .and_then(|o| o.split_once("://").map(|(_, a)| a.to_string()))
        .zip(host_of(parts).map(str::to_ascii_lowercase))
        .is_some_and(|(a, h)| a == h);
    (!same_host).then(|| {
        format!("{what} names another site: destructive calls from another site's page are refused (see api.allowed_origins)")
    })
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

    #[test]
    fn secret_in_query_can_be_turned_off() {
        let a = ApiConfig {
            secret_in_query: false,
            ..api("s3cret")
        };
        let peer = REMOTE.parse().unwrap();
        assert!(authorize(&a, peer, &parts("/x?secret=s3cret", &[])).is_err());
        assert_eq!(
            authorize(&a, peer, &parts("/x", &[("x-strom-secret", "s3cret")])),
            Ok(Trust::Secret)
        );
    }

    #[test]
    fn trust_says_whether_a_secret_was_given() {
        let a = api("s3cret");
        let peer = LOCAL.parse().unwrap();
        assert_eq!(authorize(&a, peer, &parts("/x", &[])), Ok(Trust::Network));
        assert_eq!(
            authorize(&a, peer, &parts("/x?secret=s3cret", &[])),
            Ok(Trust::Secret)
        );
    }

    #[test]
    fn hosts_that_name_this_server() {
        let names = vec!["Media.Example.".to_string()];
        let ok = |host: &str| host_allowed(&parts("/x", &[("host", host)]), &names);
        for host in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "10.1.2.3:80",
            "[::1]",
            "[::1]:8080",
            "localhost:8080",
            "LOCALHOST",
            "app.localhost",
            "media.example:8080",
            "media.example.",
        ] {
            assert!(ok(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "[::1]x",
            "localhost:80x",
            "",
        ] {
            assert!(!ok(host), "{host}");
        }
        if let Some(me) = machine_hostname() {
            assert!(ok(&format!("{me}:8080")), "the machine's own name {me}");
        }
        assert!(
            host_allowed(&parts("/x", &[]), &[]),
            "no Host: not a browser"
        );
    }

    #[test]
    fn cross_site_requests_are_told_apart() {
        let a = ApiConfig {
            allowed_origins: vec!["https://dash.example/".into()],
            ..api("")
        };
        let cross = |headers: &[(&str, &str)]| {
            let mut h = vec![("host", "127.0.0.1:8080")];
            h.extend_from_slice(headers);
            cross_site(&a, &parts("/x", &h)).is_some()
        };
        assert!(!cross(&[]), "tools send neither header");
        assert!(!cross(&[("sec-fetch-site", "same-origin")]));
        assert!(!cross(&[("sec-fetch-site", "none")]));
        assert!(cross(&[("sec-fetch-site", "cross-site")]));
        assert!(cross(&[("sec-fetch-site", "same-site")]));
        assert!(cross(&[("origin", "http://evil.example")]));
        assert!(cross(&[("origin", "null")]));
        assert!(
            cross(&[("origin", "http://127.0.0.1:9999")]),
            "another port"
        );
        assert!(!cross(&[("origin", "http://127.0.0.1:8080")]));
        assert!(!cross(&[
            ("origin", "https://dash.example"),
            ("sec-fetch-site", "cross-site")
        ]));
        assert!(cross(&[("referer", "http://evil.example/page")]));
        assert!(!cross(&[("referer", "http://127.0.0.1:8080/ui/")]));
        assert!(!cross(&[("referer", "https://dash.example/ui")]));
    }
}
