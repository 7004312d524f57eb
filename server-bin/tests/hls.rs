//! HLS and HTTP-TS with real ffmpeg and ffprobe on loopback: a stream
//! published over RTMP is played from its playlist and as a continuous TS.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::media::{decode_errors, finish, play, probe, publish, stop};
use common::{fetch, Fetched, Strom};

fn rtmp_url(strom: &Strom, name: &str) -> String {
    format!("rtmp://127.0.0.1:{}/live/{name}", strom.rtmp_port)
}

fn hls_url(strom: &Strom, name: &str) -> String {
    format!("http://127.0.0.1:{}/live/{name}/hls.m3u8", strom.http_port)
}

fn get(strom: &Strom, path: &str) -> Fetched {
    fetch(strom.http_port, "GET", path)
        .unwrap_or_else(|e| panic!("GET {path}: {e}; log:\n{}", strom.log()))
}

/// A playlist, read the way a player does.
#[derive(Debug, Default)]
struct Playlist {
    target: u64,
    media_sequence: u64,
    discontinuity_sequence: u64,
    /// (sequence, duration, preceded by EXT-X-DISCONTINUITY)
    segments: Vec<(u64, f64, bool)>,
    ended: bool,
}

fn parse_playlist(text: &str) -> Playlist {
    assert!(text.starts_with("#EXTM3U"), "{text}");
    let mut p = Playlist::default();
    let mut duration = None;
    let mut discontinuity = false;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            p.target = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            p.media_sequence = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
            p.discontinuity_sequence = v.parse().unwrap();
        } else if line == "#EXT-X-DISCONTINUITY" {
            discontinuity = true;
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            duration = Some(v.trim_end_matches(',').parse::<f64>().unwrap());
        } else if line == "#EXT-X-ENDLIST" {
            p.ended = true;
        } else if !line.starts_with('#') && !line.is_empty() {
            let seq = line.strip_suffix(".ts").unwrap().parse().unwrap();
            p.segments
                .push((seq, duration.take().unwrap(), discontinuity));
            discontinuity = false;
        }
    }
    p
}

#[test]
fn an_rtmp_stream_plays_over_hls_with_a_sliding_window_of_keyframe_aligned_segments() {
    let strom = Strom::start(
        "hls-basic",
        &[],
        &[
            ("STROM_HLS__SEGMENT_SECS", "1"),
            ("STROM_HLS__SEGMENT_COUNT", "3"),
            ("STROM_HLS__SEGMENT_RETAIN", "1"),
            ("STROM_STREAM__CONTINUE_PUSH_MS", "500"),
        ],
    );
    let publisher = publish(&rtmp_url(&strom, "h"), 16);
    strom.wait_live("h", Duration::from_secs(10));

    // The first request starts packaging and waits for the first segment.
    let asked = Instant::now();
    let first = get(&strom, "/live/h/hls.m3u8");
    eprintln!(
        "publish live → first playlist with a segment: {:?}",
        asked.elapsed()
    );
    assert_eq!(first.status, 200, "{}\n{}", first.text(), strom.log());
    assert_eq!(
        first.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    // Cacheable for half a target duration, at least 1 s.
    assert_eq!(first.header("cache-control"), Some("public, max-age=1"));
    assert_eq!(first.header("access-control-allow-origin"), Some("*"));
    assert!(!parse_playlist(&first.text()).segments.is_empty());

    let url = hls_url(&strom, "h");
    let streams = probe(&url);
    assert!(
        streams.contains(&("h264".into(), Some(320), Some(240))),
        "{streams:?}"
    );
    assert!(streams.iter().any(|s| s.0 == "aac"), "{streams:?}");

    let (ok, errors) = decode_errors(&url, 4, &[]);
    assert!(
        ok && errors.trim().is_empty(),
        "ffmpeg decoding HLS: {errors}"
    );

    // Watch the window slide for a while.
    let mut seen: BTreeMap<u64, f64> = BTreeMap::new();
    let mut sequences = Vec::new();
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        let p = parse_playlist(&get(&strom, "/live/h/hls.m3u8").text());
        assert!(p.segments.len() <= 3, "window of 3: {p:?}");
        let longest = p.segments.iter().map(|s| s.1).fold(0.0, f64::max);
        // RFC 8216 §4.3.3.1: every EXTINF rounded to an integer <= TARGETDURATION.
        assert!(longest.round() as u64 <= p.target, "{p:?}");
        assert_eq!(p.segments.first().map(|s| s.0), Some(p.media_sequence));
        sequences.push(p.media_sequence);
        for (seq, d, _) in &p.segments {
            seen.insert(*seq, *d);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        sequences.last() > sequences.first(),
        "the window slid: {sequences:?}"
    );
    // 1 s segments from a stream with a keyframe every second (25 frames):
    // each lasts at least segment_secs and at most segment_secs plus one GOP.
    for (seq, d) in &seen {
        assert!(
            (0.95..=2.05).contains(d),
            "segment {seq} lasts {d}: {seen:?}"
        );
    }
    eprintln!("segment durations seen: {seen:?}");

    // A listed segment is TS; one that slid out of window + retain is gone.
    let newest = *seen.keys().last().unwrap();
    let seg = get(&strom, &format!("/live/h/{newest}.ts"));
    assert_eq!(seg.status, 200);
    assert_eq!(seg.header("content-type"), Some("video/mp2t"));
    assert!(seg.body.len().is_multiple_of(188) && seg.body.first() == Some(&0x47));
    let oldest = *seen.keys().next().unwrap();
    if newest >= oldest + 5 {
        assert_eq!(get(&strom, &format!("/live/h/{oldest}.ts")).status, 404);
    }

    // When the stream ends the playlist says so.
    let published = finish(publisher, Duration::from_secs(30));
    assert!(published.success, "publisher: {}", published.stderr);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let p = parse_playlist(&get(&strom, "/live/h/hls.m3u8").text());
        if p.ended {
            break;
        }
        assert!(Instant::now() < deadline, "no EXT-X-ENDLIST: {p:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_rtmp_stream_plays_over_http_ts_from_a_keyframe() {
    let strom = Strom::start("hls-ts", &[], &[]);
    let publisher = publish(&rtmp_url(&strom, "t"), 30);
    strom.wait_live("t", Duration::from_secs(10));
    let url = format!("http://127.0.0.1:{}/live/t.live.ts", strom.http_port);
    let streams = probe(&url);
    assert!(
        streams.contains(&("h264".into(), Some(320), Some(240))),
        "{streams:?}"
    );
    assert!(streams.iter().any(|s| s.0 == "aac"), "{streams:?}");

    let (ok, errors) = decode_errors(&url, 3, &[]);
    assert!(
        ok && errors.trim().is_empty(),
        "ffmpeg decoding HTTP-TS: {errors}"
    );

    let player = play(&url, Some(4));
    let played = finish(player, Duration::from_secs(20));
    assert!(played.success, "player: {}", played.stderr);
    assert!(
        played.dts.len() >= 80,
        "4 s at 25 fps: {} frames",
        played.dts.len()
    );
    assert!(played.non_decreasing(), "{:?}", played.dts);
    assert!(played.max_gap_ms() <= 80, "gap {} ms", played.max_gap_ms());

    let head = fetch(strom.http_port, "HEAD", "/live/t.live.ts").unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("video/mp2t"));
    stop(publisher);
}

#[test]
fn a_resumed_publisher_makes_a_discontinuity_not_broken_timestamps() {
    let strom = Strom::start(
        "hls-resume",
        &[],
        &[
            ("STROM_HLS__SEGMENT_SECS", "1"),
            ("STROM_HLS__SEGMENT_COUNT", "10"),
            ("STROM_STREAM__CONTINUE_PUSH_MS", "5000"),
        ],
    );
    let first = publish(&rtmp_url(&strom, "r"), 4);
    strom.wait_live("r", Duration::from_secs(10));
    assert_eq!(get(&strom, "/live/r/hls.m3u8").status, 200);
    let done = finish(first, Duration::from_secs(20));
    assert!(done.success, "{}", done.stderr);
    // A new publisher within continue_push_ms resumes the stream.
    let second = publish(&rtmp_url(&strom, "r"), 6);
    let deadline = Instant::now() + Duration::from_secs(10);
    let p = loop {
        let p = parse_playlist(&get(&strom, "/live/r/hls.m3u8").text());
        if p.segments.iter().any(|s| s.2) && p.segments.last().is_some_and(|s| !s.2) {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "no discontinuity: {p:?}\n{}",
            strom.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(!p.ended);
    for (seq, d, _) in &p.segments {
        assert!(*d > 0.0 && *d <= 2.1, "segment {seq} lasts {d}: {p:?}");
    }
    let (ok, errors) = decode_errors(&hls_url(&strom, "r"), 2, &[]);
    assert!(ok, "ffmpeg decoding across the discontinuity: {errors}");
    stop(second);
}

#[test]
fn hls_and_http_ts_refuse_traversal_and_unknown_streams() {
    let strom = Strom::start(
        "hls-refuse",
        &[],
        &[("STROM_HLS__FIRST_SEGMENT_WAIT_MS", "500")],
    );
    for path in [
        "/live/..%2F..%2Fetc/hls.m3u8",
        "/live/../../etc/passwd/1.ts",
        "/live/%2e%2e/hls.m3u8",
        "/hls.m3u8",
        "/live/..%2fx.live.ts",
    ] {
        let r = get(&strom, path);
        assert!((400..500).contains(&r.status), "{path}: {}", r.status);
    }
    for path in [
        "/live/nobody/hls.m3u8",
        "/live/nobody/3.ts",
        "/live/nobody.live.ts",
    ] {
        assert_eq!(get(&strom, path).status, 404, "{path}");
    }
    // Nothing was packaged for names nobody publishes.
    let (_, metrics) = strom.get("/metrics");
    assert!(metrics.contains("strom_hls_feeds 0"), "{metrics}");
    // The server is still fine.
    assert_eq!(strom.get("/healthz").0, 200);
}

#[test]
fn hls_dir_gets_segments_and_playlists_written_atomically_and_pruned() {
    let dir = common::scratch_dir("hls-dir-files");
    let hls_dir = dir.join("hls");
    let strom = Strom::start(
        "hls-dir",
        &[],
        &[
            ("STROM_HLS__SEGMENT_SECS", "1"),
            ("STROM_HLS__SEGMENT_COUNT", "2"),
            ("STROM_HLS__SEGMENT_RETAIN", "1"),
            ("STROM_HLS__ON_DEMAND", "false"),
            ("STROM_HLS__DIR", hls_dir.to_str().unwrap()),
        ],
    );
    let publisher = publish(&rtmp_url(&strom, "d"), 9);
    let stream_dir = hls_dir.join("live").join("d");
    // Packaged without any request: on_demand is off.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let segments = std::fs::read_dir(&stream_dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "ts"))
                    .count()
            })
            .unwrap_or(0);
        if segments >= 3 && stream_dir.join("hls.m3u8").exists() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no files in {stream_dir:?}; log:\n{}",
            strom.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(4));
    let names: Vec<String> = std::fs::read_dir(&stream_dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let segments: Vec<u64> = names
        .iter()
        .filter_map(|n| n.strip_suffix(".ts")?.parse().ok())
        .collect();
    // Window 2 + retain 1, plus at most one being written/removed.
    assert!(segments.len() <= 4, "old segments pruned: {names:?}");
    assert!(!names.iter().any(|n| n.ends_with(".tmp")) || names.len() > segments.len());
    let on_disk = parse_playlist(&std::fs::read_to_string(stream_dir.join("hls.m3u8")).unwrap());
    for (seq, _, _) in &on_disk.segments {
        let len = std::fs::metadata(stream_dir.join(format!("{seq}.ts"))).map(|m| m.len());
        assert!(
            len.as_ref().is_ok_and(|l| *l > 0 && l % 188 == 0),
            "{seq}.ts: {len:?}"
        );
    }
    stop(publisher);
}

/// (player_count, subscriber_count) from the API, ZLMediaKit's readerCount and
/// the strom_stream_players metric of `live/{name}`.
fn counts(strom: &Strom, name: &str) -> (u64, u64, u64, String) {
    let (_, body) = strom.get(&format!("/api/v1/streams/live/{name}"));
    let v = common::json(&body);
    let (_, zlm) = strom.get(&format!(
        "/index/api/getMediaList?app=live&stream={name}&schema=rtmp"
    ));
    let reader = common::json(&zlm)["data"][0]["readerCount"]
        .as_u64()
        .unwrap_or(u64::MAX);
    let (_, metrics) = strom.get("/metrics");
    let line = metrics
        .lines()
        .find(|l| l.starts_with(&format!("strom_stream_players{{stream=\"live/{name}\"}}")))
        .unwrap_or("")
        .to_string();
    (
        v["player_count"].as_u64().unwrap_or(u64::MAX),
        v["subscriber_count"].as_u64().unwrap_or(u64::MAX),
        reader,
        line,
    )
}

#[test]
fn http_ts_and_hls_viewers_count_as_players_in_the_api_and_metrics() {
    let strom = Strom::start("hls-count", &[], &[]);
    let publisher = publish(&rtmp_url(&strom, "count"), 30);
    strom.wait_live("count", Duration::from_secs(10));
    let ts = format!("http://127.0.0.1:{}/live/count.live.ts", strom.http_port);
    let players = vec![
        play(&rtmp_url(&strom, "count"), None),
        play(&ts, None),
        play(&ts, None),
    ];
    // One RTMP player and two HTTP-TS viewers: three players; the hub sees
    // the RTMP player and the one packager the TS viewers share.
    let three = common::wait_until(Duration::from_secs(15), || {
        let (players, subscribers, reader, metric) = counts(&strom, "count");
        players == 3 && subscribers == 2 && reader == 3 && metric.ends_with(" 3")
    });
    assert!(three.is_some(), "{:?}", counts(&strom, "count"));

    // An HLS viewer adds itself while it fetches, once per client address
    // (ffmpeg uses one connection for the playlist and one for segments).
    let hls = play(&hls_url(&strom, "count"), None);
    let more = common::wait_until(Duration::from_secs(15), || {
        let (players, subscribers, reader, metric) = counts(&strom, "count");
        let hls_sessions = common::json(&strom.get("/api/v1/sessions").1)["sessions"]
            .as_array()
            .map_or(0, |s| s.iter().filter(|s| s["protocol"] == "hls").count());
        players == 4
            && subscribers == 2
            && reader == 4
            && metric.ends_with(" 4")
            && hls_sessions >= 1
    });
    assert!(more.is_some(), "{:?}", counts(&strom, "count"));

    for p in players.into_iter().chain([hls]) {
        stop(p);
    }
    let gone = common::wait_until(Duration::from_secs(15), || counts(&strom, "count").0 == 0);
    assert!(gone.is_some(), "{:?}", counts(&strom, "count"));
    stop(publisher);
}
