//! The client side of RTSP authentication: reading `WWW-Authenticate` challenges and
//! answering them with Basic (RFC 7617) or Digest MD5 (RFC 2617 §3.2.2, `qop=auth` when
//! offered); the hashing and parameter parsing are shared with the server's
//! [`Authenticator`](crate::signal::Authenticator).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::signal::auth::{auth_params, md5_hex, Credentials};
use crate::signal::headers::Headers;

/// The challenge the client answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Challenge {
    Basic,
    Digest {
        realm: String,
        nonce: String,
        opaque: Option<String>,
        qop_auth: bool,
        stale: bool,
    },
}

impl Challenge {
    /// The best challenge among a 401's `WWW-Authenticate` fields: Digest with MD5 first,
    /// then Basic. `None` if there is nothing the client can answer.
    pub(super) fn pick(headers: &Headers) -> Option<Challenge> {
        let mut basic = None;
        for value in headers.get_all("WWW-Authenticate") {
            let v = value.trim();
            let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
            if scheme.eq_ignore_ascii_case("Basic") {
                basic = Some(Challenge::Basic);
                continue;
            }
            if !scheme.eq_ignore_ascii_case("Digest") {
                continue;
            }
            let Some(p) = auth_params(rest) else { continue };
            let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            if get("algorithm").is_some_and(|a| !a.eq_ignore_ascii_case("MD5")) {
                continue;
            }
            let (Some(realm), Some(nonce)) = (get("realm"), get("nonce")) else {
                continue;
            };
            return Some(Challenge::Digest {
                realm,
                nonce,
                opaque: get("opaque"),
                qop_auth: get("qop")
                    .is_some_and(|q| q.split(',').any(|o| o.trim().eq_ignore_ascii_case("auth"))),
                stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
            });
        }
        basic
    }

    /// Whether the server said the nonce was stale (the password was right).
    pub(super) fn is_stale(&self) -> bool {
        matches!(self, Challenge::Digest { stale: true, .. })
    }

    /// The `Authorization` value for `method` on `uri`; `nc` counts the requests sent
    /// with this nonce (from 1), `cnonce` is the client nonce (`qop=auth` only).
    pub(super) fn authorization(
        &self,
        creds: &Credentials,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> String {
        match self {
            Challenge::Basic => {
                let token = STANDARD.encode(format!("{}:{}", creds.user, creds.password));
                format!("Basic {token}")
            }
            Challenge::Digest {
                realm,
                nonce,
                opaque,
                qop_auth,
                ..
            } => {
                // RFC 2617 §3.2.2.2-3: HA1 = MD5(user:realm:password), HA2 = MD5(method:uri).
                let ha1 = md5_hex(&[&creds.user, realm, &creds.password]);
                let ha2 = md5_hex(&[method, uri]);
                let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
                let mut out = format!(
                    "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\"",
                    q(&creds.user),
                    q(realm),
                    q(nonce),
                    q(uri)
                );
                let response = if *qop_auth {
                    let nc = format!("{nc:08x}");
                    let r = md5_hex(&[&ha1, nonce, &nc, cnonce, "auth", &ha2]);
                    out.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
                    r
                } else {
                    md5_hex(&[&ha1, nonce, &ha2])
                };
                out.push_str(&format!(", response=\"{response}\", algorithm=MD5"));
                if let Some(o) = opaque {
                    out.push_str(&format!(", opaque=\"{}\"", q(o)));
                }
                out
            }
        }
    }
}

/// Splits `rtsp://user:pass@host/…` into the URL without the user info and the
/// (percent-decoded) credentials.
pub(super) fn split_userinfo(url: &str) -> (String, Option<Credentials>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_string(), None);
    };
    let rest = url.get(scheme_end..).unwrap_or("");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = rest.get(..authority_end).unwrap_or("");
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_string(), None);
    };
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let stripped = format!(
        "{}{}{}",
        url.get(..scheme_end).unwrap_or(""),
        host,
        rest.get(authority_end..).unwrap_or("")
    );
    let creds = Credentials {
        user: percent_decode(user),
        password: percent_decode(password),
    };
    (stripped, Some(creds))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::auth::Authenticator;

    #[test]
    fn userinfo_is_split_and_decoded() {
        let (u, c) = split_userinfo("rtsp://ad%40min:p%3Ass@cam:8554/live/ch1?x=1");
        assert_eq!(u, "rtsp://cam:8554/live/ch1?x=1");
        let c = c.unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("ad@min", "p:ss"));
        assert_eq!(split_userinfo("rtsp://cam/a").1, None);
    }

    #[test]
    fn answers_the_servers_authenticator() {
        let creds = Credentials {
            user: "u\"x".into(),
            password: "pw".into(),
        };
        let a = Authenticator::new("strom", vec![creds.clone()]);
        let mut h = Headers::new();
        for c in a.challenges("n1", false) {
            h.append("WWW-Authenticate", c);
        }
        let ch = Challenge::pick(&h).unwrap();
        assert!(matches!(ch, Challenge::Digest { .. }));
        let v = ch.authorization(&creds, "DESCRIBE", "rtsp://h/a/b", 1, "c1");
        assert_eq!(a.check_header("DESCRIBE", &v, "n1"), Ok("u\"x"));
        // qop=auth when offered.
        let mut h = Headers::new();
        h.append(
            "WWW-Authenticate",
            "Digest realm=\"strom\", nonce=\"n2\", qop=\"auth,auth-int\", stale=TRUE",
        );
        let ch = Challenge::pick(&h).unwrap();
        assert!(ch.is_stale());
        let v = ch.authorization(&creds, "SETUP", "rtsp://h/a/b/trackID=0", 2, "c2");
        assert!(v.contains("nc=00000002"));
        assert_eq!(a.check_header("SETUP", &v, "n2"), Ok("u\"x"));
        // Basic only, and an algorithm the client cannot answer.
        let mut h = Headers::new();
        h.append(
            "WWW-Authenticate",
            "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256",
        );
        assert_eq!(Challenge::pick(&h), None);
        h.append("WWW-Authenticate", "Basic realm=\"r\"");
        let v = Challenge::pick(&h)
            .unwrap()
            .authorization(&creds, "DESCRIBE", "u", 1, "");
        assert_eq!(a.check_header("DESCRIBE", &v, "n"), Ok("u\"x"));
    }
}
