//! Scenario 1: any viewer on any node, over every protocol.

use std::time::{Duration, Instant};

use super::clients::{ffprobe, quantile_ms, time_until, urls, FlvPlayer};
use super::{settle, upstreams, Ctx};
use crate::chaos::clients::{Ffmpeg, Player};
use crate::chaos::wait_live;

/// Issue 16's targets: first frame on an edge, p95 (first player / once the relay runs).
const FIRST_P95_MS: u128 = 300;
const LATER_P95_MS: u128 = 50;

/// Scenario 1: streams published (ffmpeg, RTMP) on A are played on B and C:
/// ffprobe sees video and audio over RTMP, RTSP, HTTP-FLV, HTTP-TS and HLS
/// on both edges (and on A, the reference); the first player on an edge (RTMP on B, HTTP-FLV on C)
/// and later players (the relay running) are timed to their first frame.
/// The times are reported against the targets, not failed on.
pub fn every_protocol(ctx: &mut Ctx) -> Result<(), String> {
    let streams = ctx.profile.pick(3, 20);
    let probed = ctx.profile.pick(1, 3);
    let (mut first, mut later) = (Vec::new(), Vec::new());
    let mut claim = Duration::ZERO;
    let mut publishers = Vec::new();
    let mut players = Vec::new();
    let mut flv = Vec::new();
    for i in 0..streams {
        let name = format!("p{i}");
        publishers.push(Ffmpeg::publish(ctx.node(0).rtmp, &name)?);
        wait_live(ctx.node(0), &name, Duration::from_secs(10))?;
        let t = Instant::now();
        ctx.wait_owner(&name, "a", Duration::from_secs(5))
            .ok_or_else(|| {
                format!(
                    "live/{name} not claimed by a in etcd: {:?}",
                    ctx.owner(&name)
                )
            })?;
        claim = claim.max(t.elapsed());
        // A GOP in the owner's cache, as for any live stream.
        settle(1200);
        // B: the first player over RTMP starts the relay, two more follow.
        for (k, node) in [(0, 1), (1, 1), (2, 1)] {
            let p = Player::start(ctx.node(node).rtmp, &name);
            match time_until(Duration::from_secs(10), || p.frames() > 0) {
                Some(d) if k == 0 => first.push(d),
                Some(d) => later.push(d),
                None => ctx.check(
                    false,
                    format!(
                        "RTMP player of {name} on b: no frame in 10 s: {:?}",
                        p.stats()
                    ),
                ),
            }
            players.push(p);
        }
        // C: the first player over HTTP-FLV, then one more.
        for k in 0..2 {
            let t = Instant::now();
            let p = FlvPlayer::start(ctx.node(2).http, &name);
            match time_until(Duration::from_secs(10), || p.first_frame().is_some()) {
                Some(_) => {
                    let d = p.first_frame().map_or(Duration::ZERO, |f| f - t);
                    if k == 0 {
                        first.push(d)
                    } else {
                        later.push(d)
                    }
                }
                None => ctx.check(
                    false,
                    format!(
                        "HTTP-FLV player of {name} on c: no frame in 10 s: {:?}",
                        p.stats()
                    ),
                ),
            }
            flv.push(p);
        }
        if i >= probed {
            // Only the probed streams stay up: more ffmpeg encoders would
            // take the cores the servers run on.
            check_players(ctx, players.get(probed * 3..), flv.get(probed * 2..));
            players.truncate(probed * 3);
            flv.truncate(probed * 2);
            publishers.truncate(probed);
        }
    }
    // Every protocol on both edges, probed at once.
    let mut jobs = Vec::new();
    for i in 0..probed {
        for node in [0, 1, 2] {
            for (proto, url) in urls(ctx.node(node), &format!("p{i}")) {
                jobs.push((node, proto, std::thread::spawn(move || probe_until(&url))));
            }
        }
    }
    let mut ok = 0;
    for (node, proto, job) in jobs {
        let r = job
            .join()
            .unwrap_or_else(|_| Err("the probe thread panicked".into()));
        match r {
            Ok(kinds) if kinds == ["audio", "video"] => ok += 1,
            Ok(kinds) => ctx.check(
                false,
                format!("{proto} on {}: only {kinds:?}", super::NAMES[node]),
            ),
            Err(e) => ctx.check(false, format!("{proto} on {}: {e}", super::NAMES[node])),
        }
    }
    settle(1000);
    // One upstream per stream per edge, however many players.
    let ports: Vec<u16> = ctx.nodes.iter().map(|n| n.rtmp).collect();
    for node in [1, 2] {
        match upstreams(ctx.node(node), &ports) {
            Ok(u) => ctx.check(
                (0..probed).all(|i| u.get(&format!("live/p{i}")) == Some(&1))
                    && u.values().all(|n| *n <= 1),
                format!(
                    "upstreams on {}: {u:?} (one per stream played expected)",
                    super::NAMES[node]
                ),
            ),
            Err(e) => ctx.check(false, e),
        }
    }
    check_players(ctx, Some(&players), Some(&flv));
    let (f50, f95) = (quantile_ms(&first, 0.5), quantile_ms(&first, 0.95));
    let (l50, l95) = (quantile_ms(&later, 0.5), quantile_ms(&later, 0.95));
    let met = |v: u128, t: u128| if v <= t { "met" } else { "NOT met" };
    ctx.figure(format!(
        "{streams} streams on a, claimed ≤ {} ms; ffprobe a+v {ok}/{} (5 protocols × a, b, c × {probed} streams)",
        claim.as_millis(),
        probed * 15
    ));
    ctx.figure(format!(
        "first frame on an edge: first player p50 {f50} p95 {f95} ms (n {}, target ≤ {FIRST_P95_MS}: {}), later p50 {l50} p95 {l95} ms (n {}, target ≤ {LATER_P95_MS}: {})",
        first.len(),
        met(f95, FIRST_P95_MS),
        later.len(),
        met(l95, LATER_P95_MS)
    ));
    Ok(())
}

/// Every player of the slices got frames, is still attached, and saw no
/// timestamp go back.
fn check_players(ctx: &mut Ctx, rtmp: Option<&[Player]>, flv: Option<&[FlvPlayer]>) {
    let rtmp = rtmp.unwrap_or_default().iter().map(|p| ("RTMP", p.stats()));
    let flv = flv
        .unwrap_or_default()
        .iter()
        .map(|p| ("HTTP-FLV", p.stats()));
    for (what, s) in rtmp.chain(flv) {
        ctx.check(
            s.error.is_none() && !s.closed && s.ts_regressions == 0 && s.video_frames > 0,
            format!("{what} edge player disturbed: {s:?}"),
        );
    }
}

/// ffprobe `url` until it sees something or 20 s pass (HLS needs its first
/// segments; an edge's relay needs its first GOP).
fn probe_until(url: &str) -> Result<Vec<String>, String> {
    let t = Instant::now();
    loop {
        match ffprobe(url) {
            Ok(k) if k.len() >= 2 || t.elapsed() > Duration::from_secs(20) => return Ok(k),
            Err(e) if t.elapsed() > Duration::from_secs(20) => return Err(e),
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}
