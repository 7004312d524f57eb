//! The cutter: samples in, closed parts (track runs with their duration)
//! out, and where segments begin. No bytes are built here; the packager
//! turns each closed part into a fragment.
//!
//! Time is measured on the timing track (the first video track, else the
//! first track), in its timescale. A sample waits in its track's `held`
//! slot until the next sample of that track gives its duration; when a part
//! closes, the other tracks' held samples that start before the cut go into
//! it with their track's last interval as duration (only ever the last
//! sample of a run, so every sample's decode time stays exact: the next
//! run's `tfdt` carries it).

use std::collections::VecDeque;

use bytes::Bytes;
use fmp4::{CodecConfig, Sample, TrackConfig, TrackRun};

use super::{CmafInput, MAX_DTS_JUMP_SECS, MAX_SEGMENT_BYTES, MAX_SEGMENT_TARGETS};

/// A sample waiting for its duration.
#[derive(Debug)]
struct Held {
    dts: u64,
    cts_offset: i32,
    keyframe: bool,
    data: Bytes,
}

#[derive(Debug)]
struct Track {
    id: u32,
    timescale: u32,
    last_dts: Option<u64>,
    /// Last gap between two samples: the duration estimate of a sample
    /// whose successor has not come.
    interval: Option<u32>,
    held: Option<Held>,
    /// Samples of a non-timing track completed while no segment was open
    /// (audio ahead of the first keyframe), at most [`MAX_EARLY`].
    early: VecDeque<(Held, u32)>,
}

/// Samples kept per track while waiting for a segment to open.
const MAX_EARLY: usize = 64;

#[derive(Debug)]
struct OpenPart {
    /// Timing-track time of the part's start.
    start: u64,
    independent: bool,
    /// Per track (in track order), the run being filled.
    runs: Vec<Option<TrackRun>>,
    /// End (dts + duration) of the last timing sample.
    timing_end: u64,
}

#[derive(Debug)]
struct OpenSegment {
    start: u64,
    bytes: usize,
    part: OpenPart,
}

/// A part the cutter closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClosedPart {
    /// The runs of the tracks present, in track order (empty only when a
    /// segment ended with nothing in its open part).
    pub(crate) runs: Vec<TrackRun>,
    /// Duration in timing-track ticks.
    pub(crate) ticks: u64,
    /// Starts with a keyframe of the timing track (always for audio-only).
    pub(crate) independent: bool,
    /// The segment ends with this part.
    pub(crate) ends_segment: bool,
}

/// What one push did: first `closed`, then, when `opened` is set, a new
/// segment began (its value: whether it follows a discontinuity).
#[derive(Debug, Default)]
pub(crate) struct Step {
    pub(crate) closed: Option<ClosedPart>,
    pub(crate) opened: Option<bool>,
}

/// Cuts parts and segments. See the [module documentation](self).
#[derive(Debug)]
pub(crate) struct Cutter {
    tracks: Vec<Track>,
    timing: usize,
    has_video: bool,
    target_ticks: u64,
    part_ticks: u64,
    open: Option<OpenSegment>,
    pending_discontinuity: bool,
}

fn is_video(codec: &CodecConfig) -> bool {
    matches!(
        codec,
        CodecConfig::Avc { .. } | CodecConfig::Hevc { .. } | CodecConfig::Av1 { .. }
    )
}

/// `secs` in ticks of `timescale`, at least 1.
fn ticks(secs: f64, timescale: u32) -> u64 {
    // `as` saturates.
    ((secs * f64::from(timescale)).round() as u64).max(1)
}

fn clamp_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl Cutter {
    /// A cutter for `tracks` (non-empty, timescales non-zero: the packager
    /// checks).
    pub(crate) fn new(tracks: &[TrackConfig], target_secs: f64, part_secs: f64) -> Cutter {
        let video = tracks.iter().position(|t| is_video(&t.codec));
        let timing = video.unwrap_or(0);
        let timescale = tracks.get(timing).map_or(1, |t| t.timescale.max(1));
        Cutter {
            tracks: tracks
                .iter()
                .map(|t| Track {
                    id: t.id,
                    timescale: t.timescale.max(1),
                    last_dts: None,
                    interval: None,
                    held: None,
                    early: VecDeque::new(),
                })
                .collect(),
            timing,
            has_video: video.is_some(),
            target_ticks: ticks(target_secs, timescale),
            part_ticks: ticks(part_secs, timescale),
            open: None,
            pending_discontinuity: false,
        }
    }

    /// Ticks per second of the timing track.
    pub(crate) fn timescale(&self) -> u32 {
        self.tracks.get(self.timing).map_or(1, |t| t.timescale)
    }

    /// The index of a track id.
    pub(crate) fn index(&self, track_id: u32) -> Option<usize> {
        self.tracks.iter().position(|t| t.id == track_id)
    }

    /// Takes one sample of track `k` (an index from [`Cutter::index`]).
    pub(crate) fn push(&mut self, k: usize, input: CmafInput) -> Step {
        let mut step = Step::default();
        let Some(track) = self.tracks.get(k) else {
            return step;
        };
        let dts = input.dts;
        let max_jump = MAX_DTS_JUMP_SECS * u64::from(track.timescale);
        if let Some(last) = track.last_dts {
            if dts < last || dts - last > max_jump {
                step.closed = self.discontinuity();
            }
        }
        let mut completed = None;
        if let Some(track) = self.tracks.get_mut(k) {
            if let Some(last) = track.last_dts {
                track.interval = Some(clamp_u32(dts - last));
            }
            track.last_dts = Some(dts);
            completed = track.held.take();
        }
        if let Some(h) = completed {
            let duration = clamp_u32(dts.saturating_sub(h.dts));
            self.append(k, h, duration);
        }
        let held = Held {
            dts,
            cts_offset: input.cts_offset,
            keyframe: input.keyframe,
            data: input.data,
        };
        if k == self.timing {
            let cut_point = input.keyframe || !self.has_video;
            match &self.open {
                None if !cut_point => return step, // before the first keyframe
                None => {
                    self.open = Some(OpenSegment {
                        start: dts,
                        bytes: 0,
                        part: self.new_part(dts, cut_point),
                    });
                    self.take_early(dts);
                    step.opened = Some(std::mem::take(&mut self.pending_discontinuity));
                }
                Some(open) => {
                    let seg_elapsed = dts.saturating_sub(open.start);
                    let cut_segment = (cut_point && seg_elapsed >= self.target_ticks)
                        || seg_elapsed >= self.target_ticks.saturating_mul(MAX_SEGMENT_TARGETS)
                        || open.bytes >= MAX_SEGMENT_BYTES;
                    let part_elapsed = dts.saturating_sub(open.part.start);
                    let next = u64::from(self.tracks.get(k).and_then(|t| t.interval).unwrap_or(0));
                    // As long as possible without exceeding the part target
                    // (RFC 8216bis §4.4.4.9), when the frame rate allows.
                    let cut_part = cut_segment
                        || part_elapsed > 0
                            && (part_elapsed >= self.part_ticks
                                || part_elapsed + next > self.part_ticks);
                    if cut_part {
                        step.closed = self.cut(dts, cut_segment, cut_point);
                        if cut_segment {
                            step.opened = Some(false);
                        }
                    }
                }
            }
        }
        if let Some(track) = self.tracks.get_mut(k) {
            track.held = Some(held);
        }
        step
    }

    /// Ends the open segment (its held samples take their track's last
    /// interval as duration); the next segment starts at the next keyframe.
    pub(crate) fn end(&mut self) -> Option<ClosedPart> {
        self.flush_held(None);
        self.close_part(None, true)
    }

    /// [`Cutter::end`], and the next segment follows a discontinuity: sample
    /// times restart (no interval is measured across the jump).
    pub(crate) fn discontinuity(&mut self) -> Option<ClosedPart> {
        let closed = self.end();
        self.pending_discontinuity = true;
        for t in &mut self.tracks {
            t.last_dts = None;
            t.early.clear();
        }
        closed
    }

    /// Closes the open part at `t` (and the segment with `cut_segment`) and
    /// opens the next at `t`.
    fn cut(&mut self, t: u64, cut_segment: bool, independent: bool) -> Option<ClosedPart> {
        self.flush_held(Some(t));
        let closed = self.close_part(Some(t), cut_segment);
        let part = self.new_part(t, independent);
        if cut_segment {
            self.open = Some(OpenSegment {
                start: t,
                bytes: 0,
                part,
            });
        } else if let Some(open) = &mut self.open {
            open.part = part;
        }
        closed
    }

    fn new_part(&self, start: u64, independent: bool) -> OpenPart {
        OpenPart {
            start,
            independent,
            runs: self.tracks.iter().map(|_| None).collect(),
            timing_end: start,
        }
    }

    /// Adds a sample with its duration to the open part; with no segment
    /// open, to the track's early samples.
    fn append(&mut self, k: usize, h: Held, duration: u32) {
        let timing = k == self.timing;
        let Some(open) = &mut self.open else {
            if let Some(track) = self.tracks.get_mut(k).filter(|_| !timing) {
                if track.early.len() == MAX_EARLY {
                    track.early.pop_front();
                }
                track.early.push_back((h, duration));
            }
            return;
        };
        let Some(track) = self.tracks.get(k) else {
            return;
        };
        let Some(slot) = open.part.runs.get_mut(k) else {
            return;
        };
        open.bytes += h.data.len();
        if timing {
            open.part.timing_end = h.dts.saturating_add(u64::from(duration));
        }
        let run = slot.get_or_insert_with(|| TrackRun {
            track_id: track.id,
            base_decode_time: h.dts,
            samples: Vec::new(),
        });
        run.samples.push(Sample {
            duration,
            cts_offset: h.cts_offset,
            keyframe: h.keyframe,
            data: h.data,
        });
    }

    /// Whether `dts` of track `k` is before `t` of the timing track.
    fn before(&self, k: usize, dts: u64, t: u64) -> bool {
        let ts = u128::from(self.tracks.get(k).map_or(1, |x| x.timescale));
        u128::from(dts) * u128::from(self.timescale()) < u128::from(t) * ts
    }

    /// Moves held samples into the open part: with `Some(t)` those of the
    /// other tracks that start before `t`, with `None` all.
    fn flush_held(&mut self, cut: Option<u64>) {
        for k in 0..self.tracks.len() {
            let Some(track) = self.tracks.get(k) else {
                continue;
            };
            let Some(h) = &track.held else { continue };
            let duration = match cut {
                None => track.interval.unwrap_or(0),
                Some(_) if k == self.timing => continue,
                Some(t) if self.before(k, h.dts, t) => track.interval.unwrap_or_else(|| {
                    // No interval yet: up to the cut.
                    let end =
                        u128::from(t) * u128::from(track.timescale) / u128::from(self.timescale());
                    clamp_u32(u64::try_from(end).unwrap_or(u64::MAX).saturating_sub(h.dts))
                }),
                Some(_) => continue,
            };
            if let Some(h) = self.tracks.get_mut(k).and_then(|t| t.held.take()) {
                self.append(k, h, duration);
            }
        }
    }

    /// A segment opened at `t` after none was open: the other tracks'
    /// early and held samples that start before `t` are dropped, the early
    /// ones from `t` on go into the first part.
    fn take_early(&mut self, t: u64) {
        for k in 0..self.tracks.len() {
            if k == self.timing {
                continue;
            }
            let early = self
                .tracks
                .get_mut(k)
                .map(|x| std::mem::take(&mut x.early))
                .unwrap_or_default();
            for (h, duration) in early {
                if !self.before(k, h.dts, t) {
                    self.append(k, h, duration);
                }
            }
            let stale = match self.tracks.get(k).and_then(|x| x.held.as_ref()) {
                Some(h) => self.before(k, h.dts, t),
                None => false,
            };
            if let (true, Some(track)) = (stale, self.tracks.get_mut(k)) {
                track.held = None;
            }
        }
    }

    /// Closes the open part, ending at `end` (else at its last timing
    /// sample's end); with `ends_segment` the segment is closed too.
    fn close_part(&mut self, end: Option<u64>, ends_segment: bool) -> Option<ClosedPart> {
        let open = self.open.as_mut()?;
        let part = &mut open.part;
        let end = end.unwrap_or(part.timing_end);
        let closed = ClosedPart {
            runs: part.runs.iter_mut().filter_map(Option::take).collect(),
            ticks: end.saturating_sub(part.start),
            independent: part.independent,
            ends_segment,
        };
        if ends_segment {
            self.open = None;
        }
        Some(closed)
    }
}
