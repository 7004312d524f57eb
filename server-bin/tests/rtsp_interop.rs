//! RTSP with real ffmpeg and ffprobe on loopback: publishing over TCP and
//! UDP, and the conversion matrix — what RTSP publishes plays over every
//! protocol, and what RTMP publishes plays over RTSP.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::media::{decode_errors, finish, play_with, probe_with, publish, publish_rtsp, stop};
use common::Strom;

fn rtsp_url(strom: &Strom, name: &str) -> String {
    format!("rtsp://127.0.0.1:{}/live/{name}", strom.rtsp_port)
}

/// Every URL a viewer could play `live/{name}` from, with ffmpeg input options.
fn play_urls(strom: &Strom, name: &str) -> Vec<(String, Vec<&'static str>)> {
    let http = strom.http_port;
    vec![
        (rtsp_url(strom, name), vec!["-rtsp_transport", "tcp"]),
        (rtsp_url(strom, name), vec!["-rtsp_transport", "udp"]),
        (
            format!("rtmp://127.0.0.1:{}/live/{name}", strom.rtmp_port),
            vec![],
        ),
        (
            format!("http://127.0.0.1:{http}/live/{name}.live.flv"),
            vec![],
        ),
        (
            format!("http://127.0.0.1:{http}/live/{name}/hls.m3u8"),
            vec![],
        ),
        (
            format!("http://127.0.0.1:{http}/live/{name}.live.ts"),
            vec![],
        ),
    ]
}

/// The largest step between video frames a player may see: three frames at
/// 25 fps over TCP. Over UDP a loaded machine drops datagrams at full socket
/// buffers (the publisher's or the player's), each costing the frame it
/// carried; that is UDP, not a stall, so up to ten frames are allowed.
fn max_gap_ms(udp: bool) -> i64 {
    if udp {
        400
    } else {
        120
    }
}

fn assert_h264_aac(url: &str, input: &[&str], codec: &str) {
    let streams = probe_with(url, input);
    assert!(
        streams.contains(&(codec.into(), Some(320), Some(240))),
        "{url} {input:?}: {streams:?}"
    );
    assert!(
        streams.iter().any(|s| s.0 == "aac"),
        "{url} {input:?}: {streams:?}"
    );
}

#[test]
fn ffmpeg_publishes_over_rtsp_tcp_and_udp_and_every_protocol_plays_it() {
    let strom = Strom::start("rtsp-publish", &[], &[]);
    for transport in ["tcp", "udp"] {
        let name = format!("cam-{transport}");
        let publisher = publish_rtsp(
            &rtsp_url(&strom, &name),
            40,
            transport,
            &["-c:v", "libx264"],
        );
        strom.wait_live(&name, Duration::from_secs(10));
        for (url, input) in play_urls(&strom, &name) {
            assert_h264_aac(&url, &input, "h264");
            let (ok, errors) = decode_errors(&url, 2, &input);
            assert!(ok && errors.trim().is_empty(), "{url} {input:?}: {errors}");
        }
        // Frames and timestamps as a player sees them, over RTMP and RTSP.
        for (url, input) in [
            (
                format!("rtmp://127.0.0.1:{}/live/{name}", strom.rtmp_port),
                vec![],
            ),
            (rtsp_url(&strom, &name), vec!["-rtsp_transport", transport]),
        ] {
            let played = finish(play_with(&url, Some(3), &input), Duration::from_secs(20));
            assert!(played.success, "{url}: {}", played.stderr);
            assert!(
                played.dts.len() >= 60,
                "{url}: 3 s at 25 fps: {}",
                played.dts.len()
            );
            assert!(played.non_decreasing(), "{url}: {:?}", played.dts);
            let udp = transport == "udp" || input.contains(&"udp");
            assert!(
                played.max_gap_ms() <= max_gap_ms(udp),
                "{url}: gap {} ms",
                played.max_gap_ms()
            );
        }
        stop(publisher);
    }
    // The sessions are gone and their UDP pairs released.
    let log = strom.wait_for_log(&["rtsp session ended"], Duration::from_secs(5));
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn an_rtmp_stream_plays_over_rtsp_tcp_and_udp() {
    let strom = Strom::start("rtsp-play", &[], &[]);
    let publisher = publish(&format!("rtmp://127.0.0.1:{}/live/r", strom.rtmp_port), 30);
    strom.wait_live("r", Duration::from_secs(10));
    for transport in ["tcp", "udp"] {
        let input = ["-rtsp_transport", transport];
        let url = rtsp_url(&strom, "r");
        assert_h264_aac(&url, &input, "h264");
        let played = finish(play_with(&url, Some(4), &input), Duration::from_secs(20));
        assert!(played.success, "{transport}: {}", played.stderr);
        assert!(
            played.dts.len() >= 80,
            "{transport}: {} frames",
            played.dts.len()
        );
        assert!(played.non_decreasing(), "{transport}: {:?}", played.dts);
        assert!(
            played.max_gap_ms() <= max_gap_ms(transport == "udp"),
            "{transport}: gap {} ms",
            played.max_gap_ms()
        );
    }
    stop(publisher);
}

#[test]
fn h265_published_over_rtsp_plays_back_over_rtsp_http_ts_and_hls() {
    let strom = Strom::start("rtsp-h265", &[], &[]);
    let publisher = publish_rtsp(&rtsp_url(&strom, "hevc"), 30, "tcp", &["-c:v", "libx265"]);
    common::wait_until(Duration::from_secs(15), || {
        strom.get("/api/v1/streams/live/hevc").1.contains("H265")
    })
    .unwrap_or_else(|| panic!("no H.265 stream; log:\n{}", strom.log()));
    let http = strom.http_port;
    for (url, input) in [
        (rtsp_url(&strom, "hevc"), vec!["-rtsp_transport", "tcp"]),
        (format!("http://127.0.0.1:{http}/live/hevc.live.ts"), vec![]),
        (
            format!("http://127.0.0.1:{http}/live/hevc/hls.m3u8"),
            vec![],
        ),
    ] {
        assert_h264_aac(&url, &input, "hevc");
        let (ok, errors) = decode_errors(&url, 2, &input);
        assert!(ok, "{url}: {errors}");
    }
    stop(publisher);
}

/// One RTSP request on a raw connection; returns the response head.
fn exchange(stream: &mut std::net::TcpStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed; got {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn wrong_credentials_get_401_and_malformed_requests_get_400() {
    let strom = Strom::start(
        "rtsp-auth",
        &[],
        &[
            ("STROM_RTSP__AUTH__LIVE__USER", "cam"),
            ("STROM_RTSP__AUTH__LIVE__PASSWORD", "s3cret"),
        ],
    );
    // Without credentials and with wrong ones: 401, nothing published.
    for url in [
        rtsp_url(&strom, "locked"),
        format!("rtsp://cam:wrong@127.0.0.1:{}/live/locked", strom.rtsp_port),
    ] {
        let refused = finish(
            publish_rtsp(&url, 3, "tcp", &["-c:v", "libx264"]),
            Duration::from_secs(20),
        );
        assert!(!refused.success, "{url} published without the password");
        assert!(refused.stderr.contains("401"), "{url}: {}", refused.stderr);
    }
    assert_eq!(strom.get("/api/v1/streams/live/locked").0, 404);
    // The right ones publish (Digest: ffmpeg answers the Digest challenge).
    let url = format!(
        "rtsp://cam:s3cret@127.0.0.1:{}/live/locked",
        strom.rtsp_port
    );
    let publisher = publish_rtsp(&url, 20, "tcp", &["-c:v", "libx264"]);
    strom.wait_live("locked", Duration::from_secs(10));
    // Playing needs them too.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", strom.rtsp_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = exchange(
        &mut s,
        &format!(
            "DESCRIBE {} RTSP/1.0\r\nCSeq: 1\r\n\r\n",
            rtsp_url(&strom, "locked")
        ),
    );
    assert!(head.starts_with("RTSP/1.0 401"), "{head}");
    assert!(head.contains("WWW-Authenticate: Digest"), "{head}");
    // A malformed request gets 400 and the connection goes on.
    let head = exchange(&mut s, "GARBAGE\x01\x02 nonsense\r\n\r\n");
    assert!(head.contains(" 400 "), "{head}");
    let head = exchange(&mut s, "OPTIONS * RTSP/1.0\r\nCSeq: 3\r\n\r\n");
    assert!(head.starts_with("RTSP/1.0 200"), "{head}");
    assert!(head.contains("CSeq: 3"), "{head}");
    // A request over the size limits gets its answer before the close.
    let mut big = std::net::TcpStream::connect(("127.0.0.1", strom.rtsp_port)).unwrap();
    big.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let huge = format!(
        "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(8192)
    );
    let head = exchange(&mut big, &huge);
    assert!(head.starts_with("RTSP/1.0 413"), "{head}");
    let url = format!(
        "rtsp://cam:s3cret@127.0.0.1:{}/live/locked",
        strom.rtsp_port
    );
    assert_h264_aac(&url, &["-rtsp_transport", "tcp"], "h264");
    stop(publisher);
    assert_eq!(strom.get("/healthz").0, 200);
}

#[test]
fn a_silent_rtsp_publisher_is_closed_at_the_keep_alive_and_its_stream_released() {
    let strom = Strom::start(
        "rtsp-silent",
        &[],
        &[
            ("STROM_RTSP__KEEP_ALIVE_SECS", "2"),
            ("STROM_STREAM__CONTINUE_PUSH_MS", "500"),
        ],
    );
    let url = rtsp_url(&strom, "quiet");
    let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=quiet\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
               a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==,aOvjyyLA\r\n\
               a=control:streamid=0\r\n";
    let mut s = std::net::TcpStream::connect(("127.0.0.1", strom.rtsp_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = exchange(
        &mut s,
        &format!(
            "ANNOUNCE {url} RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ),
    );
    assert!(head.starts_with("RTSP/1.0 200"), "{head}");
    let head = exchange(
        &mut s,
        &format!("SETUP {url}/streamid=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1;mode=record\r\n\r\n"),
    );
    assert!(head.starts_with("RTSP/1.0 200"), "{head}");
    let session = head
        .lines()
        .find_map(|l| l.strip_prefix("Session: "))
        .and_then(|v| v.split(';').next())
        .expect("a session id")
        .to_string();
    let head = exchange(
        &mut s,
        &format!("RECORD {url} RTSP/1.0\r\nCSeq: 3\r\nSession: {session}\r\n\r\n"),
    );
    assert!(head.starts_with("RTSP/1.0 200"), "{head}");
    assert_eq!(strom.get("/api/v1/streams/live/quiet").0, 200);
    // Keep-alive requests are not media: they do not keep a publisher alive.
    let _ = exchange(
        &mut s,
        &format!("GET_PARAMETER {url} RTSP/1.0\r\nCSeq: 4\r\nSession: {session}\r\n\r\n"),
    );
    let gone = common::wait_until(Duration::from_secs(8), || {
        strom.get("/api/v1/streams/live/quiet").0 == 404
    });
    assert!(gone.is_some(), "stream still held; log:\n{}", strom.log());
    strom.wait_for_log(
        &["publisher keep-alive deadline passed"],
        Duration::from_secs(2),
    );
    // The name is free for the next publisher.
    let next = publish_rtsp(&url, 10, "tcp", &["-c:v", "libx264"]);
    strom.wait_live("quiet", Duration::from_secs(10));
    stop(next);
}
