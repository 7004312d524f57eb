//! Scenarios 2 and 3: the owner dies (kill -9) or freezes (SIGSTOP).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::clients::{time_until, ClipPublisher, FlvPlayer};
use super::{settle, Ctx, LEASE_SECS};
use crate::chaos::clients::{clip, Ffmpeg, Player};
use crate::chaos::{wait_for, wait_live};

/// Issue 16's failover target: media again on every edge within this long
/// of the publisher reconnecting elsewhere.
const FAILOVER: Duration = Duration::from_secs(5);

/// Starts ffmpeg publishing `live/<stream>` to node `i`, again and again
/// while it is refused (ffmpeg exits), until the node shows it live or
/// `within` passes; the publisher and when it was accepted.
fn publish_until_accepted(
    ctx: &Ctx,
    i: usize,
    stream: &str,
    within: Duration,
) -> Result<(Ffmpeg, Instant, u32), String> {
    let t = Instant::now();
    let mut tries = 0;
    while t.elapsed() < within {
        tries += 1;
        let mut f = Ffmpeg::publish(ctx.node(i).rtmp, stream)?;
        let live = wait_for(Duration::from_secs(3), || {
            ctx.node(i)
                .stream(stream)
                .ok()
                .flatten()
                .is_some_and(|s| s["state"] == "live")
                || f.wait_exit(Duration::from_millis(1))
        });
        if live.is_some() && !f.wait_exit(Duration::from_millis(1)) {
            return Ok((f, Instant::now(), tries));
        }
        drop(f);
        settle(100);
    }
    Err(format!(
        "live/{stream} on {} not accepted within {} s ({tries} tries)",
        super::NAMES[i],
        within.as_secs()
    ))
}

/// Scenario 2: RTMP and HTTP-FLV players on C of a stream published on A;
/// A is SIGKILLed and the stream republished on B (retried while A's claim
/// lives): every player gets media again within 5 s of B accepting it, none
/// is disconnected, timestamps never go back. Reports the gaps.
pub fn failover(ctx: &mut Ctx) -> Result<(), String> {
    let rounds = ctx.profile.pick(1, 5);
    let n = ctx.profile.pick(2, 5);
    let name = "fo";
    let mut publisher = Ffmpeg::publish(ctx.node(0).rtmp, name)?;
    wait_live(ctx.node(0), name, Duration::from_secs(10))?;
    ctx.wait_owner(name, "a", Duration::from_secs(5))
        .ok_or_else(|| format!("live/{name} not claimed by a: {:?}", ctx.owner(name)))?;
    let rtmp: Vec<Player> = (0..n)
        .map(|_| Player::start(ctx.node(2).rtmp, name))
        .collect();
    let flv: Vec<FlvPlayer> = (0..n)
        .map(|_| FlvPlayer::start(ctx.node(2).http, name))
        .collect();
    let frames = |rtmp: &[Player], flv: &[FlvPlayer]| -> Vec<u64> {
        rtmp.iter()
            .map(Player::frames)
            .chain(flv.iter().map(FlvPlayer::frames))
            .collect()
    };
    time_until(Duration::from_secs(10), || {
        frames(&rtmp, &flv).iter().all(|f| *f > 0)
    })
    .ok_or("players on c saw no frame within 10 s")?;
    let (mut owner, mut worst_gap, mut worst_accept, mut worst_total) =
        (0, Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut epochs = vec![ctx.owner(name)?.map_or(0, |o| o.1)];
    for _ in 0..rounds {
        settle(2000);
        let next = if owner == 0 { 1 } else { 0 };
        let before = frames(&rtmp, &flv);
        let killed = Instant::now();
        ctx.nodes[owner].signal("KILL")?;
        drop(publisher);
        let (p, accepted, tries) =
            publish_until_accepted(ctx, next, name, Duration::from_secs(LEASE_SECS + 8))?;
        publisher = p;
        worst_accept = worst_accept.max(accepted - killed);
        let again = time_until(FAILOVER + Duration::from_secs(5), || {
            frames(&rtmp, &flv).iter().zip(&before).all(|(f, b)| f > b)
        });
        let gap = Instant::now() - accepted;
        ctx.check(
            again.is_some() && gap <= FAILOVER,
            format!(
                "media again on every player of c {} ms after {} accepted the publisher (limit {} ms, {tries} tries)",
                gap.as_millis(),
                super::NAMES[next],
                FAILOVER.as_millis()
            ),
        );
        worst_gap = worst_gap.max(gap);
        worst_total = worst_total.max(killed.elapsed());
        match ctx.owner(name)? {
            Some((node, epoch)) => {
                ctx.check(
                    node == super::NAMES[next],
                    format!("etcd names {node} the owner after the failover"),
                );
                epochs.push(epoch);
            }
            None => ctx.check(false, "no owner in etcd after the failover"),
        }
        // The dead node comes back (empty), ready to be the next target.
        ctx.nodes[owner].restart()?;
        owner = next;
    }
    settle(1000);
    for s in rtmp
        .iter()
        .map(Player::stats)
        .chain(flv.iter().map(FlvPlayer::stats))
    {
        ctx.check(
            s.error.is_none() && !s.closed && s.ts_regressions == 0,
            format!("player on c disturbed by the failover: {s:?}"),
        );
    }
    ctx.check(
        epochs.windows(2).all(|w| w[1] > w[0]),
        format!("epochs did not grow: {epochs:?}"),
    );
    ctx.figure(format!(
        "{rounds} owner kill -9: republish accepted ≤ {} ms after the kill; {n} RTMP + {n} HTTP-FLV players on c: media again ≤ {} ms after the accept (≤ {} ms after the kill), none disconnected, timestamps monotonic; epochs {epochs:?}",
        worst_accept.as_millis(),
        worst_gap.as_millis(),
        worst_total.as_millis()
    ));
    Ok(())
}

/// Scenario 3: the owner A frozen by SIGSTOP (sockets open, lease not kept
/// alive): a publisher of the same name on B is accepted within
/// `lease_secs` + 1 s (retried until accepted). After SIGCONT, A no longer
/// owns the stream: its ffmpeg publisher is refused or ended, its
/// `/api/v1/cluster` does not list it as its own, etcd names B.
pub fn half_dead(ctx: &mut Ctx) -> Result<(), String> {
    let clip = Arc::new(clip()?);
    let name = "half";
    let mut old = Ffmpeg::publish(ctx.node(0).rtmp, name)?;
    wait_live(ctx.node(0), name, Duration::from_secs(10))?;
    ctx.wait_owner(name, "a", Duration::from_secs(5))
        .ok_or_else(|| format!("live/{name} not claimed by a: {:?}", ctx.owner(name)))?;
    let epoch0 = ctx.owner(name)?.map_or(0, |o| o.1);
    let edge = Player::start(ctx.node(2).rtmp, name);
    time_until(Duration::from_secs(10), || edge.frames() > 0).ok_or("player on c saw no frame")?;
    settle(1000);
    ctx.nodes[0].signal("STOP")?;
    let t = Instant::now();
    let limit = Duration::from_secs(LEASE_SECS + 1);
    let (mut newcomer, mut refusals, mut last) = (None, 0, String::new());
    while t.elapsed() < limit + Duration::from_secs(3) {
        let p = ClipPublisher::start(ctx.node(1).rtmp, name, clip.clone());
        match p.accepted(Duration::from_secs(2)) {
            Some(true) => {
                newcomer = Some(p);
                break;
            }
            _ => {
                refusals += 1;
                last = p.why();
            }
        }
        settle(100);
    }
    let took = t.elapsed();
    let resume = Instant::now();
    let _ = ctx.nodes[0].signal("CONT");
    ctx.check(
        newcomer.is_some() && took <= limit,
        format!(
            "newcomer on b not accepted within lease_secs + 1 = {} s (took {} ms, {refusals} refusals, last: {last})",
            limit.as_secs(),
            took.as_millis()
        ),
    );
    // A, thawed, learns its lease is gone: its publisher is ended.
    let ended = old.wait_exit(Duration::from_secs(LEASE_SECS + 4));
    let ended_ms = resume.elapsed().as_millis();
    ctx.check(
        ended,
        "a's publisher still runs after SIGCONT: a serves it as owner",
    );
    let owner = ctx.owner(name)?;
    ctx.check(
        owner.as_ref().is_some_and(|(n, e)| n == "b" && *e > epoch0),
        format!("etcd record after the takeover: {owner:?} (epoch before {epoch0})"),
    );
    let cluster = ctx.node(0).json("/api/v1/cluster");
    let a_claims = cluster.as_ref().ok().and_then(|c| {
        c["streams"].as_array().map(|s| {
            s.iter()
                .any(|x| x["key"] == "live/half" && x["node"] == "a")
        })
    });
    ctx.check(
        a_claims == Some(false),
        format!("a's /api/v1/cluster after SIGCONT: {cluster:?}"),
    );
    if let Some(p) = &newcomer {
        ctx.check(
            !p.closed(),
            format!("the newcomer on b was ended: {}", p.why()),
        );
    }
    let s = edge.stats();
    ctx.figure(format!(
        "owner SIGSTOPped: newcomer on b accepted after {} ms (limit {} ms, {refusals} refusals before); after SIGCONT a's publisher ended in {ended_ms} ms; etcd {owner:?}; player on c: {} frames, closed {}, ts regressions {}",
        took.as_millis(),
        limit.as_millis(),
        s.video_frames,
        s.closed,
        s.ts_regressions
    ));
    Ok(())
}
