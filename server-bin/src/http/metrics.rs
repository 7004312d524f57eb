//! `GET /metrics`: Prometheus text exposition format 0.0.4.
//!
//! Written by hand from snapshots taken at scrape time: every figure already
//! lives in the hub, the session table or the watchdog, so a client library's
//! registry would only mirror them.

use std::fmt::Write;

use hyper::StatusCode;

use super::reply::{with_type, Reply};
use crate::players::Players;
use crate::server::Shared;

/// Answers `/metrics`.
pub fn metrics(shared: &Shared) -> Reply {
    with_type(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        render(shared).into(),
    )
}

/// The exposition text of every series (what `/metrics` answers).
pub fn render(shared: &Shared) -> String {
    let hub = shared.hub.stats();
    let streams = shared.hub.streams();
    let mut out = String::with_capacity(2048);
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let one = |v: f64| vec![(String::new(), v)];
    family(
        "strom_build_info",
        "gauge",
        "Build information.",
        &[(
            format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION")),
            1.0,
        )],
    );
    family(
        "strom_uptime_seconds",
        "gauge",
        "Seconds since start.",
        &one(shared.started.elapsed().as_secs_f64()),
    );
    family(
        "strom_streams",
        "gauge",
        "Streams live or lingering (waiting for their publisher to return).",
        &one(hub.streams as f64),
    );
    family(
        "strom_publishers",
        "gauge",
        "Streams with a live publisher.",
        &one(hub.publishers as f64),
    );
    family(
        "strom_subscribers",
        "gauge",
        "Attached players.",
        &one(hub.subscribers as f64),
    );
    family(
        "strom_hls_feeds",
        "gauge",
        "Streams being packaged to TS for HLS and HTTP-TS.",
        &one(shared.feeds.len() as f64),
    );
    family(
        "strom_hls_bytes_held",
        "gauge",
        "Bytes of HLS segments held in memory (window, retained and open segments).",
        &one(shared.feeds.bytes_held() as f64),
    );
    family(
        "strom_hls_disk_dropped_total",
        "counter",
        "hls.dir file operations dropped because the disk fell behind.",
        &one(shared.feeds.disk_dropped() as f64),
    );
    let cmaf = &shared.cmaf_feeds;
    family(
        "strom_hls_fmp4_feeds",
        "gauge",
        "Streams being packaged to fMP4 for HLS with fMP4 segments and LL-HLS.",
        &one(cmaf.map.len() as f64),
    );
    family(
        "strom_hls_fmp4_bytes_held",
        "gauge",
        "Bytes of fMP4-HLS segments and parts held in memory.",
        &one(cmaf.map.bytes_held() as f64),
    );
    family(
        "strom_hls_blocked_requests",
        "gauge",
        "fMP4-HLS requests held until their playlist update or part exists.",
        &one(cmaf.blocked.waiting() as f64),
    );
    family(
        "strom_hls_blocked_requests_refused_total",
        "counter",
        "fMP4-HLS requests refused at once (503) because hls.max_blocked_requests(_per_ip) were held already.",
        &one(cmaf.blocked.refused() as f64),
    );
    for (name, kind, help, samples) in shared.recordings.families() {
        family(name, kind, help, &samples);
    }
    let mut by_protocol: Vec<_> = shared.sessions.count_by_protocol().into_iter().collect();
    by_protocol.sort();
    let sessions: Vec<_> = by_protocol
        .into_iter()
        .map(|(p, n)| (format!("{{protocol=\"{p}\"}}"), n as f64))
        .collect();
    family(
        "strom_sessions",
        "gauge",
        "Live media sessions by protocol.",
        &sessions,
    );
    family(
        "strom_bytes_in_total",
        "counter",
        "Media bytes received from publishers.",
        &one(hub.bytes_in as f64),
    );
    family(
        "strom_bytes_out_total",
        "counter",
        "Media bytes players have taken from their queues.",
        &one(hub.bytes_out as f64),
    );
    family(
        "strom_frames_in_total",
        "counter",
        "Frames received from publishers.",
        &one(hub.frames_in as f64),
    );
    family(
        "strom_subscriber_drops_total",
        "counter",
        "Frames skipped for lagging players.",
        &one(hub.drops as f64),
    );
    let workers = shared.watchdog.assess();
    let lag: Vec<_> = workers
        .iter()
        .map(|w| (format!("{{worker=\"{}\"}}", w.name), w.lag_ms / 1000.0))
        .collect();
    family(
        "strom_worker_lag_seconds",
        "gauge",
        "Event-loop lag of each media worker.",
        &lag,
    );
    let tasks: Vec<_> = workers
        .iter()
        .map(|w| (format!("{{worker=\"{}\"}}", w.name), w.tasks as f64))
        .collect();
    family(
        "strom_worker_tasks",
        "gauge",
        "Tasks alive on each media worker.",
        &tasks,
    );
    let stalled: Vec<_> = workers
        .iter()
        .map(|w| {
            (
                format!("{{worker=\"{}\"}}", w.name),
                f64::from(u8::from(w.stalled)),
            )
        })
        .collect();
    family(
        "strom_worker_stalled",
        "gauge",
        "1 while a media worker is stalled past its limit.",
        &stalled,
    );
    let mut bytes: Vec<_> = shared.sessions.bytes_by_protocol().into_iter().collect();
    bytes.sort();
    let mut series = Vec::new();
    for (protocol, (bytes_in, bytes_out)) in bytes {
        series.push((
            format!("{{protocol=\"{protocol}\",direction=\"in\"}}"),
            bytes_in as f64,
        ));
        series.push((
            format!("{{protocol=\"{protocol}\",direction=\"out\"}}"),
            bytes_out as f64,
        ));
    }
    family(
        "strom_session_bytes_total",
        "counter",
        "Bytes on media sessions by protocol and direction (ended and live sessions).",
        &series,
    );
    let mut closed: Vec<_> = shared.sessions.ended().closed.into_iter().collect();
    closed.sort();
    let closed: Vec<_> = closed
        .into_iter()
        .map(|((p, r), n)| (format!("{{protocol=\"{p}\",reason=\"{r}\"}}"), n as f64))
        .collect();
    family(
        "strom_sessions_closed_total",
        "counter",
        "Media sessions ended, by protocol and reason.",
        &closed,
    );
    let mut proxies = std::collections::BTreeMap::new();
    for p in shared.relays.list() {
        *proxies
            .entry(format!("{:?}", p.state).to_lowercase())
            .or_insert(0.0) += 1.0;
    }
    let proxies: Vec<_> = proxies
        .into_iter()
        .map(|(state, n)| (format!("{{state=\"{state}\"}}"), n))
        .collect();
    family(
        "strom_proxies",
        "gauge",
        "Pulled streams (proxies) by state.",
        &proxies,
    );
    let mut pushes = std::collections::BTreeMap::new();
    for p in shared.pushes.list() {
        *pushes.entry(p.state.name()).or_insert(0.0) += 1.0;
    }
    let pushes: Vec<_> = pushes
        .into_iter()
        .map(|(state, n)| (format!("{{state=\"{state}\"}}"), n))
        .collect();
    family(
        "strom_pushes",
        "gauge",
        "Streams pushed to targets, by state.",
        &pushes,
    );
    if let Some(c) = &shared.cluster {
        cluster_families(&mut family, c);
    }
    if let Some(w) = &shared.webrtc {
        crate::webrtc::metrics::families(&mut family, w);
    }
    family(
        "strom_state_unreadable_total",
        "counter",
        "Kept-state files (state.dir) moved aside because they could not be read.",
        &one(crate::relay::store::UNREADABLE.load(std::sync::atomic::Ordering::Relaxed) as f64),
    );
    let publishes: Vec<_> = shared
        .counters
        .publishes()
        .into_iter()
        .map(|(o, n)| (format!("{{outcome=\"{o}\"}}"), n as f64))
        .collect();
    family(
        "strom_publish_attempts_total",
        "counter",
        "Publish attempts by outcome (conflict: another publisher was live).",
        &publishes,
    );
    let limit = shared.config.metrics.max_stream_labels;
    let players = Players::count(&shared.sessions);
    let per_player: Vec<_> = streams
        .iter()
        .map(|s| (s.key.to_string(), players.of(s) as u64))
        .collect();
    family(
        "strom_stream_players",
        "gauge",
        "Players per stream; streams beyond metrics.max_stream_labels are summed as _other.",
        &per_stream(per_player, limit),
    );
    let resident: Vec<_> = streams
        .iter()
        .map(|s| (s.key.to_string(), s.resident_bytes))
        .collect();
    let total: u64 = resident
        .iter()
        .map(|(_, n)| n)
        .fold(0, |a, n| a.saturating_add(*n));
    family(
        "strom_stream_resident_bytes",
        "gauge",
        "Media bytes each stream holds (payload plus cached wire forms of the distinct frames in its GOP cache and player queues); streams beyond metrics.max_stream_labels are summed as _other.",
        &per_stream(resident, limit),
    );
    family(
        "strom_resident_media_bytes",
        "gauge",
        "Media bytes all streams hold (the sum of strom_stream_resident_bytes).",
        &one(total as f64),
    );
    let admission = &shared.admission;
    let refused: Vec<_> = admission
        .refusals()
        .into_iter()
        .map(|(listener, reason, n)| {
            (
                format!("{{listener=\"{listener}\",reason=\"{}\"}}", reason.name()),
                n as f64,
            )
        })
        .collect();
    family(
        "strom_connections_refused_total",
        "counter",
        "Connections refused at once over a cap (HTTP and RTSP 503, RTMP Connect.Rejected or closed), by listener and cap.",
        &refused,
    );
    let usage = admission.usage();
    let limits = admission.limits();
    let held = |kind: &str, n: usize, cap: usize| {
        [
            (format!("{{kind=\"{kind}\"}}"), n as f64),
            (format!("{{kind=\"{kind}_limit\"}}"), cap as f64),
        ]
    };
    let admitted: Vec<_> = [
        held("sessions", usage.sessions, limits.max_sessions),
        held("pending", usage.pending, limits.max_pending),
        held("control", usage.control, limits.max_control),
    ]
    .concat();
    family(
        "strom_admission",
        "gauge",
        "Connections held under each cap (sessions, pending = not yet identified, control = API/health/metrics) and the cap.",
        &admitted,
    );
    let waiting = &shared.counters.waiting;
    family(
        "strom_waiting_players",
        "gauge",
        "Players waiting for a stream nobody publishes yet.",
        &one(waiting.waiting() as f64),
    );
    family(
        "strom_waiting_players_refused_total",
        "counter",
        "Players refused at once because stream.max_waiting_players(_per_ip) were waiting already.",
        &one(waiting.refused() as f64),
    );
    if let Some(open) = crate::admission::fd::open_descriptors() {
        family(
            "strom_open_fds",
            "gauge",
            "Descriptors open in the process.",
            &one(open as f64),
        );
    }
    let hooks = &shared.hooks.metrics;
    let calls: Vec<(String, f64)> = hooks
        .calls()
        .into_iter()
        .map(|(hook, outcome, n)| {
            (
                format!("{{hook=\"{hook}\",outcome=\"{outcome}\"}}"),
                n as f64,
            )
        })
        .collect();
    family(
        "strom_hook_calls_total",
        "counter",
        "Hook calls by hook and outcome (failed: timeout, refused, garbage; overloaded: no free hook slot in time, denied; peer_limit: too many decisions pending for the address, denied).",
        &calls,
    );
    let dropped: Vec<(String, f64)> = hooks
        .dropped_by_hook()
        .into_iter()
        .map(|(hook, n)| (format!("{{hook=\"{hook}\"}}"), n as f64))
        .collect();
    family(
        "strom_hook_notifications_dropped_total",
        "counter",
        "Notifications dropped because their hook's queue was full.",
        &dropped,
    );
    let (buckets, count, sum) = hooks.histogram();
    let _ = writeln!(out, "# HELP strom_hook_call_seconds Hook call latency.");
    let _ = writeln!(out, "# TYPE strom_hook_call_seconds histogram");
    for (le, n) in buckets {
        let _ = writeln!(out, "strom_hook_call_seconds_bucket{{le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "strom_hook_call_seconds_bucket{{le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "strom_hook_call_seconds_sum {sum}");
    let _ = writeln!(out, "strom_hook_call_seconds_count {count}");
    out
}

/// One series per stream, the largest value first, bounded to `limit` labels; the rest
/// are summed as `_other`.
fn per_stream(mut streams: Vec<(String, u64)>, limit: usize) -> Vec<(String, f64)> {
    streams.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out: Vec<(String, f64)> = streams
        .iter()
        .take(limit)
        .map(|(k, n)| (format!("{{stream=\"{}\"}}", escape_label(k)), *n as f64))
        .collect();
    if streams.len() > limit {
        let rest = streams[limit..]
            .iter()
            .fold(0u64, |a, (_, n)| a.saturating_add(*n));
        out.push(("{stream=\"_other\"}".into(), rest as f64));
    }
    out
}

/// Escapes a label value per the exposition format (backslash, quote, newline).
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The cluster's series: the store's state and what the node did about it.
fn cluster_families(
    family: &mut impl FnMut(&str, &str, &str, &[(String, f64)]),
    c: &crate::cluster::Cluster,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let one = |v: f64| vec![(String::new(), v)];
    let n = &c.counters;
    family(
        "strom_cluster_store_up",
        "gauge",
        "1 while the cluster store (etcd) answers, 0 while it does not.",
        &one(if c.store_up() { 1.0 } else { 0.0 }),
    );
    family(
        "strom_cluster_store_errors_total",
        "counter",
        "Calls to the cluster store that failed.",
        &one(n.store_errors.load(Relaxed) as f64),
    );
    family(
        "strom_cluster_store_outages_total",
        "counter",
        "Times the cluster store went from answering to not answering.",
        &one(n.store_outages.load(Relaxed) as f64),
    );
    family(
        "strom_cluster_owned_streams",
        "gauge",
        "Streams this node owns in the cluster directory.",
        &one(c.claims().len() as f64),
    );
    let claims: Vec<_> = [
        ("won", &n.claims_won),
        ("refused", &n.claims_refused),
        ("local", &n.claims_local),
        ("lost", &n.claims_lost),
    ]
    .into_iter()
    .map(|(o, v)| (format!("{{outcome=\"{o}\"}}"), v.load(Relaxed) as f64))
    .collect();
    family(
        "strom_cluster_claims_total",
        "counter",
        "Claims of stream names by outcome (local: accepted while the store was down; lost: a local publisher ended because another node's claim won).",
        &claims,
    );
    family(
        "strom_cluster_leases_lost_total",
        "counter",
        "Times this node found its lease expired.",
        &one(n.leases_lost.load(Relaxed) as f64),
    );
    family(
        "strom_cluster_edge_moves_total",
        "counter",
        "Edge relays switched to a stream's new owner.",
        &one(n.edge_moves.load(Relaxed) as f64),
    );
}

#[cfg(test)]
mod tests {
    use super::{escape_label, per_stream};

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("live/a\"b\\c\nd"), "live/a\\\"b\\\\c\\nd");
    }

    #[test]
    fn per_stream_series_keep_the_largest_and_sum_the_rest() {
        let series = per_stream(vec![("a".into(), 5), ("b".into(), 50), ("c".into(), 7)], 2);
        assert_eq!(
            series,
            vec![
                ("{stream=\"b\"}".to_string(), 50.0),
                ("{stream=\"c\"}".to_string(), 7.0),
                ("{stream=\"_other\"}".to_string(), 5.0),
            ]
        );
    }
}
