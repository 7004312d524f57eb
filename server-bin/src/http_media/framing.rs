//! Body framing of streamed media responses: HTTP/1.1 chunked encoding, or
//! the bare bytes for HTTP/1.0 clients (the body ends when the socket closes).

use bytes::{BufMut, Bytes, BytesMut};
use flv_mux::{encode_tag_parts, TagType};

/// How body bytes are framed on one connection.
pub struct Framing {
    /// HTTP/1.1 chunked encoding; otherwise the body is close-delimited.
    pub chunked: bool,
}

impl Framing {
    /// A complete FLV tag (header, body, PreviousTagSize) as one buffer, framed.
    pub fn tag(&self, kind: TagType, ts: u32, body_header: &[u8], payload: &Bytes) -> Bytes {
        match encode_tag_parts(kind, ts, body_header, payload) {
            Ok(parts) => {
                let len: usize = parts.iter().map(Bytes::len).sum();
                let mut out = BytesMut::with_capacity(len + 16);
                self.open(&mut out, len);
                for p in &parts {
                    out.put_slice(p);
                }
                self.close(&mut out);
                out.freeze()
            }
            Err(e) => {
                tracing::debug!(error = %e, "tag not encodable; skipped");
                Bytes::new()
            }
        }
    }

    /// Arbitrary bytes, framed.
    pub fn frame(&self, bytes: Bytes) -> Bytes {
        let mut out = BytesMut::with_capacity(bytes.len() + 16);
        self.open(&mut out, bytes.len());
        out.put_slice(&bytes);
        self.close(&mut out);
        out.freeze()
    }

    fn open(&self, out: &mut BytesMut, len: usize) {
        if self.chunked {
            out.put_slice(format!("{len:x}\r\n").as_bytes());
        }
    }

    fn close(&self, out: &mut BytesMut) {
        if self.chunked {
            out.put_slice(b"\r\n");
        }
    }
}

impl Framing {
    /// Queues shared `bytes` as one body chunk without copying them: the
    /// chunk-size line and the trailing CRLF go beside them in the vectored write.
    pub fn push_shared(&self, out: &mut crate::io::Outbox, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        if self.chunked {
            out.push(Bytes::from(format!("{:x}\r\n", bytes.len())));
            out.push(bytes);
            out.push(Bytes::from_static(b"\r\n"));
        } else {
            out.push(bytes);
        }
    }

    /// The end of the body (the last chunk), if the framing has one.
    pub fn end(&self) -> Option<Bytes> {
        self.chunked.then(|| Bytes::from_static(b"0\r\n\r\n"))
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
