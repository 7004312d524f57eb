//! One stream's fMP4-HLS output, shared by its requests.
//!
//! The packager task is the only writer: it pushes each sample into the
//! [`CmafPackager`] under the feed's lock (never held across an `.await`)
//! and, when a part or segment closed, bumps the change counter. Requests
//! read under the same lock; a blocked one (a blocking playlist reload, the
//! preload-hinted part) waits on the counter, each wake-up a fresh look, up
//! to its deadline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use fmp4::TrackConfig;
use hls_seg::cmaf::{CmafConfig, CmafError, CmafInput, CmafPackager, CmafPushed};
use stream_core::StreamKey;
use tokio::sync::watch;

use crate::session::lock;
use crate::ts_feed::demand::{Demand, Packaged};

/// A stream's fMP4-HLS output.
#[derive(Debug)]
pub struct CmafFeed {
    key: StreamKey,
    state: Mutex<Option<CmafPackager>>,
    /// Bumped on every closed part or segment, on a new packager and at
    /// the end: what blocked requests wait on.
    changes: watch::Sender<u64>,
    demand: Demand,
    ended: AtomicBool,
}

impl CmafFeed {
    /// A feed with no packager yet (it is made once the tracks that carry
    /// media are known).
    pub fn new(key: StreamKey) -> CmafFeed {
        CmafFeed {
            key,
            state: Mutex::new(None),
            changes: watch::channel(0).0,
            demand: Demand::default(),
            ended: AtomicBool::new(false),
        }
    }

    /// Makes the packager for `tracks`. A packager already there (a
    /// resumed publisher with other tracks or codecs) is replaced: the new
    /// one starts with a discontinuity at the old one's next segment number
    /// (or `config.first_msn`, if later), so no URI names two contents.
    pub fn start(&self, tracks: Vec<TrackConfig>, mut config: CmafConfig) -> Result<(), CmafError> {
        let mut state = lock(&self.state);
        let resumed = state.as_ref().map(|old| match old.next_part() {
            Some((msn, 0)) => msn,
            Some((msn, _)) => msn + 1,
            None => old.segments().last().map_or(0, |s| s.msn + 1),
        });
        if let Some(next) = resumed {
            config.first_msn = config.first_msn.max(next);
        }
        let mut packager = CmafPackager::new(tracks, config)?;
        if resumed.is_some() {
            packager.mark_discontinuity()?;
        }
        *state = Some(packager);
        drop(state);
        self.changes.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Pushes one sample; wakes blocked requests when a part closed.
    pub fn push(&self, input: CmafInput) -> Result<CmafPushed, CmafError> {
        let pushed = match lock(&self.state).as_mut() {
            Some(p) => p.push(input)?,
            None => return Ok(CmafPushed::default()),
        };
        if pushed.changed() {
            self.changes.send_modify(|n| *n += 1);
        }
        Ok(pushed)
    }

    /// Closes the open segment; the playlist ends with `EXT-X-ENDLIST`.
    pub fn finish(&self) {
        if let Some(p) = lock(&self.state).as_mut() {
            if let Err(e) = p.finish() {
                tracing::debug!(stream = %self.key, error = %e, "last fMP4 part not built");
            }
        }
        self.changes.send_modify(|n| *n += 1);
    }

    /// `f` on the packager, if there is one yet (under the lock: keep it short).
    pub fn with<T>(&self, f: impl FnOnce(&CmafPackager) -> T) -> Option<T> {
        lock(&self.state).as_ref().map(f)
    }

    /// Looks with `check` now and after every change until it answers,
    /// the feed ends, or `deadline`. `None`: no answer.
    pub async fn wait_for<T>(
        &self,
        deadline: tokio::time::Instant,
        mut check: impl FnMut(&CmafPackager) -> Option<T>,
    ) -> Option<T> {
        let mut changes = self.changes.subscribe();
        loop {
            if let Some(answer) = self.with(&mut check).flatten() {
                return Some(answer);
            }
            if self.is_ended() {
                return None;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // Deadline, or the feed is gone.
                _ => return self.with(&mut check).flatten(),
            }
        }
    }

    /// How long a blocked request may wait: three target durations
    /// (RFC 8216bis §6.2.5.2); before the packager exists, three
    /// `segment_secs` rounded up.
    pub fn block_limit(&self, segment_secs: f64) -> Duration {
        let configured = segment_secs.ceil().max(1.0) as u64;
        Duration::from_secs(3 * self.target_duration().unwrap_or(configured))
    }

    /// `EXT-X-TARGETDURATION` of the running packager.
    pub fn target_duration(&self) -> Option<u64> {
        self.with(CmafPackager::target_duration)
    }

    /// Bytes of media held by the packager.
    pub fn bytes_held(&self) -> usize {
        self.with(CmafPackager::bytes_held).unwrap_or(0)
    }

    /// Notes a request (keeps the on-demand feed alive).
    pub fn touch(&self) {
        self.demand.touch();
    }

    /// A request came within `within`.
    pub fn watched(&self, within: Duration) -> bool {
        self.demand.requested() && self.idle_for() < within
    }

    /// How long since the last request (or since the feed was made).
    pub fn idle_for(&self) -> Duration {
        self.demand.idle_for()
    }
}

impl Packaged for CmafFeed {
    fn key(&self) -> &StreamKey {
        &self.key
    }

    fn end(&self) {
        self.ended.store(true, Ordering::Relaxed);
        // Wakes requests waiting for something that will never come.
        self.changes.send_modify(|n| *n += 1);
    }

    fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }

    fn bytes_held(&self) -> usize {
        CmafFeed::bytes_held(self)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use fmp4::CodecConfig;
    use hls_seg::cmaf::{Blocking, PartState};
    use tokio::time::Instant;

    use super::*;

    fn aac_feed() -> CmafFeed {
        let aac = TrackConfig {
            id: 1,
            timescale: 48_000,
            codec: CodecConfig::Aac {
                asc: Bytes::from_static(&[0x11, 0x90]),
            },
            width: 0,
            height: 0,
            channels: 2,
            sample_rate: 48_000,
        };
        let feed = CmafFeed::new(StreamKey::new("live", "t"));
        // Before the packager: three configured targets, rounded up.
        assert_eq!(feed.block_limit(1.5), Duration::from_secs(6));
        let config = CmafConfig {
            target_secs: 2.0,
            ..CmafConfig::default()
        };
        feed.start(vec![aac], config).unwrap();
        feed
    }

    fn frame(i: u64) -> CmafInput {
        CmafInput {
            track_id: 1,
            dts: i * 1024,
            cts_offset: 0,
            keyframe: true,
            data: Bytes::from_static(&[0x21, 0x10, 0x05]),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_blocked_wait_ends_after_three_target_durations() {
        let feed = aac_feed();
        let limit = feed.block_limit(2.0);
        assert_eq!(limit, Duration::from_secs(6), "3 × EXT-X-TARGETDURATION 2");
        let start = Instant::now();
        let ready = |p: &CmafPackager| (p.blocking_state(1, None) == Blocking::Ready).then_some(());
        assert_eq!(feed.wait_for(start + limit, ready).await, None);
        assert_eq!(start.elapsed(), limit);
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_part_wakes_a_blocked_wait_and_the_end_wakes_the_rest() {
        let feed = Arc::new(aac_feed());
        let pusher = feed.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            // 0.2 s parts of 1024-sample frames at 48 kHz: the first closes
            // with the tenth frame's successor.
            for i in 0..20 {
                pusher.push(frame(i)).unwrap();
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            pusher.end();
        });
        let start = Instant::now();
        let part = |p: &CmafPackager| match p.part_state(0, 0) {
            PartState::Ready(data) => Some(data),
            _ => None,
        };
        let data = feed.wait_for(start + Duration::from_secs(6), part).await;
        assert!(data.is_some_and(|d| !d.is_empty()));
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        // Segment 5 will not come: the end releases the wait at once.
        let never = |p: &CmafPackager| (p.blocking_state(5, None) == Blocking::Ready).then_some(());
        assert_eq!(
            feed.wait_for(start + Duration::from_secs(60), never).await,
            None
        );
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
