//! Who watches a stream, whatever the protocol, for the API, the
//! ZLMediaKit-compatible `readerCount` and `/metrics`.
//!
//! RTMP, HTTP-FLV and RTSP players are hub subscribers. HTTP-TS and HLS
//! viewers are not: they read the output of the stream's one packager
//! ([`crate::ts_feed`]), which is a single hub subscriber of its own. So the
//! count is the hub's subscribers minus the packager, plus the open HTTP-TS
//! sessions on the stream (one continuous response per viewer), plus the
//! client addresses with an open HLS connection to the stream: HLS players
//! keep their connections alive but may open two (ffmpeg fetches the playlist
//! and the segments on separate ones), so HLS viewers behind one address
//! count once.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use stream_core::{PeerInfo, Protocol, StreamKey, StreamSnapshot};

use crate::session::SessionTable;

/// The packager's identity as a hub subscriber (session 0 never names a
/// connection: session ids start at 1).
pub fn packager() -> PeerInfo {
    PeerInfo {
        protocol: Protocol::Hls,
        ..PeerInfo::internal(0)
    }
}

/// Players per stream, counted once for a whole answer.
#[derive(Debug, Default)]
pub struct Players {
    packaged: HashMap<StreamKey, usize>,
}

impl Players {
    /// Counts the HTTP-TS sessions and HLS client addresses of every stream, now.
    pub fn count(sessions: &SessionTable) -> Players {
        let mut packaged: HashMap<StreamKey, usize> = HashMap::new();
        let mut hls: HashSet<(StreamKey, IpAddr)> = HashSet::new();
        for s in sessions.list() {
            let Some(key) = s.stream() else { continue };
            match s.protocol {
                Protocol::HttpTs => *packaged.entry(key).or_default() += 1,
                Protocol::Hls => {
                    hls.insert((key, s.peer.ip()));
                }
                _ => {}
            }
        }
        for (key, _) in hls {
            *packaged.entry(key).or_default() += 1;
        }
        Players { packaged }
    }

    /// Players of `stream`: its hub subscribers but the packager, and the
    /// viewers of the packager's output.
    pub fn of(&self, stream: &StreamSnapshot) -> usize {
        let packager = packager();
        let direct = stream
            .subscribers
            .iter()
            .filter(|s| s.who != packager)
            .count();
        direct + self.packaged.get(&stream.key).copied().unwrap_or(0)
    }
}
