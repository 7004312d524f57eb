//! Decode times for video whose timestamps are presentation times only
//! (RTP, RFC 6184/7798): with B-frames, frames arrive in decode order but
//! their presentation times are not monotonic.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Rebuilds decode timestamps from presentation timestamps.
///
/// Frames are held back by the reordering depth seen so far (0 until the
/// first out-of-order frame, at most [`DtsRebuilder::MAX_DEPTH`]); frame n
/// gets the n-th smallest presentation time moved back by depth × frame
/// interval, the decode order H.264/H.265 encoders use at a constant frame
/// rate: monotonic and never after the frame's own presentation time once
/// the depth is learnt (the frames around the first B-frame may get a
/// decode time just after it). Times are in any unit (strom uses µs) and
/// never below 0. The rebuilder holds at most `MAX_DEPTH` items.
///
/// ```
/// use codec::dts::DtsRebuilder;
///
/// let mut d = DtsRebuilder::new();
/// // I0 P3 B1 B2 …: the B-frame reveals a reordering depth of one frame.
/// let mut out = Vec::new();
/// for pts in [0, 120, 40, 80, 240, 160, 200] {
///     out.extend(d.push(pts, pts));
/// }
/// let dts: Vec<i64> = out.iter().map(|&(_, dts)| dts).collect();
/// assert!(dts.windows(2).all(|w| w[1] > w[0]));
/// ```
#[derive(Debug)]
pub struct DtsRebuilder<T> {
    pending: VecDeque<T>,
    times: BinaryHeap<Reverse<i64>>,
    depth: usize,
    /// Presentation times of the latest frames, in arrival order.
    recent: VecDeque<i64>,
    last_dts: Option<i64>,
    /// The last presentation time taken from the heap, and the frame
    /// interval seen between such times.
    last_sorted: Option<i64>,
    interval: i64,
}

impl<T> Default for DtsRebuilder<T> {
    fn default() -> Self {
        DtsRebuilder {
            pending: VecDeque::new(),
            times: BinaryHeap::new(),
            depth: 0,
            recent: VecDeque::new(),
            last_dts: None,
            last_sorted: None,
            interval: 0,
        }
    }
}

impl<T> DtsRebuilder<T> {
    /// Most frames held back (the deepest B-frame pyramid handled).
    pub const MAX_DEPTH: usize = 4;

    /// A rebuilder that has seen no frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// The reordering depth learnt so far.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Takes the next frame in decode order with its presentation time;
    /// returns the frames now released, oldest first, each with its decode
    /// time.
    pub fn push(&mut self, pts: i64, frame: T) -> Vec<(T, i64)> {
        // Frames that arrived before this one but are shown after it: the
        // reordering depth the stream needs.
        let overtaken = self.recent.iter().filter(|&&p| p > pts).count();
        self.depth = self.depth.max(overtaken).min(Self::MAX_DEPTH);
        if self.recent.len() == 2 * Self::MAX_DEPTH {
            self.recent.pop_front();
        }
        self.recent.push_back(pts);
        self.times.push(Reverse(pts));
        self.pending.push_back(frame);
        let mut out = Vec::new();
        while self.pending.len() > self.depth {
            let (Some(frame), Some(Reverse(t))) = (self.pending.pop_front(), self.times.pop())
            else {
                break;
            };
            if let Some(prev) = self.last_sorted {
                if t > prev {
                    self.interval = t - prev;
                }
            }
            self.last_sorted = Some(t);
            // The n-th smallest presentation time, moved back by the depth:
            // a frame is decoded `depth` frame intervals before it could be
            // shown at the earliest.
            // Not below 0: the stream's timeline starts at the first packet.
            let candidate = (t - self.depth as i64 * self.interval).max(0);
            let dts = match self.last_dts {
                Some(last) if candidate <= last => last + 1,
                _ => candidate,
            };
            self.last_dts = Some(dts);
            out.push((frame, dts));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dts_passes_through_without_b_frames() {
        let mut g = DtsRebuilder::new();
        for pts in [0, 40, 80, 120] {
            let out = g.push(pts, pts);
            assert_eq!(out, [(pts, pts)]);
        }
    }

    #[test]
    fn dts_is_monotonic_and_learns_the_reorder_depth() {
        // Decode order of an IBBP stream with pyramid: I0 P3 B2 b1 P6 B5 b4 ...
        let mut g = DtsRebuilder::new();
        let mut pts = vec![0];
        for gop in 0..20i64 {
            let base = gop * 3;
            pts.extend([base + 3, base + 2, base + 1]);
        }
        let mut out = Vec::new();
        for p in &pts {
            out.extend(g.push(p * 40, p * 40));
        }
        let dts: Vec<i64> = out.iter().map(|&(_, d)| d).collect();
        assert!(dts.windows(2).all(|w| w[1] > w[0]), "{dts:?}");
        // Once learnt, decode never follows presentation.
        assert!(out.iter().skip(8).all(|&(p, d)| d <= p), "{out:?}");
        assert!(g.depth() <= DtsRebuilder::<i64>::MAX_DEPTH);
        assert_eq!(g.depth(), 2);
    }
}
