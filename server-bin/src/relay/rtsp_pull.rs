//! A stream pulled over RTSP (cameras, NVRs, other servers): rtsp-proto's
//! `ClientSession` (OPTIONS, DESCRIBE with Basic/Digest, SETUP of every
//! track interleaved on the connection, PLAY, keep-alives) on the generic
//! [drive loop](crate::drive), its RTP depacketized by the same ingest as
//! RTSP publishers and published into the local stream.
//!
//! Deadlines are the client session's: each request's answer within
//! `relay.connect_secs`; no RTP for `relay.no_media_secs` while playing.
//!
//! Over UDP (`rtsp_transport = "udp"` or `"auto"`) the pull holds
//! [`UDP_TRACKS`] port pairs from `rtsp.udp_port_range` for its life, read by
//! the same reader tasks as RTSP sessions (datagrams only from the
//! upstream's address), reordered like UDP publishers' packets. `auto` falls
//! back to TCP interleaved when the upstream refuses UDP or no packet
//! comes within the media-idle deadline.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtsp_proto::media::{ReorderBuffer, RtpPacket};
use rtsp_proto::signal::{
    ClientConfig, ClientEvent, ClientSession, ClientTimeout, ClientTimeouts, ClientTransport,
};
use stream_core::{CloseReason, Publisher};
use tokio::sync::mpsc;

use super::Proxy;
use crate::drive::{Driven, End};
use crate::io::Outbox;
use crate::media::rtp_ingest::RtpIngest;
use crate::media::rtp_ingest::RtpIngested;
use crate::server::Shared;
use crate::session::SessionInfo;

/// Read buffer size: a pull carries media from PLAY on.
const READ_CHUNK: usize = 64 * 1024;
/// UDP port pairs a pull holds (tracks of an upstream beyond these are
/// not set up over UDP): video, audio, and room for metadata tracks.
pub(crate) const UDP_TRACKS: usize = 4;

/// One attempt at pulling an `rtsp://` upstream.
pub(crate) struct RtspPull {
    shared: Arc<Shared>,
    info: Arc<SessionInfo>,
    proxy: Arc<Proxy>,
    client: ClientSession,
    out: Outbox,
    /// From DESCRIBE: the depacketizers of the tracks strom can ingest.
    ingest: Option<RtpIngest>,
    /// Interleaved RTP channel → SDP track index, from the SETUP answers.
    channels: Vec<(u8, usize)>,
    publisher: Option<Publisher>,
    ingested: Vec<crate::media::rtp_ingest::RtpIngested>,
    /// The first frame went into the stream (the proxy shows `live` from
    /// then, not from PLAY: an upstream may answer PLAY and send nothing).
    live_noted: bool,
    /// Over UDP: the port pairs (released when the pull ends), their
    /// datagrams, and one reorder buffer per track.
    _udp_pairs: Vec<crate::rtsp::udp::UdpPair>,
    udp_rx: Option<mpsc::Receiver<crate::rtsp::udp::Datagram>>,
    reorder: Vec<Option<ReorderBuffer>>,
}

/// What wakes a pull besides its socket.
pub(crate) enum Wake {
    /// The hub closed the stream's publisher.
    Closed(CloseReason),
    /// A datagram on one of the pull's UDP ports.
    Datagram(Option<crate::rtsp::udp::Datagram>),
}

impl RtspPull {
    /// A pull that starts with OPTIONS.
    pub(crate) fn new(
        shared: Arc<Shared>,
        info: Arc<SessionInfo>,
        proxy: Arc<Proxy>,
        peer_ip: std::net::IpAddr,
    ) -> Result<RtspPull, End> {
        let relay = &shared.config.relay;
        let mut config = ClientConfig::play(proxy.url().raw);
        config.user_agent = format!("strom/{}", env!("CARGO_PKG_VERSION"));
        config.seed = info.id ^ 0x5eed_5eed_5eed_5eed;
        config.timeouts = ClientTimeouts {
            response: Duration::from_secs(relay.connect_secs),
            media_idle: Duration::from_secs(relay.no_media_secs),
            ..ClientTimeouts::default()
        };
        let (udp, udp_rx) = match proxy.rtsp_transport {
            crate::config::RtspTransport::Tcp => (Vec::new(), None),
            udp_or_auto => {
                let (pairs, rx) = udp_pairs(&shared, peer_ip)?;
                let client_ports = pairs.iter().map(|p| p.ports()).collect();
                config.transport = if udp_or_auto == crate::config::RtspTransport::Udp {
                    ClientTransport::Udp { client_ports }
                } else {
                    ClientTransport::Auto { client_ports }
                };
                (pairs, Some(rx))
            }
        };
        let client = ClientSession::new(config, crate::drive::now())
            .map_err(|e| End::Refused(format!("upstream URL: {e}")))?;
        Ok(RtspPull {
            _udp_pairs: udp,
            udp_rx,
            reorder: Vec::new(),
            shared,
            info,
            proxy,
            client,
            out: Outbox::default(),
            ingest: None,
            channels: Vec::new(),
            publisher: None,
            ingested: Vec::new(),
            live_noted: false,
        })
    }

    /// PLAY answered: take the local name.
    fn claim(&mut self) -> Result<(), End> {
        let key = self.proxy.key.clone();
        let mut publisher = self
            .shared
            .hub
            .publish(key.clone(), self.info.peer_info())
            .map_err(|e| End::Refused(format!("the local name is taken: {e}")))?;
        if let Some(tracks) = self.ingest.as_ref().map(|i| i.tracks()) {
            if !tracks.is_empty() {
                publisher.set_tracks(tracks);
            }
        }
        tracing::info!(stream = %key, upstream = %self.proxy.url(), resumed = publisher.resumed(), "relay live");
        self.info.set_stream(key, None);
        self.publisher = Some(publisher);
        Ok(())
    }

    /// One datagram from the upstream's UDP packets.
    fn datagram(&mut self, d: crate::rtsp::udp::Datagram) {
        self.info
            .bytes_in
            .fetch_add(d.data.len() as u64, std::sync::atomic::Ordering::Relaxed);
        if d.rtcp {
            return;
        }
        let now = crate::drive::now();
        self.client.note_media(now);
        let (Some(ingest), true) = (self.ingest.as_mut(), self.publisher.is_some()) else {
            return;
        };
        let Ok(packet) = RtpPacket::parse(&d.data) else {
            return;
        };
        if !ingest.has(d.setup) {
            return;
        }
        if self.reorder.len() <= d.setup {
            self.reorder.resize_with(d.setup + 1, || None);
        }
        let Some(slot) = self.reorder.get_mut(d.setup) else {
            return;
        };
        let buffer = slot.get_or_insert_with(|| {
            ReorderBuffer::new(crate::rtsp::REORDER_WINDOW, crate::rtsp::REORDER_WAIT)
        });
        buffer.push(packet, now);
        while let Some(p) = buffer.pop(now) {
            ingest.push_packet(d.setup, &p, &mut self.ingested);
        }
        self.deliver();
    }

    /// Publishes what the ingest made; the first frame marks the proxy live.
    fn deliver(&mut self) {
        let Some(publisher) = self.publisher.as_mut() else {
            return;
        };
        if !self.live_noted
            && self
                .ingested
                .iter()
                .any(|i| matches!(i, RtpIngested::Frame(_)))
        {
            self.live_noted = true;
            self.proxy.went_live();
        }
        crate::rtsp::deliver_rtp(&mut self.ingested, publisher);
    }

    fn rtp(&mut self, channel: u8, data: &Bytes) {
        let Some(&(_, track)) = self.channels.iter().find(|(c, _)| *c == channel) else {
            return; // RTCP, or a track not set up
        };
        let (Some(ingest), true) = (self.ingest.as_mut(), self.publisher.is_some()) else {
            return;
        };
        if ingest.has(track) {
            ingest.push(track, data, &mut self.ingested);
            self.deliver();
        }
    }
}

impl Driven for RtspPull {
    type Wake = Wake;

    fn input(&mut self, bytes: Bytes, now: std::time::Instant) -> Result<(), End> {
        client_input(&mut self.client, bytes, now, timeout_name)
    }

    async fn on_events(&mut self) -> Result<(), End> {
        while let Some(event) = self.client.poll_event() {
            match event {
                ClientEvent::Described { sdp, .. } => {
                    let infos = sdp.media_infos();
                    let (ingest, skipped) = RtpIngest::from_sdp(&infos)
                        .map_err(|e| End::Refused(format!("upstream SDP: {e}")))?;
                    for s in &skipped {
                        tracing::warn!(stream = %self.proxy.key, "upstream track not ingested: {s}");
                    }
                    self.ingest = Some(ingest);
                }
                ClientEvent::SetUp { track, transport } => {
                    if let Some((rtp, _)) = transport.interleaved {
                        self.channels.push((rtp, track));
                    }
                }
                ClientEvent::Playing { .. } => self.claim()?,
                ClientEvent::Interleaved { channel, data } => self.rtp(channel, &data),
                ClientEvent::Failed { status, reason } => {
                    return Err(End::Refused(format!("upstream: {status} {reason}")))
                }
                ClientEvent::TimedOut { what } => return Err(End::Timeout(timeout_name(&what))),
                ClientEvent::Error(e) => return Err(End::Protocol(Box::new(e))),
                ClientEvent::Closed => return Err(End::PeerClosed),
                _ => {}
            }
        }
        Ok(())
    }

    fn transmit(&mut self) -> &mut Outbox {
        while let Some(bytes) = self.client.poll_transmit() {
            self.out.push(bytes);
        }
        &mut self.out
    }

    fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.client.poll_timeout()
    }

    fn handle_timeout(&mut self, now: std::time::Instant) {
        self.client.handle_timeout(now);
    }

    async fn wake(&mut self) -> Wake {
        let publisher = &self.publisher;
        let closed = async move {
            match publisher {
                Some(p) => p.closed().await,
                None => std::future::pending().await,
            }
        };
        let udp = &mut self.udp_rx;
        let datagram = async move {
            match udp {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            reason = closed => Wake::Closed(reason),
            d = datagram => Wake::Datagram(d),
        }
    }

    async fn on_wake(&mut self, wake: Wake) -> Result<(), End> {
        match wake {
            Wake::Closed(reason) => Err(End::PublisherClosed(reason)),
            Wake::Datagram(Some(d)) => {
                self.datagram(d);
                Ok(())
            }
            // The readers hold senders of the pull's own channel.
            Wake::Datagram(None) => Ok(()),
        }
    }

    fn read_size(&self) -> usize {
        READ_CHUNK
    }
}

/// Feeds an RTSP client session (pulls and pushes).
pub(crate) fn client_input(
    client: &mut ClientSession,
    bytes: Bytes,
    now: std::time::Instant,
    timeout_name: fn(&ClientTimeout) -> &'static str,
) -> Result<(), End> {
    match client.handle_input_bytes(bytes, now) {
        Ok(()) => Ok(()),
        // Why the session closed (a deadline, the peer's broken input) is
        // queued as an event: say that rather than the bare error.
        Err(e) => {
            while let Some(event) = client.poll_event() {
                if let ClientEvent::TimedOut { what } = event {
                    return Err(End::Timeout(timeout_name(&what)));
                }
            }
            Err(End::Protocol(Box::new(e)))
        }
    }
}

fn timeout_name(what: &ClientTimeout) -> &'static str {
    match what {
        ClientTimeout::MediaIdle => "upstream media",
        _ => "upstream response",
    }
}

/// Binds the pull's UDP port pairs and starts their readers.
fn udp_pairs(
    shared: &Shared,
    upstream: std::net::IpAddr,
) -> Result<
    (
        Vec<crate::rtsp::udp::UdpPair>,
        mpsc::Receiver<crate::rtsp::udp::Datagram>,
    ),
    End,
> {
    let Some(ports) = shared.udp_ports.as_ref() else {
        return Err(End::Refused("UDP needs rtsp.udp_port_range".into()));
    };
    let (tx, rx) = mpsc::channel(crate::rtsp::udp::QUEUE);
    let mut pairs = Vec::with_capacity(UDP_TRACKS);
    for track in 0..UDP_TRACKS {
        let pair = ports
            .allocate()
            .ok_or_else(|| End::Refused("rtsp.udp_port_range is exhausted".into()))?;
        crate::rtsp::udp::spawn_readers(&pair, track, upstream, &tx);
        pairs.push(pair);
    }
    Ok((pairs, rx))
}
