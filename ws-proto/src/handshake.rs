//! The opening handshake (RFC 6455 §4.2): the upgrade request's headers
//! checked, the `Sec-WebSocket-Accept` value and the `101` response head.

use base64::Engine;
use sha1::{Digest, Sha1};

/// The GUID appended to the client's key before hashing (RFC 6455 §1.3).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version served; a refusal of another carries it in
/// `Sec-WebSocket-Version` (with status 426).
pub const VERSION: &str = "13";

/// Longest header value kept (longer ones are refused as malformed).
const MAX_VALUE: usize = 256;

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`:
/// base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Why an upgrade request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// No `Upgrade: websocket` header.
    #[error("not a websocket upgrade (no `Upgrade: websocket`)")]
    NotUpgrade,
    /// `Connection` lacks the `upgrade` token.
    #[error("`Connection` header lacks the `upgrade` token")]
    NoConnectionUpgrade,
    /// No `Sec-WebSocket-Key`.
    #[error("missing Sec-WebSocket-Key")]
    MissingKey,
    /// A `Sec-WebSocket-Key` that is not 16 bytes in base64.
    #[error("Sec-WebSocket-Key is not 16 bytes in base64")]
    BadKey,
    /// A missing or other `Sec-WebSocket-Version` than 13.
    #[error("unsupported Sec-WebSocket-Version (only 13)")]
    BadVersion,
    /// A header value over the length limit.
    #[error("header {0} too long")]
    TooLong(&'static str),
}

impl HandshakeError {
    /// The HTTP status to refuse with: 426 (with `Sec-WebSocket-Version: 13`)
    /// for a version we do not speak, otherwise 400.
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::BadVersion => 426,
            _ => 400,
        }
    }
}

/// The WebSocket headers of an upgrade request, fed one by one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpgradeRequest {
    upgrade: Option<String>,
    connection: String,
    version: Option<String>,
    key: Option<String>,
    /// Subprotocols offered (`Sec-WebSocket-Protocol`); none is ever chosen.
    protocols: Option<String>,
    too_long: Option<&'static str>,
}

impl UpgradeRequest {
    /// Notes one request header (name case-insensitive); other headers are
    /// ignored. Repeated `Connection` headers add up.
    pub fn header(&mut self, name: &str, value: &str) {
        let value = value.trim();
        let slot = if name.eq_ignore_ascii_case("upgrade") {
            ("Upgrade", &mut self.upgrade)
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            ("Sec-WebSocket-Version", &mut self.version)
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            ("Sec-WebSocket-Key", &mut self.key)
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
            ("Sec-WebSocket-Protocol", &mut self.protocols)
        } else if name.eq_ignore_ascii_case("connection") {
            if self.connection.len() + value.len() > MAX_VALUE {
                self.too_long = Some("Connection");
            } else {
                self.connection.push(',');
                self.connection.push_str(value);
            }
            return;
        } else {
            return;
        };
        if value.len() > MAX_VALUE {
            self.too_long = Some(slot.0);
        } else {
            *slot.1 = Some(value.to_string());
        }
    }

    /// Whether the client asks for a WebSocket at all (`Upgrade: websocket`,
    /// case-insensitive): if not, the request is plain HTTP.
    pub fn is_upgrade(&self) -> bool {
        self.upgrade.as_deref().is_some_and(|u| {
            u.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
        })
    }

    /// The subprotocols the client offered, if any (never echoed: browsers
    /// accept a response that picks none).
    pub fn offered_protocols(&self) -> Option<&str> {
        self.protocols.as_deref()
    }

    /// Checks the handshake and, if it is valid, gives the accept value.
    pub fn accept(&self) -> Result<Accept, HandshakeError> {
        if let Some(name) = self.too_long {
            return Err(HandshakeError::TooLong(name));
        }
        if !self.is_upgrade() {
            return Err(HandshakeError::NotUpgrade);
        }
        if !self
            .connection
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        {
            return Err(HandshakeError::NoConnectionUpgrade);
        }
        if self.version.as_deref() != Some(VERSION) {
            return Err(HandshakeError::BadVersion);
        }
        let key = self.key.as_deref().ok_or(HandshakeError::MissingKey)?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(key)
            .map_err(|_| HandshakeError::BadKey)?;
        if raw.len() != 16 {
            return Err(HandshakeError::BadKey);
        }
        Ok(Accept {
            accept: accept_key(key),
        })
    }
}

/// A valid handshake: what the `101` response carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accept {
    accept: String,
}

impl Accept {
    /// The `Sec-WebSocket-Accept` value.
    pub fn accept_value(&self) -> &str {
        &self.accept
    }

    /// The whole `101 Switching Protocols` response head, blank line
    /// included. No subprotocol and no extension is chosen.
    pub fn response_head(&self) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            self.accept
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> UpgradeRequest {
        let mut r = UpgradeRequest::default();
        for (n, v) in headers {
            r.header(n, v);
        }
        r
    }

    const GOOD: &[(&str, &str)] = &[
        ("upgrade", "WebSocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn rfc_example_accept_value() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let a = request(GOOD).accept().unwrap();
        assert_eq!(a.accept_value(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let head = a.response_head();
        assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(head.ends_with("\r\n\r\n"));
        assert!(!head.contains("Sec-WebSocket-Protocol"));
    }

    #[test]
    fn connection_tokens_across_headers_and_protocols_ignored() {
        let mut r = request(&GOOD[2..]);
        r.header("Upgrade", "websocket");
        r.header("Connection", "keep-alive");
        r.header("CONNECTION", " UPGRADE ");
        r.header("Sec-WebSocket-Protocol", "chat, flv");
        assert_eq!(r.offered_protocols(), Some("chat, flv"));
        assert!(r.accept().is_ok());
    }

    #[test]
    fn refusals_are_typed() {
        let mut no_key = request(&GOOD[..3]);
        assert_eq!(no_key.accept(), Err(HandshakeError::MissingKey));
        no_key.header("Sec-WebSocket-Key", "c2hvcnQ=");
        assert_eq!(no_key.accept(), Err(HandshakeError::BadKey));
        no_key.header("Sec-WebSocket-Key", "not base64!");
        assert_eq!(no_key.accept(), Err(HandshakeError::BadKey));
        let mut v8 = request(GOOD);
        v8.header("Sec-WebSocket-Version", "8");
        assert_eq!(v8.accept(), Err(HandshakeError::BadVersion));
        assert_eq!(HandshakeError::BadVersion.status(), 426);
        assert_eq!(HandshakeError::MissingKey.status(), 400);
        let no_conn = request(&[GOOD[0], GOOD[2], GOOD[3]]);
        assert_eq!(no_conn.accept(), Err(HandshakeError::NoConnectionUpgrade));
        let plain = request(&GOOD[1..]);
        assert!(!plain.is_upgrade());
        assert_eq!(plain.accept(), Err(HandshakeError::NotUpgrade));
        let mut long = request(GOOD);
        long.header("Sec-WebSocket-Key", &"A".repeat(300));
        assert_eq!(
            long.accept(),
            Err(HandshakeError::TooLong("Sec-WebSocket-Key"))
        );
    }
}
