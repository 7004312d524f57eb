//! A relay chain with real clients: ffmpeg publishes to one strom, a second
//! strom pulls the stream through `[[proxy]]`, and ffprobe plays it from the
//! second over every protocol; the API shows the proxy live.

mod common;

use std::time::Duration;

use common::media::{probe, publish, stop};
use common::{scratch_dir, Strom};

#[test]
fn a_stream_pulled_over_rtmp_from_another_strom_plays_over_every_protocol() {
    chain("rtmp", |up| {
        format!("rtmp://127.0.0.1:{}/live/src?key=secret", up.rtmp_port)
    });
}

#[test]
fn a_stream_pulled_over_rtsp_from_another_strom_plays_over_every_protocol() {
    chain("rtsp", |up| {
        format!("rtsp://user:secret@127.0.0.1:{}/live/src", up.rtsp_port)
    });
}

/// ffmpeg → upstream strom → downstream strom pulling `url(upstream)` → ffprobe.
fn chain(name: &str, url: impl Fn(&Strom) -> String) {
    let upstream = Strom::start(&format!("relay-{name}-upstream"), &[], &[]);
    let config_dir = scratch_dir(&format!("relay-{name}-config"));
    let config = config_dir.join("strom.toml");
    std::fs::write(
        &config,
        format!(
            "[relay]\nretry_min_ms = 200\n\n[[proxy]]\napp = \"live\"\nstream = \"cam\"\nurl = \"{}\"\n",
            url(&upstream)
        ),
    )
    .expect("config");
    let config = config.to_string_lossy().into_owned();
    let downstream = Strom::start(
        &format!("relay-{name}-downstream"),
        &["--config", &config],
        &[],
    );

    let publisher = publish(
        &format!("rtmp://127.0.0.1:{}/live/src", upstream.rtmp_port),
        20,
    );
    upstream.wait_live("src", Duration::from_secs(10));
    downstream.wait_live("cam", Duration::from_secs(15));

    for url in [
        format!("rtmp://127.0.0.1:{}/live/cam", downstream.rtmp_port),
        format!(
            "http://127.0.0.1:{}/live/cam.live.flv",
            downstream.http_port
        ),
        format!("rtsp://127.0.0.1:{}/live/cam", downstream.rtsp_port),
        format!("http://127.0.0.1:{}/live/cam.live.ts", downstream.http_port),
    ] {
        let streams = probe(&url);
        assert!(
            streams.iter().any(|(codec, _, _)| codec == "h264"),
            "{url}: {streams:?}"
        );
    }
    let (status, body) = downstream.get("/api/v1/proxies");
    assert_eq!(status, 200, "{body}");
    let proxies: serde_json::Value = serde_json::from_str(&body).expect("json");
    let p = &proxies["proxies"][0];
    assert_eq!(p["state"], "live", "{proxies}");
    assert_eq!(p["key"], "live/cam");
    // The upstream's key is not shown.
    assert!(!proxies.to_string().contains("secret"), "{proxies}");
    stop(publisher);
}
