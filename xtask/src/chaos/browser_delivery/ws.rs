//! A small blocking WebSocket client on ws-proto for the browser-delivery
//! scenarios: the upgrade from any loopback address (with a receive buffer
//! as small as asked), server frames read with a deadline, and a WS-FLV
//! player for the chaos [`Player`].

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use ws_proto::{accept_key, FrameHeader, Opcode};

use super::super::clients::{PlayStats, Player};

/// The key of every handshake (RFC 6455's example).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// Largest response head read.
const MAX_HEAD: usize = 8 * 1024;
/// Largest server message accepted (a frame of the test streams is far smaller).
const MAX_MESSAGE: u64 = 4 << 20;

/// A TCP connection from `src` to `127.0.0.1:port` within `timeout`,
/// closing with RST when dropped; with `rcvbuf`, its kernel receive buffer
/// is set that small before the connect (so the window stays small).
pub fn socket(
    src: Ipv4Addr,
    port: u16,
    rcvbuf: Option<usize>,
    timeout: Duration,
) -> Result<TcpStream, String> {
    let open = || -> std::io::Result<TcpStream> {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        s.set_linger(Some(Duration::ZERO))?;
        if let Some(n) = rcvbuf {
            s.set_recv_buffer_size(n)?;
        }
        s.bind(&SockAddr::from(SocketAddrV4::new(src, 0)))?;
        let to = SockAddr::from(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
        s.connect_timeout(&to, timeout)?;
        Ok(s.into())
    };
    open().map_err(|e| format!("connect from {src}: {e}"))
}

/// One WebSocket (or refused) connection after its upgrade request.
pub struct WsConn {
    /// The socket.
    pub sock: TcpStream,
    buf: Vec<u8>,
}

/// The end of a connection the client broke the protocol on.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The server's close code, if a close frame came.
    pub code: Option<u16>,
    /// The socket ended (EOF or reset) after it.
    pub eof: bool,
    /// Binary messages before the close.
    pub messages: u64,
}

impl WsConn {
    /// Connects from `src` to the HTTP `port`, asks for a WebSocket on
    /// `path` and reads the response head within `within`: its status
    /// (101 checked for the right `Sec-WebSocket-Accept`).
    pub fn open(
        src: Ipv4Addr,
        port: u16,
        path: &str,
        rcvbuf: Option<usize>,
        within: Duration,
    ) -> Result<(WsConn, u16), String> {
        let deadline = Instant::now() + within;
        let mut sock = socket(src, port, rcvbuf, within)?;
        let _ = sock.set_nodelay(true);
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        sock.write_all(req.as_bytes())
            .map_err(|e| format!("upgrade request: {e}"))?;
        let mut conn = WsConn {
            sock,
            buf: Vec::new(),
        };
        loop {
            if let Some(end) = conn.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head =
                    String::from_utf8_lossy(conn.buf.get(..end).unwrap_or_default()).into_owned();
                conn.buf.drain(..end + 4);
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("no status line in {head:?}"))?;
                let accept = format!("Sec-WebSocket-Accept: {}", accept_key(KEY));
                if status == 101 && !head.contains(&accept) {
                    return Err(format!("101 without {accept:?}: {head:?}"));
                }
                return Ok((conn, status));
            }
            if conn.buf.len() > MAX_HEAD {
                return Err("response head over 8 KiB".into());
            }
            if !conn.fill(deadline)? {
                return Err(format!("no response head within {} ms", within.as_millis()));
            }
        }
    }

    /// More bytes, waiting until `deadline`: false at its end, an error on
    /// EOF or reset.
    fn fill(&mut self, deadline: Instant) -> Result<bool, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let _ = self.sock.set_read_timeout(Some(left));
        let mut chunk = [0u8; 16 * 1024];
        match self.sock.read(&mut chunk) {
            Ok(0) => Err("eof".into()),
            Ok(n) => {
                self.buf
                    .extend_from_slice(chunk.get(..n).unwrap_or_default());
                Ok(true)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(false),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// The next server frame within `within`: `Ok(None)` at the deadline,
    /// an error on EOF or a frame a server must not send.
    pub fn frame(&mut self, within: Duration) -> Result<Option<(Opcode, Vec<u8>)>, String> {
        let deadline = Instant::now() + within;
        loop {
            if let Some((h, at)) =
                FrameHeader::parse(&self.buf).map_err(|e| format!("server frame: {e}"))?
            {
                if h.mask.is_some() || h.len > MAX_MESSAGE {
                    return Err(format!("bad server frame {h:?}"));
                }
                let end = at + h.len as usize;
                if let Some(payload) = self.buf.get(at..end) {
                    let payload = payload.to_vec();
                    self.buf.drain(..end);
                    return Ok(Some((h.opcode, payload)));
                }
            }
            if !self.fill(deadline)? {
                return Ok(None);
            }
        }
    }

    /// Sends raw bytes (a frame, good or bad).
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.sock.write_all(bytes).map_err(|e| format!("send: {e}"))
    }

    /// Reads media until the server's close frame and the socket's end
    /// (within `within`).
    pub fn until_closed(&mut self, within: Duration) -> Closed {
        let deadline = Instant::now() + within;
        let mut seen = Closed::default();
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frame(left) {
                Ok(Some((Opcode::Close, p))) if seen.code.is_none() => {
                    seen.code = Some(
                        p.get(..2)
                            .map_or(1005, |c| u16::from_be_bytes([c[0], c[1]])),
                    );
                }
                Ok(Some((Opcode::Binary, _))) => seen.messages += 1,
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    seen.eof = true;
                    break;
                }
            }
        }
        seen
    }
}

/// Starts playing `live/<stream>` over WebSocket-FLV from 127.0.0.1.
pub fn flv_player(http: u16, stream: &str) -> Player {
    Player::spawn(http, stream, flv_loop)
}

/// One binary message per FLV tag: video tags with AVC NALUs are frames.
fn flv_loop(
    port: u16,
    stream: &str,
    stop: &AtomicBool,
    stats: &Mutex<PlayStats>,
) -> Result<(), String> {
    let lock = || stats.lock().unwrap_or_else(|e| e.into_inner());
    let path = format!("/live/{stream}.live.flv");
    let (mut conn, status) = WsConn::open(
        Ipv4Addr::LOCALHOST,
        port,
        &path,
        None,
        Duration::from_secs(5),
    )?;
    if status != 101 {
        return Err(format!("WS-FLV answered {status}"));
    }
    lock().playing = true;
    while !stop.load(Ordering::Relaxed) {
        let frame = match conn.frame(Duration::from_millis(100)) {
            Ok(f) => f,
            Err(e) => {
                lock().closed = true;
                return Err(e);
            }
        };
        match frame {
            // Tag header (11 bytes), then the video tag's body: frame
            // type/codec, AVC packet type 1 = NALUs.
            Some((Opcode::Binary, m)) if m.first() == Some(&9) && m.get(12) == Some(&1) => {
                let ts = m
                    .get(4..8)
                    .map_or(0, |h| u32::from_be_bytes([h[3], h[0], h[1], h[2]]));
                let mut g = lock();
                g.video_frames += 1;
                if g.last_ts.is_some_and(|t| ts < t) {
                    g.ts_regressions += 1;
                }
                g.last_ts = Some(ts);
            }
            Some((Opcode::Close, _)) => {
                let mut g = lock();
                g.told_ended = true;
                g.closed = true;
                return Ok(());
            }
            _ => {}
        }
    }
    Ok(())
}
