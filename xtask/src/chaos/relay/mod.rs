//! Scenarios 18 to 23: relays under chaos. The server under test (the
//! probe's) is the relay; its upstream is a second strom fed by ffmpeg
//! (started by the scenario on ports picked before the relay started, so a
//! configuration file can name them), or small fake servers that misbehave.
//!
//! - 18 `upstream-restart`: the upstream strom SIGKILLed and restarted under
//!   RTMP and RTSP pulls with players attached ([`restart`]);
//! - 19 `upstream-frozen`: the upstream SIGSTOPped: closed at
//!   `relay.no_media_secs` ([`restart`]);
//! - 20 `bad-upstreams`: silent, garbage, 401 and 404 upstreams: backoff, the
//!   reason in the API, attempts bounded ([`bad`], [`fake`]);
//! - 21 `proxy-churn`: add/delete cycles through the API while players come
//!   and go: nothing left held ([`churn`]);
//! - 22 `pattern-cap`: pattern-proxy asks above `relay.max_pattern_proxies`
//!   from 127.0.0.2 ([`churn`]);
//! - 23 `stuck-push-target`: a push target that stops reading: the stream's
//!   players unaffected, the push cut by the write stall and reconnected
//!   ([`push`]).

pub mod bad;
pub mod churn;
pub mod fake;
pub mod push;
pub mod restart;

use std::time::Duration;

use super::clients::Ffmpeg;
use super::server::{chaos_dir, Launch, Server};
use super::{wait_for, wait_live, Ctx};

/// `relay.retry_min_ms` of the relay under test.
pub const RETRY_MIN_MS: u64 = 500;
/// `relay.no_media_secs` of the relay under test.
pub const NO_MEDIA_SECS: u64 = 2;
/// `relay.connect_secs` of the relay under test.
pub const CONNECT_SECS: u64 = 3;
/// `relay.stable_secs` of the relay under test: live this long resets the
/// backoff. Above [`NO_MEDIA_SECS`], as the defaults are (60 > 10), so an
/// upstream that answers PLAY and then sends nothing never resets it.
pub const STABLE_SECS: u64 = 3;
/// `stream.continue_push_ms` of the relay: players wait this long for an
/// upstream to come back.
pub const CONTINUE_PUSH_MS: u64 = 5000;
/// `relay.max_pattern_proxies` in scenario 22.
pub const MAX_PATTERN_PROXIES: usize = 4;
/// `relay.max_pattern_proxies_per_ip` in scenario 22 (below the total, so
/// a second address still gets the rest).
pub const MAX_PATTERN_PROXIES_PER_IP: usize = 3;

/// What a relay scenario needs before its server starts.
pub struct Prepared {
    /// The relay's own settings.
    pub env: Vec<(String, String)>,
    /// Its command-line arguments (`--config` for scenario 22).
    pub args: Vec<String>,
    /// HTTP, RTMP and RTSP ports the upstream strom will take.
    pub upstream: (u16, u16, u16),
}

/// Settings and upstream ports for a relay scenario (`None` for the others).
pub fn prepare(n: u8, name: &str) -> Option<Result<Prepared, String>> {
    (18..=23).contains(&n).then(|| prepared(n, name))
}

fn prepared(n: u8, name: &str) -> Result<Prepared, String> {
    let dir = chaos_dir()?;
    let state = dir.join(format!("state-{n}-{name}"));
    let _ = std::fs::remove_dir_all(&state);
    let port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("no free port: {e}"))
    };
    let upstream = (port()?, port()?, port()?);
    let mut env: Vec<(String, String)> = [
        ("STROM_RELAY__RETRY_MIN_MS", RETRY_MIN_MS.to_string()),
        ("STROM_RELAY__NO_MEDIA_SECS", NO_MEDIA_SECS.to_string()),
        ("STROM_RELAY__CONNECT_SECS", CONNECT_SECS.to_string()),
        ("STROM_RELAY__STABLE_SECS", STABLE_SECS.to_string()),
        ("STROM_RELAY__IDLE_CLOSE_SECS", "1".into()),
        (
            "STROM_STREAM__CONTINUE_PUSH_MS",
            CONTINUE_PUSH_MS.to_string(),
        ),
        // The relay's pulls end at no_media_secs, not at the publisher idle limit.
        ("STROM_STREAM__PUBLISHER_IDLE_TIMEOUT_MS", "10000".into()),
        ("STROM_STATE__DIR", state.to_string_lossy().into_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut args = Vec::new();
    if name == "pattern-cap" {
        let config = dir.join(format!("relay-{n}.toml"));
        let src = format!("rtmp://127.0.0.1:{}/live/src", upstream.1);
        std::fs::write(
            &config,
            format!(
                "[relay]\nmax_pattern_proxies = {MAX_PATTERN_PROXIES}\n\
                 max_pattern_proxies_per_ip = {MAX_PATTERN_PROXIES_PER_IP}\n\n\
                 [[proxy]]\napp = \"live\"\nstream = \"cam\"\nurl = \"{src}\"\n\n\
                 [[proxy]]\napp = \"live\"\nstream = \"~^p(\\\\d+)$\"\nurl = \"{src}\"\n"
            ),
        )
        .map_err(|e| format!("{}: {e}", config.display()))?;
        args = vec!["--config".into(), config.to_string_lossy().into_owned()];
        // Many asks from one address: let the per-address caps not be what
        // holds them back, so the pattern cap is what is tested.
        env.push(("STROM_SERVER__MAX_SESSIONS_PER_IP".into(), "10000".into()));
        env.push(("STROM_SERVER__MAX_PENDING_PER_IP".into(), "10000".into()));
    }
    Ok(Prepared {
        env,
        args,
        upstream,
    })
}

/// The upstream strom on the prepared ports with ffmpeg publishing
/// `live/src` to it, live.
pub fn upstream(ctx: &Ctx, tag: &str) -> Result<(Server, Ffmpeg), String> {
    let ports = ctx
        .relay
        .as_ref()
        .map(|p| p.upstream)
        .ok_or("no prepared upstream ports")?;
    let up = Server::launch(
        tag,
        Launch {
            ports: Some(ports),
            ..Launch::default()
        },
    )?;
    let publisher = Ffmpeg::publish(up.rtmp, "src")?;
    wait_live(&up, "src", Duration::from_secs(10))?;
    Ok((up, publisher))
}

/// Adds `live/<stream>` pulled from `url` through `POST /api/v1/proxies`.
pub fn add_proxy(server: &Server, stream: &str, url: &str) -> Result<(), String> {
    let path = format!(
        "/api/v1/proxies?app=live&stream={stream}&url={}",
        encode(url)
    );
    match server.call("POST", &path)? {
        (201, _) => Ok(()),
        (status, body) => Err(format!("POST {path}: {status} {body}")),
    }
}

/// Deletes `live/<stream>`; the status.
pub fn delete_proxy(server: &Server, stream: &str) -> Result<u16, String> {
    server
        .call("DELETE", &format!("/api/v1/proxies/live/{stream}"))
        .map(|(status, _)| status)
}

/// Every proxy, from `/api/v1/proxies`.
pub fn proxies(server: &Server) -> Result<Vec<serde_json::Value>, String> {
    let v = server.json("/api/v1/proxies")?;
    Ok(v["proxies"].as_array().cloned().unwrap_or_default())
}

/// The proxy of `live/<stream>`, if listed.
pub fn proxy(server: &Server, stream: &str) -> Option<serde_json::Value> {
    let key = format!("live/{stream}");
    proxies(server)
        .ok()?
        .into_iter()
        .find(|p| p["key"].as_str() == Some(key.as_str()))
}

/// Waits until the proxy of `live/<stream>` is in `state`; how long it took.
pub fn wait_state(
    server: &Server,
    stream: &str,
    state: &str,
    within: Duration,
) -> Option<Duration> {
    wait_for(within, || {
        proxy(server, stream).is_some_and(|p| p["state"] == state)
    })
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The most attempts a proxy may make in `window` when every wait is at
/// least half of `retry_min` × 2^failures (`relay::backoff`): the first
/// attempt, and one more per wait that fits. Attempts themselves take time,
/// so the real count is lower.
pub fn attempts_bound(window: Duration, retry_min: Duration) -> u64 {
    let (mut spent, mut n, mut base) = (Duration::ZERO, 1, retry_min);
    loop {
        spent += base / 2;
        if spent > window {
            return n;
        }
        n += 1;
        base *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attempt_bound_follows_the_doubling_waits() {
        let min = Duration::from_millis(500);
        // Waits of at least 250, 500, 1000, 2000 ms fit in 4 s (3.75 s): five attempts.
        assert_eq!(attempts_bound(Duration::from_secs(4), min), 5);
        assert_eq!(attempts_bound(Duration::from_millis(100), min), 1);
        // A minute from 1 s: 0.5+1+2+4+8+16 = 31.5 s, +32 > 60: seven attempts.
        assert_eq!(
            attempts_bound(Duration::from_secs(60), Duration::from_secs(1)),
            7
        );
    }
}
