//! strom's configuration: the schema with its embedded defaults, and how the
//! layers are merged ([`load`]).
//!
//! Every section denies unknown keys, so a typo in `strom.toml` or in a
//! `STROM_*` variable stops start-up instead of being silently ignored.
//! Names follow ZLMediaKit's where one exists (see the README's table), since
//! many operators come from it.

mod cluster;
mod hook;
mod load;
mod network;
mod push;
mod record;
mod relay;
mod webrtc;

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use cluster::{ClusterConfig, OnStoreDown};
pub use hook::{AuthConfig, HookConfig, HookFailure};
pub use load::{load, ConfigError, Overrides};
pub use network::IpNet;
pub use push::{check_push, PushConfig};
pub use record::RecordConfig;
pub use relay::{stream_pattern, ProxyConfig, RelayConfig, RtspTransport, StateConfig};
pub use webrtc::WebRtcConfig;

/// The whole effective configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Process-wide settings: bind address, workers, watchdog, shutdown.
    pub server: ServerConfig,
    /// Logging.
    pub log: LogConfig,
    /// The RTMP listener.
    pub rtmp: RtmpConfig,
    /// The RTSP listener.
    pub rtsp: RtspConfig,
    /// The HTTP listener (API, health, metrics; media over HTTP later).
    pub http: HttpConfig,
    /// Who may call the management API.
    pub api: ApiConfig,
    /// Stream life cycle and fan-out: handed to stream-core's hub.
    pub stream: StreamConfig,
    /// Webhooks to the operator's business system (ZLMediaKit-compatible bodies).
    pub hook: HookConfig,
    /// Static tokens, used when no hook decides.
    pub auth: AuthConfig,
    /// `/metrics` settings.
    pub metrics: MetricsConfig,
    /// HLS and HTTP-TS packaging.
    pub hls: HlsConfig,
    /// Supervision of pulled streams.
    pub relay: RelayConfig,
    /// What is kept across restarts.
    pub state: StateConfig,
    /// Origin–edge clustering on etcd.
    pub cluster: ClusterConfig,
    /// WebRTC: WHEP playback and WHIP publishing.
    pub webrtc: WebRtcConfig,
    /// Streams pulled from upstream servers (`[[proxy]]`).
    pub proxy: Vec<ProxyConfig>,
    /// Local streams forwarded to RTMP or RTSP targets (`[[push]]`).
    pub push: Vec<PushConfig>,
    /// Recording to disk and playback.
    pub record: RecordConfig,
}

/// `[hls]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HlsConfig {
    /// Shortest segment: a segment is cut at the first keyframe after this long.
    pub segment_secs: f64,
    /// Segments listed in the live playlist.
    pub segment_count: usize,
    /// Extra segments kept (in memory and on disk) beyond the playlist for slow clients.
    pub segment_retain: usize,
    /// Package a stream only while someone asks for its HLS or HTTP-TS; false packages
    /// every stream from its publish on.
    pub on_demand: bool,
    /// An on-demand packager stops after this long without an HLS request and without
    /// an HTTP-TS viewer.
    pub idle_secs: u64,
    /// How long the first HLS request of a stream waits for its first segment.
    pub first_segment_wait_ms: u64,
    /// Partial-segment target of Low-Latency HLS (`hls.fmp4.m3u8`), 50..=10000; a part is never
    /// longer than a segment (`segment_secs` wins when shorter).
    pub part_ms: u64,
    /// fMP4-HLS requests held at once (blocking reloads, preload-hinted parts); more get 503.
    pub max_blocked_requests: usize,
    /// The same, per peer address.
    pub max_blocked_requests_per_ip: usize,
    /// Also write segments and playlists under this directory (`dir/app/stream/`);
    /// empty serves from memory only.
    pub dir: String,
}

impl Default for HlsConfig {
    fn default() -> Self {
        Self {
            segment_secs: 2.0,
            segment_count: 5,
            segment_retain: 2,
            on_demand: true,
            idle_secs: 30,
            first_segment_wait_ms: 10_000,
            part_ms: 200,
            max_blocked_requests: 10_000,
            max_blocked_requests_per_ip: 64,
            dir: String::new(),
        }
    }
}

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Streams that get their own `stream` label in per-stream series; the
    /// rest are summed under `stream="_other"`, bounding label cardinality.
    pub max_stream_labels: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            max_stream_labels: 100,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// This server's name in hook bodies (`mediaServerId`).
    pub id: String,
    /// Address every listener binds to.
    pub bind: IpAddr,
    /// Media event loops (one thread each); 0 means one per CPU core.
    pub workers: usize,
    /// A media worker whose event loop lags longer than this is reported
    /// stalled: `/healthz` answers 503 and the log names the worker.
    pub watchdog_stall_ms: u64,
    /// Upper bound on a graceful shutdown after SIGTERM/SIGINT.
    pub shutdown_grace_secs: u64,
    /// A player whose socket accepts no bytes for this long is closed.
    pub write_stall_ms: u64,
    /// Batch frames for this long per player write (0: write each frame as
    /// it comes). Trades latency for fewer syscalls.
    pub merge_write_ms: u64,
    /// Kernel send buffer of media sockets, in bytes (0: the kernel's
    /// autotuning, which lets a player that never reads hold megabytes and go
    /// unnoticed for many seconds). Bounds kernel memory per player and lets
    /// `write_stall_ms` see a stuck player promptly.
    pub socket_send_buffer: u32,
    /// Media sessions (every protocol) at once; 0 derives it from the
    /// descriptor limit so that sessions cannot exhaust descriptors.
    pub max_sessions: usize,
    /// Media sessions per peer address. Generous: many real viewers share
    /// one NAT address.
    pub max_sessions_per_ip: usize,
    /// Connections not yet identified (in handshake, or before their request
    /// line or stream name) at once; 0 derives it from the descriptor limit.
    pub max_pending: usize,
    /// Connections not yet identified, per peer address. Small: they have
    /// not said who they are.
    pub max_pending_per_ip: usize,
    /// Descriptors kept free of every cap, for the control plane, logs,
    /// hook calls and `hls.dir` files.
    pub fd_reserve: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            id: "strom".into(),
            bind: IpAddr::from([0, 0, 0, 0]),
            workers: 0,
            watchdog_stall_ms: 1000,
            shutdown_grace_secs: 5,
            write_stall_ms: 10_000,
            merge_write_ms: 0,
            socket_send_buffer: 512 * 1024,
            max_sessions: 0,
            max_sessions_per_ip: 1000,
            max_pending: 0,
            max_pending_per_ip: 16,
            fd_reserve: 64,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A level (`error`..`trace`) or a full `tracing` filter such as
    /// `info,strom::http=debug`.
    pub level: String,
    /// Output format.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `[rtmp]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RtmpConfig {
    /// TCP port of the RTMP listener.
    pub port: u16,
    /// Deadline for the handshake, connect and publish/play of a new connection.
    pub handshake_secs: u64,
    /// A publisher that sends nothing for this long is closed and its stream released.
    pub keep_alive_secs: u64,
    /// Outgoing chunk size, the same for every player so that chunked media is
    /// encoded once per stream.
    pub chunk_size: u32,
}

impl Default for RtmpConfig {
    fn default() -> Self {
        Self {
            port: 1935,
            handshake_secs: 15,
            keep_alive_secs: 15,
            chunk_size: 4096,
        }
    }
}

/// `[rtsp]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RtspConfig {
    /// TCP port of the RTSP listener.
    pub port: u16,
    /// Deadline for a new connection to start playing or recording.
    pub handshake_secs: u64,
    /// A publisher that sends no media for this long is closed and its stream released.
    pub keep_alive_secs: u64,
    /// Session timeout announced in `Session: id;timeout=N`: a player that sends
    /// no request (nor RTCP over UDP) for this long is closed.
    pub session_timeout_secs: u32,
    /// UDP ports for RTP/RTCP pairs, `"first-last"` (even RTP, odd RTCP); empty
    /// turns UDP transport off (clients then use TCP interleaved).
    pub udp_port_range: String,
    /// Largest RTP packet sent (payload plus the 12-byte header).
    pub mtu: usize,
    /// Per-app credentials, `app = { user = "..", password = "..", publish = true, play = true }`:
    /// RTSP clients of that app must authenticate (Basic or Digest) for the actions marked.
    pub auth: std::collections::BTreeMap<String, RtspCredentials>,
}

/// Credentials of one app in `[rtsp.auth]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtspCredentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Required to publish (ANNOUNCE/RECORD).
    #[serde(default = "yes")]
    pub publish: bool,
    /// Required to play (DESCRIBE/PLAY).
    #[serde(default = "yes")]
    pub play: bool,
}

fn yes() -> bool {
    true
}

impl RtspConfig {
    /// The UDP port range as `(first, last)`, if UDP is on.
    pub fn udp_ports(&self) -> Result<Option<(u16, u16)>, String> {
        let range = self.udp_port_range.trim();
        if range.is_empty() {
            return Ok(None);
        }
        let (a, b) = range
            .split_once('-')
            .ok_or_else(|| "expected \"first-last\", e.g. \"30000-30999\"".to_string())?;
        let parse = |s: &str| s.trim().parse::<u16>().map_err(|e| format!("{s:?}: {e}"));
        let (a, b) = (parse(a)?, parse(b)?);
        if a == 0 || b <= a || b - a < 1 {
            return Err("needs at least one even/odd pair, first > 0".into());
        }
        Ok(Some((a, b)))
    }
}

impl Default for RtspConfig {
    fn default() -> Self {
        Self {
            port: 8554,
            handshake_secs: 15,
            keep_alive_secs: 15,
            session_timeout_secs: 60,
            udp_port_range: "30000-30999".into(),
            mtu: 1400,
            auth: Default::default(),
        }
    }
}

/// `[http]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// TCP port of the HTTP listener.
    pub port: u16,
    /// Connections the control plane (API, `/healthz`, `/metrics`) serves at
    /// once; more are answered 503 at once.
    pub max_connections: usize,
    /// Of `max_connections`, kept for `/healthz`, `/metrics` and API callers
    /// from `api.trusted_networks`.
    pub control_reserve: usize,
    /// Control-plane connections per peer address.
    pub max_connections_per_ip: usize,
    /// Deadline for a client to send a complete request head.
    pub request_timeout_ms: u64,
    /// Host names (without port) the API answers under for callers trusted
    /// only by their address, besides IP literals, `localhost` and the
    /// machine's host name; any other `Host` gets 421 (DNS rebinding).
    pub hostnames: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            port: 8080,
            max_connections: 256,
            control_reserve: 32,
            max_connections_per_ip: 32,
            request_timeout_ms: 5000,
            hostnames: Vec::new(),
        }
    }
}

/// `[api]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Shared secret for callers outside `trusted_networks`, sent as
    /// `Authorization: Bearer …`, an `X-Strom-Secret` header or a `secret`
    /// query parameter. Empty: such callers are refused with 403.
    pub secret: String,
    /// Callers from these networks need no secret.
    pub trusted_networks: Vec<IpNet>,
    /// Whether the secret is also accepted as `?secret=` (ZLMediaKit's way).
    /// `false`: headers only, so the secret never lands in access logs.
    pub secret_in_query: bool,
    /// Origins (`https://dash.example.com`) whose pages may make destructive
    /// API calls (close streams, kick sessions); requests from any other
    /// site, by `Origin` or `Sec-Fetch-Site`, are refused with 403.
    pub allowed_origins: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            secret: String::new(),
            trusted_networks: vec![IpNet::LOOPBACK_V4, IpNet::LOOPBACK_V6],
            secret_in_query: true,
            allowed_origins: Vec::new(),
        }
    }
}

/// `[stream]`: the knobs of stream-core's hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// How long a stream lingers after its publisher left; a publisher
    /// arriving within it resumes the stream for the players that stayed.
    pub continue_push_ms: u64,
    /// Delay after the last player left before the no-reader event fires.
    pub stream_none_reader_delay_ms: u64,
    /// Close a stream when the no-reader event fires.
    pub close_on_no_reader: bool,
    /// How long a player may wait for a stream that is not published yet.
    pub max_stream_wait_ms: u64,
    /// Most players waiting (up to `max_stream_wait_ms`) for streams nobody
    /// publishes, over every protocol; more are refused at once.
    pub max_waiting_players: usize,
    /// Most such waiting players from one peer address.
    pub max_waiting_players_per_ip: usize,
    /// What a second publisher on a live stream gets.
    pub publish_conflict: PublishConflict,
    /// A publisher that sent no media this long is stale: a newcomer takes
    /// the stream over at once, whatever `publish_conflict` says.
    pub publisher_idle_timeout_ms: u64,
    /// Upper bound on the cached GOP, in resident bytes (payload plus the
    /// wire forms players cached on its frames).
    pub gop_cache_max_bytes: usize,
    /// Upper bound on the cached GOP, in milliseconds of media.
    pub gop_cache_max_ms: u64,
    /// Frames a player's queue holds before it skips to the next keyframe.
    pub subscriber_queue_frames: usize,
    /// Resident bytes (payload plus cached wire forms) a player's queue holds
    /// before it skips to the next keyframe.
    pub subscriber_queue_bytes: usize,
    /// A player further behind live than this is disconnected.
    pub max_lag_ms: u64,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            continue_push_ms: 15_000,
            stream_none_reader_delay_ms: 20_000,
            close_on_no_reader: false,
            max_stream_wait_ms: 5_000,
            max_waiting_players: 1_000,
            max_waiting_players_per_ip: 50,
            publish_conflict: PublishConflict::Reject,
            publisher_idle_timeout_ms: 2_000,
            gop_cache_max_bytes: 16 << 20,
            gop_cache_max_ms: 10_000,
            subscriber_queue_frames: 1024,
            subscriber_queue_bytes: 16 << 20,
            max_lag_ms: 5_000,
        }
    }
}

/// Publish conflict policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublishConflict {
    /// Refuse the newcomer while the current publisher is alive.
    Reject,
    /// The newcomer takes the stream over.
    Kick,
}

impl Config {
    /// Checks relations serde cannot express. Returns the offending key and why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let positive = [
            ("server.watchdog_stall_ms", self.server.watchdog_stall_ms),
            (
                "server.shutdown_grace_secs",
                self.server.shutdown_grace_secs,
            ),
            ("http.request_timeout_ms", self.http.request_timeout_ms),
            ("http.max_connections", self.http.max_connections as u64),
            (
                "http.max_connections_per_ip",
                self.http.max_connections_per_ip as u64,
            ),
            (
                "server.max_sessions_per_ip",
                self.server.max_sessions_per_ip as u64,
            ),
            (
                "server.max_pending_per_ip",
                self.server.max_pending_per_ip as u64,
            ),
            ("stream.max_lag_ms", self.stream.max_lag_ms),
            (
                "stream.publisher_idle_timeout_ms",
                self.stream.publisher_idle_timeout_ms,
            ),
            (
                "stream.subscriber_queue_frames",
                self.stream.subscriber_queue_frames as u64,
            ),
            (
                "stream.subscriber_queue_bytes",
                self.stream.subscriber_queue_bytes as u64,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err((key.into(), "must be greater than 0".into()));
            }
        }
        if self.http.control_reserve >= self.http.max_connections {
            return Err((
                "http.control_reserve".into(),
                "must be less than http.max_connections".into(),
            ));
        }
        if !(128..=65536).contains(&self.rtmp.chunk_size) {
            return Err(("rtmp.chunk_size".into(), "must be 128..=65536".into()));
        }
        for (key, url) in self.hook.urls() {
            if !url.is_empty() {
                if let Err(why) = crate::hooks::HookUrl::parse(url) {
                    return Err((format!("hook.{key}"), why));
                }
            }
        }
        if self.server.merge_write_ms > 1000 {
            return Err((
                "server.merge_write_ms".into(),
                "must be at most 1000".into(),
            ));
        }
        if !(0.1..=60.0).contains(&self.hls.segment_secs) {
            return Err(("hls.segment_secs".into(), "must be 0.1..=60".into()));
        }
        if !(1..=100).contains(&self.hls.segment_count) {
            return Err(("hls.segment_count".into(), "must be 1..=100".into()));
        }
        if self.hls.segment_retain > 100 {
            return Err(("hls.segment_retain".into(), "must be at most 100".into()));
        }
        if !(50..=10_000).contains(&self.hls.part_ms) {
            return Err(("hls.part_ms".into(), "must be 50..=10000".into()));
        }
        if self.hls.max_blocked_requests == 0 || self.hls.max_blocked_requests_per_ip == 0 {
            let key = match self.hls.max_blocked_requests {
                0 => "hls.max_blocked_requests",
                _ => "hls.max_blocked_requests_per_ip",
            };
            return Err((key.into(), "must be at least 1".into()));
        }
        if let Err(why) = self.rtsp.udp_ports() {
            return Err(("rtsp.udp_port_range".into(), why));
        }
        if !(256..=65000).contains(&self.rtsp.mtu) {
            return Err(("rtsp.mtu".into(), "must be 256..=65000".into()));
        }
        if self.rtsp.session_timeout_secs == 0 || self.rtsp.keep_alive_secs == 0 {
            return Err((
                "rtsp.session_timeout_secs".into(),
                "timeouts must be greater than 0".into(),
            ));
        }
        for (key, value) in [
            ("max_waiting_players", self.stream.max_waiting_players),
            (
                "max_waiting_players_per_ip",
                self.stream.max_waiting_players_per_ip,
            ),
        ] {
            if value == 0 {
                return Err((
                    format!("stream.{key}"),
                    "must be at least 1 (max_stream_wait_ms = 0 stops waiting)".into(),
                ));
            }
        }
        if self.server.workers > 1024 {
            return Err(("server.workers".into(), "must be at most 1024".into()));
        }
        if let Err(e) = self.log.level.parse::<tracing_subscriber::EnvFilter>() {
            return Err(("log.level".into(), format!("not a valid log filter: {e}")));
        }
        self.validate_relays()?;
        self.validate_cluster()?;
        self.validate_webrtc()?;
        self.validate_record()?;
        self.validate_pushes()
    }

    /// The hub configuration derived from `[stream]`.
    pub fn hub(&self) -> stream_core::HubConfig {
        let s = &self.stream;
        let ms = Duration::from_millis;
        stream_core::HubConfig {
            continue_push: ms(s.continue_push_ms),
            stream_none_reader_delay: ms(s.stream_none_reader_delay_ms),
            close_on_no_reader: s.close_on_no_reader,
            max_stream_wait: ms(s.max_stream_wait_ms),
            publish_conflict: match s.publish_conflict {
                PublishConflict::Reject => stream_core::ConflictPolicy::Reject,
                PublishConflict::Kick => stream_core::ConflictPolicy::Kick,
            },
            publisher_idle_timeout: ms(s.publisher_idle_timeout_ms),
            gop_cache_max_bytes: s.gop_cache_max_bytes,
            gop_cache_max_duration: ms(s.gop_cache_max_ms),
            subscriber_queue_frames: s.subscriber_queue_frames,
            subscriber_queue_bytes: s.subscriber_queue_bytes,
            max_lag: ms(s.max_lag_ms),
            ..stream_core::HubConfig::default()
        }
    }

    /// The effective configuration as TOML, as `--print-config` shows it.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}
