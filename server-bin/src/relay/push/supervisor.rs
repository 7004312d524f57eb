//! One push's life: wait for the source, attempt, end, back off, again —
//! until it is removed or the server stops.

use std::sync::Arc;
use std::time::Duration;

use stream_core::{HubEvent, Protocol};
use tokio::sync::broadcast::error::RecvError;

use super::queue::{is_live, source_ended, Feed};
use super::rtmp::RtmpPush;
use super::rtsp::RtspPush;
use super::{Push, PushState};
use crate::drive::End;
use crate::relay::backoff::Backoff;
use crate::relay::{Dial, Scheme};
use crate::server::Shared;

/// Keeps `push` forwarding its source to its target until the server stops
/// or `stop` turns true (the push was removed).
pub async fn supervise(
    shared: Arc<Shared>,
    push: Arc<Push>,
    dial: Arc<dyn Dial>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let relay = &shared.config.relay;
    let mut backoff = Backoff::for_relay(relay);
    let stable = Duration::from_secs(relay.stable_secs);
    let mut stopping = shared.stopping.clone();
    loop {
        tokio::select! {
            () = source_live(&shared, &push) => {}
            _ = stopping.wait_for(|s| *s) => break,
            _ = stop.wait_for(|s| *s) => break,
        }
        push.attempt();
        let end = tokio::select! {
            end = attempt(&shared, &push, dial.as_ref()) => end,
            _ = stopping.wait_for(|s| *s) => break,
            _ = stop.wait_for(|s| *s) => break,
        };
        let why = end.to_string();
        if matches!(end, End::PlayEnded(stream_core::EndReason::Shutdown)) {
            break;
        }
        if source_ended(&end) {
            tracing::info!(stream = %push.key, target = %push.url, "source ended: push waits for it");
            push.ended(PushState::WaitingForSource, why);
            backoff.reset();
            continue;
        }
        let live = push.ended(PushState::Backoff, why.clone());
        if live.is_some_and(|l| l >= stable) {
            backoff.reset();
        }
        let wait = backoff.next_wait();
        tracing::warn!(stream = %push.key, target = %push.url, reason = %why, retry_in_ms = wait.as_millis() as u64, "push ended");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopping.wait_for(|s| *s) => break,
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    push.set(PushState::Stopped);
}

/// Resolves once a publisher feeds the push's source: at once if one does,
/// else at the hub's `Published` event for it (no polling; a listener that
/// fell behind the hub's events looks again).
async fn source_live(shared: &Shared, push: &Push) {
    loop {
        // Subscribed before looking, so a publish in between is not missed.
        let mut events = shared.hub.events();
        if is_live(shared, &push.key) {
            return;
        }
        push.set(PushState::WaitingForSource);
        loop {
            match events.recv().await {
                Ok(HubEvent::Published { key, .. }) if key == push.key => return,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => break,
                // The hub is gone: the server is stopping.
                Err(RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    }
}

/// One attempt; how it ended (a source no longer live by the time the
/// target was reached counts as the source's end).
async fn attempt(shared: &Arc<Shared>, push: &Arc<Push>, dial: &dyn Dial) -> End {
    let connect = Duration::from_secs(shared.config.relay.connect_secs);
    let dialed = match tokio::time::timeout(connect, dial.dial(&push.url)).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return End::Refused(format!("connect: {e}")),
        Err(_) => return End::Timeout("target connect"),
    };
    let protocol = match push.url.scheme {
        Scheme::Rtsp => Protocol::Rtsp,
        _ => Protocol::Rtmp,
    };
    let guard = shared.sessions.register(protocol, dialed.peer);
    let info = guard.info().clone();
    let span = tracing::info_span!(
        "session",
        id = info.id,
        proto = protocol.name(),
        peer = %dialed.peer,
        stream = %push.key,
    );
    let limits = shared.drive_limits();
    let run = async {
        let feed = Feed::attach(shared, &push.key, &info).await?;
        Some(match push.url.scheme {
            Scheme::Rtsp => match RtspPush::new(shared, &info, push.clone(), feed).await {
                Ok(target) => {
                    crate::drive::serve(target, dialed.rd, dialed.wr, limits, guard, "push").await
                }
                Err(end) => end,
            },
            _ => {
                let target = RtmpPush::new(shared, &info, push.clone(), feed);
                crate::drive::serve(target, dialed.rd, dialed.wr, limits, guard, "push").await
            }
        })
    };
    let end = tracing::Instrument::instrument(run, span).await;
    end.unwrap_or(End::PlayEnded(stream_core::EndReason::StreamEnded))
}
