//! Webhooks against a hook server written here: ZLMediaKit-style bodies,
//! allow/deny by answer, and a hook server that never answers costing only
//! the session that waits on it.

mod common;

use std::time::{Duration, Instant};

use common::hook_server::HookServer;
use common::media::{finish, play, probe, probe_with, publish, publish_rtsp, stop};
use common::{json, Strom};

/// The hook server's answers: `{"code":0}` unless the stream name starts
/// with `deny` (refused) or, to `on_publish`, with `nohls` (HLS off, TS on).
fn hook_server() -> HookServer {
    HookServer::start(|path, body| {
        let stream = body["stream"].as_str().unwrap_or("");
        if stream.starts_with("deny") {
            r#"{"code":-1,"msg":"not on the guest list"}"#.into()
        } else if stream.starts_with("nohls") && path.ends_with("on_publish") {
            r#"{"code":0,"enable_hls":false,"enable_ts":1}"#.into()
        } else {
            r#"{"code":0,"msg":"success"}"#.into()
        }
    })
}

#[test]
fn hooks_allow_and_deny_publish_and_play_with_zlmediakit_fields() {
    let hooks = hook_server();
    let env = [
        ("STROM_HOOK__ON_PUBLISH", hooks.url("on_publish")),
        ("STROM_HOOK__ON_PLAY", hooks.url("on_play")),
        (
            "STROM_HOOK__ON_STREAM_CHANGED",
            hooks.url("on_stream_changed"),
        ),
        (
            "STROM_HOOK__ON_SERVER_STARTED",
            hooks.url("on_server_started"),
        ),
        (
            "STROM_HOOK__ON_STREAM_NOT_FOUND",
            hooks.url("on_stream_not_found"),
        ),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let strom = Strom::start("hooks", &[], &env);
    let rtmp = |name: &str| format!("rtmp://127.0.0.1:{}/live/{name}", strom.rtmp_port);
    let flv = |name: &str| format!("http://127.0.0.1:{}/live/{name}.live.flv", strom.http_port);

    let allowed = publish(&format!("{}?sign=42", rtmp("okstream")), 8);
    let denied = finish(publish(&rtmp("denystream"), 3), Duration::from_secs(10));
    assert!(!denied.success, "denied publisher must fail");
    assert!(
        denied.stderr.contains("not on the guest list"),
        "{}",
        denied.stderr
    );

    // Plays: allowed over RTMP and HTTP-FLV; a denied name gets refused on both.
    let deadline = Instant::now() + Duration::from_secs(10);
    while strom.get("/api/v1/streams/live/okstream").0 != 200 {
        assert!(Instant::now() < deadline, "okstream never went live");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(probe(&rtmp("okstream")).iter().any(|s| s.0 == "h264"));
    assert!(probe(&flv("okstream")).iter().any(|s| s.0 == "h264"));
    let (status, body) =
        common::http_request(strom.http_port, "GET", "/live/denyview.live.flv", &[]).unwrap();
    assert_eq!(status, 403, "{body}");
    let refused = finish(play(&rtmp("denyview"), Some(1)), Duration::from_secs(10));
    assert!(
        !refused.success && refused.dts.is_empty(),
        "{}",
        refused.stderr
    );
    let _ = finish(allowed, Duration::from_secs(15));

    let publishes = hooks.calls_to("on_publish");
    let ok = publishes
        .iter()
        .find(|b| b["stream"] == "okstream")
        .expect("on_publish called");
    for field in [
        "mediaServerId",
        "app",
        "stream",
        "vhost",
        "schema",
        "params",
        "ip",
        "port",
        "id",
    ] {
        assert!(!ok[field].is_null(), "on_publish lacks {field}: {ok}");
    }
    assert_eq!(
        (
            ok["app"].as_str(),
            ok["schema"].as_str(),
            ok["params"].as_str()
        ),
        (Some("live"), Some("rtmp"), Some("sign=42"))
    );
    assert_eq!(ok["vhost"], "__defaultVhost__");
    assert!(hooks
        .calls_to("on_play")
        .iter()
        .any(|b| b["stream"] == "okstream"));

    // Notifications arrive shortly after the events.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let changed = hooks.calls_to("on_stream_changed");
        let registered = changed
            .iter()
            .any(|b| b["stream"] == "okstream" && b["regist"] == true);
        let started = !hooks.calls_to("on_server_started").is_empty();
        let not_found = hooks
            .calls_to("on_stream_not_found")
            .iter()
            .any(|b| b["stream"] == "denyview");
        if registered && started && !not_found {
            // denyview was refused by on_play before any lookup: no not-found call.
            break;
        }
        assert!(
            Instant::now() < deadline,
            "notifications: changed={changed:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = strom.get("/metrics").1;
    assert!(
        metrics.contains("strom_hook_calls_total{hook=\"on_publish\",outcome=\"answered\"}"),
        "{metrics}"
    );
}

#[test]
fn a_hanging_hook_server_delays_only_the_waiting_session() {
    let hooks = HookServer::hanging();
    let url = hooks.url("on_publish");
    for (on_failure, should_publish) in [("allow", true), ("deny", false)] {
        let env = [
            ("STROM_HOOK__ON_PUBLISH", url.as_str()),
            ("STROM_HOOK__TIMEOUT_MS", "1500"),
            ("STROM_HOOK__ON_FAILURE", on_failure),
        ];
        let strom = Strom::start(&format!("hooks-hang-{on_failure}"), &[], &env);
        let rtmp = format!("rtmp://127.0.0.1:{}/live/hang", strom.rtmp_port);
        let started = Instant::now();
        let publisher = publish(&rtmp, 5);

        // While the publish waits on the hook, the control plane answers fast.
        let mut worst = Duration::ZERO;
        while started.elapsed() < Duration::from_millis(1200) {
            let t = Instant::now();
            assert_eq!(strom.get("/healthz").0, 200);
            worst = worst.max(t.elapsed());
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            worst < Duration::from_millis(1000),
            "healthz took {worst:?} while a hook hung"
        );

        let seen = finish(publisher, Duration::from_secs(20));
        assert_eq!(
            seen.success, should_publish,
            "on_failure={on_failure}: {}",
            seen.stderr
        );
        strom.wait_for_log(&["hook call failed"], Duration::from_secs(5));
        let metrics = strom.get("/metrics").1;
        assert!(
            metrics.contains("strom_hook_calls_total{hook=\"on_publish\",outcome=\"failed\"} 1"),
            "{metrics}"
        );
        let _ = json(&strom.get("/api/v1/streams").1);
    }
}

#[test]
fn hooks_cover_rtsp_publish_every_play_protocol_and_per_stream_hls() {
    let hooks = hook_server();
    let env = [
        ("STROM_HOOK__ON_PUBLISH", hooks.url("on_publish")),
        ("STROM_HOOK__ON_PLAY", hooks.url("on_play")),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let strom = Strom::start("hooks-all", &[], &env);
    let rtsp = |name: &str| format!("rtsp://127.0.0.1:{}/live/{name}", strom.rtsp_port);
    let http = |path: &str| common::fetch(strom.http_port, "GET", path).unwrap().status;

    // RTSP publish: allowed and denied by the hook.
    let allowed = publish_rtsp(&rtsp("okrtsp"), 30, "tcp", &["-c:v", "libx264"]);
    let denied = finish(
        publish_rtsp(&rtsp("denyrtsp"), 3, "tcp", &["-c:v", "libx264"]),
        Duration::from_secs(15),
    );
    assert!(!denied.success, "the denied RTSP publisher must fail");
    assert!(denied.stderr.contains("403"), "{}", denied.stderr);
    strom.wait_live("okrtsp", Duration::from_secs(10));
    let call = hooks
        .calls_to("on_publish")
        .into_iter()
        .find(|b| b["stream"] == "okrtsp")
        .expect("on_publish called for RTSP");
    assert_eq!(call["schema"], "rtsp", "{call}");
    assert_eq!(strom.get("/api/v1/streams/live/denyrtsp").0, 404);

    // Every play protocol asks on_play: allowed ones play...
    let tcp = ["-rtsp_transport", "tcp"];
    assert!(probe_with(&rtsp("okrtsp"), &tcp)
        .iter()
        .any(|s| s.0 == "h264"));
    assert_eq!(http("/live/okrtsp/hls.m3u8"), 200);
    let ts = format!("http://127.0.0.1:{}/live/okrtsp.live.ts", strom.http_port);
    assert!(probe(&ts).iter().any(|s| s.0 == "h264"));
    let schemas: Vec<String> = hooks
        .calls_to("on_play")
        .iter()
        .filter(|b| b["stream"] == "okrtsp")
        .filter_map(|b| b["schema"].as_str().map(str::to_string))
        .collect();
    for schema in ["rtsp", "hls", "ts"] {
        assert!(
            schemas.iter().any(|s| s == schema),
            "on_play schemas {schemas:?}"
        );
    }
    // ...denied ones are refused with 403 on each.
    assert_eq!(http("/live/denyview/hls.m3u8"), 403);
    assert_eq!(http("/live/denyview.live.ts"), 403);
    let refused = finish(
        common::media::play_with(&rtsp("denyview"), Some(1), &tcp),
        Duration::from_secs(10),
    );
    assert!(
        !refused.success && refused.stderr.contains("403"),
        "{}",
        refused.stderr
    );

    // on_publish may turn HLS off for one stream: HTTP-TS still plays.
    let nohls = publish(
        &format!("rtmp://127.0.0.1:{}/live/nohls1", strom.rtmp_port),
        20,
    );
    strom.wait_live("nohls1", Duration::from_secs(10));
    assert_eq!(http("/live/nohls1/hls.m3u8"), 403);
    let ts = format!("http://127.0.0.1:{}/live/nohls1.live.ts", strom.http_port);
    assert!(probe(&ts).iter().any(|s| s.0 == "h264"));
    stop(nohls);
    stop(allowed);
}
