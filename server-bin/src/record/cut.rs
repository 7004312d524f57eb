//! Frames into recorded files: where fragments and files are cut (sans-IO,
//! no clock; the recorder task feeds it and hands what it cuts to the
//! writer threads).
//!
//! - A file starts at a video keyframe (any frame when the file has no
//!   video); its decode times start at 0 (`tfdt` rebased on the file's
//!   first frame). Frames of a file before its start are dropped.
//! - A fragment starts at every video keyframe, and otherwise is cut once
//!   `fragment` of media is in it.
//! - A new file starts at the first keyframe after `segment` of media.
//! - A sample's duration is the distance to the next frame of its track:
//!   each track's last frame waits for its successor, so a fragment's runs
//!   end where the next fragment's begin (no gaps a player would show).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fmp4::{Sample, TrackConfig, TrackRun};
use stream_core::{Frame, TrackId};

use crate::media::fmp4_egress::{default_duration, sample, ticks};

/// Longest sample duration taken from timestamps; beyond (a gap, a jump),
/// the codec's default duration is used.
const MAX_SAMPLE: Duration = Duration::from_secs(10);

/// What the cutter produced for the writer.
#[derive(Debug)]
pub enum Cut {
    /// A new file: its init segment; `start_us` is the stream time of its
    /// first frame (the file's time 0).
    Open {
        /// `ftyp` + `moov`.
        init: Bytes,
        /// Stream time of the file's time 0, microseconds.
        start_us: i64,
    },
    /// A fragment of the open file.
    Fragment(Fragment),
    /// The open file ends; `end_us` is the stream time of its end.
    Close {
        /// Stream time just after the file's last sample, microseconds.
        end_us: i64,
    },
}

/// One `moof` + `mdat` of a file, with what the sidecar index records.
#[derive(Debug)]
pub struct Fragment {
    /// The boxes, as parts.
    pub fragment: fmp4::Fragment,
    /// Starts with a video keyframe (or the file has no video).
    pub keyframe: bool,
    /// Start, milliseconds from the file's start.
    pub time_ms: u64,
    /// End (just after its last sample), milliseconds from the file's start.
    pub end_ms: u64,
}

/// One carried track of the open file.
#[derive(Debug)]
struct Lane {
    id: TrackId,
    config: TrackConfig,
    video: bool,
    /// The track's last frame, waiting for its successor (its duration).
    pending: Option<Arc<Frame>>,
    /// Samples of the fragment being built, and the first one's time.
    samples: Vec<Sample>,
    first_us: Option<i64>,
    /// Stream time just after the track's last sample in a fragment.
    end_us: i64,
}

/// The cutter of one recording.
#[derive(Debug)]
pub struct Cutter {
    fragment_us: i64,
    segment_us: i64,
    lanes: Vec<Lane>,
    /// Stream time of the open file's time 0; `None`: no file open.
    file_start: Option<i64>,
    /// Sequence number of the next fragment (`mfhd`).
    sequence: u32,
    /// Dropping frames until the next keyframe (a fragment was lost).
    skipping: bool,
    /// Stream time where the fragment being built was cut open.
    fragment_start: i64,
}

impl Cutter {
    /// A cutter for `tracks` (the recorded tracks), cutting fragments after
    /// `fragment` and files after `segment` of media.
    pub fn new(tracks: &[(TrackId, TrackConfig)], fragment: Duration, segment: Duration) -> Cutter {
        let lanes = tracks
            .iter()
            .map(|(id, config)| Lane {
                id: *id,
                video: is_video(config),
                config: config.clone(),
                pending: None,
                samples: Vec::new(),
                first_us: None,
                end_us: 0,
            })
            .collect();
        Cutter {
            fragment_us: micros(fragment).max(1),
            segment_us: micros(segment).max(1),
            lanes,
            file_start: None,
            sequence: 1,
            skipping: false,
            fragment_start: 0,
        }
    }

    /// Whether a file is open.
    pub fn file_open(&self) -> bool {
        self.file_start.is_some()
    }

    /// The recorded tracks, for the catalogue (`"h264+aac"`).
    pub fn track_names(&self) -> String {
        let names: Vec<&str> = self.lanes.iter().map(|l| codec_name(&l.config)).collect();
        names.join("+")
    }

    /// Feeds one frame; what it completes goes to `out`.
    pub fn push(&mut self, frame: &Arc<Frame>, out: &mut Vec<Cut>) {
        let Some(lane) = self.lanes.iter().position(|l| l.id == frame.track) else {
            return;
        };
        let has_video = self.lanes.iter().any(|l| l.video);
        let starts = frame.keyframe && self.lanes[lane].video || !has_video;
        let Some(start) = self.file_start else {
            if starts {
                self.open(frame, lane, out);
            }
            return;
        };
        if frame.dts_us < start {
            return;
        }
        if self.skipping {
            if !starts {
                return;
            }
            self.skipping = false;
            self.fragment_start = frame.dts_us;
            self.lanes[lane].pending = Some(frame.clone());
            return;
        }
        if starts && frame.dts_us - start >= self.segment_us {
            self.close(Some(frame.dts_us), out);
            self.open(frame, lane, out);
            return;
        }
        self.complete(lane, frame.dts_us);
        let full = frame.dts_us - self.fragment_start >= self.fragment_us;
        if (starts && has_video) || full {
            self.cut(out);
            self.fragment_start = frame.dts_us;
        }
        self.lanes[lane].pending = Some(frame.clone());
    }

    /// Ends the open file (stream end, track change, stop): every waiting
    /// frame goes into a last fragment with its default duration.
    pub fn finish(&mut self, out: &mut Vec<Cut>) {
        if self.file_open() {
            self.close(None, out);
        }
    }

    /// Forgets the open file without a [`Cut::Close`] (the writer ended it:
    /// disk full, an IO error); the next keyframe opens a new one.
    pub fn abandon(&mut self) {
        self.file_start = None;
        self.skipping = false;
        for lane in &mut self.lanes {
            lane.pending = None;
            lane.samples.clear();
            lane.first_us = None;
        }
    }

    /// The last fragment was not written (queue full): drops what waits and
    /// skips frames until the next keyframe, which starts a fragment of the
    /// same file.
    pub fn skip_to_keyframe(&mut self) {
        if !self.file_open() {
            return;
        }
        self.skipping = true;
        for lane in &mut self.lanes {
            lane.pending = None;
            lane.samples.clear();
            lane.first_us = None;
        }
    }

    fn open(&mut self, frame: &Arc<Frame>, lane: usize, out: &mut Vec<Cut>) {
        let configs: Vec<TrackConfig> = self.lanes.iter().map(|l| l.config.clone()).collect();
        let init = match fmp4::init_segment(&configs) {
            Ok(init) => init,
            Err(e) => {
                tracing::warn!(error = %e, "cannot record: no MP4 init segment for these tracks");
                return;
            }
        };
        self.file_start = Some(frame.dts_us);
        self.fragment_start = frame.dts_us;
        self.sequence = 1;
        self.skipping = false;
        for l in &mut self.lanes {
            l.end_us = frame.dts_us;
        }
        self.lanes[lane].pending = Some(frame.clone());
        out.push(Cut::Open {
            init,
            start_us: frame.dts_us,
        });
    }

    /// Closes the file; `next_us` is the frame that follows (the video
    /// keyframe starting the next file) when there is one.
    fn close(&mut self, next_us: Option<i64>, out: &mut Vec<Cut>) {
        for i in 0..self.lanes.len() {
            let next = next_us.filter(|_| self.lanes[i].video);
            match next {
                Some(n) => self.complete(i, n),
                None => self.complete_default(i),
            }
        }
        self.cut(out);
        let end_us = self.lanes.iter().map(|l| l.end_us).max().unwrap_or(0);
        out.push(Cut::Close { end_us });
        self.abandon();
    }

    /// The waiting frame of `lane` lasts until `next_us`: it joins the
    /// fragment being built.
    fn complete(&mut self, lane: usize, next_us: i64) {
        let Some(start) = self.file_start else {
            return;
        };
        let l = &mut self.lanes[lane];
        let Some(p) = l.pending.take() else {
            return;
        };
        let scale = l.config.timescale;
        let span = next_us - p.dts_us;
        let duration = if span > 0 && span <= micros(MAX_SAMPLE) {
            let d = ticks(next_us - start, scale).saturating_sub(ticks(p.dts_us - start, scale));
            u32::try_from(d).unwrap_or(u32::MAX).max(1)
        } else {
            default_duration(&l.config)
        };
        l.push(&p, duration, start);
    }

    /// The waiting frame of `lane` with its codec's default duration.
    fn complete_default(&mut self, lane: usize) {
        let Some(start) = self.file_start else {
            return;
        };
        let l = &mut self.lanes[lane];
        if let Some(p) = l.pending.take() {
            let duration = default_duration(&l.config);
            l.push(&p, duration, start);
        }
    }

    /// Emits the fragment being built, if it holds samples.
    fn cut(&mut self, out: &mut Vec<Cut>) {
        let Some(start) = self.file_start else {
            return;
        };
        let has_video = self.lanes.iter().any(|l| l.video);
        let mut runs = Vec::new();
        let mut keyframe = !has_video;
        let mut first: Option<i64> = None;
        let mut video_first: Option<i64> = None;
        let mut end = start;
        for l in &mut self.lanes {
            let Some(first_us) = l.first_us.take() else {
                continue;
            };
            if l.video {
                keyframe = l.samples.first().is_some_and(|s| s.keyframe);
                video_first = Some(first_us);
            }
            first = Some(first.map_or(first_us, |f: i64| f.min(first_us)));
            end = end.max(l.end_us);
            runs.push(TrackRun {
                track_id: l.config.id,
                base_decode_time: ticks(first_us - start, l.config.timescale),
                samples: std::mem::take(&mut l.samples),
            });
        }
        // The fragment's time is its video's (as `index::rebuild` reads it).
        let Some(first) = video_first.or(first) else {
            return;
        };
        match fmp4::fragment(self.sequence, &runs) {
            Ok(fragment) => {
                self.sequence = self.sequence.wrapping_add(1);
                out.push(Cut::Fragment(Fragment {
                    fragment,
                    keyframe,
                    time_ms: ms(first - start),
                    end_ms: ms(end - start),
                }));
            }
            Err(e) => tracing::warn!(error = %e, "fragment not recorded"),
        }
    }
}

impl Lane {
    fn push(&mut self, frame: &Frame, duration: u32, start: i64) {
        if self.first_us.is_none() {
            self.first_us = Some(frame.dts_us);
        }
        self.samples.push(sample(&self.config, frame, duration));
        let lasted = i64::from(duration) * 1_000_000 / i64::from(self.config.timescale.max(1));
        self.end_us = self.end_us.max(frame.dts_us + lasted).max(start);
    }
}

fn is_video(config: &TrackConfig) -> bool {
    use fmp4::CodecConfig::*;
    matches!(config.codec, Avc { .. } | Hevc { .. } | Av1 { .. })
}

fn codec_name(config: &TrackConfig) -> &'static str {
    use fmp4::CodecConfig::*;
    match config.codec {
        Avc { .. } => "h264",
        Hevc { .. } => "h265",
        Av1 { .. } => "av1",
        Aac { .. } => "aac",
        Opus { .. } => "opus",
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn ms(us: i64) -> u64 {
    u64::try_from(us / 1000).unwrap_or(0)
}

#[cfg(test)]
#[path = "cut_tests.rs"]
mod tests;
