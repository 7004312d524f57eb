//! Relays against real peers, not strom: GStreamer's RTSP server as the
//! camera (`tests/peers/gst_rtsp_camera.py`: H.264 + AAC test pattern,
//! TCP and UDP, Digest or Basic auth) and nginx with the RTMP module as an
//! RTMP upstream. strom pulls them through `[[proxy]]` and ffprobe plays the
//! result from strom. A missing peer fails the test with how to install it
//! (`cargo xtask ci` does, as root).

mod common;

use std::time::Duration;

use common::media::{probe, publish, stop};
use common::peers::{camera, nginx_rtmp, CameraAuth};
use common::{json, scratch_dir, wait_until, Strom};

/// strom with one `[[proxy]]` pulling `url` into `live/cam`, retrying fast.
fn relay(name: &str, url: &str, extra: &str) -> Strom {
    let dir = scratch_dir(&format!("{name}-config"));
    let config = dir.join("strom.toml");
    std::fs::write(
        &config,
        format!(
            "[relay]\nretry_min_ms = 500\n\n[[proxy]]\napp = \"live\"\nstream = \"cam\"\nurl = \"{url}\"\n{extra}"
        ),
    )
    .expect("config");
    let config = config.to_string_lossy().into_owned();
    Strom::start(name, &["--config", &config], &[])
}

/// ffprobe on strom over RTMP and RTSP sees H.264 (and AAC when `audio`).
fn plays_everywhere(strom: &Strom, audio: bool) {
    for url in [
        format!("rtmp://127.0.0.1:{}/live/cam", strom.rtmp_port),
        format!("rtsp://127.0.0.1:{}/live/cam", strom.rtsp_port),
    ] {
        let streams = probe(&url);
        assert!(
            streams.iter().any(|(codec, _, _)| codec == "h264"),
            "{url}: {streams:?}; log:\n{}",
            strom.log()
        );
        if audio {
            assert!(
                streams.iter().any(|(codec, _, _)| codec == "aac"),
                "{url}: {streams:?}"
            );
        }
    }
    let (_, body) = strom.get("/api/v1/proxies");
    assert_eq!(json(&body)["proxies"][0]["state"], "live", "{body}");
}

/// Pulls the camera at `url` with `transport`, then plays it from strom.
fn pull_camera(name: &str, url: &str, transport: &str) {
    let strom = relay(name, url, &format!("rtsp_transport = \"{transport}\"\n"));
    strom.wait_live("cam", Duration::from_secs(20));
    plays_everywhere(&strom, true);
}

#[test]
fn a_gstreamer_camera_pulled_over_rtsp_tcp_plays_over_rtmp_and_rtsp() {
    let (_camera, url) = camera("/cam", CameraAuth::Open);
    pull_camera("peers-tcp", &url, "tcp");
}

#[test]
fn a_gstreamer_camera_pulled_over_rtsp_udp_plays_over_rtmp_and_rtsp() {
    let (_camera, url) = camera("/cam", CameraAuth::Open);
    pull_camera("peers-udp", &url, "udp");
}

#[test]
fn a_gstreamer_camera_behind_digest_auth_is_pulled_with_its_credentials() {
    let (_camera, url) = camera("/cam", CameraAuth::Digest("viewer", "s3cret"));
    let url = url.replace("rtsp://", "rtsp://viewer:s3cret@");
    pull_camera("peers-digest", &url, "tcp");
}

#[test]
fn a_gstreamer_camera_behind_basic_auth_is_pulled_with_its_credentials() {
    let (_camera, url) = camera("/cam", CameraAuth::Basic("viewer", "s3cret"));
    let url = url.replace("rtsp://", "rtsp://viewer:s3cret@");
    pull_camera("peers-basic", &url, "tcp");
}

/// A wrong password: the camera answers 401, the API says so, and the
/// proxy backs off rather than hammering the camera.
#[test]
fn a_wrong_camera_password_shows_401_in_the_api_and_backs_off() {
    let (_camera, url) = camera("/cam", CameraAuth::Digest("viewer", "s3cret"));
    let url = url.replace("rtsp://", "rtsp://viewer:wrong@");
    let strom = relay("peers-401", &url, "");
    let mut last = serde_json::Value::Null;
    let seen = wait_until(Duration::from_secs(10), || {
        let (_, body) = strom.get("/api/v1/proxies");
        last = json(&body)["proxies"][0].clone();
        last["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("401"))
    });
    assert!(seen.is_some(), "no 401 in the API: {last}");
    // Backoff from 500 ms doubling: within 4 s at most 1 + log2(4000/250 + 1)
    // ≈ 5 attempts (waits are at least half the doubled base).
    let (_, body) = strom.get("/api/v1/proxies");
    let before = json(&body)["proxies"][0]["attempts"].as_u64().unwrap_or(0);
    std::thread::sleep(Duration::from_secs(4));
    let (_, body) = strom.get("/api/v1/proxies");
    let p = &json(&body)["proxies"][0];
    let after = p["attempts"].as_u64().unwrap_or(0);
    assert!(after > before, "no retry in 4 s: {p}");
    assert!(
        after - before <= 5,
        "{} attempts in 4 s: {p}",
        after - before
    );
    assert_ne!(p["state"], "live", "{p}");
    // The password is not shown.
    assert!(!body.contains("wrong"), "{body}");
}

/// nginx-rtmp as the upstream: ffmpeg publishes to nginx, strom pulls
/// `rtmp://nginx/live/x`, ffprobe plays it from strom.
#[test]
fn a_stream_pulled_from_nginx_rtmp_plays_over_rtmp_and_rtsp() {
    let (_nginx, port) = nginx_rtmp("peers-nginx");
    let publisher = publish(&format!("rtmp://127.0.0.1:{port}/live/x"), 30);
    let strom = relay(
        "peers-nginx",
        &format!("rtmp://127.0.0.1:{port}/live/x"),
        "",
    );
    strom.wait_live("cam", Duration::from_secs(20));
    plays_everywhere(&strom, true);
    stop(publisher);
}
