//! Scenario 11, fd-flood: strom runs under a descriptor limit of 1024 (soft
//! and hard, as a systemd service often does) while an attacker holds idle
//! sockets to every listener far above it, reopening whatever is closed.

use std::time::{Duration, Instant};

use super::attack::{
    check_recovered, during, raise_fd_limit, wait_opened, Base, Herd, Outcome, Target,
};
use super::{Ctx, LISTENERS};

/// strom's descriptor limit in this scenario, soft and hard.
pub const FD_LIMIT: u64 = 1024;

/// Scenario 11: idle sockets to RTMP, RTSP and HTTP, each listener far
/// above [`FD_LIMIT`]; `/healthz` and the API keep answering, a new
/// publisher and player work, and everything is released afterwards.
pub fn fd_flood(ctx: &mut Ctx) -> Result<(), String> {
    let per = ctx.profile.pick(1500, 5000);
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
    let herd = Herd::start(
        LISTENERS
            .iter()
            .map(|&l| Target {
                listener: l,
                port: l.port(ctx.server),
                count: per,
                hello: Vec::new(),
            })
            .collect(),
    );
    let ramp = wait_opened(&herd, total, Duration::from_secs(10));
    let held = during(ctx, started, window, "fd-healthy", healthy_secs);
    let outcomes = herd.finish();
    let emfile = ctx.server.log_count("Too many open files") - emfile0;
    let after = check_recovered(ctx, &base, Duration::from_secs(15));
    let mut all = Outcome::default();
    let per_listener: Vec<String> = outcomes
        .iter()
        .map(|(l, o)| {
            all.add(o);
            format!("{l:?} {}", o.describe())
        })
        .collect();
    ctx.figure(format!(
        "strom fd limit {}, xtask's {own}; {per} idle sockets per listener from 127.0.0.2 opened in {} ms, held {} s: {}; server peak fds {}, sessions {}; server counted refusals: {}; EMFILE lines in the log {emfile}; {}; {after}",
        limit.map_or("?".into(), |l| l.to_string()),
        ramp.map_or("> 10000".into(), |d| d.as_millis().to_string()),
        window.as_secs(),
        per_listener.join("; "),
        held.peak_fds,
        held.peak_sessions,
        held.refusals,
        held.healthy
    ));
    Ok(())
}
