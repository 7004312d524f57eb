//! Scenario 26, whip-replaced: a Chromium WHIP publisher (fake camera and
//! microphone) is SIGKILLed mid-stream; its session must be gone within
//! `webrtc.peer_timeout_ms`, and a second Chromium WHIP publisher then
//! takes the name. The stream's RTMP and HTTP-FLV players are kept
//! through it (the stream lingers `stream.continue_push_ms`), see frames
//! again, and their video timestamps never go backwards.

use std::time::{Duration, Instant};

use super::super::attack::{check_recovered, Base};
use super::super::clients::Player;
use super::super::{wait_for, wait_live, wait_tracks, Ctx};
use super::vanish::SLACK_MS;
use super::{flv, wait_gone_at, Browser, CONTINUE_PUSH_MS, PEER_TIMEOUT_MS};

/// Longest a WHIP publisher runs (it is killed or dropped long before).
const PUBLISH_SECS: u64 = 120;

/// Tries of the replacing publisher refused 409 (the dead one not stale yet).
const TRIES: u32 = 4;

/// A WHIP publisher of `live/<name>` that got the name: it, its connection
/// time, the tries it took.
fn replacement(http: u16, name: &str) -> Result<(Browser, f64, u32), String> {
    let mut last = String::new();
    for t in 1..=TRIES {
        let mut b = Browser::whip(&format!("26-second-{t}"), http, name, PUBLISH_SECS)?;
        match b.publishing(Duration::from_secs(30)) {
            Ok(ms) => return Ok((b, ms, t)),
            Err(e) if e.contains("409") => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(format!(
        "the replacing publisher refused {TRIES} times: {last}"
    ))
}

/// Scenario 26.
pub fn whip_replaced(ctx: &mut Ctx) -> Result<(), String> {
    let name = "whip";
    let (http, rtmp) = (ctx.server.http, ctx.server.rtmp);
    let mut first = Browser::whip("26-first", http, name, PUBLISH_SECS)?;
    let connected = first.publishing(Duration::from_secs(30))?;
    let first_id = wait_live(ctx.server, name, Duration::from_secs(10))?;
    wait_tracks(ctx.server, name, 2, Duration::from_secs(10))?;
    // With the stream live: what remains of it afterwards lingers
    // `continue_push_ms` (its tasks included).
    let base = Base::take(ctx)?;
    let players = [
        ("RTMP player 1", Player::start(rtmp, name)),
        ("RTMP player 2", Player::start(rtmp, name)),
        ("HTTP-FLV player", flv::start(http, name)),
    ];
    let all_see = |players: &[(&str, Player)], n: &[u64]| {
        players.iter().zip(n).all(|((_, p), n)| p.frames() > *n)
    };
    wait_for(Duration::from_secs(10), || all_see(&players, &[25, 25, 25])).ok_or_else(|| {
        let s: Vec<_> = players.iter().map(|(w, p)| (w, p.stats())).collect();
        format!("the players did not see 25 frames of the first publisher within 10 s: {s:?}")
    })?;

    let at_kill: Vec<u64> = players.iter().map(|(_, p)| p.frames()).collect();
    let killed = Instant::now();
    first.kill_chromium()?;
    let limit = Duration::from_millis(PEER_TIMEOUT_MS + SLACK_MS);
    let watch = limit + Duration::from_secs(5);
    let gone = std::thread::spawn(move || wait_gone_at(http, first_id, watch));
    // The replacement starts at once (a user reloading the page): it takes
    // the name once the dead one is stale (`stream.publisher_idle_timeout_ms`)
    // or gone; a 409 before that is tried again, a few times.
    let (second, connected2, tries) = replacement(http, name)?;
    let publishing2 = killed.elapsed();
    let second_id = wait_live(ctx.server, name, Duration::from_secs(10))?;
    let resumed = killed.elapsed();
    ctx.check(
        second_id != first_id,
        "the stream still names the killed publisher",
    );
    ctx.check(
        resumed < Duration::from_millis(CONTINUE_PUSH_MS),
        format!(
            "resumed {} ms after the kill, beyond continue_push_ms {CONTINUE_PUSH_MS}",
            resumed.as_millis()
        ),
    );
    let gone = gone.join().ok().flatten();
    let gone_ms = gone.map_or(u128::MAX, |d| d.as_millis());
    ctx.check(
        gone.is_some_and(|d| d <= limit),
        format!("the killed publisher's session lasted {gone_ms} ms (peer_timeout_ms {PEER_TIMEOUT_MS} + {SLACK_MS})"),
    );
    drop(first);
    let want: Vec<u64> = at_kill.iter().map(|n| n + 25).collect();
    let back = wait_for(Duration::from_secs(10), || all_see(&players, &want));
    let seen_again = killed.elapsed();
    ctx.check(
        back.is_some(),
        format!(
            "the players did not see 25 frames of the second publisher within 10 s: {:?}",
            players
                .iter()
                .map(|(w, p)| (w, p.stats()))
                .collect::<Vec<_>>()
        ),
    );
    for (who, p) in &players {
        let s = p.stats();
        ctx.check(
            s.error.is_none() && !s.closed,
            format!("{who} was not kept: {s:?}"),
        );
        ctx.check(
            s.ts_regressions == 0,
            format!(
                "{who}: {} video timestamps went backwards",
                s.ts_regressions
            ),
        );
    }
    let frames: Vec<String> = players
        .iter()
        .map(|(_, p)| p.frames().to_string())
        .collect();
    ctx.figure(format!(
        "WHIP connected in {connected:.0} ms; after its SIGKILL: second WHIP connected in {connected2:.0} ms \
         ({tries} tries, {} ms after the kill), killed publisher's session gone at {gone_ms} ms, stream live again {} ms after the kill, \
         players past the gap at {} ms; players' frames {} (RTMP, RTMP, FLV), 0 timestamps back",
        publishing2.as_millis(),
        resumed.as_millis(),
        seen_again.as_millis(),
        frames.join("/")
    ));
    drop(players);
    drop(second);
    let recovered = check_recovered(ctx, &base, Duration::from_secs(5));
    ctx.figure(recovered);
    Ok(())
}
