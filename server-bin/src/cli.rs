//! Command-line flags. Only the common knobs have flags; everything else is
//! set in `strom.toml` or `STROM_*` variables.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::config::Overrides;

/// strom — a live-video streaming server (RTMP, RTSP, HTTP-FLV, HTTP-TS, HLS).
#[derive(Debug, Parser)]
#[command(name = "strom", version, about)]
pub struct Cli {
    /// Configuration file (default: ./strom.toml when it exists).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Address every listener binds to (server.bind).
    #[arg(long, value_name = "IP")]
    pub bind: Option<IpAddr>,
    /// RTMP port (rtmp.port).
    #[arg(long, value_name = "PORT")]
    pub rtmp_port: Option<u16>,
    /// RTSP port (rtsp.port).
    #[arg(long, value_name = "PORT")]
    pub rtsp_port: Option<u16>,
    /// HTTP port for API, health, metrics and HTTP media (http.port).
    #[arg(long, value_name = "PORT")]
    pub http_port: Option<u16>,
    /// WebRTC's UDP port (webrtc.port).
    #[arg(long, value_name = "PORT")]
    pub webrtc_port: Option<u16>,
    /// Log level or tracing filter (log.level).
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Serve test-only endpoints (debug builds only; ignored in release builds).
    #[arg(long, hide = true)]
    pub test_hooks: bool,
}

impl Cli {
    /// The configuration layer the flags make.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config.clone(),
            bind: self.bind,
            rtmp_port: self.rtmp_port,
            rtsp_port: self.rtsp_port,
            http_port: self.http_port,
            webrtc_port: self.webrtc_port,
            log_level: self.log_level.clone(),
        }
    }
}
