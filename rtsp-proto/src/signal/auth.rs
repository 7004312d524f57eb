//! Server-side RTSP authentication (RFC 2326 §12.5 defers to HTTP): Basic (RFC 7617) and
//! Digest with MD5 (RFC 2617 §3, RFC 7616), `qop=auth` optional.
//!
//! Sans-IO: the nonce is supplied by the caller (e.g. derived from a random seed per
//! connection); [`Authenticator::check`] reports a wrong nonce as [`AuthError::StaleNonce`]
//! so the caller can challenge again with `stale=true`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use md5::{Digest, Md5};
use thiserror::Error;

use super::message::{Request, Response};

/// A user name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password (clear text: Digest needs it to compute HA1).
    pub password: String,
}

/// Why a request's `Authorization` was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    Missing,
    /// The header does not parse, or a required Digest parameter is missing.
    #[error("malformed Authorization header")]
    Malformed,
    /// A scheme, algorithm or qop strom does not implement (or Basic when disabled).
    #[error("unsupported authorization: {0}")]
    Unsupported(String),
    /// Digest realm differs from ours.
    #[error("wrong realm")]
    WrongRealm,
    /// Digest nonce is not the one we issued: challenge again with `stale=true`.
    #[error("stale nonce")]
    StaleNonce,
    /// Unknown user or wrong password/response.
    #[error("bad credentials")]
    BadCredentials,
}

/// Checks `Authorization` headers against a credential list and builds challenges.
#[derive(Debug, Clone)]
pub struct Authenticator {
    realm: String,
    credentials: Vec<Credentials>,
    allow_basic: bool,
}

pub(crate) fn md5_hex(parts: &[&str]) -> String {
    let mut h = Md5::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality whose time does not depend on where the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Splits `k=v, k="quoted, \"v\""` (RFC 2617 §3.2.2 / RFC 7235 §2.1 auth-param).
pub(crate) fn auth_params(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest.get(..eq)?.trim().to_ascii_lowercase();
        rest = rest.get(eq + 1..)?.trim_start();
        let value;
        if let Some(q) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => v.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            rest = q.get(end?..)?;
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest.get(..end)?.trim().to_string();
            rest = rest.get(end..)?;
        }
        out.push((key, value));
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

impl Authenticator {
    /// An authenticator for `realm` accepting `credentials`, Basic and Digest.
    pub fn new(realm: impl Into<String>, credentials: Vec<Credentials>) -> Self {
        Authenticator {
            realm: realm.into(),
            credentials,
            allow_basic: true,
        }
    }

    /// Whether Basic is accepted and offered (it sends the password in clear text).
    pub fn with_basic(mut self, allow: bool) -> Self {
        self.allow_basic = allow;
        self
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Checks `request`'s `Authorization` header; on success returns the user name.
    /// `nonce` is the nonce the caller issued in its last challenge on this connection.
    pub fn check(&self, request: &Request, nonce: &str) -> Result<&str, AuthError> {
        let header = request
            .headers
            .get("Authorization")
            .ok_or(AuthError::Missing)?;
        self.check_header(request.method.as_str(), header, nonce)
    }

    /// As [`check`](Authenticator::check), from the method name and the header value.
    pub fn check_header(
        &self,
        method: &str,
        authorization: &str,
        nonce: &str,
    ) -> Result<&str, AuthError> {
        let auth = authorization.trim();
        let (scheme, rest) = auth.split_once(' ').unwrap_or((auth, ""));
        if scheme.eq_ignore_ascii_case("Basic") {
            if !self.allow_basic {
                return Err(AuthError::Unsupported("Basic".into()));
            }
            // RFC 7617 §2: base64(user-id ":" password).
            let raw = STANDARD
                .decode(rest.trim())
                .map_err(|_| AuthError::Malformed)?;
            let raw = String::from_utf8(raw).map_err(|_| AuthError::Malformed)?;
            let (user, pass) = raw.split_once(':').ok_or(AuthError::Malformed)?;
            return self
                .credentials
                .iter()
                .find(|c| c.user == user && ct_eq(c.password.as_bytes(), pass.as_bytes()))
                .map(|c| c.user.as_str())
                .ok_or(AuthError::BadCredentials);
        }
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(AuthError::Unsupported(scheme.to_string()));
        }
        let p = auth_params(rest).ok_or(AuthError::Malformed)?;
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        // RFC 2617 §3.2.2: username, realm, nonce, uri and response are required.
        let (Some(user), Some(realm), Some(their_nonce), Some(uri), Some(response)) = (
            get("username"),
            get("realm"),
            get("nonce"),
            get("uri"),
            get("response"),
        ) else {
            return Err(AuthError::Malformed);
        };
        if let Some(alg) = get("algorithm") {
            if !alg.eq_ignore_ascii_case("MD5") {
                return Err(AuthError::Unsupported(format!("algorithm {alg}")));
            }
        }
        if realm != self.realm {
            return Err(AuthError::WrongRealm);
        }
        if !ct_eq(their_nonce.as_bytes(), nonce.as_bytes()) {
            return Err(AuthError::StaleNonce);
        }
        let cred = self
            .credentials
            .iter()
            .find(|c| c.user == user)
            .ok_or(AuthError::BadCredentials)?;
        // RFC 2617 §3.2.2.2: A1 = user:realm:password; §3.2.2.3: A2 = method:uri.
        // `uri` is not compared with the Request-URI: RTSP clients disagree on which URL
        // they hash for SETUP (VLC hashes the base URL), and the response covers it anyway.
        let ha1 = md5_hex(&[user, realm, &cred.password]);
        let ha2 = md5_hex(&[method, uri]);
        let expected = match get("qop") {
            // RFC 2617 §3.2.2.1: request-digest without qop (RFC 2069 compatible).
            None => md5_hex(&[&ha1, nonce, &ha2]),
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let (Some(nc), Some(cnonce)) = (get("nc"), get("cnonce")) else {
                    return Err(AuthError::Malformed);
                };
                md5_hex(&[&ha1, nonce, nc, cnonce, q, &ha2])
            }
            Some(q) => return Err(AuthError::Unsupported(format!("qop {q}"))),
        };
        if ct_eq(
            expected.as_bytes(),
            response.to_ascii_lowercase().as_bytes(),
        ) {
            Ok(cred.user.as_str())
        } else {
            Err(AuthError::BadCredentials)
        }
    }

    /// `WWW-Authenticate` values for a 401 (RFC 2617 §3.2.1): Digest first (preferred by
    /// clients that pick the first they support), then Basic when enabled.
    pub fn challenges(&self, nonce: &str, stale: bool) -> Vec<String> {
        let realm = self.realm.replace('\\', "\\\\").replace('"', "\\\"");
        let mut digest = format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm=MD5");
        if stale {
            digest.push_str(", stale=true");
        }
        let mut v = vec![digest];
        if self.allow_basic {
            v.push(format!("Basic realm=\"{realm}\""));
        }
        v
    }

    /// A 401 response carrying [`challenges`](Authenticator::challenges) (the session adds
    /// `CSeq`).
    pub fn unauthorized(&self, nonce: &str, stale: bool) -> Response {
        let mut r = Response::new(401);
        for c in self.challenges(nonce, stale) {
            r.headers.append("WWW-Authenticate", c);
        }
        r
    }
}

/// A nonce derived from a caller-supplied seed and counter (hex of MD5), so the caller
/// needs only a random seed per process and a counter per challenge.
pub fn derive_nonce(seed: &[u8], counter: u64) -> String {
    let mut h = Md5::new();
    h.update(seed);
    h.update(counter.to_be_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::message::Method;

    fn mufasa() -> Authenticator {
        Authenticator::new(
            "testrealm@host.com",
            vec![Credentials {
                user: "Mufasa".into(),
                password: "Circle Of Life".into(),
            }],
        )
    }

    /// RFC 2617 §3.5 example (method GET).
    #[test]
    fn rfc2617_example() {
        let h = r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let a = mufasa();
        assert_eq!(
            a.check_header("GET", h, "dcd98b7102dd2f0e8b11d0f600bfb0c093"),
            Ok("Mufasa")
        );
        assert_eq!(
            a.check_header("POST", h, "dcd98b7102dd2f0e8b11d0f600bfb0c093"),
            Err(AuthError::BadCredentials)
        );
        assert_eq!(
            a.check_header("GET", h, "other"),
            Err(AuthError::StaleNonce)
        );
        let wrong_user = h.replace("Mufasa", "Scar");
        assert_eq!(
            a.check_header("GET", &wrong_user, "dcd98b7102dd2f0e8b11d0f600bfb0c093"),
            Err(AuthError::BadCredentials)
        );
    }

    #[test]
    fn digest_without_qop_like_ffmpeg() {
        let a = mufasa();
        let ha1 = md5_hex(&["Mufasa", "testrealm@host.com", "Circle Of Life"]);
        let ha2 = md5_hex(&["DESCRIBE", "rtsp://h/live/cam"]);
        let resp = md5_hex(&[&ha1, "n1", &ha2]);
        let mut req = Request::new(Method::Describe, "rtsp://h/live/cam");
        req.headers.append(
            "Authorization",
            format!(r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="n1", uri="rtsp://h/live/cam", response="{resp}""#),
        );
        assert_eq!(a.check(&req, "n1"), Ok("Mufasa"));
        req.headers.insert(
            "Authorization",
            r#"Digest username="Mufasa", realm="x", nonce="n1", uri="u", response="r""#,
        );
        assert_eq!(a.check(&req, "n1"), Err(AuthError::WrongRealm));
        req.headers
            .insert("Authorization", r#"Digest username="Mufasa", realm="#);
        assert_eq!(a.check(&req, "n1"), Err(AuthError::Malformed));
        req.headers.insert("Authorization", "Bearer abc");
        assert!(matches!(
            a.check(&req, "n1"),
            Err(AuthError::Unsupported(_))
        ));
        req.headers.remove("Authorization");
        assert_eq!(a.check(&req, "n1"), Err(AuthError::Missing));
    }

    #[test]
    fn basic_and_challenges() {
        let a = mufasa();
        let ok = format!("Basic {}", STANDARD.encode("Mufasa:Circle Of Life"));
        assert_eq!(a.check_header("OPTIONS", &ok, "n"), Ok("Mufasa"));
        let bad = format!("Basic {}", STANDARD.encode("Mufasa:x"));
        assert_eq!(
            a.check_header("OPTIONS", &bad, "n"),
            Err(AuthError::BadCredentials)
        );
        assert_eq!(
            a.check_header("OPTIONS", "Basic !!!", "n"),
            Err(AuthError::Malformed)
        );
        assert!(matches!(
            a.clone()
                .with_basic(false)
                .check_header("OPTIONS", &ok, "n"),
            Err(AuthError::Unsupported(_))
        ));
        assert_eq!(
            a.challenges("abc", true),
            [
                r#"Digest realm="testrealm@host.com", nonce="abc", algorithm=MD5, stale=true"#,
                r#"Basic realm="testrealm@host.com""#
            ]
        );
        let r = a.unauthorized("abc", false);
        assert_eq!(
            (r.status, r.headers.get_all("www-authenticate").count()),
            (401, 2)
        );
        assert_eq!(derive_nonce(b"seed", 1).len(), 32);
        assert_ne!(derive_nonce(b"seed", 1), derive_nonce(b"seed", 2));
    }

    #[test]
    fn params_quoting() {
        let p = auth_params(r#"a="x, \"y\"", b=2 ,c="""#).unwrap();
        assert_eq!(
            p,
            [
                ("a".into(), "x, \"y\"".into()),
                ("b".into(), "2".into()),
                ("c".into(), String::new())
            ]
        );
        assert!(auth_params(r#"a="unterminated"#).is_none());
        assert!(auth_params("novalue").is_none());
    }
}
