//! The packager: a [`TsMuxer`] plus a keyframe-aligned segmenter and the
//! live playlist over its sliding window.
//!
//! Time is the frames' DTS in 90 kHz ticks (no clock is read). A segment
//! starts at a video keyframe (any audio frame for audio-only streams) and
//! is closed before the first such frame at least `target_secs` after its
//! start; so durations run from the target to the target plus one GOP.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::error::MuxError;
use crate::playlist::{render, target_for, PlaylistState};
use crate::segment::{OpenSegment, Segment, SegmenterConfig, TICKS_PER_SEC};
use crate::ts::muxer::{MuxInput, MuxerConfig, TsMuxer};

/// A DTS jump forward by more than this on a track is a discontinuity.
pub const MAX_DTS_JUMP: u64 = 10 * TICKS_PER_SEC;
/// An open segment this large is cut at the next frame, keyframe or not.
pub const MAX_SEGMENT_BYTES: usize = 64 << 20;
/// An open segment this many targets long is cut at the next frame.
pub const MAX_SEGMENT_TARGETS: u64 = 4;

/// What [`Packager::push`] made of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The frame's TS packets, for HTTP-TS viewers; they start with PAT and
    /// PMT when the frame starts a segment or is a keyframe. Empty when the
    /// frame was dropped (waiting for the first keyframe, or for the first
    /// keyframe after a discontinuity).
    pub ts: Bytes,
    /// The sequence number of the segment this frame closed, if any.
    pub closed: Option<u64>,
}

/// The HLS packager of one stream. See the [module documentation](self).
#[derive(Debug)]
pub struct Packager {
    muxer: TsMuxer,
    config: SegmenterConfig,
    has_video: bool,
    /// Closed segments: the playlist window and the retained ones before it.
    segments: VecDeque<Segment>,
    segment_bytes: usize,
    open: Option<OpenSegment>,
    next_sequence: u64,
    /// The next segment opened carries EXT-X-DISCONTINUITY.
    pending_discontinuity: bool,
    /// Discontinuities of segments dropped from memory.
    evicted_discontinuities: u64,
    /// Largest target needed by any segment so far.
    max_target: u64,
    finished: bool,
    /// Last DTS per track (video, audio).
    last_dts: [Option<u64>; 2],
    /// Last gap between frames of the timing track: the duration estimate
    /// of a segment's last frame when no next frame tells it.
    frame_interval: u64,
}

impl Packager {
    /// A packager for the tracks of `muxer` cut as `seg` says.
    pub fn new(muxer: MuxerConfig, seg: SegmenterConfig) -> Packager {
        Packager {
            has_video: muxer.video.is_some(),
            muxer: TsMuxer::new(muxer),
            config: seg,
            segments: VecDeque::new(),
            segment_bytes: 0,
            open: None,
            next_sequence: 0,
            pending_discontinuity: false,
            evicted_discontinuities: 0,
            max_target: 0,
            finished: false,
            last_dts: [None, None],
            frame_interval: 0,
        }
    }

    /// Numbers the first segment `sequence` instead of 0. A server that
    /// starts each packager of a stream at a number no earlier packager of
    /// that name reached (a clock-derived one) gives every segment URI one
    /// content for good, so HTTP caches may keep segments long.
    pub fn with_first_sequence(mut self, sequence: u64) -> Packager {
        if self.segments.is_empty() && self.open.is_none() {
            self.next_sequence = sequence;
        }
        self
    }

    /// Mux one frame; cut a new segment BEFORE this frame when it is a video
    /// keyframe (or, audio-only, any audio frame) and the open segment is at
    /// least `target_secs` long (measured by DTS; the first segment starts at
    /// the first keyframe: video frames before it are dropped, and audio
    /// frames too, as no segment is open). Every segment starts with
    /// PAT+PMT. A segment [`MAX_SEGMENT_TARGETS`] targets long or of
    /// [`MAX_SEGMENT_BYTES`] is cut at any frame.
    ///
    /// A DTS going backwards or jumping forward by more than
    /// [`MAX_DTS_JUMP`] on a track closes the open segment and behaves as
    /// [`Packager::mark_discontinuity`]. A push after [`Packager::finish`]
    /// resumes the stream with a discontinuity.
    pub fn push(&mut self, input: MuxInput<'_>) -> Result<Pushed, MuxError> {
        let (track, keyframe) = match input {
            MuxInput::Video { keyframe, .. } => (0, keyframe),
            MuxInput::Audio { .. } => (1, true),
        };
        let configured = if track == 0 {
            self.muxer.config().video.is_some()
        } else {
            self.muxer.config().audio.is_some()
        };
        if !configured {
            return Err(MuxError::TrackNotConfigured {
                track: if track == 0 { "video" } else { "audio" },
            });
        }
        if self.finished {
            self.finished = false;
            self.pending_discontinuity = true;
        }
        let dts = input.dts();
        let mut closed = None;
        if let Some(last) = self.last_dts.get(track).copied().flatten() {
            if dts < last || dts - last > MAX_DTS_JUMP {
                closed = self.discontinuity();
            }
        }
        // The track that measures time: video when there is video.
        let timing = track == 0 || !self.has_video;
        let cut_point = keyframe && timing;
        let target = self.config.target_ticks();
        let starts = match &self.open {
            None if !cut_point => {
                return Ok(Pushed {
                    ts: Bytes::new(),
                    closed,
                })
            }
            None => true,
            Some(open) => {
                let elapsed = open.elapsed(dts);
                (cut_point && elapsed >= target)
                    || elapsed >= target.saturating_mul(MAX_SEGMENT_TARGETS)
                    || open.bytes() >= MAX_SEGMENT_BYTES
            }
        };
        let ts = self.muxer.mux(input, starts || keyframe && track == 0)?;

        if let Some(prev) = self.last_dts.get(track).copied().flatten() {
            if timing {
                self.frame_interval = (dts - prev).min(MAX_DTS_JUMP);
            }
        }
        if let Some(slot) = self.last_dts.get_mut(track) {
            *slot = Some(dts);
        }
        if starts {
            if let Some(open) = self.open.take() {
                let ticks = open.elapsed(dts);
                closed = Some(self.store(open.close(ticks)));
            }
            self.open = Some(OpenSegment::new(
                self.next_sequence,
                std::mem::take(&mut self.pending_discontinuity),
                dts,
            ));
            self.next_sequence += 1;
        }
        if let Some(open) = &mut self.open {
            if timing {
                open.last_dts = open.last_dts.max(dts);
            }
            open.push(ts.clone());
        }
        Ok(Pushed { ts, closed })
    }

    /// The next segment will carry EXT-X-DISCONTINUITY (publisher resumed,
    /// timestamps jumped). The open segment is closed now (its last frame
    /// counted for the usual frame interval) and the next segment starts at
    /// the next keyframe.
    pub fn mark_discontinuity(&mut self) {
        self.discontinuity();
    }

    /// Switches to other tracks (a resumed publisher with other codecs or
    /// parameters). The open segment is closed (its sequence is returned),
    /// the next one carries EXT-X-DISCONTINUITY and, when the tracks really
    /// differ, starts a new muxer (new PMT, continuity counters from 0, which
    /// the discontinuity allows).
    pub fn reconfigure(&mut self, muxer: MuxerConfig) -> Option<u64> {
        let closed = self.discontinuity();
        if self.muxer.config() != &muxer {
            self.has_video = muxer.video.is_some();
            self.muxer = TsMuxer::new(muxer);
        }
        closed
    }

    /// [`Packager::mark_discontinuity`], returning the sequence of the
    /// segment it closed.
    fn discontinuity(&mut self) -> Option<u64> {
        self.pending_discontinuity = true;
        self.last_dts = [None, None];
        self.close_open()
    }

    /// Close the open segment (stream ended); the playlist gets
    /// EXT-X-ENDLIST.
    pub fn finish(&mut self) {
        self.close_open();
        self.finished = true;
    }

    /// Whether [`Packager::finish`] was called (and no frame came since).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn close_open(&mut self) -> Option<u64> {
        let open = self.open.take()?;
        let ticks = open
            .elapsed(open.last_dts)
            .saturating_add(self.frame_interval);
        Some(self.store(open.close(ticks)))
    }

    /// Keeps a closed segment, dropping the oldest beyond window + retain.
    fn store(&mut self, segment: Segment) -> u64 {
        let sequence = segment.sequence;
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
        sequence
    }

    /// How many stored segments precede the playlist window.
    fn window_start(&self) -> usize {
        self.segments.len().saturating_sub(self.config.window())
    }

    /// The playlist-level values of [`Packager::playlist`].
    ///
    /// `EXT-X-TARGETDURATION` is the largest rounded-up `EXTINF` of any
    /// segment so far (so at least that of every segment listed, RFC 8216
    /// §4.3.3.1, and never lowered, §6.2.1: "MUST NOT change"); before the
    /// first segment closes it is the configured target, rounded up.
    pub fn playlist_state(&self) -> PlaylistState {
        let start = self.window_start();
        let slid_out = self.segments.iter().take(start).filter(|s| s.discontinuity);
        PlaylistState {
            target_duration: if self.segments.is_empty() && self.max_target == 0 {
                target_for(self.config.target_secs).max(1)
            } else {
                self.max_target.max(1)
            },
            // With nothing listed yet, the first segment to be listed: the
            // open one, else the next one (§6.2.1: the sequence never goes
            // back).
            media_sequence: match (self.segments.get(start), &self.open) {
                (Some(s), _) => s.sequence,
                (None, Some(open)) => open.sequence,
                (None, None) => self.next_sequence,
            },
            discontinuity_sequence: self.evicted_discontinuities + slid_out.count() as u64,
            ended: self.finished,
        }
    }

    /// The media playlist (RFC 8216) over the window; segment URIs are
    /// `{sequence}.ts`, relative to the playlist.
    pub fn playlist(&self) -> String {
        render(self.segments(), &self.playlist_state())
    }

    /// A closed segment still held: in the window or retained after it.
    pub fn segment(&self, sequence: u64) -> Option<Segment> {
        let first = self.segments.front()?.sequence;
        let idx = usize::try_from(sequence.checked_sub(first)?).ok()?;
        self.segments.get(idx).cloned()
    }

    /// The segments in the playlist window, oldest first.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter().skip(self.window_start())
    }

    /// Memory held: the bytes of the stored segments and of the open one.
    pub fn bytes_held(&self) -> usize {
        self.segment_bytes + self.open.as_ref().map_or(0, OpenSegment::bytes)
    }
}

#[cfg(test)]
mod tests;
