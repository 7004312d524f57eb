//! Body framing of streamed media responses: HTTP/1.1 chunked encoding,
//! the bare bytes for HTTP/1.0 clients (the body ends when the socket
//! closes), or one WebSocket binary message per push after a `101`
//! handshake; and what the player sends back ([`PlayerInput`]).

use bytes::Bytes;
use stream_core::WireParts;
use ws_proto::{close_code, Decoder, Event};

use crate::io::Outbox;

use super::request::MediaRequest;

/// How body bytes are framed on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// HTTP/1.1 chunked encoding.
    Chunked,
    /// HTTP/1.0: the bare bytes, the body ends when the socket closes.
    CloseDelimited,
    /// WebSocket: each push is one binary message.
    WebSocket(ws_proto::Accept),
}

impl Framing {
    /// The framing a request asks for.
    pub fn of(req: &MediaRequest) -> Framing {
        match (&req.websocket, req.http11) {
            (Some(accept), _) => Framing::WebSocket(accept.clone()),
            (None, true) => Framing::Chunked,
            (None, false) => Framing::CloseDelimited,
        }
    }

    /// The response head: the `101` handshake for a WebSocket, otherwise a
    /// streamed `200` with `content_type`.
    pub fn response_head(&self, content_type: &str) -> Bytes {
        match self {
            Framing::WebSocket(accept) => Bytes::from(accept.response_head()),
            Framing::Chunked => response_head(true, content_type),
            Framing::CloseDelimited => response_head(false, content_type),
        }
    }

    /// Queues a wire form (shared by every player) as one body chunk or
    /// message without copying it: the chunk-size line and trailing CRLF,
    /// or the WebSocket frame header, built for this player, go beside its
    /// parts in the vectored write.
    pub fn push_parts(&self, out: &mut Outbox, form: &WireParts) {
        if form.is_empty() {
            return;
        }
        self.open(out, form.len());
        out.push_shared(form.parts());
        self.close(out);
    }

    /// Queues shared `bytes` as one body chunk or message without copying them.
    pub fn push_shared(&self, out: &mut Outbox, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.open(out, bytes.len());
        out.push(bytes);
        self.close(out);
    }

    fn open(&self, out: &mut Outbox, len: usize) {
        match self {
            Framing::Chunked => {
                // "{len:x}\r\n" without a heap string: at most 16 hex digits.
                let mut line = [0u8; 18];
                let mut n = 0;
                let digits = (usize::BITS - len.leading_zeros()).div_ceil(4).max(1);
                for k in (0..digits).rev() {
                    line[n] = b"0123456789abcdef"[(len >> (4 * k)) & 0xf];
                    n += 1;
                }
                line[n..n + 2].copy_from_slice(b"\r\n");
                out.push_copy(&line[..n + 2]);
            }
            Framing::WebSocket(_) => {
                let (h, n) = ws_proto::encode_header(ws_proto::Opcode::Binary, true, len as u64);
                out.push_copy(&h[..n]);
            }
            Framing::CloseDelimited => {}
        }
    }

    fn close(&self, out: &mut Outbox) {
        if *self == Framing::Chunked {
            out.push(Bytes::from_static(b"\r\n"));
        }
    }

    /// The end of the body, if the framing has one: the last chunk, or a
    /// WebSocket close frame (1000) giving `why`.
    pub fn end(&self, why: &str) -> Option<Bytes> {
        match self {
            Framing::Chunked => Some(Bytes::from_static(b"0\r\n\r\n")),
            Framing::WebSocket(_) => Some(ws_proto::close_frame(close_code::NORMAL, why)),
            Framing::CloseDelimited => None,
        }
    }

    /// A WebSocket close frame (1000) for an end the server chose that has
    /// no HTTP body end (a kick); `None` for HTTP.
    pub fn goodbye(&self, why: &str) -> Option<Bytes> {
        match self {
            Framing::WebSocket(_) => self.end(why),
            _ => None,
        }
    }
}

/// One turn of a player loop: an event of the subscription, bytes to flush
/// before waiting again (a pong), or the end (reason name, why).
#[derive(Debug)]
pub enum Turn<E> {
    /// From the subscription.
    Event(E),
    /// Something was queued for the player: flush it.
    Flush,
    /// The session ends.
    End(&'static str, String),
}

/// What a player sent, after [`PlayerInput::received`].
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Nothing to do.
    Nothing,
    /// Something to send was queued (a pong): flush soon.
    Reply,
    /// The session ends for this reason (an end reason name, and why); what
    /// the player is owed (a close frame) is queued.
    End(&'static str, String),
}

/// What a player sends after its request: HTTP players' bytes are dropped,
/// WebSocket players' frames decoded (bounded by ws-proto's limits).
#[derive(Debug)]
pub enum PlayerInput {
    /// HTTP: anything sent is dropped.
    Http,
    /// WebSocket: pings answered, a close ends the session.
    WebSocket(Decoder),
}

impl PlayerInput {
    /// The input side for a framing.
    pub fn of(framing: &Framing) -> PlayerInput {
        match framing {
            Framing::WebSocket(_) => PlayerInput::WebSocket(Decoder::new(Default::default())),
            _ => PlayerInput::Http,
        }
    }

    /// Handles bytes the player sent: pongs and close frames go to `out`.
    pub fn received(&mut self, bytes: &[u8], out: &mut Outbox) -> Received {
        let PlayerInput::WebSocket(dec) = self else {
            return Received::Nothing;
        };
        let mut result = Received::Nothing;
        let pushed = dec.push(bytes);
        loop {
            let event = match pushed.clone().and_then(|()| dec.next_event()) {
                Ok(Some(event)) => event,
                Ok(None) => return result,
                Err(e) => {
                    out.push(ws_proto::close_frame(e.close_code(), &e.to_string()));
                    return Received::End("protocol-error", format!("websocket: {e}"));
                }
            };
            match event {
                Event::Ping(payload) => {
                    out.push(ws_proto::pong_frame(&payload));
                    result = Received::Reply;
                }
                Event::Close { code, reason } => {
                    out.push(ws_proto::close_frame(
                        code.unwrap_or(close_code::NORMAL),
                        "",
                    ));
                    let why = match code {
                        Some(code) => format!("player closed the websocket ({code} {reason})"),
                        None => "player closed the websocket".to_string(),
                    };
                    return Received::End("peer-closed", why);
                }
                Event::Pong | Event::Data { .. } => {}
            }
        }
    }
}

/// The head of a streamed media response: no length, never cached, CORS open.
pub fn response_head(http11: bool, content_type: &str) -> Bytes {
    let mut head = String::from(if http11 {
        "HTTP/1.1 200 OK\r\n"
    } else {
        "HTTP/1.0 200 OK\r\n"
    });
    head.push_str("Content-Type: ");
    head.push_str(content_type);
    head.push_str("\r\n");
    if http11 {
        head.push_str("Transfer-Encoding: chunked\r\n");
    }
    head.push_str("Cache-Control: no-cache, no-store\r\n");
    head.push_str("Access-Control-Allow-Origin: *\r\n");
    head.push_str("Connection: close\r\n\r\n");
    Bytes::from(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ws_proto::{encode_client_frame, Opcode};

    fn ws() -> Framing {
        let mut up = ws_proto::UpgradeRequest::default();
        for (n, v) in [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ] {
            up.header(n, v);
        }
        Framing::WebSocket(up.accept().unwrap())
    }

    fn framed(framing: Framing, form: &WireParts) -> Vec<u8> {
        let mut out = Outbox::default();
        framing.push_parts(&mut out, form);
        out.drain_for_test()
    }

    #[test]
    fn chunk_lines_match_the_length_in_hex() {
        let payload = Bytes::from(vec![9u8; 0x1a2]);
        let form = WireParts::from_parts([Bytes::from_static(b"hd"), payload]);
        let got = framed(Framing::Chunked, &form);
        assert!(got.starts_with(b"1a4\r\nhd"), "{:?}", &got[..8]);
        assert!(got.ends_with(&[9, b'\r', b'\n']));
        assert_eq!(got.len(), 5 + 0x1a4 + 2);
        assert_eq!(framed(Framing::CloseDelimited, &form), form.to_bytes());
        let one = WireParts::from_parts([Bytes::from_static(b"x")]);
        assert_eq!(framed(Framing::Chunked, &one), b"1\r\nx\r\n");
        assert!(framed(Framing::Chunked, &WireParts::new()).is_empty());
    }

    #[test]
    fn websocket_messages_frame_the_shared_parts() {
        let payload = Bytes::from(vec![9u8; 0x1a2]);
        let form = WireParts::from_parts([Bytes::from_static(b"hd"), payload]);
        let got = framed(ws(), &form);
        assert_eq!(&got[..4], &[0x82, 126, 0x01, 0xa4]);
        assert_eq!(&got[4..], &form.to_bytes()[..]);
        let one = WireParts::from_parts([Bytes::from_static(b"x")]);
        assert_eq!(framed(ws(), &one), b"\x82\x01x");
        assert!(ws()
            .response_head("video/x-flv")
            .starts_with(b"HTTP/1.1 101 "));
        assert_eq!(ws().end("").unwrap()[..], [0x88, 2, 0x03, 0xe8]);
        assert_eq!(Framing::CloseDelimited.end("x"), None);
        assert_eq!(Framing::Chunked.goodbye("x"), None);
    }

    #[test]
    fn player_input_answers_pings_and_ends_on_close_or_errors() {
        let mut input = PlayerInput::of(&ws());
        let mut out = Outbox::default();
        let ping = encode_client_frame(Opcode::Ping, true, b"hb", [1, 2, 3, 4]);
        assert_eq!(input.received(&ping[..3], &mut out), Received::Nothing);
        assert_eq!(input.received(&ping[3..], &mut out), Received::Reply);
        assert_eq!(out.drain_for_test(), b"\x8a\x02hb");
        let close = encode_client_frame(Opcode::Close, true, &1001u16.to_be_bytes(), [5; 4]);
        assert!(matches!(
            input.received(&close, &mut out),
            Received::End("peer-closed", _)
        ));
        assert_eq!(out.drain_for_test(), [0x88, 2, 0x03, 0xe9]);

        let mut input = PlayerInput::of(&ws());
        assert!(matches!(
            input.received(&[0x89, 0x00], &mut out),
            Received::End("protocol-error", _)
        ));
        assert_eq!(&out.drain_for_test()[2..4], &1002u16.to_be_bytes());
        let mut http = PlayerInput::of(&Framing::Chunked);
        assert_eq!(http.received(&[0x89, 0x00], &mut out), Received::Nothing);
        assert!(out.is_empty());
    }
}
