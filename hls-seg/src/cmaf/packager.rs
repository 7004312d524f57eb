//! [`CmafPackager`]: the cutter's parts made into fragments, segments kept
//! in a bounded window, and the lookups a server needs.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};
use fmp4::TrackConfig;

use super::blocking::{self, Blocking, Edge, PartState};
use super::part::{ClosedPart, Cutter};
use super::playlist::{render, LlPlaylist, OpenView, PART_WINDOW_TARGETS};
use super::{CmafConfig, CmafError, CmafInput, CmafPushed};
use crate::playlist::{extinf_millis, target_for};

/// A partial segment: one `moof` + `mdat`.
#[derive(Debug, Clone, PartialEq)]
pub struct CmafPart {
    /// Its duration on the timing track.
    pub duration_secs: f64,
    /// Starts with a keyframe (`INDEPENDENT=YES`).
    pub independent: bool,
    /// The bytes (for a closed segment, a slice of its bytes: no copy).
    pub data: Bytes,
}

/// A closed segment.
#[derive(Debug, Clone, PartialEq)]
pub struct CmafSegment {
    /// Media sequence number; the file is `fmp4/{msn}.m4s`.
    pub msn: u64,
    /// Exact duration on the timing track: the sum of its parts'.
    pub duration_secs: f64,
    /// Follows a timestamp discontinuity (`EXT-X-DISCONTINUITY`).
    pub discontinuity: bool,
    /// Its parts, in order; their bytes concatenated are [`Self::data`].
    pub parts: Vec<CmafPart>,
    /// The segment's bytes.
    pub data: Bytes,
}

/// The segment being filled.
#[derive(Debug)]
struct Open {
    msn: u64,
    discontinuity: bool,
    parts: Vec<CmafPart>,
    ticks: u64,
    bytes: usize,
}

/// HLS with fMP4 segments and LL-HLS parts for one stream. See the
/// [module documentation](super).
#[derive(Debug)]
pub struct CmafPackager {
    cutter: Cutter,
    config: CmafConfig,
    init: Bytes,
    /// Closed segments: the playlist window and the retained ones before it.
    segments: VecDeque<CmafSegment>,
    segment_bytes: usize,
    open: Option<Open>,
    next_msn: u64,
    /// `mfhd` sequence number of the next fragment.
    fragment_sequence: u32,
    evicted_discontinuities: u64,
    /// Largest target needed by any segment so far.
    max_target: u64,
    /// Longest part so far, in milliseconds.
    max_part_ms: u64,
    finished: bool,
}

impl CmafPackager {
    /// A packager for `tracks` (the init segment is built now: an error
    /// says the tracks are unusable).
    pub fn new(tracks: Vec<TrackConfig>, config: CmafConfig) -> Result<CmafPackager, CmafError> {
        if tracks.is_empty() {
            return Err(CmafError::InvalidTracks("no tracks".into()));
        }
        if let Some(t) = tracks.iter().find(|t| t.timescale == 0) {
            return Err(CmafError::InvalidTracks(format!(
                "track {}: timescale 0",
                t.id
            )));
        }
        let init = fmp4::init_segment(&tracks)?;
        Ok(CmafPackager {
            cutter: Cutter::new(&tracks, config.target(), config.part()),
            init,
            segments: VecDeque::new(),
            segment_bytes: 0,
            open: None,
            next_msn: config.first_msn,
            fragment_sequence: 1,
            evicted_discontinuities: 0,
            max_target: 0,
            max_part_ms: extinf_millis(config.part()),
            finished: false,
            config,
        })
    }

    /// The init segment (`fmp4/init.mp4`).
    pub fn init(&self) -> Bytes {
        self.init.clone()
    }

    /// Takes one sample. Samples of the timing track before its first
    /// keyframe are dropped, and the other tracks' samples that start
    /// before that keyframe (those from its time on that came ahead of it
    /// are kept, up to 64 per track).
    ///
    /// A DTS going backwards or jumping forward by more than
    /// [`MAX_DTS_JUMP_SECS`](super::MAX_DTS_JUMP_SECS) on a track closes the
    /// open segment; the next one carries `EXT-X-DISCONTINUITY`. A push
    /// after [`CmafPackager::finish`] resumes with a discontinuity.
    pub fn push(&mut self, input: CmafInput) -> Result<CmafPushed, CmafError> {
        let k = self
            .cutter
            .index(input.track_id)
            .ok_or(CmafError::UnknownTrack(input.track_id))?;
        if self.finished {
            self.finished = false;
            self.cutter.discontinuity();
        }
        let step = self.cutter.push(k, input);
        let mut pushed = CmafPushed::default();
        if let Some(closed) = step.closed {
            self.closed_part(closed, &mut pushed)?;
        }
        if let Some(discontinuity) = step.opened {
            self.open = Some(Open {
                msn: self.next_msn,
                discontinuity,
                parts: Vec::new(),
                ticks: 0,
                bytes: 0,
            });
            self.next_msn += 1;
        }
        Ok(pushed)
    }

    /// Closes the open segment; the playlist gets `EXT-X-ENDLIST` and no
    /// preload hint.
    pub fn finish(&mut self) -> Result<CmafPushed, CmafError> {
        let mut pushed = CmafPushed::default();
        if let Some(closed) = self.cutter.end() {
            self.closed_part(closed, &mut pushed)?;
        }
        self.finished = true;
        Ok(pushed)
    }

    /// The next segment carries `EXT-X-DISCONTINUITY` (publisher resumed);
    /// the open segment is closed now.
    pub fn mark_discontinuity(&mut self) -> Result<CmafPushed, CmafError> {
        let mut pushed = CmafPushed::default();
        if let Some(closed) = self.cutter.discontinuity() {
            self.closed_part(closed, &mut pushed)?;
        }
        Ok(pushed)
    }

    /// Whether [`CmafPackager::finish`] was called (and no sample came since).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Builds the fragment of a closed part, and closes the segment when
    /// the part ends it.
    fn closed_part(
        &mut self,
        closed: ClosedPart,
        pushed: &mut CmafPushed,
    ) -> Result<(), CmafError> {
        let timescale = f64::from(self.cutter.timescale());
        let Some(open) = &mut self.open else {
            return Ok(());
        };
        if !closed.runs.is_empty() {
            let fragment = fmp4::fragment(self.fragment_sequence, &closed.runs)?;
            self.fragment_sequence = self.fragment_sequence.wrapping_add(1).max(1);
            let duration_secs = closed.ticks as f64 / timescale;
            self.max_part_ms = self.max_part_ms.max(extinf_millis(duration_secs));
            let data = fragment.to_bytes();
            open.bytes += data.len();
            open.ticks += closed.ticks;
            pushed.part_closed = Some((open.msn, open.parts.len() as u64));
            open.parts.push(CmafPart {
                duration_secs,
                independent: closed.independent,
                data,
            });
        }
        if closed.ends_segment {
            if let Some(open) = self.open.take() {
                if open.parts.is_empty() {
                    // Nothing was in it: its number is not used.
                    self.next_msn = open.msn;
                } else {
                    pushed.segment_closed = Some(open.msn);
                    self.store(close(open, timescale));
                }
            }
        }
        Ok(())
    }

    /// Keeps a closed segment, dropping the oldest beyond window + retain.
    fn store(&mut self, segment: CmafSegment) {
        self.max_target = self.max_target.max(target_for(segment.duration_secs));
        self.segment_bytes += segment.data.len();
        self.segments.push_back(segment);
        let keep = self.config.window().saturating_add(self.config.retain);
        while self.segments.len() > keep {
            if let Some(old) = self.segments.pop_front() {
                self.segment_bytes -= old.data.len();
                self.evicted_discontinuities += u64::from(old.discontinuity);
            }
        }
    }

    /// How many stored segments precede the playlist window.
    fn window_start(&self) -> usize {
        self.segments.len().saturating_sub(self.config.window())
    }

    /// The segments in the playlist window, oldest first.
    pub fn segments(&self) -> impl Iterator<Item = &CmafSegment> {
        self.segments.iter().skip(self.window_start())
    }

    /// `EXT-X-TARGETDURATION`: the largest rounded-up `EXTINF` so far (never
    /// lowered), the configured target rounded up before the first.
    pub fn target_duration(&self) -> u64 {
        self.max_target.max(target_for(self.config.target())).max(1)
    }

    /// The playlist, as [`render`] writes it.
    pub fn playlist(&self) -> String {
        render(&self.playlist_view())
    }

    /// What the playlist shows (for [`render`]).
    pub fn playlist_view(&self) -> LlPlaylist<'_> {
        let start = self.window_start();
        let slid_out = self.segments.iter().take(start).filter(|s| s.discontinuity);
        let segments: Vec<&CmafSegment> = self.segments.iter().skip(start).collect();
        // Parts are listed for the segments that end within
        // PART_WINDOW_TARGETS target durations of the live edge.
        let limit = (PART_WINDOW_TARGETS * self.target_duration()) as f64;
        let mut after = self.open.as_ref().map_or(0.0, |o| {
            o.parts.iter().map(|p| p.duration_secs).sum::<f64>()
        });
        let mut parts_from = segments.len();
        while parts_from > 0 && after < limit {
            parts_from -= 1;
            after += segments.get(parts_from).map_or(0.0, |s| s.duration_secs);
        }
        LlPlaylist {
            target_duration: self.target_duration(),
            part_target_secs: self.max_part_ms as f64 / 1000.0,
            media_sequence: match (segments.first(), &self.open) {
                (Some(s), _) => s.msn,
                (None, Some(open)) => open.msn,
                (None, None) => self.next_msn,
            },
            discontinuity_sequence: self.evicted_discontinuities + slid_out.count() as u64,
            segments,
            parts_from,
            open: self.open.as_ref().map(|o| OpenView {
                msn: o.msn,
                discontinuity: o.discontinuity,
                parts: &o.parts,
            }),
            preload_hint: self.next_part(),
            ended: self.finished,
        }
    }

    /// The part that will close next (the preload hint), unless finished.
    pub fn next_part(&self) -> Option<(u64, u64)> {
        if self.finished {
            return None;
        }
        Some(match &self.open {
            Some(o) => (o.msn, o.parts.len() as u64),
            None => (self.next_msn, 0),
        })
    }

    /// A closed segment still held: in the window or retained after it.
    pub fn segment(&self, msn: u64) -> Option<Bytes> {
        self.closed(msn).map(|s| s.data.clone())
    }

    fn closed(&self, msn: u64) -> Option<&CmafSegment> {
        let first = self.segments.front()?.msn;
        let idx = usize::try_from(msn.checked_sub(first)?).ok()?;
        self.segments.get(idx)
    }

    /// A part of the open segment or of a held closed segment.
    pub fn part(&self, msn: u64, idx: u64) -> Option<Bytes> {
        let idx = usize::try_from(idx).ok()?;
        let parts = match &self.open {
            Some(o) if o.msn == msn => &o.parts,
            _ => &self.closed(msn)?.parts,
        };
        parts.get(idx).map(|p| p.data.clone())
    }

    /// A request for a part: there, the next one (block until it closes,
    /// bounded), or neither (404).
    pub fn part_state(&self, msn: u64, idx: u64) -> PartState {
        match self.part(msn, idx) {
            Some(data) => PartState::Ready(data),
            None if self.next_part() == Some((msn, idx)) => PartState::Pending,
            None => PartState::Unknown,
        }
    }

    /// What to do with a playlist request carrying `_HLS_msn=msn` (and
    /// `_HLS_part=part`): see [`blocking::decide`].
    pub fn blocking_state(&self, msn: u64, part: Option<u64>) -> Blocking {
        let last_part = match &self.open {
            Some(o) if !o.parts.is_empty() => Some((o.msn, o.parts.len() as u64 - 1)),
            _ => self
                .segments
                .back()
                .map(|s| (s.msn, s.parts.len().saturating_sub(1) as u64)),
        };
        let edge = Edge {
            last_msn: self.segments.back().map(|s| s.msn),
            next_msn: self.open.as_ref().map_or(self.next_msn, |o| o.msn),
            last_part,
            part_target_secs: self.config.part(),
            ended: self.finished,
        };
        blocking::decide(&edge, msn, part)
    }

    /// Memory held: the stored segments and the open one's parts.
    pub fn bytes_held(&self) -> usize {
        self.segment_bytes + self.open.as_ref().map_or(0, |o| o.bytes)
    }

    /// The configuration.
    pub fn config(&self) -> &CmafConfig {
        &self.config
    }
}

/// Concatenates the parts once; each part becomes a slice of the result.
fn close(open: Open, timescale: f64) -> CmafSegment {
    let mut data = BytesMut::with_capacity(open.bytes);
    for p in &open.parts {
        data.put_slice(&p.data);
    }
    let data = data.freeze();
    let mut at = 0;
    let parts = open
        .parts
        .into_iter()
        .map(|p| {
            let len = p.data.len();
            let part = CmafPart {
                data: data.slice(at..at + len),
                ..p
            };
            at += len;
            part
        })
        .collect();
    CmafSegment {
        msn: open.msn,
        duration_secs: open.ticks as f64 / timescale,
        discontinuity: open.discontinuity,
        parts,
        data,
    }
}
