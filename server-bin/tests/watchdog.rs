//! Rule 6: a media worker whose event loop stalls turns `/healthz` to 503
//! naming the worker, the log says so, and both recover when it does.
//! The stall is caused through a test-only hook that exists in debug builds
//! started with `--test-hooks` only.

mod common;

use std::time::{Duration, Instant};

use common::{json, Strom};

fn wait_for(strom: &Strom, want: u16, limit: Duration) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let (status, body) = strom.get("/healthz");
        if status == want {
            return json(&body);
        }
        assert!(
            Instant::now() < deadline,
            "no {want} from /healthz within {limit:?}; last: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_blocked_worker_turns_healthz_to_503_and_back() {
    let strom = Strom::start(
        "watchdog",
        &["--test-hooks"],
        &[
            ("STROM_SERVER__WORKERS", "2"),
            ("STROM_SERVER__WATCHDOG_STALL_MS", "300"),
        ],
    );
    wait_for(&strom, 200, Duration::from_secs(2));

    let (status, body) = strom.request("POST", "/debug/block-worker?worker=1&ms=2000", &[]);
    assert_eq!(status, 202, "{body}");

    let health = wait_for(&strom, 503, Duration::from_secs(2));
    assert_eq!(health["status"], "stalled");
    // media-1 is the one blocked; on a loaded machine media-0 may also lag
    // briefly, so only media-1's presence is required.
    let stalled = health["stalled_workers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(stalled.contains(&serde_json::json!("media-1")), "{health}");

    // The control plane kept answering while the worker was stuck, and the
    // worker comes back once the block ends.
    wait_for(&strom, 200, Duration::from_secs(5));
    // The log writer is asynchronous: the lines may trail the health answer.
    strom.wait_for_log(
        &["media worker stalled", "media-1", "media worker recovered"],
        Duration::from_secs(3),
    );
}

#[test]
fn hooks_are_off_unless_asked_for() {
    let strom = Strom::start("no-hooks", &[], &[]);
    let (status, _) = strom.request("POST", "/debug/block-worker?worker=0&ms=10", &[]);
    assert_eq!(status, 404);
    let (status, _) = strom.request("POST", "/debug/panic-session?app=live&stream=x", &[]);
    assert_eq!(status, 404);
}
