//! Descriptors: the process limit, how many are open, and a spare one that
//! lets an accept loop refuse a connection even when the limit is reached.

use std::time::{Duration, Instant};

/// The descriptor limit before and after [`raise_nofile_limit`].
#[derive(Debug, Clone, Copy)]
pub struct NofileLimit {
    /// Soft limit found at start.
    pub soft_before: u64,
    /// Soft limit in force.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// What is assumed when the limit cannot be read (Linux's usual default).
const FALLBACK_NOFILE: u64 = 1024;

/// Highest soft limit asked for: beyond it the kernel's `nr_open` or memory
/// bound the process anyway, and the derived caps stay readable.
const MAX_SOFT: u64 = 1 << 20;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (systemd services start
/// at a soft 1024 with a much higher hard limit).
pub fn raise_nofile_limit() -> NofileLimit {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    let soft_before = now.current.unwrap_or(MAX_SOFT);
    let hard = now.maximum.unwrap_or(MAX_SOFT);
    let wanted = hard.min(MAX_SOFT);
    if wanted > soft_before {
        let raised = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(wanted),
                maximum: now.maximum,
            },
        );
        if let Err(e) = raised {
            tracing::warn!(error = %e, soft = soft_before, hard, "cannot raise the descriptor limit");
        }
    }
    let soft = getrlimit(Resource::Nofile)
        .current
        .unwrap_or(FALLBACK_NOFILE);
    NofileLimit {
        soft_before,
        soft,
        hard,
    }
}

/// Descriptors open in this process (`/proc/self/fd`), if readable.
pub fn open_descriptors() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

/// Whether an accept error means the process or system ran out of descriptors.
pub fn is_exhaustion(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(code) if code == 24 /* EMFILE */ || code == 23 /* ENFILE */)
}

/// One descriptor held in reserve. When `accept` fails for lack of
/// descriptors, the connection stays in the kernel's backlog and the
/// listener stays readable, so a naive loop spins or stalls while clients
/// hang. Releasing the spare lets the loop accept that connection and refuse
/// it properly, then take the spare back (the classic libev/nginx remedy).
#[derive(Debug)]
pub struct Spare(Option<std::fs::File>);

impl Spare {
    /// Opens the spare descriptor.
    pub fn new() -> Spare {
        Spare(std::fs::File::open("/dev/null").ok())
    }

    /// Frees the descriptor for the next accept.
    pub fn release(&mut self) {
        self.0 = None;
    }

    /// Takes a descriptor back (if one is free again).
    pub fn restore(&mut self) {
        if self.0.is_none() {
            self.0 = std::fs::File::open("/dev/null").ok();
        }
    }
}

impl Default for Spare {
    fn default() -> Self {
        Spare::new()
    }
}

/// Logs a repeated warning at most once per interval, with how many
/// occurrences it stands for, so a flood cannot flood the log.
#[derive(Debug)]
pub struct Throttle {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    /// At most one line per `interval`.
    pub fn new(interval: Duration) -> Throttle {
        Throttle {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when a line should be logged now, standing for `n`
    /// occurrences (this one and those suppressed since the last line).
    pub fn hit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.duration_since(t) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                let n = self.suppressed + 1;
                self.suppressed = 0;
                Some(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_limit() {
        let limit = raise_nofile_limit();
        assert!(limit.soft >= limit.soft_before);
        assert_eq!(limit.soft, limit.hard.min(MAX_SOFT));
        assert!(open_descriptors().is_some_and(|n| n > 0));
    }

    #[test]
    fn exhaustion_is_recognised() {
        assert!(is_exhaustion(&std::io::Error::from_raw_os_error(24)));
        assert!(is_exhaustion(&std::io::Error::from_raw_os_error(23)));
        assert!(!is_exhaustion(&std::io::Error::from_raw_os_error(104)));
    }

    #[test]
    fn throttle_logs_once_per_interval_with_the_count() {
        let mut t = Throttle::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(t.hit(t0), Some(1));
        for i in 1..=425 {
            assert_eq!(t.hit(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(t.hit(t0 + Duration::from_millis(1001)), Some(426));
    }

    #[test]
    fn spare_releases_and_restores() {
        let mut s = Spare::new();
        assert!(s.0.is_some());
        s.release();
        assert!(s.0.is_none());
        s.restore();
        assert!(s.0.is_some());
    }
}
