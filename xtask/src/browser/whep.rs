//! Scenario 1, `whep-play`: Chromium plays an RTMP-published stream over
//! WHEP, joining several times at random points of its 2 s GOP.
//!
//! Latency, two ways, both over the frames presented from 1.5 s after a
//! join's first frame ("settled"):
//! - end to end (the figure held against the 300 ms target): the picture
//!   carries its frame number ([`super::publisher`]); the page reads it
//!   from each presented frame and notes rVFC's `expectedDisplayTime` as
//!   wall-clock time; an RTMP player of the same stream ([`Reference`])
//!   notes when each frame reached it. The difference is what WebRTC adds
//!   over a plain RTMP player (server, network, jitter buffer, decode,
//!   render): on loopback the RTMP player gets each frame as strom
//!   ingests it, so this is strom's ingest to Chromium's display;
//! - receiver only: rVFC's `expectedDisplayTime - receiveTime`, and the
//!   mean jitter-buffer delay of `getStats()`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::node::Driver;
use super::publisher::{Publisher, Reference, FPS, SIZE};
use super::{quantile, Ctx};
use crate::chaos::clients::Rng;
use crate::chaos::{wait_live, wait_tracks};

/// Issue 17's targets.
const FIRST_FRAME_MS: f64 = 500.0;
const LATENCY_MS: f64 = 300.0;
/// Seconds from a join's first frame before its frames count as settled.
const SETTLE_SECS: f64 = 1.5;

/// Scenario 1 (see the module documentation).
pub fn whep_play(ctx: &mut Ctx) -> Result<(), String> {
    let joins = ctx.profile.pick(3, 10);
    let secs = ctx.profile.pick(4, 10);
    let name = "gop2s";
    let (http, rtmp) = (ctx.server.http, ctx.server.rtmp);
    let mut publisher = Publisher::start(rtmp, name)?;
    wait_live(&ctx.server, name, Duration::from_secs(10))?;
    wait_tracks(&ctx.server, name, 2, Duration::from_secs(10))?;
    let reference = Reference::start(rtmp, name);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let mut rng = Rng::new(seed);
    // Waits before each join: random points of the GOP.
    let delays: Vec<String> = (0..joins)
        .map(|_| (200 + rng.below(2000)).to_string())
        .collect();
    let url = format!("http://127.0.0.1:{http}/live/{name}/whep");
    let args: Vec<String> = [
        "whep",
        "--url",
        &url,
        "--delays",
        &delays.join(","),
        "--secs",
        &secs.to_string(),
        "--settle",
        &SETTLE_SECS.to_string(),
    ]
    .map(String::from)
    .to_vec();
    let mut driver = Driver::start("whep", &args)?;
    let budget = Duration::from_secs(30 + joins * (secs + 5));
    let report = driver.next_json(budget)?;
    if let Some(e) = report["error"].as_str() {
        return Err(format!("browser: {e}"));
    }
    ctx.check(publisher.running(), "the ffmpeg publisher stopped");
    if let Some(e) = reference.error() {
        ctx.check(false, format!("reference RTMP player: {e}"));
    }
    let mut first = Vec::new();
    let (mut e2e, mut receiver, mut jitter) = (Vec::new(), Vec::new(), Vec::new());
    let (mut min_fps, mut min_audio) = (f64::INFINITY, u64::MAX);
    let (mut freezes, mut dropped) = (0, 0);
    let empty = Vec::new();
    for (i, j) in report["joins"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .enumerate()
    {
        let who = format!("join {i} (after {} ms)", j["delayMs"]);
        if j["ok"] != true {
            ctx.check(
                false,
                format!("{who}: {}", j["error"].as_str().unwrap_or("failed")),
            );
            continue;
        }
        match j["firstFrameMs"].as_f64() {
            Some(ms) => first.push(ms),
            None => ctx.check(
                false,
                format!("{who}: no frame painted; events {}", j["events"]),
            ),
        }
        let size = (j["width"].as_u64(), j["height"].as_u64());
        ctx.check(
            size == (Some(SIZE.0), Some(SIZE.1)),
            format!("{who}: picture {size:?}, published {}x{}", SIZE.0, SIZE.1),
        );
        let fps = j["fps"].as_f64().unwrap_or(0.0);
        min_fps = min_fps.min(fps);
        let audio = &j["audio"];
        let packets = audio["packetsReceived"].as_u64().unwrap_or(0);
        min_audio = min_audio.min(packets);
        ctx.check(
            audio["track"] == true
                && packets > 0
                && audio["totalSamplesReceived"].as_u64() > Some(0),
            format!("{who}: no audio: {audio}"),
        );
        freezes += j["video"]["freezeCount"].as_u64().unwrap_or(0);
        dropped += j["video"]["framesDropped"].as_u64().unwrap_or(0);
        receiver.extend(j["recvToDisplayMs"].as_f64());
        jitter.extend(j["video"]["jitterBufferMs"].as_f64());
        let shown: Vec<(u64, u64)> = j["numbered"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .filter_map(|p| Some((p[0].as_u64()?, p[1].as_u64()?)))
            .collect();
        e2e.extend(reference.latencies(&shown).into_iter().map(|l| l as f64));
    }
    let got = report["joins"].as_array().map_or(0, Vec::len);
    ctx.check(
        got == delays.len(),
        format!("{got} of {} joins reported", delays.len()),
    );
    let fps_floor = 0.8 * FPS as f64;
    ctx.check(
        min_fps >= fps_floor,
        format!("a join presented {min_fps:.1} fps < {fps_floor} fps"),
    );
    let meets = |ok: bool| if ok { "met" } else { "MISSED" };
    let (p50, max) = (quantile(&first, 0.5), quantile(&first, 1.0));
    ctx.figure(format!(
        "{} joins: first frame p50 {p50:.0} ms max {max:.0} ms (target < {FIRST_FRAME_MS} ms: {})",
        first.len(),
        meets(!first.is_empty() && max < FIRST_FRAME_MS)
    ));
    ctx.figure(format!(
        "{}x{} at >= {min_fps:.1} fps, {freezes} freezes, {dropped} dropped",
        SIZE.0, SIZE.1
    ));
    ctx.figure(format!("audio >= {min_audio} packets"));
    if e2e.is_empty() {
        ctx.check(
            false,
            "no frame number read back from the picture: no end-to-end latency",
        );
    } else {
        let (l50, l95) = (quantile(&e2e, 0.5), quantile(&e2e, 0.95));
        ctx.figure(format!(
            "latency settled p50 {l50:.0} ms p95 {l95:.0} ms over {} frames (target < {LATENCY_MS} ms: {})",
            e2e.len(),
            meets(l50 < LATENCY_MS)
        ));
    }
    ctx.figure(format!(
        "receiver display-receive p50 {:.0} ms, jitter buffer mean {:.0} ms",
        quantile(&receiver, 0.5),
        quantile(&jitter, 0.5)
    ));
    Ok(())
}
