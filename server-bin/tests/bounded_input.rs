//! Bounded inputs on the real binary (issue 12): names checked with a clear
//! refusal on every protocol, small limits before a publish or play is
//! accepted, the AMF0 value budget, codec configurations over 64 KiB.
//! Raw sockets and rtmp-proto's client; no external tools.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::*;
use rtmp_proto::command::{command_message, Command, Connect};
use rtmp_proto::{
    ChunkEncoder, ClientConfig, ClientEvent, ClientHandshake, ClientMode, ClientSession,
    HandshakeParams, MediaKind,
};

/// Generous: the machine is shared.
const LIMIT: Duration = Duration::from_secs(20);

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s
}

/// Drives a client session until `done` says so, the server closes, or
/// `LIMIT` passes. Returns the events seen and whether the server closed.
fn run_client(
    port: u16,
    config: ClientConfig,
    mut step: impl FnMut(&mut ClientSession, &ClientEvent) -> bool,
) -> (Vec<ClientEvent>, bool) {
    let mut s = connect(port);
    let mut client = ClientSession::new(config, Instant::now());
    let mut events = Vec::new();
    let deadline = Instant::now() + LIMIT;
    let mut buf = vec![0u8; 64 * 1024];
    while Instant::now() < deadline {
        while let Some(b) = client.poll_transmit() {
            if s.write_all(&b).is_err() {
                return (events, true);
            }
        }
        match s.read(&mut buf) {
            Ok(0) => return (events, true),
            Ok(n) => {
                if client.handle_input(&buf[..n], Instant::now()).is_err() {
                    return (events, false);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (events, true),
        }
        while let Some(e) = client.poll_event() {
            let stop = step(&mut client, &e);
            events.push(e);
            if stop {
                return (events, false);
            }
        }
    }
    panic!("no outcome within {LIMIT:?}; events {events:?}");
}

fn config(app: &str, stream: &str, mode: ClientMode) -> ClientConfig {
    ClientConfig {
        app: app.into(),
        tc_url: format!("rtmp://127.0.0.1/{app}"),
        stream: stream.into(),
        mode,
        chunk_size: 4096,
        handshake: HandshakeParams {
            epoch: 1,
            seed: [7; 32],
        },
        digest: false,
        timeouts: rtmp_proto::ClientTimeouts::NONE,
    }
}

fn rejected(events: &[ClientEvent]) -> Option<(String, String)> {
    events.iter().find_map(|e| match e {
        ClientEvent::Rejected { code, description } => Some((code.clone(), description.clone())),
        _ => None,
    })
}

#[test]
fn rtmp_bad_names_are_refused_with_the_protocols_answers() {
    let strom = Strom::start("bounded-rtmp-names", &[], &[]);
    let port = strom.rtmp_port;

    // connect with CR/LF in the app: _error NetConnection.Connect.Rejected.
    let app = "live\r\nFORGED log line";
    let (events, _) = run_client(port, config(app, "s", ClientMode::Publish), |_, e| {
        matches!(e, ClientEvent::Rejected { .. })
    });
    let (code, description) = rejected(&events).expect("connect refused");
    assert_eq!(code, "NetConnection.Connect.Rejected");
    assert!(description.contains("bad app name"), "{description}");

    // publish of a name with a control character: NetStream.Publish.BadName.
    let (events, _) = run_client(
        port,
        config("live", "a\u{7f}b", ClientMode::Publish),
        |_, e| matches!(e, ClientEvent::Rejected { .. }),
    );
    let (code, description) = rejected(&events).expect("publish refused");
    assert_eq!(code, "NetStream.Publish.BadName");
    assert!(description.contains("bad stream name"), "{description}");

    // play of a 200-byte name: NetStream.Play.StreamNotFound, with the reason.
    let long = "x".repeat(200);
    let (events, _) = run_client(port, config("live", &long, ClientMode::Play), |_, e| {
        matches!(e, ClientEvent::Rejected { .. })
    });
    let (code, description) = rejected(&events).expect("play refused");
    assert_eq!(code, "NetStream.Play.StreamNotFound");
    assert!(description.contains("200 bytes long"), "{description}");

    let log = strom.wait_for_log(
        &["rtmp connect refused", "publish refused", "play refused"],
        LIMIT,
    );
    assert!(
        !log.lines().any(|l| l.starts_with("FORGED")),
        "a name forged a log line:\n{log}"
    );
}

/// Completes a simple handshake on a raw socket.
fn handshaken(port: u16) -> TcpStream {
    let mut s = connect(port);
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let mut hs = ClientHandshake::new(
        HandshakeParams {
            epoch: 1,
            seed: [9; 32],
        },
        false,
    );
    s.write_all(&hs.poll_transmit().expect("C0C1")).unwrap();
    let mut s012 = vec![0u8; 1 + 2 * 1536];
    s.read_exact(&mut s012).expect("S0S1S2");
    hs.handle_input(&s012).unwrap();
    s.write_all(&hs.poll_transmit().expect("C2")).unwrap();
    s
}

/// Reads until the server closes; how long that took.
fn closed_within(mut s: TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("still open after {:?}", start.elapsed())
            }
            Ok(0) | Err(_) => return start.elapsed(),
            Ok(_) => assert!(start.elapsed() < LIMIT, "still open after {LIMIT:?}"),
        }
    }
}

#[test]
fn rtmp_large_input_before_connect_is_refused_at_once() {
    // A long handshake deadline: an early close can only be the refusal.
    let strom = Strom::start(
        "bounded-rtmp-preconnect",
        &[],
        &[("STROM_RTMP__HANDSHAKE_SECS", "120")],
    );
    // A chunk header announcing a 16 MiB - 1 command, and nothing more.
    let mut s = handshaken(strom.rtmp_port);
    s.write_all(&[3, 0, 0, 0, 0xFF, 0xFF, 0xFF, 20, 0, 0, 0, 0])
        .unwrap();
    closed_within(s);
    strom.wait_for_log(&["message length 16777215 exceeds the limit 65536"], LIMIT);

    // 60 000 AMF0 nulls after a connect command: the value budget.
    let mut body = Command::Connect(Connect::new("live", "rtmp://127.0.0.1/live"))
        .encode()
        .to_vec();
    body.resize(body.len() + 60_000, 0x05);
    let mut out = BytesMut::new();
    ChunkEncoder::new()
        .encode(&command_message(3, 0, Bytes::from(body)), &mut out)
        .unwrap();
    let mut s = handshaken(strom.rtmp_port);
    s.write_all(&out).unwrap();
    closed_within(s);
    strom.wait_for_log(&["exceeds the budget of 4096 values"], LIMIT);
}

#[test]
fn rtmp_codec_configuration_over_64_kib_closes_the_publisher() {
    use flv_mux::avc::AvcDecoderConfigurationRecord;
    use flv_mux::VideoTag;
    let strom = Strom::start("bounded-rtmp-config", &[], &[]);
    let sps = Bytes::from(vec![0x67; 30_000]);
    let pps = Bytes::from_static(&[0x68, 0xeb, 0xe3, 0xcb]);
    let record = AvcDecoderConfigurationRecord::from_parameter_sets(vec![sps; 3], vec![pps])
        .unwrap()
        .to_bytes()
        .unwrap();
    let header = VideoTag::avc_sequence_header(record).to_bytes().unwrap();
    let (events, closed) = run_client(
        strom.rtmp_port,
        config("live", "big", ClientMode::Publish),
        |client, e| {
            if *e == ClientEvent::Publishing {
                client
                    .send_media(MediaKind::Video, 0, header.clone())
                    .unwrap();
            }
            false
        },
    );
    assert!(events.contains(&ClientEvent::Publishing), "{events:?}");
    assert!(closed, "the server closes the publisher");
    strom.wait_for_log(
        &[
            "codec configuration over the limits: avcC of 90",
            "exceeds the limit of 65536",
        ],
        LIMIT,
    );
    // Nothing was stored: the stream has no video track.
    let (_, body) = strom.get("/api/v1/streams");
    assert!(!body.to_lowercase().contains("h264"), "{body}");
}

#[test]
fn http_bad_names_get_400() {
    let strom = Strom::start("bounded-http-names", &[], &[]);
    let long = format!("/live/{}.live.flv", "x".repeat(200));
    for path in [
        "/live/a%0D%0AFORGED.live.flv",
        "/live/a%7F.live.ts",
        "/live/a%20b.live.flv",
        long.as_str(),
        "/live/a%09b/hls.m3u8",
    ] {
        let r = fetch(strom.http_port, "GET", path).expect("an answer");
        assert_eq!(r.status, 400, "{path}: {}", r.text());
    }
    let r = fetch(strom.http_port, "GET", &long).unwrap();
    assert!(
        r.text().contains("stream name is 200 bytes long"),
        "{}",
        r.text()
    );
}

#[test]
fn rtsp_bad_names_get_400() {
    let strom = Strom::start("bounded-rtsp-names", &[], &[]);
    let port = strom.rtsp_port;
    let long = "x".repeat(200);
    for (method, name) in [("DESCRIBE", long.as_str()), ("ANNOUNCE", "a/../b")] {
        let mut s = connect(port);
        s.set_read_timeout(Some(LIMIT)).unwrap();
        let body = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
        let req = if method == "ANNOUNCE" {
            format!(
                "ANNOUNCE rtsp://127.0.0.1:{port}/live/{name} RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        } else {
            format!("DESCRIBE rtsp://127.0.0.1:{port}/live/{name} RTSP/1.0\r\nCSeq: 1\r\n\r\n")
        };
        s.write_all(req.as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("RTSP/1.0 400"), "{method} {name}: {text}");
    }
    strom.wait_for_log(
        &[
            "rtsp DESCRIBE refused: bad stream name",
            "rtsp ANNOUNCE refused: bad stream name",
        ],
        LIMIT,
    );
}
