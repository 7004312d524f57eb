//! The recorder of one stream, on a media worker: a hub subscriber whose
//! frames the [`Cutter`] turns into files and fragments, handed to the
//! writer threads. It never touches the disk and never waits for it: a
//! full queue drops the fragment (counted) and the recorder skips to the
//! next keyframe.
//!
//! It ends when the stream ends or the recording is stopped; a publisher
//! resuming the same stream keeps the subscription, so the recording goes
//! on (in a new file when the tracks changed).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stream_core::{EndReason, Frame, PeerInfo, SubscriberEvent};
use tokio::sync::watch;

use super::cut::{Cut, Cutter};
use super::disk::Drop;
use super::writer::Job;
use super::Recording;
use crate::media::fmp4_tracks::Fmp4Tracks;
use crate::server::Shared;

/// Events read at once when the subscription starts (the GOP cache), to
/// map stream time to wall time from the newest of them.
const BURST: usize = 4096;

/// Stream time to unix time: the smallest (arrival − decode time) seen, so
/// frames delivered late (the GOP cache at the start) do not shift it.
#[derive(Debug, Default)]
struct WallClock {
    offset_us: Option<i64>,
}

impl WallClock {
    fn observe(&mut self, frame: &Frame) {
        let now = now_us();
        let offset = now - frame.dts_us;
        self.offset_us = Some(self.offset_us.map_or(offset, |o| o.min(offset)));
    }

    fn unix_ms(&self, dts_us: i64) -> u64 {
        let us = dts_us + self.offset_us.unwrap_or_else(|| now_us() - dts_us);
        u64::try_from(us / 1000).unwrap_or(0)
    }
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// The recorder's state between frames.
struct Recorder<'a> {
    shared: &'a Shared,
    rec: &'a Arc<Recording>,
    tracks: Fmp4Tracks,
    cutter: Option<Cutter>,
    clock: WallClock,
    /// The file being written: its id and start (unix ms).
    file: Option<(u64, u64)>,
    fragment: Duration,
    segment: Duration,
    out: Vec<Cut>,
}

/// Records `rec` until its stream ends or `stop` turns true.
pub async fn run(shared: Arc<Shared>, rec: Arc<Recording>, mut stop: watch::Receiver<bool>) {
    let cfg = &shared.config.record;
    let mut r = Recorder {
        shared: &shared,
        rec: &rec,
        tracks: Fmp4Tracks::default(),
        cutter: None,
        clock: WallClock::default(),
        file: None,
        fragment: Duration::from_millis(cfg.fragment_ms),
        segment: Duration::from_secs(cfg.segment_secs),
        out: Vec::new(),
    };
    tracing::info!(stream = %rec.key, reason = rec.reason.name(), "recording started");
    loop {
        let end = r.follow(&mut stop).await;
        r.finish();
        if end != Some(EndReason::Lagged) || *stop.borrow() {
            break;
        }
        // Behind past `stream.max_lag_ms` (a starved worker): the hub ended
        // the subscription, as for a player; record on from a new one.
        tracing::warn!(stream = %rec.key, "recorder lagged behind the stream: resubscribing");
        r.tracks = Fmp4Tracks::default();
    }
    tracing::info!(stream = %rec.key, "recording ended");
    shared.recordings.ended(&rec);
}

impl Recorder<'_> {
    /// Records from one subscription until it ends (its reason) or `stop`
    /// turns true (`None`).
    async fn follow(&mut self, stop: &mut watch::Receiver<bool>) -> Option<EndReason> {
        let mut sub = match self
            .shared
            .hub
            .subscribe(&self.rec.key, PeerInfo::internal(0))
            .await
        {
            Ok(sub) => sub,
            Err(e) => {
                tracing::info!(stream = %self.rec.key, reason = %e, "not recorded: the stream is not live");
                return Some(EndReason::NotFound);
            }
        };
        // The GOP cache arrives at once: the newest frame sets the wall clock.
        let mut burst = Vec::new();
        while burst.len() < BURST {
            match sub.try_recv() {
                Some(event) => burst.push(event),
                None => break,
            }
        }
        if let Some(newest) = burst.iter().rev().find_map(|e| match e {
            Ok(SubscriberEvent::Frame(f)) => Some(f.clone()),
            _ => None,
        }) {
            self.clock.observe(&newest);
        }
        for event in burst {
            if let Err(end) = self.event(event) {
                return Some(end);
            }
        }
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !*stop.borrow() {
            tokio::select! {
                event = sub.recv() => {
                    if let Err(end) = self.event(event) {
                        return Some(end);
                    }
                }
                _ = tick.tick() => self.tick(),
                _ = stop.changed() => {}
            }
        }
        None
    }

    /// Handles one event; the end of the subscription as an error.
    fn event(&mut self, event: Result<SubscriberEvent, EndReason>) -> Result<(), EndReason> {
        match event {
            Ok(SubscriberEvent::Tracks(t)) => {
                if self.tracks.announce(&t) {
                    self.finish();
                    if self.tracks.none_carried() {
                        tracing::warn!(stream = %self.rec.key, "not recorded: no track MP4 can carry (H.264/H.265/AV1, AAC/Opus)");
                    }
                }
            }
            Ok(SubscriberEvent::Frame(frame)) => {
                self.clock.observe(&frame);
                if self.tracks.collect(&frame) {
                    if self.tracks.collected(Some(&frame)) {
                        self.start();
                    }
                } else {
                    self.frame(&frame);
                }
            }
            Err(end) => return Err(end),
        }
        Ok(())
    }

    fn tick(&mut self) {
        if self.tracks.collected(None) {
            self.start();
        }
    }

    /// The tracks are known: a new cutter, fed the held frames.
    fn start(&mut self) {
        let Some(held) = self.tracks.start() else {
            return;
        };
        if self.tracks.active().is_empty() {
            return;
        }
        self.cutter = Some(Cutter::new(
            self.tracks.active(),
            self.fragment,
            self.segment,
        ));
        for frame in &held {
            self.frame(frame);
        }
    }

    fn frame(&mut self, frame: &Arc<Frame>) {
        let Some(cutter) = &mut self.cutter else {
            return;
        };
        if self.rec.writer_closed.swap(false, Ordering::AcqRel) {
            // The writer ended the file (disk full, IO error).
            cutter.abandon();
            self.file = None;
        }
        cutter.push(frame, &mut self.out);
        self.dispatch();
    }

    /// Ends the file being written.
    fn finish(&mut self) {
        if let Some(cutter) = &mut self.cutter {
            cutter.finish(&mut self.out);
        }
        self.dispatch();
        self.cutter = None;
    }

    /// Hands what the cutter made to the writers.
    fn dispatch(&mut self) {
        let recordings = &self.shared.recordings;
        let mut skip = false;
        let mut abandon = false;
        for cut in std::mem::take(&mut self.out) {
            match cut {
                Cut::Open { init, start_us } => {
                    skip = false;
                    abandon = false;
                    if recordings.disk_full() {
                        self.drop(Drop::DiskFull);
                        abandon = true;
                        continue;
                    }
                    let start_ms = self.clock.unix_ms(start_us);
                    let id = recordings.next_file_id();
                    let tracks = self.cutter.as_ref().map(Cutter::track_names);
                    let job = Job::Open {
                        rec: self.rec.clone(),
                        file: id,
                        start_ms,
                        init,
                        tracks: tracks.unwrap_or_default(),
                    };
                    if recordings.send(self.rec, job).is_err() {
                        self.drop(Drop::QueueFull);
                        abandon = true;
                        continue;
                    }
                    self.file = Some((id, start_ms));
                }
                Cut::Fragment(fragment) => {
                    let Some((id, start_ms)) = self.file else {
                        continue;
                    };
                    if recordings.disk_full() {
                        self.drop(Drop::DiskFull);
                        abandon = true;
                        continue;
                    }
                    let end_ms = start_ms + fragment.end_ms;
                    let job = Job::Append {
                        file: id,
                        fragment,
                        end_ms,
                    };
                    if recordings.send(self.rec, job).is_err() {
                        self.drop(Drop::QueueFull);
                        skip = true;
                    }
                }
                Cut::Close { end_us } => {
                    if let Some((id, _)) = self.file.take() {
                        let end_ms = self.clock.unix_ms(end_us);
                        let _ = recordings.send(self.rec, Job::Close { file: id, end_ms });
                    }
                }
            }
        }
        if let Some(cutter) = &mut self.cutter {
            if abandon {
                cutter.abandon();
                self.file = None;
            } else if skip {
                cutter.skip_to_keyframe();
            }
        }
    }

    fn drop(&self, why: Drop) {
        self.shared.recordings.metrics().dropped(why);
        self.rec.dropped.fetch_add(1, Ordering::Relaxed);
    }
}
