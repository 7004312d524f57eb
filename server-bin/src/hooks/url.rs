//! Hook URLs: plain `http://host[:port]/path?query`.

/// A parsed hook URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookUrl {
    /// Host name or address, as given (IPv6 without brackets).
    pub host: String,
    /// TCP port (80 when not given).
    pub port: u16,
    /// `host[:port]` for the Host header.
    pub authority: String,
    /// Path and query, at least `/`.
    pub path: String,
}

impl HookUrl {
    /// Parses a hook URL; the error says what is wrong, for the config message.
    pub fn parse(url: &str) -> Result<HookUrl, String> {
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => {
                return Err(
                    "https hooks are not supported; call a local http endpoint (or a TLS-terminating proxy)".into(),
                )
            }
            _ => return Err(format!("`{url}` is not an http:// URL")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("`{url}`: expected http://host[:port]/path"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("`{url}`: unclosed [ in host"))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| format!("`{url}`: bad port `{p}`"))?,
            None => 80,
        };
        Ok(HookUrl {
            host,
            port,
            authority: authority.to_string(),
            path: path.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_operators_write() {
        let u = HookUrl::parse("http://127.0.0.1:9000/index/hook/on_publish").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 9000, "/index/hook/on_publish")
        );
        let u = HookUrl::parse("http://hooks.example").unwrap();
        assert_eq!(
            (u.port, u.path.as_str(), u.authority.as_str()),
            (80, "/", "hooks.example")
        );
        let u = HookUrl::parse("http://[::1]:81/h?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 81, "/h?x=1")
        );
    }

    #[test]
    fn refuses_what_it_cannot_call() {
        assert!(HookUrl::parse("https://a/b").unwrap_err().contains("https"));
        assert!(HookUrl::parse("ftp://a/b").is_err());
        assert!(HookUrl::parse("http://a:port/").is_err());
        assert!(HookUrl::parse("http:///x").is_err());
    }
}
