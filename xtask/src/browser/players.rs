//! Scenarios 3 to 7: the players browsers use for live video through
//! Media Source Extensions (issue 18), each in one page of `xtask/browser`
//! played by Chromium for a few seconds:
//!
//! - `hlsjs-llhls`: hls.js (npm, `lowLatencyMode`) on the fMP4 playlist
//!   with Low-Latency HLS, `/live/s/hls.fmp4.m3u8`; also `hls.latency`;
//! - `mpegts-ws-flv`: mpegts.js (npm, live, latency chasing) over
//!   WebSocket-FLV, `ws://…/live/s.live.flv`;
//! - `mpegts-ws-ts`: the same player over WebSocket-TS, `ws://…/live/s.live.ts`;
//! - `mse-http-mp4` and `mse-ws-mp4`: a plain MSE page (`mse.html`,
//!   `mp4.js`) on `.live.mp4` through fetch()'s streaming body and over
//!   WebSocket.
//!
//! The stream is the WHEP scenario's ([`super::publisher`]): 640x480 at
//! 25 fps with its frame number drawn into the picture, and an RTMP player
//! of it noting when each frame reached it ([`Reference`]). Figures: the
//! first painted frame (rVFC) from creating or attaching the player,
//! frames painted and the settled frame rate, picture size, stalls
//! (`waiting` events after the first frame), the end-to-end latency
//! (strom's ingest to Chromium's display, read from the frame numbers as in
//! [`super::whep`]) and the player's own idea of it (`hls.latency`, or the
//! buffered end minus `currentTime`).
//!
//! What fails a scenario: nothing painted, the wrong size, under 20 fps
//! settled, a player error, or first frames and latencies beyond generous
//! bounds (a machine shared with builders must not fail CI); the issue's
//! targets (LL-HLS latency under 1.5 s in hls.js, WebSocket-FLV first
//! frame under 200 ms) are reported against the figures.

use std::time::Duration;

use serde_json::Value;

use super::node::Driver;
use super::publisher::{Publisher, Reference, FPS, SIZE};
use super::{quantile, Ctx};
use crate::chaos::{wait_live, wait_tracks};

/// One player page and how it is judged.
struct Player {
    /// The page in `xtask/browser`.
    page: &'static str,
    /// The URL it plays, from strom's HTTP port and the stream's name.
    url: fn(u16, &str) -> String,
    /// Seconds played (short, `--long`).
    secs: (u64, u64),
    /// Seconds from the first frame before frames and latencies count.
    settle: f64,
    /// The first frame must come within this (a generous bound).
    max_first_ms: f64,
    /// The settled end-to-end latency's median must stay under this.
    max_latency_ms: f64,
}

/// Issue 18's targets.
const LLHLS_LATENCY_S: f64 = 1.5;
const WS_FLV_FIRST_MS: f64 = 200.0;

fn meets(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

/// Scenario 3: hls.js in low-latency mode on the fMP4 playlist.
pub fn hlsjs_llhls(ctx: &mut Ctx) -> Result<(), String> {
    let player = Player {
        page: "hlsjs.html",
        url: |http, name| format!("http://127.0.0.1:{http}/live/{name}/hls.fmp4.m3u8"),
        secs: (9, 30),
        settle: 2.0,
        max_first_ms: 10_000.0,
        max_latency_ms: 5_000.0,
    };
    let r = play(ctx, &player)?;
    let (p50, max) = (
        r["hlsLatency"]["p50"].as_f64(),
        r["hlsLatency"]["max"].as_f64(),
    );
    match (p50, max) {
        (Some(p50), Some(max)) => {
            ctx.figure(format!(
                "hls.latency p50 {p50:.2} s max {max:.2} s (target < {LLHLS_LATENCY_S} s: {}), target latency {}",
                meets(p50 < LLHLS_LATENCY_S),
                r["targetLatency"].as_f64().map_or("-".into(), |t| format!("{t:.2} s"))
            ));
            ctx.check(
                p50 * 1000.0 < player.max_latency_ms,
                format!("hls.latency p50 {p50:.2} s"),
            );
        }
        _ => ctx.check(false, "hls.latency never sampled"),
    }
    let pl = &r["playlist"];
    ctx.figure(format!(
        "playlist: parts {} s, blocking reload {}",
        pl["partTarget"], pl["canBlockReload"]
    ));
    ctx.check(
        pl["partTarget"].as_f64().is_some_and(|t| t > 0.0) && pl["canBlockReload"] == true,
        format!("hls.js saw no Low-Latency HLS playlist: {pl}"),
    );
    Ok(())
}

/// Scenario 4: mpegts.js over WebSocket-FLV.
pub fn mpegts_ws_flv(ctx: &mut Ctx) -> Result<(), String> {
    let player = Player {
        page: "mpegts.html",
        url: |http, name| format!("ws://127.0.0.1:{http}/live/{name}.live.flv"),
        secs: (5, 30),
        settle: 1.5,
        max_first_ms: 5_000.0,
        max_latency_ms: 3_000.0,
    };
    let r = play(ctx, &player)?;
    if let Some(ms) = r["firstFrameMs"].as_f64() {
        ctx.figure(format!(
            "WebSocket-FLV first frame target < {WS_FLV_FIRST_MS} ms: {} (media info after {} ms)",
            meets(ms < WS_FLV_FIRST_MS),
            r["mediaInfoMs"]
                .as_f64()
                .map_or("-".into(), |m| format!("{m:.0}"))
        ));
    }
    Ok(())
}

/// Scenario 7: mpegts.js over WebSocket-TS (the TS feed's chunks, one
/// message each).
pub fn mpegts_ws_ts(ctx: &mut Ctx) -> Result<(), String> {
    let player = Player {
        page: "mpegts.html",
        url: |http, name| format!("ws://127.0.0.1:{http}/live/{name}.live.ts"),
        secs: (5, 30),
        settle: 1.5,
        max_first_ms: 5_000.0,
        max_latency_ms: 3_000.0,
    };
    play(ctx, &player).map(|_| ())
}

/// Scenario 5: plain MSE on `.live.mp4` over HTTP (fetch's streaming body).
pub fn mse_http_mp4(ctx: &mut Ctx) -> Result<(), String> {
    mse(ctx, |http, name| {
        format!("http://127.0.0.1:{http}/live/{name}.live.mp4")
    })
}

/// Scenario 6: plain MSE on `.live.mp4` over WebSocket.
pub fn mse_ws_mp4(ctx: &mut Ctx) -> Result<(), String> {
    mse(ctx, |http, name| {
        format!("ws://127.0.0.1:{http}/live/{name}.live.mp4")
    })
}

fn mse(ctx: &mut Ctx, url: fn(u16, &str) -> String) -> Result<(), String> {
    let player = Player {
        page: "mse.html",
        url,
        secs: (5, 30),
        settle: 1.5,
        max_first_ms: 5_000.0,
        max_latency_ms: 3_000.0,
    };
    let r = play(ctx, &player)?;
    ctx.figure(format!(
        "codecs \"{}\", {} appends, {} trims, {} jumps to the live edge",
        r["codecs"].as_str().unwrap_or("?"),
        r["appended"],
        r["trims"],
        r["jumps"]
    ));
    ctx.check(
        r["codecs"]
            .as_str()
            .is_some_and(|c| c.starts_with("avc1.42") && c.contains("mp4a.40.2")),
        format!("codecs {} for H.264 baseline and AAC", r["codecs"]),
    );
    Ok(())
}

/// Publishes, plays `player` in Chromium, checks and reports what every
/// player shares; the page's report for the scenario's own figures.
fn play(ctx: &mut Ctx, player: &Player) -> Result<Value, String> {
    let secs = ctx.profile.pick(player.secs.0, player.secs.1);
    let name = "gop2s";
    let (http, rtmp) = (ctx.server.http, ctx.server.rtmp);
    let mut publisher = Publisher::start(rtmp, name)?;
    wait_live(&ctx.server, name, Duration::from_secs(10))?;
    wait_tracks(&ctx.server, name, 2, Duration::from_secs(10))?;
    let reference = Reference::start(rtmp, name);
    let url = (player.url)(http, name);
    let args: Vec<String> = [
        "play",
        "--page",
        player.page,
        "--url",
        &url,
        "--secs",
        &secs.to_string(),
        "--settle",
        &player.settle.to_string(),
    ]
    .map(String::from)
    .to_vec();
    let tag = player.page.trim_end_matches(".html");
    let mut driver = Driver::start(tag, &args)?;
    let report = driver.next_json(Duration::from_secs(40 + secs))?;
    ctx.check(publisher.running(), "the ffmpeg publisher stopped");
    if let Some(e) = reference.error() {
        ctx.check(false, format!("reference RTMP player: {e}"));
    }
    if report["ok"] != true {
        return Err(format!(
            "{} on {url}: {}; events {}; console {}",
            player.page,
            report["error"].as_str().unwrap_or("failed"),
            report["events"],
            report["log"]
        ));
    }
    let first = report["firstFrameMs"].as_f64();
    match first {
        Some(ms) => ctx.check(
            ms < player.max_first_ms,
            format!("first frame after {ms:.0} ms"),
        ),
        None => ctx.check(
            false,
            format!("no frame painted; events {}", report["events"]),
        ),
    }
    let size = (report["width"].as_u64(), report["height"].as_u64());
    ctx.check(
        size == (Some(SIZE.0), Some(SIZE.1)),
        format!("picture {size:?}, published {}x{}", SIZE.0, SIZE.1),
    );
    let fps = report["fps"].as_f64().unwrap_or(0.0);
    let fps_floor = 0.8 * FPS as f64;
    ctx.check(
        fps >= fps_floor,
        format!("{fps:.1} fps settled < {fps_floor} fps"),
    );
    ctx.figure(format!(
        "first frame {} ms; {}x{} {} frames in {secs} s, {fps:.1} fps settled, {} stalls",
        first.map_or("-".into(), |f| format!("{f:.0}")),
        size.0.unwrap_or(0),
        size.1.unwrap_or(0),
        report["framesPresented"],
        report["stalls"]
    ));
    let empty = Vec::new();
    let shown: Vec<(u64, u64)> = report["numbered"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .filter_map(|p| Some((p[0].as_u64()?, p[1].as_u64()?)))
        .collect();
    let e2e: Vec<f64> = reference
        .latencies(&shown)
        .into_iter()
        .map(|l| l as f64)
        .collect();
    if e2e.is_empty() {
        ctx.check(
            false,
            "no frame number read back from the picture: no end-to-end latency",
        );
    } else {
        let (l50, l95) = (quantile(&e2e, 0.5), quantile(&e2e, 0.95));
        ctx.figure(format!(
            "latency settled p50 {l50:.0} ms p95 {l95:.0} ms over {} frames",
            e2e.len()
        ));
        ctx.check(
            l50 < player.max_latency_ms,
            format!("settled latency p50 {l50:.0} ms"),
        );
    }
    let buffered = &report["bufferedLatency"];
    if let (Some(p50), Some(max)) = (buffered["p50"].as_f64(), buffered["max"].as_f64()) {
        ctx.figure(format!(
            "buffered ahead p50 {:.0} ms max {:.0} ms",
            p50 * 1000.0,
            max * 1000.0
        ));
    }
    Ok(report)
}
