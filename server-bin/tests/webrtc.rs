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

/// H.264 access units (NAL units without start codes) of `frames` frames
/// from ffmpeg, a keyframe every 25.
fn h264_units(frames: u32) -> Vec<Vec<bytes::Bytes>> {
    common::media::require("ffmpeg");
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi"])
        .args([
            "-i",
            "testsrc=size=320x240:rate=25",
            "-frames:v",
            &frames.to_string(),
        ])
        .args([
            "-c:v", "libx264", "-bf", "0", "-g", "25", "-f", "h264", "pipe:1",
        ])
        .output()
        .expect("ffmpeg runs");
    let mut units = Vec::new();
    let mut unit = Vec::new();
    for nal in codec::nalu::split_annexb(&bytes::Bytes::from(out.stdout)) {
        let kind = nal.first().map_or(0, |b| b & 0x1f);
        if kind != 9 {
            unit.push(nal);
        }
        if kind == 1 || kind == 5 {
            units.push(std::mem::take(&mut unit));
        }
    }
    units
}

/// One RTSP request on `s` and its status line's code (interleaved frames
/// before it are skipped).
fn rtsp_request(s: &mut std::net::TcpStream, req: &str) -> (u16, String) {
    use std::io::{Read, Write};
    s.write_all(req.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        got.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&got).into_owned();
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head)
}

#[test]
fn a_webrtc_viewers_keyframe_request_reaches_an_rtsp_publisher_as_a_pli() {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let strom = start("webrtc-pli", &[]);
    let units = h264_units(50);
    let base = format!("rtsp://127.0.0.1:{}/live/pli", strom.rtsp_port);
    let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=pli\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n";
    let mut s = std::net::TcpStream::connect(("127.0.0.1", strom.rtsp_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (code, head) = rtsp_request(
        &mut s,
        &format!("ANNOUNCE {base} RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len()),
    );
    assert_eq!(code, 200, "{head}");
    let (code, head) = rtsp_request(
        &mut s,
        &format!("SETUP {base}/trackID=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1;mode=record\r\n\r\n"),
    );
    assert_eq!(code, 200, "{head}");
    let session = head
        .lines()
        .find_map(|l| l.strip_prefix("Session: "))
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .expect("a session");
    let (code, head) = rtsp_request(
        &mut s,
        &format!("RECORD {base} RTSP/1.0\r\nCSeq: 3\r\nSession: {session}\r\n\r\n"),
    );
    assert_eq!(code, 200, "{head}");
    // The reader: a PLI is `$` 1, then RTCP with V=2 FMT=1 PT=206.
    let pli = Arc::new(AtomicBool::new(false));
    let mut rd = s.try_clone().unwrap();
    let seen = pli.clone();
    std::thread::spawn(move || {
        let mut head = [0u8; 4];
        while rd.read_exact(&mut head).is_ok() && head[0] == b'$' {
            let mut body = vec![0u8; usize::from(u16::from_be_bytes([head[2], head[3]]))];
            if rd.read_exact(&mut body).is_err() {
                return;
            }
            if head[1] == 1 && body.len() >= 12 && body[0] == 0x81 && body[1] == 206 {
                seen.store(true, Ordering::Relaxed);
            }
        }
    });
    // The writer: the 50 frames over and over, paced at 25 fps, for 20 s at most.
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut packetizer = rtsp_proto::media::H264Packetizer::new(1200, 96, 0x1234, 0);
        let started = Instant::now();
        for (n, unit) in units.iter().cycle().enumerate().take(500) {
            if stopping.load(Ordering::Relaxed) {
                break;
            }
            let ts = (n as u32).wrapping_mul(3600);
            for p in packetizer.packetize(unit, ts).unwrap() {
                let data = p.to_bytes();
                let mut frame = vec![b'$', 0];
                frame.extend_from_slice(&(data.len() as u16).to_be_bytes());
                frame.extend_from_slice(&data);
                if s.write_all(&frame).is_err() {
                    return;
                }
            }
            let due = started + Duration::from_millis(40 * (n as u64 + 1));
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    });
    strom.wait_live("pli", Duration::from_secs(10));
    let mut v = Viewer::start(strom.http_port, "/live/pli/whep").unwrap();
    v.run(Duration::from_secs(10), |s| s.video_frames >= 10);
    assert!(
        v.seen.video_frames >= 10,
        "{:?}; log:\n{}",
        v.seen,
        strom.log()
    );
    assert!(!pli.load(Ordering::Relaxed), "a PLI before anyone asked");
    assert!(v.request_keyframe());
    v.run(Duration::from_secs(5), |_| pli.load(Ordering::Relaxed));
    assert!(
        pli.load(Ordering::Relaxed),
        "no PLI reached the publisher; log:\n{}",
        strom.log()
    );
    stop.store(true, Ordering::Relaxed);
    let _ = writer.join();
}

/// Whether the server closed `s` (a read sees the end or an error at once).
fn closed_by_server(mut s: &std::net::TcpStream) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    let mut byte = [0u8; 1];
    match s.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn idle_ice_tcp_connections_are_capped_per_address_and_end_at_the_connect_deadline() {
    let dir = common::scratch_dir("webrtc-tcp-flood-config");
    std::fs::write(
        dir.join("strom.toml"),
        "[webrtc]\nconnect_timeout_ms = 500\n",
    )
    .unwrap();
    let config = dir.join("strom.toml");
    let strom = start("webrtc-tcp-flood", &["--config", config.to_str().unwrap()]);
    let url = format!("rtmp://127.0.0.1:{}/live/tf", strom.rtmp_port);
    let ffmpeg = publish_with(&url, 30, &["-c:v", "libx264", "-bf", "0"], &["-f", "flv"]);
    strom.wait_live("tf", Duration::from_secs(10));
    // The ICE-TCP port: the answer's passive TCP candidate.
    let (_rtc, offer, ..) = offer();
    let (status, _, answer) = post_sdp(strom.http_port, "/live/tf/whep", &offer.to_sdp_string());
    assert_eq!(status, 201, "{answer}");
    let port: u16 = answer
        .lines()
        .find(|l| l.starts_with("a=candidate") && l.contains(" tcp "))
        .and_then(|l| l.split_whitespace().nth(5))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no TCP candidate in {answer}"));
    // Above the address's pending cap (server.max_pending_per_ip, 16):
    // connections that never send a STUN request.
    let idle: Vec<_> = (0..40)
        .map(|_| common::raw::connect_from([127, 0, 0, 2], port))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let open = idle.iter().filter(|s| !closed_by_server(s)).count();
    assert!(
        (1..=16).contains(&open),
        "{open} idle ICE-TCP connections from one address held (0: the cap is not what closed them)"
    );
    // A viewer from another address plays over ICE-TCP meanwhile.
    let mut v = Viewer::start_tcp(strom.http_port, "/live/tf/whep").unwrap();
    v.run(Duration::from_secs(10), |s| s.video_frames >= 25);
    assert!(
        v.seen.video_frames >= 25,
        "{:?}; log:\n{}",
        v.seen,
        strom.log()
    );
    // Every idle one is gone after the connect deadline.
    let all_closed = wait_until(Duration::from_secs(5), || idle.iter().all(closed_by_server));
    assert!(
        all_closed.is_some(),
        "idle ICE-TCP connections outlived connect_timeout_ms"
    );
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
        "[webrtc]\nconnect_timeout_ms = 3000\n",
    )
    .unwrap();
    let config = dir.join("strom.toml");
    let strom = start("webrtc-connect", &["--config", config.to_str().unwrap()]);
    let url = format!("rtmp://127.0.0.1:{}/live/idle", strom.rtmp_port);
    let ffmpeg = publish_with(&url, 30, &["-c:v", "libx264", "-bf", "0"], &["-f", "flv"]);
    strom.wait_live("idle", Duration::from_secs(10));
    // Above the address's pending cap (server.max_pending_per_ip, 16): an
    // unconnected peer is a pending connection of its address. The deadline
    // (3 s) is far beyond the time the 20 offers take, so no slot frees
    // while they are posted.
    let mut held = Vec::new();
    let (mut answered, mut refused) = (0, 0);
    for _ in 0..20 {
        let (_rtc, offer, _pending, socket, _) = offer();
        let (status, _, body) =
            post_sdp(strom.http_port, "/live/idle/whep", &offer.to_sdp_string());
        match status {
            201 => answered += 1,
            503 => refused += 1,
            other => panic!("{other}: {body}"),
        }
        held.push(socket); // the ports stay open; nothing is ever sent
    }
    assert!(
        (1..=16).contains(&answered) && refused >= 4,
        "{answered} answered, {refused} refused"
    );
    let gone = wait_until(Duration::from_secs(10), || webrtc_sessions(&strom) == 0);
    assert!(
        gone.is_some(),
        "abandoned offers outlived connect_timeout_ms"
    );
    let metrics = strom.get("/metrics").1;
    let timeouts = format!("strom_webrtc_timeouts_total{{kind=\"connect\"}} {answered}\n");
    assert!(metrics.contains(&timeouts), "{metrics}");
    assert!(metrics.contains("strom_webrtc_peers 0"), "{metrics}");
    assert!(strom.log().contains("connect-timeout"));
    stop(ffmpeg);
}
