//! What can be wrong with an answer: the server said no ([`ServerError`]),
//! the bytes are not what the gateway sends, or something is over a limit.

use serde::Deserialize;

/// Why an answer gave no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// etcd (or its gateway) answered with an error.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// Not JSON, not the expected shape, bad base64, a missing field.
    #[error("malformed etcd answer: {0}")]
    Malformed(String),
    /// A size read from the wire is over one of the crate's limits.
    #[error("{what} is {len} bytes or items, over the limit of {limit}")]
    TooLarge {
        /// What is too large (`"value"`, `"kvs"`, `"watch line"`, …).
        what: &'static str,
        /// Its size (bytes or items; for base64 fields, an estimate).
        len: usize,
        /// The limit.
        limit: usize,
    },
}

impl Error {
    /// The kind of a server error; `None` for the other variants.
    pub fn server_kind(&self) -> Option<ServerErrorKind> {
        match self {
            Error::Server(e) => Some(e.kind()),
            _ => None,
        }
    }
}

/// An error etcd answered: `{"error":…,"code":N,"message":…}` (unary calls)
/// or `{"error":{"grpc_code":N,"message":…}}` (a line of a stream).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("etcd error {code}: {message}")]
pub struct ServerError {
    /// The gRPC status code (5 not found, 8 resource exhausted, 11 out of
    /// range, 14 unavailable, …).
    pub code: i32,
    /// etcd's message (`"etcdserver: requested lease not found"`).
    pub message: String,
}

/// What a [`ServerError`] means to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerErrorKind {
    /// The lease does not exist (expired or revoked).
    LeaseNotFound,
    /// The requested revision was compacted away.
    Compacted,
    /// etcd is rate limiting (`etcdserver: too many requests`).
    TooManyRequests,
    /// A request timed out inside etcd (`etcdserver: request timed out`).
    Timeout,
    /// The member has no leader (`etcdserver: no leader`), the leader
    /// changed, or the member is otherwise unavailable (gRPC code 14).
    NoLeader,
    /// Anything else (bad request, permission, …).
    Other,
}

impl ServerErrorKind {
    /// Whether another member (or a later retry) may answer: the error is
    /// about this member's state, not about the request.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ServerErrorKind::TooManyRequests | ServerErrorKind::Timeout | ServerErrorKind::NoLeader
        )
    }
}

impl ServerError {
    /// Classifies the error by etcd's message, then by its gRPC code.
    pub fn kind(&self) -> ServerErrorKind {
        let m = self.message.as_str();
        if m.contains("lease not found") {
            ServerErrorKind::LeaseNotFound
        } else if m.contains("has been compacted") {
            ServerErrorKind::Compacted
        } else if m.contains("too many requests") || self.code == 8 {
            ServerErrorKind::TooManyRequests
        } else if m.contains("request timed out") || self.code == 4 {
            ServerErrorKind::Timeout
        } else if m.contains("no leader") || m.contains("leader changed") || self.code == 14 {
            ServerErrorKind::NoLeader
        } else {
            ServerErrorKind::Other
        }
    }
}

/// The longest error message kept.
const MAX_MESSAGE: usize = 1024;

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorField {
    /// Unary: `"error":"etcdserver: …"` next to `code` and `message`.
    Text(String),
    /// Stream: `"error":{"grpc_code":14,"message":"…"}`.
    Object {
        #[serde(default)]
        grpc_code: i32,
        #[serde(default)]
        message: String,
    },
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: Option<ErrorField>,
    #[serde(default)]
    code: Option<i32>,
    #[serde(default)]
    message: Option<String>,
}

/// The error in an answer body (a gateway error answers with an HTTP error
/// status and this body), if it is an error answer.
pub fn parse_error(body: &[u8]) -> Option<ServerError> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    server_error(&value)
}

/// The server error in `value`, if it is an error answer.
pub(crate) fn server_error(value: &serde_json::Value) -> Option<ServerError> {
    let obj = value.as_object()?;
    if !obj.contains_key("error") {
        return None;
    }
    let answer = ErrorAnswer::deserialize(value).ok()?;
    let (code, mut message) = match answer.error? {
        ErrorField::Text(text) => (
            answer.code.unwrap_or(2),
            answer.message.filter(|m| !m.is_empty()).unwrap_or(text),
        ),
        ErrorField::Object { grpc_code, message } => (grpc_code, message),
    };
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    Some(ServerError { code, message })
}
