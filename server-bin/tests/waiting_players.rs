//! Players waiting for a stream that does not exist are bounded (issue 12),
//! per address and in total, over RTMP, HTTP-FLV and RTSP together: the real
//! binary driven by raw clients ([`common::raw`]).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtmp_proto::{ClientMode, ClientSession};

use common::raw::{
    avc_keyframe, connect_from, flush, flv_request, http_status, pump, rtmp_client, rtmp_config,
    rtsp_request, rtsp_response, spawn_publisher, Outcome, PATIENCE,
};
use common::Strom;

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
        let mut session = ClientSession::new(
            rtmp_config(strom.rtmp_port, "missing", ClientMode::Play),
            Instant::now(),
        );
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
