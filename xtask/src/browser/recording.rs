//! Scenario 8 (issue 19): `record-get-video`, a recording downloaded into a
//! plain `<video src>` (`video.html`): no MSE, the browser's own progressive
//! MP4 playback with byte ranges. The publisher ([`super::publisher`]) is
//! recorded (`record.streams` names its stream) for a few seconds, then the
//! page plays `GET /api/v1/recordings/live/rec/get?start=…&duration=…`.
//!
//! Figures: the duration the browser read from the file (the init
//! segment's `mvhd`/`mehd`) against the one asked, how far `currentTime`
//! advanced, frames presented (rVFC) and decoded
//! (`getVideoPlaybackQuality`), and a seek to 60 % of the file (how long
//! it took, where it landed). What fails it: a media error, a duration
//! more than a GOP (plus the publisher's start) off, under a second played,
//! under 25 frames, the wrong picture size, a seek that does not land.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::node::Driver;
use super::publisher::{Publisher, FPS, GOP, SIZE};
use super::Ctx;
use crate::chaos::server::http_call;
use crate::chaos::{wait_for, wait_live};

/// The stream recorded (`STROM_RECORD__STREAMS` in [`super::run_one`]).
pub const RECORDED: &str = "rec";

/// Scenario 8.
pub fn record_get_video(ctx: &mut Ctx) -> Result<(), String> {
    let (http, rtmp) = (ctx.server.http, ctx.server.rtmp);
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let mut publisher = Publisher::start(rtmp, RECORDED)?;
    wait_live(&ctx.server, RECORDED, Duration::from_secs(10))?;
    // The recording's length: media time, not a synchronisation.
    let recorded = ctx.profile.pick(10, 40);
    std::thread::sleep(Duration::from_secs(recorded));
    ctx.check(publisher.running(), "the ffmpeg publisher stopped");
    drop(publisher);
    let asked = recorded - 4;
    let path = format!("/api/v1/recordings/live/{RECORDED}/get?start={before}&duration={asked}");
    let served = wait_for(Duration::from_secs(10), || {
        http_call(http, "HEAD", &path).is_ok_and(|(status, _)| status == 200)
    });
    if served.is_none() {
        let answer = http_call(http, "GET", &path)
            .map(|(s, b)| (s, String::from_utf8_lossy(&b).into_owned()));
        return Err(format!("the recording is not served: {answer:?}"));
    }
    let url = format!("http://127.0.0.1:{http}{path}");
    let secs = asked + 4;
    let args: Vec<String> = [
        "play",
        "--page",
        "video.html",
        "--url",
        &url,
        "--secs",
        &secs.to_string(),
        "--settle",
        "0.5",
    ]
    .map(String::from)
    .to_vec();
    let mut driver = Driver::start("video", &args)?;
    let r = driver.next_json(Duration::from_secs(40 + secs))?;
    if r["ok"] != true {
        return Err(format!(
            "video.html on {url}: {}; events {}; console {}",
            r["error"].as_str().unwrap_or("failed"),
            r["events"],
            r["log"]
        ));
    }
    let duration = r["duration"].as_f64().unwrap_or(0.0);
    let slack = (GOP / FPS) as f64 + 1.5;
    ctx.check(
        (duration - asked as f64).abs() <= slack,
        format!("duration {duration:.2} s for {asked} s asked"),
    );
    let advanced = r["advancedBeforeSeek"].as_f64().unwrap_or(0.0);
    ctx.check(
        advanced >= 1.0,
        format!("currentTime advanced {advanced:.2} s"),
    );
    let frames = r["framesPresented"].as_u64().unwrap_or(0);
    ctx.check(frames >= FPS, format!("{frames} frames presented"));
    let decoded = r["decodedFrames"].as_u64().unwrap_or(0);
    ctx.check(decoded >= FPS, format!("{decoded} frames decoded"));
    let size = (r["width"].as_u64(), r["height"].as_u64());
    ctx.check(
        size == (Some(SIZE.0), Some(SIZE.1)),
        format!("picture {size:?}"),
    );
    let seek = &r["seek"];
    let (target, landed) = (seek["target"].as_f64(), seek["landed"].as_f64());
    ctx.check(
        matches!((target, landed), (Some(t), Some(l)) if (l - t).abs() < 1.0),
        format!("seek {seek}"),
    );
    ctx.figure(format!(
        "duration {duration:.2} s (asked {asked} s), played {advanced:.2} s then seek to {} in {} ms, end at {:.2} s{}; {frames} frames presented, {decoded} decoded ({} dropped), first frame {} ms",
        target.map_or("-".into(), |t| format!("{t:.2} s")),
        seek["ms"].as_f64().map_or("-".into(), |m| format!("{m:.0}")),
        r["currentTime"].as_f64().unwrap_or(0.0),
        if r["ended"] == true { " (ended)" } else { "" },
        r["droppedFrames"],
        r["firstFrameMs"].as_f64().map_or("-".into(), |f| format!("{f:.0}")),
    ));
    Ok(())
}
