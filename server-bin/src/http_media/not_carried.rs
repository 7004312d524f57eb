//! Telling HTTP viewers what their output leaves out of a stream
//! ([`crate::media::carriage`]): a warning in the log once per viewer, the
//! `X-Strom-Not-Carried` response header (`AV1 (video): <reason>; …`), and
//! `415 Unsupported Media Type` when no track at all can be carried.

use std::collections::HashSet;
use std::sync::Mutex;

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::StatusCode;
use stream_core::StreamKey;
use tokio::net::TcpStream;

use crate::http::reply::{self, Reply};
use crate::media::carriage::{self, Dropped, Output, Rules};
use crate::server::Shared;
use crate::session::{lock, SessionGuard};

/// The response header naming the tracks left out.
pub const HEADER: &str = "X-Strom-Not-Carried";

/// Streams of one connection whose dropped tracks were logged (HLS: once
/// per connection, not per playlist poll).
#[derive(Default)]
pub(crate) struct Logged(Mutex<HashSet<StreamKey>>);

impl Logged {
    /// True the first time `key` is seen (at most 64 streams remembered).
    fn first(&self, key: &StreamKey) -> bool {
        let mut seen = lock(&self.0);
        if seen.contains(key) {
            return false;
        }
        if seen.len() < 64 {
            seen.insert(key.clone());
        }
        true
    }
}

/// What `output` leaves out of `key`'s announced tracks now, and whether that
/// is everything (empty when the stream is unknown or announced nothing).
fn judge(shared: &Shared, key: &StreamKey, output: Output) -> (Vec<Dropped>, bool) {
    let Some(snapshot) = shared.hub.stream(key) else {
        return (Vec::new(), false);
    };
    let dropped = Rules::of(&shared.config).dropped(output, &snapshot.tracks);
    let none = carriage::none_carried(&snapshot.tracks, &dropped);
    (dropped, none)
}

/// For a streamed HTTP viewer of `output` (`name` as in logs) at its start:
/// logs the tracks left out; when nothing can be carried, answers 415 and
/// returns false.
pub(super) async fn admit(
    stream: &mut TcpStream,
    shared: &Shared,
    key: &StreamKey,
    output: Output,
    name: &str,
    guard: &mut SessionGuard,
) -> bool {
    let (dropped, none) = judge(shared, key, output);
    if none {
        let why = carriage::refusal(name, &dropped);
        tracing::warn!(stream = %key, reason = %why, "{name} play refused");
        guard.set_end_reason("refused");
        let _ = super::reply_error(stream, 415, &why).await;
        return false;
    }
    carriage::warn_viewer(name, Some(key), &dropped);
    true
}

/// `head` (a streamed response head, see [`super::framing::response_head`])
/// with the `X-Strom-Not-Carried` header when `output` leaves tracks of
/// `key` out.
pub(super) fn head(head: Bytes, shared: &Shared, key: &StreamKey, output: Output) -> Bytes {
    let (dropped, _) = judge(shared, key, output);
    if dropped.is_empty() {
        return head;
    }
    with_header(&head, HEADER, &carriage::summary(&dropped))
}

/// `head` with `name: value` added before its blank line.
fn with_header(head: &[u8], name: &str, value: &str) -> Bytes {
    let Some(end) = head.windows(4).rposition(|w| w == b"\r\n\r\n") else {
        return Bytes::copy_from_slice(head);
    };
    let mut out = Vec::with_capacity(head.len() + name.len() + value.len() + 4);
    out.extend_from_slice(&head[..end + 2]);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(&head[end..]);
    Bytes::from(out)
}

/// For an HLS playlist request of `output`: `Err` with the 415 reply when
/// nothing can be carried, else the header value naming what is left out
/// (logged once per connection and stream through `logged`).
pub(crate) fn playlist(
    shared: &Shared,
    key: &StreamKey,
    output: Output,
    logged: &Logged,
) -> Result<Option<HeaderValue>, Box<Reply>> {
    let (dropped, none) = judge(shared, key, output);
    if dropped.is_empty() {
        return Ok(None);
    }
    let first = logged.first(key);
    if none {
        let why = carriage::refusal("hls", &dropped);
        if first {
            tracing::warn!(stream = %key, reason = %why, "hls play refused");
        }
        return Err(Box::new(reply::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "codec_not_carried",
            &why,
        )));
    }
    if first {
        carriage::warn_viewer("hls", Some(key), &dropped);
    }
    Ok(HeaderValue::from_str(&carriage::summary(&dropped)).ok())
}

/// `reply` with the `X-Strom-Not-Carried` header, when there is one.
pub(crate) fn tell(mut reply: Reply, value: Option<HeaderValue>) -> Reply {
    if let Some(v) = value {
        reply.headers_mut().insert(HEADER, v);
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_goes_before_the_blank_line() {
        let head = super::super::framing::response_head(true, "video/mp2t");
        let got = with_header(&head, HEADER, "AV1 (video): no mapping");
        let text = std::str::from_utf8(&got).unwrap();
        assert!(
            text.ends_with(
                "Connection: close\r\nX-Strom-Not-Carried: AV1 (video): no mapping\r\n\r\n"
            ),
            "{text}"
        );
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
    }

    #[test]
    fn a_stream_is_logged_once_per_connection() {
        let logged = Logged::default();
        let key = StreamKey::new("live", "a");
        assert!(logged.first(&key));
        assert!(!logged.first(&key));
        assert!(logged.first(&StreamKey::new("live", "b")));
    }
}
