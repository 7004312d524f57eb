//! Scenario 12, idle-http: more idle HTTP connections than
//! `http.max_connections` (256 by default), held open and reopened.

use std::time::{Duration, Instant};

use super::attack::{
    check_recovered, during, raise_fd_limit, wait_opened, Base, Herd, Source, Target,
};
use super::{Ctx, Listener};

/// Scenario 12: idle HTTP connections above the default HTTP cap from
/// 127.0.0.2; the probe's `/healthz` and API calls from 127.0.0.1 stay fast,
/// a new publisher and player work, everything is released afterwards.
pub fn idle_http(ctx: &mut Ctx) -> Result<(), String> {
    let count = ctx.profile.pick(300, 600);
    let window = Duration::from_secs(ctx.profile.pick(8, 20));
    let healthy_secs = ctx.profile.pick(3.0, 10.0);
    raise_fd_limit(count as u64 + 512)?;
    let base = Base::take(ctx)?;
    let started = Instant::now();
    let herd = Herd::start(vec![Target {
        listener: Listener::Http,
        port: ctx.server.http,
        count,
        source: Source::Attacker,
    }]);
    let ramp = wait_opened(&herd, count, Duration::from_secs(10));
    let held = during(ctx, started, window, "idle-healthy", healthy_secs);
    let outcome = herd
        .finish()
        .into_iter()
        .next()
        .map(|(_, o)| o)
        .unwrap_or_default();
    let after = check_recovered(ctx, &base, Duration::from_secs(10));
    ctx.figure(format!(
        "{count} idle HTTP connections from 127.0.0.2 opened in {} ms, held {} s: {}; server peak fds {}, sessions {}; server counted refusals: {}; {}; {after}",
        ramp.map_or("> 10000".into(), |d| d.as_millis().to_string()),
        window.as_secs(),
        outcome.describe(),
        held.peak_fds,
        held.peak_sessions,
        held.refusals,
        held.healthy
    ));
    Ok(())
}
