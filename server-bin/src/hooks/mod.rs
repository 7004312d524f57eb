//! Webhooks to the operator's business system, with ZLMediaKit's field names
//! and answers (`{"code":0}` allows) so existing hook servers work unchanged.
//!
//! Two kinds of calls:
//! - **decisions** (`on_publish`, `on_play`): awaited by the one session that
//!   asks, bounded by `hook.timeout_ms` and `hook.max_concurrent`; on timeout,
//!   refusal or garbage, `hook.on_failure` decides. Nothing else waits.
//! - **notifications** (stream changed, no reader, not found, started,
//!   keep-alive): put on a bounded queue drained by one task on the control
//!   plane; when the queue is full they are dropped and counted, never piled up.
//!
//! Without a decision hook, static tokens from `[auth]` apply.

mod client;
mod metrics;
mod notify;
mod url;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};

use crate::config::{AuthConfig, HookConfig, HookFailure};
pub use metrics::HookMetrics;
pub use notify::{run_events, run_keepalive, Notification};
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
    queue: mpsc::Sender<Notification>,
    /// Options `on_publish` set for live streams, until they close.
    options: std::sync::Mutex<std::collections::HashMap<stream_core::StreamKey, StreamOptions>>,
    /// Call counts, latencies, dropped notifications.
    pub metrics: HookMetrics,
}

/// Per-stream options an `on_publish` answer may set, with ZLMediaKit's
/// field names: `{"code":0,"enable_hls":false,"enable_ts":true}`. A field
/// left out keeps its default (on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    /// HLS may be served (`enable_hls`).
    pub enable_hls: bool,
    /// HTTP-TS may be served (`enable_ts`).
    pub enable_ts: bool,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            enable_hls: true,
            enable_ts: true,
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
        let (hls, ts) = (flag("enable_hls"), flag("enable_ts"));
        if hls.is_none() && ts.is_none() {
            return None;
        }
        let d = StreamOptions::default();
        Some(StreamOptions {
            enable_hls: hls.unwrap_or(d.enable_hls),
            enable_ts: ts.unwrap_or(d.enable_ts),
        })
    }
}

impl Hooks {
    /// The hook caller and the receiving end of its notification queue
    /// (give it to [`run_events`] on the control plane).
    pub fn new(
        config: HookConfig,
        auth: AuthConfig,
        server_id: String,
    ) -> (Arc<Hooks>, mpsc::Receiver<Notification>) {
        let (queue, rx) = mpsc::channel(config.queue.max(1));
        let hooks = Hooks {
            limit: Semaphore::new(config.max_concurrent.max(1)),
            config,
            auth,
            server_id,
            queue,
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

    /// Queues a notification; drops (and counts) it when the queue is full.
    pub fn notify(&self, n: Notification) {
        if n.url(&self.config).is_empty() {
            return;
        }
        if self.queue.try_send(n).is_err() {
            self.metrics.dropped();
        }
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
            Err(e) => {
                let verdict = match self.config.on_failure {
                    HookFailure::Allow => Decision::Allow,
                    HookFailure::Deny => Decision::Deny(format!("{name} hook failed: {e}")),
                };
                tracing::warn!(hook = name, error = %e, on_failure = ?self.config.on_failure, "hook call failed");
                verdict
            }
        }
    }

    /// One call with the concurrency limit and the deadline both inside
    /// `hook.timeout_ms`, recorded in the metrics.
    async fn call(&self, name: &'static str, url: &str, body: &Value) -> Result<Value, String> {
        let deadline = Duration::from_millis(self.config.timeout_ms);
        let started = Instant::now();
        let result = async {
            let parsed = HookUrl::parse(url)?;
            let _permit = tokio::time::timeout(deadline, self.limit.acquire())
                .await
                .map_err(|_| format!("no free hook slot within {deadline:?}"))?
                .map_err(|e| e.to_string())?;
            let left = deadline.saturating_sub(started.elapsed());
            client::post_json(&parsed, body, left)
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        self.metrics.record(name, result.is_ok(), started.elapsed());
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

/// The schema ZLMediaKit reports for a protocol (HTTP-FLV plays the RTMP muxer there).
pub fn schema_of(protocol: stream_core::Protocol) -> &'static str {
    use stream_core::Protocol::*;
    match protocol {
        Rtmp | HttpFlv => "rtmp",
        Rtsp => "rtsp",
        HttpTs => "ts",
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
