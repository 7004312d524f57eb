//! The caps of playback: downloads at once (`record.max_gets`, and
//! `record.max_gets_per_ip` per client address) and replays at once
//! (`record.max_replays`). A slot is a guard: dropping it frees the place,
//! whatever ended the download or the replay.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::server::Shared;

/// Playback in progress (`Shared::playback`).
#[derive(Debug, Default)]
pub struct PlaybackSlots {
    /// Downloads: in total, and per client address.
    gets: Mutex<(usize, HashMap<IpAddr, usize>)>,
    replays: AtomicUsize,
}

impl PlaybackSlots {
    /// Downloads in progress.
    pub fn gets(&self) -> usize {
        crate::session::lock(&self.gets).0
    }

    /// The catalogue and root of the recordings. Blocking (the catalogue
    /// opens when first needed): call it on the blocking pool.
    ///
    /// # Errors
    /// The catalogue cannot be opened.
    pub fn store(
        shared: &Shared,
    ) -> Result<(Arc<super::catalogue::Catalogue>, std::path::PathBuf), super::RecordError> {
        let recordings = &shared.recordings;
        Ok((
            recordings.catalogue()?.clone(),
            recordings.root().to_path_buf(),
        ))
    }

    /// Replays in progress.
    pub fn replays(&self) -> usize {
        self.replays.load(Ordering::Relaxed)
    }
}

/// A download's place under the caps.
#[derive(Debug)]
pub struct GetSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl GetSlot {
    /// Takes a place for a download from `ip`; `Err` names the cap reached.
    pub fn take(shared: &Arc<Shared>, ip: IpAddr) -> Result<GetSlot, &'static str> {
        let config = &shared.config.record;
        let mut gets = crate::session::lock(&shared.playback.gets);
        if gets.0 >= config.max_gets {
            return Err("record.max_gets");
        }
        let mine = gets.1.entry(ip).or_default();
        if *mine >= config.max_gets_per_ip {
            return Err("record.max_gets_per_ip");
        }
        *mine += 1;
        gets.0 += 1;
        shared
            .recordings
            .metrics()
            .gets
            .fetch_add(1, Ordering::Relaxed);
        Ok(GetSlot {
            shared: shared.clone(),
            ip,
        })
    }
}

impl Drop for GetSlot {
    fn drop(&mut self) {
        let mut gets = crate::session::lock(&self.shared.playback.gets);
        gets.0 = gets.0.saturating_sub(1);
        let gauge = &self.shared.recordings.metrics().gets;
        gauge.fetch_sub(1, Ordering::Relaxed);
        if let Some(n) = gets.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                gets.1.remove(&self.ip);
            }
        }
    }
}

/// A replay's place under `record.max_replays`.
#[derive(Debug)]
pub struct ReplaySlot {
    shared: Arc<Shared>,
}

impl ReplaySlot {
    /// Takes a place for a replay; `None` when `record.max_replays` run.
    pub fn take(shared: &Arc<Shared>) -> Option<ReplaySlot> {
        let max = shared.config.record.max_replays;
        shared
            .playback
            .replays
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        let gauge = &shared.recordings.metrics().replays;
        gauge.fetch_add(1, Ordering::Relaxed);
        Some(ReplaySlot {
            shared: shared.clone(),
        })
    }
}

impl Drop for ReplaySlot {
    fn drop(&mut self) {
        self.shared.playback.replays.fetch_sub(1, Ordering::AcqRel);
        let gauge = &self.shared.recordings.metrics().replays;
        gauge.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn shared(max_gets: usize, per_ip: usize) -> Arc<Shared> {
        let mut config = Config::default();
        config.record.max_gets = max_gets;
        config.record.max_gets_per_ip = per_ip;
        Shared::standalone(config).expect("shared").0
    }

    #[test]
    fn downloads_above_the_caps_are_refused_and_places_come_back() {
        let shared = shared(5, 3);
        let (a, b, c) = (
            IpAddr::from([127, 0, 0, 2]),
            IpAddr::from([127, 0, 0, 1]),
            IpAddr::from([127, 0, 0, 3]),
        );
        // One address above its own cap: refused, others still served.
        let mine: Vec<_> = (0..3)
            .map(|_| GetSlot::take(&shared, a).expect("a"))
            .collect();
        assert_eq!(
            GetSlot::take(&shared, a).err(),
            Some("record.max_gets_per_ip")
        );
        let theirs: Vec<_> = (0..2)
            .map(|_| GetSlot::take(&shared, b).expect("b"))
            .collect();
        // The total cap, whoever asks.
        assert_eq!(GetSlot::take(&shared, c).err(), Some("record.max_gets"));
        assert_eq!(shared.playback.gets(), 5);
        drop(mine);
        assert_eq!(shared.playback.gets(), 2);
        assert!(GetSlot::take(&shared, a).is_ok());
        assert!(GetSlot::take(&shared, c).is_ok());
        drop(theirs);
        assert_eq!(shared.playback.gets(), 0);
        assert!(crate::session::lock(&shared.playback.gets).1.is_empty());
    }
}
