//! Scenarios 4 and 5: etcd loses a member, then all of them.

use std::time::{Duration, Instant};

use super::clients::{time_until, FlvPlayer};
use super::{find_field, settle, Ctx, LEASE_SECS, NAMES};
use crate::chaos::clients::{Ffmpeg, Player};
use crate::chaos::probe::Probe;
use crate::chaos::wait_live;

/// Each player's frames gained over `secs` from now, as frames per second.
fn rates(counts: &[Box<dyn Fn() -> u64 + '_>], secs: f64) -> Vec<f64> {
    let before: Vec<u64> = counts.iter().map(|f| f()).collect();
    let t = Instant::now();
    settle((secs * 1000.0) as u64);
    let took = t.elapsed().as_secs_f64();
    counts
        .iter()
        .zip(before)
        .map(|(f, b)| f().saturating_sub(b) as f64 / took)
        .collect()
}

fn min(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::INFINITY, f64::min);
    if m.is_finite() {
        m
    } else {
        0.0
    }
}

/// Scenario 4: the etcd leader SIGKILLed while a stream of A plays on B
/// (RTMP) and C (HTTP-FLV): the players keep their frame rate, a new
/// publish of another name on B is claimed (and plays on C), the store
/// stays up for every node; the member restarted rejoins.
pub fn member_killed(ctx: &mut Ctx) -> Result<(), String> {
    let _p1 = Ffmpeg::publish(ctx.node(0).rtmp, "e1")?;
    wait_live(ctx.node(0), "e1", Duration::from_secs(10))?;
    ctx.wait_owner("e1", "a", Duration::from_secs(5))
        .ok_or("live/e1 not claimed by a")?;
    let b = Player::start(ctx.node(1).rtmp, "e1");
    let c = FlvPlayer::start(ctx.node(2).http, "e1");
    time_until(Duration::from_secs(10), || b.frames() > 0 && c.frames() > 0)
        .ok_or("players of e1 on b and c saw no frame")?;
    let leader = ctx.etcd.leader().unwrap_or(0);
    ctx.etcd.kill(leader)?;
    let killed = Instant::now();
    let _p2 = Ffmpeg::publish(ctx.node(1).rtmp, "e2")?;
    wait_live(ctx.node(1), "e2", Duration::from_secs(10))?;
    let claimed = ctx.wait_owner("e2", "b", Duration::from_secs(10));
    ctx.check(
        claimed.is_some(),
        format!(
            "live/e2 not claimed by b with an etcd member down: {:?}",
            ctx.owner("e2")
        ),
    );
    let claim_ms = killed.elapsed().as_millis();
    // While the survivors elect a new leader, requests time out and a node
    // may call the store down for a moment; a node that does refuses names
    // it does not know (by design, see "Cluster decisions"). b may claim
    // while c still thinks so: the player asks once c has seen the store
    // again, which is what this scenario is about (a member's death does
    // not stop the cluster), not the refusal during the blip.
    let c_up = time_until(Duration::from_secs(10), || {
        store_state(ctx.node(2)).as_deref() == Some("up")
    });
    ctx.check(
        c_up.is_some(),
        "node c never saw the store again with 2 of 3 members up".to_string(),
    );
    let c2 = Player::start(ctx.node(2).rtmp, "e2");
    let c2_first = time_until(Duration::from_secs(10), || c2.frames() > 0);
    ctx.check(
        c2_first.is_some(),
        format!("player of e2 on c: no frame: {:?}", c2.stats()),
    );
    let counts: Vec<Box<dyn Fn() -> u64 + '_>> = vec![
        Box::new(|| b.frames()),
        Box::new(|| c.frames()),
        Box::new(|| c2.frames()),
    ];
    let r = rates(&counts, ctx.profile.pick(4.0, 20.0));
    let worst = min(&r);
    ctx.check(
        worst >= 0.8 * 25.0,
        format!("players slowed with a member down: {r:?} fps"),
    );
    for (i, node) in ctx.nodes.iter().enumerate() {
        let store = node
            .json("/api/v1/cluster")
            .map(|c| c["store"].as_str().unwrap_or("?").to_string());
        if store.as_deref() != Ok("up") {
            ctx.failures.push(format!(
                "node {}: store {store:?} with 2 of 3 members up",
                NAMES[i]
            ));
        }
    }
    for s in [b.stats(), c.stats(), c2.stats()] {
        ctx.check(
            s.error.is_none() && !s.closed && s.ts_regressions == 0,
            format!("player disturbed by the member's death: {s:?}"),
        );
    }
    let back = ctx.etcd.restart(leader)?;
    ctx.figure(format!(
        "etcd m{leader} (leader) killed: e2 claimed by b in {claim_ms} ms, c saw the store up {} ms later, played on c after {} ms; players min {worst:.1} fps; member back in {} ms",
        c_up.map_or(0, |d| d.as_millis()),
        c2_first.map_or(0, |d| d.as_millis()),
        back.as_millis()
    ));
    Ok(())
}

/// Scenario 5: every etcd member stopped while `s1` (owned by A) and `s2`
/// (owned by B) play on every node: each player keeps its frame rate past
/// several lease periods, `/healthz` stays 200 (probed every 100 ms on each
/// node) and reports the store down, `/metrics` counts it. etcd started
/// again: every node reports the store up, and both names are owned again.
pub fn etcd_down(ctx: &mut Ctx) -> Result<(), String> {
    let _p1 = Ffmpeg::publish(ctx.node(0).rtmp, "s1")?;
    let _p2 = Ffmpeg::publish(ctx.node(1).rtmp, "s2")?;
    wait_live(ctx.node(0), "s1", Duration::from_secs(10))?;
    wait_live(ctx.node(1), "s2", Duration::from_secs(10))?;
    ctx.wait_owner("s1", "a", Duration::from_secs(5))
        .ok_or("live/s1 not claimed by a")?;
    ctx.wait_owner("s2", "b", Duration::from_secs(5))
        .ok_or("live/s2 not claimed by b")?;
    let players: Vec<Player> = (0..3)
        .flat_map(|i| ["s1", "s2"].map(|s| (i, s)))
        .map(|(i, s)| Player::start(ctx.node(i).rtmp, s))
        .collect();
    time_until(Duration::from_secs(10), || {
        players.iter().all(|p| p.frames() > 0)
    })
    .ok_or("not every player saw a frame")?;
    let probes: Vec<Probe> = ctx
        .nodes
        .iter()
        .map(|n| Probe::start(n.http, n.pid))
        .collect();
    ctx.etcd.stop_all();
    let stopped = Instant::now();
    // Past several leases: every node has noticed.
    let noticed = crate::chaos::wait_for(Duration::from_secs(LEASE_SECS * 3 + 2), || {
        ctx.nodes
            .iter()
            .all(|n| store_state(n).as_deref() == Some("down"))
    });
    ctx.check(
        noticed.is_some(),
        format!(
            "not every node reports the store down: {:?}",
            ctx.nodes.iter().map(store_state).collect::<Vec<_>>()
        ),
    );
    let counts: Vec<Box<dyn Fn() -> u64 + '_>> = players
        .iter()
        .map(|p| Box::new(move || p.frames()) as Box<dyn Fn() -> u64>)
        .collect();
    let r = rates(&counts, ctx.profile.pick(2.0 * LEASE_SECS as f64, 30.0));
    let worst = min(&r);
    ctx.check(
        worst >= 0.8 * 25.0,
        format!("players slowed with etcd down: {r:?} fps"),
    );
    let mut metrics = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let m = store_metrics(ctx.node(i));
        let value = |name: &str| m.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
        let up = value("strom_cluster_store_up");
        let outages = value("strom_cluster_store_outages_total").unwrap_or(0.0)
            + value("strom_cluster_store_errors_total").unwrap_or(0.0);
        ctx.check(
            up == Some(0.0) && outages > 0.0,
            format!("node {name}: /metrics does not count the store down: {m:?}"),
        );
        metrics.extend(
            m.into_iter()
                .filter(|(_, v)| *v > 0.0)
                .map(|(k, v)| format!("{}: {k} {v}", NAMES[i])),
        );
    }
    let down_secs = stopped.elapsed().as_secs_f64();
    let back = ctx.etcd.restart_all()?;
    let up = crate::chaos::wait_for(Duration::from_secs(LEASE_SECS * 3 + 5), || {
        ctx.nodes
            .iter()
            .all(|n| store_state(n).as_deref() == Some("up"))
            && ctx.owner("s1").ok().flatten().is_some()
            && ctx.owner("s2").ok().flatten().is_some()
    });
    ctx.check(
        up.is_some(),
        format!(
            "after etcd came back: stores {:?}, s1 {:?}, s2 {:?}",
            ctx.nodes.iter().map(store_state).collect::<Vec<_>>(),
            ctx.owner("s1"),
            ctx.owner("s2")
        ),
    );
    for (i, p) in probes.into_iter().enumerate() {
        let st = p.finish();
        ctx.check(
            st.failures.is_empty() && !st.samples.is_empty(),
            format!(
                "node {}: {} /healthz or API calls failed with etcd down, first: {:?}",
                NAMES[i],
                st.failures.len(),
                st.failures.first()
            ),
        );
    }
    for s in players.iter().map(Player::stats) {
        ctx.check(
            s.error.is_none() && !s.closed && s.ts_regressions == 0,
            format!("player disturbed with etcd down: {s:?}"),
        );
    }
    ctx.figure(format!(
        "etcd down {down_secs:.1} s: 6 players (owners and edges) min {worst:.1} fps, /healthz 200 throughout, store down noticed in {} ms; metrics {}; etcd back in {} ms, nodes up and streams owned again in {} ms",
        noticed.map_or(0, |d| d.as_millis()),
        if metrics.is_empty() { "none".into() } else { metrics.join(", ") },
        back.as_millis(),
        up.map_or(0, |d| d.as_millis())
    ));
    Ok(())
}

/// The store's state a node reports in `/healthz`: a `store` field at any
/// depth (e.g. `cluster.store`), a string or an object with a `state`.
pub fn store_state(node: &crate::chaos::server::Server) -> Option<String> {
    let h = node.json("/healthz").ok()?;
    match find_field(&h, "store")? {
        serde_json::Value::String(s) => Some(s.clone()),
        s @ serde_json::Value::Object(_) => find_field(s, "state")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// The `strom_cluster_store*` lines of `/metrics` with their values.
fn store_metrics(node: &crate::chaos::server::Server) -> Vec<(String, f64)> {
    let Ok((200, text)) = node.get("/metrics") else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| l.starts_with("strom_cluster_store"))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}
