//! One proxy's life: attempt, end, back off, again — until shutdown.

use std::sync::Arc;
use std::time::Duration;

use stream_core::Protocol;

use super::backoff::Backoff;
use super::rtmp_pull::Pull;
use super::rtsp_pull::RtspPull;
use super::{Dial, Proxy, Scheme, State};
use crate::server::Shared;

/// Keeps `proxy` pulled until the server stops or `stop` turns true (the
/// proxy was removed). An on-demand proxy pulls from the first player's
/// ask until it has had no player for `relay.idle_close_secs`, and after a
/// failed attempt with nobody watching it goes idle instead of retrying.
pub async fn supervise(
    shared: Arc<Shared>,
    proxy: Arc<Proxy>,
    dial: Arc<dyn Dial>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let relay = &shared.config.relay;
    let mut backoff = Backoff::for_relay(relay);
    let stable = Duration::from_secs(relay.stable_secs);
    let idle_close = Duration::from_secs(relay.idle_close_secs);
    let mut stopping = shared.stopping.clone();
    let mut asked = !proxy.on_demand;
    let mut attempted = false;
    loop {
        // Made from a pattern or as a cluster edge for a player, and idle
        // again: gone, so names asked once do not pile up.
        if !asked && attempted && shared.relays.retire(&proxy) {
            tracing::info!(stream = %proxy.key, "idle proxy made for players removed");
            break;
        }
        if !asked {
            proxy.set(State::Idle);
            tokio::select! {
                _ = proxy.demand.notified() => {}
                _ = stopping.wait_for(|s| *s) => break,
                _ = stop.wait_for(|s| *s) => break,
            }
            tracing::info!(stream = %proxy.key, upstream = %proxy.url(), "a player asks: pulling on demand");
            // Asked until nobody watches: retries and upstream moves with
            // players waiting need no new ask.
            asked = true;
        }
        proxy.attempt();
        attempted = true;
        let outcome = tokio::select! {
            why = attempt(&shared, &proxy, dial.as_ref()) => Some(why),
            () = proxy.moved.notified() => {
                // A cluster edge whose stream changed owner: the new
                // upstream is spliced in at once (players stay, the
                // stream resumes).
                tracing::info!(stream = %proxy.key, upstream = %proxy.url(), "upstream moved: switching");
                proxy.ended("upstream moved".into());
                backoff.reset();
                continue;
            }
            () = unwatched(&shared, &proxy, idle_close), if proxy.on_demand => None,
            _ = stopping.wait_for(|s| *s) => break,
            _ = stop.wait_for(|s| *s) => break,
        };
        let Some(why) = outcome else {
            // Dropping the attempt closed the upstream; the stream lingers
            // for continue_push_ms like any publisher's.
            tracing::info!(stream = %proxy.key, idle_secs = idle_close.as_secs(), "no player: on-demand pull closed");
            proxy.ended("closed: no player".into());
            backoff.reset();
            // Asks of players long gone (one per play while it was live)
            // must not wake it again at once.
            let _ = tokio::time::timeout(Duration::ZERO, proxy.demand.notified()).await;
            asked = false;
            continue;
        };
        let live = proxy.ended(why.clone());
        if live.is_some_and(|l| l >= stable) {
            backoff.reset();
        }
        if proxy.on_demand && players(&shared, &proxy) == 0 {
            tracing::info!(stream = %proxy.key, reason = %why, "on-demand pull ended with no player: idle");
            asked = false;
            continue;
        }
        let wait = backoff.next_wait();
        tracing::warn!(stream = %proxy.key, upstream = %proxy.url(), reason = %why, retry_in_ms = wait.as_millis() as u64, "relay ended");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            () = proxy.moved.notified() => backoff.reset(),
            _ = stopping.wait_for(|s| *s) => break,
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    proxy.set(State::Stopped);
}

/// Players of the proxy's stream: sessions of every protocol, plus one for
/// its TS or fMP4 feed while HLS requests come or HTTP-TS viewers are attached (the
/// packager itself subscribes whether or not anyone watches), plus one while
/// it is recorded: an on-demand pull that is recorded stays pulled (the
/// recorder is no viewer in the counts the API shows).
fn players(shared: &Shared, proxy: &Proxy) -> usize {
    let Some(stream) = shared.hub.stream(&proxy.key) else {
        return 0;
    };
    let hls_window = Duration::from_secs(shared.config.hls.idle_secs);
    let feed = shared
        .feeds
        .get(&proxy.key)
        .is_some_and(|f| f.watched(hls_window))
        || shared
            .cmaf_feeds
            .map
            .get(&proxy.key)
            .is_some_and(|f| f.watched(hls_window));
    let recorded = shared.recordings.is_recording(&proxy.key);
    crate::players::Players::count(&shared.sessions).of(&stream)
        + usize::from(feed)
        + usize::from(recorded)
}

/// Resolves once the proxy, live, has had no player for `limit` (checked
/// every second: a cheap poll of one stream's counts).
async fn unwatched(shared: &Shared, proxy: &Proxy, limit: Duration) {
    let tick = Duration::from_secs(1);
    let mut alone = Duration::ZERO;
    loop {
        tokio::time::sleep(tick).await;
        if proxy.state() == State::Live && players(shared, proxy) == 0 {
            alone += tick;
            if alone >= limit {
                return;
            }
        } else {
            alone = Duration::ZERO;
        }
    }
}

/// One attempt; returns how it ended, for the log and the API.
async fn attempt(shared: &Arc<Shared>, proxy: &Arc<Proxy>, dial: &dyn Dial) -> String {
    let connect = Duration::from_secs(shared.config.relay.connect_secs);
    if proxy.edge {
        if let Some(why) = crate::cluster::edge::no_owner(shared, proxy).await {
            return why;
        }
    }
    let url = proxy.url();
    let dialed = match tokio::time::timeout(connect, dial.dial(&url)).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return format!("connect: {e}"),
        Err(_) => return "connect: no answer within relay.connect_secs".into(),
    };
    let limits = shared.drive_limits();
    let protocol = match url.scheme {
        Scheme::Rtmp => Protocol::Rtmp,
        Scheme::Rtsp => Protocol::Rtsp,
        Scheme::HttpFlv => Protocol::HttpFlv,
        Scheme::Hls => Protocol::HlsPull,
    };
    let mut guard = shared.sessions.register(protocol, dialed.peer);
    let info = guard.info().clone();
    // Each attempt is a session with its own span, as accepted ones are:
    // the stream is recorded on it once, not on the proxy's long-lived span.
    let span = tracing::info_span!(
        "session",
        id = info.id,
        proto = protocol.name(),
        peer = %dialed.peer,
        stream = tracing::field::Empty,
    );
    let run = async {
        match url.scheme {
            Scheme::Rtmp => {
                let pull = Pull::new(shared.clone(), info, proxy.clone(), &url);
                crate::drive::serve(pull, dialed.rd, dialed.wr, limits, guard, "relay").await
            }
            Scheme::Rtsp => {
                match RtspPull::new(shared.clone(), info, proxy.clone(), dialed.peer.ip()) {
                    Ok(pull) => {
                        crate::drive::serve(pull, dialed.rd, dialed.wr, limits, guard, "relay")
                            .await
                    }
                    Err(end) => end,
                }
            }
            Scheme::HttpFlv => {
                let end = super::http_flv::pull(shared, &info, proxy, dialed.rd, dialed.wr).await;
                crate::drive::record_end(&mut guard, &end, "relay");
                end
            }
            Scheme::Hls => {
                let end = super::hls_pull::pull(shared, &info, proxy, dial, dialed).await;
                crate::drive::record_end(&mut guard, &end, "relay");
                end
            }
        }
    };
    let end = tracing::Instrument::instrument(run, span).await;
    end.to_string()
}
