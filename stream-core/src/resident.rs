//! Resident-byte accounting of a list of frames (the GOP cache, a subscriber queue).
//!
//! A frame's resident bytes ([`Frame::resident_bytes`]) are its payload plus the wire forms
//! players have cached on it. Forms are filled lazily, by the first player of each format
//! that takes the frame, which is after the frame was admitted to the GOP cache and to the
//! queues; a slot fills once and never empties, so a frame's resident bytes only grow.
//!
//! A [`Tally`] keeps a running total of the resident bytes last measured for each entry
//! (a lower bound of the truth that catches up) and re-measures a bounded number of entries
//! whenever its holder is about to evaluate its bound ([`Tally::refresh`]): the
//! [`REFRESH_NEWEST`] newest entries, where players at the live edge fill forms (usually
//! before the next frame arrives), and [`REFRESH_CURSOR`] more from a cursor that walks the
//! list round-robin, which catches forms filled later (a late joiner's burst, a slow player).
//! So the cost per frame stays O(1) (at most `(REFRESH_NEWEST + REFRESH_CURSOR) ×
//! WireCache::SLOTS` atomic loads) and every entry is re-measured within `⌈len / 2⌉`
//! evaluations, even while the list grows by one entry per evaluation (the cursor gains two
//! entries a step on the list's growth). [`Tally::refresh_all`] re-measures everything
//! exactly; the stream does that when it is measured for the API and `/metrics` (O(len), at
//! scrape time only) and applies the GOP bound then too.

use std::collections::VecDeque;

use crate::Frame;

/// Newest entries re-measured at each refresh.
pub(crate) const REFRESH_NEWEST: usize = 2;
/// Entries re-measured from the round-robin cursor at each refresh.
pub(crate) const REFRESH_CURSOR: usize = 3;

/// An entry whose resident bytes a [`Tally`] accounts.
pub(crate) trait Counted {
    /// The frame, or `None` for entries that hold no media (they count 0).
    fn frame(&self) -> Option<&Frame>;
    /// The resident bytes last counted for this entry.
    fn counted(&mut self) -> &mut usize;
}

/// Running total of the resident bytes of a list of [`Counted`] entries.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    total: usize,
    cursor: usize,
}

impl Tally {
    /// The resident bytes counted so far.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// Measures a new entry and adds it; returns what it counted.
    pub(crate) fn admit(&mut self, frame: &Frame) -> usize {
        let n = frame.resident_bytes();
        self.total = self.total.saturating_add(n);
        n
    }

    /// Takes out an entry that counted `n`; `front` when it was the list's first (the
    /// cursor moves with the list).
    pub(crate) fn remove(&mut self, n: usize, front: bool) {
        self.total = self.total.saturating_sub(n);
        if front {
            self.cursor = self.cursor.saturating_sub(1);
        }
    }

    /// The list was emptied (or rebuilt): nothing counted.
    pub(crate) fn reset(&mut self) {
        self.total = 0;
        self.cursor = 0;
    }

    /// Re-measures the newest entries and a few from the cursor (bounded work).
    pub(crate) fn refresh<T: Counted>(&mut self, items: &mut VecDeque<T>) {
        let len = items.len();
        for i in len.saturating_sub(REFRESH_NEWEST)..len {
            self.measure(items, i);
        }
        for _ in 0..REFRESH_CURSOR.min(len) {
            if self.cursor >= len {
                self.cursor = 0;
            }
            self.measure(items, self.cursor);
            self.cursor += 1;
        }
    }

    /// Re-measures every entry (O(len)).
    pub(crate) fn refresh_all<T: Counted>(&mut self, items: &mut VecDeque<T>) {
        for i in 0..items.len() {
            self.measure(items, i);
        }
    }

    fn measure<T: Counted>(&mut self, items: &mut VecDeque<T>, i: usize) {
        let Some(item) = items.get_mut(i) else {
            return;
        };
        let now = item.frame().map_or(0, Frame::resident_bytes);
        let counted = item.counted();
        if now > *counted {
            self.total = self.total.saturating_add(now - *counted);
            *counted = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    struct E(Frame, usize);

    impl Counted for E {
        fn frame(&self) -> Option<&Frame> {
            Some(&self.0)
        }
        fn counted(&mut self) -> &mut usize {
            &mut self.1
        }
    }

    #[test]
    fn every_entry_is_caught_up_within_half_len_refreshes() {
        let mut t = Tally::default();
        let mut items = VecDeque::new();
        for _ in 0..10 {
            let f = Frame::new(0, 0, 0, true, Bytes::from(vec![0u8; 100]));
            let n = t.admit(&f);
            items.push_back(E(f, n));
        }
        assert_eq!(t.total(), 1000);
        for e in &items {
            e.0.wire
                .get_or_init(0, || crate::WireParts::with_extra(100));
        }
        t.refresh(&mut items);
        assert_eq!(t.total(), 1500, "two newest and three from the cursor");
        for _ in 0..2 {
            t.refresh(&mut items);
        }
        assert_eq!(t.total(), 2000, "all caught up within ⌈10 / 2⌉ refreshes");
        t.refresh_all(&mut items);
        assert_eq!(t.total(), 2000, "nothing counted twice");
        let first = items.pop_front().map_or(0, |e| e.1);
        t.remove(first, true);
        assert_eq!(t.total(), 1800);
    }
}
