//! The fMP4 packager task: one hub subscriber per packaged stream, every
//! frame of a carried track into the stream's [`CmafPackager`] in order.
//!
//! The packager is made only with tracks that carry media
//! ([`Fmp4Tracks`] holds the first frames until then). New tracks (a
//! resumed publisher with other codecs) replace the packager (see
//! [`CmafFeed::start`]).
//!
//! [`CmafPackager`]: hls_seg::cmaf::CmafPackager

use std::sync::Arc;
use std::time::Duration;

use fmp4::TrackConfig;
use hls_seg::cmaf::{CmafConfig, CmafInput};
use stream_core::{Frame, SubscriberEvent};

use super::feed::CmafFeed;
use crate::media::fmp4_egress::{sample, ticks};
use crate::media::fmp4_tracks::Fmp4Tracks;
use crate::server::Shared;
use crate::ts_feed::demand::{self, Packaged, Stop};

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
    let mut tracks = Fmp4Tracks::default();
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
                    start(&mut tracks, &feed, config);
                }
                continue;
            }
        };
        match event {
            Ok(SubscriberEvent::Tracks(t)) => announce(&mut tracks, &feed, &t),
            Ok(SubscriberEvent::Frame(frame)) => {
                if tracks.collect(&frame) {
                    if tracks.collected(Some(&frame)) {
                        start(&mut tracks, &feed, config);
                    }
                } else {
                    push(&tracks, &feed, &frame);
                }
            }
            Err(_) => break Stop::StreamEnded,
        }
    };
    feed.finish();
    tracing::info!(stream = %feed.key(), reason = ?stop, "fmp4 hls packaging stopped");
    stop
}

/// Announces `tracks`: the same descriptions keep the packager, others
/// collect frames for a new one.
fn announce(tracks: &mut Fmp4Tracks, feed: &CmafFeed, t: &[stream_core::Track]) {
    tracks.announce(t);
    if tracks.none_carried() {
        tracing::warn!(stream = %feed.key(), "no track fMP4 can carry (H.264/H.265/AV1, AAC/Opus)");
    }
}

/// Makes the packager with the tracks seen and pushes the held frames.
fn start(tracks: &mut Fmp4Tracks, feed: &CmafFeed, mut config: CmafConfig) {
    let Some(held) = tracks.start() else {
        return;
    };
    config.first_msn = crate::ts_feed::first_sequence();
    let configs = tracks.active().iter().map(|(_, c)| c.clone()).collect();
    if let Err(e) = feed.start(configs, config) {
        tracing::warn!(stream = %feed.key(), error = %e, "cannot package fMP4 HLS");
        tracks.clear_active();
        return;
    }
    let skipped = tracks.skipped();
    tracing::debug!(stream = %feed.key(), tracks = tracks.active().len(), skipped, "fmp4 hls packager made");
    for frame in &held {
        push(tracks, feed, frame);
    }
}

/// Pushes `frame` to the packager if its track is packaged.
fn push(tracks: &Fmp4Tracks, feed: &CmafFeed, frame: &Frame) {
    if let Some(config) = tracks.config(frame.track) {
        if let Err(e) = feed.push(input(config, frame)) {
            tracing::debug!(stream = %feed.key(), error = %e, "frame not packaged");
        }
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
