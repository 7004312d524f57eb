//! Small URL helpers: percent-decoding path segments and reading query parameters.

/// Decodes `%XX` escapes (and nothing else); `None` if the result is not UTF-8
/// or an escape is malformed.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The decoded value of the first `name=` parameter in `query` (`+` is a space).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(&v.replace('+', " ")))?
    })
}

/// What a redacted secret is shown as.
pub const REDACTED: &str = "<redacted>";

/// Query keys whose values are secrets when the key contains one of these
/// (case-insensitive): `token`, `access_token`, `secret`, `txSecret`, `sign`,
/// `auth_key`, `apikey`, `password`, `passwd`, `pwd`… Redacting a harmless
/// value by accident costs nothing; showing a credential does.
const SECRET_KEY_PARTS: [&str; 7] = ["token", "secret", "sign", "auth", "key", "pass", "pwd"];

/// Whether the value of query key `key` is treated as a secret.
pub fn is_secret_key(key: &str) -> bool {
    let key = percent_decode(key)
        .unwrap_or_else(|| key.to_string())
        .to_ascii_lowercase();
    SECRET_KEY_PARTS.iter().any(|p| key.contains(p))
}

/// `query` with the value of every secret-looking key ([`is_secret_key`])
/// replaced by `<redacted>`; key names, order and other values kept, so an
/// operator still sees which credentials were given.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !v.is_empty() && is_secret_key(k) => format!("{k}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Decoded, non-empty path segments; `None` if any segment fails to decode.
pub fn segments(path: &str) -> Option<Vec<String>> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }

    #[test]
    fn query() {
        assert_eq!(
            query_param("a=1&secret=x%2By&b", "secret").as_deref(),
            Some("x+y")
        );
        assert_eq!(query_param("flag&b=2", "flag").as_deref(), Some(""));
        assert_eq!(query_param("a=1", "secret"), None);
    }

    #[test]
    fn secrets_in_queries_are_redacted() {
        assert_eq!(
            redact_query("token=abc&quality=hd&txSecret=9f&auth_key=1-0-0-x&pwd=p&e="),
            "token=<redacted>&quality=hd&txSecret=<redacted>&auth_key=<redacted>&pwd=<redacted>&e="
        );
        assert_eq!(
            redact_query("sign"),
            "sign",
            "a bare key has no value to hide"
        );
        assert_eq!(
            redact_query("%74oken=abc"),
            "%74oken=<redacted>",
            "encoded key"
        );
        assert_eq!(redact_query(""), "");
    }

    #[test]
    fn path_segments() {
        assert_eq!(
            segments("/api/v1/streams/live/cam%201").unwrap(),
            vec!["api", "v1", "streams", "live", "cam 1"]
        );
    }
}
