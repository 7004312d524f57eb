//! WebRTC against the real binary: a str0m viewer plays an RTMP stream over
//! WHEP (H.264 from a keyframe, AAC as Opus), the signalling's answers and
//! errors, the session resource, and the deadlines of peers that never
//! connect. Chromium (WHEP and WHIP) runs in `cargo xtask browser`.

mod common;

use std::time::{Duration, Instant};

use common::media::{publish_with, stop};
use common::webrtc::{offer, post_sdp, Viewer};
use common::{http_request, Strom};

fn start(name: &str, args: &[&str]) -> Strom {
    Strom::start(name, args, &[])
}

fn webrtc_sessions(strom: &Strom) -> usize {
    let (_, body) = strom.get("/api/v1/sessions");
    body.matches("\"protocol\":\"webrtc\"").count()
}

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if cond() {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn whep_plays_an_rtmp_stream_from_a_keyframe_with_its_aac_as_opus() {
    let strom = start("webrtc-play", &[]);
    let url = format!("rtmp://127.0.0.1:{}/live/cam", strom.rtmp_port);
    let ffmpeg = publish_with(&url, 30, &["-c:v", "libx264", "-bf", "0"], &["-f", "flv"]);
    strom.wait_live("cam", Duration::from_secs(10));
    let (_, stream) = strom.get("/api/v1/streams/live/cam");
    assert!(stream.contains("\"webrtc_playable\":true"), "{stream}");
    let mut v = Viewer::start(strom.http_port, "/live/cam/whep").unwrap();
    assert!(
        v.location
            .as_deref()
            .is_some_and(|l| l.starts_with("/webrtc/session/")),
        "{:?}",
        v.location
    );
    v.run(Duration::from_secs(10), |s| {
        s.video_frames >= 50 && s.audio_frames >= 50
    });
    let seen = v.seen.clone();
    assert!(
        seen.connected.is_some(),
        "never connected; log:\n{}",
        strom.log()
    );
    assert!(seen.first_video_keyframe, "{seen:?}");
    assert!(seen.video_frames >= 50, "{seen:?}; log:\n{}", strom.log());
    assert!(seen.audio_frames >= 50, "{seen:?}; log:\n{}", strom.log());
    assert_eq!(seen.audio_codec.as_deref(), Some("Opus"));
    assert_eq!(webrtc_sessions(&strom), 1);
    let (metrics_status, metrics) = strom.get("/metrics");
    assert_eq!(metrics_status, 200);
    assert!(metrics.contains("strom_webrtc_peers 1"), "{metrics}");
    assert!(metrics.contains("strom_webrtc_transcodes 1"), "{metrics}");
    // DELETE on the resource ends the session.
    let location = v.location.clone().unwrap();
    let (status, _) = http_request(strom.http_port, "DELETE", &location, &[]).unwrap();
    assert_eq!(status, 200);
    assert!(
        wait_until(Duration::from_secs(5), || webrtc_sessions(&strom) == 0).is_some(),
        "the session outlived its DELETE"
    );
    let (status, _) = http_request(strom.http_port, "DELETE", &location, &[]).unwrap();
    assert_eq!(status, 404, "a resource answers once");
    // The transcode ends with its last viewer (on the next AAC frame).
    assert!(
        wait_until(Duration::from_secs(5), || strom
            .get("/metrics")
            .1
            .contains("strom_webrtc_transcodes 0"))
        .is_some(),
        "the transcode outlived its viewers"
    );
    stop(ffmpeg);
}

#[test]
fn whep_over_ice_tcp_when_udp_is_not_offered() {
    let strom = start("webrtc-tcp", &[]);
    let url = format!("rtmp://127.0.0.1:{}/live/tcp", strom.rtmp_port);
    let ffmpeg = publish_with(&url, 30, &["-c:v", "libx264", "-bf", "0"], &["-f", "flv"]);
    strom.wait_live("tcp", Duration::from_secs(10));
    let mut v = Viewer::start_tcp(strom.http_port, "/live/tcp/whep").unwrap();
    v.run(Duration::from_secs(10), |s| s.video_frames >= 50);
    assert!(
        v.seen.connected.is_some(),
        "{:?}; log:\n{}",
        v.seen,
        strom.log()
    );
    assert!(v.seen.first_video_keyframe, "{:?}", v.seen);
    assert!(v.seen.video_frames >= 50, "{:?}", v.seen);
    stop(ffmpeg);
}

#[test]
fn a_stream_with_b_frames_is_refused_rather_than_shown_broken() {
    let strom = start("webrtc-bframes", &[]);
    let url = format!("rtmp://127.0.0.1:{}/live/b", strom.rtmp_port);
    let ffmpeg = publish_with(&url, 30, &["-c:v", "libx264", "-bf", "3"], &["-f", "flv"]);
    strom.wait_live("b", Duration::from_secs(10));
    let mut v = Viewer::start(strom.http_port, "/live/b/whep").unwrap();
    v.run(Duration::from_secs(5), |_| false);
    assert_eq!(v.seen.video_frames, 0, "{:?}", v.seen);
    strom.wait_for_log(&["B-frames"], Duration::from_secs(5));
    let (_, stream) = strom.get("/api/v1/streams/live/b");
    assert!(stream.contains("\"webrtc_playable\":false"), "{stream}");
    assert!(stream.contains("B-frames"), "{stream}");
    assert!(wait_until(Duration::from_secs(5), || webrtc_sessions(&strom) == 0).is_some());
    stop(ffmpeg);
}

#[test]
fn signalling_answers_errors_and_cors() {
    let strom = start("webrtc-signal", &[]);
    let port = strom.http_port;
    // Preflight from another origin.
    let (status, body) = http_request(
        port,
        "OPTIONS",
        "/live/x/whep",
        &[
            ("Origin", "http://example.test"),
            ("Access-Control-Request-Method", "POST"),
        ],
    )
    .unwrap();
    assert_eq!(status, 204, "{body}");
    // Not an offer.
    let (status, headers, body) = post_sdp(port, "/live/x/whep", "hello");
    assert_eq!(status, 400, "{body}");
    assert!(headers
        .iter()
        .any(|(k, v)| k == "access-control-allow-origin" && v == "*"));
    let (_, offer, ..) = offer();
    // ZLMediaKit's JSON form refuses with code -1.
    let (status, _, body) = post_sdp(
        port,
        "/index/api/webrtc?app=live&stream=none&type=play",
        "x",
    );
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = post_sdp(port, "/index/api/webrtc?app=live", &offer.to_sdp_string());
    assert_eq!(status, 404, "{body}");
    // An unknown resource.
    let (status, _) = http_request(port, "DELETE", "/webrtc/session/nope", &[]).unwrap();
    assert_eq!(status, 404);
    // An offer over the size limit.
    let big = format!("v=0\r\n{}", "a=x\r\n".repeat(20_000));
    let (status, _, _) = post_sdp(port, "/live/x/whip", &big);
    assert_eq!(status, 413);
}

#[test]
fn offers_never_followed_by_ice_end_at_the_connect_deadline() {
    let dir = common::scratch_dir("webrtc-connect-config");
    std::fs::write(
        dir.join("strom.toml"),
        "[webrtc]\nconnect_timeout_ms = 300\n",
    )
    .unwrap();
    let config = dir.join("strom.toml");
    let strom = start("webrtc-connect", &["--config", config.to_str().unwrap()]);
    let url = format!("rtmp://127.0.0.1:{}/live/idle", strom.rtmp_port);
    let ffmpeg = publish_with(&url, 30, &["-c:v", "libx264", "-bf", "0"], &["-f", "flv"]);
    strom.wait_live("idle", Duration::from_secs(10));
    let mut held = Vec::new();
    for _ in 0..5 {
        let (_rtc, offer, _pending, socket, _) = offer();
        let (status, _, body) =
            post_sdp(strom.http_port, "/live/idle/whep", &offer.to_sdp_string());
        assert_eq!(status, 201, "{body}");
        held.push(socket); // the ports stay open; nothing is ever sent
    }
    let gone = wait_until(Duration::from_secs(5), || webrtc_sessions(&strom) == 0);
    assert!(
        gone.is_some(),
        "abandoned offers outlived connect_timeout_ms"
    );
    let metrics = strom.get("/metrics").1;
    assert!(
        metrics.contains("strom_webrtc_timeouts_total{kind=\"connect\"} 5"),
        "{metrics}"
    );
    assert!(metrics.contains("strom_webrtc_peers 0"), "{metrics}");
    assert!(strom.log().contains("connect-timeout"));
    stop(ffmpeg);
}
