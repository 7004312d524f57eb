//! WebRTC: WHEP viewers and WHIP publishers on str0m.
//!
//! Signalling is HTTP on the HTTP port ([`signal`]): an offer posted to
//! `/app/stream/whep` (play) or `/app/stream/whip` (publish) is answered
//! with str0m's answer and a session resource to `DELETE`. Media of every
//! peer goes through one UDP socket ([`udp`]): strom is ICE-lite, so a
//! peer's first connectivity check names its session (the STUN `USERNAME`
//! starts with the ufrag strom gave it) and its address routes everything
//! after that. Each peer is one task on a media worker (`peer`) that owns
//! its `str0m::Rtc` and drives it with datagrams, `Instant`s and, for a
//! viewer, the stream's frames (`egress`); a publisher's media goes into
//! the hub like RTSP's (`ingest`). Audio is transcoded once per stream
//! (`transcode`); ICE-TCP shares the port number ([`tcp`]).

mod egress;
mod ingest;
pub mod metrics;
mod peer;
pub mod signal;
mod stun;
pub mod tcp;
mod transcode;
pub mod udp;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use stream_core::StreamKey;
use tokio::sync::{mpsc, Notify};

use crate::config::WebRtcConfig;
use crate::session::{lock, SessionInfo};

/// Datagrams queued for one peer at most; beyond, they are dropped (UDP).
const PEER_QUEUE: usize = 512;
/// Addresses one peer may be reached from (its candidates).
const MAX_ADDRS_PER_PEER: usize = 8;

/// One datagram for a peer.
#[derive(Debug)]
pub(crate) struct Datagram {
    from: SocketAddr,
    data: Bytes,
    /// UDP, or ICE-TCP.
    proto: str0m::net::Protocol,
}

/// Where the demultiplexer sends a peer's datagrams.
#[derive(Debug, Clone)]
struct Route {
    peer: u64,
    tx: mpsc::Sender<Datagram>,
}

#[derive(Debug, Default)]
struct Routes {
    by_ufrag: HashMap<String, Route>,
    by_addr: HashMap<SocketAddr, Route>,
    addrs_of: HashMap<u64, Vec<SocketAddr>>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct WebRtcCounters {
    /// Datagrams read from the UDP socket.
    pub datagrams_in: AtomicU64,
    /// Datagrams nobody owns (unknown address or ufrag, junk).
    pub datagrams_unrouted: AtomicU64,
    /// Datagrams dropped because their peer's queue was full.
    pub datagrams_dropped: AtomicU64,
    /// Datagrams the socket did not take (send buffer full).
    pub send_dropped: AtomicU64,
    /// Offers answered, by kind.
    pub offers_play: AtomicU64,
    /// WHIP offers answered.
    pub offers_publish: AtomicU64,
    /// Offers refused (bad SDP, no stream, caps, hooks).
    pub offers_refused: AtomicU64,
    /// Peers that never connected within `webrtc.connect_timeout_ms`.
    pub connect_timeouts: AtomicU64,
    /// Connected peers dropped after `webrtc.peer_timeout_ms` of silence.
    pub peer_timeouts: AtomicU64,
    /// Keyframe requests sent to publishers.
    pub keyframe_requests: AtomicU64,
    /// AAC → Opus transcodes started.
    pub transcodes: AtomicU64,
    /// AAC frames a busy transcode thread could not take.
    pub transcode_dropped: AtomicU64,
}

/// The WebRTC side of the server: the shared UDP socket, the routes of
/// its datagrams, the session resources of the signalling.
#[derive(Debug)]
pub struct WebRtc {
    /// `[webrtc]`.
    pub config: WebRtcConfig,
    /// The bound port (the configured one, or the one picked for 0).
    pub port: u16,
    /// Sends of every peer: non-blocking, a full buffer drops the datagram.
    sender: UdpSocket,
    routes: Mutex<Routes>,
    /// ICE-TCP connections by remote address: where peers' TCP sends go.
    links: Mutex<HashMap<SocketAddr, mpsc::Sender<Bytes>>>,
    /// ICE-TCP on the UDP port's number (`None`: off, or the port was taken).
    pub tcp_port: Option<u16>,
    /// Session resources (`Location`) → the peer's session, for `DELETE`.
    resources: Mutex<HashMap<String, Arc<SessionInfo>>>,
    /// WHIP publishers that can answer keyframe requests, by stream.
    keyframes: Mutex<HashMap<StreamKey, Arc<Notify>>>,
    /// Running AAC → Opus transcodes: the AAC configuration and the feed.
    #[allow(clippy::type_complexity)]
    transcodes: Mutex<
        HashMap<
            StreamKey,
            (
                Bytes,
                tokio::sync::broadcast::Sender<Arc<audio_transcode::OpusPacket>>,
            ),
        >,
    >,
    next_peer: AtomicU64,
    /// Places taken under `webrtc.max_sessions`: reserved before an offer's
    /// session is listed and given back after it is gone (see [`PeerSlot`]).
    slots: Arc<AtomicUsize>,
    /// One certificate for every peer: generating one per offer would cost
    /// a key generation per offer (and invite floods to burn CPU on it).
    cert: str0m::config::DtlsCert,
    /// Counters for `/metrics`.
    pub counters: WebRtcCounters,
}

/// Binds ICE-TCP on the UDP socket's port number; `None` (logged) when that
/// port is taken for TCP: WebRTC then works over UDP only.
pub fn bind_tcp(
    bind: IpAddr,
    udp: &UdpSocket,
    config: &WebRtcConfig,
) -> Option<std::net::TcpListener> {
    if !config.ice_tcp {
        return None;
    }
    let port = udp.local_addr().ok()?.port();
    let bound = std::net::TcpListener::bind(SocketAddr::new(bind, port))
        .and_then(|l| l.set_nonblocking(true).map(|()| l));
    match bound {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(port, error = %e, "webrtc: ICE-TCP off (the TCP port is taken)");
            None
        }
    }
}

/// Binds `[webrtc]`'s UDP port on `bind`.
///
/// # Errors
/// The bind error.
pub fn bind(bind: IpAddr, config: &WebRtcConfig) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind(SocketAddr::new(bind, config.port))?;
    socket.set_nonblocking(true)?;
    // A viewer's burst (a cached GOP at start) leaves at once: room for it.
    let _ = rustix::net::sockopt::set_socket_send_buffer_size(&socket, 4 << 20);
    let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&socket, 4 << 20);
    Ok(socket)
}

impl WebRtc {
    /// The WebRTC state around a bound socket; [`udp::start`] reads it.
    ///
    /// # Errors
    /// The socket cannot be duplicated, or no certificate can be made.
    pub fn new(
        socket: &UdpSocket,
        tcp: Option<&std::net::TcpListener>,
        config: WebRtcConfig,
    ) -> Result<Arc<WebRtc>, String> {
        let provider = str0m::crypto::from_feature_flags();
        let cert = provider
            .dtls_provider
            .generate_certificate()
            .ok_or("no DTLS certificate could be generated")?;
        let port = socket.local_addr().map_err(|e| e.to_string())?.port();
        let tcp_port = tcp.and_then(|l| l.local_addr().ok()).map(|a| a.port());
        Ok(Arc::new(WebRtc {
            config,
            port,
            sender: socket.try_clone().map_err(|e| e.to_string())?,
            routes: Mutex::default(),
            resources: Mutex::default(),
            links: Mutex::default(),
            tcp_port,
            keyframes: Mutex::default(),
            transcodes: Mutex::default(),
            next_peer: AtomicU64::new(1),
            slots: Arc::default(),
            cert,
            counters: WebRtcCounters::default(),
        }))
    }

    /// Sends one packet (over UDP, or the ICE-TCP connection from `to`),
    /// or drops it when the socket's buffer or the connection's queue is full.
    fn send(&self, proto: str0m::net::Protocol, to: SocketAddr, data: &[u8]) {
        let sent = match proto {
            str0m::net::Protocol::Tcp => lock(&self.links)
                .get(&to)
                .is_some_and(|tx| tx.try_send(Bytes::copy_from_slice(data)).is_ok()),
            _ => self.sender.send_to(data, to).is_ok(),
        };
        if !sent {
            self.counters.send_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends a peer's UDP datagrams of one turn with one `sendmmsg` per 32
    /// (a video frame is several packets to one address; one system call
    /// each was a third of a viewer's cost). What the socket does not take
    /// is dropped, as the network would. Empties `batch`.
    fn send_batch(&self, batch: &mut Vec<(SocketAddr, Vec<u8>)>) {
        use rustix::net::{sendmmsg, MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny};
        for chunk in batch.chunks(32) {
            let addrs: Vec<SocketAddrAny> = chunk.iter().map(|(a, _)| (*a).into()).collect();
            let iovs: Vec<[std::io::IoSlice<'_>; 1]> = chunk
                .iter()
                .map(|(_, d)| [std::io::IoSlice::new(d)])
                .collect();
            let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = chunk
                .iter()
                .map(|_| SendAncillaryBuffer::default())
                .collect();
            let mut msgs: Vec<MMsgHdr<'_>> = addrs
                .iter()
                .zip(&iovs)
                .zip(controls.iter_mut())
                .map(|((a, iov), c)| MMsgHdr::new_with_addr(a, iov, c))
                .collect();
            let sent = sendmmsg(&self.sender, &mut msgs, SendFlags::empty()).unwrap_or(0);
            let lost = chunk.len().saturating_sub(sent);
            if lost > 0 {
                self.counters
                    .send_dropped
                    .fetch_add(lost as u64, Ordering::Relaxed);
            }
        }
        batch.clear();
    }

    /// The route of a STUN binding request by its ufrag alone (ICE-TCP: the
    /// connection keeps it).
    fn route_stun(&self, data: &[u8]) -> Option<Route> {
        let ufrag = stun::local_ufrag(data)?;
        lock(&self.routes).by_ufrag.get(ufrag).cloned()
    }

    /// Takes one of the `webrtc.max_sessions` places; `None` when all are
    /// taken. An offer takes its place before anything else (before its
    /// session is listed, before the hooks) and its session gives it back
    /// only after it is no longer listed, so the listed WebRTC sessions
    /// never outnumber the cap, not even while offers are being answered
    /// or peers are ending.
    pub(crate) fn reserve(&self) -> Option<PeerSlot> {
        let max = self.config.max_sessions;
        self.slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| PeerSlot {
                slots: self.slots.clone(),
            })
    }

    /// Registers a peer by the ufrag strom gave it; the guard removes every
    /// route of the peer. The cap was kept by the [`PeerSlot`] the offer
    /// holds.
    fn register(self: &Arc<Self>, ufrag: &str) -> (PeerRoutes, mpsc::Receiver<Datagram>) {
        let peer = self.next_peer.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(PEER_QUEUE);
        lock(&self.routes)
            .by_ufrag
            .insert(ufrag.to_string(), Route { peer, tx });
        (
            PeerRoutes {
                webrtc: self.clone(),
                peer,
                ufrag: ufrag.to_string(),
            },
            rx,
        )
    }

    /// Where a datagram from `from` goes: by address, or for a STUN binding
    /// request by the ufrag in its `USERNAME` (which also learns the address).
    fn route(&self, from: SocketAddr, data: &[u8]) -> Option<Route> {
        let mut routes = lock(&self.routes);
        if let Some(r) = routes.by_addr.get(&from) {
            return Some(r.clone());
        }
        let ufrag = stun::local_ufrag(data)?;
        let route = routes.by_ufrag.get(ufrag)?.clone();
        let addrs = routes.addrs_of.entry(route.peer).or_default();
        if addrs.len() < MAX_ADDRS_PER_PEER {
            addrs.push(from);
            routes.by_addr.insert(from, route.clone());
        }
        Some(route)
    }

    /// The session behind a resource id.
    pub fn resource(&self, id: &str) -> Option<Arc<SessionInfo>> {
        lock(&self.resources).get(id).cloned()
    }

    /// Streams transcoded for WebRTC now.
    pub fn transcodes_running(&self) -> usize {
        lock(&self.transcodes).len()
    }

    /// Live WebRTC peers.
    pub fn peers(&self) -> usize {
        lock(&self.routes).by_ufrag.len()
    }

    /// A viewer of `key` asked for a keyframe: a WHIP publisher of it is
    /// asked (rate-limited there).
    pub fn want_keyframe(&self, key: &StreamKey) {
        if let Some(n) = lock(&self.keyframes).get(key) {
            n.notify_one();
        }
    }
}

/// Whether a browser plays `s` cleanly over WebRTC, or why not: H.264
/// without B-frames (or no video), audio strom can send (Opus, G.711, or
/// AAC transcoded): see [`crate::media::carriage`].
pub fn playable(s: &stream_core::StreamSnapshot) -> Result<(), String> {
    use crate::media::carriage::{not_carried, Output};
    use stream_core::Codec;
    for t in &s.tracks {
        if t.codec == Codec::H264 && s.reordered_video {
            return Err(
                "H.264 with B-frames: WebRTC cannot reorder frames (publish with -bf 0)".into(),
            );
        }
        if let Some(reason) = not_carried(Output::WebRtc, t) {
            let kind = if t.codec.is_video() { "video" } else { "audio" };
            return Err(format!("{} {kind}: {reason}", t.codec));
        }
    }
    Ok(())
}

/// At a viewer's offer for `key`: logs the announced tracks WebRTC leaves
/// out, and refuses (`Err` with the reason, answered 415) when it can carry
/// none of them.
pub(crate) fn offer_carriage(
    shared: &crate::server::Shared,
    key: &StreamKey,
) -> Result<(), String> {
    use crate::media::carriage::{self, Output, Rules};
    let Some(snapshot) = shared.hub.stream(key) else {
        return Ok(());
    };
    let dropped = Rules::of(&shared.config).dropped(Output::WebRtc, &snapshot.tracks);
    if carriage::none_carried(&snapshot.tracks, &dropped) {
        let why = carriage::refusal("WebRTC", &dropped);
        tracing::warn!(stream = %key, reason = %why, "webrtc offer refused");
        return Err(why);
    }
    carriage::warn_viewer("webrtc", Some(key), &dropped);
    Ok(())
}

/// Keeps the first media of `kind` the peer negotiated (one video, one
/// audio: more are not carried).
fn first_mid(
    m: &str0m::media::MediaAdded,
    kind: str0m::media::MediaKind,
    mid: &mut Option<str0m::media::Mid>,
) {
    if m.kind == kind && mid.is_none() {
        *mid = Some(m.mid);
    }
}

/// One place under `webrtc.max_sessions`, given back on drop.
#[derive(Debug)]
pub(crate) struct PeerSlot {
    slots: Arc<AtomicUsize>,
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        self.slots.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A peer's routes, removed when it ends.
#[derive(Debug)]
struct PeerRoutes {
    webrtc: Arc<WebRtc>,
    peer: u64,
    ufrag: String,
}

impl Drop for PeerRoutes {
    fn drop(&mut self) {
        let mut routes = lock(&self.webrtc.routes);
        routes.by_ufrag.remove(&self.ufrag);
        for a in routes.addrs_of.remove(&self.peer).unwrap_or_default() {
            routes.by_addr.remove(&a);
        }
    }
}

/// A publisher that can answer keyframe requests (WHIP, RTSP): its
/// registration by stream, removed when it ends.
#[derive(Debug)]
pub struct KeyframeSource {
    webrtc: Arc<WebRtc>,
    key: StreamKey,
    notify: Arc<Notify>,
}

impl KeyframeSource {
    /// Registers the publisher of `key`.
    pub fn new(webrtc: &Arc<WebRtc>, key: &StreamKey) -> KeyframeSource {
        let notify = Arc::new(Notify::new());
        lock(&webrtc.keyframes).insert(key.clone(), notify.clone());
        KeyframeSource {
            webrtc: webrtc.clone(),
            key: key.clone(),
            notify,
        }
    }
}

impl KeyframeSource {
    /// Resolves when a viewer asks for a keyframe.
    pub async fn wanted(&self) {
        self.notify.notified().await;
    }
}

impl Drop for KeyframeSource {
    fn drop(&mut self) {
        let mut map = lock(&self.webrtc.keyframes);
        if map
            .get(&self.key)
            .is_some_and(|n| Arc::ptr_eq(n, &self.notify))
        {
            map.remove(&self.key);
        }
    }
}

/// A session resource (`Location`), removed when the peer ends.
#[derive(Debug)]
struct Resource {
    webrtc: Arc<WebRtc>,
    id: String,
}

impl Resource {
    fn new(webrtc: &Arc<WebRtc>, id: String, info: Arc<SessionInfo>) -> Resource {
        lock(&webrtc.resources).insert(id.clone(), info);
        Resource {
            webrtc: webrtc.clone(),
            id,
        }
    }
}

impl Drop for Resource {
    fn drop(&mut self) {
        lock(&self.webrtc.resources).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Places above `webrtc.max_sessions` are refused until one is given
    /// back; every place comes back when its holders are gone.
    #[test]
    fn places_under_the_session_cap() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let config = WebRtcConfig {
            max_sessions: 3,
            ..WebRtcConfig::default()
        };
        let webrtc = WebRtc::new(&socket, None, config).unwrap();
        let mut held: Vec<PeerSlot> = (0..3).filter_map(|_| webrtc.reserve()).collect();
        assert_eq!(held.len(), 3);
        for _ in 0..10 {
            assert!(
                webrtc.reserve().is_none(),
                "a fourth place under a cap of 3"
            );
        }
        held.pop();
        held.push(webrtc.reserve().expect("a place given back is taken again"));
        assert!(webrtc.reserve().is_none());
        drop(held);
        assert_eq!(webrtc.slots.load(Ordering::Acquire), 0);
        let again: Vec<PeerSlot> = (0..5).filter_map(|_| webrtc.reserve()).collect();
        assert_eq!(again.len(), 3);
    }
}
