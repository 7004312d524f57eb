//! Upstreams that misbehave, one small TCP server each on its own thread,
//! counting the connections the relay makes to it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::super::clients::Rng;

/// How a fake upstream behaves once a relay connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// RTMP: completes the handshake, then never says a word.
    RtmpSilent,
    /// Random bytes at once, whatever the relay says.
    Garbage,
    /// RTSP: answers DESCRIBE, SETUP and PLAY, then sends no media.
    RtspSilent,
    /// RTSP: every request gets `401 Unauthorized` (Digest asked).
    Rtsp401,
    /// RTSP: every request gets `404 Not Found`.
    Rtsp404,
    /// RTMP: accepts a connect and a publish (a push target), then reads
    /// nothing more, with a small receive buffer so the sender's socket
    /// fills in seconds.
    RtmpStuckTarget,
}

/// A running fake upstream; stops when dropped.
pub struct Fake {
    /// Its port on 127.0.0.1.
    pub port: u16,
    accepted: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Fake {
    /// Starts one on a free loopback port.
    pub fn start(behaviour: Behaviour) -> Result<Fake, String> {
        let listener = listen(behaviour).map_err(|e| format!("fake upstream: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("fake upstream: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("fake upstream: {e}"))?
            .port();
        let accepted = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (acc, st) = (accepted.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        let n = acc.fetch_add(1, Ordering::Relaxed);
                        let st = st.clone();
                        conns.push(std::thread::spawn(move || serve(sock, behaviour, n, &st)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        Ok(Fake {
            port,
            accepted,
            stop,
            handle: Some(handle),
        })
    }

    /// Connections the relay made so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A loopback listener; a stuck target's accepted sockets inherit a small
/// receive buffer (set before `listen`, so the window it advertises is small).
fn listen(behaviour: Behaviour) -> std::io::Result<TcpListener> {
    if behaviour != Behaviour::RtmpStuckTarget {
        return TcpListener::bind("127.0.0.1:0");
    }
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.set_recv_buffer_size(4096)?;
    socket.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    socket.listen(16)?;
    Ok(socket.into())
}

/// A push target: answers the RTMP handshake, connect and publish with
/// rtmp-proto's server session, then never reads again (the connection
/// stays open until the fake stops).
fn stuck_target(mut sock: TcpStream, stop: &AtomicBool) {
    use rtmp_proto::{Decision, ServerConfig, ServerEvent, ServerSession};
    let mut session = ServerSession::new(ServerConfig::default(), std::time::Instant::now());
    let mut chunk = [0u8; 4096];
    let mut publishing = false;
    while !publishing && !stop.load(Ordering::Relaxed) {
        match sock.read(&mut chunk) {
            Ok(0) => return,
            Ok(k) => {
                let data = chunk.get(..k).unwrap_or_default();
                if session
                    .handle_input(data, std::time::Instant::now())
                    .is_err()
                {
                    return;
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
        while let Some(event) = session.poll_event() {
            match event {
                ServerEvent::ConnectRequested { req, .. } => session.respond(req, Decision::Accept),
                ServerEvent::PublishRequested { req, .. } => {
                    session.respond(req, Decision::Accept);
                    publishing = true;
                }
                _ => {}
            }
        }
        while let Some(bytes) = session.poll_transmit() {
            if sock.write_all(&bytes).is_err() {
                return;
            }
        }
    }
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One connection, until the relay closes it or the fake stops.
fn serve(mut sock: TcpStream, behaviour: Behaviour, n: u64, stop: &AtomicBool) {
    let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
    if behaviour == Behaviour::RtmpStuckTarget {
        return stuck_target(sock, stop);
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    if behaviour == Behaviour::Garbage {
        let mut rng = Rng::new(0x6a7b_a6e0 ^ n);
        // Not a valid RTMP version (3) nor an RTSP or HTTP status line.
        let mut junk = rng.bytes(4096);
        if let Some(b) = junk.first_mut() {
            *b = 0xfe;
        }
        let _ = sock.write_all(&junk);
    }
    let mut handshaken = false;
    while !stop.load(Ordering::Relaxed) {
        match sock.read(&mut chunk) {
            Ok(0) => return,
            Ok(k) => buf.extend_from_slice(chunk.get(..k).unwrap_or_default()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        match behaviour {
            Behaviour::Garbage | Behaviour::RtmpStuckTarget => buf.clear(),
            Behaviour::RtmpSilent => {
                // C0 + C1 (1 + 1536 bytes): S0 S1 S2 (S2 echoes C1); then silence.
                if !handshaken && buf.len() >= 1537 {
                    let mut reply = vec![3u8];
                    reply.extend(std::iter::repeat_n(0u8, 1536));
                    reply.extend_from_slice(buf.get(1..1537).unwrap_or_default());
                    let _ = sock.write_all(&reply);
                    handshaken = true;
                }
                if handshaken {
                    buf.clear();
                }
            }
            Behaviour::RtspSilent | Behaviour::Rtsp401 | Behaviour::Rtsp404 => {
                while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head =
                        String::from_utf8_lossy(buf.get(..end).unwrap_or_default()).into_owned();
                    buf.drain(..end + 4);
                    let _ = sock.write_all(
                        rtsp_answer(
                            behaviour,
                            &head,
                            sock.local_addr().map(|a| a.port()).unwrap_or(0),
                        )
                        .as_bytes(),
                    );
                }
            }
        }
    }
}

/// A baseline H.264 track (320x240) with its parameter sets.
const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=fake\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
a=fmtp:96 packetization-mode=1;profile-level-id=42c01e;sprop-parameter-sets=Z0LAHtkDxWhAAAADAEAAAAwDxYuS,aMuMsg==\r\n\
a=control:track0\r\n";

/// The answer to one RTSP request head.
fn rtsp_answer(behaviour: Behaviour, head: &str, port: u16) -> String {
    let cseq = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("cseq")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "0".into());
    let method = head.split_whitespace().next().unwrap_or("");
    match behaviour {
        Behaviour::Rtsp401 => format!(
            "RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Digest realm=\"fake\", nonce=\"{cseq}abc\"\r\n\r\n"
        ),
        Behaviour::Rtsp404 => format!("RTSP/1.0 404 Not Found\r\nCSeq: {cseq}\r\n\r\n"),
        _ => match method {
            "DESCRIBE" => format!(
                "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Base: rtsp://127.0.0.1:{port}/cam/\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
                SDP.len()
            ),
            "SETUP" => format!(
                "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 5eed;timeout=60\r\n\r\n"
            ),
            "OPTIONS" => format!(
                "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n\r\n"
            ),
            _ => format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: 5eed\r\n\r\n"),
        },
    }
}
