//! Every session has a deadline in every state, and players waiting for a
//! stream that does not exist are bounded (issue 12): the real binary with
//! short configured deadlines, driven by raw clients (rtmp-proto's client
//! session, hand-written RTSP and HTTP), so no state hides behind a tool's
//! own keep-alives.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtmp_proto::session::MediaKind;
use rtmp_proto::{ClientConfig, ClientEvent, ClientMode, ClientSession, HandshakeParams};

use common::Strom;

/// Generous bound for anything the server should do within a few seconds,
/// on a machine shared with other builds.
const PATIENCE: Duration = Duration::from_secs(30);

/// AVC sequence header (FLV video tag body): a minimal avcC with one SPS and
/// one PPS.
fn avc_sequence_header() -> Bytes {
    let mut b = vec![0x17, 0, 0, 0, 0];
    b.extend_from_slice(&[
        1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 4, 0x67, 0x42, 0xC0, 0x1E,
    ]);
    b.extend_from_slice(&[1, 0, 4, 0x68, 0xCE, 0x3C, 0x80]);
    Bytes::from(b)
}

/// An AVC keyframe (FLV video tag body, one IDR NAL unit).
fn avc_keyframe() -> Bytes {
    Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0, 0, 5, 0x65, 0x88, 0x84, 0x00, 0x10])
}

/// A user control Ping Request and an Acknowledgement, raw chunks on chunk
/// stream 2 (protocol control): what a peer that only keeps the connection
/// busy sends.
fn ping_and_ack(n: u32) -> Vec<u8> {
    let mut b = vec![0x02, 0, 0, 0, 0, 0, 6, 0x04, 0, 0, 0, 0, 0, 6];
    b.extend_from_slice(&n.to_be_bytes());
    b.extend_from_slice(&[0x02, 0, 0, 0, 0, 0, 4, 0x03, 0, 0, 0, 0]);
    b.extend_from_slice(&n.to_be_bytes());
    b
}

/// `"onMetaData", {}` in AMF0: a data message, not media.
fn empty_metadata() -> Bytes {
    let mut b = vec![0x02, 0, 10];
    b.extend_from_slice(b"onMetaData");
    b.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 0, 9]);
    Bytes::from(b)
}

fn rtmp_config(port: u16, stream: &str, mode: ClientMode) -> ClientConfig {
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
    }
}

fn flush(sock: &mut TcpStream, session: &mut ClientSession) -> std::io::Result<()> {
    while let Some(out) = session.poll_transmit() {
        sock.write_all(&out)?;
    }
    Ok(())
}

/// What an RTMP client saw until it stopped reading.
#[derive(Debug, PartialEq)]
enum Outcome {
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
fn pump(
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
                if session.handle_input(&buf[..n]).is_err() {
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
fn rtmp_client(
    port: u16,
    from: [u8; 4],
    stream: &str,
    mode: ClientMode,
) -> (TcpStream, ClientSession, Outcome) {
    let mut sock = connect_from(from, port);
    let mut session = ClientSession::new(rtmp_config(port, stream, mode));
    let outcome = pump(&mut sock, &mut session, PATIENCE, |ev| match ev {
        ClientEvent::Publishing | ClientEvent::Playing => Some(Outcome::Started),
        ClientEvent::Rejected { code, .. } => Some(Outcome::Rejected(code.clone())),
        _ => None,
    });
    (sock, session, outcome)
}

/// A TCP connection to 127.0.0.1:`port` whose source address is `from`
/// (std cannot bind before connecting; tokio's socket can).
fn connect_from(from: [u8; 4], port: u16) -> TcpStream {
    connect_with(from, port, None)
}

/// As [`connect_from`], with a small receive buffer when asked (a player
/// that stops reading fills it at once).
fn connect_with(from: [u8; 4], port: u16, recv_buffer: Option<u32>) -> TcpStream {
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
fn spawn_publisher(
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

/// Finding: a publisher that sends only pings, acknowledgements and metadata
/// kept its stream, and so its players, alive forever. Only audio and video
/// keep a publisher now: it is closed after `rtmp.keep_alive_secs`, and its
/// players are told the stream ended after `continue_push_ms`.
#[test]
fn a_publisher_without_media_is_closed_and_its_players_are_told() {
    let strom = Strom::start(
        "deadline-pings",
        &[],
        &[
            ("STROM_RTMP__KEEP_ALIVE_SECS", "2"),
            ("STROM_STREAM__CONTINUE_PUSH_MS", "1000"),
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = spawn_publisher(strom.rtmp_port, "pings", None, stop.clone());
    let (mut sock, mut session, outcome) =
        rtmp_client(strom.rtmp_port, [127, 0, 0, 1], "pings", ClientMode::Play);
    assert_eq!(outcome, Outcome::Started);

    let start = Instant::now();
    let told = pump(&mut sock, &mut session, PATIENCE, |ev| match ev {
        ClientEvent::UnpublishNotify | ClientEvent::StreamEof => Some(Outcome::ToldEnded),
        _ => None,
    });
    let took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    assert!(
        matches!(told, Outcome::ToldEnded | Outcome::Closed),
        "the player was not told within {PATIENCE:?} ({told:?}); log:\n{}",
        strom.log()
    );
    assert!(
        publisher.join().expect("publisher thread"),
        "the server did not close the publisher"
    );
    strom.wait_for_log(
        &["publisher keep-alive deadline passed"],
        Duration::from_secs(5),
    );
    eprintln!("player told after {took:?} (keep-alive 2 s + continue_push 1 s)");
}

/// The control case: a publisher sending media keeps its stream.
#[test]
fn a_publisher_with_media_stays() {
    let strom = Strom::start(
        "deadline-media",
        &[],
        &[("STROM_RTMP__KEEP_ALIVE_SECS", "1")],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = spawn_publisher(strom.rtmp_port, "media", Some(avc_keyframe()), stop.clone());
    let (mut sock, mut session, outcome) =
        rtmp_client(strom.rtmp_port, [127, 0, 0, 1], "media", ClientMode::Play);
    assert_eq!(outcome, Outcome::Started);
    // Count keyframes for three keep-alive periods: the stream goes on.
    let frames = std::cell::Cell::new(0u32);
    let outcome = pump(&mut sock, &mut session, Duration::from_secs(3), |ev| {
        match ev {
            ClientEvent::Media { payload, .. } if payload.get(1) == Some(&1) => {
                frames.set(frames.get() + 1)
            }
            ClientEvent::UnpublishNotify | ClientEvent::StreamEof => {
                return Some(Outcome::ToldEnded)
            }
            _ => {}
        }
        None
    });
    assert_eq!(outcome, Outcome::TimedOut, "log:\n{}", strom.log());
    assert!(frames.get() >= 3, "{} keyframes", frames.get());
    stop.store(true, Ordering::Relaxed);
    assert!(!publisher.join().expect("publisher thread"));
}

/// Reads one RTSP response (head and body) from `sock`, skipping
/// interleaved `$` frames; status, head and body.
fn rtsp_response(sock: &mut TcpStream) -> (u16, String, String) {
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

fn rtsp_request(sock: &mut TcpStream, method: &str, url: &str, cseq: u32, extra: &str) {
    let req = format!("{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\n{extra}\r\n");
    sock.write_all(req.as_bytes()).expect("rtsp request sent");
}

/// Reads until the server closes (true) or `within` passes (false).
fn closed_within(sock: &mut TcpStream, within: Duration) -> bool {
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
fn rtsp_play_tcp(sock: &mut TcpStream, port: u16, stream: &str) -> String {
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

/// Finding: an RTSP player over TCP that PAUSEd (no media written, so no
/// write stall) and then said nothing was never closed. Now every player
/// has the session timeout, over TCP as over UDP; requests keep it, and over
/// TCP so does media written (a player that does not read it hits the write
/// stall instead).
#[test]
fn a_paused_rtsp_tcp_player_expires_after_the_session_timeout() {
    let strom = Strom::start(
        "deadline-rtsp-pause",
        &[],
        &[("STROM_RTSP__SESSION_TIMEOUT_SECS", "2")],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = spawn_publisher(
        strom.rtmp_port,
        "paused",
        Some(avc_keyframe()),
        stop.clone(),
    );
    let port = strom.rtsp_port;
    let url = format!("rtsp://127.0.0.1:{port}/live/paused");

    // A player that keeps its session with GET_PARAMETER stays past the timeout.
    let mut kept = connect_from([127, 0, 0, 1], port);
    let session = rtsp_play_tcp(&mut kept, port, "paused");
    rtsp_request(&mut kept, "PAUSE", &url, 4, &session);
    assert_eq!(rtsp_response(&mut kept).0, 200);

    // A playing TCP player that sends nothing stays while media reaches it.
    let mut playing = connect_from([127, 0, 0, 1], port);
    rtsp_play_tcp(&mut playing, port, "paused");

    let mut silent = connect_from([127, 0, 0, 1], port);
    let silent_session = rtsp_play_tcp(&mut silent, port, "paused");
    rtsp_request(&mut silent, "PAUSE", &url, 4, &silent_session);
    assert_eq!(rtsp_response(&mut silent).0, 200);
    let paused_at = Instant::now();

    for cseq in 5..13 {
        std::thread::sleep(Duration::from_millis(500));
        rtsp_request(&mut kept, "GET_PARAMETER", &url, cseq, &session);
        assert_eq!(
            rtsp_response(&mut kept).0,
            200,
            "kept-alive player answered"
        );
    }
    // 4 s of keep-alives: twice the timeout. The silent one is gone by now or soon.
    assert!(
        closed_within(&mut silent, PATIENCE),
        "a paused, silent TCP player was not closed; log:\n{}",
        strom.log()
    );
    eprintln!(
        "silent paused player closed after {:?}",
        paused_at.elapsed()
    );
    assert!(
        !closed_within(&mut playing, Duration::from_secs(1)),
        "a playing TCP player that reads its media was closed"
    );
    rtsp_request(&mut kept, "OPTIONS", &url, 13, &session);
    assert_eq!(
        rtsp_response(&mut kept).0,
        200,
        "kept-alive player still there"
    );
    strom.wait_for_log(&["session timeout deadline passed"], Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    assert!(!publisher.join().expect("publisher thread"));
}

/// Verified, not changed: a connection that never reaches PLAY or RECORD
/// (SETUP then only OPTIONS) is closed after `rtsp.handshake_secs`, however
/// many requests it sends.
#[test]
fn an_rtsp_connection_that_never_plays_is_closed_after_the_handshake_deadline() {
    let strom = Strom::start(
        "deadline-rtsp-setup",
        &[],
        &[("STROM_RTSP__HANDSHAKE_SECS", "2")],
    );
    let port = strom.rtsp_port;
    let url = format!("rtsp://127.0.0.1:{port}/live/none");
    let mut sock = connect_from([127, 0, 0, 1], port);
    let start = Instant::now();
    let mut cseq = 1;
    let closed = loop {
        rtsp_request(&mut sock, "OPTIONS", &url, cseq, "");
        cseq += 1;
        if closed_within(&mut sock, Duration::from_millis(300)) {
            break true;
        }
        if start.elapsed() > PATIENCE {
            break false;
        }
    };
    assert!(closed, "requests kept a connection that never plays");
    strom.wait_for_log(&["handshake deadline passed"], Duration::from_secs(5));
}

/// Sends an HTTP-FLV request for `live/{stream}` from `from`.
fn flv_request(port: u16, from: [u8; 4], stream: &str) -> TcpStream {
    let mut sock = connect_from(from, port);
    let req = format!("GET /live/{stream}.live.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    sock.write_all(req.as_bytes()).expect("request sent");
    sock
}

/// The status line's code of an HTTP response, waiting up to `limit`.
fn http_status(sock: &mut TcpStream, limit: Duration) -> Option<u16> {
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

/// The number of players the API shows waiting for `live/{stream}`.
fn waiting_players(strom: &Strom, stream: &str) -> usize {
    let (status, body) = strom.get(&format!("/api/v1/streams/live/{stream}"));
    if status != 200 || !body.contains("\"state\":\"waiting\"") {
        return 0;
    }
    common::json(&body)["subscribers"]
        .as_array()
        .map_or(0, |s| s.len())
}

/// Finding: any number of players could wait for streams that do not exist.
/// Waiting players are bounded per address (and in total) over RTMP,
/// HTTP-FLV and RTSP together; over the bound a player is refused at once
/// while another address can still wait, and a place comes back when its
/// waiter's wait ends.
#[test]
fn waiting_players_are_bounded_per_address_across_protocols() {
    let strom = Strom::start(
        "deadline-waiting",
        &[],
        &[
            ("STROM_STREAM__MAX_WAITING_PLAYERS_PER_IP", "3"),
            ("STROM_STREAM__MAX_STREAM_WAIT_MS", "60000"),
        ],
    );
    let local = [127, 0, 0, 1];
    // Three waiters from 127.0.0.1, one per protocol, for missing streams.
    let (_rtmp_waiter, mut rtmp_session, _) = {
        let mut sock = connect_from(local, strom.rtmp_port);
        let mut session =
            ClientSession::new(rtmp_config(strom.rtmp_port, "missing", ClientMode::Play));
        flush(&mut sock, &mut session).expect("rtmp start");
        let outcome = pump(&mut sock, &mut session, Duration::from_millis(500), |_| {
            None
        });
        (sock, session, outcome)
    };
    let _flv_waiter = flv_request(strom.http_port, local, "missing");
    let mut rtsp_waiter = connect_from(local, strom.rtsp_port);
    let missing_url = format!("rtsp://127.0.0.1:{}/live/missing", strom.rtsp_port);
    rtsp_request(&mut rtsp_waiter, "DESCRIBE", &missing_url, 1, "");
    let counted = common::wait_until(PATIENCE, || waiting_players(&strom, "missing") == 3);
    assert!(counted.is_some(), "three waiters; log:\n{}", strom.log());
    let _ = &mut rtmp_session;

    // A fourth from the same address, over each protocol: refused at once
    // (well before the 60 s wait).
    let start = Instant::now();
    let mut flv = flv_request(strom.http_port, local, "other");
    assert_eq!(http_status(&mut flv, PATIENCE), Some(503));
    let (_s, _c, rtmp) = rtmp_client(strom.rtmp_port, local, "other", ClientMode::Play);
    assert_eq!(
        rtmp,
        Outcome::Rejected("NetStream.Play.StreamNotFound".into())
    );
    let mut rtsp = connect_from(local, strom.rtsp_port);
    let other_url = format!("rtsp://127.0.0.1:{}/live/other", strom.rtsp_port);
    rtsp_request(&mut rtsp, "DESCRIBE", &other_url, 1, "");
    assert_eq!(rtsp_response(&mut rtsp).0, 503);
    let refused_in = start.elapsed();
    assert!(
        refused_in < Duration::from_secs(20),
        "refusals took {refused_in:?}, as if they waited"
    );
    strom.wait_for_log(&["max_waiting_players_per_ip"], Duration::from_secs(5));

    // Another address still waits, and gets the stream when it comes.
    let mut remote = flv_request(strom.http_port, [127, 0, 0, 2], "late");
    let counted = common::wait_until(PATIENCE, || waiting_players(&strom, "late") == 1);
    assert!(counted.is_some(), "127.0.0.2 waits; log:\n{}", strom.log());
    let stop = Arc::new(AtomicBool::new(false));
    let late = spawn_publisher(strom.rtmp_port, "late", Some(avc_keyframe()), stop.clone());
    assert_eq!(http_status(&mut remote, PATIENCE), Some(200));

    // The waiters of `missing` get it too, and their places come back.
    let missing = spawn_publisher(
        strom.rtmp_port,
        "missing",
        Some(avc_keyframe()),
        stop.clone(),
    );
    assert_eq!(rtsp_response(&mut rtsp_waiter).0, 200, "DESCRIBE answered");
    let _again = flv_request(strom.http_port, local, "again");
    let counted = common::wait_until(PATIENCE, || waiting_players(&strom, "again") == 1);
    assert!(
        counted.is_some(),
        "a place came back; log:\n{}",
        strom.log()
    );
    stop.store(true, Ordering::Relaxed);
    assert!(!late.join().expect("publisher"));
    assert!(!missing.join().expect("publisher"));
}

/// Finding to check: an idle keep-alive HLS connection (a caller nobody
/// authenticated) must be closed between requests after
/// `http.request_timeout_ms`, not held for the connection's whole lifetime.
#[test]
fn an_idle_keep_alive_hls_connection_is_closed() {
    let strom = Strom::start(
        "deadline-hls-idle",
        &[],
        &[("STROM_HTTP__REQUEST_TIMEOUT_MS", "1000")],
    );
    let mut sock = connect_from([127, 0, 0, 1], strom.http_port);
    sock.write_all(b"GET /live/none/hls.m3u8 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("request sent");
    assert_eq!(http_status(&mut sock, PATIENCE), Some(404));
    let start = Instant::now();
    assert!(
        closed_within(&mut sock, PATIENCE),
        "an idle keep-alive HLS connection stayed open; log:\n{}",
        strom.log()
    );
    eprintln!("idle HLS connection closed after {:?}", start.elapsed());
}

/// An AVC keyframe of about `size` bytes.
fn big_keyframe(size: usize) -> Bytes {
    let mut b = vec![0x17, 1, 0, 0, 0];
    b.extend_from_slice(&(size as u32).to_be_bytes());
    b.push(0x65);
    b.resize(9 + size, 0x55);
    Bytes::from(b)
}

/// Finding of the review: hyper writes HLS responses without a deadline, so
/// a client that requested a segment and stopped reading held the
/// connection for its whole lifetime (600 s). Writes now have
/// `server.write_stall_ms`, as every other media socket.
#[test]
fn an_hls_client_that_stops_reading_a_segment_is_closed_after_the_write_stall() {
    let strom = Strom::start(
        "deadline-hls-stall",
        &[],
        &[
            ("STROM_SERVER__WRITE_STALL_MS", "1500"),
            ("STROM_SERVER__SOCKET_SEND_BUFFER", "32768"),
            ("STROM_HLS__SEGMENT_SECS", "0.5"),
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = spawn_publisher(
        strom.rtmp_port,
        "big",
        Some(big_keyframe(300_000)),
        stop.clone(),
    );
    let playlist = common::fetch(strom.http_port, "GET", "/live/big/hls.m3u8").expect("playlist");
    assert_eq!(playlist.status, 200, "{}", playlist.text());
    let text = playlist.text();
    let segment = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .expect("a segment in the playlist");

    let mut stuck = connect_with([127, 0, 0, 1], strom.http_port, Some(4096));
    let request = format!("GET /live/big/{segment} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    stuck.write_all(request.as_bytes()).expect("request sent");
    let peer = stuck.local_addr().expect("local address").to_string();
    let listed = |strom: &Strom| {
        common::json(&strom.get("/api/v1/sessions").1)["sessions"]
            .as_array()
            .is_some_and(|all| all.iter().any(|s| s["peer"] == peer.as_str()))
    };
    assert!(
        common::wait_until(PATIENCE, || listed(&strom)).is_some(),
        "the HLS session is not listed"
    );
    let start = Instant::now();
    assert!(
        common::wait_until(PATIENCE, || !listed(&strom)).is_some(),
        "a segment nobody reads held its connection; log:\n{}",
        strom.log()
    );
    eprintln!("stalled HLS connection closed after {:?}", start.elapsed());
    strom.wait_for_log(&["the player accepted nothing"], Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    assert!(!publisher.join().expect("publisher thread"));
}
