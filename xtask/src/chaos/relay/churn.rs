//! Scenarios 21 and 22: proxies added and deleted over and over while
//! players come and go; pattern proxies asked for above their cap.

use std::io::Write;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::super::attack::{check_recovered, connect_from, Base};
use super::super::clients::{Player, Rng};
use super::super::{check_fps, measure_fps, wait_for, wait_live, Ctx};
use super::{
    add_proxy, delete_proxy, proxies, upstream, MAX_PATTERN_PROXIES, MAX_PATTERN_PROXIES_PER_IP,
};

/// Names the cycles reuse, so a name left held shows as a refused add.
const NAMES: u64 = 8;

/// Scenario 21: `cycles` add/delete cycles of proxies of the upstream's
/// `live/src` through the API, some left to go live, while RTMP and RTSP
/// players of those names come and go. Every add is accepted (no name left
/// held by the previous cycle), every delete answers 200; afterwards
/// `/api/v1/streams` and `/api/v1/proxies` are empty and sessions, tasks and
/// descriptors are back to the baseline.
pub fn proxy_churn(ctx: &mut Ctx) -> Result<(), String> {
    let base = Base::take(ctx)?;
    let (up, publisher) = upstream(ctx, "21-upstream")?;
    let url = format!("rtmp://127.0.0.1:{}/live/src", up.rtmp);
    let cycles = ctx.profile.pick(200, 1000);
    let mut rng = Rng::new(21);
    let mut players: Vec<(Player, u64)> = Vec::new();
    let mut gone: Vec<Player> = Vec::new();
    let (mut started, mut live, mut refused, mut frames) = (0, 0, 0, 0);
    let t = Instant::now();
    for i in 0..cycles {
        let name = format!("p{}", i % NAMES);
        if let Err(e) = add_proxy(ctx.server, &name, &url) {
            refused += 1;
            ctx.check(false, format!("cycle {i}: {e}"));
            continue;
        }
        // Most pulls are deleted while dialling or handshaking; one in
        // twenty goes live first (each takes most of a second).
        if rng.below(20) == 0 {
            let _ = wait_live(ctx.server, &name, Duration::from_secs(3)).map(|_| live += 1);
        } else {
            std::thread::sleep(Duration::from_millis(rng.below(15)));
        }
        if rng.below(4) == 0 && players.len() < 6 {
            let p = if rng.below(2) == 0 {
                Player::start(ctx.server.rtmp, &name)
            } else {
                Player::start_rtsp(ctx.server.rtsp, &name)
            };
            players.push((p, 1 + rng.below(8)));
            started += 1;
        }
        match delete_proxy(ctx.server, &name) {
            Ok(200) => {}
            other => ctx.check(false, format!("cycle {i}: delete {name}: {other:?}")),
        }
        // Players whose time is up leave; their threads are joined at the
        // end (a player still handshaking takes a moment to notice).
        for (p, left) in &mut players {
            *left -= 1;
            if *left == 0 {
                frames += p.frames();
                p.stop();
            }
        }
        let (done, stay): (Vec<_>, Vec<_>) = players.into_iter().partition(|(_, l)| *l == 0);
        gone.extend(done.into_iter().map(|(p, _)| p));
        players = stay;
    }
    frames += players.iter().map(|(p, _)| p.frames()).sum::<u64>();
    players.iter().for_each(|(p, _)| p.stop());
    drop(players);
    drop(gone);
    let churn_secs = t.elapsed().as_secs_f64();
    let empty = wait_for(Duration::from_secs(10), || {
        ctx.server.streams().is_ok_and(|s| s.is_empty())
            && proxies(ctx.server).is_ok_and(|p| p.is_empty())
    });
    ctx.check(
        empty.is_some(),
        format!(
            "names still held after the churn: streams {:?}, proxies {:?}",
            ctx.server.streams(),
            proxies(ctx.server)
        ),
    );
    // Every name is free: a proxy for each can be added (and removed) again.
    for n in 0..NAMES {
        let name = format!("p{n}");
        match add_proxy(ctx.server, &name, &url) {
            Ok(()) => {
                let _ = delete_proxy(ctx.server, &name);
            }
            Err(e) => ctx.check(false, format!("after the churn: {e}")),
        }
    }
    let after = check_recovered(ctx, &base, Duration::from_secs(10));
    ctx.figure(format!(
        "{cycles} add/delete cycles in {churn_secs:.1} s ({live} went live, {refused} adds refused), {started} players came and went ({frames} frames); streams and proxies empty in {} ms; {after}",
        empty.map_or(0, |d| d.as_millis())
    ));
    drop(publisher);
    drop(up);
    Ok(())
}

/// Scenario 22: HTTP-FLV asks from 127.0.0.2, then 127.0.0.3, for `asks`
/// names matching the `[[proxy]]` pattern `~^p(\d+)$`, held open, above
/// `relay.max_pattern_proxies` and its per-address share: the pattern
/// proxies reach the cap and never exceed it,
/// the server keeps answering the probe, and a player from 127.0.0.1 of the
/// configured proxy `live/cam` keeps its frame rate. Once the asks are gone
/// the pattern proxies retire.
pub fn pattern_cap(ctx: &mut Ctx) -> Result<(), String> {
    let base = Base::take(ctx)?;
    let (up, publisher) = upstream(ctx, "22-upstream")?;
    wait_live(ctx.server, "cam", Duration::from_secs(10))?;
    let legit = Player::start(ctx.server.rtmp, "cam");
    wait_for(Duration::from_secs(5), || legit.frames() > 0);
    let asks = ctx.profile.pick(40, 400);
    let pattern_count = |ctx: &Ctx| {
        proxies(ctx.server)
            .map(|ps| ps.iter().filter(|p| p["origin"] == "pattern").count())
            .unwrap_or(0)
    };
    let mut socks = Vec::new();
    let mut failed = 0;
    // The first half from 127.0.0.2, the rest from 127.0.0.3.
    for i in 0..asks {
        let from = Ipv4Addr::new(127, 0, 0, if i < asks / 2 { 2 } else { 3 });
        match connect_from(from, ctx.server.http, Duration::from_secs(2)) {
            Ok(mut s) => {
                let req = format!("GET /live/p{i}.live.flv HTTP/1.1\r\nHost: x\r\n\r\n");
                if s.write_all(req.as_bytes()).is_err() {
                    failed += 1;
                }
                socks.push(s);
            }
            Err(_) => failed += 1,
        }
    }
    let mut peak = 0;
    let held = Instant::now();
    let hold = Duration::from_secs(ctx.profile.pick(4, 20));
    let mut rates = Vec::new();
    while held.elapsed() < hold {
        peak = peak.max(pattern_count(ctx));
        rates.extend(measure_fps(std::slice::from_ref(&legit), 1.0));
    }
    let min = check_fps(ctx, "the player of the configured proxy", &rates);
    // One address gets its per-address share, the second the rest of the total.
    ctx.check(
        peak == MAX_PATTERN_PROXIES,
        format!(
            "{peak} pattern proxies at most, want relay.max_pattern_proxies {MAX_PATTERN_PROXIES}"
        ),
    );
    let s = legit.stats();
    ctx.check(
        s.error.is_none() && !s.closed,
        format!("legitimate player hurt: {s:?}"),
    );
    let refused_log = ctx.server.log_count("relay.max_pattern_proxies reached");
    let refused_ip = ctx
        .server
        .log_count("relay.max_pattern_proxies_per_ip reached");
    ctx.check(
        refused_ip > 0 && refused_log > 0,
        format!("refusals logged: per address {refused_ip}, in total {refused_log}"),
    );
    drop(socks);
    let retired = wait_for(Duration::from_secs(15), || pattern_count(ctx) == 0);
    ctx.check(
        retired.is_some(),
        format!(
            "{} pattern proxies left 15 s after the asks ended",
            pattern_count(ctx)
        ),
    );
    // Then the configured proxy's player and upstream leave too: back to
    // the baseline (the asks still waiting end at stream.max_stream_wait_ms).
    drop(legit);
    drop(publisher);
    drop(up);
    let after = check_recovered(ctx, &base, Duration::from_secs(15));
    ctx.figure(format!(
        "{asks} pattern asks from 127.0.0.2 and .3 ({failed} not sent): pattern proxies peak {peak} (cap {MAX_PATTERN_PROXIES}, {MAX_PATTERN_PROXIES_PER_IP} per address), refused {refused_ip} per address + {refused_log} in total (log), retired {} ms after the asks left; configured proxy's player min {min:.1} fps; {after}",
        retired.map_or(0, |d| d.as_millis())
    ));
    Ok(())
}
