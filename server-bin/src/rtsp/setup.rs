//! SETUP, for players and publishers alike: which track, over which
//! transport (TCP interleaved, or a UDP port pair from the configured range).

use std::net::SocketAddr;

use rtsp_proto::signal::{LowerTransport, Reply, RequestId, Transport};

use super::driver::{Conn, SetupTrack};
use crate::drive::End;

impl Conn {
    pub(super) fn setup(
        &mut self,
        request_id: RequestId,
        track: Option<String>,
        mut transport: Transport,
    ) -> Result<(), End> {
        let index = if let Some(p) = &self.playing {
            // Our DESCRIBE answer names tracks `trackID=N`.
            track
                .as_deref()
                .and_then(|t| t.strip_prefix("trackID="))
                .and_then(|n| n.parse::<usize>().ok())
                .or((p.tracks.len() == 1).then_some(0))
                .filter(|&n| n < p.tracks.len())
        } else if let Some(r) = &self.recording {
            r.index_of(track.as_deref(), self.setups.len())
        } else {
            self.rtsp.respond(request_id, Reply::status(455))?;
            return Ok(());
        };
        let Some(index) = index else {
            self.rtsp.respond(request_id, Reply::status(404))?;
            return Ok(());
        };
        if self.setups.iter().any(|s| s.index == index) {
            self.rtsp.respond(request_id, Reply::status(459))?; // already set up
            return Ok(());
        }
        let mut setup = SetupTrack {
            index,
            udp: None,
            channels: None,
        };
        match transport.lower {
            LowerTransport::Tcp => setup.channels = transport.interleaved,
            LowerTransport::Udp => {
                // Port 0 is no destination: refuse before binding anything.
                if transport
                    .client_port
                    .is_some_and(|(rtp, rtcp)| rtp == 0 || rtcp == 0)
                {
                    self.rtsp.respond(request_id, Reply::status(400))?;
                    return Ok(());
                }
                let pair = self.shared.udp_ports.as_ref().and_then(|p| p.allocate());
                let (Some(pair), Some((rtp, rtcp))) = (pair, transport.client_port) else {
                    // 461: the client retries over TCP (ffmpeg and VLC do).
                    tracing::info!("no udp port pair free or no client ports: asking for tcp");
                    self.rtsp.respond(request_id, Reply::status(461))?;
                    return Ok(());
                };
                let peer = self.info.peer.ip();
                transport.server_port = Some(pair.ports());
                super::udp::spawn_readers(&pair, self.setups.len(), peer, &self.udp_tx);
                setup.udp = Some((
                    pair,
                    SocketAddr::new(peer, rtp),
                    SocketAddr::new(peer, rtcp),
                ));
            }
        }
        self.setups.push(setup);
        self.rtsp.respond(request_id, Reply::setup(transport))?;
        Ok(())
    }
}
