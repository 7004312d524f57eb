//! Scenarios 18 and 19: the upstream strom dies and comes back, or freezes,
//! under an RTMP pull (`live/r`) and an RTSP pull (`live/t`) of its `live/src`.

use std::time::{Duration, Instant};

use super::super::clients::{Ffmpeg, Player};
use super::super::server::Server;
use super::super::{wait_for, wait_live, wait_tracks, Ctx};
use super::{add_proxy, proxy, upstream, wait_state, CONTINUE_PUSH_MS, NO_MEDIA_SECS, STABLE_SECS};

/// The two pulls of the upstream's `live/src`: `live/r` over RTMP, `live/t` over RTSP.
fn pulls(ctx: &Ctx, up: &Server) -> Result<(), String> {
    add_proxy(
        ctx.server,
        "r",
        &format!("rtmp://127.0.0.1:{}/live/src", up.rtmp),
    )?;
    add_proxy(
        ctx.server,
        "t",
        &format!("rtsp://127.0.0.1:{}/live/src", up.rtsp),
    )?;
    wait_live(ctx.server, "r", Duration::from_secs(10))?;
    wait_live(ctx.server, "t", Duration::from_secs(10))?;
    // RTSP players join once both tracks are known (see `wait_tracks`).
    wait_tracks(ctx.server, "t", 2, Duration::from_secs(10))
}

/// Scenario 18: the upstream strom SIGKILLed and restarted on its ports
/// (its ffmpeg publisher with it), `rounds` times: the relay's players over
/// RTMP (of the RTMP pull) and RTSP (of the RTSP pull) stay attached, their
/// timestamps never go back, and frames flow again within the backoff.
pub fn upstream_restart(ctx: &mut Ctx) -> Result<(), String> {
    let (mut up, mut publisher) = upstream(ctx, "18-upstream")?;
    pulls(ctx, &up)?;
    let n = ctx.profile.pick(2, 5);
    let mut players: Vec<Player> = (0..n)
        .map(|_| Player::start(ctx.server.rtmp, "r"))
        .collect();
    players.extend((0..n).map(|_| Player::start_rtsp(ctx.server.rtsp, "t")));
    let started = wait_for(Duration::from_secs(5), || {
        players.iter().all(|p| p.frames() > 0)
    });
    ctx.check(started.is_some(), "relay players saw no frame within 5 s");
    let rounds = ctx.profile.pick(2, 10);
    let (mut worst_resume, mut worst_live) = (Duration::ZERO, Duration::ZERO);
    let mut restart_ms = 0;
    for _ in 0..rounds {
        // Live past relay.stable_secs, so each kill starts from the first
        // backoff step, as an upstream that ran a while would.
        std::thread::sleep(Duration::from_millis(STABLE_SECS * 1000 + 500));
        let before: Vec<u64> = players.iter().map(Player::frames).collect();
        let t = Instant::now();
        restart_ms = restart_ms.max(up.restart()?.as_millis());
        drop(publisher);
        publisher = Ffmpeg::publish(up.rtmp, "src")?;
        // Frames again on every player: resumed through the relay.
        let resumed = wait_for(Duration::from_millis(CONTINUE_PUSH_MS + 3000), || {
            players.iter().zip(&before).all(|(p, b)| p.frames() > b + 5)
        });
        let live = ["r", "t"]
            .iter()
            .map(|s| wait_state(ctx.server, s, "live", Duration::from_secs(10)))
            .collect::<Option<Vec<_>>>();
        match (resumed, live) {
            (Some(_), Some(_)) => {
                worst_resume = worst_resume.max(t.elapsed());
                worst_live = worst_live.max(t.elapsed());
            }
            (r, l) => {
                ctx.check(
                    false,
                    format!(
                        "after the upstream restart: players resumed {:?}, proxies live {:?}: r {:?}, t {:?}",
                        r.is_some(),
                        l.is_some(),
                        proxy(ctx.server, "r"),
                        proxy(ctx.server, "t")
                    ),
                );
                break;
            }
        }
    }
    // Waiting for both pulls ends on one of them: players resume within
    // continue_push_ms, or they were dropped.
    ctx.check(
        worst_resume <= Duration::from_millis(CONTINUE_PUSH_MS),
        format!(
            "players resumed {} ms after the kill > continue_push_ms {CONTINUE_PUSH_MS}",
            worst_resume.as_millis()
        ),
    );
    for p in &players {
        let s = p.stats();
        ctx.check(
            s.error.is_none() && !s.closed && s.ts_regressions == 0,
            format!("relay player disturbed by the upstream restart: {s:?}"),
        );
    }
    ctx.figure(format!(
        "{rounds} upstream kill+restart (strom back in ≤ {restart_ms} ms): {} RTMP + {} RTSP relay players kept, frames again ≤ {} ms, timestamps monotonic; attempts rtmp {} rtsp {}",
        n,
        n,
        worst_resume.as_millis(),
        attempts(ctx.server, "r"),
        attempts(ctx.server, "t")
    ));
    drop(players);
    drop(publisher);
    Ok(())
}

/// Scenario 19: the upstream strom SIGSTOPped: both pulls are closed at
/// `relay.no_media_secs` (measured from the stop to the API showing the
/// attempt ended), the relay keeps answering; after SIGCONT the pulls are
/// live again.
pub fn upstream_frozen(ctx: &mut Ctx) -> Result<(), String> {
    let (up, mut publisher) = upstream(ctx, "19-upstream")?;
    pulls(ctx, &up)?;
    let player = Player::start(ctx.server.rtmp, "r");
    wait_for(Duration::from_secs(5), || player.frames() > 0);
    std::thread::sleep(Duration::from_millis(500));
    let (ar, at) = (attempts(ctx.server, "r"), attempts(ctx.server, "t"));
    let t = Instant::now();
    up.signal("STOP")?;
    let mut closed = [None, None];
    wait_for(Duration::from_secs(NO_MEDIA_SECS + 5), || {
        for (i, s) in ["r", "t"].iter().enumerate() {
            if closed[i].is_none() {
                let p = proxy(ctx.server, s);
                let ended = p
                    .as_ref()
                    .is_some_and(|p| p["state"] != "live" && !p["last_error"].is_null());
                if ended {
                    closed[i] = Some((t.elapsed(), p.map(|p| p["last_error"].clone())));
                }
            }
        }
        closed.iter().all(Option::is_some)
    });
    up.signal("CONT")?;
    let no_media = Duration::from_secs(NO_MEDIA_SECS);
    let mut reasons = Vec::new();
    for (s, c) in ["rtmp", "rtsp"].iter().zip(&closed) {
        match c {
            Some((took, why)) => {
                ctx.check(
                    *took >= no_media.saturating_sub(Duration::from_millis(300))
                        && *took <= no_media + Duration::from_millis(1500),
                    format!(
                        "{s} pull closed {} ms after SIGSTOP, not at no_media_secs {NO_MEDIA_SECS} s",
                        took.as_millis()
                    ),
                );
                reasons.push(format!("{s} closed at {} ms ({why:?})", took.as_millis()));
            }
            None => ctx.check(
                false,
                format!(
                    "{s} pull not closed within {} s of SIGSTOP",
                    NO_MEDIA_SECS + 5
                ),
            ),
        }
    }
    // Back: the upstream runs again (its publisher may have been cut while
    // frozen: publish again if so).
    if publisher.wait_exit(Duration::ZERO) {
        publisher = Ffmpeg::publish(up.rtmp, "src")?;
    }
    let t = Instant::now();
    let back = ["r", "t"]
        .iter()
        .all(|s| wait_state(ctx.server, s, "live", Duration::from_secs(15)).is_some());
    ctx.check(back, "pulls not live again within 15 s of SIGCONT");
    ctx.figure(format!(
        "upstream SIGSTOPped (no_media_secs {NO_MEDIA_SECS}): {}; live again {} ms after SIGCONT; attempts rtmp {}→{}, rtsp {}→{}",
        reasons.join(", "),
        t.elapsed().as_millis(),
        ar,
        attempts(ctx.server, "r"),
        at,
        attempts(ctx.server, "t")
    ));
    drop(player);
    drop(publisher);
    Ok(())
}

/// The proxy's attempts so far (0 when not listed).
fn attempts(server: &Server, stream: &str) -> u64 {
    proxy(server, stream)
        .and_then(|p| p["attempts"].as_u64())
        .unwrap_or(0)
}
