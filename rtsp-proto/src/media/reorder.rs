//! A small bounded reorder buffer for RTP over UDP: packets go in as they arrive, come out in
//! sequence order; a hole is waited for at most `max_wait` (measured with the instants the
//! caller passes in) or until the window is full, then counted as lost and skipped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::RtpPacket;

/// What [`ReorderBuffer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored; it will come out of [`pop`](ReorderBuffer::pop) in order.
    Buffered,
    /// Dropped: a packet with this sequence number is already held.
    Duplicate,
    /// Dropped: its turn has passed (already emitted or given up as lost).
    Late,
}

/// Counters a [`ReorderBuffer`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReorderStats {
    /// Packets accepted.
    pub buffered: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Late packets dropped.
    pub late: u64,
    /// Sequence numbers given up as lost.
    pub lost: u64,
    /// Times the buffer resynchronised on a source that jumped backwards.
    pub resyncs: u64,
}

/// Largest window accepted; sequence numbers are compared within half their range.
pub const MAX_REORDER_WINDOW: usize = 4096;

/// In-order delivery of RTP packets over a window of sequence numbers (sans-IO).
#[derive(Debug)]
pub struct ReorderBuffer {
    window: usize,
    max_wait: Duration,
    /// Sequence number of `slots[0]`.
    next: Option<u16>,
    slots: VecDeque<Option<(RtpPacket, Instant)>>,
    /// Packets already released in order by a window overflow.
    ready: VecDeque<(RtpPacket, Instant)>,
    late_run: usize,
    stats: ReorderStats,
}

impl ReorderBuffer {
    /// A buffer holding at most `window` sequence numbers (clamped to
    /// 1..=[`MAX_REORDER_WINDOW`]; 64 is a good value) that waits at most `max_wait` for a
    /// missing packet.
    pub fn new(window: usize, max_wait: Duration) -> Self {
        Self {
            window: window.clamp(1, MAX_REORDER_WINDOW),
            max_wait,
            next: None,
            slots: VecDeque::new(),
            ready: VecDeque::new(),
            late_run: 0,
            stats: ReorderStats::default(),
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> ReorderStats {
        self.stats
    }

    /// Packets held, including those ready to pop.
    pub fn len(&self) -> usize {
        self.ready.len() + self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes a packet that arrived at `now`.
    pub fn push(&mut self, pkt: RtpPacket, now: Instant) -> PushOutcome {
        let next = *self.next.get_or_insert(pkt.sequence);
        let ahead = pkt.sequence.wrapping_sub(next);
        if ahead >= 0x8000 {
            // Behind the window: its turn has passed, unless the source restarted with
            // lower numbers, which a run of such packets longer than the window shows.
            self.late_run += 1;
            if self.late_run <= self.window {
                self.stats.late += 1;
                return PushOutcome::Late;
            }
            self.stats.resyncs += 1;
            self.release(self.slots.len());
            self.next = Some(pkt.sequence);
            return self.push(pkt, now);
        }
        self.late_run = 0;
        let mut index = usize::from(ahead);
        if index >= self.window {
            // Beyond the window: release the oldest sequence numbers to make room.
            let advance = index - self.window + 1;
            self.release(advance);
            index = self.window - 1;
        }
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        match self.slots.get_mut(index) {
            Some(slot @ None) => {
                *slot = Some((pkt, now));
                self.stats.buffered += 1;
                PushOutcome::Buffered
            }
            _ => {
                self.stats.duplicates += 1;
                PushOutcome::Duplicate
            }
        }
    }

    /// Moves the first `count` sequence numbers out of the window: packets to `ready`, holes
    /// counted as lost.
    fn release(&mut self, count: usize) {
        let held = count.min(self.slots.len());
        for slot in self.slots.drain(..held) {
            match slot {
                Some(held) => self.ready.push_back(held),
                None => self.stats.lost += 1,
            }
        }
        self.stats.lost += (count - held) as u64;
        if let Some(next) = &mut self.next {
            *next = next.wrapping_add(count as u16);
        }
    }

    /// The next packet in order, if it is here, or if the hole before the next held packet
    /// has been waited for long enough (`max_wait` since the oldest held packet arrived).
    pub fn pop(&mut self, now: Instant) -> Option<RtpPacket> {
        if let Some((pkt, _)) = self.ready.pop_front() {
            return Some(pkt);
        }
        if let Some(Some(_)) = self.slots.front() {
            self.release(1);
            return self.ready.pop_front().map(|(pkt, _)| pkt);
        }
        let oldest = self.oldest_arrival()?;
        if now.saturating_duration_since(oldest) < self.max_wait {
            return None;
        }
        let first = self.slots.iter().position(Option::is_some)?;
        self.release(first + 1);
        self.ready.pop_front().map(|(pkt, _)| pkt)
    }

    fn oldest_arrival(&self) -> Option<Instant> {
        self.slots.iter().flatten().map(|(_, at)| *at).min()
    }

    /// When [`pop`](Self::pop) should next be called: a past instant (the packet's arrival)
    /// if a packet is ready, the end of the wait for a hole otherwise, `None` if nothing is
    /// held.
    pub fn next_deadline(&self) -> Option<Instant> {
        if let Some((_, at)) = self.ready.front() {
            return Some(*at);
        }
        if let Some(Some((_, at))) = self.slots.front() {
            return Some(*at);
        }
        self.oldest_arrival().map(|at| at + self.max_wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    fn p(seq: u16) -> RtpPacket {
        RtpPacket::new(96, seq, 0, 1, false, Bytes::new())
    }

    fn drain(b: &mut ReorderBuffer, now: Instant) -> Vec<u16> {
        std::iter::from_fn(|| b.pop(now))
            .map(|p| p.sequence)
            .collect()
    }

    #[test]
    fn reorders_and_waits_for_holes() {
        let t0 = Instant::now();
        let mut b = ReorderBuffer::new(8, Duration::from_millis(50));
        assert_eq!(b.push(p(65534), t0), PushOutcome::Buffered);
        assert_eq!(b.push(p(0), t0), PushOutcome::Buffered);
        assert_eq!(drain(&mut b, t0), vec![65534]);
        assert_eq!(b.push(p(65535), t0), PushOutcome::Buffered);
        assert_eq!(b.push(p(0), t0), PushOutcome::Duplicate);
        assert_eq!(drain(&mut b, t0), vec![65535, 0]);
        assert_eq!(b.push(p(65535), t0), PushOutcome::Late);
        // 1 is missing: 2 waits until max_wait has passed.
        b.push(p(2), t0);
        assert_eq!(
            drain(&mut b, t0 + Duration::from_millis(49)),
            Vec::<u16>::new()
        );
        assert_eq!(b.next_deadline(), Some(t0 + Duration::from_millis(50)));
        assert_eq!(drain(&mut b, t0 + Duration::from_millis(50)), vec![2]);
        assert_eq!(b.stats().lost, 1);
        assert!(b.is_empty());
        assert_eq!(b.next_deadline(), None);
    }

    #[test]
    fn a_full_window_releases_without_waiting() {
        let t0 = Instant::now();
        let mut b = ReorderBuffer::new(4, Duration::from_secs(10));
        b.push(p(10), t0);
        assert_eq!(drain(&mut b, t0), vec![10]);
        for s in [12, 13, 14, 15, 16] {
            b.push(p(s), t0);
        }
        // 11 is given up when 16 needs the room.
        assert_eq!(drain(&mut b, t0), vec![12, 13, 14, 15, 16]);
        assert_eq!(b.stats().lost, 1);
        // A jump far ahead counts the skipped numbers as lost.
        // The three numbers before it stay in the window, waited for.
        b.push(p(1016), t0);
        assert_eq!(drain(&mut b, t0), Vec::<u16>::new());
        assert_eq!(drain(&mut b, t0 + Duration::from_secs(10)), vec![1016]);
        assert_eq!(b.stats().lost, 1000);
    }

    #[test]
    fn resynchronises_on_a_backwards_restart() {
        let t0 = Instant::now();
        let mut b = ReorderBuffer::new(2, Duration::ZERO);
        b.push(p(5000), t0);
        assert_eq!(drain(&mut b, t0), vec![5000]);
        assert_eq!(b.push(p(10), t0), PushOutcome::Late);
        assert_eq!(b.push(p(11), t0), PushOutcome::Late);
        assert_eq!(b.push(p(12), t0), PushOutcome::Buffered);
        assert_eq!(drain(&mut b, t0), vec![12]);
        assert_eq!(b.stats().resyncs, 1);
    }

    proptest! {
        #[test]
        fn shuffled_input_comes_out_sorted(
            start in any::<u16>(),
            swaps in proptest::collection::vec((0usize..40, 0usize..4), 0..20),
            dropped in proptest::collection::btree_set(1usize..40, 0..6),
        ) {
            let mut order: Vec<usize> = (0..40).filter(|i| !dropped.contains(i)).collect();
            for (i, d) in swaps {
                let j = (i + d).min(order.len() - 1);
                let i = i.min(order.len() - 1);
                order.swap(i, j);
            }
            let t0 = Instant::now();
            let mut b = ReorderBuffer::new(16, Duration::from_millis(10));
            let mut out = Vec::new();
            for (k, i) in order.iter().enumerate() {
                let now = t0 + Duration::from_millis(k as u64);
                b.push(p(start.wrapping_add(*i as u16)), now);
                out.extend(drain(&mut b, now));
            }
            out.extend(drain(&mut b, t0 + Duration::from_secs(1)));
            // Strictly increasing in wrapping order, no duplicates.
            for w in out.windows(2) {
                let d = w[1].wrapping_sub(w[0]);
                prop_assert!(d > 0 && d < 0x8000, "{:?}", out);
            }
            prop_assert!(b.is_empty());
        }
    }
}
