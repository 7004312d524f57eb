//! Scenarios 28 to 30: what browsers are served under chaos — WebSocket
//! viewers that stop reading or break the protocol ([`ws_stalled`]), and
//! Low-Latency HLS blocking reloads held open or flooded ([`llhls_blocking`],
//! [`llhls_msn`]). Attackers come from [`super::attack::ATTACKER`]; the
//! healthy viewers and the LL-HLS poller ([`llhls::Poller`]) from
//! 127.0.0.1. Each scenario runs strom with its own small caps ([`env()`]).

use std::time::Duration;

mod llhls;
mod llhls_blocking;
mod llhls_msn;
mod ws;
mod ws_stalled;

pub use llhls_blocking::llhls_blocking_flood;
pub use llhls_msn::llhls_msn_flood;
pub use ws_stalled::ws_stalled_viewers;

use super::server::Server;

/// `server.max_sessions_per_ip` in scenario 28 (below the stalled viewers it opens).
pub const MAX_SESSIONS_PER_IP: usize = 24;
/// `hls.max_blocked_requests_per_ip` in scenarios 29 and 30.
pub const MAX_BLOCKED_PER_IP: usize = 32;
/// `hls.max_blocked_requests` in scenarios 29 and 30.
pub const MAX_BLOCKED: usize = 64;
/// `hls.part_ms` in scenarios 29 and 30.
pub const PART_MS: u64 = 200;

/// The `STROM_*` settings of browser-delivery scenario `n` (none for the others).
pub fn env(n: u8) -> Vec<(String, String)> {
    let set: Vec<(&str, String)> = match n {
        28 => vec![(
            "STROM_SERVER__MAX_SESSIONS_PER_IP",
            MAX_SESSIONS_PER_IP.to_string(),
        )],
        29 | 30 => vec![
            (
                "STROM_HLS__MAX_BLOCKED_REQUESTS_PER_IP",
                MAX_BLOCKED_PER_IP.to_string(),
            ),
            ("STROM_HLS__MAX_BLOCKED_REQUESTS", MAX_BLOCKED.to_string()),
            ("STROM_HLS__PART_MS", PART_MS.to_string()),
            // One-second segments (the publishers' GOP): a target duration
            // of 1 s, so held requests end within 3 s.
            ("STROM_HLS__SEGMENT_SECS", "1".to_string()),
            // Scenario 29 freezes its publisher past 3 × the target
            // duration: neither the stream nor its RTMP session may end meanwhile.
            (
                "STROM_STREAM__PUBLISHER_IDLE_TIMEOUT_MS",
                "10000".to_string(),
            ),
            ("STROM_RTMP__KEEP_ALIVE_SECS", "10".to_string()),
        ],
        _ => vec![],
    };
    set.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Media sessions of `/api/v1/sessions` whose peer is `ip` (any port);
/// `None` when the API does not answer.
pub fn sessions_of(http: u16, ip: &str) -> Option<usize> {
    let (status, body) = super::server::http_get(http, "/api/v1/sessions").ok()?;
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let prefix = format!("{ip}:");
    Some(
        v["sessions"]
            .as_array()?
            .iter()
            .filter(|s| s["peer"].as_str().is_some_and(|p| p.starts_with(&prefix)))
            .count(),
    )
}

/// The sum of every sample of metric family `name` in `/metrics` whose
/// labels contain `label` (e.g. `reason="write-stall"`; "" for all); `None`
/// when `/metrics` does not answer or has no such sample.
pub fn metric_sum(server: &Server, name: &str, label: &str) -> Option<f64> {
    let (status, text) = server.get("/metrics").ok()?;
    if status != 200 {
        return None;
    }
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => match r.split_once("} ") {
                Some(lv) => lv,
                None => continue,
            },
            None => match rest.strip_prefix(' ') {
                Some(v) => ("", v),
                None => continue,
            },
        };
        if !labels.contains(label) {
            continue;
        }
        if let Ok(v) = value.trim().parse::<f64>() {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// The `q` quantile of `samples` in ms (0 when empty).
pub fn quantile_ms(samples: &[Duration], q: f64) -> f64 {
    let mut s = samples.to_vec();
    s.sort();
    if s.is_empty() {
        return 0.0;
    }
    let i = ((s.len() - 1) as f64 * q).round() as usize;
    s.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
