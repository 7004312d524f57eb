//! Every session has a deadline in every state (issue 12): the real binary
//! with short configured deadlines, driven by raw clients (rtmp-proto's client
//! session, hand-written RTSP and HTTP, [`common::raw`]), so no state hides
//! behind a tool's own keep-alives.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtmp_proto::ClientEvent;
use rtmp_proto::ClientMode;

use common::raw::{
    avc_keyframe, closed_within, connect_from, connect_with, http_status, pump, rtmp_client,
    rtsp_play_tcp, rtsp_request, rtsp_response, spawn_publisher, Outcome, PATIENCE,
};
use common::Strom;

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
