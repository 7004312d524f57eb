//! HLS with fMP4 segments and Low-Latency HLS (`hls.fmp4.m3u8`) with the
//! real binary, real ffmpeg/ffprobe and the `fmp4` demuxer on loopback:
//! the playlist's LL tags, playback, blocking playlist reloads and
//! preload-hinted parts, their deadlines and caps.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use common::media::{decode_errors, probe, publish, publish_rtsp, stop};
use common::raw::{connect_from, http_status};
use common::{fetch, wait_until, Fetched, Strom};

fn get(strom: &Strom, path: &str) -> Fetched {
    fetch(strom.http_port, "GET", path)
        .unwrap_or_else(|e| panic!("GET {path}: {e}; log:\n{}", strom.log()))
}

fn playlist_path(name: &str) -> String {
    format!("/live/{name}/hls.fmp4.m3u8")
}

/// What a LL-HLS client reads from a playlist.
#[derive(Debug, Default)]
struct Ll {
    /// (msn, part index) of every listed part, in order.
    parts: Vec<(u64, u64)>,
    /// Listed segments.
    segments: Vec<u64>,
    hint: Option<(u64, u64)>,
    target: u64,
    ended: bool,
}

/// `msn.part.m4s` or `msn.m4s` under `fmp4/`.
fn numbers(uri: &str) -> Vec<u64> {
    let name = uri.trim_start_matches("fmp4/").trim_end_matches(".m4s");
    name.split('.').map(|n| n.parse().expect(uri)).collect()
}

/// The `URI="…"` attribute of a tag line.
fn uri(line: &str) -> Option<&str> {
    line.split("URI=\"").nth(1)?.split('"').next()
}

fn parse(text: &str) -> Ll {
    assert!(text.starts_with("#EXTM3U"), "{text}");
    let mut ll = Ll::default();
    for line in text.lines() {
        if line.starts_with("#EXT-X-PART:") {
            let n = numbers(uri(line).expect(line));
            ll.parts.push((n[0], n[1]));
        } else if line.starts_with("#EXT-X-PRELOAD-HINT:") {
            let n = numbers(uri(line).expect(line));
            ll.hint = Some((n[0], n[1]));
        } else if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            ll.target = v.parse().expect(line);
        } else if line == "#EXT-X-ENDLIST" {
            ll.ended = true;
        } else if line.starts_with("fmp4/") {
            ll.segments.push(numbers(line)[0]);
        }
    }
    ll
}

/// Demuxes `bytes`: every fragment's runs, after one init segment.
fn demux(bytes: &[u8]) -> (Vec<fmp4::TrackConfig>, Vec<fmp4::TrackRun>) {
    let mut d = fmp4::Demuxer::new();
    d.push(bytes);
    let (mut tracks, mut runs) = (Vec::new(), Vec::new());
    while let Some(event) = d.next_event().expect("valid fMP4") {
        match event {
            fmp4::Event::Init(t) => tracks = t,
            fmp4::Event::Fragment { runs: r, .. } => runs.extend(r),
        }
    }
    (tracks, runs)
}

fn start(name: &str, env: &[(&str, &str)]) -> Strom {
    let mut all = vec![("STROM_HLS__SEGMENT_SECS", "1")];
    all.extend_from_slice(env);
    Strom::start(name, &[], &all)
}

#[test]
fn an_rtmp_stream_plays_over_ll_hls_with_fmp4_segments_parts_and_blocking_reloads() {
    let strom = start("llhls-basic", &[]);
    let rtmp = format!("rtmp://127.0.0.1:{}/live/ll", strom.rtmp_port);
    let publisher = publish(&rtmp, 60);
    strom.wait_live("ll", Duration::from_secs(10));

    // The first request starts packaging and waits for a first segment.
    let first = get(&strom, &playlist_path("ll"));
    assert_eq!(first.status, 200, "{}\n{}", first.text(), strom.log());
    assert_eq!(
        first.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(first.header("cache-control"), Some("public, max-age=1"));
    assert_eq!(first.header("access-control-allow-origin"), Some("*"));
    let text = first.text();
    for tag in [
        "#EXT-X-MAP:URI=\"fmp4/init.mp4\"",
        "#EXT-X-PART-INF:PART-TARGET=",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES",
        "#EXT-X-PART:DURATION=",
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"fmp4/",
    ] {
        assert!(text.contains(tag), "{tag} missing:\n{text}");
    }
    let ll = parse(&text);
    assert!(!ll.segments.is_empty() && !ll.parts.is_empty(), "{text}");

    let url = format!(
        "http://127.0.0.1:{}{}",
        strom.http_port,
        playlist_path("ll")
    );
    let streams = probe(&url);
    assert!(
        streams.contains(&("h264".into(), Some(320), Some(240))),
        "{streams:?}"
    );
    assert!(streams.iter().any(|s| s.0 == "aac"), "{streams:?}");
    let (ok, errors) = decode_errors(&url, 3, &[]);
    assert!(ok && errors.trim().is_empty(), "ffmpeg decoding: {errors}");

    // Requests that make no sense are refused at once.
    let ll = parse(&get(&strom, &playlist_path("ll")).text());
    let last = *ll.segments.last().expect("a segment");
    for (query, why) in [
        (
            format!("_HLS_msn={}", last + 10),
            "far beyond the live edge",
        ),
        ("_HLS_part=1".to_string(), "a part without its msn"),
    ] {
        let asked = Instant::now();
        let r = get(&strom, &format!("{}?{query}", playlist_path("ll")));
        assert_eq!(r.status, 400, "{why}: {}", r.text());
        assert!(asked.elapsed() < Duration::from_secs(2), "{why}: at once");
    }

    // A blocking reload for the hinted part comes back once it is listed.
    let (msn, part) = ll.hint.expect("a preload hint");
    let asked = Instant::now();
    let r = get(
        &strom,
        &format!("{}?_HLS_msn={msn}&_HLS_part={part}", playlist_path("ll")),
    );
    let blocked = asked.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    let after = parse(&r.text());
    assert!(
        after.parts.contains(&(msn, part)) || after.segments.contains(&msn),
        "part {msn}.{part} listed:\n{}",
        r.text()
    );
    assert!(blocked > Duration::ZERO);
    eprintln!("blocking reload for the hinted part {msn}.{part} answered after {blocked:?}");

    // The preload-hinted part itself: the GET blocks until it is complete.
    let (msn, part) = after.hint.expect("a preload hint");
    let asked = Instant::now();
    let r = get(&strom, &format!("/live/ll/fmp4/{msn}.{part}.m4s"));
    let waited = asked.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("video/mp4"));
    let (_, runs) = demux(&r.body);
    assert!(!runs.is_empty(), "a fragment with samples");
    eprintln!(
        "hinted part {msn}.{part}: {} bytes after {waited:?} (part target {} ms)",
        r.body.len(),
        200
    );
    // An unknown part and a part long gone: 404 at once.
    assert_eq!(
        get(&strom, &format!("/live/ll/fmp4/{msn}.{}.m4s", part + 5)).status,
        404
    );
    assert_eq!(get(&strom, "/live/ll/fmp4/3.0.m4s").status, 404);

    // Following the live edge for 4 s with blocking reloads: every part,
    // concatenated after the init segment, demuxes with increasing decode
    // times on every track.
    let init = get(&strom, "/live/ll/fmp4/init.mp4");
    assert_eq!(init.status, 200);
    assert_eq!(init.header("content-type"), Some("video/mp4"));
    let mut stream = init.body.clone();
    let mut fetched: Vec<(u64, u64)> = Vec::new();
    let mut next = after.hint.expect("a preload hint");
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let r = get(
            &strom,
            &format!(
                "{}?_HLS_msn={}&_HLS_part={}",
                playlist_path("ll"),
                next.0,
                next.1
            ),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let p = parse(&r.text());
        for &(m, i) in p.parts.iter().filter(|&&x| x >= next) {
            let part = get(&strom, &format!("/live/ll/fmp4/{m}.{i}.m4s"));
            assert_eq!(part.status, 200, "part {m}.{i}");
            stream.extend_from_slice(&part.body);
            fetched.push((m, i));
        }
        next = p.hint.expect("a preload hint");
    }
    assert!(fetched.len() >= 10, "4 s of 200 ms parts: {fetched:?}");
    let (tracks, runs) = demux(&stream);
    assert_eq!(tracks.len(), 2, "{tracks:?}");
    let mut last: HashMap<u32, u64> = HashMap::new();
    let mut samples = 0;
    for run in &runs {
        let mut t = run.base_decode_time;
        for s in &run.samples {
            if let Some(prev) = last.get(&run.track_id) {
                assert!(
                    t > *prev,
                    "track {} decode time {t} after {prev}",
                    run.track_id
                );
            }
            last.insert(run.track_id, t);
            t += u64::from(s.duration);
            samples += 1;
        }
    }
    eprintln!(
        "{} parts fetched, {samples} samples, decode times increasing",
        fetched.len()
    );

    // A segment is its parts.
    let complete = fetched
        .iter()
        .map(|p| p.0)
        .find(|m| fetched.contains(&(*m, 0)) && fetched.iter().any(|p| p.0 > *m));
    if let Some(m) = complete {
        let seg = get(&strom, &format!("/live/ll/fmp4/{m}.m4s"));
        assert_eq!(seg.status, 200);
        assert_eq!(seg.header("cache-control"), Some("public, max-age=3600"));
        let mut parts = Vec::new();
        for (_, i) in fetched.iter().filter(|p| p.0 == m) {
            parts.extend(get(&strom, &format!("/live/ll/fmp4/{m}.{i}.m4s")).body);
        }
        assert_eq!(seg.body, parts, "segment {m} = its parts");
    }
    let (_, metrics) = strom.get("/metrics");
    assert!(metrics.contains("strom_hls_fmp4_feeds 1"), "{metrics}");
    assert!(
        metrics.contains("strom_hls_blocked_requests 0"),
        "{metrics}"
    );
    stop(publisher);
}

#[test]
fn an_h265_rtsp_stream_plays_from_the_fmp4_playlist() {
    let strom = start("llhls-hevc", &[]);
    let url = format!("rtsp://127.0.0.1:{}/live/hevc", strom.rtsp_port);
    let publisher = publish_rtsp(&url, 30, "tcp", &["-c:v", "libx265"]);
    wait_until(Duration::from_secs(15), || {
        strom.get("/api/v1/streams/live/hevc").1.contains("H265")
    })
    .unwrap_or_else(|| panic!("no H.265 stream; log:\n{}", strom.log()));
    let url = format!(
        "http://127.0.0.1:{}{}",
        strom.http_port,
        playlist_path("hevc")
    );
    let streams = probe(&url);
    assert!(
        streams.contains(&("hevc".into(), Some(320), Some(240))),
        "{streams:?}\n{}",
        strom.log()
    );
    assert!(streams.iter().any(|s| s.0 == "aac"), "{streams:?}");
    stop(publisher);
}

/// strom with 2 s segments (blocked requests wait up to 6 s) and `env`, a
/// publisher on `live/{name}`, and its first fMP4 playlist.
fn two_second_segments(name: &str, env: (&str, &str)) -> (Strom, std::process::Child, Ll) {
    let strom = start(
        &format!("llhls-{name}"),
        &[("STROM_HLS__SEGMENT_SECS", "2"), env],
    );
    let rtmp = format!("rtmp://127.0.0.1:{}/live/{name}", strom.rtmp_port);
    let publisher = publish(&rtmp, 60);
    strom.wait_live(name, Duration::from_secs(10));
    let ll = parse(&get(&strom, &playlist_path(name)).text());
    (strom, publisher, ll)
}

#[test]
fn a_blocked_reload_on_a_stream_whose_publisher_stops_gets_the_ended_playlist() {
    let (strom, publisher, ll) =
        two_second_segments("end", ("STROM_STREAM__CONTINUE_PUSH_MS", "300"));
    // Wait for a part two segments ahead: it will not come before the stop.
    let msn = ll.segments.last().expect("a segment") + 2;
    let path = format!("{}?_HLS_msn={msn}", playlist_path("end"));
    let port = strom.http_port;
    let blocked = std::thread::spawn(move || {
        let asked = Instant::now();
        let r = fetch(port, "GET", &path).expect("answer");
        (r, asked.elapsed())
    });
    // The request is held, then the publisher goes away.
    let held = wait_until(Duration::from_secs(5), || {
        strom
            .get("/metrics")
            .1
            .contains("strom_hls_blocked_requests 1")
    });
    assert!(held.is_some(), "{}", strom.get("/metrics").1);
    stop(publisher);
    let (r, after) = blocked.join().expect("request thread");
    assert_eq!(r.status, 200, "{}", r.text());
    let p = parse(&r.text());
    assert!(p.ended, "EXT-X-ENDLIST:\n{}", r.text());
    assert!(p.hint.is_none(), "no preload hint once ended");
    eprintln!("blocked reload answered {after:?} after it was asked, with the ended playlist");
    // Still readable afterwards.
    assert!(parse(&get(&strom, &playlist_path("end")).text()).ended);
}

#[test]
fn blocked_requests_above_the_per_address_cap_get_503_at_once_while_others_are_served() {
    let (strom, publisher, ll) =
        two_second_segments("cap", ("STROM_HLS__MAX_BLOCKED_REQUESTS_PER_IP", "4"));
    // Two segments ahead: held for seconds (≤ 3 × target).
    let msn = ll.segments.last().expect("a segment") + 2;
    let request = format!(
        "GET {}?_HLS_msn={msn} HTTP/1.1\r\nHost: x\r\n\r\n",
        playlist_path("cap")
    );
    let attacker = [127, 0, 0, 2];
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = connect_from(attacker, strom.http_port);
        s.write_all(request.as_bytes()).expect("request");
        held.push(s);
    }
    let four = wait_until(Duration::from_secs(5), || {
        strom
            .get("/metrics")
            .1
            .contains("strom_hls_blocked_requests 4")
    });
    assert!(four.is_some(), "{}", strom.get("/metrics").1);
    // Above the cap: refused at once.
    let mut extra = connect_from(attacker, strom.http_port);
    extra.write_all(request.as_bytes()).expect("request");
    let asked = Instant::now();
    assert_eq!(http_status(&mut extra, Duration::from_secs(3)), Some(503));
    assert!(asked.elapsed() < Duration::from_secs(2));
    // Another address is still held and served.
    let mut local = connect_from([127, 0, 0, 1], strom.http_port);
    local.write_all(request.as_bytes()).expect("request");
    assert_eq!(http_status(&mut local, Duration::from_secs(10)), Some(200));
    // The held ones are answered too (the segment came within 3 × target).
    for mut s in held {
        assert_eq!(http_status(&mut s, Duration::from_secs(10)), Some(200));
    }
    let (_, metrics) = strom.get("/metrics");
    assert!(
        metrics.contains("strom_hls_blocked_requests_refused_total 1"),
        "{metrics}"
    );
    stop(publisher);
}
