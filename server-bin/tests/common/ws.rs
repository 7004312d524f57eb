//! A small blocking WebSocket client written against ws-proto: the upgrade
//! request, server frames read with a deadline, masked frames sent.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ws_proto::{encode_client_frame, FrameHeader, Opcode};

/// The key of every test handshake (RFC 6455's example).
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The upgrade request for `path`, with `version` and extra header lines.
pub fn upgrade_request(path: &str, version: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: {version}\r\n{extra}\r\n"
    )
}

/// One server frame.
#[derive(Debug)]
pub struct Frame {
    /// Its opcode.
    pub opcode: Opcode,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// A client connection after its request was sent.
pub struct WsClient {
    pub sock: TcpStream,
    buf: Vec<u8>,
}

impl WsClient {
    /// Sends `request` on `sock`.
    pub fn send_request(mut sock: TcpStream, request: &str) -> WsClient {
        sock.write_all(request.as_bytes()).expect("request sent");
        WsClient {
            sock,
            buf: Vec::new(),
        }
    }

    /// Connects to `port` and asks for a WebSocket on `path`.
    pub fn connect(port: u16, path: &str) -> WsClient {
        let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        WsClient::send_request(sock, &upgrade_request(path, "13", ""))
    }

    /// More bytes, waiting up to `deadline`; false at its end or on EOF.
    fn fill(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let _ = self.sock.set_read_timeout(Some(left));
        let mut chunk = [0u8; 16 * 1024];
        match self.sock.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(_) => false,
        }
    }

    /// The response head (through the blank line): status and head text.
    pub fn response(&mut self, limit: Duration) -> (u16, String) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end + 4]).into_owned();
                self.buf.drain(..end + 4);
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                return (status, head);
            }
            assert!(self.fill(deadline), "no response head within {limit:?}");
        }
    }

    /// The rest of the response after its head (an error body), to EOF.
    pub fn rest(&mut self, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        while self.fill(deadline) {}
        String::from_utf8_lossy(&self.buf).into_owned()
    }

    /// The next server frame, or `None` on EOF or after `limit`.
    pub fn frame(&mut self, limit: Duration) -> Option<Frame> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some((h, at)) = FrameHeader::parse(&self.buf).expect("a valid server frame") {
                assert!(h.mask.is_none(), "server frames are unmasked");
                assert!(h.fin, "server messages are unfragmented");
                let end = at + h.len as usize;
                if self.buf.len() >= end {
                    let payload = self.buf[at..end].to_vec();
                    self.buf.drain(..end);
                    return Some(Frame {
                        opcode: h.opcode,
                        payload,
                    });
                }
            }
            if !self.fill(deadline) {
                return None;
            }
        }
    }

    /// Skips binary messages until a frame of `opcode` arrives (its payload).
    pub fn until(&mut self, opcode: Opcode, limit: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + limit;
        loop {
            let f = self.frame(deadline.saturating_duration_since(Instant::now()))?;
            if f.opcode == opcode {
                return Some(f.payload);
            }
            assert_eq!(f.opcode, Opcode::Binary, "unexpected {:?}", f.opcode);
        }
    }

    /// Sends a masked frame.
    pub fn send(&mut self, opcode: Opcode, payload: &[u8]) {
        let frame = encode_client_frame(opcode, true, payload, [0x1f, 0x2e, 0x3d, 0x4c]);
        self.sock.write_all(&frame).expect("frame sent");
    }
}
