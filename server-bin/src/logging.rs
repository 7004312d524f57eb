//! Logging through `tracing`, text or JSON, to standard error.
//!
//! Lines go through a bounded, lossy background writer: if whatever reads
//! our standard error stops reading (a stuck pipe, a full journald), log
//! lines are dropped and counted instead of blocking every thread that logs,
//! which would otherwise be a fake death of its own.
//!
//! Peers choose much of what is logged (stream names, queries, URLs, user
//! agents, their error messages). In text logs every control character in a
//! field value or message (CR, LF, ESC, the rest of C0 and C1, DEL, and the
//! Unicode line and paragraph separators) is written escaped (`\r`,
//! `\u{1b}`), so no peer can forge a log line or drive the terminal
//! ([`EscapedFields`]). JSON logs are safe by construction: serde_json
//! escapes control characters inside strings.

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::FormatFields;
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
        LogFormat::Text => builder.fmt_fields(EscapedFields).try_init(),
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

/// Formats fields (and the message, which is a field) like tracing's
/// default, then escapes control characters, so a value cannot end the line
/// or carry terminal escapes. Used for spans' fields too.
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        let mut plain = String::new();
        DefaultFields::new().format_fields(Writer::new(&mut plain), fields)?;
        write_escaped(&mut writer, &plain)
    }
}

/// Writes `s` with every control character escaped.
fn write_escaped(out: &mut impl std::fmt::Write, s: &str) -> std::fmt::Result {
    for c in s.chars() {
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            write!(out, "{}", c.escape_default())?;
        } else {
            out.write_char(c)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn log_forgery() {
        let span = tracing::info_span!("session", peer = "1.2.3.4\nFAKE span");
        let _e = span.enter();
        tracing::warn!(stream = "live/a\r\nFAKE INFO admin logged in", error = %"bad\x1b[2Jthing\u{7f}\u{85}", "refused\nFAKE message");
    }

    /// What `log_forgery` writes through the text (or JSON) subscriber.
    fn render(json: bool) -> String {
        let out = Captured::default();
        let sink = out.clone();
        let builder = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false);
        if json {
            let subscriber = builder.json().flatten_event(true).finish();
            tracing::subscriber::with_default(subscriber, log_forgery);
        } else {
            let subscriber = builder.fmt_fields(EscapedFields).finish();
            tracing::subscriber::with_default(subscriber, log_forgery);
        }
        out.text()
    }

    #[test]
    fn control_characters_are_escaped_in_text_logs() {
        let text = render(false);
        assert_eq!(text.matches('\n').count(), 1, "one line: {text:?}");
        assert!(text.ends_with('\n'), "{text:?}");
        for raw in ['\r', '\x1b', '\u{7f}', '\u{85}'] {
            assert!(!text.contains(raw), "{raw:?} in {text:?}");
        }
        assert!(text.contains("live/a\\r\\nFAKE INFO"), "{text:?}");
        assert!(text.contains("refused\\nFAKE message"), "{text:?}");
        assert!(text.contains("1.2.3.4\\nFAKE span"), "{text:?}");
        assert!(
            text.contains("bad\\u{1b}[2Jthing\\u{7f}\\u{85}"),
            "{text:?}"
        );
    }

    #[test]
    fn json_logs_are_one_line_with_the_values_intact() {
        let text = render(true);
        assert_eq!(text.matches('\n').count(), 1, "one line: {text:?}");
        assert!(!text.contains('\r') && !text.contains('\x1b'), "{text:?}");
        let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(v["stream"], "live/a\r\nFAKE INFO admin logged in");
    }
}
