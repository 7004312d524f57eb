//! Logging through `tracing`, text or JSON, to standard error.
//!
//! Lines go through a bounded, lossy background writer: if whatever reads
//! our standard error stops reading (a stuck pipe, a full journald), log
//! lines are dropped and counted instead of blocking every thread that logs,
//! which would otherwise be a fake death of its own.

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Lines buffered for the writer thread before new ones are dropped.
const BUFFERED_LINES: usize = 64 * 1024;

/// Flushes buffered log lines when dropped; keep it alive until exit.
#[must_use = "dropping the guard stops log output"]
pub struct LogGuard(#[allow(dead_code)] WorkerGuard);

/// Installs the global subscriber and a panic hook that logs panics (with
/// the span of the session they happened in) instead of only printing them.
pub fn init(config: &LogConfig) -> LogGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("log-writer")
        .finish(std::io::stderr());
    // Validated at load time; fall back to `info` rather than fail here.
    let filter = EnvFilter::try_new(&config.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_thread_names(true);
    let installed = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Err(e) = installed {
        eprintln!("strom: logging already initialised: {e}");
    }
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic payload)".into());
        tracing::error!(%location, panic = %message, "task panicked; only its session ends");
    }));
    LogGuard(guard)
}
