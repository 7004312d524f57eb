//! No silent drops: H.265 and AV1 published over enhanced RTMP (the
//! `common::ertmp` publisher, since Debian's ffmpeg 5.1 cannot) play over
//! every output that carries them, and every output that cannot carry a
//! track says so — in the stream's API entry, the viewer's log line, the
//! `X-Strom-Not-Carried` header, and 415 when nothing at all can be carried.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::ertmp::{self, Clip, Video};
use common::media::{decode_errors, probe};
use common::raw::{connect_from, pump, rtmp_client, rtsp_request, rtsp_response, Outcome};
use common::{fetch, json, Strom};
use flv_mux::{FlvEvent, FlvReader, FourCc, TagType, VideoPacketType, VideoTag};
use rtmp_proto::session::MediaKind;
use rtmp_proto::{ClientEvent, ClientMode};

/// Seconds of media in each clip (published in a loop).
const CLIP_SECS: u32 = 2;
/// Longest a test's publisher runs.
const PUBLISH_LIMIT: Duration = Duration::from_secs(90);

/// Each clip is encoded once per test run, whichever test asks first.
fn clip(video: Video, sound: bool) -> Arc<Clip> {
    static CLIPS: [OnceLock<Arc<Clip>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = match (video, sound) {
        (Video::Av1, true) => 0,
        (Video::Av1, false) => 1,
        (Video::Hevc, _) => 2,
    };
    CLIPS[slot]
        .get_or_init(|| Arc::new(Clip::encode(video, CLIP_SECS, sound)))
        .clone()
}

/// A strom with `live/{name}` published from `clip`; the publisher stops
/// when dropped.
struct Published {
    strom: Strom,
    stop: Arc<AtomicBool>,
    publisher: Option<JoinHandle<()>>,
}

impl Drop for Published {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(p) = self.publisher.take() {
            let _ = p.join();
        }
    }
}

/// Starts strom, publishes `clip` as `live/{name}` and waits until the API
/// shows every track of it.
fn published(name: &str, clip: Arc<Clip>) -> Published {
    let strom = Strom::start(&format!("carriage-{name}"), &[], &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let codec = match clip.video {
        Video::Av1 => "AV1",
        Video::Hevc => "H265",
    };
    let sound = clip.audio.is_some();
    let publisher = ertmp::publish(strom.rtmp_port, name, clip, stop.clone(), PUBLISH_LIMIT);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = strom.get(&format!("/api/v1/streams/live/{name}"));
        if status == 200
            && body.contains(&format!("\"codec\":\"{codec}\""))
            && (!sound || body.contains("\"codec\":\"AAC\""))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "live/{name} has not its tracks: {body}; log:\n{}",
            strom.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Published {
        strom,
        stop,
        publisher: Some(publisher),
    }
}

/// An HTTP/1.0 GET (close-delimited body, no chunk framing): the response
/// head, then up to `body_limit` body bytes or what came within `limit`.
fn get_streamed(port: u16, path: &str, body_limit: usize, limit: Duration) -> (String, Vec<u8>) {
    let mut sock = connect_from([127, 0, 0, 1], port);
    let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    sock.write_all(req.as_bytes()).expect("request sent");
    let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
    let deadline = Instant::now() + limit;
    let mut data = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while Instant::now() < deadline {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            if data.len() - end - 4 >= body_limit {
                break;
            }
        }
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head for {path}"));
    let head = String::from_utf8_lossy(&data[..end]).into_owned();
    (head, data[end + 4..].to_vec())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The AV1 video tags a player got: the sequence start carries the
/// published `av1C`, and coded frames follow, a keyframe among them, each
/// one of the published temporal units.
fn assert_av1_tags(bodies: &[bytes::Bytes], clip: &Clip, via: &str) {
    let tags: Vec<VideoTag> = bodies
        .iter()
        .map(|b| VideoTag::decode(b).expect("a video tag"))
        .collect();
    let start = tags
        .iter()
        .find(|t| {
            matches!(
                t,
                VideoTag::Enhanced {
                    packet_type: VideoPacketType::SequenceStart,
                    ..
                }
            )
        })
        .unwrap_or_else(|| panic!("{via}: no sequence start in {} tags", tags.len()));
    let VideoTag::Enhanced { fourcc, data, .. } = start else {
        unreachable!()
    };
    assert_eq!(*fourcc, FourCc::AV01, "{via}");
    assert_eq!(data, &clip.config, "{via}: the av1C as published");
    let frames: Vec<_> = tags
        .iter()
        .filter(|t| {
            matches!(
                t,
                VideoTag::Enhanced {
                    packet_type: VideoPacketType::CodedFrames,
                    ..
                }
            )
        })
        .collect();
    assert!(frames.len() >= 5, "{via}: {} coded frames", frames.len());
    assert!(frames.iter().any(|t| t.is_keyframe()), "{via}: a keyframe");
    for f in frames {
        assert!(
            clip.samples.iter().any(|s| s.data == f.data()),
            "{via}: a temporal unit that was not published"
        );
    }
}

#[test]
fn av1_plays_over_rtmp_and_http_flv() {
    let clip = clip(Video::Av1, true);
    let p = published("av1-flv", clip.clone());
    let strom = &p.strom;

    // RTMP: rtmp-proto as the player (ffmpeg 5.1 cannot read enhanced RTMP).
    let (mut sock, mut session, outcome) =
        rtmp_client(strom.rtmp_port, [127, 0, 0, 1], "av1-flv", ClientMode::Play);
    assert_eq!(outcome, Outcome::Started);
    let video = std::cell::RefCell::new(Vec::new());
    let audio = std::cell::Cell::new(0usize);
    let done = pump(&mut sock, &mut session, Duration::from_secs(20), |ev| {
        if let ClientEvent::Media { kind, payload, .. } = ev {
            match kind {
                MediaKind::Video => video.borrow_mut().push(payload.clone()),
                MediaKind::Audio => audio.set(audio.get() + 1),
            }
        }
        (video.borrow().len() >= 12).then_some(Outcome::Started)
    });
    assert_eq!(
        done,
        Outcome::Started,
        "RTMP player got {} video tags",
        video.borrow().len()
    );
    assert_av1_tags(&video.borrow(), &clip, "rtmp");
    assert!(audio.get() > 0, "rtmp: AAC too");

    // HTTP-FLV.
    let (head, body) = get_streamed(
        strom.http_port,
        "/live/av1-flv.live.flv",
        64 * 1024,
        Duration::from_secs(20),
    );
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(header(&head, "x-strom-not-carried").is_none(), "{head}");
    let mut reader = FlvReader::new();
    reader.push(&body);
    let mut video = Vec::new();
    while let Ok(Some(ev)) = reader.poll() {
        if let FlvEvent::Tag(t) = ev {
            if t.tag_type == TagType::Video {
                video.push(t.data);
            }
        }
    }
    assert_av1_tags(&video, &clip, "http-flv");
}

#[test]
fn av1_plays_over_http_fmp4() {
    let p = published("av1-mp4", clip(Video::Av1, true));
    let url = format!(
        "http://127.0.0.1:{}/live/av1-mp4.live.mp4",
        p.strom.http_port
    );
    let mut codecs: Vec<String> = probe(&url).into_iter().map(|(c, _, _)| c).collect();
    codecs.sort();
    assert_eq!(codecs, ["aac", "av1"], "ffprobe of {url}");
    // Decoded (libdav1d or libaom): no decoder error for two seconds.
    let (ok, errors) = decode_errors(&url, 2, &["-rw_timeout", "10000000"]);
    assert!(
        ok && errors.trim().is_empty(),
        "ffmpeg decoding {url}: {errors}"
    );
}

#[test]
fn av1_is_named_not_carried_over_ts_hls_rtsp_webrtc() {
    let p = published("av1-ts", clip(Video::Av1, true));
    let strom = &p.strom;

    // The API entry.
    let (_, body) = strom.get("/api/v1/streams/live/av1-ts");
    let entry = json(&body);
    let not_carried = &entry["not_carried"];
    for output in ["hls", "http_ts", "rtsp", "webrtc"] {
        let dropped = not_carried[output]
            .as_array()
            .unwrap_or_else(|| panic!("{output}: {body}"));
        assert_eq!(dropped.len(), 1, "{output}: {body}");
        assert_eq!(dropped[0]["codec"], "AV1", "{output}: {body}");
        assert_eq!(dropped[0]["track"], 0, "{output}: {body}");
        assert!(dropped[0]["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
    assert_eq!(
        not_carried["hls"][0]["reason"],
        "MPEG-TS as strom writes it has no AV1 mapping"
    );
    for output in ["rtmp", "http_flv", "http_mp4", "hls_fmp4"] {
        assert!(
            not_carried.get(output).is_none(),
            "{output} carries all: {body}"
        );
    }

    // HTTP-TS: the header names AV1; the audio still plays.
    let (head, _) = get_streamed(
        strom.http_port,
        "/live/av1-ts.live.ts",
        1,
        Duration::from_secs(20),
    );
    assert!(head.contains(" 200 "), "{head}");
    let told = header(&head, "x-strom-not-carried").unwrap_or_else(|| panic!("{head}"));
    assert!(told.starts_with("AV1 (video): "), "{told}");
    let url = format!("http://127.0.0.1:{}/live/av1-ts.live.ts", strom.http_port);
    // (ffprobe lists the program's streams too, and its program line.)
    let mut codecs: Vec<String> = probe(&url)
        .into_iter()
        .map(|(c, _, _)| c)
        .filter(|c| !c.is_empty())
        .collect();
    codecs.dedup();
    assert_eq!(codecs, ["aac"], "ffprobe of {url}");

    // HLS: the playlist says so too.
    let playlist = fetch(strom.http_port, "GET", "/live/av1-ts/hls.m3u8").expect("playlist");
    assert_eq!(playlist.status, 200, "{}", playlist.text());
    let told = playlist.header("x-strom-not-carried").unwrap_or("");
    assert!(told.starts_with("AV1 (video): "), "{}", playlist.headers);

    // RTSP: the SDP describes the audio only.
    let mut sock = TcpStream::connect(("127.0.0.1", strom.rtsp_port)).expect("rtsp");
    let url = format!("rtsp://127.0.0.1:{}/live/av1-ts", strom.rtsp_port);
    rtsp_request(
        &mut sock,
        "DESCRIBE",
        &url,
        1,
        "Accept: application/sdp\r\n",
    );
    let (status, _, sdp) = rtsp_response(&mut sock);
    assert_eq!(status, 200, "{sdp}");
    assert!(sdp.contains("m=audio"), "{sdp}");
    assert!(!sdp.contains("m=video"), "{sdp}");

    // Each viewer's log says it, naming the output and the codec.
    // (RTSP logs only its refusal: see the av1-only test.)
    for output in ["http-ts", "hls"] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !strom.log().lines().any(|l| {
            l.contains("track not carried to this viewer")
                && l.contains(output)
                && l.contains("AV1 (video)")
        }) {
            assert!(
                Instant::now() < deadline,
                "no {output} line:\n{}",
                strom.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn av1_alone_is_refused_where_nothing_can_be_carried() {
    let p = published("av1-only", clip(Video::Av1, false));
    let strom = &p.strom;
    let ts = fetch(strom.http_port, "GET", "/live/av1-only.live.ts").expect("http-ts");
    assert_eq!(ts.status, 415, "{}", ts.text());
    assert!(ts.text().contains("codec_not_carried"), "{}", ts.text());
    assert!(ts.text().contains("AV1"), "{}", ts.text());
    let hls = fetch(strom.http_port, "GET", "/live/av1-only/hls.m3u8").expect("hls");
    assert_eq!(hls.status, 415, "{}", hls.text());
    let mut sock = TcpStream::connect(("127.0.0.1", strom.rtsp_port)).expect("rtsp");
    let url = format!("rtsp://127.0.0.1:{}/live/av1-only", strom.rtsp_port);
    rtsp_request(
        &mut sock,
        "DESCRIBE",
        &url,
        1,
        "Accept: application/sdp\r\n",
    );
    let (status, head, _) = rtsp_response(&mut sock);
    assert_eq!(status, 415, "{head}");
    // fMP4 carries it.
    let (head, body) = get_streamed(
        strom.http_port,
        "/live/av1-only.live.mp4",
        1,
        Duration::from_secs(20),
    );
    assert!(head.contains(" 200 ") && !body.is_empty(), "{head}");
}

#[test]
fn h265_over_enhanced_rtmp_plays_over_fmp4_http_ts_and_hls() {
    let p = published("h265", clip(Video::Hevc, true));
    let port = p.strom.http_port;
    let base = format!("http://127.0.0.1:{port}/live/h265");
    for url in [
        format!("{base}.live.mp4"),
        format!("{base}.live.ts"),
        format!("{base}/hls.m3u8"),
    ] {
        let streams = probe(&url);
        // (ffprobe lists an MPEG-TS program's streams twice.)
        let video: Vec<_> = streams.iter().filter(|(c, _, _)| c == "hevc").collect();
        assert!(!video.is_empty(), "ffprobe of {url}: {streams:?}");
        for v in video {
            let size = (Some(ertmp::SIZE.0), Some(ertmp::SIZE.1));
            assert_eq!((v.1, v.2), size, "{url}");
        }
        assert!(
            streams.iter().any(|(c, _, _)| c == "aac"),
            "{url}: {streams:?}"
        );
    }
    // Everything is carried: nothing to tell.
    let playlist = fetch(port, "GET", "/live/h265/hls.m3u8").expect("playlist");
    assert!(
        playlist.header("x-strom-not-carried").is_none(),
        "{}",
        playlist.headers
    );
    let (_, body) = p.strom.get("/api/v1/streams/live/h265");
    let entry = json(&body);
    let not_carried = entry["not_carried"].as_object().expect("not_carried");
    let keys: Vec<_> = not_carried.keys().cloned().collect();
    assert_eq!(
        keys,
        ["webrtc"],
        "only WebRTC (H.264 only) drops H.265: {body}"
    );
}
