//! Following a live media playlist: which segments to fetch, and when to
//! reload (RFC 8216 §6.3.3, §6.3.4). Time comes in as `Instant`s; the
//! caller does the fetching.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::MediaPlaylist;

/// How a [`Follower`] starts and paces reloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowConfig {
    /// A live playlist is joined this many segments before its end (default
    /// 3, as §6.3.3 recommends: "at least three target durations").
    pub live_edge: usize,
    /// A playlist whose newest segment is more than this many sequence
    /// numbers below the next one expected restarted its numbering (an
    /// upstream restart): followed again from its live edge, as a
    /// discontinuity (default 3). Less is taken as a stale copy, ignored.
    pub reset_slack: u64,
    /// Shortest wait between two reloads, whatever the target duration
    /// says (default 500 ms): a target of 0 must not make a tight loop.
    pub min_reload: Duration,
}

impl Default for FollowConfig {
    fn default() -> Self {
        FollowConfig {
            live_edge: 3,
            reset_slack: 3,
            min_reload: Duration::from_millis(500),
        }
    }
}

/// A segment the caller should fetch next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentToFetch {
    /// Its media sequence number.
    pub sequence: u64,
    /// Its URI as written in the playlist ([`super::resolve`] it).
    pub uri: String,
    /// Its `EXTINF`, ms.
    pub duration_ms: u64,
    /// Its timestamps need not continue the previous segment's: a tagged
    /// `EXT-X-DISCONTINUITY`, segments skipped (fallen out of the playlist
    /// before being fetched) or a restarted numbering.
    pub discontinuity: bool,
}

/// What one playlist load changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Update {
    /// Segments queued by this load.
    pub new: usize,
    /// Segments that left the playlist before they could be queued.
    pub skipped: u64,
    /// The numbering restarted ([`FollowConfig::reset_slack`]).
    pub reset: bool,
    /// The playlist differs from the previous load.
    pub changed: bool,
}

/// Follows one media playlist: which segments to fetch next and when to
/// reload (RFC 8216 §6.3.4), as the `m3u8` module documentation describes.
#[derive(Debug)]
pub struct Follower {
    config: FollowConfig,
    /// The next sequence number to queue; `None` before the first load.
    next: Option<u64>,
    queue: VecDeque<SegmentToFetch>,
    /// (media sequence, segments, ended, last URI) of the previous load.
    last: Option<(u64, usize, bool, Option<String>)>,
    reload_at: Option<Instant>,
    ended: bool,
    /// A discontinuity for the next segment queued.
    discontinuity: bool,
}

impl Follower {
    /// A follower that has loaded nothing.
    pub fn new(config: FollowConfig) -> Follower {
        Follower {
            config,
            next: None,
            queue: VecDeque::new(),
            last: None,
            reload_at: None,
            ended: false,
            discontinuity: false,
        }
    }

    /// Takes a load of the playlist that began at `loaded_at`: queues its
    /// new segments and sets the next reload time (§6.3.4: a target
    /// duration after a load that changed the playlist, half of one after
    /// a load that did not; never when it has ended).
    pub fn update(&mut self, playlist: &MediaPlaylist, loaded_at: Instant) -> Update {
        let fingerprint = (
            playlist.media_sequence,
            playlist.segments.len(),
            playlist.ended,
            playlist.segments.last().map(|s| s.uri.clone()),
        );
        let mut update = Update {
            changed: self.last.as_ref() != Some(&fingerprint),
            ..Update::default()
        };
        self.last = Some(fingerprint);
        let first = playlist.media_sequence;
        let end = playlist.end_sequence();
        let live_start = || {
            if playlist.ended {
                first
            } else {
                end.saturating_sub(self.config.live_edge as u64).max(first)
            }
        };
        let mut discontinuity = std::mem::take(&mut self.discontinuity);
        let next = match self.next {
            None => live_start(),
            Some(next) if next > end.saturating_add(self.config.reset_slack) => {
                update.reset = true;
                discontinuity = true;
                // What was queued from the old numbering is gone upstream.
                self.queue.clear();
                live_start()
            }
            Some(next) if next < first => {
                update.skipped = first - next;
                discontinuity = true;
                first
            }
            Some(next) => next,
        };
        for s in playlist.segments.iter().filter(|s| s.sequence >= next) {
            self.queue.push_back(SegmentToFetch {
                sequence: s.sequence,
                uri: s.uri.clone(),
                duration_ms: s.duration_ms,
                discontinuity: s.discontinuity || std::mem::take(&mut discontinuity),
            });
            update.new += 1;
        }
        // A discontinuity found with no segment to carry it waits for one.
        self.discontinuity |= discontinuity;
        self.next = Some(if update.new > 0 { end } else { next });
        self.ended = playlist.ended;
        let target = Duration::from_secs(playlist.target_duration);
        let wait = if update.changed { target } else { target / 2 };
        self.reload_at = (!playlist.ended).then(|| loaded_at + wait.max(self.config.min_reload));
        update
    }

    /// The next segment to fetch, in order.
    pub fn next_segment(&mut self) -> Option<SegmentToFetch> {
        self.queue.pop_front()
    }

    /// Segments queued and not yet taken.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// When to load the playlist again: `None` before the first load and
    /// once it has ended.
    pub fn reload_at(&self) -> Option<Instant> {
        self.reload_at
    }

    /// The playlist has ended (`EXT-X-ENDLIST`) and every segment was taken.
    pub fn finished(&self) -> bool {
        self.ended && self.queue.is_empty()
    }
}
