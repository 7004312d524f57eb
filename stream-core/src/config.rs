//! Hub configuration. Knob names follow ZLMediaKit where one exists
//! (`continue_push_ms`, `stream_none_reader_delay_ms`) so users coming from it find them.

use std::time::Duration;

/// What happens when a second publisher arrives on a key that has a live, non-stale publisher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConflictPolicy {
    /// The newcomer gets [`crate::PublishError::AlreadyPublishing`]; the first goes on untouched.
    #[default]
    Reject,
    /// The newcomer takes over; the old publisher's `closed()` resolves with `TakenOver`.
    Kick,
}

/// Limits and timers of the hub. `Default` gives the values documented on each field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubConfig {
    /// (Default 15 s.) How long a stream lingers after its publisher leaves; a publisher arriving within
    /// this window resumes it and the subscribers stay attached (ZLMediaKit `continue_push_ms`).
    pub continue_push: Duration,
    /// (Default 20 s.) How long a live stream may have no subscriber before `HubEvent::NoReader`
    /// (ZLMediaKit `stream_none_reader_delay_ms`).
    pub stream_none_reader_delay: Duration,
    /// (Default false.) Close the stream (publisher told `CloseReason::NoReader`) when the no-reader event fires.
    pub close_on_no_reader: bool,
    /// (Default 5 s.) How long a subscriber may wait for a publisher on a stream that does not exist yet.
    pub max_stream_wait: Duration,
    /// (Default Reject.) The publish conflict policy.
    pub publish_conflict: ConflictPolicy,
    /// (Default 2 s.) A publisher that sent no media for this long (since its last frame, or since it
    /// started publishing) is stale: a newcomer takes over at once under either policy.
    pub publisher_idle_timeout: Duration,
    /// (Default 16 MiB.) Bound on the resident bytes ([`crate::Frame::resident_bytes`]: payload
    /// plus cached wire forms) of the GOP cache.
    pub gop_cache_max_bytes: usize,
    /// (Default 10 s.) Bound on the span of the GOP cache.
    pub gop_cache_max_duration: Duration,
    /// (Default 1024.) Bound on frames queued for one subscriber (the initial GOP burst comes on top).
    pub subscriber_queue_frames: usize,
    /// (Default 16 MiB.) Bound on the resident bytes queued for one subscriber (the initial GOP
    /// burst comes on top).
    pub subscriber_queue_bytes: usize,
    /// (Default 5 s.) A subscriber further behind than this, both in stream time (dts) and on the
    /// clock, is disconnected with `EndReason::Lagged`.
    pub max_lag: Duration,
    /// (Default 1024.) Capacity of the lifecycle event broadcast (slow listeners lose old events).
    pub event_capacity: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            continue_push: Duration::from_secs(15),
            stream_none_reader_delay: Duration::from_secs(20),
            close_on_no_reader: false,
            max_stream_wait: Duration::from_secs(5),
            publish_conflict: ConflictPolicy::Reject,
            publisher_idle_timeout: Duration::from_secs(2),
            gop_cache_max_bytes: 16 * 1024 * 1024,
            gop_cache_max_duration: Duration::from_secs(10),
            subscriber_queue_frames: 1024,
            subscriber_queue_bytes: 16 * 1024 * 1024,
            max_lag: Duration::from_secs(5),
            event_capacity: 1024,
        }
    }
}

/// Converts a duration to whole microseconds, saturating (durations come from config files).
pub(crate) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// `now + d`, saturating: durations come from config files and `Instant + Duration` panics
/// on overflow. A century is "never" for a live stream.
pub(crate) fn deadline(now: tokio::time::Instant, d: Duration) -> tokio::time::Instant {
    const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(d.min(NEVER))
        .or_else(|| now.checked_add(Duration::from_secs(3600)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let c = HubConfig::default();
        assert_eq!(c.continue_push, Duration::from_secs(15));
        assert_eq!(c.stream_none_reader_delay, Duration::from_secs(20));
        assert!(!c.close_on_no_reader);
        assert_eq!(c.max_stream_wait, Duration::from_secs(5));
        assert_eq!(c.publish_conflict, ConflictPolicy::Reject);
        assert_eq!(c.publisher_idle_timeout, Duration::from_secs(2));
        assert_eq!(c.gop_cache_max_bytes, 16 << 20);
        assert_eq!(c.gop_cache_max_duration, Duration::from_secs(10));
        assert_eq!(c.subscriber_queue_frames, 1024);
        assert_eq!(c.subscriber_queue_bytes, 16 << 20);
        assert_eq!(c.max_lag, Duration::from_secs(5));
        assert_eq!(c.event_capacity, 1024);
    }

    #[test]
    fn deadline_saturates() {
        let now = tokio::time::Instant::now();
        assert_eq!(
            deadline(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        assert!(deadline(now, Duration::MAX) > now + Duration::from_secs(3600));
    }

    #[test]
    fn micros_saturates() {
        assert_eq!(micros(Duration::from_millis(2)), 2000);
        assert_eq!(micros(Duration::MAX), i64::MAX);
    }
}
