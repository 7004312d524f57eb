//! HTTP-fMP4 (`/app/stream.live.mp4`) against the real binary: ffmpeg
//! publishes, ffprobe/ffmpeg play, and the bytes are read back with the
//! `fmp4` crate's demuxer (init segment first, a keyframe first, decode
//! times increasing); Opus and H.265 as published over RTSP; a stream fMP4
//! cannot carry is refused with 415.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::media::{decode_errors, finish, play, probe, publish, publish_rtsp, require, stop};
use common::{fetch, wait_until, Strom};

fn mp4_url(strom: &Strom, name: &str) -> String {
    format!("http://127.0.0.1:{}/live/{name}.live.mp4", strom.http_port)
}

/// Reads the body of `GET path` over HTTP/1.0 (close-delimited: no chunk
/// framing), demuxing it, until `enough` says so or 15 s pass.
fn read_mp4(
    port: u16,
    path: &str,
    mut enough: impl FnMut(&[fmp4::Event]) -> bool,
) -> Vec<fmp4::Event> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).expect("head"), 1, "closed in the head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(head.contains("Content-Type: video/mp4"), "{head}");
    let mut demux = fmp4::Demuxer::new();
    let mut events = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(15);
    while !enough(&events) && Instant::now() < deadline {
        let n = s.read(&mut buf).expect("body");
        assert!(n > 0, "closed after {} events", events.len());
        demux.push(&buf[..n]);
        while let Some(event) = demux.next_event().expect("valid fMP4") {
            events.push(event);
        }
    }
    events
}

fn fragments(events: &[fmp4::Event]) -> impl Iterator<Item = &fmp4::TrackRun> {
    events.iter().flat_map(|e| match e {
        fmp4::Event::Fragment { runs, .. } => runs.iter().collect::<Vec<_>>(),
        fmp4::Event::Init(_) => Vec::new(),
    })
}

#[test]
fn an_rtmp_stream_plays_as_live_mp4_from_a_keyframe_in_ffmpeg_and_the_demuxer() {
    let strom = Strom::start("fmp4-rtmp", &[], &[]);
    let rtmp = format!("rtmp://127.0.0.1:{}/live/cam", strom.rtmp_port);
    let publisher = publish(&rtmp, 30);
    strom.wait_live("cam", Duration::from_secs(10));
    let url = mp4_url(&strom, "cam");

    let streams = probe(&url);
    assert_eq!(
        streams,
        vec![
            ("h264".to_string(), Some(320), Some(240)),
            ("aac".to_string(), None, None)
        ],
        "log:\n{}",
        strom.log()
    );
    let (ok, errors) = decode_errors(&url, 3, &[]);
    assert!(ok && errors.trim().is_empty(), "{errors}");
    let played = finish(play(&url, Some(3)), Duration::from_secs(20));
    assert!(played.success, "{}", played.stderr);
    assert!(played.dts.len() >= 60, "{} frames", played.dts.len());
    assert!(played.non_decreasing(), "{:?}", played.dts);

    // The bytes: init (both tracks) first, then fragments, video from a
    // keyframe, each track's decode times strictly increasing, and the
    // viewer counted as a player while it reads.
    let events = read_mp4(strom.http_port, "/live/cam.live.mp4", |ev| {
        fragments(ev).filter(|r| r.track_id == 1).count() >= 50
    });
    let fmp4::Event::Init(tracks) = &events[0] else {
        panic!("first event {:?}", events[0]);
    };
    let ids: Vec<u32> = tracks.iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![1, 2]);
    assert!(matches!(tracks[0].codec, fmp4::CodecConfig::Avc { .. }));
    assert_eq!((tracks[0].width, tracks[0].height), (320, 240));
    assert!(matches!(tracks[1].codec, fmp4::CodecConfig::Aac { .. }));
    assert_eq!(tracks[1].timescale, 44_100);
    let video: Vec<_> = fragments(&events).filter(|r| r.track_id == 1).collect();
    assert!(video[0].samples[0].keyframe, "video starts at a keyframe");
    assert!(video
        .windows(2)
        .all(|w| w[0].base_decode_time < w[1].base_decode_time));
    assert!(video
        .iter()
        .all(|r| r.samples.len() == 1 && r.samples[0].duration == 3600));
    let audio: Vec<_> = fragments(&events).filter(|r| r.track_id == 2).collect();
    assert!(audio.len() >= 40, "{} audio fragments", audio.len());
    assert!(audio
        .windows(2)
        .all(|w| w[0].base_decode_time < w[1].base_decode_time));

    stop(publisher);
}

#[test]
fn mp4_viewers_are_players_in_the_api() {
    let strom = Strom::start("fmp4-players", &[], &[]);
    let rtmp = format!("rtmp://127.0.0.1:{}/live/p", strom.rtmp_port);
    let publisher = publish(&rtmp, 30);
    strom.wait_live("p", Duration::from_secs(10));
    let port = strom.http_port;
    let viewer = std::thread::spawn(move || {
        read_mp4(port, "/live/p.live.mp4", |ev| {
            fragments(ev).filter(|r| r.track_id == 1).count() >= 100
        })
    });
    let counted = wait_until(Duration::from_secs(10), || {
        let (_, list) = strom.get("/index/api/getMediaList?schema=fmp4");
        list.contains("\"readerCount\":1") || list.contains("\"readerCount\": 1")
    });
    let (_, sessions) = strom.get("/api/v1/sessions");
    assert!(counted.is_some(), "{sessions}");
    assert!(sessions.contains("\"protocol\":\"http-mp4\""), "{sessions}");
    let events = viewer.join().expect("viewer");
    assert!(fragments(&events).count() >= 100);
    stop(publisher);
}

#[test]
fn h265_published_over_rtsp_plays_as_live_mp4() {
    let strom = Strom::start("fmp4-h265", &[], &[]);
    let url = format!("rtsp://127.0.0.1:{}/live/hevc", strom.rtsp_port);
    let publisher = publish_rtsp(&url, 30, "tcp", &["-c:v", "libx265"]);
    wait_until(Duration::from_secs(15), || {
        strom.get("/api/v1/streams/live/hevc").1.contains("H265")
    })
    .unwrap_or_else(|| panic!("no H.265 stream; log:\n{}", strom.log()));
    let mp4 = mp4_url(&strom, "hevc");
    let streams = probe(&mp4);
    assert_eq!(
        streams[0],
        ("hevc".to_string(), Some(320), Some(240)),
        "{streams:?}"
    );
    let (ok, errors) = decode_errors(&mp4, 2, &[]);
    assert!(ok && errors.trim().is_empty(), "{errors}");
    stop(publisher);
}

#[test]
fn a_stream_fmp4_cannot_carry_is_refused_with_415() {
    require("ffmpeg");
    let strom = Strom::start("fmp4-g711", &[], &[]);
    let url = format!("rtsp://127.0.0.1:{}/live/alaw", strom.rtsp_port);
    let mut publisher = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=8000",
            "-t",
            "30",
        ])
        .args([
            "-c:a",
            "pcm_alaw",
            "-f",
            "rtsp",
            "-rtsp_transport",
            "tcp",
            &url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg starts");
    wait_until(Duration::from_secs(15), || {
        strom.get("/api/v1/streams/live/alaw").1.contains("PCMA")
    })
    .unwrap_or_else(|| panic!("no G.711 stream; log:\n{}", strom.log()));
    let got = fetch(strom.http_port, "GET", "/live/alaw.live.mp4").expect("answer");
    assert_eq!(got.status, 415, "{}", got.text());
    assert!(got.text().contains("PCMA"), "{}", got.text());
    let _ = publisher.kill();
    let _ = publisher.wait();
}

#[test]
fn opus_published_over_rtsp_plays_as_live_mp4() {
    require("ffmpeg");
    let strom = Strom::start("fmp4-opus", &[], &[]);
    let url = format!("rtsp://127.0.0.1:{}/live/opus", strom.rtsp_port);
    let mut publisher = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "30", "-c:v", "libx264", "-g", "25", "-bf", "0"])
        .args([
            "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "libopus",
        ])
        .args(["-f", "rtsp", "-rtsp_transport", "tcp", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg starts");
    strom.wait_live("opus", Duration::from_secs(15));
    let mp4 = mp4_url(&strom, "opus");
    let streams = probe(&mp4);
    assert_eq!(streams[1].0, "opus", "{streams:?}");
    let (ok, errors) = decode_errors(&mp4, 2, &[]);
    assert!(ok && errors.trim().is_empty(), "{errors}");
    let _ = publisher.kill();
    let _ = publisher.wait();
}
