//! Push relays with real peers: ffmpeg publishes to one strom, which pushes
//! the stream (`[[push]]`, or the API) to a second strom over RTMP or RTSP,
//! or to nginx-rtmp; ffprobe plays it from the target and sees H.264 and
//! AAC; pushes added through the API survive a restart.

mod common;

use std::time::Duration;

use common::media::{probe, publish, stop};
use common::peers::nginx_rtmp;
use common::{encode, json, scratch_dir, wait_until, Strom};

#[test]
fn a_stream_pushed_over_rtmp_to_another_strom_plays_there_with_h264_and_aac() {
    let target = Strom::start("push-rtmp-target", &[], &[]);
    let url = format!("rtmp://127.0.0.1:{}/live/out?key=secret", target.rtmp_port);
    pushed_and_played(&target, "rtmp", &url);
}

#[test]
fn a_stream_pushed_over_rtsp_to_another_strom_plays_there_with_h264_and_aac() {
    let target = Strom::start("push-rtsp-target", &[], &[]);
    let url = format!("rtsp://user:secret@127.0.0.1:{}/live/out", target.rtsp_port);
    pushed_and_played(&target, "rtsp", &url);
}

/// A source strom with `[[push]]` to `url` on `target`; ffmpeg publishes to
/// the source; the target's `live/out` plays with H.264 and AAC over RTMP
/// and RTSP; the source's API and /metrics show the push live, its
/// credentials and query hidden.
fn pushed_and_played(target: &Strom, name: &str, url: &str) {
    let source = source_with_push(&format!("push-{name}-source"), url);
    let (_, body) = source.get("/api/v1/pushes");
    assert_eq!(
        json(&body)["pushes"][0]["state"],
        "waiting-for-source",
        "{body}"
    );
    let publisher = publish(
        &format!("rtmp://127.0.0.1:{}/live/cam", source.rtmp_port),
        30,
    );
    source.wait_live("cam", Duration::from_secs(10));
    target.wait_live("out", Duration::from_secs(15));
    for play in [
        format!("rtmp://127.0.0.1:{}/live/out", target.rtmp_port),
        format!("rtsp://127.0.0.1:{}/live/out", target.rtsp_port),
    ] {
        let streams = probe(&play);
        let codecs: Vec<&str> = streams.iter().map(|(c, _, _)| c.as_str()).collect();
        assert!(
            codecs.contains(&"h264") && codecs.contains(&"aac"),
            "{play}: {streams:?}; target log:\n{}",
            target.log()
        );
    }
    let (_, body) = source.get("/api/v1/pushes");
    let pushes = json(&body);
    let p = &pushes["pushes"][0];
    assert_eq!(p["state"], "live", "{body}");
    assert_eq!(p["stream"], "live/cam", "{body}");
    assert_eq!(p["attempts"], 1, "{body}");
    assert!(!body.contains("secret"), "{body}");
    let (_, server) = source.get("/api/v1/server");
    assert!(
        !server.contains("key=secret") && !server.contains("user:secret"),
        "{server}"
    );
    assert!(server.contains("/live/out"), "{server}");
    let (_, metrics) = source.get("/metrics");
    assert!(
        metrics.contains("strom_pushes{state=\"live\"} 1"),
        "{metrics}"
    );
    stop(publisher);
}

/// A strom whose configuration pushes `live/cam` to `url`.
fn source_with_push(name: &str, url: &str) -> Strom {
    let config_dir = scratch_dir(&format!("{name}-config"));
    let config = config_dir.join("strom.toml");
    std::fs::write(
        &config,
        format!(
            "[relay]\nretry_min_ms = 200\n\n[[push]]\napp = \"live\"\nstream = \"cam\"\nurl = \"{url}\"\n"
        ),
    )
    .expect("config");
    let config = config.to_string_lossy().into_owned();
    Strom::start(name, &["--config", &config], &[])
}

/// Waits until the source's first push is in `state`.
fn wait_push_state(source: &Strom, state: &str, limit: Duration) {
    let reached = wait_until(limit, || {
        let (_, body) = source.get("/api/v1/pushes");
        json(&body)["pushes"][0]["state"] == state
    });
    assert!(
        reached.is_some(),
        "push not {state} within {limit:?}: {}; log:\n{}",
        source.get("/api/v1/pushes").1,
        source.log()
    );
}

/// Pushes added through the API: kept across a restart (`state.dir`), live
/// once the source is, refused twice, deleted; and ZLMediaKit's
/// `addStreamPusherProxy` / `delStreamPusherProxy` with its key form.
#[test]
fn pushes_added_through_the_api_survive_a_restart() {
    let target = Strom::start("push-api-target", &[], &[]);
    let state = scratch_dir("push-api-state");
    let state_dir = state.to_string_lossy().into_owned();
    let env = [
        ("STROM_STATE__DIR", state_dir.as_str()),
        ("STROM_RELAY__RETRY_MIN_MS", "200"),
    ];
    let source = Strom::start("push-api-source", &[], &env);
    let url = format!("rtmp://127.0.0.1:{}/live/out?key=secret", target.rtmp_port);
    let add = format!("/api/v1/pushes?app=live&stream=cam&url={}", encode(&url));
    let (status, body) = source.request("POST", &add, &[]);
    assert_eq!(status, 201, "{body}");
    let id = json(&body)["push"]["id"]
        .as_str()
        .expect("an id")
        .to_string();
    let (status, body) = source.request("POST", &add, &[]);
    assert_eq!(status, 409, "{body}");
    let (status, body) = source.request(
        "POST",
        "/api/v1/pushes?app=live&stream=cam&url=srt%3A%2F%2Fh%2Fa",
        &[],
    );
    assert_eq!(status, 400, "{body}");
    assert!(state.join("pushes.json").exists());

    // Restart: the push is back, waiting for its source.
    let _ = source.terminate(Duration::from_secs(10));
    let source = Strom::start("push-api-source-2", &[], &env);
    let (status, body) = source.get(&format!("/api/v1/pushes/live/cam/{id}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["push"]["state"], "waiting-for-source", "{body}");

    let publisher = publish(
        &format!("rtmp://127.0.0.1:{}/live/cam", source.rtmp_port),
        30,
    );
    target.wait_live("out", Duration::from_secs(15));
    wait_push_state(&source, "live", Duration::from_secs(5));

    // ZLMediaKit's calls: a second push of the same stream, its key, deleted by key.
    let zlm_url = format!("rtmp://127.0.0.1:{}/live/zlm", target.rtmp_port);
    let (_, body) = source.get(&format!(
        "/index/api/addStreamPusherProxy?schema=rtmp&vhost=__defaultVhost__&app=live&stream=cam&dst_url={}",
        encode(&zlm_url)
    ));
    let added = json(&body);
    assert_eq!(added["code"], 0, "{body}");
    let key = added["data"]["key"].as_str().expect("a key").to_string();
    let parts: Vec<&str> = key.split('/').collect();
    assert_eq!(
        parts[..4],
        ["rtmp", "__defaultVhost__", "live", "cam"],
        "{key}"
    );
    assert_eq!(parts[4].len(), 32, "the MD5 of dst_url in hex: {key}");
    target.wait_live("zlm", Duration::from_secs(15));
    let (_, body) = source.get(&format!(
        "/index/api/delStreamPusherProxy?key={}",
        encode(&key)
    ));
    assert_eq!(json(&body)["data"]["flag"], true, "{body}");

    let (status, body) = source.request("DELETE", &format!("/api/v1/pushes/live/cam/{id}"), &[]);
    assert_eq!(status, 200, "{body}");
    let (_, body) = source.get("/api/v1/pushes");
    assert_eq!(body, r#"{"pushes":[]}"#);
    assert_eq!(
        std::fs::read_to_string(state.join("pushes.json")).expect("kept list"),
        "[]"
    );
    stop(publisher);
}

/// nginx with the RTMP module as the push target: ffprobe plays the pushed
/// stream back from nginx.
#[test]
fn a_stream_pushed_to_nginx_rtmp_plays_back_from_it() {
    let (_nginx, port) = nginx_rtmp("push-nginx");
    let url = format!("rtmp://127.0.0.1:{port}/live/out");
    let source = source_with_push("push-nginx-source", &url);
    let publisher = publish(
        &format!("rtmp://127.0.0.1:{}/live/cam", source.rtmp_port),
        30,
    );
    source.wait_live("cam", Duration::from_secs(10));
    wait_push_state(&source, "live", Duration::from_secs(15));
    let streams = probe(&url);
    let codecs: Vec<&str> = streams.iter().map(|(c, _, _)| c.as_str()).collect();
    assert!(
        codecs.contains(&"h264") && codecs.contains(&"aac"),
        "{streams:?}; source log:\n{}",
        source.log()
    );
    stop(publisher);
}
