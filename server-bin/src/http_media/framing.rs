//! Body framing of streamed media responses: HTTP/1.1 chunked encoding, or
//! the bare bytes for HTTP/1.0 clients (the body ends when the socket closes).

use bytes::Bytes;
use stream_core::WireParts;

use crate::io::Outbox;

/// How body bytes are framed on one connection.
pub struct Framing {
    /// HTTP/1.1 chunked encoding; otherwise the body is close-delimited.
    pub chunked: bool,
}

impl Framing {
    /// Queues a wire form (shared by every player) as one body chunk
    /// without copying it: the chunk-size line and the trailing CRLF, built
    /// for this player, go beside its parts in the vectored write.
    pub fn push_parts(&self, out: &mut Outbox, form: &WireParts) {
        if form.is_empty() {
            return;
        }
        self.open(out, form.len());
        out.push_shared(form.parts());
        self.close(out);
    }

    /// Queues shared `bytes` as one body chunk without copying them.
    pub fn push_shared(&self, out: &mut Outbox, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.open(out, bytes.len());
        out.push(bytes);
        self.close(out);
    }

    fn open(&self, out: &mut Outbox, len: usize) {
        if self.chunked {
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
    }

    fn close(&self, out: &mut Outbox) {
        if self.chunked {
            out.push(Bytes::from_static(b"\r\n"));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(chunked: bool, form: &WireParts) -> Vec<u8> {
        let mut out = Outbox::default();
        Framing { chunked }.push_parts(&mut out, form);
        out.drain_for_test()
    }

    #[test]
    fn chunk_lines_match_the_length_in_hex() {
        let payload = Bytes::from(vec![9u8; 0x1a2]);
        let form = WireParts::from_parts([Bytes::from_static(b"hd"), payload]);
        let got = framed(true, &form);
        assert!(got.starts_with(b"1a4\r\nhd"), "{:?}", &got[..8]);
        assert!(got.ends_with(&[9, b'\r', b'\n']));
        assert_eq!(got.len(), 5 + 0x1a4 + 2);
        assert_eq!(framed(false, &form), form.to_bytes());
        let one = WireParts::from_parts([Bytes::from_static(b"x")]);
        assert_eq!(framed(true, &one), b"1\r\nx\r\n");
        assert!(framed(true, &WireParts::new()).is_empty());
    }
}
