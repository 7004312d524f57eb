//! The packager task: one hub subscriber per packaged stream, muxing every
//! frame to TS in order (continuity counters make TS stateful, so unlike
//! FLV it cannot be encoded lazily by whichever viewer comes first).

use std::sync::Arc;
use std::time::Duration;

use hls_seg::{MuxInput, Segment, SegmenterConfig};
use stream_core::SubscriberEvent;

use super::convert::TsTracks;
use super::demand::{self, Stop};
use super::disk::DiskWriter;
use super::feed::Feed;
use crate::server::Shared;

/// Runs the packager for `feed` until its stream ends or it is idle.
pub async fn run(shared: Arc<Shared>, feed: Arc<Feed>, disk: Option<DiskWriter>) -> Stop {
    let cfg = &shared.config.hls;
    let Some(mut sub) = demand::subscribe(&shared, feed.key()).await else {
        return Stop::StreamEnded;
    };
    let dir = disk.as_ref().and_then(|d| {
        let dir = d.stream_dir(feed.key());
        if dir.is_none() {
            tracing::warn!(stream = %feed.key(), "stream name unsafe as a path: hls not written to disk");
        }
        dir
    });
    let segmenter = SegmenterConfig {
        target_secs: cfg.segment_secs,
        window: cfg.segment_count,
        retain: cfg.segment_retain,
    };
    let kept = (cfg.segment_count + cfg.segment_retain) as u64;
    let idle = Duration::from_secs(cfg.idle_secs);
    let mut tracks = TsTracks::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(stream = %feed.key(), "hls packaging started");
    let stop = loop {
        let event = tokio::select! {
            event = sub.recv() => event,
            _ = tick.tick() => {
                if cfg.on_demand && feed.viewers() == 0 && feed.idle_for() >= idle {
                    break Stop::Idle;
                }
                continue;
            }
        };
        match event {
            Ok(SubscriberEvent::Tracks(t)) => {
                let next = TsTracks::from_tracks(&t);
                if next.is_empty() {
                    tracing::warn!(stream = %feed.key(), "no track TS can carry (H.264/H.265, AAC/MP3)");
                }
                // The first tracks make the packager; later ones (a resumed
                // publisher, changed codecs) close the open segment and start
                // the next with EXT-X-DISCONTINUITY.
                let closed = feed.configure(next.muxer_config(), segmenter);
                if let (Some(seg), Some(disk), Some(dir)) = (closed, &disk, &dir) {
                    write_segment(&feed, disk, dir, &seg, kept);
                }
                tracks = next;
            }
            Ok(SubscriberEvent::Frame(frame)) => {
                let starts_gop =
                    frame.keyframe && (!tracks.has_video() || tracks.is_video_track(frame.track));
                let closed = feed.push(starts_gop, |p| {
                    tracks
                        .with_input(&frame, |input: MuxInput<'_>| p.push(input))?
                        .map_err(|e| tracing::debug!(error = %e, "frame not muxed"))
                        .ok()
                });
                if let (Some(seg), Some(disk), Some(dir)) = (closed, &disk, &dir) {
                    write_segment(&feed, disk, dir, &seg, kept);
                }
            }
            Err(_) => break Stop::StreamEnded,
        }
    };
    if let Some(seg) = feed.finish() {
        if let (Some(disk), Some(dir)) = (&disk, &dir) {
            write_segment(&feed, disk, dir, &seg, kept);
        }
    }
    tracing::info!(stream = %feed.key(), reason = ?stop, "hls packaging stopped");
    stop
}

fn write_segment(feed: &Feed, disk: &DiskWriter, dir: &std::path::Path, seg: &Segment, kept: u64) {
    disk.write(dir, &format!("{}.ts", seg.sequence), seg.data.clone());
    if let Some(text) = feed.playlist() {
        disk.write(dir, "hls.m3u8", text.into());
    }
    if let Some(old) = seg.sequence.checked_sub(kept) {
        disk.remove(dir, &format!("{old}.ts"));
    }
}
