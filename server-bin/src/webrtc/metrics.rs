//! WebRTC's series in `/metrics`.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use super::WebRtc;

/// Writes the `strom_webrtc_*` families through `family(name, type, help, series)`.
pub fn families(family: &mut impl FnMut(&str, &str, &str, &[(String, f64)]), w: &WebRtc) {
    let n = &w.counters;
    let by = |label: &str, items: &[(&str, &AtomicU64)]| -> Vec<(String, f64)> {
        items
            .iter()
            .map(|(k, v)| (format!("{{{label}=\"{k}\"}}"), v.load(Relaxed) as f64))
            .collect()
    };
    family(
        "strom_webrtc_peers",
        "gauge",
        "WebRTC peers (viewers and publishers) from their answer to their end.",
        &[(String::new(), w.peers() as f64)],
    );
    family(
        "strom_webrtc_datagrams_total",
        "counter",
        "Datagrams on the WebRTC port: in (read), unrouted (no peer: unknown address or ufrag, junk), dropped (the peer's queue was full), send_dropped (the socket's send buffer was full).",
        &by(
            "kind",
            &[
                ("in", &n.datagrams_in),
                ("unrouted", &n.datagrams_unrouted),
                ("dropped", &n.datagrams_dropped),
                ("send_dropped", &n.send_dropped),
            ],
        ),
    );
    family(
        "strom_webrtc_offers_total",
        "counter",
        "SDP offers: answered to play (WHEP) or publish (WHIP), or refused.",
        &by(
            "kind",
            &[
                ("play", &n.offers_play),
                ("publish", &n.offers_publish),
                ("refused", &n.offers_refused),
            ],
        ),
    );
    family(
        "strom_webrtc_timeouts_total",
        "counter",
        "Peers dropped by a deadline: connect (no ICE+DTLS in webrtc.connect_timeout_ms), peer (silent for webrtc.peer_timeout_ms).",
        &by(
            "kind",
            &[("connect", &n.connect_timeouts), ("peer", &n.peer_timeouts)],
        ),
    );
    family(
        "strom_webrtc_transcodes",
        "gauge",
        "Streams whose AAC is being transcoded to Opus for WebRTC viewers.",
        &[(String::new(), w.transcodes_running() as f64)],
    );
    family(
        "strom_webrtc_transcode_dropped_total",
        "counter",
        "AAC frames a busy transcode thread could not take.",
        &[(String::new(), n.transcode_dropped.load(Relaxed) as f64)],
    );
    family(
        "strom_webrtc_keyframe_requests_total",
        "counter",
        "Keyframe requests sent to WHIP publishers (interval and viewers' PLI/FIR).",
        &[(String::new(), n.keyframe_requests.load(Relaxed) as f64)],
    );
}
