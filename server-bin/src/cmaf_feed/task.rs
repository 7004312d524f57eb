//! The fMP4 packager task: one hub subscriber per packaged stream, every
//! frame of a carried track into the stream's [`CmafPackager`] in order.
//!
//! The packager is made only with tracks that carry media: a configured
//! video track that never sends a frame would keep every segment from
//! opening. So the first frames are held until every carried track has
//! sent one, or for [`COLLECT`] (wall or media time) or [`COLLECT_FRAMES`]
//! frames, whichever comes first; the packager gets the tracks seen by
//! then. New tracks (a resumed publisher with other codecs) do the same
//! again and replace the packager (see [`CmafFeed::start`]).
//!
//! [`CmafPackager`]: hls_seg::cmaf::CmafPackager

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use fmp4::TrackConfig;
use hls_seg::cmaf::{CmafConfig, CmafInput};
use stream_core::{Frame, SubscriberEvent, Track, TrackId};
use tokio::time::Instant;

use super::feed::CmafFeed;
use crate::media::fmp4_egress::{sample, ticks, track_config};
use crate::server::Shared;
use crate::ts_feed::demand::{self, Packaged, Stop};

/// Longest the first frames are held waiting for every track.
pub const COLLECT: Duration = Duration::from_secs(1);
/// Most frames held meanwhile.
pub const COLLECT_FRAMES: usize = 1000;

/// Runs the packager for `feed` until its stream ends or it is idle.
pub async fn run(shared: Arc<Shared>, feed: Arc<CmafFeed>) -> Stop {
    let cfg = &shared.config.hls;
    let Some(mut sub) = demand::subscribe(&shared, feed.key()).await else {
        return Stop::StreamEnded;
    };
    let config = CmafConfig {
        target_secs: cfg.segment_secs,
        // A configuration with segments shorter than the part target (short
        // test segments) gets parts of a segment's length, not a refusal.
        part_secs: (cfg.part_ms as f64 / 1000.0).min(cfg.segment_secs),
        window: cfg.segment_count,
        retain: cfg.segment_retain,
        first_msn: 0,
    };
    let idle = Duration::from_secs(cfg.idle_secs);
    let mut tracks = Tracks::default();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(stream = %feed.key(), "fmp4 hls packaging started");
    let stop = loop {
        let event = tokio::select! {
            event = sub.recv() => event,
            _ = tick.tick() => {
                if feed.idle_for() >= idle {
                    break Stop::Idle;
                }
                if tracks.collected(None) {
                    tracks.start(&feed, config);
                }
                continue;
            }
        };
        match event {
            Ok(SubscriberEvent::Tracks(t)) => tracks.announce(&feed, &t),
            Ok(SubscriberEvent::Frame(frame)) => {
                if tracks.collect(&frame) {
                    if tracks.collected(Some(&frame)) {
                        tracks.start(&feed, config);
                    }
                } else if let Some(input) = tracks.input(&frame) {
                    if let Err(e) = feed.push(input) {
                        tracing::debug!(stream = %feed.key(), error = %e, "frame not packaged");
                    }
                }
            }
            Err(_) => break Stop::StreamEnded,
        }
    };
    feed.finish();
    tracing::info!(stream = %feed.key(), reason = ?stop, "fmp4 hls packaging stopped");
    stop
}

/// The stream's tracks as fMP4 carries them, and the first frames held
/// until the packager can be made.
#[derive(Debug, Default)]
struct Tracks {
    /// Every carried track: stream-core id → its fMP4 description.
    carried: Vec<(TrackId, TrackConfig)>,
    /// The running packager's tracks.
    active: Vec<(TrackId, TrackConfig)>,
    /// Collecting the first frames for a new packager.
    collecting: Option<Collecting>,
}

#[derive(Debug)]
struct Collecting {
    frames: Vec<Arc<Frame>>,
    seen: HashSet<TrackId>,
    since: Instant,
}

impl Tracks {
    /// The stream's (new) tracks: the same descriptions keep the packager;
    /// others collect frames for a new one.
    fn announce(&mut self, feed: &CmafFeed, tracks: &[Track]) {
        let carried: Vec<_> = tracks
            .iter()
            .filter_map(|t| track_config(t).map(|c| (t.id, c)))
            .collect();
        if carried.is_empty() {
            tracing::warn!(stream = %feed.key(), "no track fMP4 can carry (H.264/H.265/AV1, AAC/Opus)");
        }
        let unchanged = !self.active.is_empty()
            && self.active.iter().all(|a| carried.contains(a))
            && carried.len() == self.active.len();
        self.carried = carried;
        if !unchanged {
            self.collecting = None;
        }
        if !unchanged && !self.carried.is_empty() {
            self.collecting = Some(Collecting {
                frames: Vec::new(),
                seen: HashSet::new(),
                since: Instant::now(),
            });
        }
    }

    /// Holds `frame` while collecting (true), else false.
    fn collect(&mut self, frame: &Arc<Frame>) -> bool {
        let Some(c) = &mut self.collecting else {
            return false;
        };
        if self.carried.iter().any(|(id, _)| *id == frame.track) {
            if c.frames.is_empty() {
                c.since = Instant::now();
            }
            c.seen.insert(frame.track);
            c.frames.push(frame.clone());
        }
        true
    }

    /// Whether the packager can be made now: every carried track sent a
    /// frame, or [`COLLECT`] passed since the first (wall time, or media
    /// time up to `last`), or [`COLLECT_FRAMES`] are held.
    fn collected(&self, last: Option<&Frame>) -> bool {
        let Some(c) = &self.collecting else {
            return false;
        };
        let Some(first) = c.frames.first() else {
            return false;
        };
        let media = last.map_or(0, |l| l.dts_us.saturating_sub(first.dts_us));
        c.seen.len() >= self.carried.len()
            || c.frames.len() >= COLLECT_FRAMES
            || c.since.elapsed() >= COLLECT
            || media >= COLLECT.as_micros() as i64
    }

    /// Makes the packager with the tracks seen and pushes the held frames.
    fn start(&mut self, feed: &CmafFeed, mut config: CmafConfig) {
        let Some(c) = self.collecting.take() else {
            return;
        };
        self.active = self
            .carried
            .iter()
            .filter(|(id, _)| c.seen.contains(id))
            .cloned()
            .collect();
        config.first_msn = crate::ts_feed::first_sequence();
        let configs = self.active.iter().map(|(_, c)| c.clone()).collect();
        if let Err(e) = feed.start(configs, config) {
            tracing::warn!(stream = %feed.key(), error = %e, "cannot package fMP4 HLS");
            self.active.clear();
            return;
        }
        let skipped = self.carried.len() - self.active.len();
        tracing::debug!(stream = %feed.key(), tracks = self.active.len(), skipped, "fmp4 hls packager made");
        for frame in &c.frames {
            if let Some(input) = self.input(frame) {
                if let Err(e) = feed.push(input) {
                    tracing::debug!(stream = %feed.key(), error = %e, "frame not packaged");
                }
            }
        }
    }

    /// `frame` as the packager takes it, if its track is packaged.
    fn input(&self, frame: &Frame) -> Option<CmafInput> {
        let (_, config) = self.active.iter().find(|(id, _)| *id == frame.track)?;
        Some(input(config, frame))
    }
}

/// One frame as a sample of `config`'s track.
pub fn input(config: &TrackConfig, frame: &Frame) -> CmafInput {
    let s = sample(config, frame, 0);
    CmafInput {
        track_id: config.id,
        dts: ticks(frame.dts_us, config.timescale),
        cts_offset: s.cts_offset,
        keyframe: s.keyframe,
        data: s.data,
    }
}
