//! The caller's answer to a pending request ([`Reply`]), built from typed parts.

use bytes::Bytes;

use crate::signal::headers::Headers;
use crate::signal::message::{reason_phrase, Response};
use crate::signal::range::Range;
use crate::signal::rtp_info::RtpInfo;
use crate::signal::sdp::Sdp;
use crate::signal::transport::Transport;

/// An answer to one request, given to [`ServerSession::respond`](super::ServerSession::respond).
/// The session adds `CSeq`, `Session` and `Server` itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Extra header fields.
    pub headers: Headers,
    /// Body (e.g. SDP).
    pub body: Bytes,
    /// For SETUP: the transport chosen (written as the `Transport` header and recorded
    /// for the track). `None` echoes the client's spec.
    pub transport: Option<Transport>,
}

impl Reply {
    /// `200 OK`, nothing else.
    pub fn ok() -> Self {
        Reply::status(200)
    }

    /// A bare status (e.g. 404 stream not found, 403 publish refused, 503 busy).
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Headers::new(),
            body: Bytes::new(),
            transport: None,
        }
    }

    /// The DESCRIBE answer (RFC 2326 §10.2): SDP body, `Content-Type: application/sdp`
    /// and `Content-Base` (RFC 2326 §12.11) against which clients resolve `a=control`.
    pub fn describe(content_base: impl Into<String>, sdp: &Sdp) -> Self {
        let mut r = Reply::ok();
        r.headers.append("Content-Base", content_base);
        r.headers.append("Content-Type", "application/sdp");
        r.body = Bytes::from(sdp.to_text());
        r
    }

    /// The SETUP answer with the transport the server chose (e.g. with `ssrc=` or
    /// `server_port=` filled in).
    pub fn setup(transport: Transport) -> Self {
        let mut r = Reply::ok();
        r.transport = Some(transport);
        r
    }

    /// The PLAY answer (RFC 2326 §10.5): `Range` and `RTP-Info` when known.
    pub fn play(range: Option<Range>, rtp_info: Option<RtpInfo>) -> Self {
        let mut r = Reply::ok();
        if let Some(range) = range {
            r.headers.append("Range", range.to_string());
        }
        if let Some(info) = rtp_info.filter(|i| !i.0.is_empty()) {
            r.headers.append("RTP-Info", info.to_string());
        }
        r
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl From<Response> for Reply {
    /// E.g. [`Authenticator::unauthorized`](crate::signal::Authenticator::unauthorized).
    fn from(r: Response) -> Self {
        Reply {
            status: r.status,
            headers: r.headers,
            body: r.body,
            transport: None,
        }
    }
}

/// The `Content-Base` for a DESCRIBE of `uri`: the URL without its query, ending in `/`,
/// so `a=control:trackID=0` resolves to `.../stream/trackID=0` both by ffmpeg's
/// concatenation and by RFC 3986 resolution (GStreamer, live555).
pub fn content_base(uri: &str) -> String {
    let no_query = uri.split('?').next().unwrap_or(uri);
    if no_query.ends_with('/') {
        no_query.to_string()
    } else {
        format!("{no_query}/")
    }
}

pub(crate) fn response(reply: Reply) -> Response {
    Response {
        status: reply.status,
        reason: reason_phrase(reply.status).to_string(),
        headers: reply.headers,
        body: reply.body,
    }
}
