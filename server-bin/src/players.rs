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
//! count once. Other internal subscribers (a recorder, an AAC → Opus
//! transcoder) are no viewers either: like the packager they subscribe as
//! session 0, which never names a connection.

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

    /// Players of `stream`: its hub subscribers that are connections (not
    /// the packager, a recorder or a transcoder), and the viewers of the
    /// packager's output.
    pub fn of(&self, stream: &StreamSnapshot) -> usize {
        let direct = stream
            .subscribers
            .iter()
            .filter(|s| s.who.session_id != 0)
            .count();
        direct + self.packaged.get(&stream.key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use stream_core::{Hub, HubConfig};

    use super::*;
    use crate::session::SessionGuard;

    /// A session on `key`; the table keeps it while the guard lives.
    fn viewer(
        sessions: &Arc<SessionTable>,
        protocol: Protocol,
        ip: [u8; 4],
        key: &StreamKey,
    ) -> SessionGuard {
        let guard = sessions.register(protocol, (ip, 40000).into());
        guard.info().set_stream(key.clone(), None);
        guard
    }

    #[tokio::test]
    async fn counts_direct_players_packaged_viewers_and_hls_addresses_once() {
        let hub = Hub::new(HubConfig::default());
        let key = StreamKey::new("live", "a");
        let other = StreamKey::new("live", "b");
        let _publisher = hub.publish(key.clone(), PeerInfo::internal(1)).unwrap();
        let rtmp_player = PeerInfo {
            protocol: Protocol::Rtmp,
            ..PeerInfo::internal(2)
        };
        let _player = hub.subscribe(&key, rtmp_player).await.unwrap();
        let _packager = hub.subscribe(&key, packager()).await.unwrap();
        // A recorder (or a transcoder) is no viewer.
        let _recorder = hub.subscribe(&key, PeerInfo::internal(0)).await.unwrap();

        let sessions = Arc::new(SessionTable::default());
        let _guards = [
            viewer(&sessions, Protocol::HttpTs, [10, 0, 0, 1], &key),
            viewer(&sessions, Protocol::HttpTs, [10, 0, 0, 1], &key),
            // One HLS client on two connections, another on one.
            viewer(&sessions, Protocol::Hls, [10, 0, 0, 2], &key),
            viewer(&sessions, Protocol::Hls, [10, 0, 0, 2], &key),
            viewer(&sessions, Protocol::Hls, [10, 0, 0, 3], &key),
            // Elsewhere, or not a packaged protocol: not counted here.
            viewer(&sessions, Protocol::Hls, [10, 0, 0, 4], &other),
            viewer(&sessions, Protocol::Rtmp, [10, 0, 0, 5], &key),
        ];

        let snapshot = hub.stream(&key).unwrap();
        assert_eq!(snapshot.subscribers.len(), 3, "player, packager, recorder");
        // 1 RTMP player + 2 HTTP-TS viewers + 2 HLS client addresses.
        assert_eq!(Players::count(&sessions).of(&snapshot), 5);
    }
}
