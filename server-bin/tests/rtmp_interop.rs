//! RTMP and HTTP-FLV with real ffmpeg and ffprobe on loopback: what a viewer
//! and an operator see when encoders publish, collide and die.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::media::{finish, play, probe, publish};
use common::Strom;

fn urls(strom: &Strom, name: &str) -> (String, String) {
    (
        format!("rtmp://127.0.0.1:{}/live/{name}", strom.rtmp_port),
        format!("http://127.0.0.1:{}/live/{name}.live.flv", strom.http_port),
    )
}

#[test]
fn ffmpeg_publishes_and_players_over_rtmp_and_http_flv_see_every_frame() {
    // Short linger so players end soon after the publisher does.
    let strom = Strom::start(
        "interop-basic",
        &[],
        &[("STROM_STREAM__CONTINUE_PUSH_MS", "1000")],
    );
    let (rtmp, flv) = urls(&strom, "basic");

    // Players that connect before the publisher wait for it (max_stream_wait_ms)
    // and get the stream from its first frame.
    let early_rtmp = play(&rtmp, None);
    let early_flv = play(&flv, None);
    std::thread::sleep(Duration::from_millis(500));
    let publisher = publish(&rtmp, 6);
    strom.wait_live("basic", Duration::from_secs(10));

    for url in [&rtmp, &flv] {
        let streams = probe(url);
        assert!(
            streams.contains(&("h264".into(), Some(320), Some(240))),
            "{url}: {streams:?}"
        );
        assert!(streams.iter().any(|s| s.0 == "aac"), "{url}: {streams:?}");
    }

    let published = finish(publisher, Duration::from_secs(20));
    assert!(published.success, "publisher failed: {}", published.stderr);
    for (name, player) in [("rtmp", early_rtmp), ("http-flv", early_flv)] {
        let seen = finish(player, Duration::from_secs(20));
        // 6 s at 25 fps = 150 frames; allow a few for the encoder's last GOP.
        let n = seen.dts.len();
        assert!(
            (145..=152).contains(&n),
            "{name}: {n} frames; {}",
            seen.stderr
        );
        assert!(seen.non_decreasing(), "{name}: timestamps go back");
        assert!(
            seen.max_gap_ms() <= 80,
            "{name}: gap of {} ms",
            seen.max_gap_ms()
        );
    }
}

#[test]
fn a_second_publisher_is_refused_and_the_first_goes_on() {
    let strom = Strom::start("interop-dup", &[], &[]);
    let (rtmp, _) = urls(&strom, "dup");
    let first = publish(&rtmp, 8);
    strom.wait_live("dup", Duration::from_secs(10));
    let player = play(&rtmp, Some(5));

    std::thread::sleep(Duration::from_secs(1));
    let second = finish(publish(&rtmp, 5), Duration::from_secs(10));
    assert!(!second.success, "the second publisher must fail");
    assert!(
        second.stderr.contains("already being published"),
        "ffmpeg should show the reason: {}",
        second.stderr
    );
    strom.wait_for_log(&["publish refused"], Duration::from_secs(2));
    let metrics = strom.get("/metrics").1;
    assert!(
        metrics.contains("strom_publish_attempts_total{outcome=\"conflict\"} 1"),
        "{metrics}"
    );

    let seen = finish(player, Duration::from_secs(15));
    assert!(
        seen.dts.len() >= 120,
        "player got {} frames: {}",
        seen.dts.len(),
        seen.stderr
    );
    assert!(seen.non_decreasing());
    assert!(
        seen.max_gap_ms() <= 80,
        "gap of {} ms while the duplicate was refused",
        seen.max_gap_ms()
    );
    let first = finish(first, Duration::from_secs(15));
    assert!(first.success, "first publisher disturbed: {}", first.stderr);
}

#[test]
fn a_killed_publisher_is_replaced_at_once_and_players_keep_playing() {
    let strom = Strom::start("interop-kill", &[], &[]);
    let (rtmp, flv) = urls(&strom, "kill");
    let mut first = publish(&rtmp, 30);
    strom.wait_live("kill", Duration::from_secs(10));
    let player = play(&flv, Some(7));
    std::thread::sleep(Duration::from_secs(2));

    // SIGKILL: no FCUnpublish, no deleteStream, just a dead socket.
    Command::new("kill")
        .args(["-KILL", &first.id().to_string()])
        .status()
        .expect("kill runs");
    let _ = first.wait();
    let killed_at = Instant::now();

    let second = publish(&rtmp, 8);
    strom.wait_for_log(&["resumed=true"], Duration::from_secs(5));
    let resumed_after = killed_at.elapsed();
    assert!(
        resumed_after < Duration::from_secs(5),
        "took {resumed_after:?}"
    );

    let seen = finish(player, Duration::from_secs(20));
    assert!(
        seen.non_decreasing(),
        "timestamps go back across the resume"
    );
    // 7 s of media reached the player although its publisher died after ~2 s.
    assert!(
        seen.dts.len() >= 150,
        "player got {} frames: {}",
        seen.dts.len(),
        seen.stderr
    );
    let span = seen.dts.last().copied().unwrap_or(0) - seen.dts.first().copied().unwrap_or(0);
    assert!(span >= 6000, "player saw only {span} ms of media");
    let second = finish(second, Duration::from_secs(15));
    assert!(second.success, "{}", second.stderr);
}

#[test]
fn operators_list_sessions_and_kick_a_player_or_close_a_stream() {
    let strom = Strom::start("interop-kick", &[], &[]);
    let rtmp = format!("rtmp://127.0.0.1:{}/live/ops?token=abc", strom.rtmp_port);
    let (_, flv) = urls(&strom, "ops");
    let publisher = publish(&rtmp, 20);
    strom.wait_live("ops", Duration::from_secs(10));
    let player = play(&flv, None);

    // Wait until both sessions are listed with their streams.
    let deadline = Instant::now() + Duration::from_secs(10);
    let sessions = loop {
        let v = common::json(&strom.get("/api/v1/sessions").1);
        let list = v["sessions"].as_array().cloned().unwrap_or_default();
        if list.len() == 2 && list.iter().all(|s| s["stream"] == "live/ops") {
            break list;
        }
        assert!(Instant::now() < deadline, "sessions: {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let publisher_session = sessions
        .iter()
        .find(|s| s["protocol"] == "rtmp")
        .expect("publisher listed");
    assert_eq!(
        publisher_session["params"], "token=<redacted>",
        "keys shown, secrets not"
    );
    let player_id = sessions
        .iter()
        .find(|s| s["protocol"] == "http-flv")
        .and_then(|s| s["id"].as_u64())
        .expect("player listed");

    std::thread::sleep(Duration::from_secs(2)); // let the player decode a while
    let (status, _) = strom.request("DELETE", &format!("/api/v1/sessions/{player_id}"), &[]);
    assert_eq!(status, 200);
    let seen = finish(player, Duration::from_secs(10));
    assert!(
        !seen.dts.is_empty(),
        "the player played before the kick: {}",
        seen.stderr
    );
    strom.wait_for_log(&["kicked through the API"], Duration::from_secs(5));
    let metrics = strom.get("/metrics").1;
    for line in [
        "strom_sessions_closed_total{protocol=\"http-flv\",reason=\"kicked\"} 1",
        "strom_publish_attempts_total{outcome=\"accepted\"} 1",
        "strom_stream_players{stream=\"live/ops\"} 0",
        "strom_session_bytes_total{protocol=\"rtmp\",direction=\"in\"}",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }

    // Closing the stream disconnects the publisher too.
    let (status, _) = strom.request("DELETE", "/api/v1/streams/live/ops", &[]);
    assert_eq!(status, 200);
    let published = finish(publisher, Duration::from_secs(10));
    assert!(
        !published.success,
        "the publisher was disconnected before its 20 s"
    );
    assert_eq!(strom.get("/api/v1/streams/live/ops").0, 404);
}

#[test]
fn a_silent_connection_is_closed_at_the_handshake_deadline() {
    let strom = Strom::start(
        "interop-handshake",
        &[],
        &[("STROM_RTMP__HANDSHAKE_SECS", "1")],
    );
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", strom.rtmp_port)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", strom.rtmp_port)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The slow one sends C0 and half of C1, then nothing.
    use std::io::{Read, Write};
    slow.write_all(&[3u8]).unwrap();
    slow.write_all(&[0u8; 700]).unwrap();
    let started = Instant::now();
    for s in [&mut silent, &mut slow] {
        let mut buf = [0u8; 4096];
        // Whatever the server answered (S0/S1 for the slow one), the socket must end.
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        started.elapsed()
    );
    // The server half-closes and then lingers until the peer closes too;
    // closing ours ends both sessions without waiting out the linger.
    drop(silent);
    drop(slow);
    strom.wait_for_log(&["handshake deadline passed"], Duration::from_secs(2));
    // A session leaves the table when its task ends, which may be a moment
    // after the log line of the other one: poll, with a deadline.
    let deadline = Instant::now() + Duration::from_secs(3);
    let sessions = loop {
        let sessions = common::json(&strom.get("/api/v1/sessions").1)["sessions"].clone();
        if sessions == serde_json::json!([]) || Instant::now() > deadline {
            break sessions;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(sessions, serde_json::json!([]));
}

#[test]
fn a_frozen_publisher_is_closed_at_the_keep_alive_and_the_stream_taken_over() {
    let strom = Strom::start(
        "interop-frozen",
        &[],
        &[
            ("STROM_RTMP__KEEP_ALIVE_SECS", "2"),
            ("STROM_STREAM__PUBLISHER_IDLE_TIMEOUT_MS", "1000"),
        ],
    );
    let (rtmp, flv) = urls(&strom, "frozen");
    let frozen = publish(&rtmp, 30);
    strom.wait_live("frozen", Duration::from_secs(10));
    let player = play(&flv, Some(8));
    std::thread::sleep(Duration::from_secs(1));

    // SIGSTOP: the connection stays open but nothing more arrives.
    let pid = frozen.id().to_string();
    Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    let stopped = Instant::now();
    // Past the idle timeout a newcomer takes over at once, even though the old
    // connection is still open.
    std::thread::sleep(Duration::from_millis(1200));
    let second = publish(&rtmp, 8);
    strom.wait_for_log(&["resumed=true"], Duration::from_secs(5));
    // The frozen connection is closed by the keep-alive deadline (or was taken over first).
    strom.wait_for_log(&["rtmp session closed"], Duration::from_secs(5));
    assert!(stopped.elapsed() < Duration::from_secs(8));
    Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    let old = finish(frozen, Duration::from_secs(10));
    assert!(!old.success, "the frozen publisher was disconnected");

    let seen = finish(player, Duration::from_secs(20));
    assert!(
        seen.non_decreasing(),
        "timestamps go back across the takeover"
    );
    assert!(
        seen.dts.len() >= 150,
        "player got {} frames: {}",
        seen.dts.len(),
        seen.stderr
    );
    let _ = finish(second, Duration::from_secs(15));
}

#[test]
fn http_flv_answers_head_and_http_1_0_and_refuses_traversal() {
    use std::io::{Read, Write};
    let strom = Strom::start("interop-http-forms", &[], &[]);
    let (rtmp, _) = urls(&strom, "forms");
    let publisher = publish(&rtmp, 6);
    strom.wait_live("forms", Duration::from_secs(10));
    let raw = |request: &str, limit: usize| -> Vec<u8> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", strom.http_port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        while got.len() < limit {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        got
    };
    let head = String::from_utf8_lossy(&raw(
        "HEAD /live/forms.live.flv HTTP/1.1\r\nHost: x\r\n\r\n",
        4096,
    ))
    .into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("Content-Type: video/x-flv")
            && head.contains("Access-Control-Allow-Origin: *"),
        "{head}"
    );

    let plain = raw("GET /live/forms.live.flv HTTP/1.0\r\n\r\n", 64 * 1024);
    let text = String::from_utf8_lossy(&plain);
    assert!(text.starts_with("HTTP/1.0 200"), "{text:.200}");
    assert!(
        !text.contains("Transfer-Encoding"),
        "HTTP/1.0 gets a close-delimited body"
    );
    let body = plain
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| &plain[i + 4..])
        .unwrap();
    assert_eq!(&body[..3], b"FLV", "the body is a plain FLV stream");

    for bad in [
        "/live/..%2F..%2Fetc%2Fpasswd.live.flv",
        "/../../x.live.flv",
        "/x.live.flv",
    ] {
        let reply = String::from_utf8_lossy(&raw(&format!("GET {bad} HTTP/1.1\r\n\r\n"), 4096))
            .into_owned();
        assert!(reply.starts_with("HTTP/1.1 400"), "{bad}: {reply}");
    }
    let _ = finish(publisher, Duration::from_secs(15));
}
