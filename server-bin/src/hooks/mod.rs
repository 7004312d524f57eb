//! Webhooks to the operator's business system, with ZLMediaKit's field names
//! and answers (`{"code":0}` allows) so existing hook servers work unchanged.
//!
//! Two kinds of calls:
//! - **decisions** (`on_publish`, `on_play`): awaited by the one session that
//!   asks, bounded by `hook.timeout_ms` and `hook.max_concurrent`; on timeout,
//!   refusal or garbage, `hook.on_failure` decides. Nothing else waits.
//!   Local overload is not a hook failure: a decision that finds no free slot
//!   within its deadline, or whose client address already has
//!   `hook.max_pending_per_ip` decisions pending, is denied whatever
//!   `on_failure` says, so a flood can neither open the door (`allow`) nor
//!   lock everyone else out for long (`deny` only for the flood's share).
//! - **notifications** (stream changed, no reader, not found, started,
//!   keep-alive): each kind on its own bounded queue, drained by its own task
//!   on the control plane; when a queue is full its notifications are dropped
//!   and counted per kind, never piled up, and a flood of one kind (players
//!   asking for missing streams) cannot push out the others.
//!
//! The bodies carry the client's query (`params`) unredacted: the
//! operator's own auth service needs the tokens in it. Everything shown to
//! people (API, logs) redacts them instead.
//!
//! Without a decision hook, static tokens from `[auth]` apply.

mod client;
mod metrics;
mod notify;
mod url;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::config::{AuthConfig, HookConfig, HookFailure};
pub use metrics::{HookMetrics, Outcome};
pub use notify::{run_events, run_keepalive, Notification, Queues};
pub use url::HookUrl;

/// ZLMediaKit's default virtual host, sent in every body for compatibility.
pub const VHOST: &str = "__defaultVhost__";

/// What a session asks about.
#[derive(Debug, Clone)]
pub struct Access<'a> {
    /// Application.
    pub app: &'a str,
    /// Stream name.
    pub stream: &'a str,
    /// Query string given with the stream (`token=…`), without `?`.
    pub params: Option<&'a str>,
    /// ZLMediaKit schema of the session's protocol (see [`schema_of`]).
    pub schema: &'static str,
    /// Session id.
    pub session_id: u64,
    /// The client's address.
    pub peer: SocketAddr,
}

impl<'a> Access<'a> {
    /// What session `info` asks about stream `key`, with the query it gave.
    pub fn new(
        key: &'a stream_core::StreamKey,
        params: Option<&'a str>,
        info: &crate::session::SessionInfo,
    ) -> Self {
        Access {
            app: &key.app,
            stream: &key.stream,
            params,
            schema: schema_of(info.protocol),
            session_id: info.id,
            peer: info.peer,
        }
    }
}

/// The answer to a publish or play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go on.
    Allow,
    /// Refuse, with the reason to log and tell the client.
    Deny(String),
}

/// Which decision hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    Publish,
    Play,
}

/// The hook caller shared by every session.
#[derive(Debug)]
pub struct Hooks {
    config: HookConfig,
    auth: AuthConfig,
    server_id: String,
    limit: Semaphore,
    /// Decisions pending per client address (entries only while pending).
    pending: Mutex<HashMap<IpAddr, usize>>,
    queues: notify::Senders,
    /// Options `on_publish` set for live streams, until they close.
    options: std::sync::Mutex<std::collections::HashMap<stream_core::StreamKey, StreamOptions>>,
    /// Call counts, latencies, dropped notifications.
    pub metrics: HookMetrics,
}

/// Per-stream options an `on_publish` answer may set, with ZLMediaKit's
/// field names: `{"code":0,"enable_hls":false,"enable_ts":true,"enable_mp4":1}`.
/// A field left out keeps its default (on; `enable_mp4` off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    /// HLS may be served (`enable_hls`).
    pub enable_hls: bool,
    /// HTTP-TS may be served (`enable_ts`).
    pub enable_ts: bool,
    /// The stream is recorded to MP4 (`enable_mp4`; off unless asked).
    pub enable_mp4: bool,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            enable_hls: true,
            enable_ts: true,
            enable_mp4: false,
        }
    }
}

impl StreamOptions {
    fn from_answer(answer: &Value) -> Option<StreamOptions> {
        let flag = |name: &str| match answer.get(name) {
            Some(Value::Bool(b)) => Some(*b),
            // ZLMediaKit's hook servers often answer 0/1.
            Some(Value::Number(n)) => n.as_i64().map(|n| n != 0),
            _ => None,
        };
        let (hls, ts, mp4) = (flag("enable_hls"), flag("enable_ts"), flag("enable_mp4"));
        if hls.is_none() && ts.is_none() && mp4.is_none() {
            return None;
        }
        let d = StreamOptions::default();
        Some(StreamOptions {
            enable_hls: hls.unwrap_or(d.enable_hls),
            enable_ts: ts.unwrap_or(d.enable_ts),
            enable_mp4: mp4.unwrap_or(d.enable_mp4),
        })
    }
}

impl Hooks {
    /// The hook caller and the receiving ends of its notification queues
    /// (give them to [`run_events`] on the control plane).
    pub fn new(config: HookConfig, auth: AuthConfig, server_id: String) -> (Arc<Hooks>, Queues) {
        let (queues, rx) = notify::queues(config.queue.max(1));
        let hooks = Hooks {
            limit: Semaphore::new(config.max_concurrent.max(1)),
            config,
            auth,
            server_id,
            pending: Mutex::new(HashMap::new()),
            queues,
            options: Default::default(),
            metrics: HookMetrics::default(),
        };
        (Arc::new(hooks), rx)
    }

    /// May this client publish? Asks `hook.on_publish`, or checks `[auth]` tokens.
    pub async fn on_publish(&self, access: &Access<'_>) -> Decision {
        self.decide(Gate::Publish, access).await
    }

    /// May this client play? Asks `hook.on_play`, or checks `[auth]` tokens.
    pub async fn on_play(&self, access: &Access<'_>) -> Decision {
        self.decide(Gate::Play, access).await
    }

    /// The options `on_publish` set for `key` (defaults when none).
    pub fn stream_options(&self, key: &stream_core::StreamKey) -> StreamOptions {
        crate::session::lock(&self.options)
            .get(key)
            .copied()
            .unwrap_or_default()
    }

    /// Forgets a closed stream's options.
    pub fn forget_stream(&self, key: &stream_core::StreamKey) {
        crate::session::lock(&self.options).remove(key);
    }

    /// Queues a notification on its kind's queue; drops (and counts) it
    /// when that queue is full.
    pub fn notify(&self, n: Notification) {
        if n.url(&self.config).is_empty() {
            return;
        }
        let name = n.name();
        if self.queues.send(n).is_err() {
            self.metrics.dropped(name);
        }
    }

    /// Counts a decision pending for `ip`; `None` when the address already
    /// has `hook.max_pending_per_ip` pending (0: no limit).
    fn enter(&self, ip: IpAddr) -> Option<Pending<'_>> {
        let limit = self.config.max_pending_per_ip;
        let mut pending = crate::session::lock(&self.pending);
        let n = pending.entry(ip).or_insert(0);
        if limit > 0 && *n >= limit {
            return None;
        }
        *n += 1;
        Some(Pending { hooks: self, ip })
    }

    /// This server's `mediaServerId`.
    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    /// The hook configuration.
    pub fn config(&self) -> &HookConfig {
        &self.config
    }

    async fn decide(&self, gate: Gate, access: &Access<'_>) -> Decision {
        let (url, tokens, name) = match gate {
            Gate::Publish => (
                &self.config.on_publish,
                &self.auth.publish_tokens,
                "on_publish",
            ),
            Gate::Play => (&self.config.on_play, &self.auth.play_tokens, "on_play"),
        };
        if url.is_empty() {
            return check_token(tokens, access);
        }
        let Some(_pending) = self.enter(access.peer.ip()) else {
            self.metrics.count_outcome(name, Outcome::PeerLimit);
            tracing::warn!(hook = name, ip = %access.peer.ip(), limit = self.config.max_pending_per_ip, "hook not asked: too many decisions pending for this address (hook.max_pending_per_ip); denied");
            return Decision::Deny(format!(
                "too many {name} decisions pending for this address"
            ));
        };
        let body = self.access_body(access);
        match self.call(name, url, &body).await {
            Ok(answer) => match answer.get("code").and_then(Value::as_i64) {
                Some(0) => {
                    if gate == Gate::Publish {
                        let key = stream_core::StreamKey::new(access.app, access.stream);
                        let mut options = crate::session::lock(&self.options);
                        match StreamOptions::from_answer(&answer) {
                            Some(o) => options.insert(key, o),
                            None => options.remove(&key),
                        };
                    }
                    Decision::Allow
                }
                code => {
                    let msg = answer
                        .get("msg")
                        .and_then(Value::as_str)
                        .unwrap_or("denied by the hook server")
                        .to_string();
                    tracing::info!(hook = name, ?code, reason = %msg, stream = %format!("{}/{}", access.app, access.stream), "hook denied");
                    Decision::Deny(msg)
                }
            },
            Err(CallFailure::Overloaded(e)) => {
                tracing::warn!(hook = name, error = %e, "hook not asked: hook client overloaded (hook.max_concurrent); denied whatever hook.on_failure says");
                Decision::Deny(format!("{name} hook overloaded: {e}"))
            }
            Err(CallFailure::Failed(e)) => {
                let verdict = match self.config.on_failure {
                    HookFailure::Allow => Decision::Allow,
                    HookFailure::Deny => Decision::Deny(format!("{name} hook failed: {e}")),
                };
                tracing::warn!(hook = name, error = %e, on_failure = ?self.config.on_failure, "hook call failed");
                verdict
            }
        }
    }

    /// One call with the wait for a slot (at most half of it) and the call
    /// both inside `hook.timeout_ms`, recorded in the metrics.
    async fn call(
        &self,
        name: &'static str,
        url: &str,
        body: &Value,
    ) -> Result<Value, CallFailure> {
        let deadline = Duration::from_millis(self.config.timeout_ms);
        let started = Instant::now();
        let result = async {
            let parsed = HookUrl::parse(url).map_err(CallFailure::Failed)?;
            // At most half the deadline waiting for a slot: a slot freed by
            // a hung call just before our own deadline would otherwise leave
            // a call with no time, failing (and letting `on_failure = allow`
            // through) where the truth is local overload.
            let slot_wait = deadline / 2;
            let _permit = tokio::time::timeout(slot_wait, self.limit.acquire())
                .await
                .map_err(|_| {
                    CallFailure::Overloaded(format!("no free hook slot within {slot_wait:?}"))
                })?
                .map_err(|e| CallFailure::Overloaded(e.to_string()))?;
            let left = deadline.saturating_sub(started.elapsed());
            client::post_json(&parsed, body, left)
                .await
                .map_err(|e| CallFailure::Failed(e.to_string()))
        }
        .await;
        let outcome = match &result {
            Ok(_) => Outcome::Answered,
            Err(CallFailure::Overloaded(_)) => Outcome::Overloaded,
            Err(CallFailure::Failed(_)) => Outcome::Failed,
        };
        self.metrics.record(name, outcome, started.elapsed());
        result
    }

    fn access_body(&self, a: &Access<'_>) -> Value {
        json!({
            "mediaServerId": self.server_id,
            "app": a.app,
            "stream": a.stream,
            "vhost": VHOST,
            "schema": a.schema,
            "params": a.params.unwrap_or(""),
            "id": a.session_id.to_string(),
            "ip": a.peer.ip().to_string(),
            "port": a.peer.port(),
        })
    }
}

/// Why a hook call gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CallFailure {
    /// This server's hook client had no free slot in time: local overload,
    /// said nothing about the hook server.
    Overloaded(String),
    /// The hook server did not answer usably (`hook.on_failure` applies).
    Failed(String),
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallFailure::Overloaded(e) | CallFailure::Failed(e) => f.write_str(e),
        }
    }
}

/// One decision pending for an address; dropping it (answer, deadline or
/// cancelled session) gives the slot back.
struct Pending<'a> {
    hooks: &'a Hooks,
    ip: IpAddr,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let mut pending = crate::session::lock(&self.hooks.pending);
        if let Some(n) = pending.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                pending.remove(&self.ip);
            }
        }
    }
}

/// The schema ZLMediaKit reports for a protocol (HTTP-FLV plays the RTMP muxer there).
pub fn schema_of(protocol: stream_core::Protocol) -> &'static str {
    use stream_core::Protocol::*;
    match protocol {
        Rtmp | HttpFlv => "rtmp",
        Rtsp => "rtsp",
        HttpTs => "ts",
        HttpMp4 => "fmp4",
        Hls => "hls",
        _ => "rtmp",
    }
}

fn check_token(tokens: &std::collections::BTreeMap<String, String>, a: &Access<'_>) -> Decision {
    let Some(expected) = tokens.get(a.app) else {
        return Decision::Allow;
    };
    let given = a
        .params
        .and_then(|q| crate::http::url::query_param(q, "token"))
        .unwrap_or_default();
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Decision::Allow
    } else {
        Decision::Deny("a valid token is required for this app".into())
    }
}

/// Compares without leaking the position of the first difference through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_publish_answers_set_stream_options_as_bools_or_numbers() {
        let o = StreamOptions::from_answer(&json!({"code":0,"enable_mp4":1})).expect("options");
        assert!(o.enable_mp4 && o.enable_hls && o.enable_ts);
        let o = StreamOptions::from_answer(&json!({"code":0,"enable_hls":false}));
        assert!(o.is_some_and(|o| !o.enable_hls && !o.enable_mp4));
        assert_eq!(StreamOptions::from_answer(&json!({"code":0})), None);
        assert!(!StreamOptions::default().enable_mp4);
    }

    fn access<'a>(params: Option<&'a str>) -> Access<'a> {
        Access {
            app: "live",
            stream: "s",
            params,
            schema: "rtmp",
            session_id: 7,
            peer: "127.0.0.1:5000".parse().unwrap(),
        }
    }

    #[tokio::test]
    async fn static_tokens_when_no_hook() {
        let mut auth = AuthConfig::default();
        auth.publish_tokens.insert("live".into(), "s3cret".into());
        let (hooks, _rx) = Hooks::new(HookConfig::default(), auth, "strom".into());
        assert_eq!(
            hooks.on_publish(&access(Some("token=s3cret"))).await,
            Decision::Allow
        );
        assert!(matches!(
            hooks.on_publish(&access(Some("token=nope"))).await,
            Decision::Deny(_)
        ));
        assert!(matches!(
            hooks.on_publish(&access(None)).await,
            Decision::Deny(_)
        ));
        assert_eq!(
            hooks.on_play(&access(None)).await,
            Decision::Allow,
            "no play token for the app"
        );
    }

    #[tokio::test]
    async fn unreachable_hook_applies_on_failure() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/hook"); // nothing listens any more
        for (failure, allowed) in [(HookFailure::Allow, true), (HookFailure::Deny, false)] {
            let config = HookConfig {
                on_publish: url.clone(),
                on_failure: failure,
                timeout_ms: 500,
                ..HookConfig::default()
            };
            let (hooks, _rx) = Hooks::new(config, AuthConfig::default(), "strom".into());
            let d = hooks.on_publish(&access(None)).await;
            assert_eq!(d == Decision::Allow, allowed, "{failure:?}: {d:?}");
        }
    }

    fn hanging_hooks(max_pending_per_ip: usize) -> Arc<Hooks> {
        let config = HookConfig {
            // Never connected to: every test holds the slots first.
            on_publish: "http://127.0.0.1:9/on_publish".into(),
            on_failure: HookFailure::Allow,
            timeout_ms: 1000,
            max_concurrent: 2,
            max_pending_per_ip,
            ..HookConfig::default()
        };
        Hooks::new(config, AuthConfig::default(), "strom".into()).0
    }

    fn assert_denied(d: Decision, because: &str) {
        assert!(
            matches!(&d, Decision::Deny(why) if why.contains(because)),
            "expected a denial for {because}: {d:?}"
        );
    }

    fn publishes(hooks: &Hooks, outcome: Outcome) -> u64 {
        hooks.metrics.outcome_count("on_publish", outcome)
    }

    fn from(peer: &str) -> Access<'static> {
        Access {
            peer: peer.parse().unwrap(),
            ..access(None)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn no_free_slot_denies_even_when_failures_allow() {
        let hooks = hanging_hooks(0);
        let _slots = hooks.limit.acquire_many(2).await.unwrap();
        // Local overload denies; it does not apply on_failure = allow.
        assert_denied(hooks.on_publish(&access(None)).await, "overloaded");
        assert_eq!(publishes(&hooks, Outcome::Overloaded), 1);
        assert_eq!(publishes(&hooks, Outcome::Failed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_with_too_many_pending_decisions_is_denied_at_once() {
        let hooks = hanging_hooks(2);
        let slots = hooks.limit.acquire_many(2).await.unwrap();
        let mut waiting = Vec::new();
        for _ in 0..2 {
            let h = hooks.clone();
            waiting.push(tokio::spawn(async move {
                h.on_publish(&from("198.51.100.7:4000")).await
            }));
        }
        let other = {
            let h = hooks.clone();
            tokio::spawn(async move { h.on_publish(&from("198.51.100.8:4000")).await })
        };
        tokio::task::yield_now().await;
        assert_eq!(crate::session::lock(&hooks.pending).len(), 2);
        // The third from the same address is answered without waiting.
        let third = tokio::time::timeout(
            Duration::from_millis(1),
            hooks.on_publish(&from("198.51.100.7:4001")),
        )
        .await
        .expect("denied at once, not queued behind the others");
        assert_denied(third, "pending");
        assert_eq!(publishes(&hooks, Outcome::PeerLimit), 1);
        drop(slots);
        for w in waiting {
            w.await.unwrap();
        }
        other.await.unwrap();
        assert!(
            crate::session::lock(&hooks.pending).is_empty(),
            "every pending decision gave its slot back"
        );
    }

    #[test]
    fn a_flood_of_one_notification_kind_does_not_push_out_the_others() {
        let config = HookConfig {
            on_stream_changed: "http://127.0.0.1:9/x".into(),
            on_stream_not_found: "http://127.0.0.1:9/y".into(),
            queue: 2,
            ..HookConfig::default()
        };
        let (hooks, _rx) = Hooks::new(config, AuthConfig::default(), "strom".into());
        for _ in 0..10 {
            hooks.notify(Notification::not_found(&access(None)));
        }
        hooks.notify(Notification::stream_changed(true, "live", "s", "rtmp"));
        let dropped: HashMap<_, _> = hooks.metrics.dropped_by_hook().into_iter().collect();
        assert_eq!(dropped["on_stream_not_found"], 8);
        assert_eq!(dropped["on_stream_changed"], 0, "queued on its own queue");
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let config = HookConfig {
            on_stream_changed: "http://127.0.0.1:9/x".into(),
            queue: 2,
            ..HookConfig::default()
        };
        let (hooks, _rx) = Hooks::new(config, AuthConfig::default(), "strom".into());
        for _ in 0..5 {
            hooks.notify(Notification::server_started(json!({})));
            hooks.notify(Notification::stream_changed(true, "live", "s", "rtmp"));
        }
        assert_eq!(
            hooks.metrics.dropped_count(),
            3,
            "2 queued, server_started has no URL"
        );
    }
}
