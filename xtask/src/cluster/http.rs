//! A tiny HTTP/1.1 client on std::net for etcd's JSON gateway: one request
//! with `Connection: close`, and an incremental chunked-body decoder for
//! the streaming `/v3/watch`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One HTTP/1.1 request (`Connection: close`); status and body (de-chunked).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
    within: Duration,
) -> Result<(u16, Vec<u8>), String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut sock =
        TcpStream::connect_timeout(&addr, within).map_err(|e| format!("{path}: connect: {e}"))?;
    sock.set_read_timeout(Some(within))
        .map_err(|e| e.to_string())?;
    sock.set_write_timeout(Some(within))
        .map_err(|e| e.to_string())?;
    write_request(&mut sock, method, path, body)?;
    let mut data = Vec::new();
    sock.read_to_end(&mut data)
        .map_err(|e| format!("{path}: {e}"))?;
    let (status, chunked, start) = head(&data).ok_or_else(|| format!("{path}: no answer"))?;
    let rest = data.get(start..).unwrap_or_default();
    let body = if chunked {
        let mut d = Dechunk::default();
        d.feed(rest)
    } else {
        rest.to_vec()
    };
    Ok((status, body))
}

pub fn write_request(
    sock: &mut TcpStream,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(), String> {
    write!(
        sock,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| format!("{path}: {e}"))
}

/// Status, whether the body is chunked, and where it starts.
pub fn head(data: &[u8]) -> Option<(u16, bool, usize)> {
    let end = data.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = String::from_utf8_lossy(data.get(..end)?).to_ascii_lowercase();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = text.contains("transfer-encoding: chunked");
    Some((status, chunked, end + 4))
}

/// An incremental decoder of `Transfer-Encoding: chunked`.
#[derive(Default)]
pub struct Dechunk {
    pending: Vec<u8>,
    /// Bytes left in the current chunk, then its CRLF.
    left: usize,
    crlf: usize,
}

impl Dechunk {
    /// Feeds bytes; returns the body bytes they completed.
    pub fn feed(&mut self, data: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(data);
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let rest = self.pending.get(pos..).unwrap_or_default();
            if self.left > 0 {
                let take = self.left.min(rest.len());
                out.extend_from_slice(rest.get(..take).unwrap_or_default());
                self.left -= take;
                pos += take;
                if self.left > 0 {
                    break;
                }
                self.crlf = 2;
                continue;
            }
            if self.crlf > 0 {
                let take = self.crlf.min(rest.len());
                self.crlf -= take;
                pos += take;
                if self.crlf > 0 {
                    break;
                }
                continue;
            }
            let Some(nl) = rest.windows(2).position(|w| w == b"\r\n") else {
                break;
            };
            let line = String::from_utf8_lossy(rest.get(..nl).unwrap_or_default()).into_owned();
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16);
            pos += nl + 2;
            match size {
                Ok(0) | Err(_) => {
                    pos = self.pending.len();
                    break;
                }
                Ok(n) => self.left = n,
            }
        }
        self.pending.drain(..pos.min(self.pending.len()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_decode_across_any_split() {
        let wire = b"5\r\nhello\r\n7;x=1\r\n, world\r\n0\r\n\r\n";
        for cut in 0..wire.len() {
            let mut d = Dechunk::default();
            let mut out = d.feed(&wire[..cut]);
            out.extend(d.feed(&wire[cut..]));
            assert_eq!(out, b"hello, world", "cut at {cut}");
        }
    }
}
