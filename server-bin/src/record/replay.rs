//! A recorded range replayed as a live stream (ZLMediaKit's `loadMP4File`):
//! the playback plan's bytes ([`super::playback`]) read on the blocking
//! pool a chunk at a time, demuxed (`fmp4::Demuxer`), turned back into
//! stream-core tracks and frames (the reverse of `media::fmp4_egress`:
//! ticks of each track's timescale → µs, `avcC`/`hvcC`/`av1C`/
//! AudioSpecificConfig → the track's configuration) and published under a
//! name of the caller's choice like any publisher, so every output (RTMP,
//! RTSP, HTTP-FLV, HLS, WebRTC …) plays it.
//!
//! - **Pacing**: frames are pushed when their decode time comes on the
//!   clock (as HLS pulls do), never in bursts: the hub's queues and lag
//!   rules are made for a live publisher.
//! - **End**: after the last frame the publisher is dropped and the stream
//!   ends; with `repeat` the range plays again, its times continuing (a
//!   player sees one monotonic stream). Closing the stream through the API
//!   (or a take-over, or shutdown) stops it.
//! - **Bounds**: `record.max_replays` at once ([`RecordError::Busy`]); one
//!   chunk (≤ 1 MiB plus a `moof`) in memory; each read within
//!   [`READ_DEADLINE`]; the plan within it too.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fmp4::{CodecConfig, Demuxer, Event, TrackConfig, TrackRun};
use stream_core::{Codec, Frame, Protocol, Publisher, StreamKey, Track};
use tokio::time::Instant;

use super::playback::{plan, plan_file, Plan, Reader};
use super::slots::{PlaybackSlots, ReplaySlot};
use super::RecordError;
use crate::server::Shared;
use crate::session::SessionGuard;

/// Longest the plan, or one read, may take.
pub const READ_DEADLINE: Duration = Duration::from_secs(10);
/// Bytes read per chunk.
const CHUNK: usize = 1 << 20;

/// What to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaySource {
    /// A range of a stream's recordings, across files (as `…/get` plans it).
    Range {
        /// The recorded stream.
        stream: StreamKey,
        /// Start, unix ms.
        start_ms: u64,
        /// Duration, ms.
        duration_ms: u64,
    },
    /// One whole file, relative to `record.dir` (ZLMediaKit's `loadMP4File`
    /// `file_path`, as `on_record_mp4` reports it).
    File(PathBuf),
}

impl std::fmt::Display for ReplaySource {
    /// `live/cam@1765015205000+8000ms` or the file's path: for log lines.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplaySource::Range {
                stream,
                start_ms,
                duration_ms,
            } => write!(f, "{stream}@{start_ms}+{duration_ms}ms"),
            ReplaySource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A replay to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRequest {
    /// The live stream it is published as.
    pub key: StreamKey,
    /// What is replayed.
    pub source: ReplaySource,
    /// Play again from the start at the end, until the stream is closed.
    pub repeat: bool,
}

/// A replay that started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayInfo {
    /// The live stream.
    pub key: StreamKey,
    /// Unix ms of the first frame replayed (a keyframe at or before the
    /// start asked).
    pub start_ms: u64,
    /// Duration of one pass, ms.
    pub duration_ms: u64,
    /// Files read.
    pub files: usize,
    /// When a track change ended the range early: the start (unix ms) of
    /// the first file left out.
    pub track_change_ms: Option<u64>,
}

/// Starts replaying `req.source` as the live stream `req.key`: plans it
/// (on the blocking pool, within [`READ_DEADLINE`]), takes the stream name,
/// and returns while the replay runs on a media worker. Async because the
/// plan reads the disk, which never happens on the caller's event loop.
///
/// # Errors
/// [`RecordError::Busy`] when `record.max_replays` run;
/// [`RecordError::NothingRecorded`] for an empty range or an unknown file;
/// [`RecordError::Io`] for unreadable files or a read past its deadline;
/// [`RecordError::NameTaken`] when the stream is published already;
/// [`RecordError::Catalogue`].
pub async fn start_replay(
    shared: &Arc<Shared>,
    req: ReplayRequest,
) -> Result<ReplayInfo, RecordError> {
    let slot = ReplaySlot::take(shared).ok_or(RecordError::Busy {
        what: "replays (record.max_replays)",
    })?;
    let planned = {
        let shared = shared.clone();
        let source = req.source.clone();
        tokio::task::spawn_blocking(move || {
            let (catalogue, root) = PlaybackSlots::store(&shared)?;
            match &source {
                ReplaySource::Range {
                    stream,
                    start_ms,
                    duration_ms,
                } => {
                    let name = super::layout::stream_name(stream);
                    plan(&catalogue, &root, &name, *start_ms, *duration_ms)
                }
                ReplaySource::File(relative) => plan_file(&catalogue, &root, relative),
            }
        })
    };
    let plan = match tokio::time::timeout(READ_DEADLINE, planned).await {
        Ok(Ok(plan)) => Arc::new(plan?),
        Ok(Err(_)) | Err(_) => return Err(timed_out()),
    };
    let peer = SocketAddr::from(([127, 0, 0, 1], 0));
    let guard = shared.sessions.register(Protocol::Internal, peer);
    let publisher = shared
        .hub
        .publish(req.key.clone(), guard.info().peer_info())
        .map_err(|e| RecordError::NameTaken(format!("{}: {e}", req.key)))?;
    guard.info().set_stream(req.key.clone(), None);
    let info = ReplayInfo {
        key: req.key.clone(),
        start_ms: plan.start_ms,
        duration_ms: plan.duration_ms,
        files: plan.files.len(),
        track_change_ms: plan.track_change_ms,
    };
    tracing::info!(stream = %req.key, source = %req.source, repeat = req.repeat, duration_ms = plan.duration_ms, "replay starts");
    let worker = shared.pool.pick().handle.clone();
    let session = guard.info().clone();
    crate::session::spawn(&worker, &session, async move {
        let _slot = slot;
        run(plan, publisher, guard, req.repeat).await;
    });
    Ok(info)
}

fn timed_out() -> RecordError {
    RecordError::Io(std::io::ErrorKind::TimedOut.into())
}

/// Plays the plan (again and again with `repeat`) until its end or the
/// stream's close; the session's end reason says which.
async fn run(plan: Arc<Plan>, mut publisher: Publisher, mut guard: SessionGuard, repeat: bool) {
    let mut replay = Replay {
        publisher: &mut publisher,
        guard: &guard,
        anchor: None,
        offset_us: 0,
        last_end_us: 0,
        tracks: Vec::new(),
    };
    let end = loop {
        if let Err(end) = replay.pass(&plan).await {
            break end;
        }
        if !repeat {
            break "ended";
        }
        replay.offset_us = replay.last_end_us;
    };
    tracing::info!(stream = %publisher.key(), "replay ended: {end}");
    guard.set_end_reason(end);
}

/// A replay's state between passes.
struct Replay<'a> {
    publisher: &'a mut Publisher,
    guard: &'a SessionGuard,
    /// The clock instant of a stream time (µs).
    anchor: Option<(Instant, i64)>,
    /// Added to every time of this pass (the passes before).
    offset_us: i64,
    /// End of the last frame pushed, µs.
    last_end_us: i64,
    /// The fMP4 tracks, for their timescales.
    tracks: Vec<TrackConfig>,
}

impl Replay<'_> {
    /// Plays the plan once.
    async fn pass(&mut self, plan: &Arc<Plan>) -> Result<(), &'static str> {
        let mut reader = Some(Reader::new(plan.clone()));
        let mut demuxer = Demuxer::new();
        let mut pos = 0u64;
        while pos < plan.len {
            let Some(mut r) = reader.take() else {
                return Err("read-failed");
            };
            let read = tokio::task::spawn_blocking(move || {
                let chunk = r.read(pos, CHUNK);
                (r, chunk)
            });
            let (r, chunk) = match self
                .guarded(tokio::time::timeout(READ_DEADLINE, read))
                .await?
            {
                Ok(Ok((r, Ok(chunk)))) if !chunk.is_empty() => (r, chunk),
                _ => return Err("read-failed"),
            };
            reader = Some(r);
            pos += chunk.len() as u64;
            demuxer.push(&chunk);
            loop {
                match demuxer.next_event() {
                    Ok(Some(Event::Init(tracks))) => self.announce(tracks),
                    Ok(Some(Event::Fragment { runs, .. })) => self.fragment(&runs).await?,
                    Ok(None) => break,
                    Err(_) => return Err("bad-file"),
                }
            }
        }
        Ok(())
    }

    /// Runs `fut` unless the publisher is closed or the session kicked.
    async fn guarded<T>(
        &self,
        fut: impl std::future::Future<Output = T>,
    ) -> Result<T, &'static str> {
        tokio::select! {
            r = fut => Ok(r),
            _ = self.publisher.closed() => Err("closed"),
            _ = self.guard.info().kicked() => Err("kicked"),
        }
    }

    fn announce(&mut self, tracks: Vec<TrackConfig>) {
        let stream_tracks = tracks.iter().filter_map(track_of).collect();
        self.publisher.set_tracks(stream_tracks);
        self.tracks = tracks;
    }

    /// Pushes a fragment's frames in decode order, each when its time comes.
    async fn fragment(&mut self, runs: &[TrackRun]) -> Result<(), &'static str> {
        let mut frames = Vec::new();
        for run in runs {
            let Some(t) = self.tracks.iter().find(|t| t.id == run.track_id) else {
                continue;
            };
            let Ok(id) = u8::try_from(t.id - 1) else {
                continue;
            };
            let us = |ticks: i128| (ticks * 1_000_000 / i128::from(t.timescale.max(1))) as i64;
            let mut dts = i128::from(run.base_decode_time);
            for s in &run.samples {
                let d = us(dts) + self.offset_us;
                let p = us(dts + i128::from(s.cts_offset)) + self.offset_us;
                dts += i128::from(s.duration);
                self.last_end_us = self.last_end_us.max(us(dts) + self.offset_us);
                frames.push(Frame::new(id, d, p, s.keyframe, s.data.clone()));
            }
        }
        frames.sort_by_key(|f| f.dts_us);
        for frame in frames {
            let now = Instant::now();
            match self.anchor {
                Some((clock, us)) => {
                    let at = clock + Duration::from_micros((frame.dts_us - us).max(0) as u64);
                    if at > now {
                        self.guarded(tokio::time::sleep_until(at)).await?;
                    }
                }
                None => self.anchor = Some((now, frame.dts_us)),
            }
            let len = frame.payload.len() as u64;
            if self.publisher.push(frame).is_err() {
                return Err("closed");
            }
            let counted = &self.guard.info().bytes_in;
            counted.fetch_add(len, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The stream-core track of an fMP4 track (ids one lower, as
/// `media::fmp4_egress` makes them one higher).
pub fn track_of(t: &TrackConfig) -> Option<Track> {
    let id = u8::try_from(t.id.checked_sub(1)?).ok()?;
    let (codec, config) = match &t.codec {
        CodecConfig::Avc { avcc } => (Codec::H264, avcc.clone()),
        CodecConfig::Hevc { hvcc } => (Codec::H265, hvcc.clone()),
        CodecConfig::Av1 { av1c } => (Codec::Av1, av1c.clone()),
        CodecConfig::Aac { asc } => (Codec::Aac, asc.clone()),
        CodecConfig::Opus { .. } => (Codec::Opus, Bytes::new()),
    };
    let mut track = Track::new(id, codec, t.timescale);
    track.config = config;
    if codec.is_video() {
        track.width = (t.width > 0).then_some(t.width);
        track.height = (t.height > 0).then_some(t.height);
    } else {
        track.sample_rate = (t.sample_rate > 0).then_some(t.sample_rate);
        track.channels = u8::try_from(t.channels).ok().filter(|&c| c > 0);
    }
    Some(track)
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod replay_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_come_back_as_fmp4_egress_made_them() {
        let mut aac = Track::new(1, Codec::Aac, 44_100);
        aac.config = Bytes::from_static(&[0x12, 0x10]);
        aac.sample_rate = Some(44_100);
        aac.channels = Some(2);
        let config = crate::media::fmp4_egress::track_config(&aac).unwrap();
        assert_eq!(track_of(&config), Some(aac));
        let mut h264 = Track::new(0, Codec::H264, 90_000);
        h264.config = Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff, 0xe0, 0]);
        h264.width = Some(320);
        h264.height = Some(240);
        let config = crate::media::fmp4_egress::track_config(&h264).unwrap();
        assert_eq!(track_of(&config), Some(h264));
    }
}
