//! WebSocket-FLV, -TS and -fMP4 on the HTTP-FLV/TS/fMP4 paths
//! (`ws://host/app/stream.live.flv`, `.live.ts`, `.live.mp4`), against the real binary
//! with an ffmpeg publisher and a small client written on ws-proto.

mod common;

use std::time::{Duration, Instant};

use common::media::{publish, stop};
use common::ws::{upgrade_request, WsClient, KEY};
use common::{json, wait_until, Strom};
use flv_mux::{FlvEvent, FlvReader, TagType};
use ws_proto::Opcode;

const PATIENCE: Duration = Duration::from_secs(10);

fn sessions(strom: &Strom) -> Vec<serde_json::Value> {
    json(&strom.get("/api/v1/sessions").1)["sessions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn count_protocol(strom: &Strom, protocol: &str) -> usize {
    sessions(strom)
        .iter()
        .filter(|s| s["protocol"] == protocol)
        .count()
}

/// Opens a WebSocket on `path` and checks the `101` and its accept value.
fn open(strom: &Strom, path: &str) -> WsClient {
    let mut ws = WsClient::connect(strom.http_port, path);
    let (status, head) = ws.response(PATIENCE);
    assert_eq!(status, 101, "{head}\nlog:\n{}", strom.log());
    let accept = format!("Sec-WebSocket-Accept: {}\r\n", ws_proto::accept_key(KEY));
    assert!(head.contains(&accept), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: websocket"),
        "{head}"
    );
    ws
}

#[test]
fn ws_flv_and_ws_ts_play_answer_pings_and_close_cleanly() {
    let strom = Strom::start("ws-play", &[], &[]);
    let publisher = publish(
        &format!("rtmp://127.0.0.1:{}/live/wscam", strom.rtmp_port),
        30,
    );
    strom.wait_live("wscam", PATIENCE);

    // WS-FLV: one binary message per tag, the same bytes as HTTP-FLV.
    let mut flv = open(&strom, "/live/wscam.live.flv");
    let mut reader = FlvReader::new();
    let mut tags = Vec::new();
    let mut video_at = Vec::new();
    let started = Instant::now();
    let first = flv.frame(PATIENCE).expect("the FLV header message");
    assert_eq!(first.opcode, Opcode::Binary);
    assert!(first.payload.starts_with(b"FLV\x01"), "{:?}", first.payload);
    reader.push(&first.payload);
    assert!(matches!(reader.poll().unwrap(), Some(FlvEvent::Header(_))));
    while started.elapsed() < Duration::from_secs(4) {
        let m = flv.frame(PATIENCE).expect("media keeps coming");
        assert_eq!(m.opcode, Opcode::Binary);
        reader.push(&m.payload);
        // Exactly one tag per message.
        match reader.poll().unwrap() {
            Some(FlvEvent::Tag(tag)) => {
                if tag.tag_type == TagType::Video {
                    video_at.push(started.elapsed());
                }
                tags.push(tag);
            }
            other => panic!("a message that is not one tag: {other:?}"),
        }
        assert_eq!(reader.poll().unwrap(), None);
        assert_eq!(reader.buffered(), 0);
    }
    assert_eq!(tags[0].tag_type, TagType::Script, "onMetaData first");
    let video: Vec<_> = tags
        .iter()
        .filter(|t| t.tag_type == TagType::Video)
        .collect();
    let audio: Vec<_> = tags
        .iter()
        .filter(|t| t.tag_type == TagType::Audio)
        .collect();
    assert_eq!(&video[0].data[..2], &[0x17, 0], "AVC sequence header first");
    assert_eq!(audio[0].data[0] >> 4, 10, "AAC");
    assert_eq!(audio[0].data[1], 0, "AAC sequence header first");
    assert_eq!(
        &video[1].data[..2],
        &[0x17, 1],
        "first picture is a keyframe"
    );
    // Live at ~25 fps once the cached GOP is out: seconds 2 to 4.
    let live = video_at
        .iter()
        .filter(|t| **t >= Duration::from_secs(2))
        .count();
    assert!((35..=65).contains(&live), "{live} video tags in 2 s");

    // Counted as a player like HTTP-FLV (same protocol name and schema).
    let stream = json(&strom.get("/api/v1/streams/live/wscam").1);
    assert!(stream["player_count"].as_u64() >= Some(1), "{stream}");
    assert_eq!(count_protocol(&strom, "http-flv"), 1);
    let zlm = json(&strom.get("/index/api/getMediaList?schema=rtmp").1);
    assert!(zlm["data"][0]["readerCount"].as_u64() >= Some(1), "{zlm}");

    // WS-TS: 188-byte packets, PAT first.
    let mut ts = open(&strom, "/live/wscam.live.ts");
    let mut packets = 0;
    for i in 0..40 {
        let m = ts.frame(PATIENCE).expect("TS keeps coming");
        assert_eq!(m.opcode, Opcode::Binary);
        assert!(
            !m.payload.is_empty() && m.payload.len().is_multiple_of(188),
            "{}",
            m.payload.len()
        );
        for p in m.payload.chunks(188) {
            assert_eq!(p[0], 0x47, "sync byte");
        }
        if i == 0 {
            let pid = (u16::from(m.payload[1] & 0x1f) << 8) | u16::from(m.payload[2]);
            assert_eq!(pid, 0, "PAT first");
        }
        packets += m.payload.len() / 188;
    }
    assert!(packets >= 40);
    assert_eq!(count_protocol(&strom, "http-ts"), 1);

    // WS-fMP4 through the same framing: the init segment, then fragments.
    let mut mp4 = open(&strom, "/live/wscam.live.mp4");
    let init = mp4.frame(PATIENCE).expect("the init segment");
    assert_eq!(&init.payload[4..8], b"ftyp", "{:?}", &init.payload[..8]);
    for _ in 0..10 {
        let m = mp4.frame(PATIENCE).expect("fragments keep coming");
        assert_eq!(m.opcode, Opcode::Binary);
        assert_eq!(&m.payload[4..8], b"moof");
    }
    mp4.send(Opcode::Close, b"");
    assert!(mp4.until(Opcode::Close, PATIENCE).is_some());

    // A ping gets its pong; a close gets a close and ends the session.
    flv.send(Opcode::Ping, b"are you there");
    assert_eq!(
        flv.until(Opcode::Pong, PATIENCE).expect("a pong"),
        b"are you there"
    );
    flv.send(Opcode::Close, &1000u16.to_be_bytes());
    let close = flv.until(Opcode::Close, PATIENCE).expect("a close reply");
    assert_eq!(&close[..2], &1000u16.to_be_bytes());
    assert!(
        flv.frame(PATIENCE).is_none(),
        "the server closes after the close"
    );
    ts.send(Opcode::Close, b"");
    assert!(ts.until(Opcode::Close, PATIENCE).is_some());
    let gone = wait_until(PATIENCE, || {
        ["http-flv", "http-ts", "http-mp4"]
            .iter()
            .all(|p| count_protocol(&strom, p) == 0)
    });
    assert!(gone.is_some(), "sessions left: {:?}", sessions(&strom));
    let metrics = strom.get("/metrics").1;
    assert!(metrics.contains("reason=\"peer-closed\""), "{metrics}");
    stop(publisher);
}

/// A hook server answering every `on_play` with a refusal.
fn refusing_hook() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().take(20).flatten() {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // The head and a small JSON body: read until the body's end.
            while let Ok(n @ 1..) = conn.read(&mut buf) {
                seen.extend_from_slice(&buf[..n]);
                if seen.ends_with(b"}") {
                    break;
                }
            }
            let answer = r#"{"code":-1,"msg":"no websockets today"}"#;
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    port
}

#[test]
fn bad_handshakes_and_refused_plays_answer_http_errors() {
    let hook = format!("http://127.0.0.1:{}/index/hook/on_play", refusing_hook());
    let strom = Strom::start("ws-refusals", &[], &[("STROM_HOOK__ON_PLAY", &hook)]);
    let port = strom.http_port;
    let ask = |request: &str| {
        let sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut ws = WsClient::send_request(sock, request);
        let (status, head) = ws.response(PATIENCE);
        (status, head, ws.rest(PATIENCE))
    };
    // Version 8: 426 naming version 13, before the hook is asked.
    let (status, head, body) = ask(&upgrade_request("/live/x.live.flv", "8", ""));
    assert_eq!(status, 426, "{head}");
    assert!(head.contains("Sec-WebSocket-Version: 13\r\n"), "{head}");
    assert_eq!(json(&body)["error"]["code"], "upgrade_required", "{body}");
    // No key: 400.
    let no_key = "GET /live/x.live.ts HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Version: 13\r\n\r\n";
    let (status, _, body) = ask(no_key);
    assert_eq!(status, 400);
    assert_eq!(json(&body)["error"]["code"], "bad_request", "{body}");
    // A valid handshake the on_play hook refuses: 403, never a 101.
    for path in ["/live/x.live.flv", "/live/x.live.ts"] {
        let (status, head, body) = ask(&upgrade_request(path, "13", ""));
        assert_eq!(status, 403, "{head}");
        assert!(!head.contains("Sec-WebSocket-Accept"), "{head}");
        assert!(body.contains("no websockets today"), "{body}");
    }
}

#[test]
fn a_ws_viewer_that_stops_reading_is_ended_by_the_write_stall() {
    let strom = Strom::start(
        "ws-stall",
        &[],
        &[
            ("STROM_SERVER__WRITE_STALL_MS", "1500"),
            ("STROM_STREAM__MAX_LAG_MS", "60000"),
            // A small kernel buffer so this low-bitrate stream fills it in seconds.
            ("STROM_SERVER__SOCKET_SEND_BUFFER", "16384"),
        ],
    );
    let publisher = publish(
        &format!("rtmp://127.0.0.1:{}/live/wsstall", strom.rtmp_port),
        30,
    );
    strom.wait_live("wsstall", PATIENCE);
    // Reads its 101 and then nothing, with a small receive buffer.
    let sock = common::raw::connect_with([127, 0, 0, 1], strom.http_port, Some(4096));
    let mut stuck =
        WsClient::send_request(sock, &upgrade_request("/live/wsstall.live.flv", "13", ""));
    assert_eq!(stuck.response(PATIENCE).0, 101);
    let mut healthy = open(&strom, "/live/wsstall.live.flv");
    assert_eq!(count_protocol(&strom, "http-flv"), 2);
    // The stuck one goes within the stall limit (plus the time to fill the
    // buffers) while the healthy one keeps receiving.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut received = 0usize;
    while count_protocol(&strom, "http-flv") == 2 {
        assert!(
            Instant::now() < deadline,
            "the stuck viewer was never ended"
        );
        healthy
            .frame(PATIENCE)
            .expect("the healthy viewer keeps receiving");
        received += 1;
    }
    let after = Instant::now();
    let mut later = 0;
    while after.elapsed() < Duration::from_secs(2) {
        let m = healthy
            .frame(PATIENCE)
            .expect("still receiving after the stall");
        assert_eq!(m.opcode, Opcode::Binary);
        later += 1;
    }
    assert!(
        later >= 50,
        "{later} messages in 2 s after the stall ({received} before)"
    );
    assert_eq!(count_protocol(&strom, "http-flv"), 1);
    let metrics = strom.get("/metrics").1;
    assert!(metrics.contains("reason=\"write-stall\""), "{metrics}");
    stop(publisher);
    drop(stuck);
}
