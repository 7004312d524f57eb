//! One hook call: a JSON POST over a fresh HTTP/1.1 connection (hyper's
//! low-level client), bounded in time and in response size.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::url::HookUrl;

/// Largest hook answer read.
const MAX_ANSWER: usize = 64 * 1024;

/// Why a hook call gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No answer within the deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Connection refused, reset, …
    #[error("connection failed: {0}")]
    Connect(String),
    /// HTTP status other than 200.
    #[error("HTTP status {0}")]
    Status(u16),
    /// Not JSON, or too large.
    #[error("unusable answer: {0}")]
    Garbage(String),
}

/// POSTs `body` to `url` and returns the JSON answer, all within `deadline`.
pub async fn post_json(
    url: &HookUrl,
    body: &serde_json::Value,
    deadline: Duration,
) -> Result<serde_json::Value, CallError> {
    tokio::time::timeout(deadline, call(url, body))
        .await
        .map_err(|_| CallError::Timeout(deadline))?
}

async fn call(url: &HookUrl, body: &serde_json::Value) -> Result<serde_json::Value, CallError> {
    let stream = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| CallError::Connect(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| CallError::Connect(e.to_string()))?;
    // The connection is driven inside this future (no spawned task), so the
    // caller's deadline dropping it closes the socket to a hung hook server.
    let payload = Bytes::from(body.to_string());
    let request = Request::post(url.path.as_str())
        .header(HOST, url.authority.as_str())
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, payload.len())
        .body(Full::new(payload))
        .map_err(|e| CallError::Garbage(e.to_string()))?;
    // `exchange` owns the sender: when it is done the sender drops, which
    // lets `conn` finish too, for keep-alive and closing servers alike.
    let exchange = async move {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| CallError::Connect(e.to_string()))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(CallError::Status(status));
        }
        let bytes = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| CallError::Garbage(e.to_string()))?
            .to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| CallError::Garbage(e.to_string()))
    };
    let (result, _) = tokio::join!(exchange, conn);
    result
}
