//! Scenario 23: a push target that stops reading. The server under test
//! pushes its `live/src` (published by ffmpeg) to a fake RTMP target that
//! accepts the publish and then reads nothing; players of `live/src` over
//! RTMP and RTSP must keep their full frame rate, the push must be cut by
//! the write-stall deadline (`server.write_stall_ms`) with the reason in
//! `/api/v1/pushes`, and reconnected with the backoff.

use std::time::{Duration, Instant};

use super::super::clients::{Ffmpeg, Player, FPS};
use super::super::{wait_for, wait_live, wait_tracks, Ctx};
use super::encode;
use super::fake::{Behaviour, Fake};

/// Scenario 23.
pub fn stuck_push_target(ctx: &mut Ctx) -> Result<(), String> {
    let target = Fake::start(Behaviour::RtmpStuckTarget)?;
    let _publisher = Ffmpeg::publish(ctx.server.rtmp, "src")?;
    wait_live(ctx.server, "src", Duration::from_secs(10))?;
    wait_tracks(ctx.server, "src", 2, Duration::from_secs(10))?;
    let url = format!("rtmp://127.0.0.1:{}/live/dst?key=s3cret", target.port);
    let path = format!("/api/v1/pushes?app=live&stream=src&url={}", encode(&url));
    match ctx.server.call("POST", &path)? {
        (201, _) => {}
        (status, body) => return Err(format!("POST {path}: {status} {body}")),
    }
    let n = ctx.profile.pick(2, 5);
    let mut players: Vec<Player> = (0..n)
        .map(|_| Player::start(ctx.server.rtmp, "src"))
        .collect();
    players.extend((0..n).map(|_| Player::start_rtsp(ctx.server.rtsp, "src")));
    let started = wait_for(Duration::from_secs(5), || {
        players.iter().all(|p| p.frames() > 0)
    });
    ctx.check(started.is_some(), "players saw no frame within 5 s");

    let window = Duration::from_secs(ctx.profile.pick(12, 60));
    let before: Vec<u64> = players.iter().map(Player::frames).collect();
    let t = Instant::now();
    let (mut first_cut, mut reason, mut live_seen) = (None, String::new(), false);
    while t.elapsed() < window {
        if let Some(p) = push(ctx) {
            live_seen |= p["state"] == "live";
            let why = p["last_error"].as_str().unwrap_or("");
            if first_cut.is_none() && !why.is_empty() {
                first_cut = Some(t.elapsed());
                reason = why.to_string();
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let secs = t.elapsed().as_secs_f64();
    let min_fps = players
        .iter()
        .zip(&before)
        .map(|(p, b)| (p.frames() - b) as f64 / secs)
        .fold(f64::INFINITY, f64::min);
    ctx.check(
        min_fps >= 0.9 * FPS,
        format!("a player of the pushed stream fell to {min_fps:.1} fps while the target stalled"),
    );
    for p in &players {
        let s = p.stats();
        ctx.check(
            s.error.is_none() && !s.closed,
            format!("a player of the pushed stream was disturbed: {s:?}"),
        );
    }
    ctx.check(live_seen, "the push never went live");
    ctx.check(
        first_cut.is_some() && (reason.contains("stall") || reason.contains("accepted nothing")),
        format!("the stuck target was not cut by the write stall: last_error {reason:?}"),
    );
    let pushes = ctx.server.json("/api/v1/pushes")?.to_string();
    ctx.check(
        !pushes.contains("s3cret"),
        format!("the target's key is shown: {pushes}"),
    );
    let connections = target.accepted();
    ctx.check(
        connections >= 2,
        format!("the push was not reconnected after the stall ({connections} connections)"),
    );
    ctx.figure(format!(
        "target stopped reading: push cut after {} ms ({reason}), {connections} connections in {:.0} s; {} RTMP + {} RTSP players of the stream at ≥ {min_fps:.1} fps",
        first_cut.map_or(0, |d| d.as_millis()),
        secs,
        n,
        n,
    ));
    Ok(())
}

/// The push of `live/src`, from `/api/v1/pushes`.
fn push(ctx: &Ctx) -> Option<serde_json::Value> {
    let v = ctx.server.json("/api/v1/pushes").ok()?;
    v["pushes"].as_array()?.first().cloned()
}
