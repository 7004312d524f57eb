//! Scenario 6: random publish / kill / republish cycles over 20 names and
//! the three nodes, with players coming and going on random nodes.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::clients::ClipPublisher;
use super::etcd::check_owners;
use super::{settle, upstreams, Ctx, CONTINUE_PUSH_MS, IDLE_CLOSE_SECS, LEASE_SECS, NAMES, PREFIX};
use crate::chaos::clients::{clip, Player, Rng};
use crate::chaos::server::Server;
use crate::chaos::wait_for;

/// Names the cycles pick from.
const STREAMS: u64 = 20;
/// Players alive at once, at most.
const MAX_PLAYERS: usize = 10;

/// What one node holds, for the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Held {
    sessions: u64,
    tasks: u64,
    fds: usize,
}

fn held(node: &Server) -> Held {
    Held {
        sessions: node.sessions().unwrap_or(u64::MAX),
        tasks: node.tasks(),
        fds: node.fds(),
    }
}

/// Scenario 6: N cycles (short: 100 within 60 s; long: 1,000). Each picks a
/// name and a node at random and publishes it there (refused while another
/// publisher holds it: accepted is a failure), kills its publisher (an
/// abrupt close), or kills and republishes it on another node; players join
/// random names on random nodes and leave a few cycles later. Every 10
/// cycles each node must hold at most one upstream per stream. Afterwards:
/// etcd's history shows never two owners at once, no claim is left, and
/// every node is back to its sessions, tasks and descriptors.
pub fn churn(ctx: &mut Ctx) -> Result<(), String> {
    let clip = Arc::new(clip()?);
    let cycles = ctx.profile.pick(100, 1000);
    let budget = Duration::from_secs(ctx.profile.pick(60, 900));
    settle(500);
    let base: Vec<Held> = ctx.nodes.iter().map(held).collect();
    let ports: Vec<u16> = ctx.nodes.iter().map(|n| n.rtmp).collect();
    let mut rng = Rng::new(0x5eed_0016 ^ u64::from(std::process::id()));
    let mut pubs: BTreeMap<u64, (usize, ClipPublisher)> = BTreeMap::new();
    let mut players: VecDeque<(usize, Player)> = VecDeque::new();
    let (mut accepted, mut refused, mut dup_refused, mut kills, mut checks) = (0, 0, 0, 0, 0);
    let (mut worst_upstreams, mut seen) = (0, 0);
    let t = Instant::now();
    let mut done = 0;
    while done < cycles && t.elapsed() < budget {
        done += 1;
        pubs.retain(|_, (_, p)| !p.closed());
        let name = rng.below(STREAMS);
        let node = rng.below(3) as usize;
        let stream = format!("c{name}");
        match rng.below(3) {
            0 => {
                let p = ClipPublisher::start(ports[node], &stream, clip.clone());
                let ok = p.accepted(Duration::from_secs(3)) == Some(true);
                match pubs.get(&name) {
                    Some((holder, _)) => {
                        ctx.check(
                            !ok,
                            format!(
                                "cycle {done}: a second publisher of {stream} accepted on {} while {} holds it",
                                NAMES[node], NAMES[*holder]
                            ),
                        );
                        dup_refused += usize::from(!ok);
                    }
                    None if ok => {
                        accepted += 1;
                        pubs.insert(name, (node, p));
                    }
                    None => refused += 1,
                }
            }
            1 => {
                kills += usize::from(pubs.remove(&name).is_some());
            }
            _ => {
                if let Some((old, p)) = pubs.remove(&name) {
                    drop(p);
                    kills += 1;
                    let next = (old + 1 + rng.below(2) as usize) % 3;
                    let p = ClipPublisher::start(ports[next], &stream, clip.clone());
                    if p.accepted(Duration::from_secs(3)) == Some(true) {
                        accepted += 1;
                        pubs.insert(name, (next, p));
                    } else {
                        refused += 1;
                    }
                }
            }
        }
        if rng.below(2) == 0 && players.len() < MAX_PLAYERS {
            if let Some((&name, _)) = pubs
                .iter()
                .nth(rng.below(pubs.len().max(1) as u64) as usize)
            {
                let at = rng.below(3) as usize;
                players.push_back((
                    done + 3 + rng.below(6) as usize,
                    Player::start(ports[at], &format!("c{name}")),
                ));
            }
        }
        while players.front().is_some_and(|(until, _)| *until <= done) {
            players.pop_front();
        }
        if done % 10 == 0 {
            checks += 1;
            for (i, n) in ctx.nodes.iter().enumerate() {
                match upstreams(n, &ports) {
                    Ok(u) => {
                        seen += u.values().sum::<usize>();
                        let most = u.values().copied().max().unwrap_or(0);
                        worst_upstreams = worst_upstreams.max(most);
                        if most > 1 {
                            ctx.failures.push(format!(
                                "cycle {done}: node {} holds more than one upstream of a stream: {u:?}",
                                NAMES[i]
                            ));
                        }
                    }
                    Err(e) => ctx
                        .failures
                        .push(format!("cycle {done}: node {}: {e}", NAMES[i])),
                }
            }
        }
        settle(150);
    }
    let took = t.elapsed();
    ctx.check(
        seen > 0,
        "no node showed an upstream from another node in /api/v1/sessions at any check",
    );
    drop(players);
    let live_at_end = pubs.len();
    drop(pubs);
    // Everything released: the streams' resume windows, the edges' idle
    // close and a lease, plus slack.
    let within = Duration::from_millis(CONTINUE_PUSH_MS)
        + Duration::from_secs(IDLE_CLOSE_SECS + LEASE_SECS + 8);
    let mut now: Vec<Held> = Vec::new();
    let back = wait_for(within, || {
        now = ctx.nodes.iter().map(held).collect();
        now.iter()
            .zip(&base)
            .all(|(n, b)| n.sessions <= b.sessions && n.tasks <= b.tasks && n.fds <= b.fds + 4)
    });
    ctx.check(
        back.is_some(),
        format!(
            "not back to the baseline {} s after the churn: before {base:?}, after {now:?}",
            within.as_secs()
        ),
    );
    let left = wait_for(Duration::from_secs(5), || {
        (0..STREAMS).all(|i| ctx.owner(&format!("c{i}")).ok().flatten().is_none())
    });
    ctx.check(
        left.is_some(),
        "claims left in etcd after every publisher left",
    );
    let history = match ctx
        .etcd
        .history(&format!("{PREFIX}/streams/"), Duration::from_secs(20))
    {
        Ok(h) => h,
        Err(e) => {
            ctx.failures.push(format!("etcd history: {e}"));
            Vec::new()
        }
    };
    let owners = check_owners(&history);
    for v in owners.violations.iter().take(10) {
        ctx.failures.push(format!("etcd history: {v}"));
    }
    ctx.figure(format!(
        "{done} cycles in {:.1} s: {accepted} publishes accepted, {refused} refused (name still held), {dup_refused} duplicates refused, {kills} publishers killed, {live_at_end} live at the end",
        took.as_secs_f64()
    ));
    ctx.figure(format!(
        "etcd history: {} events, {} claims, {} releases over {} names, {} violations of one owner at a time; upstreams per stream per node ≤ {worst_upstreams} ({seen} seen in {checks} checks)",
        history.len(),
        owners.claims,
        owners.releases,
        owners.keys,
        owners.violations.len()
    ));
    ctx.figure(format!(
        "held before → after: {}",
        base.iter()
            .zip(&now)
            .enumerate()
            .map(|(i, (b, n))| format!(
                "{} sessions {}→{} tasks {}→{} fds {}→{}",
                NAMES[i], b.sessions, n.sessions, b.tasks, n.tasks, b.fds, n.fds
            ))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(())
}
