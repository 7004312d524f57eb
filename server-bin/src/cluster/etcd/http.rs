//! One HTTP/1.1 exchange with an etcd endpoint: hyper's low-level client
//! on a fresh connection, driven inside the call (dropping the call closes
//! the socket), the answer read up to a limit.

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::EtcdError;

/// The longest excerpt of an unexpected body kept in an error.
const MAX_EXCERPT: usize = 200;

/// One endpoint, parsed.
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    /// As configured, for messages.
    pub(super) url: String,
    host: String,
    port: u16,
    /// `host:port` for the Host header.
    authority: String,
}

impl Endpoint {
    /// Parses `http://host:port` (port defaults to 2379); the error says
    /// what is wrong.
    pub(super) fn parse(url: &str) -> Result<Endpoint, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("etcd endpoint `{url}`: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(format!(
                    "etcd endpoint `{url}`: scheme {other} is not supported; use http://host:port"
                ))
            }
            None => return Err(format!("etcd endpoint `{url}`: expected http://host:port")),
        }
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return Err(format!(
                "etcd endpoint `{url}`: expected no path (http://host:port)"
            ));
        }
        let authority = uri
            .authority()
            .filter(|a| !a.as_str().contains('@'))
            .ok_or_else(|| format!("etcd endpoint `{url}`: expected http://host:port"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() {
            return Err(format!("etcd endpoint `{url}`: no host"));
        }
        Ok(Endpoint {
            url: url.to_string(),
            host,
            port: authority.port_u16().unwrap_or(2379),
            authority: authority.as_str().to_string(),
        })
    }
}

pub(super) type Io = TokioIo<TcpStream>;
pub(super) type Driver = Connection<Io, Full<Bytes>>;

/// Connects to `ep` and sends a JSON POST of `body` to `path`: the sender
/// (kept for the connection's life), the connection to drive, and the
/// answer's head once it came (the driver polled meanwhile).
pub(super) async fn start(
    ep: &Endpoint,
    path: &'static str,
    body: Bytes,
) -> Result<(SendRequest<Full<Bytes>>, Driver, Response<Incoming>), EtcdError> {
    let unreachable =
        |e: &dyn std::fmt::Display| EtcdError::Unreachable(format!("{}: {e}", ep.url));
    let stream = TcpStream::connect((ep.host.as_str(), ep.port))
        .await
        .map_err(|e| unreachable(&e))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, mut driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(&e))?;
    let request = Request::post(path)
        .header(HOST, ep.authority.as_str())
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, body.len())
        .body(Full::new(body))
        .map_err(|e| EtcdError::Config(format!("{}: {e}", ep.url)))?;
    let response = {
        let exchange = sender.send_request(request);
        tokio::pin!(exchange);
        tokio::select! {
            r = &mut exchange => r,
            // The connection ended before the answer's head: the exchange
            // fails now too.
            _ = &mut driver => exchange.await,
        }
    }
    .map_err(|e| unreachable(&e))?;
    Ok((sender, driver, response))
}

/// One unary call: the body of a 200 answer, at most
/// [`etcd_json::MAX_BODY`] bytes; an error status is turned into the etcd
/// error its body carries.
pub(super) async fn post(
    ep: &Endpoint,
    path: &'static str,
    body: Bytes,
) -> Result<Bytes, EtcdError> {
    let (sender, mut driver, response) = start(ep, path, body).await?;
    let status = response.status();
    let read = async move {
        let _sender = sender; // dropped once the body is read: the driver then ends
        read_body(response.into_body(), etcd_json::MAX_BODY).await
    };
    tokio::pin!(read);
    let body = tokio::select! {
        r = &mut read => r,
        _ = &mut driver => read.await,
    }
    .map_err(|e| match e {
        BodyError::Http(e) => EtcdError::Unreachable(format!("{}: {e}", ep.url)),
        BodyError::TooLarge => EtcdError::Protocol(format!(
            "{}: answer over {} bytes",
            ep.url,
            etcd_json::MAX_BODY
        )),
    })?;
    if status.is_success() {
        return Ok(body);
    }
    Err(error_answer(status.as_u16(), &body))
}

/// The error an HTTP error answer carries.
pub(super) fn error_answer(status: u16, body: &[u8]) -> EtcdError {
    match etcd_json::parse_error(body) {
        Some(e) => e.into(),
        None => {
            let text = String::from_utf8_lossy(&body[..body.len().min(MAX_EXCERPT)]);
            EtcdError::Status {
                status,
                body: text.trim().to_string(),
            }
        }
    }
}

pub(super) enum BodyError {
    Http(hyper::Error),
    TooLarge,
}

/// Collects `body`, at most `limit` bytes.
pub(super) async fn read_body(mut body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    let mut out = BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(BodyError::Http)?.into_data() {
            if out.len() + data.len() > limit {
                return Err(BodyError::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}
