//! `[hook]` (webhook URLs and their limits) and `[auth]` (static tokens).

use serde::{Deserialize, Serialize};

/// `[hook]`: each hook is a URL; empty means off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HookConfig {
    /// Asked before a publish; may deny.
    pub on_publish: String,
    /// Asked before a play; may deny.
    pub on_play: String,
    /// Told when a stream is registered or unregistered.
    pub on_stream_changed: String,
    /// Told when a stream has had no player for `stream_none_reader_delay_ms`; may close it.
    pub on_stream_none_reader: String,
    /// Told when a player asks for a stream that does not exist.
    pub on_stream_not_found: String,
    /// Told once at start-up, with the configuration.
    pub on_server_started: String,
    /// Told every `keepalive_secs`, with statistics.
    pub on_server_keepalive: String,
    /// Told when a recording file is finished (ZLMediaKit's body).
    pub on_record_mp4: String,
    /// Told when recording stops for a full disk and when it resumes.
    pub on_record_disk: String,
    /// Interval of `on_server_keepalive`.
    pub keepalive_secs: u64,
    /// Deadline of every hook call.
    pub timeout_ms: u64,
    /// What a publish or play gets when its hook times out, is refused or answers garbage.
    pub on_failure: HookFailure,
    /// Hook calls in flight at once; more wait, at most half of `timeout_ms`.
    /// A decision that finds no free slot in time is denied, whatever
    /// `on_failure` says: local overload never opens the door.
    pub max_concurrent: usize,
    /// Decisions (`on_publish`, `on_play`) pending at once for one client
    /// address; more from that address are denied at once. 0: no limit.
    pub max_pending_per_ip: usize,
    /// Notifications (no one waits on them) queued at most, per kind of
    /// notification; beyond, dropped and counted.
    pub queue: usize,
}

impl Default for HookConfig {
    fn default() -> Self {
        Self {
            on_publish: String::new(),
            on_play: String::new(),
            on_stream_changed: String::new(),
            on_stream_none_reader: String::new(),
            on_stream_not_found: String::new(),
            on_server_started: String::new(),
            on_server_keepalive: String::new(),
            on_record_mp4: String::new(),
            on_record_disk: String::new(),
            keepalive_secs: 30,
            timeout_ms: 3000,
            on_failure: HookFailure::Deny,
            max_concurrent: 64,
            max_pending_per_ip: 16,
            queue: 1024,
        }
    }
}

/// The decision when a hook cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HookFailure {
    /// Let the publish or play go on.
    Allow,
    /// Refuse it.
    Deny,
}

/// `[auth]`: static tokens per app, checked against the `token` query parameter
/// when no `on_publish` / `on_play` hook is configured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// App → token required to publish to it.
    pub publish_tokens: std::collections::BTreeMap<String, String>,
    /// App → token required to play from it.
    pub play_tokens: std::collections::BTreeMap<String, String>,
}

impl HookConfig {
    /// Every hook URL with its key name.
    pub fn urls(&self) -> [(&'static str, &str); 9] {
        [
            ("on_publish", &self.on_publish),
            ("on_play", &self.on_play),
            ("on_stream_changed", &self.on_stream_changed),
            ("on_stream_none_reader", &self.on_stream_none_reader),
            ("on_stream_not_found", &self.on_stream_not_found),
            ("on_server_started", &self.on_server_started),
            ("on_server_keepalive", &self.on_server_keepalive),
            ("on_record_mp4", &self.on_record_mp4),
            ("on_record_disk", &self.on_record_disk),
        ]
    }
}
