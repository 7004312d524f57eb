//! Scenarios 1, 2, 3 and 9: publishers that collide, die, freeze, and a
//! server told to stop under load.

use std::time::{Duration, Instant};

use rtmp_proto::ClientMode;

use super::clients::{rtmp_connect, Ffmpeg, Player};
use super::server::{signal, KEEP_ALIVE_SECS, SHUTDOWN_GRACE_SECS};
use super::{check_fps, measure_fps, wait_for, wait_live, Ctx};

const LIVE: Duration = Duration::from_secs(10);

/// Scenario 1: A second publisher while the first is live is refused at once with a
/// clear error; the first and its players keep their frame rate.
pub fn duplicate_publisher(ctx: &mut Ctx) -> Result<(), String> {
    let rtmp = ctx.server.rtmp;
    let _first = Ffmpeg::publish(rtmp, "dup")?;
    let id = wait_live(ctx.server, "dup", LIVE)?;
    let players: Vec<Player> = (0..ctx.profile.pick(3, 10))
        .map(|_| Player::start(rtmp, "dup"))
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let attempts = ctx.profile.pick(3, 20);
    let mut worst = Duration::ZERO;
    let mut code = String::new();
    for _ in 0..attempts {
        let t = Instant::now();
        let r = rtmp_connect(rtmp, "dup", ClientMode::Publish, Duration::from_secs(3));
        worst = worst.max(t.elapsed());
        match r {
            Err(e) if e.starts_with("rejected") => code = e,
            Err(e) => ctx.check(false, format!("duplicate publisher: no clear refusal: {e}")),
            Ok(_) => ctx.check(false, "duplicate publisher was accepted"),
        }
    }
    ctx.check(
        worst < Duration::from_secs(1),
        format!("refusal took {} ms", worst.as_millis()),
    );
    let rates = measure_fps(&players, ctx.profile.pick(4.0, 20.0));
    let min = check_fps(ctx, "players of the first publisher", &rates);
    let still = ctx.server.stream("dup")?;
    let same = still
        .as_ref()
        .and_then(|s| s["publisher"]["session_id"].as_u64())
        == Some(id);
    ctx.check(same, format!("first publisher replaced or gone: {still:?}"));
    for p in &players {
        let s = p.stats();
        ctx.check(
            s.error.is_none() && !s.closed && s.ts_regressions == 0,
            format!("player disturbed: {s:?}"),
        );
    }
    ctx.figure(format!(
        "{attempts} duplicates refused in ≤ {} ms ({code}); players min {min:.1} fps",
        worst.as_millis()
    ));
    Ok(())
}

/// Scenario 2: A publisher SIGKILLed mid-stream: a new publisher is accepted at once;
/// players that stayed resume without reconnecting, timestamps non-decreasing.
pub fn publisher_killed(ctx: &mut Ctx) -> Result<(), String> {
    let rtmp = ctx.server.rtmp;
    let rounds = ctx.profile.pick(1, 5);
    let players: Vec<Player> = (0..ctx.profile.pick(3, 10))
        .map(|_| Player::start(rtmp, "kill"))
        .collect();
    let mut old = Ffmpeg::publish(rtmp, "kill")?;
    let mut id = wait_live(ctx.server, "kill", LIVE)?;
    let mut worst = Duration::ZERO;
    let mut min_fps = f64::INFINITY;
    for _ in 0..rounds {
        std::thread::sleep(Duration::from_millis(1500));
        signal(old.pid(), "KILL")?;
        let t = Instant::now();
        let new = Ffmpeg::publish(rtmp, "kill")?;
        let mut new_id = None;
        wait_for(Duration::from_secs(5), || {
            new_id = ctx
                .server
                .stream("kill")
                .ok()
                .flatten()
                .and_then(|s| s["publisher"]["session_id"].as_u64())
                .filter(|n| *n != id);
            new_id.is_some()
        });
        let took = t.elapsed();
        worst = worst.max(took);
        let Some(n) = new_id else {
            return Err("the new publisher was not accepted within 5 s".into());
        };
        // ffmpeg itself needs a few hundred ms to start and connect.
        ctx.check(
            took < Duration::from_secs(2),
            format!("new publisher accepted after {} ms", took.as_millis()),
        );
        id = n;
        old = new;
        std::thread::sleep(Duration::from_millis(1000));
        let rates = measure_fps(&players, ctx.profile.pick(3.0, 5.0));
        min_fps = min_fps.min(check_fps(ctx, "players after the takeover", &rates));
    }
    drop(old);
    for p in &players {
        let s = p.stats();
        ctx.check(
            s.error.is_none() && !s.closed && s.ts_regressions == 0,
            format!("player did not resume cleanly: {s:?}"),
        );
    }
    ctx.figure(format!(
        "{rounds} kills; newcomer live ≤ {} ms; {} players resumed min {min_fps:.1} fps, ts monotonic",
        worst.as_millis(),
        players.len()
    ));
    Ok(())
}

/// Scenario 3: A publisher frozen by SIGSTOP (socket open): within keep_alive_secs
/// (+1 s) the stream is taken over by a newcomer; after SIGCONT the old
/// one is closed.
pub fn publisher_frozen(ctx: &mut Ctx) -> Result<(), String> {
    let rtmp = ctx.server.rtmp;
    let mut old = Ffmpeg::publish(rtmp, "frozen")?;
    wait_live(ctx.server, "frozen", LIVE)?;
    std::thread::sleep(Duration::from_millis(1000));
    signal(old.pid(), "STOP")?;
    let t = Instant::now();
    let limit = Duration::from_secs(KEEP_ALIVE_SECS + 1);
    let mut newcomer = None;
    let mut refusals = 0;
    while t.elapsed() < limit + Duration::from_secs(2) {
        match rtmp_connect(rtmp, "frozen", ClientMode::Publish, Duration::from_secs(2)) {
            Ok(c) => {
                newcomer = Some(c);
                break;
            }
            Err(_) => refusals += 1,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let took = t.elapsed();
    ctx.check(
        newcomer.is_some() && took <= limit,
        format!(
            "newcomer not accepted within {} s (took {} ms)",
            limit.as_secs(),
            took.as_millis()
        ),
    );
    signal(old.pid(), "CONT")?;
    let t2 = Instant::now();
    let exited = old.wait_exit(Duration::from_secs(6));
    ctx.check(exited, "the old publisher was not closed after SIGCONT");
    drop(newcomer);
    ctx.figure(format!(
        "taken over after {} ms ({refusals} refusals before); old closed {} ms after SIGCONT",
        took.as_millis(),
        t2.elapsed().as_millis()
    ));
    Ok(())
}

/// Scenario 9: SIGTERM under load: the server exits within shutdown_grace_secs and
/// players are told the stream ended.
pub fn sigterm_under_load(ctx: &mut Ctx) -> Result<(), String> {
    let rtmp = ctx.server.rtmp;
    let _publisher = Ffmpeg::publish(rtmp, "term")?;
    wait_live(ctx.server, "term", LIVE)?;
    let players: Vec<Player> = (0..ctx.profile.pick(5, 20))
        .map(|_| Player::start(rtmp, "term"))
        .collect();
    std::thread::sleep(Duration::from_millis(ctx.profile.pick(2000, 10_000)));
    let rates = measure_fps(&players, 1.0);
    check_fps(ctx, "players before SIGTERM", &rates);
    ctx.stop_probe();
    ctx.server.signal("TERM")?;
    let t = Instant::now();
    let status = ctx
        .server
        .wait_exit(Duration::from_secs(SHUTDOWN_GRACE_SECS + 1));
    let took = t.elapsed();
    ctx.check(
        status.is_some_and(|s| s.success()),
        format!(
            "no clean exit within {} s: {status:?}",
            SHUTDOWN_GRACE_SECS + 1
        ),
    );
    std::thread::sleep(Duration::from_millis(300));
    let told = players.iter().filter(|p| p.stats().told_ended).count();
    ctx.check(
        told == players.len(),
        format!("{told} of {} players told the stream ended", players.len()),
    );
    ctx.figure(format!(
        "exit {:?} in {} ms; {told}/{} players told the stream ended",
        status.and_then(|s| s.code()),
        took.as_millis(),
        players.len()
    ));
    Ok(())
}
