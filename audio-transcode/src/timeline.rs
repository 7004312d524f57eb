//! The output timeline: input timestamps in, output timestamps counted in
//! samples, resynced when the input strays (see the crate docs).

use crate::{frames_to_us, RESYNC_THRESHOLD_US};

/// Where an input packet's timestamp falls relative to the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// The first packet: the timeline starts at its timestamp.
    Start,
    /// Within [`RESYNC_THRESHOLD_US`] of where the sample count puts it;
    /// `gap_us` is how far after that point (negative: before).
    InLine {
        /// Input timestamp minus the expected one.
        gap_us: i64,
    },
    /// Too far away: the timeline restarted at its timestamp.
    Resynced,
}

/// Counts input and output samples since a base timestamp.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    in_rate: u32,
    out_rate: u32,
    base_us: Option<i64>,
    in_frames: u64,
    out_frames: u64,
}

impl Timeline {
    /// A timeline whose input is counted at `in_rate` Hz and output at `out_rate` Hz.
    pub(crate) fn new(in_rate: u32, out_rate: u32) -> Self {
        Self {
            in_rate,
            out_rate,
            base_us: None,
            in_frames: 0,
            out_frames: 0,
        }
    }

    /// Places an input packet stamped `pts_us`, starting or resyncing the
    /// timeline when needed (a resync zeroes both sample counts: the caller
    /// drops its buffered PCM).
    pub(crate) fn place(&mut self, pts_us: i64) -> Placement {
        let Some(expected) = self.expected_input_us() else {
            self.restart(pts_us);
            return Placement::Start;
        };
        let gap_us = pts_us.saturating_sub(expected);
        if gap_us.unsigned_abs() > RESYNC_THRESHOLD_US.unsigned_abs() {
            self.restart(pts_us);
            Placement::Resynced
        } else {
            Placement::InLine { gap_us }
        }
    }

    /// Where the next input packet is expected, once started.
    pub(crate) fn expected_input_us(&self) -> Option<i64> {
        let base = self.base_us?;
        Some(base.saturating_add(frames_to_us(self.in_frames, self.in_rate)))
    }

    fn restart(&mut self, pts_us: i64) {
        self.base_us = Some(pts_us);
        self.in_frames = 0;
        self.out_frames = 0;
    }

    /// `frames` input samples (per channel) were consumed.
    pub(crate) fn add_input(&mut self, frames: u64) {
        self.in_frames = self.in_frames.saturating_add(frames);
    }

    /// The timestamp and duration of the next `frames` output samples; the
    /// timeline moves past them. Durations of consecutive packets add up
    /// exactly (no rounding drift).
    pub(crate) fn take_output(&mut self, frames: u64) -> (i64, u32) {
        let base = self.base_us.unwrap_or(0);
        let start = base.saturating_add(frames_to_us(self.out_frames, self.out_rate));
        self.out_frames = self.out_frames.saturating_add(frames);
        let end = base.saturating_add(frames_to_us(self.out_frames, self.out_rate));
        let duration = u32::try_from(end.saturating_sub(start)).unwrap_or(u32::MAX);
        (start, duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_the_first_pts_and_counts_samples() {
        let mut t = Timeline::new(44_100, 48_000);
        assert_eq!(t.place(5_000), Placement::Start);
        t.add_input(1024);
        // 1024 / 44100 s = 23219.95 µs: the next input at 28 ms is in line.
        assert_eq!(t.place(28_000), Placement::InLine { gap_us: -219 });
        assert_eq!(t.take_output(960), (5_000, 20_000));
        assert_eq!(t.take_output(960), (25_000, 20_000));
    }

    #[test]
    fn durations_add_up_without_drift() {
        let mut t = Timeline::new(48_000, 48_000);
        t.place(0);
        let mut end = 0;
        for _ in 0..1000 {
            let (pts, dur) = t.take_output(1024);
            assert_eq!(pts, end);
            assert!(dur == 21_333 || dur == 21_334);
            end = pts + i64::from(dur);
        }
        assert_eq!(end, 1000 * 1024 * 1_000_000 / 48_000);
    }

    #[test]
    fn a_jump_either_way_resyncs() {
        let mut t = Timeline::new(48_000, 48_000);
        t.place(1_000_000);
        t.add_input(960);
        assert_eq!(
            t.place(1_020_000 + 100_000),
            Placement::InLine { gap_us: 100_000 }
        );
        assert_eq!(t.place(1_020_000 + 100_001), Placement::Resynced);
        assert_eq!(t.take_output(960), (1_120_001, 20_000));
        assert_eq!(t.place(0), Placement::Resynced);
        assert_eq!(t.place(i64::MIN), Placement::Resynced);
        assert_eq!(t.place(i64::MAX), Placement::Resynced);
        t.add_input(u64::MAX);
        assert!(matches!(t.place(i64::MAX), Placement::InLine { .. }));
        assert_eq!(t.take_output(u64::MAX).0, i64::MAX);
    }
}
