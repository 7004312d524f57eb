//! GETs for an HLS pull: hyper's low-level HTTP/1.1 client on connections
//! from the relay's [`Dial`], one kept alive between requests to the same
//! host and port (a request on a kept connection that fails before its
//! answer is tried once more on a new one). Each request — dial, response
//! and whole body — completes within one deadline, and its body within a
//! byte limit, or fails.

use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper::header::{CONTENT_LENGTH, HOST, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::Join;

use crate::relay::dial::{Dialed, Reader, Writer};
use crate::relay::{Dial, PullUrl};

/// Why a GET failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    /// Dialling failed.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// Not done within the deadline.
    #[error("no complete answer within relay.connect_secs")]
    Timeout,
    /// The upstream answered with an error status (redirects are not
    /// followed).
    #[error("HTTP {0}")]
    Status(StatusCode),
    /// The body is over the limit.
    #[error("body over {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// HTTP failed (connection closed, malformed answer).
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    /// The request could not be built from the URL.
    #[error("bad request target: {0}")]
    Request(#[from] hyper::http::Error),
}

type Io = TokioIo<Join<Reader, Writer>>;

/// A kept connection.
struct Conn {
    host: String,
    port: u16,
    sender: SendRequest<Empty<Bytes>>,
    /// Driven only while a request is in flight: reading and writing
    /// happen then and only then.
    driver: Pin<Box<Connection<Io, Empty<Bytes>>>>,
}

/// Fetches whole bodies for one pull.
pub(crate) struct Fetcher<'a> {
    dial: &'a dyn Dial,
    timeout: Duration,
    conn: Option<Conn>,
    /// A connection dialled already (the supervisor's), for the first GET.
    first: Option<(PullUrl, Dialed)>,
}

impl<'a> Fetcher<'a> {
    /// A fetcher whose first request to `url`'s host uses `dialed`.
    pub(crate) fn new(
        dial: &'a dyn Dial,
        timeout: Duration,
        url: &PullUrl,
        dialed: Dialed,
    ) -> Self {
        Fetcher {
            dial,
            timeout,
            conn: None,
            first: Some((url.clone(), dialed)),
        }
    }

    /// A fetcher that dials its first connection itself.
    pub(crate) fn fresh(dial: &'a dyn Dial, timeout: Duration) -> Self {
        Fetcher {
            dial,
            timeout,
            conn: None,
            first: None,
        }
    }

    /// GETs `url` (its request target is `url.stream`); the body, at most
    /// `limit` bytes, of a 2xx answer.
    pub(crate) async fn get(&mut self, url: &PullUrl, limit: usize) -> Result<Bytes, FetchError> {
        match tokio::time::timeout(self.timeout, self.get_within(url, limit)).await {
            Ok(r) => r,
            Err(_) => {
                self.conn = None; // half-read: unusable
                Err(FetchError::Timeout)
            }
        }
    }

    async fn get_within(&mut self, url: &PullUrl, limit: usize) -> Result<Bytes, FetchError> {
        let reused = self
            .conn
            .as_ref()
            .is_some_and(|c| c.host == url.host && c.port == url.port && !c.sender.is_closed());
        if reused {
            match self.exchange(url, limit).await {
                Err(FetchError::Http(e))
                    if e.is_canceled() || e.is_closed() || e.is_incomplete_message() =>
                {
                    // The upstream closed the kept connection meanwhile.
                    tracing::debug!(error = %e, "hls pull: kept connection closed; dialling again");
                }
                other => return other,
            }
        }
        self.connect(url).await?;
        self.exchange(url, limit).await
    }

    async fn connect(&mut self, url: &PullUrl) -> Result<(), FetchError> {
        self.conn = None;
        let dialed = match self.first.take() {
            Some((first, dialed)) if first.host == url.host && first.port == url.port => dialed,
            _ => self.dial.dial(url).await.map_err(FetchError::Connect)?,
        };
        let io = TokioIo::new(tokio::io::join(dialed.rd, dialed.wr));
        let (sender, driver) = hyper::client::conn::http1::handshake(io).await?;
        self.conn = Some(Conn {
            host: url.host.clone(),
            port: url.port,
            sender,
            driver: Box::pin(driver),
        });
        Ok(())
    }

    /// One request on the current connection, its driver polled meanwhile.
    async fn exchange(&mut self, url: &PullUrl, limit: usize) -> Result<Bytes, FetchError> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(FetchError::Timeout); // unreachable: connect() set it
        };
        let request = Request::get(url.stream.as_str())
            .header(HOST, authority(url))
            .header(USER_AGENT, format!("strom/{}", env!("CARGO_PKG_VERSION")))
            .body(Empty::new())?;
        let (result, closed) = {
            let exchange = read(&mut conn.sender, request, limit);
            tokio::pin!(exchange);
            tokio::select! {
                r = &mut exchange => (r, false),
                // The connection ended (closed after the answer, or failed):
                // what it delivered is still in the body.
                _ = conn.driver.as_mut() => (exchange.await, true),
            }
        };
        if closed || result.is_err() {
            self.conn = None;
        }
        result
    }
}

/// Sends `request` and collects the body.
async fn read(
    sender: &mut SendRequest<Empty<Bytes>>,
    request: Request<Empty<Bytes>>,
    limit: usize,
) -> Result<Bytes, FetchError> {
    let response = sender.send_request(request).await?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status()));
    }
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(FetchError::TooLarge { limit });
    }
    let mut body = response.into_body();
    let mut out = BytesMut::with_capacity(declared.map_or(64 << 10, |n| n as usize));
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if out.len() + data.len() > limit {
                return Err(FetchError::TooLarge { limit });
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}

/// `host:port`, IPv6 literals in brackets.
fn authority(url: &PullUrl) -> String {
    if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    }
}
