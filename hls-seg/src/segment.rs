//! Segments: the configuration of the segmenter, a closed [`Segment`], and
//! the segment being filled.

use bytes::{BufMut, Bytes, BytesMut};

/// Ticks per second of MPEG timestamps.
pub const TICKS_PER_SEC: u64 = 90_000;

/// How segments are cut and how many are kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmenterConfig {
    /// Target segment length in seconds (`hls.segment_secs`): a segment is
    /// cut at the first keyframe at least this far from its start.
    pub target_secs: f64,
    /// Segments listed in the playlist (`hls.segment_count`); at least 1.
    pub window: usize,
    /// Extra segments kept after they leave the playlist, for slow clients
    /// still fetching them (`hls.segment_retain`).
    pub retain: usize,
}

impl SegmenterConfig {
    /// The target in 90 kHz ticks, at least 1 (a NaN, negative or zero
    /// target cuts at every keyframe).
    pub fn target_ticks(&self) -> u64 {
        // `as` saturates: NaN and negatives become 0.
        ((self.target_secs * TICKS_PER_SEC as f64).round() as u64).max(1)
    }

    /// The playlist window, at least 1.
    pub fn window(&self) -> usize {
        self.window.max(1)
    }
}

/// A closed segment: one TS file starting with PAT and PMT.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Media sequence number (RFC 8216 §4.3.3.2); the file is
    /// `{sequence}.ts`.
    pub sequence: u64,
    /// Exact duration: from the DTS of its first frame to that of the next
    /// segment's first frame.
    pub duration_secs: f64,
    /// Whether it follows a timestamp discontinuity (RFC 8216 §4.3.2.3).
    pub discontinuity: bool,
    /// The TS bytes.
    pub data: Bytes,
}

/// The segment being filled: frame chunks kept apart until it closes.
#[derive(Debug)]
pub(crate) struct OpenSegment {
    pub(crate) sequence: u64,
    pub(crate) discontinuity: bool,
    /// DTS of the first frame.
    pub(crate) first_dts: u64,
    /// Latest DTS of the track that measures time (video, else audio).
    pub(crate) last_dts: u64,
    chunks: Vec<Bytes>,
    bytes: usize,
}

impl OpenSegment {
    pub(crate) fn new(sequence: u64, discontinuity: bool, first_dts: u64) -> Self {
        OpenSegment {
            sequence,
            discontinuity,
            first_dts,
            last_dts: first_dts,
            chunks: Vec::new(),
            bytes: 0,
        }
    }

    /// Appends one frame's TS bytes.
    pub(crate) fn push(&mut self, chunk: Bytes) {
        self.bytes += chunk.len();
        if !chunk.is_empty() {
            self.chunks.push(chunk);
        }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Ticks from the first frame to `dts` (0 if `dts` is earlier).
    pub(crate) fn elapsed(&self, dts: u64) -> u64 {
        dts.saturating_sub(self.first_dts)
    }

    /// Closes the segment with a duration of `ticks`, concatenating its
    /// chunks once.
    pub(crate) fn close(self, ticks: u64) -> Segment {
        let mut data = BytesMut::with_capacity(self.bytes);
        for c in &self.chunks {
            data.put_slice(c);
        }
        Segment {
            sequence: self.sequence,
            duration_secs: ticks as f64 / TICKS_PER_SEC as f64,
            discontinuity: self.discontinuity,
            data: data.freeze(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_ticks_are_sane() {
        let c = |t| SegmenterConfig {
            target_secs: t,
            window: 0,
            retain: 0,
        };
        assert_eq!(c(2.0).target_ticks(), 180_000);
        assert_eq!(c(f64::NAN).target_ticks(), 1);
        assert_eq!(c(-3.0).target_ticks(), 1);
        assert_eq!(c(2.0).window(), 1);
    }

    #[test]
    fn close_concatenates() {
        let mut s = OpenSegment::new(7, true, 1000);
        s.push(Bytes::from_static(b"ab"));
        s.push(Bytes::new());
        s.push(Bytes::from_static(b"cd"));
        assert_eq!(s.bytes(), 4);
        assert_eq!(s.elapsed(500), 0);
        let seg = s.close(45_000);
        assert_eq!(&seg.data[..], b"abcd");
        assert_eq!(
            (seg.sequence, seg.duration_secs, seg.discontinuity),
            (7, 0.5, true)
        );
    }
}
