//! Playback of recordings against the real binary: recordings are written
//! beforehand (`strom::record::synthetic`, from ffmpeg's H.264 + AAC, so
//! players decode them), then `GET /api/v1/recordings/{app}/{stream}/get`
//! is checked with ffprobe (duration within a GOP of the asked, both
//! streams), ffmpeg (no decode error), the fmp4 demuxer (one timeline
//! across two files), `Range` requests (206 slices of the whole, 416),
//! refusals (400, 404), the time to the first byte of a ten-minute get
//! from inside a one-hour file, and a range replayed as a live stream
//! (`POST …/replay`) played over RTMP and HTTP-FLV.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::media::{decode_errors, probe, require};
use common::{fetch, scratch_dir, Fetched, Strom};
use fmp4::{Demuxer, Event, TrackConfig, TrackRun};
use stream_core::StreamKey;
use strom::record::catalogue::Catalogue;
use strom::record::synthetic::{write_file, Data};

/// 2026-12-06T10:00:00Z.
const T0_S: u64 = 1_796_551_200;

/// `secs` seconds of H.264 (a keyframe every second) + AAC as ffmpeg's
/// fragmented MP4 (a fragment per keyframe), demuxed.
fn ffmpeg_fragments(secs: u32) -> (Vec<TrackConfig>, Vec<Vec<TrackRun>>) {
    require("ffmpeg");
    let out = Command::new("timeout")
        .args(["60", "ffmpeg", "-hide_banner", "-v", "error", "-nostdin"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-t",
            &secs.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
        ])
        .args([
            "-g",
            "25",
            "-keyint_min",
            "25",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "mp4"])
        .args([
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
            "-",
        ])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut d = Demuxer::new();
    d.push(&out.stdout);
    let (mut tracks, mut frags) = (Vec::new(), Vec::new());
    while let Some(e) = d.next_event().expect("ffmpeg's fMP4 demuxes") {
        match e {
            Event::Init(t) => tracks = t,
            Event::Fragment { runs, .. } => frags.push(runs),
        }
    }
    (tracks, frags)
}

/// Fragments with every track's times moved back by `secs` seconds.
fn shifted(tracks: &[TrackConfig], frags: &[Vec<TrackRun>], secs: u64) -> Vec<Vec<TrackRun>> {
    let scale = |id| {
        tracks
            .iter()
            .find(|t| t.id == id)
            .map_or(1, |t| t.timescale)
    };
    frags
        .iter()
        .map(|runs| {
            let shift = |r: &TrackRun| TrackRun {
                base_decode_time: r
                    .base_decode_time
                    .saturating_sub(secs * u64::from(scale(r.track_id))),
                ..r.clone()
            };
            runs.iter().map(shift).collect()
        })
        .collect()
}

/// The start time of each fragment (video run's, seconds, rounded).
fn second_of(runs: &[TrackRun], tracks: &[TrackConfig]) -> u64 {
    let run = &runs[0];
    let ts = tracks
        .iter()
        .find(|t| t.id == run.track_id)
        .map_or(1, |t| t.timescale);
    (run.base_decode_time + u64::from(ts) / 2) / u64::from(ts)
}

/// A recording of live/cam in two files: 0–10 s at T0 and 10–20 s at T0 + 10 s.
fn two_files(root: &Path) {
    let (tracks, frags) = ffmpeg_fragments(20);
    let split = frags
        .iter()
        .position(|f| second_of(f, &tracks) >= 10)
        .expect("20 s");
    let cat = Catalogue::open(&root.join(".catalogue.redb")).expect("catalogue");
    let key = StreamKey::new("live", "cam");
    write_file(
        root,
        &cat,
        &key,
        T0_S * 1000,
        &tracks,
        frags[..split].to_vec(),
        Data::Written,
    )
    .unwrap();
    let second = shifted(&tracks, &frags[split..], 10);
    write_file(
        root,
        &cat,
        &key,
        (T0_S + 10) * 1000,
        &tracks,
        second,
        Data::Written,
    )
    .unwrap();
}

fn start_with(root: &Path, name: &str) -> Strom {
    let dir = root.to_str().expect("UTF-8 path");
    Strom::start(name, &[], &[("STROM_RECORD__DIR", dir)])
}

fn recording_root(name: &str) -> PathBuf {
    let root = scratch_dir(name).join("record");
    std::fs::create_dir_all(&root).unwrap();
    root
}

fn get_path(start: &str, secs: u64) -> String {
    format!("/api/v1/recordings/live/cam/get?start={start}&duration={secs}&format=mp4")
}

/// `GET path` with extra request headers.
fn fetch_with(port: u16, path: &str, headers: &str) -> Fetched {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("response");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    Fetched {
        status,
        headers: head.split_once("\r\n").map_or("", |(_, h)| h).to_string(),
        body: raw[split + 4..].to_vec(),
    }
}

fn ffprobe_duration(url: &str) -> f64 {
    let out = Command::new("timeout")
        .args([
            "30",
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=duration",
        ])
        .args(["-of", "csv=p=0", url])
        .output()
        .expect("ffprobe runs");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    text.parse().unwrap_or_else(|_| {
        panic!(
            "ffprobe duration {text:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn a_range_across_two_files_plays_in_ffprobe_and_ffmpeg_and_serves_byte_ranges() {
    let root = recording_root("recplay-src");
    two_files(&root);
    let strom = start_with(&root, "recplay");
    let port = strom.http_port;
    // 4 s to 12 s: from the keyframe at 4 s, across the file boundary.
    let path = get_path(&(T0_S + 4).to_string(), 8);
    let whole = fetch(port, "GET", &path).unwrap();
    assert_eq!(whole.status, 200, "{}\n{}", whole.text(), strom.log());
    assert_eq!(whole.header("content-type"), Some("video/mp4"));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    let len: usize = whole.header("content-length").unwrap().parse().unwrap();
    assert_eq!(whole.body.len(), len);
    // One timeline from 0, both files' fragments, sequence numbers from 1.
    let mut d = Demuxer::new();
    d.push(&whole.body);
    let mut fragments = Vec::new();
    while let Some(e) = d.next_event().expect("the download demuxes") {
        if let Event::Fragment { sequence, runs } = e {
            fragments.push((sequence, runs[0].base_decode_time));
        }
    }
    assert_eq!(fragments.len(), 8, "{fragments:?}");
    assert_eq!(fragments[0], (1, 0));
    assert!(
        fragments
            .windows(2)
            .all(|w| w[1].0 == w[0].0 + 1 && w[1].1 > w[0].1),
        "{fragments:?}"
    );

    let url = format!("http://127.0.0.1:{port}{path}");
    let streams: Vec<String> = probe(&url).into_iter().map(|s| s.0).collect();
    assert_eq!(streams, ["h264", "aac"]);
    let duration = ffprobe_duration(&url);
    assert!((duration - 8.0).abs() <= 1.0, "duration {duration}");
    let (ok, errors) = decode_errors(&url, 30, &[]);
    assert!(ok && errors.trim().is_empty(), "{errors}");

    // RFC 3339 start, same bytes.
    let same = fetch(port, "GET", &get_path("2026-12-06T10:00:04Z", 8)).unwrap();
    assert_eq!(same.body, whole.body);

    // Ranges: slices of the whole.
    for (range, from, to) in [
        ("bytes=100-199", 100, 200),
        ("bytes=-50", len - 50, len),
        (&*format!("bytes={}-", len - 10), len - 10, len),
    ] {
        let part = fetch_with(port, &path, &format!("Range: {range}\r\n"));
        assert_eq!(part.status, 206, "{range}");
        assert_eq!(part.body, whole.body[from..to], "{range}");
        let want = format!("bytes {from}-{}/{len}", to - 1);
        assert_eq!(part.header("content-range"), Some(want.as_str()));
    }
    let past = fetch_with(port, &path, &format!("Range: bytes={len}-\r\n"));
    assert_eq!(past.status, 416);
    assert_eq!(
        past.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );

    // Refusals.
    assert_eq!(
        fetch(port, "GET", &get_path(&(T0_S + 3600).to_string(), 10))
            .unwrap()
            .status,
        404
    );
    for bad in [
        "start=x&duration=5",
        "start=1&duration=0",
        "duration=5",
        "start=1&duration=5&format=flv",
    ] {
        let r = fetch(
            port,
            "GET",
            &format!("/api/v1/recordings/live/cam/get?{bad}"),
        )
        .unwrap();
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
}

#[test]
fn a_ten_minute_get_from_inside_an_hour_starts_at_once() {
    let root = recording_root("recplay-hour-src");
    // An hour at 2 Mbit/s (sparse: the data are holes), 1 s fragments.
    let (tracks, frags) = ffmpeg_fragments(1);
    let video = tracks.iter().find(|t| t.width > 0).expect("video").clone();
    let frame = bytes::Bytes::from(vec![0u8; 10_000]);
    let sample = |keyframe| fmp4::Sample {
        duration: 3600,
        cts_offset: 0,
        keyframe,
        data: frame.clone(),
    };
    let id = video.id;
    let hour = (0..3600u64).map(move |s| {
        vec![TrackRun {
            track_id: id,
            base_decode_time: s * 90_000,
            samples: (0..25).map(|i| sample(i == 0)).collect(),
        }]
    });
    drop(frags);
    let made = Instant::now();
    let cat = Catalogue::open(&root.join(".catalogue.redb")).unwrap();
    let key = StreamKey::new("live", "cam");
    let entry = write_file(&root, &cat, &key, T0_S * 1000, &[video], hour, Data::Holes).unwrap();
    drop(cat);
    eprintln!(
        "an hour written in {:?}: {} bytes",
        made.elapsed(),
        entry.bytes
    );

    let strom = start_with(&root, "recplay-hour");
    let path = get_path(&(T0_S + 1800).to_string(), 600);
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let mut s = TcpStream::connect(("127.0.0.1", strom.http_port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let asked = Instant::now();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut head = Vec::new();
        let first_body_byte = loop {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&head));
            head.extend_from_slice(&buf[..n]);
            if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                if head.len() > at + 4 {
                    break asked.elapsed();
                }
            }
        };
        assert!(
            head.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        best = best.min(first_body_byte);
    }
    eprintln!("time to first byte of a 10-minute get from a 1-hour file: {best:?}");
    assert!(best < Duration::from_millis(1000), "{best:?}");
}

#[test]
fn a_replayed_range_plays_over_rtmp_and_http_flv() {
    let root = recording_root("recreplay-src");
    two_files(&root);
    let strom = start_with(&root, "recreplay");
    // 2 s to 18 s across both files, repeated: live long enough to probe twice.
    let path = format!(
        "/api/v1/recordings/live/cam/replay?start={}&duration=16&as=live/again&repeat=1",
        T0_S + 2
    );
    let (status, body) = strom.request("POST", &path, &[]);
    assert_eq!(status, 201, "{body}\n{}", strom.log());
    assert!(body.contains("\"files\":2"), "{body}");
    strom.wait_live("again", Duration::from_secs(10));
    let rtmp = format!("rtmp://127.0.0.1:{}/live/again", strom.rtmp_port);
    let flv = format!("http://127.0.0.1:{}/live/again.live.flv", strom.http_port);
    for url in [&rtmp, &flv] {
        let streams: Vec<String> = probe(url).into_iter().map(|s| s.0).collect();
        assert_eq!(streams, ["h264", "aac"], "{url}");
        let (ok, errors) = decode_errors(url, 3, &["-rw_timeout", "10000000"]);
        assert!(ok && errors.trim().is_empty(), "{url}: {errors}");
    }
    // The name is taken while the replay runs.
    let (status, _) = strom.request("POST", &path, &[]);
    assert_eq!(status, 409);
}
