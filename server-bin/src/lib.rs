//! # strom — the server
//!
//! The `strom` binary wires strom's crates together: configuration
//! ([`config`]), the media workers and the control plane ([`runtime`]),
//! sessions ([`session`]), the HTTP API ([`http`]) and the shutdown
//! ([`server`]). Protocols live in their own sans-IO crates; the hub in
//! `stream-core`.
//!
//! ```no_run
//! let config = strom::config::load(&strom::config::Overrides::default()).unwrap();
//! let listeners = strom::server::Listeners::bind(&config).unwrap();
//! strom::server::run(listeners, config, Default::default(), strom::server::termination_signal)
//!     .unwrap();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod accept;
pub mod admission;
pub mod cli;
pub mod cluster;
pub mod cmaf_feed;
pub mod config;
pub mod counters;
pub mod disk_path;
pub mod drive;
pub mod hooks;
pub mod http;
pub mod http_media;
pub mod io;
pub mod logging;
pub mod media;
pub mod players;
pub mod record;
pub mod relay;
pub mod rtmp;
pub mod rtsp;
pub mod runtime;
pub mod server;
pub mod session;
pub mod ts_feed;
pub mod waiting;
pub mod webrtc;
