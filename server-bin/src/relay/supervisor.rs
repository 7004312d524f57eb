//! One proxy's life: attempt, end, back off, again — until shutdown.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use stream_core::Protocol;

use super::backoff::Backoff;
use super::rtmp_pull::Pull;
use super::rtsp_pull::RtspPull;
use super::{Dial, Proxy, Scheme, State};
use crate::server::Shared;

/// Keeps `proxy` pulled until the server stops or `stop` turns true (the
/// proxy was removed).
pub async fn supervise(
    shared: Arc<Shared>,
    proxy: Arc<Proxy>,
    dial: Arc<dyn Dial>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let relay = &shared.config.relay;
    let mut backoff = Backoff::new(
        Duration::from_millis(relay.retry_min_ms),
        Duration::from_millis(relay.retry_max_ms),
        RandomState::new().build_hasher().finish(),
    );
    let stable = Duration::from_secs(relay.stable_secs);
    let mut stopping = shared.stopping.clone();
    loop {
        proxy.attempt();
        let why = tokio::select! {
            why = attempt(&shared, &proxy, dial.as_ref()) => why,
            _ = stopping.wait_for(|s| *s) => break,
            _ = stop.wait_for(|s| *s) => break,
        };
        let live = proxy.ended(why.clone());
        if live.is_some_and(|l| l >= stable) {
            backoff.reset();
        }
        let wait = backoff.next_wait();
        tracing::warn!(stream = %proxy.key, upstream = %proxy.url, reason = %why, retry_in_ms = wait.as_millis() as u64, "relay ended");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopping.wait_for(|s| *s) => break,
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    proxy.set(State::Stopped);
}

/// One attempt; returns how it ended, for the log and the API.
async fn attempt(shared: &Arc<Shared>, proxy: &Arc<Proxy>, dial: &dyn Dial) -> String {
    let connect = Duration::from_secs(shared.config.relay.connect_secs);
    let dialed = match tokio::time::timeout(connect, dial.dial(&proxy.url)).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return format!("connect: {e}"),
        Err(_) => return "connect: no answer within relay.connect_secs".into(),
    };
    let limits = shared.drive_limits();
    let end = match proxy.url.scheme {
        Scheme::Rtmp => {
            let guard = shared.sessions.register(Protocol::Rtmp, dialed.peer);
            let info = guard.info().clone();
            let pull = Pull::new(shared.clone(), info, proxy.clone(), &proxy.url);
            crate::drive::serve(pull, dialed.rd, dialed.wr, limits, guard, "relay").await
        }
        Scheme::Rtsp => {
            let guard = shared.sessions.register(Protocol::Rtsp, dialed.peer);
            let info = guard.info().clone();
            match RtspPull::new(shared.clone(), info, proxy.clone()) {
                Ok(pull) => {
                    crate::drive::serve(pull, dialed.rd, dialed.wr, limits, guard, "relay").await
                }
                Err(end) => end,
            }
        }
    };
    end.to_string()
}
