//! Raw clients of the real binary: rtmp-proto's client session over a
//! blocking socket, hand-written RTSP and HTTP, and a publisher thread, so no
//! state hides behind a tool's own keep-alives.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtmp_proto::session::MediaKind;
use rtmp_proto::{ClientConfig, ClientEvent, ClientMode, ClientSession, HandshakeParams};

pub use super::flv_bodies::{avc_keyframe, avc_sequence_header};

/// Generous bound for anything the server should do within a few seconds,
/// on a machine shared with other builds.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A user control Ping Request and an Acknowledgement, raw chunks on chunk
/// stream 2 (protocol control): what a peer that only keeps the connection
/// busy sends.
pub fn ping_and_ack(n: u32) -> Vec<u8> {
    let mut b = vec![0x02, 0, 0, 0, 0, 0, 6, 0x04, 0, 0, 0, 0, 0, 6];
    b.extend_from_slice(&n.to_be_bytes());
    b.extend_from_slice(&[0x02, 0, 0, 0, 0, 0, 4, 0x03, 0, 0, 0, 0]);
    b.extend_from_slice(&n.to_be_bytes());
    b
}

/// `"onMetaData", {}` in AMF0: a data message, not media.
pub fn empty_metadata() -> Bytes {
    let mut b = vec![0x02, 0, 10];
    b.extend_from_slice(b"onMetaData");
    b.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 0, 9]);
    Bytes::from(b)
}

pub fn rtmp_config(port: u16, stream: &str, mode: ClientMode) -> ClientConfig {
    ClientConfig {
        app: "live".into(),
        tc_url: format!("rtmp://127.0.0.1:{port}/live"),
        stream: stream.into(),
        mode,
        chunk_size: 4096,
        handshake: HandshakeParams {
            epoch: 0,
            seed: [7; 32],
        },
        digest: false,
        timeouts: rtmp_proto::ClientTimeouts::NONE,
    }
}

pub fn flush(sock: &mut TcpStream, session: &mut ClientSession) -> std::io::Result<()> {
    while let Some(out) = session.poll_transmit() {
        sock.write_all(&out)?;
    }
    Ok(())
}

/// What an RTMP client saw until it stopped reading.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Publishing/Playing, whichever was asked.
    Started,
    /// The server refused, with this status code.
    Rejected(String),
    /// The stream ended for a player (UnpublishNotify, Stream EOF).
    ToldEnded,
    /// The server closed the connection.
    Closed,
    /// Nothing of the above within the limit.
    TimedOut,
}

/// Feeds the server's bytes to `session` until `stop` says so about an
/// event, the server closes, or `limit` passes.
pub fn pump(
    sock: &mut TcpStream,
    session: &mut ClientSession,
    limit: Duration,
    stop: impl Fn(&ClientEvent) -> Option<Outcome>,
) -> Outcome {
    let deadline = Instant::now() + limit;
    let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if flush(sock, session).is_err() {
            return Outcome::Closed;
        }
        while let Some(ev) = session.poll_event() {
            if let Some(out) = stop(&ev) {
                return out;
            }
        }
        if Instant::now() > deadline {
            return Outcome::TimedOut;
        }
        match sock.read(&mut buf) {
            Ok(0) => return Outcome::Closed,
            Ok(n) => {
                if session.handle_input(&buf[..n], Instant::now()).is_err() {
                    return Outcome::Closed;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Outcome::Closed,
        }
    }
}

/// Connects an RTMP client from `from` (a loopback address) and publishes or
/// plays `live/{stream}`; the socket and session with the outcome.
pub fn rtmp_client(
    port: u16,
    from: [u8; 4],
    stream: &str,
    mode: ClientMode,
) -> (TcpStream, ClientSession, Outcome) {
    let mut sock = connect_from(from, port);
    let mut session = ClientSession::new(rtmp_config(port, stream, mode), Instant::now());
    let outcome = pump(&mut sock, &mut session, PATIENCE, |ev| match ev {
        ClientEvent::Publishing | ClientEvent::Playing => Some(Outcome::Started),
        ClientEvent::Rejected { code, .. } => Some(Outcome::Rejected(code.clone())),
        _ => None,
    });
    (sock, session, outcome)
}

/// A TCP connection to 127.0.0.1:`port` whose source address is `from`
/// (std cannot bind before connecting; tokio's socket can).
pub fn connect_from(from: [u8; 4], port: u16) -> TcpStream {
    connect_with(from, port, None)
}

/// As [`connect_from`], with a small receive buffer when asked (a player
/// that stops reading fills it at once).
pub fn connect_with(from: [u8; 4], port: u16, recv_buffer: Option<u32>) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sock = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).expect("receive buffer");
        }
        socket
            .bind(SocketAddr::from((from, 0)))
            .expect("bind a loopback source address");
        socket
            .connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .expect("connect")
    });
    let sock = sock.into_std().expect("std socket");
    sock.set_nonblocking(false).expect("blocking");
    sock.set_nodelay(true).expect("nodelay");
    sock
}

/// A publisher of `live/{stream}` on its own thread: sequence header and one
/// keyframe, then every 200 ms either another `keyframe` or, without one,
/// only pings, acknowledgements and metadata. Ends when `stop` is set
/// (false) or when the server closes it (true).
pub fn spawn_publisher(
    port: u16,
    stream: &str,
    keyframe: Option<Bytes>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<bool> {
    let (mut sock, mut session, outcome) =
        rtmp_client(port, [127, 0, 0, 1], stream, ClientMode::Publish);
    assert_eq!(outcome, Outcome::Started, "publish of {stream}");
    session
        .send_media(MediaKind::Video, 0, avc_sequence_header())
        .expect("sequence header");
    session
        .send_media(MediaKind::Video, 0, avc_keyframe())
        .expect("keyframe");
    flush(&mut sock, &mut session).expect("first media sent");
    std::thread::spawn(move || {
        let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
        let mut buf = vec![0u8; 16 * 1024];
        let mut n = 0u32;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let sent = if let Some(keyframe) = &keyframe {
                session
                    .send_media(MediaKind::Video, n * 200, keyframe.clone())
                    .is_ok()
                    && session.send_metadata(empty_metadata()).is_ok()
                    && flush(&mut sock, &mut session).is_ok()
            } else {
                session.send_metadata(empty_metadata()).is_ok()
                    && flush(&mut sock, &mut session).is_ok()
                    && sock.write_all(&ping_and_ack(n)).is_ok()
            };
            if !sent {
                return true;
            }
            match sock.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    })
}

/// Reads one RTSP response (head and body) from `sock`, skipping
/// interleaved `$` frames; status, head and body.
pub fn rtsp_response(sock: &mut TcpStream) -> (u16, String, String) {
    let mut data = Vec::new();
    let mut byte = [0u8; 1];
    let deadline = Instant::now() + PATIENCE;
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
    let mut read_one = |data: &mut Vec<u8>| loop {
        assert!(Instant::now() < deadline, "no RTSP response");
        match sock.read(&mut byte) {
            Ok(0) => panic!("closed before the response"),
            Ok(_) => {
                data.push(byte[0]);
                return;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    };
    loop {
        read_one(&mut data);
        if data == b"$" {
            for _ in 0..3 {
                read_one(&mut data);
            }
            let len = u16::from_be_bytes([data[2], data[3]]) as usize;
            for _ in 0..len {
                read_one(&mut data);
            }
            data.clear();
            continue;
        }
        if data.ends_with(b"\r\n\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&data).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = Vec::new();
    for _ in 0..length {
        read_one(&mut body);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

pub fn rtsp_request(sock: &mut TcpStream, method: &str, url: &str, cseq: u32, extra: &str) {
    let req = format!("{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\n{extra}\r\n");
    sock.write_all(req.as_bytes()).expect("rtsp request sent");
}

/// Reads until the server closes (true) or `within` passes (false).
pub fn closed_within(sock: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = vec![0u8; 64 * 1024];
    while Instant::now() < deadline {
        match sock.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

/// DESCRIBE, SETUP over TCP (interleaved) and PLAY of `live/{stream}`; the
/// session header to use in later requests.
pub fn rtsp_play_tcp(sock: &mut TcpStream, port: u16, stream: &str) -> String {
    let url = format!("rtsp://127.0.0.1:{port}/live/{stream}");
    rtsp_request(sock, "DESCRIBE", &url, 1, "Accept: application/sdp\r\n");
    let (status, _, sdp) = rtsp_response(sock);
    assert_eq!(status, 200, "DESCRIBE: {sdp}");
    let control = sdp
        .lines()
        .filter_map(|l| l.strip_prefix("a=control:"))
        .find(|c| *c != "*")
        .expect("a track control")
        .trim()
        .to_string();
    let track = if control.starts_with("rtsp://") {
        control
    } else {
        format!("{url}/{control}")
    };
    let transport = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n";
    rtsp_request(sock, "SETUP", &track, 2, transport);
    let (status, head, _) = rtsp_response(sock);
    assert_eq!(status, 200, "SETUP: {head}");
    let session = head
        .lines()
        .find_map(|l| l.strip_prefix("Session:"))
        .expect("Session header")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let session = format!("Session: {session}\r\n");
    rtsp_request(sock, "PLAY", &url, 3, &session);
    let (status, head, _) = rtsp_response(sock);
    assert_eq!(status, 200, "PLAY: {head}");
    session
}

/// Sends an HTTP-FLV request for `live/{stream}` from `from`.
pub fn flv_request(port: u16, from: [u8; 4], stream: &str) -> TcpStream {
    let mut sock = connect_from(from, port);
    let req = format!("GET /live/{stream}.live.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    sock.write_all(req.as_bytes()).expect("request sent");
    sock
}

/// The status line's code of an HTTP response, waiting up to `limit`.
pub fn http_status(sock: &mut TcpStream, limit: Duration) -> Option<u16> {
    let deadline = Instant::now() + limit;
    let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                data.extend_from_slice(&buf[..n]);
                if let Some(line) = data
                    .split(|b| *b == b'\n')
                    .next()
                    .filter(|_| data.contains(&b'\n'))
                {
                    return String::from_utf8_lossy(line)
                        .split_whitespace()
                        .nth(1)
                        .and_then(|s| s.parse().ok());
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    None
}
