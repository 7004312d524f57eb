//! A relay chain with real clients: ffmpeg publishes to one strom, a second
//! strom pulls the stream through `[[proxy]]`, and ffprobe plays it from the
//! second over every protocol; the API shows the proxy live.

mod common;

use std::time::Duration;

use common::media::{finish, play, probe, publish, stop};
use common::{encode, scratch_dir, Strom};

#[test]
fn a_stream_pulled_over_rtmp_from_another_strom_plays_over_every_protocol() {
    chain(
        "rtmp",
        |up| format!("rtmp://127.0.0.1:{}/live/src?key=secret", up.rtmp_port),
        "",
    );
}

#[test]
fn a_stream_pulled_over_rtsp_from_another_strom_plays_over_every_protocol() {
    chain(
        "rtsp",
        |up| format!("rtsp://user:secret@127.0.0.1:{}/live/src", up.rtsp_port),
        "",
    );
}

#[test]
fn a_stream_pulled_over_rtsp_udp_from_another_strom_plays_over_every_protocol() {
    chain(
        "rtsp-udp",
        |up| format!("rtsp://127.0.0.1:{}/live/src", up.rtsp_port),
        "rtsp_transport = \"udp\"\n",
    );
}

#[test]
fn a_stream_pulled_over_http_flv_from_another_strom_plays_over_every_protocol() {
    chain(
        "http-flv",
        |up| {
            format!(
                "http://127.0.0.1:{}/live/src.live.flv?token=secret",
                up.http_port
            )
        },
        "",
    );
}

#[test]
fn a_stream_pulled_over_hls_from_another_strom_plays_over_every_protocol() {
    let (_upstream, downstream, publisher) = chain_live(
        "hls",
        |up| format!("http://127.0.0.1:{}/live/src/hls.m3u8", up.http_port),
        "",
    );
    let rtmp = format!("rtmp://127.0.0.1:{}/live/cam", downstream.rtmp_port);
    let streams = probe(&rtmp);
    assert!(
        streams
            .iter()
            .any(|(codec, w, _)| codec == "h264" && *w == Some(320))
            && streams.iter().any(|(codec, _, _)| codec == "aac"),
        "{streams:?}"
    );
    // Paced in real time, across segment boundaries: decode times never go
    // back and never jump (segments here are 2 s).
    let played = finish(play(&rtmp, Some(5)), Duration::from_secs(30));
    assert!(played.dts.len() >= 75, "{} frames", played.dts.len());
    assert!(played.non_decreasing(), "{:?}", played.dts);
    assert!(played.max_gap_ms() < 500, "gap {} ms", played.max_gap_ms());
    let (_, sessions) = downstream.get("/api/v1/sessions");
    assert!(sessions.contains("\"hls-pull\""), "{sessions}");
    stop(publisher);
}

/// ffmpeg → upstream strom → downstream strom pulling `url(upstream)` → ffprobe.
fn chain(name: &str, url: impl Fn(&Strom) -> String, extra: &str) {
    let (_upstream, _downstream, publisher) = chain_live(name, url, extra);
    stop(publisher);
}

/// [`chain`], leaving the servers and the publisher running.
fn chain_live(
    name: &str,
    url: impl Fn(&Strom) -> String,
    extra: &str,
) -> (Strom, Strom, std::process::Child) {
    let upstream = Strom::start(&format!("relay-{name}-upstream"), &[], &[]);
    let config_dir = scratch_dir(&format!("relay-{name}-config"));
    let config = config_dir.join("strom.toml");
    std::fs::write(
        &config,
        format!(
            "[relay]\nretry_min_ms = 200\n\n[[proxy]]\napp = \"live\"\nstream = \"cam\"\nurl = \"{}\"\n{extra}",
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
        40,
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
    // What flows in: the stream's tracks and bitrate.
    let codecs: Vec<_> = p["tracks"]
        .as_array()
        .expect("tracks")
        .iter()
        .map(|t| t["codec"].clone())
        .collect();
    assert!(codecs.contains(&"H264".into()), "{proxies}");
    assert!(p["bitrate_bps"].as_u64().unwrap_or(0) > 0, "{proxies}");
    // The upstream's key is not shown.
    assert!(!proxies.to_string().contains("secret"), "{proxies}");
    (upstream, downstream, publisher)
}

/// Proxies added through the API: live, refused for a name taken, deleted
/// with the name free at once, and kept across a restart (`state.dir`).
#[test]
fn proxies_added_through_the_api_survive_a_restart_and_free_their_name_when_deleted() {
    let upstream = Strom::start("relay-api-upstream", &[], &[]);
    let state = scratch_dir("relay-api-state");
    let state_dir = state.to_string_lossy().into_owned();
    let env = [
        ("STROM_STATE__DIR", state_dir.as_str()),
        ("STROM_RELAY__RETRY_MIN_MS", "200"),
    ];
    let downstream = Strom::start("relay-api-downstream", &[], &env);
    let publisher = publish(
        &format!("rtmp://127.0.0.1:{}/live/src", upstream.rtmp_port),
        30,
    );
    upstream.wait_live("src", Duration::from_secs(10));

    let url = format!(
        "rtmp://127.0.0.1:{}/live/src?key=secret",
        upstream.rtmp_port
    );
    let add = format!("/api/v1/proxies?app=live&stream=cam&url={}", encode(&url));
    let (status, body) = downstream.request("POST", &add, &[]);
    assert_eq!(status, 201, "{body}");
    downstream.wait_live("cam", Duration::from_secs(15));
    // A second proxy, or a second add, for the same name is refused.
    let (status, body) = downstream.request("POST", &add, &[]);
    assert_eq!(status, 409, "{body}");
    // ZLMediaKit's view of it: a pull origin, and the proxy.
    let (_, media) = downstream.get("/index/api/getMediaList?app=live&stream=cam");
    assert!(
        media.contains("\"originType\":4") && media.contains("\"originTypeStr\":\"pull\""),
        "{media}"
    );
    assert!(!media.contains("secret"), "{media}");
    let (_, list) = downstream.get("/index/api/listStreamProxy");
    assert!(list.contains("__defaultVhost__/live/cam"), "{list}");
    assert!(!list.contains("secret"), "{list}");

    // Restart: the proxy comes back from state.dir and goes live again.
    let (_, _, _) = downstream.terminate(Duration::from_secs(10));
    let downstream = Strom::start("relay-api-downstream-2", &[], &env);
    downstream.wait_live("cam", Duration::from_secs(15));

    // Deleted: the name is free at once, for a local publisher.
    let (status, body) = downstream.request("DELETE", "/api/v1/proxies/live/cam", &[]);
    assert_eq!(status, 200, "{body}");
    let (status, _) = downstream.get("/api/v1/proxies/live/cam");
    assert_eq!(status, 404);
    let local = publish(
        &format!("rtmp://127.0.0.1:{}/live/cam", downstream.rtmp_port),
        10,
    );
    downstream.wait_live("cam", Duration::from_secs(10));
    let (_, proxies) = downstream.get("/api/v1/proxies");
    assert_eq!(proxies, r#"{"proxies":[]}"#);
    // A proxy cannot take a published name.
    let (status, body) = downstream.request("POST", &add, &[]);
    assert_eq!(status, 409, "{body}");
    stop(local);
    stop(publisher);
}

/// ZLMediaKit's pull-on-demand flow, unchanged for its hook servers: a
/// player asks for a stream nobody publishes, `on_stream_not_found` fires,
/// the hook server calls `addStreamProxy`, and the waiting player gets the
/// stream within `max_stream_wait_ms`.
#[test]
fn a_hook_server_adds_a_proxy_for_a_player_asking_a_missing_stream() {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::{Arc, Mutex};

    let upstream = Strom::start("relay-hook-upstream", &[], &[]);
    let upstream_rtmp = upstream.rtmp_port;
    let downstream_http: Arc<Mutex<Option<u16>>> = Arc::default();
    let hook = std::net::TcpListener::bind("127.0.0.1:0").expect("hook listener");
    let hook_port = hook.local_addr().expect("address").port();
    let target = downstream_http.clone();
    std::thread::spawn(move || {
        for conn in hook.incoming().take(20) {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().expect("clone"));
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            // Headers and the body are not needed: answer, then act.
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"code\":0}\n",
            );
            if line.contains("on_stream_not_found") {
                if let Some(port) = *target.lock().expect("lock") {
                    let url = encode(&format!("rtmp://127.0.0.1:{upstream_rtmp}/live/src"));
                    let path = format!(
                        "/index/api/addStreamProxy?vhost=__defaultVhost__&app=live&stream=cam&url={url}"
                    );
                    let _ = common::http_request(port, "GET", &path, &[]);
                }
            }
        }
    });
    let hook_url = format!("http://127.0.0.1:{hook_port}/index/hook/on_stream_not_found");
    let state = scratch_dir("relay-hook-state");
    let state_dir = state.to_string_lossy().into_owned();
    let downstream = Strom::start(
        "relay-hook-downstream",
        &[],
        &[
            ("STROM_HOOK__ON_STREAM_NOT_FOUND", hook_url.as_str()),
            ("STROM_STATE__DIR", state_dir.as_str()),
        ],
    );
    *downstream_http.lock().expect("lock") = Some(downstream.http_port);
    let publisher = publish(
        &format!("rtmp://127.0.0.1:{}/live/src", upstream.rtmp_port),
        20,
    );
    upstream.wait_live("src", Duration::from_secs(10));

    // Nothing publishes live/cam downstream: the player waits while the hook
    // server adds the proxy.
    let streams = probe(&format!(
        "rtmp://127.0.0.1:{}/live/cam",
        downstream.rtmp_port
    ));
    assert!(
        streams.iter().any(|(codec, _, _)| codec == "h264"),
        "{streams:?}; log:\n{}",
        downstream.log()
    );
    let (_, info) = downstream.get("/index/api/getProxyInfo?key=__defaultVhost__/live/cam");
    assert!(info.contains("\"code\":0"), "{info}");
    stop(publisher);
}

/// An HTTP-FLV upstream that answers and sends a header, then nothing (the
/// "handshakes and freezes" upstream): closed at `relay.no_media_secs` and
/// retried, with the reason in the API.
#[test]
fn a_silent_http_flv_upstream_is_closed_at_the_no_media_deadline() {
    use std::io::{Read, Write};
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = silent.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for conn in silent.incoming().take(10) {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut head = [0u8; 1024];
                let _ = conn.read(&mut head);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nConnection: close\r\n\r\nFLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00",
                );
                // Then nothing, with the socket open.
                std::thread::sleep(Duration::from_secs(20));
            });
        }
    });
    let config_dir = scratch_dir("relay-silent-config");
    let config = config_dir.join("strom.toml");
    std::fs::write(
        &config,
        format!(
            "[relay]\nno_media_secs = 2\nretry_min_ms = 5000\n\n[[proxy]]\napp = \"live\"\nstream = \"cam\"\nurl = \"http://127.0.0.1:{port}/live/x.flv\"\n"
        ),
    )
    .expect("config");
    let config = config.to_string_lossy().into_owned();
    let strom = Strom::start("relay-silent", &["--config", &config], &[]);
    let seen = strom.wait_for_log(&["upstream media deadline passed"], Duration::from_secs(15));
    assert!(seen.contains("relay ended"), "{seen}");
    let (_, proxies) = strom.get("/api/v1/proxies");
    assert!(proxies.contains("upstream media"), "{proxies}");
}

/// An upstream strom with a publisher on `live/src`, and a downstream
/// whose on-demand proxy `live/cam` pulls it (idle 1 s after its last
/// viewer, HLS idle after 1 s), with `extra` configuration.
struct OnDemand {
    /// Kept running while the test lasts.
    _upstream: Strom,
    downstream: Strom,
    publisher: std::process::Child,
}

impl OnDemand {
    fn start(name: &str, extra: &str) -> OnDemand {
        let upstream = Strom::start(&format!("{name}-upstream"), &[], &[]);
        let config = scratch_dir(&format!("{name}-config")).join("strom.toml");
        std::fs::write(
            &config,
            format!(
                "[relay]\nretry_min_ms = 200\nidle_close_secs = 1\n\n[hls]\nidle_secs = 1\n\n\
                 {extra}\n[[proxy]]\napp = \"live\"\nstream = \"cam\"\non_demand = true\n\
                 url = \"rtmp://127.0.0.1:{}/live/src\"\n",
                upstream.rtmp_port
            ),
        )
        .expect("config");
        let config = config.to_string_lossy().into_owned();
        let downstream = Strom::start(&format!("{name}-downstream"), &["--config", &config], &[]);
        let publisher = publish(
            &format!("rtmp://127.0.0.1:{}/live/src", upstream.rtmp_port),
            40,
        );
        upstream.wait_live("src", Duration::from_secs(10));
        OnDemand {
            _upstream: upstream,
            downstream,
            publisher,
        }
    }

    /// The proxy's state as the API shows it.
    fn state(&self) -> String {
        let (_, body) = self.downstream.get("/api/v1/proxies/live/cam");
        common::json(&body)["proxy"]["state"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

impl Drop for OnDemand {
    fn drop(&mut self) {
        let _ = self.publisher.kill();
        let _ = self.publisher.wait();
    }
}

/// HLS and HTTP-TS viewers wake an idle on-demand proxy like any player:
/// the playlist request waits for the pull and answers with segments, the
/// proxy stays up while HLS requests come, and goes idle once they stop.
#[test]
fn hls_and_http_ts_viewers_wake_an_on_demand_proxy() {
    let demand = OnDemand::start("relay-hls-demand", "");
    let downstream = &demand.downstream;
    let state = || demand.state();
    assert_eq!(state(), "idle", "nobody asked yet");

    let playlist =
        common::fetch(downstream.http_port, "GET", "/live/cam/hls.m3u8").expect("playlist request");
    assert_eq!(playlist.status, 200, "{}", playlist.text());
    assert!(
        playlist.text().starts_with("#EXTM3U"),
        "{}",
        playlist.text()
    );
    assert_eq!(state(), "live");

    // No more HLS requests: idle after hls.idle_secs + relay.idle_close_secs.
    let idle = common::wait_until(Duration::from_secs(20), || state() == "idle");
    assert!(idle.is_some(), "still {} without viewers", state());

    let streams = probe(&format!(
        "http://127.0.0.1:{}/live/cam.live.ts",
        downstream.http_port
    ));
    assert!(
        streams.iter().any(|(codec, _, _)| codec == "h264"),
        "HTTP-TS from an idle on-demand proxy: {streams:?}"
    );
}

/// A recorded on-demand proxy stays pulled without viewers (its recorder
/// reads it) and its recorder is no player in the counts; stopping the
/// recording lets it go idle.
#[test]
fn a_recorded_on_demand_proxy_stays_pulled_and_its_recorder_is_no_player() {
    let record_dir = scratch_dir("relay-record-files");
    let demand = OnDemand::start(
        "relay-record",
        &format!("[record]\ndir = \"{}\"\n", record_dir.display()),
    );
    let downstream = &demand.downstream;
    let state = || demand.state();
    let playlist =
        common::fetch(downstream.http_port, "GET", "/live/cam/hls.m3u8").expect("playlist request");
    assert_eq!(playlist.status, 200, "{}", playlist.text());
    assert_eq!(state(), "live");
    let (status, body) = downstream.request("POST", "/api/v1/recordings/live/cam", &[]);
    assert_eq!(status, 201, "{body}");

    // Longer than hls.idle_secs + relay.idle_close_secs without a viewer.
    let players = || {
        let (_, body) = downstream.get("/api/v1/streams/live/cam");
        common::json(&body)["player_count"].as_u64()
    };
    let mut watched = Vec::new();
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(state(), "live", "a recorded on-demand proxy went idle");
        watched.push(players());
    }
    assert_eq!(watched.last(), Some(&Some(0)), "players: {watched:?}");

    let (status, body) = downstream.request("DELETE", "/api/v1/recordings/live/cam", &[]);
    assert_eq!(status, 200, "{body}");
    let idle = common::wait_until(Duration::from_secs(20), || state() == "idle");
    assert!(
        idle.is_some(),
        "still {} after the recording stopped",
        state()
    );
}
