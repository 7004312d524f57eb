//! RTSP 1.0 requests and responses (RFC 2326 §6, §7): the head (start line and header
//! fields) and a `Content-Length` body, with strom's size limits.

use bytes::{BufMut, Bytes, BytesMut};
use nom::{
    bytes::complete::{tag, take_while1},
    character::complete::{digit1, space1},
    combinator::{all_consuming, map_res},
    sequence::tuple,
    IResult,
};

use super::error::ParseError;
use super::headers::Headers;
pub use super::method::{reason_phrase, Method};

/// The only protocol version strom speaks (RFC 2326 §3.1).
pub const RTSP_VERSION: &str = "RTSP/1.0";

/// Size limits applied while parsing, each checked before the bytes are buffered further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest start or header line, bytes (without the line end).
    pub max_line: usize,
    /// Most header fields in one message.
    pub max_headers: usize,
    /// Largest `Content-Length`.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 4096,
            max_headers: 64,
            max_body: 64 * 1024,
        }
    }
}

/// An RTSP request (RFC 2326 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI as sent (absolute `rtsp://` URL or `*`).
    pub uri: String,
    /// Header fields in order.
    pub headers: Headers,
    /// The body (`Content-Length` bytes; e.g. the SDP of an ANNOUNCE).
    pub body: Bytes,
}

/// An RTSP response (RFC 2326 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code (RFC 2326 §7.1.1).
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Header fields in order.
    pub headers: Headers,
    /// The body (e.g. the SDP answering DESCRIBE).
    pub body: Bytes,
}

/// A parsed request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

fn put_head_and_body(dst: &mut BytesMut, headers: &Headers, body: &Bytes) {
    for (name, value) in headers.iter() {
        dst.put_slice(name.as_bytes());
        dst.put_slice(b": ");
        dst.put_slice(value.as_bytes());
        dst.put_slice(b"\r\n");
    }
    // RFC 2326 §12.14: a message with a body carries Content-Length.
    if !body.is_empty() && !headers.contains("Content-Length") {
        dst.put_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    dst.put_slice(b"\r\n");
    dst.put_slice(body);
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, uri: impl Into<String>) -> Self {
        Request {
            method,
            uri: uri.into(),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Appends the request to `dst` (RFC 2326 §6), adding `Content-Length` for a body.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_slice(self.method.as_str().as_bytes());
        dst.put_u8(b' ');
        dst.put_slice(self.uri.as_bytes());
        dst.put_u8(b' ');
        dst.put_slice(RTSP_VERSION.as_bytes());
        dst.put_slice(b"\r\n");
        put_head_and_body(dst, &self.headers, &self.body);
    }
}

impl Response {
    /// A response with the standard reason phrase, no headers and no body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            reason: reason_phrase(status).to_string(),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Appends the response to `dst` (RFC 2326 §7), adding `Content-Length` for a body.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_slice(RTSP_VERSION.as_bytes());
        dst.put_slice(format!(" {:03} ", self.status).as_bytes());
        dst.put_slice(self.reason.as_bytes());
        dst.put_slice(b"\r\n");
        put_head_and_body(dst, &self.headers, &self.body);
    }
}

/// Where one complete message lies in a buffer, found by [`frame_message`].
#[derive(Debug)]
pub(crate) struct Framed {
    /// Bytes the message occupies (head and body).
    pub consumed: usize,
    /// The parsed head (body still empty) and the body's byte range; or why the head did
    /// not parse, with the CSeq if one could be read (so a 400 can echo it).
    pub parsed: Result<(Message, std::ops::Range<usize>), (ParseError, Option<u32>)>,
}

/// Finds the next line in `buf[start..]`; returns its end (exclusive, without CR) and the
/// offset after its LF. `Ok(None)` when no LF yet.
fn next_line(
    buf: &[u8],
    start: usize,
    limits: &Limits,
) -> Result<Option<(usize, usize)>, ParseError> {
    let rest = buf.get(start..).unwrap_or_default();
    // RFC 2326 §4: lines end in CRLF; a bare LF is tolerated (HTTP/1.1 §19.3).
    match rest.iter().position(|&b| b == b'\n') {
        Some(lf) => {
            let end = if lf > 0 && rest.get(lf - 1) == Some(&b'\r') {
                lf - 1
            } else {
                lf
            };
            if end > limits.max_line {
                return Err(ParseError::TooLarge {
                    what: "header line",
                    limit: limits.max_line,
                    got: end,
                });
            }
            Ok(Some((start + end, start + lf + 1)))
        }
        None if rest.len() > limits.max_line + 1 => Err(ParseError::TooLarge {
            what: "header line",
            limit: limits.max_line,
            got: rest.len(),
        }),
        None => Ok(None),
    }
}

/// Frames one message at the start of `buf` (leading empty lines are skipped, as HTTP/1.1
/// §4.1 asks). `Ok(Err(n))`: need at least `n` bytes in all. `Err`: over a limit, cannot
/// resynchronise.
/// A head that is complete but does not parse is returned as `Framed { parsed: Err .. }`
/// so the caller can answer 400 and continue.
pub(crate) fn frame_message(
    buf: &[u8],
    limits: &Limits,
) -> Result<Result<Framed, usize>, ParseError> {
    let mut pos = 0;
    // Skip leading CRLFs.
    while let Some(&b) = buf.get(pos) {
        if b == b'\r' || b == b'\n' {
            pos += 1;
        } else {
            break;
        }
        if pos > limits.max_line {
            return Err(ParseError::TooLarge {
                what: "empty lines",
                limit: limits.max_line,
                got: pos,
            });
        }
    }
    let head_start = pos;
    let mut lines: Vec<(usize, usize)> = Vec::new();
    let head_end = loop {
        let Some((end, next)) = next_line(buf, pos, limits)? else {
            return Ok(Err(buf.len() + 1));
        };
        if end == pos {
            break next;
        }
        lines.push((pos, end));
        // One start line plus at most `max_headers` fields (continuations count as lines).
        if lines.len() > limits.max_headers + 1 {
            return Err(ParseError::TooLarge {
                what: "header count",
                limit: limits.max_headers,
                got: lines.len() - 1,
            });
        }
        pos = next;
    };
    let line = |(s, e): (usize, usize)| buf.get(s..e).unwrap_or_default();
    // Header fields (RFC 2326 §4.2 / HTTP/1.1 §4.2), with obsolete line folding.
    let mut headers = Headers::new();
    let mut pending: Option<(String, String)> = None;
    let mut header_err = None;
    for &(s, e) in lines.iter().skip(1) {
        let l = line((s, e));
        if matches!(l.first(), Some(b' ' | b'\t')) {
            match pending.as_mut() {
                Some((_, v)) => {
                    v.push(' ');
                    v.push_str(String::from_utf8_lossy(l).trim());
                }
                None => header_err = header_err.or(Some(s - head_start)),
            }
            continue;
        }
        if let Some((n, v)) = pending.take() {
            headers.append(n, v);
        }
        match header_line(l) {
            Ok((_, (name, value))) => pending = Some((name, value)),
            Err(_) => header_err = header_err.or(Some(s - head_start)),
        }
    }
    if let Some((n, v)) = pending.take() {
        headers.append(n, v);
    }
    let cseq = headers.cseq();
    // RFC 2326 §12.14: Content-Length gives the body size; absent means no body.
    let body_len = match headers.get("Content-Length") {
        None => 0,
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > limits.max_body => {
                return Err(ParseError::TooLarge {
                    what: "Content-Length",
                    limit: limits.max_body,
                    got: n,
                })
            }
            Ok(n) => n,
            Err(_) => {
                return Ok(Ok(Framed {
                    consumed: head_end,
                    parsed: Err((ParseError::malformed("Content-Length", 0), cseq)),
                }))
            }
        },
    };
    let Some(total) = head_end.checked_add(body_len) else {
        return Err(ParseError::TooLarge {
            what: "Content-Length",
            limit: limits.max_body,
            got: body_len,
        });
    };
    if buf.len() < total {
        return Ok(Err(total));
    }
    if let Some(at) = header_err {
        return Ok(Ok(Framed {
            consumed: total,
            parsed: Err((ParseError::malformed("header field", at), cseq)),
        }));
    }
    let first = lines.first().map(|&l| line(l)).unwrap_or_default();
    let parsed = match start_line(first) {
        Ok(StartLine::Request(method, uri)) => Ok((
            Message::Request(Request {
                method,
                uri,
                headers,
                body: Bytes::new(),
            }),
            head_end..total,
        )),
        Ok(StartLine::Response(status, reason)) => Ok((
            Message::Response(Response {
                status,
                reason,
                headers,
                body: Bytes::new(),
            }),
            head_end..total,
        )),
        Err(e) => Err((e, cseq)),
    };
    Ok(Ok(Framed {
        consumed: total,
        parsed,
    }))
}

/// Parses one message at the start of `buf`: `Ok(None)` when more bytes are needed,
/// otherwise the message and the bytes it used. The body is copied out of `buf`; the
/// [`ServerSession`](super::ServerSession) slices it zero-copy instead.
pub fn parse_message(buf: &[u8], limits: &Limits) -> Result<Option<(Message, usize)>, ParseError> {
    let Ok(framed) = frame_message(buf, limits)? else {
        return Ok(None);
    };
    let (mut msg, range) = framed.parsed.map_err(|(e, _)| e)?;
    let body = Bytes::copy_from_slice(buf.get(range).unwrap_or_default());
    match &mut msg {
        Message::Request(r) => r.body = body,
        Message::Response(r) => r.body = body,
    }
    Ok(Some((msg, framed.consumed)))
}

enum StartLine {
    Request(Method, String),
    Response(u16, String),
}

fn is_token(b: u8) -> bool {
    // RFC 2326 §15.1 token: CHAR except CTLs and tspecials.
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

fn header_line(l: &[u8]) -> IResult<&[u8], (String, String)> {
    let (rest, name) = take_while1(is_token)(l)?;
    let (rest, _) = tag(":")(rest)?;
    let value = String::from_utf8_lossy(rest).trim().to_string();
    Ok((&[], (String::from_utf8_lossy(name).into_owned(), value)))
}

fn status_line(l: &[u8]) -> IResult<&[u8], (u16, String)> {
    let (rest, (_, _, code)) = tuple((
        tag(RTSP_VERSION),
        space1,
        map_res(digit1, |d: &[u8]| {
            std::str::from_utf8(d)
                .map_err(|_| ())
                .and_then(|s| s.parse::<u16>().map_err(|_| ()))
        }),
    ))(l)?;
    let reason = String::from_utf8_lossy(rest).trim().to_string();
    Ok((&[], (code, reason)))
}

fn request_line(l: &[u8]) -> IResult<&[u8], (&[u8], &[u8])> {
    let (rest, (method, _, uri, _, _)) = all_consuming(tuple((
        take_while1(is_token),
        space1,
        take_while1(|b: u8| b.is_ascii_graphic()),
        space1,
        tag(RTSP_VERSION),
    )))(l)?;
    Ok((rest, (method, uri)))
}

fn start_line(l: &[u8]) -> Result<StartLine, ParseError> {
    if l.starts_with(b"RTSP/") {
        // RFC 2326 §7.1: Status-Line = RTSP-Version SP Status-Code SP Reason-Phrase.
        let (_, (code, reason)) =
            status_line(l).map_err(|_| ParseError::malformed("status line", 0))?;
        if !(100..=999).contains(&code) {
            return Err(ParseError::malformed("status code", 9));
        }
        return Ok(StartLine::Response(code, reason));
    }
    // RFC 2326 §6.1: Request-Line = Method SP Request-URI SP RTSP-Version CRLF.
    let (_, (method, uri)) =
        request_line(l).map_err(|_| ParseError::malformed("request line", 0))?;
    let method = std::str::from_utf8(method).map_err(|_| ParseError::malformed("method", 0))?;
    let uri = std::str::from_utf8(uri)
        .map_err(|_| ParseError::malformed("request URI", method.len() + 1))?;
    Ok(StartLine::Request(
        Method::from_token(method),
        uri.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GST_OPTIONS: &[u8] = b"OPTIONS rtsp://127.0.0.1:19412/live/rcap2 RTSP/1.0\r\n\
CSeq: 1\r\n\
User-Agent: GStreamer/1.22.0\r\n\
User-Agent: RealMedia Player Version 6.0.9.1235 (linux-2.0-libc6-i386-gcc2.95)\r\n\
ClientChallenge: 9e26d33f2984236010ef6253fb1887f7\r\n\
PlayerStarttime: [28/03/2003:22:50:23 00:00]\r\n\
Date: Mon, 23 Nov 2026 20:42:41 GMT\r\n\r\n";

    fn lim() -> Limits {
        Limits::default()
    }

    #[test]
    fn gstreamer_options_with_realmedia_headers() {
        let (m, n) = parse_message(GST_OPTIONS, &lim()).unwrap().unwrap();
        assert_eq!(n, GST_OPTIONS.len());
        let Message::Request(r) = m else {
            panic!("not a request")
        };
        assert_eq!(r.method, Method::Options);
        assert_eq!(r.uri, "rtsp://127.0.0.1:19412/live/rcap2");
        assert_eq!(r.headers.cseq(), Some(1));
        assert_eq!(r.headers.get_all("user-agent").count(), 2);
        assert_eq!(
            r.headers.get("PlayerStarttime"),
            Some("[28/03/2003:22:50:23 00:00]")
        );
    }

    #[test]
    fn every_truncation_needs_more() {
        for i in 0..GST_OPTIONS.len() {
            assert_eq!(parse_message(&GST_OPTIONS[..i], &lim()), Ok(None), "at {i}");
        }
    }

    #[test]
    fn body_by_content_length() {
        let raw =
            b"ANNOUNCE rtsp://h/a/b RTSP/1.0\r\nCSeq: 2\r\nContent-Length: 5\r\n\r\nv=0\r\nEXTRA";
        let (m, n) = parse_message(raw, &lim()).unwrap().unwrap();
        assert_eq!(n, raw.len() - 5);
        let Message::Request(r) = m else { panic!() };
        assert_eq!(&r.body[..], b"v=0\r\n");
        assert_eq!(parse_message(&raw[..n - 1], &lim()), Ok(None));
    }

    #[test]
    fn response_with_folded_header() {
        let raw = b"RTSP/1.0 454 Session Not Found\r\nCSeq: 9\r\nX-Long: a\r\n  b\r\n\r\n";
        let (m, _) = parse_message(raw, &lim()).unwrap().unwrap();
        let Message::Response(r) = m else { panic!() };
        assert_eq!((r.status, r.reason.as_str()), (454, "Session Not Found"));
        assert_eq!(r.headers.get("x-long"), Some("a b"));
    }

    #[test]
    fn limits() {
        let long = [b'A'; 5000];
        assert!(matches!(
            parse_message(&long, &lim()),
            Err(ParseError::TooLarge {
                what: "header line",
                ..
            })
        ));
        let mut many = b"OPTIONS * RTSP/1.0\r\n".to_vec();
        for i in 0..70 {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        assert!(matches!(
            parse_message(&many, &lim()),
            Err(ParseError::TooLarge {
                what: "header count",
                ..
            })
        ));
        let big = b"ANNOUNCE * RTSP/1.0\r\nContent-Length: 65537\r\n\r\n";
        assert!(matches!(
            parse_message(big, &lim()),
            Err(ParseError::TooLarge {
                what: "Content-Length",
                ..
            })
        ));
    }

    #[test]
    fn malformed_is_framed_with_cseq() {
        let raw = b"HELLO\r\nCSeq: 4\r\n\r\nOPTIONS * RTSP/1.0\r\n\r\n";
        let f = frame_message(raw, &lim()).unwrap().ok().unwrap();
        assert_eq!(f.consumed, 18);
        assert!(matches!(
            f.parsed,
            Err((ParseError::Malformed { .. }, Some(4)))
        ));
        let raw = b"OPTIONS * RTSP/1.0\r\nno colon here\r\n\r\n";
        let f = frame_message(raw, &lim()).unwrap().ok().unwrap();
        assert!(matches!(
            f.parsed,
            Err((
                ParseError::Malformed {
                    what: "header field",
                    ..
                },
                None
            ))
        ));
    }

    #[test]
    fn encode_response() {
        let mut r = Response::new(200);
        r.headers.append("CSeq", "3");
        r.body = Bytes::from_static(b"v=0\r\n");
        let mut out = BytesMut::new();
        r.encode(&mut out);
        assert_eq!(
            &out[..],
            b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Length: 5\r\n\r\nv=0\r\n"
        );
    }

    fn method() -> impl Strategy<Value = Method> {
        prop_oneof![
            Just(Method::Options),
            Just(Method::Describe),
            Just(Method::Announce),
            Just(Method::Setup),
            Just(Method::Play),
            Just(Method::Pause),
            Just(Method::Teardown),
            Just(Method::GetParameter),
            Just(Method::SetParameter),
            Just(Method::Record),
            "[A-Z_]{1,12}".prop_map(|s| Method::from_token(&s)),
        ]
    }

    fn headers() -> impl Strategy<Value = Headers> {
        prop::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,15}", "[ -~]{0,40}"), 0..10).prop_map(|v| {
            let mut h = Headers::new();
            for (n, val) in v {
                if !n.eq_ignore_ascii_case("content-length") {
                    h.append(n, val.trim().to_string());
                }
            }
            h
        })
    }

    proptest! {
        #[test]
        fn request_round_trip(m in method(), uri in "rtsp://[a-z0-9.:/=_]{1,60}", mut h in headers(), body in prop::collection::vec(any::<u8>(), 0..300)) {
            if !body.is_empty() {
                h.append("Content-Length", body.len().to_string());
            }
            let req = Request { method: m, uri, headers: h, body: Bytes::from(body) };
            let mut out = BytesMut::new();
            req.encode(&mut out);
            let (got, n) = parse_message(&out, &lim()).unwrap().unwrap();
            prop_assert_eq!(n, out.len());
            prop_assert_eq!(got, Message::Request(req));
        }

        #[test]
        fn response_round_trip(status in 100u16..1000, reason in "[A-Za-z][ -~]{0,30}", mut h in headers(), body in prop::collection::vec(any::<u8>(), 0..300)) {
            if !body.is_empty() {
                h.append("Content-Length", body.len().to_string());
            }
            let resp = Response { status, reason: reason.trim().to_string(), headers: h, body: Bytes::from(body) };
            let mut out = BytesMut::new();
            resp.encode(&mut out);
            let (got, n) = parse_message(&out, &lim()).unwrap().unwrap();
            prop_assert_eq!(n, out.len());
            prop_assert_eq!(got, Message::Response(resp));
        }

        #[test]
        fn never_panics(data in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_message(&data, &lim());
        }
    }
}
