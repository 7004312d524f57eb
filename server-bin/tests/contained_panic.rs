//! A panic inside one session's task is logged and contained: the session's
//! guards (its entry in the session table, its subscription) are released as
//! the task unwinds, and everyone else on the same worker goes on. The panic
//! is caused through a test-only hook (`POST /debug/panic-session`) that
//! exists in debug builds started with `--test-hooks` only.

mod common;

use std::time::Duration;

use common::media::{finish, play, publish};
use common::{json, wait_until, Strom};

fn live_sessions(strom: &Strom) -> usize {
    let (_, body) = strom.get("/api/v1/sessions");
    json(&body)["sessions"].as_array().map_or(0, Vec::len)
}

fn subscribers(strom: &Strom) -> u64 {
    let (_, body) = strom.get("/api/v1/streams/live/panic");
    json(&body)["subscriber_count"].as_u64().unwrap_or(0)
}

#[test]
fn a_panicking_session_ends_alone_and_releases_what_it_held() {
    // One worker: the panicking session shares its event loop with the
    // publisher and the player.
    let strom = Strom::start(
        "contained-panic",
        &["--test-hooks"],
        &[
            ("STROM_SERVER__WORKERS", "1"),
            ("STROM_STREAM__CONTINUE_PUSH_MS", "1000"),
        ],
    );
    let rtmp = format!("rtmp://127.0.0.1:{}/live/panic", strom.rtmp_port);
    let publisher = publish(&rtmp, 8);
    strom.wait_live("panic", Duration::from_secs(10));
    let player = play(&rtmp, None);
    assert!(
        wait_until(Duration::from_secs(10), || subscribers(&strom) == 1).is_some(),
        "the player attached"
    );
    let before = live_sessions(&strom);

    for _ in 0..3 {
        let (status, body) = strom.request(
            "POST",
            "/debug/panic-session?worker=0&app=live&stream=panic",
            &[],
        );
        assert_eq!(status, 202, "{body}");
    }
    strom.wait_for_log(
        &[
            "task panicked; only its session ends",
            "panics on purpose, holding a subscription to live/panic",
        ],
        Duration::from_secs(5),
    );
    // Every panicking session left the table and the stream's subscribers.
    assert!(
        wait_until(Duration::from_secs(5), || live_sessions(&strom) == before
            && subscribers(&strom) == 1)
        .is_some(),
        "sessions {} (before {before}), subscribers {}",
        live_sessions(&strom),
        subscribers(&strom)
    );
    let (status, _) = strom.get("/healthz");
    assert_eq!(status, 200);

    // The publisher and the player on the same worker never noticed.
    let published = finish(publisher, Duration::from_secs(20));
    assert!(published.success, "publisher: {}", published.stderr);
    let seen = finish(player, Duration::from_secs(20));
    assert!(seen.non_decreasing(), "player timestamps go back");
    assert!(
        seen.max_gap_ms() <= 120,
        "player gap {} ms; {}",
        seen.max_gap_ms(),
        seen.stderr
    );
    assert!(
        seen.dts.len() >= 100,
        "player saw {} frames",
        seen.dts.len()
    );
}
