//! The caps in force and how their defaults derive from the descriptor limit.

use crate::config::Config;

/// Descriptors the process needs besides connections: listeners, epoll,
/// runtime wake-ups, the log, hook connections, `hls.dir` files.
pub(super) const PROCESS_BASELINE_FDS: u64 = 32;

/// The caps in force, after deriving the defaults (`0`) from the descriptor limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Media sessions in total.
    pub max_sessions: usize,
    /// Media sessions per peer address.
    pub max_sessions_per_ip: usize,
    /// Connections not yet identified, in total.
    pub max_pending: usize,
    /// Connections not yet identified, per peer address.
    pub max_pending_per_ip: usize,
    /// Control-plane HTTP connections in total.
    pub max_control: usize,
    /// Of `max_control`, kept for `/healthz`, `/metrics` and trusted API callers.
    pub control_reserve: usize,
    /// Control-plane HTTP connections per peer address.
    pub max_control_per_ip: usize,
}

impl Limits {
    /// The caps for `config` with `nofile` descriptors available to the process.
    pub fn derive(config: &Config, nofile: u64) -> Limits {
        let s = &config.server;
        let h = &config.http;
        let available = nofile
            .saturating_sub(s.fd_reserve as u64)
            .saturating_sub(PROCESS_BASELINE_FDS);
        // Under a small descriptor limit the control plane gets at most a
        // quarter of what is left, pending connections an eighth.
        let max_control = h.max_connections.min((available / 4).max(8) as usize);
        let max_pending = match s.max_pending {
            0 => (available / 8).clamp(16, 1024) as usize,
            n => n,
        };
        // Half the rest: an RTSP session over UDP holds two more descriptors
        // per track, and hook calls and `hls.dir` files need some too.
        let max_sessions = match s.max_sessions {
            0 => {
                let rest = available.saturating_sub((max_control + max_pending) as u64);
                (rest / 2).max(16) as usize
            }
            n => n,
        };
        Limits {
            max_sessions,
            max_sessions_per_ip: s.max_sessions_per_ip.min(max_sessions),
            max_pending,
            max_pending_per_ip: s.max_pending_per_ip.min(max_pending),
            max_control,
            control_reserve: h.control_reserve.min(max_control.saturating_sub(1)),
            max_control_per_ip: h.max_connections_per_ip.min(max_control),
        }
    }

    /// Descriptors these caps may take at most (one per connection).
    pub fn descriptors(&self) -> u64 {
        (self.max_sessions + self.max_pending + self.max_control) as u64
    }
}
