//! The contract with operators: strom starts on embedded defaults, answers
//! `/healthz`, and SIGTERM ends it with exit 0 within the grace period.

mod common;

use std::time::Duration;

use common::{json, Strom};

#[test]
fn starts_without_a_file_answers_healthz_and_stops_on_sigterm() {
    let strom = Strom::start("lifecycle", &[], &[]);
    let (status, body) = strom.get("/healthz");
    assert_eq!(status, 200, "{body}");
    let health = json(&body);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["streams"], 0);
    assert_eq!(health["sessions"], 0);
    let workers = health["workers"].as_array().expect("workers listed");
    assert!(!workers.is_empty());
    assert!(workers
        .iter()
        .all(|w| w["stalled"] == false && w["lag_ms"].is_number() && w["tasks"].is_u64()));

    let (status, took, log) = strom.terminate(Duration::from_secs(5));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status:?}; log:\n{log}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(log.contains("strom started"), "{log}");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("strom stopped"), "{log}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let strom = Strom::start("json-logs", &[], &[("STROM_LOG__FORMAT", "json")]);
    let (status, _, log) = strom.terminate(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 2, "{log}");
    for line in lines {
        let v = json(line);
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
    }
}

#[test]
fn every_session_line_carries_its_span_with_id_peer_and_stream() {
    let strom = Strom::start("span-logs", &[], &[("STROM_LOG__FORMAT", "json")]);
    let rtmp = format!("rtmp://127.0.0.1:{}/live/spans", strom.rtmp_port);
    let publisher = common::media::publish(&rtmp, 2);
    let done = common::media::finish(publisher, Duration::from_secs(20));
    assert!(done.success, "{}", done.stderr);
    let (_, _, log) = strom.terminate(Duration::from_secs(5));
    let ended = log
        .lines()
        .map(json)
        .find(|v| v["message"] == "rtmp session ended: peer closed")
        .unwrap_or_else(|| panic!("no session end in\n{log}"));
    let span = &ended["span"];
    assert_eq!(span["name"], "session", "{ended}");
    assert!(span["id"].as_u64().is_some_and(|id| id > 0), "{ended}");
    assert!(
        span["peer"]
            .as_str()
            .is_some_and(|p| p.starts_with("127.0.0.1:")),
        "{ended}"
    );
    assert_eq!(span["proto"], "rtmp", "{ended}");
    assert_eq!(span["stream"], "live/spans", "{ended}");
}
