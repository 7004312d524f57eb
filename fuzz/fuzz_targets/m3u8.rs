//! M3U8 playlists: parsing arbitrary bytes never panics and what parses is within
//! the limits; a media playlist fed to the live follower (twice, the second load
//! later) yields only segments of the playlist, in order; every URI resolves
//! against a base taken from the input without panicking.
#![no_main]

use std::time::{Duration, Instant};

use hls_seg::m3u8::{parse, resolve, FollowConfig, Follower, Limits, Playlist};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let base = String::from_utf8_lossy(data.get(..data.len().min(40)).unwrap_or_default());
    let Ok(playlist) = parse(data, &limits) else {
        return;
    };
    assert!(data.len() <= limits.max_bytes);
    match playlist {
        Playlist::Master(m) => {
            assert!(m.variants.len() <= limits.max_variants);
            if let Some(v) = m.pick() {
                assert!(m.variants.iter().all(|o| o.bandwidth <= v.bandwidth));
                let _ = resolve(&base, &v.uri);
            }
        }
        Playlist::Media(m) => {
            assert!(m.segments.len() <= limits.max_segments);
            let t = Instant::now();
            let mut f = Follower::new(FollowConfig::default());
            for load in 0..2u64 {
                f.update(&m, t + Duration::from_secs(load));
                let mut last = None;
                while let Some(s) = f.next_segment() {
                    assert!(s.sequence >= m.media_sequence && s.sequence < m.end_sequence());
                    assert!(last.is_none_or(|l| s.sequence > l));
                    last = Some(s.sequence);
                    let _ = resolve(&base, &s.uri);
                }
            }
        }
    }
});
