//! One peer's task: its `str0m::Rtc` driven by datagrams, time and (for a
//! viewer) the stream's frames, until one of the ends in [`PeerEnd`].
//!
//! Deadlines: ICE and DTLS must complete within
//! `webrtc.connect_timeout_ms` of the answer; a connected peer that sends
//! nothing for `webrtc.peer_timeout_ms` is gone (consent freshness: browsers
//! check every ~5 s, RFC 7675 lets consent lapse after 30 s); writes never
//! wait (a full socket buffer drops, as the network would).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use str0m::net::Receive;
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::egress::Egress;
use super::ingest::Ingest;
use super::{Datagram, PeerRoutes, Resource, WebRtc};
use crate::session::SessionGuard;

/// What the peer does with the stream.
pub(super) enum Role {
    /// WHEP: frames of a subscription out.
    Play(Box<Egress>),
    /// WHIP: media in, into a publisher.
    Publish(Box<Ingest>),
}

/// What [`Role::next`] found to do.
pub(super) enum Work {
    /// A viewer's work.
    Play(super::egress::EgressWork),
    Keyframe,
}

/// Why a peer ended (the session's end reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PeerEnd {
    ConnectTimeout,
    PeerTimeout,
    Disconnected,
    Kicked,
    StreamEnded,
    Lagged,
    Refused,
    Error,
    Shutdown,
    Evicted,
}

impl PeerEnd {
    fn name(self) -> &'static str {
        match self {
            PeerEnd::ConnectTimeout => "connect-timeout",
            PeerEnd::PeerTimeout => "peer-timeout",
            PeerEnd::Disconnected => "peer-closed",
            PeerEnd::Kicked => "kicked",
            PeerEnd::StreamEnded => "stream-ended",
            PeerEnd::Lagged => "lagged",
            PeerEnd::Refused => "refused",
            PeerEnd::Error => "error",
            PeerEnd::Shutdown => "shutdown",
            PeerEnd::Evicted => "evicted",
        }
    }
}

/// Deadlines already due handled inside one turn at most (a keyframe's
/// packets are a few dozen).
const MAX_DUE_PER_TURN: usize = 512;

/// A peer, answered and about to run.
pub(super) struct Peer {
    pub rtc: Rtc,
    pub rx: mpsc::Receiver<Datagram>,
    pub routes: PeerRoutes,
    pub resource: Resource,
    /// The candidate address datagrams arrive at (the socket may be bound
    /// to a wildcard address, and str0m matches candidates).
    pub local: SocketAddr,
    pub webrtc: Arc<WebRtc>,
    /// Turns true when the server shuts down.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// The peer's place among its address's pending connections, until it
    /// connects (evicted under pressure: the peer ends).
    pub pending: Option<crate::admission::Ticket>,
    /// The peer's place under `webrtc.max_sessions`: given back after the
    /// session guard is dropped (unlisted).
    pub slot: super::PeerSlot,
}

/// Runs the peer to its end and records the reason on `guard`.
pub(super) async fn run(peer: Peer, mut role: Role, guard: SessionGuard) {
    let Peer {
        mut rtc,
        mut rx,
        routes,
        resource,
        local,
        webrtc,
        mut stopping,
        mut pending,
        slot,
    } = peer;
    // Declared after `slot`, so dropped before it on every path (an abort
    // too): the session is unlisted before its place goes back.
    let mut guard = guard;
    let eviction = pending.as_ref().map(|t| t.eviction());
    let config = &webrtc.config;
    let connect_by = Instant::now() + Duration::from_millis(config.connect_timeout_ms);
    let silence = Duration::from_millis(config.peer_timeout_ms);
    let mut heard = Instant::now();
    let mut connected = false;
    // The UDP datagrams of one turn, sent together.
    let mut batch = Vec::new();
    let info = guard.info().clone();
    let kicked = info.kicked();
    tokio::pin!(kicked);
    let end = loop {
        let drained = drain(
            &mut rtc,
            &mut role,
            &mut connected,
            &webrtc,
            &guard,
            &mut batch,
        );
        let rtc_deadline = match drained {
            Ok(t) => t,
            Err(end) => break end,
        };
        if !rtc.is_alive() {
            break PeerEnd::Disconnected;
        }
        if connected && pending.is_some() {
            pending = None; // a connected peer is not pending any more
        }
        if let Some(end) = role.ended() {
            break end;
        }
        let now = Instant::now();
        if !connected && now >= connect_by {
            webrtc
                .counters
                .connect_timeouts
                .fetch_add(1, Ordering::Relaxed);
            break PeerEnd::ConnectTimeout;
        }
        if connected && now >= heard + silence {
            webrtc
                .counters
                .peer_timeouts
                .fetch_add(1, Ordering::Relaxed);
            break PeerEnd::PeerTimeout;
        }
        let own = if connected {
            heard + silence
        } else {
            connect_by
        };
        let wake = rtc_deadline.min(own).min(role.deadline().unwrap_or(own));
        tokio::select! {
            biased;
            () = &mut kicked => break PeerEnd::Kicked,
            _ = stopping.wait_for(|s| *s) => break PeerEnd::Shutdown,
            () = async { match &eviction { Some(e) => e.evicted().await, None => std::future::pending().await } }, if pending.is_some() => {
                break PeerEnd::Evicted;
            }
            d = rx.recv() => {
                let Some(d) = d else { break PeerEnd::Error };
                heard = Instant::now();
                guard.info().bytes_in.fetch_add(d.data.len() as u64, Ordering::Relaxed);
                let Ok(contents) = d.data.as_ref().try_into() else { continue };
                let input = Input::Receive(
                    heard.into_std(),
                    Receive { proto: d.proto, source: d.from, destination: local, contents },
                );
                if let Err(e) = rtc.handle_input(input) {
                    tracing::debug!(error = %e, "webrtc: datagram refused");
                }
            }
            work = role.next(connected) => match work {
                Ok(work) => role.apply(work, &mut rtc),
                Err(end) => break end,
            },
            () = tokio::time::sleep_until(wake) => {
                if let Err(e) = rtc.handle_input(Input::Timeout(Instant::now().into_std())) {
                    tracing::info!(error = %e, "webrtc peer failed");
                    break PeerEnd::Error;
                }
            }
        }
    };
    // A last DTLS close alert and its datagrams, then nothing.
    rtc.disconnect();
    while let Ok(Output::Transmit(t)) = rtc.poll_output() {
        webrtc.send(t.proto, t.destination, &t.contents);
    }
    drop(routes);
    drop(resource);
    guard.set_end_reason(end.name());
    tracing::info!(
        bytes_in = guard.info().bytes_in.load(Ordering::Relaxed),
        bytes_out = guard.info().bytes_out.load(Ordering::Relaxed),
        "webrtc session ended: {}",
        end.name()
    );
    // Unlisted first, then the place under the cap goes back.
    drop(guard);
    drop(slot);
}

/// Everything str0m has to say (datagrams sent, events handled), up to its
/// next deadline.
fn drain(
    rtc: &mut Rtc,
    role: &mut Role,
    connected: &mut bool,
    webrtc: &Arc<WebRtc>,
    guard: &SessionGuard,
    batch: &mut Vec<(SocketAddr, Vec<u8>)>,
) -> Result<Instant, PeerEnd> {
    // str0m asks for a timeout after every packet it sends (its pacer
    // re-plans); a deadline already due is handled here, so a frame's packets
    // leave in one turn and one `sendmmsg`, up to a bound per turn.
    let mut due_now = 0;
    loop {
        match rtc.poll_output() {
            Ok(Output::Timeout(t)) => {
                let now = Instant::now();
                let t = Instant::from_std(t);
                if t <= now && due_now < MAX_DUE_PER_TURN {
                    due_now += 1;
                    if rtc.handle_input(Input::Timeout(now.into_std())).is_ok() {
                        continue;
                    }
                }
                webrtc.send_batch(batch);
                return Ok(t);
            }
            Ok(Output::Transmit(t)) => {
                guard
                    .info()
                    .bytes_out
                    .fetch_add(t.contents.len() as u64, Ordering::Relaxed);
                match t.proto {
                    str0m::net::Protocol::Udp => batch.push((t.destination, t.contents.into())),
                    _ => webrtc.send(t.proto, t.destination, &t.contents),
                }
            }
            Ok(Output::Event(e)) => {
                if let Some(end) = event(role, e, connected, webrtc) {
                    webrtc.send_batch(batch);
                    return Err(end);
                }
            }
            Err(e) => {
                webrtc.send_batch(batch);
                tracing::info!(error = %e, "webrtc peer failed");
                return Err(PeerEnd::Error);
            }
        }
    }
}

/// One event of str0m; `Some` ends the peer.
fn event(role: &mut Role, e: Event, connected: &mut bool, webrtc: &Arc<WebRtc>) -> Option<PeerEnd> {
    match e {
        Event::Connected => {
            *connected = true;
            tracing::info!("webrtc peer connected");
            role.connected();
        }
        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
            return Some(PeerEnd::Disconnected);
        }
        Event::MediaAdded(m) => role.media_added(m),
        Event::MediaData(d) => {
            if let Role::Publish(ingest) = role {
                ingest.media(d);
            }
        }
        Event::KeyframeRequest(r) => {
            if let Role::Play(egress) = role {
                egress.keyframe_request(r, webrtc);
            }
        }
        Event::Closed => return Some(PeerEnd::Disconnected),
        _ => {}
    }
    None
}

impl Role {
    fn connected(&mut self) {
        match self {
            Role::Play(e) => e.connected(),
            Role::Publish(i) => i.connected(),
        }
    }

    fn media_added(&mut self, m: str0m::media::MediaAdded) {
        match self {
            Role::Play(e) => e.media_added(m),
            Role::Publish(i) => i.media_added(m),
        }
    }

    /// An end decided while handling events (the stream refused, …).
    fn ended(&self) -> Option<PeerEnd> {
        match self {
            Role::Play(e) => e.ended(),
            Role::Publish(i) => i.ended(),
        }
    }

    /// The role's own next deadline (a WHIP publisher's keyframe requests).
    fn deadline(&self) -> Option<Instant> {
        match self {
            Role::Play(_) => None,
            Role::Publish(i) => i.deadline(),
        }
    }

    /// The role's next piece of work: a viewer's next frame, a keyframe a
    /// publisher is asked for; or its end (stream over, publisher closed).
    async fn next(&mut self, connected: bool) -> Result<Work, PeerEnd> {
        match self {
            Role::Play(e) => e.next(connected).await.map(Work::Play),
            Role::Publish(i) => i.next().await.map(|()| Work::Keyframe),
        }
    }

    fn apply(&mut self, work: Work, rtc: &mut Rtc) {
        match (self, work) {
            (Role::Play(e), Work::Play(w)) => e.apply(w, rtc),
            (Role::Publish(i), Work::Keyframe) => i.ask_keyframe(rtc),
            _ => {}
        }
    }
}
