//! Notifications nobody waits for, and the tasks that produce and send them.
//!
//! Each kind has its own bounded queue and its own sending task, so a flood
//! of one kind (`on_stream_not_found`, which any unauthenticated player can
//! trigger) fills only its own queue: the others are neither dropped nor
//! delayed behind it, and notifications together hold at most one hook slot
//! per kind.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use stream_core::{Hub, HubEvent, StreamKey};
use tokio::sync::{broadcast, mpsc};

use super::{Hooks, VHOST};
use crate::config::HookConfig;

/// Which hook a notification goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    StreamChanged,
    NoneReader,
    NotFound,
    ServerStarted,
    Keepalive,
    RecordMp4,
    RecordDisk,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::StreamChanged,
        Kind::NoneReader,
        Kind::NotFound,
        Kind::ServerStarted,
        Kind::Keepalive,
        Kind::RecordMp4,
        Kind::RecordDisk,
    ];

    fn index(self) -> usize {
        Kind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// The sending ends of the per-kind queues, held by [`Hooks`].
#[derive(Debug)]
pub(super) struct Senders(Vec<mpsc::Sender<Notification>>);

impl Senders {
    /// Queues `n` on its kind's queue; gives it back when that queue is full.
    pub(super) fn send(&self, n: Notification) -> Result<(), Notification> {
        match self.0.get(n.kind.index()) {
            Some(tx) => tx.try_send(n).map_err(|e| e.into_inner()),
            None => Err(n),
        }
    }
}

/// The receiving ends of the per-kind notification queues: give them to
/// [`run_events`].
#[derive(Debug)]
pub struct Queues(Vec<mpsc::Receiver<Notification>>);

/// One queue of `capacity` per kind.
pub(super) fn queues(capacity: usize) -> (Senders, Queues) {
    let (tx, rx) = Kind::ALL.iter().map(|_| mpsc::channel(capacity)).unzip();
    (Senders(tx), Queues(rx))
}

/// A queued notification: its hook and its body (without `mediaServerId`,
/// which is added when sent).
#[derive(Debug, Clone)]
pub struct Notification {
    kind: Kind,
    body: Value,
}

impl Notification {
    /// `on_stream_changed` with `regist` true (published) or false (gone).
    pub fn stream_changed(regist: bool, app: &str, stream: &str, schema: &str) -> Self {
        Self {
            kind: Kind::StreamChanged,
            body: json!({ "regist": regist, "app": app, "stream": stream, "schema": schema, "vhost": VHOST }),
        }
    }

    /// `on_stream_none_reader`.
    pub fn none_reader(app: &str, stream: &str, schema: &str) -> Self {
        Self {
            kind: Kind::NoneReader,
            body: json!({ "app": app, "stream": stream, "schema": schema, "vhost": VHOST }),
        }
    }

    /// `on_stream_not_found`, with the asking player's details.
    pub fn not_found(access: &super::Access<'_>) -> Self {
        Self {
            kind: Kind::NotFound,
            body: json!({
                "app": access.app, "stream": access.stream, "schema": access.schema, "vhost": VHOST,
                "params": access.params.unwrap_or(""), "id": access.session_id.to_string(),
                "ip": access.peer.ip().to_string(), "port": access.peer.port(),
            }),
        }
    }

    /// `on_server_started`, with the configuration.
    pub fn server_started(config: Value) -> Self {
        Self {
            kind: Kind::ServerStarted,
            body: config,
        }
    }

    /// `on_server_keepalive`, with statistics.
    pub fn keepalive(data: Value) -> Self {
        Self {
            kind: Kind::Keepalive,
            body: json!({ "data": data }),
        }
    }

    /// `on_record_mp4`, after a recorded file is closed: ZLMediaKit's body
    /// (`app`, `stream`, `vhost`, `file_name`, `file_path`, `file_size`,
    /// `folder`, `start_time`, `time_len`, `url`), given whole by the recorder.
    pub fn record_mp4(body: Value) -> Self {
        Self {
            kind: Kind::RecordMp4,
            body,
        }
    }

    /// `on_record_disk`: the recording disk is `"full"` (recording
    /// suspended) or recording `"resumed"`.
    pub fn record_disk(state: &str, dir: &str, free_bytes: u64) -> Self {
        Self {
            kind: Kind::RecordDisk,
            body: json!({ "state": state, "dir": dir, "free_bytes": free_bytes }),
        }
    }

    /// The configured URL of this notification's hook (empty: off).
    pub fn url<'a>(&self, c: &'a HookConfig) -> &'a str {
        match self.kind {
            Kind::StreamChanged => &c.on_stream_changed,
            Kind::NoneReader => &c.on_stream_none_reader,
            Kind::NotFound => &c.on_stream_not_found,
            Kind::ServerStarted => &c.on_server_started,
            Kind::Keepalive => &c.on_server_keepalive,
            Kind::RecordMp4 => &c.on_record_mp4,
            Kind::RecordDisk => &c.on_record_disk,
        }
    }

    /// The hook's name, as in the configuration and the metrics.
    pub(super) fn name(&self) -> &'static str {
        match self.kind {
            Kind::StreamChanged => "on_stream_changed",
            Kind::NoneReader => "on_stream_none_reader",
            Kind::NotFound => "on_stream_not_found",
            Kind::ServerStarted => "on_server_started",
            Kind::Keepalive => "on_server_keepalive",
            Kind::RecordMp4 => "on_record_mp4",
            Kind::RecordDisk => "on_record_disk",
        }
    }
}

/// Sends one kind's queued notifications one at a time, each within
/// `hook.timeout_ms`. An `on_stream_none_reader` answer `{"code":0,"close":true}` closes the stream.
pub async fn drain(hooks: Arc<Hooks>, mut rx: mpsc::Receiver<Notification>, hub: Hub) {
    while let Some(mut n) = rx.recv().await {
        let url = n.url(hooks.config()).to_string();
        if let Some(obj) = n.body.as_object_mut() {
            obj.insert("mediaServerId".into(), json!(hooks.server_id()));
        }
        match hooks.call(n.name(), &url, &n.body).await {
            Ok(answer) if n.kind == Kind::NoneReader => {
                let close = answer.get("code").and_then(Value::as_i64) == Some(0)
                    && answer.get("close").and_then(Value::as_bool) == Some(true);
                let app = n.body["app"].as_str().unwrap_or_default();
                let stream = n.body["stream"].as_str().unwrap_or_default();
                if close && hub.close_stream(&StreamKey::new(app, stream)) {
                    tracing::info!(stream = %format!("{app}/{stream}"), "stream closed: the none-reader hook asked for it");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(hook = n.name(), error = %e, "notification not delivered"),
        }
    }
}

/// Turns hub events into `on_stream_changed` and `on_stream_none_reader`
/// notifications. A lagging receiver only loses events (counted in the log).
pub async fn run_events(hooks: Arc<Hooks>, hub: Hub, queues: Queues) {
    for rx in queues.0 {
        tokio::spawn(drain(hooks.clone(), rx, hub.clone()));
    }
    let mut events = hub.events();
    loop {
        match events.recv().await {
            Ok(HubEvent::Published {
                key,
                resumed: false,
                ..
            }) => {
                // Every stream is playable at once over RTMP (and HTTP-FLV)
                // and RTSP; HLS and HTTP-TS are packaged on demand.
                for schema in ["rtmp", "rtsp"] {
                    hooks.notify(Notification::stream_changed(
                        true,
                        &key.app,
                        &key.stream,
                        schema,
                    ));
                }
            }
            Ok(HubEvent::StreamClosed { key, .. }) => {
                hooks.forget_stream(&key);
                for schema in ["rtmp", "rtsp"] {
                    hooks.notify(Notification::stream_changed(
                        false,
                        &key.app,
                        &key.stream,
                        schema,
                    ));
                }
            }
            Ok(HubEvent::NoReader { key }) => {
                hooks.notify(Notification::none_reader(&key.app, &key.stream, "rtmp"));
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "hook notifier fell behind hub events");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Sends `on_server_keepalive` every `hook.keepalive_secs` with `stats()`.
pub async fn run_keepalive(hooks: Arc<Hooks>, stats: impl Fn() -> Value + Send + 'static) {
    if hooks.config().on_server_keepalive.is_empty() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(hooks.config().keepalive_secs.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        hooks.notify(Notification::keepalive(stats()));
    }
}
