//! Scenario 11, fd-flood: strom runs under a descriptor limit of 1024 (soft
//! and hard, as a systemd service often does) while an attacker holds idle
//! sockets to every listener far above it, reopening whatever is closed.

use std::time::{Duration, Instant};

use super::attack::{
    check_recovered, during, raise_fd_limit, wait_opened, Base, Herd, Source, Target,
};
use super::{Ctx, LISTENERS};

/// strom's descriptor limit in this scenario, soft and hard.
pub const FD_LIMIT: u64 = 1024;

/// Sockets per address of the spread attack (under `server.max_pending_per_ip`, 16).
const PER_ADDRESS: usize = 15;

/// Scenario 11: idle sockets to RTMP, RTSP and HTTP from 127.0.0.2, each
/// listener far above [`FD_LIMIT`]; `/healthz` and the API keep answering,
/// a new publisher and player work, and everything is released afterwards.
pub fn fd_flood(ctx: &mut Ctx) -> Result<(), String> {
    let per = ctx.profile.pick(1500, 5000);
    flood(ctx, per, Source::Attacker)
}

/// Scenario 17: as [`fd_flood`], from many addresses, [`PER_ADDRESS`]
/// sockets each: every address stays under the per-address caps, so only
/// the global caps and the descriptor reserve stand between the attacker
/// and the control plane.
pub fn fd_flood_spread(ctx: &mut Ctx) -> Result<(), String> {
    let per = ctx.profile.pick(450, 900);
    flood(
        ctx,
        per,
        Source::Spread {
            first: 0,
            per: PER_ADDRESS,
        },
    )
}

/// `per` idle sockets to each listener from `source` (spread: each
/// listener from its own addresses), held and reopened for the window.
fn flood(ctx: &mut Ctx, per: usize, source: Source) -> Result<(), String> {
    let window = Duration::from_secs(ctx.profile.pick(10, 30));
    let healthy_secs = ctx.profile.pick(3.0, 10.0);
    let total = per * LISTENERS.len();
    let own = raise_fd_limit(total as u64 + 512)?;
    let limit = ctx.server.fd_limit();
    ctx.check(
        limit == Some(FD_LIMIT),
        format!("strom runs with a descriptor limit of {limit:?}, not {FD_LIMIT}"),
    );
    let base = Base::take(ctx)?;
    let emfile0 = ctx.server.log_count("Too many open files");
    let started = Instant::now();
    let addresses = per.div_ceil(PER_ADDRESS);
    let from = match source {
        Source::Attacker => "127.0.0.2".to_string(),
        Source::Spread { .. } => format!(
            "{} addresses from 127.0.0.10 ({PER_ADDRESS} each)",
            addresses * LISTENERS.len()
        ),
    };
    let mut targets = Vec::new();
    for (i, &l) in LISTENERS.iter().enumerate() {
        targets.push(Target {
            listener: l,
            port: l.port(ctx.server),
            count: per,
            source: match source {
                Source::Attacker => Source::Attacker,
                Source::Spread { per: p, .. } => Source::Spread {
                    first: i * addresses,
                    per: p,
                },
            },
        });
    }
    let herd = Herd::start(targets);
    let ramp = wait_opened(&herd, total, Duration::from_secs(10));
    let held = during(ctx, started, window, "fd-healthy", healthy_secs);
    let outcomes = herd.finish();
    let emfile = ctx.server.log_count("Too many open files") - emfile0;
    let after = check_recovered(ctx, &base, Duration::from_secs(15));
    let got: Vec<String> = outcomes
        .iter()
        .map(|(l, o)| format!("{l:?} {}", o.describe()))
        .collect();
    ctx.figure(format!(
        "strom fd limit {}, xtask's {own}; {per} idle sockets per listener from {from} opened in {} ms, held {} s: {}; server peak fds {}, sessions {}; server counted refusals: {}; EMFILE lines in the log {emfile}; {}; {after}",
        limit.map_or("?".into(), |l| l.to_string()),
        ramp.map_or("> 10000".into(), |d| d.as_millis().to_string()),
        window.as_secs(),
        got.join("; "),
        held.peak_fds,
        held.peak_sessions,
        held.refusals,
        held.healthy
    ));
    Ok(())
}
