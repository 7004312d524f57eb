//! Replays run in-process: recordings written by [`super::super::synthetic`],
//! replayed into the hub and read back by a subscriber.

use std::sync::Arc;
use std::time::Duration;

use stream_core::{PeerInfo, StreamKey, SubscriberEvent};

use super::{start_replay, ReplayRequest, ReplaySource};
use crate::config::Config;
use crate::record::catalogue::Catalogue;
use crate::record::fixtures::{audio, video, TempDir};
use crate::record::playback::tests::{fragments, record, temp, T0};
use crate::record::RecordError;
use crate::server::Shared;

/// A server whose recordings hold 2 s of live/cam at T0, and the directory
/// they are in (removed when dropped).
fn server(name: &str, max_replays: usize) -> (Arc<Shared>, TempDir) {
    let root = temp(name);
    let cat = Catalogue::open(&root.join(".catalogue.redb")).unwrap();
    record(
        &root,
        &cat,
        T0,
        &[video(640, 360), audio()],
        fragments(2, 1),
    );
    drop(cat);
    let mut config = Config::default();
    config.record.dir = root.to_str().unwrap().to_string();
    config.record.max_replays = max_replays;
    config.stream.continue_push_ms = 0;
    (Shared::standalone(config).unwrap().0, root)
}

fn request(target: &str, repeat: bool) -> ReplayRequest {
    ReplayRequest {
        key: StreamKey::new("replay", target),
        source: ReplaySource::Range {
            stream: StreamKey::new("live", "cam"),
            start_ms: T0,
            duration_ms: 2_000,
        },
        repeat,
    }
}

/// Video decode times (µs) read from `key` until the stream ends or
/// `enough` of them came, within 15 s.
async fn video_times(shared: &Shared, key: &StreamKey, enough: usize) -> Vec<i64> {
    let mut sub = shared
        .hub
        .subscribe(key, PeerInfo::internal(7))
        .await
        .unwrap();
    let mut times = Vec::new();
    let read = async {
        while times.len() < enough {
            match sub.recv().await {
                Ok(SubscriberEvent::Frame(f)) if f.track == 0 => times.push(f.dts_us),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), read)
        .await
        .unwrap();
    times
}

/// Waits (at most 5 s) until no replay runs.
async fn freed(shared: &Shared) {
    let freed = async {
        while shared.playback.replays() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), freed)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_replays_paced_then_ends_and_frees_its_place() {
    let (shared, _dir) = server("replay-once", 1);
    let info = start_replay(&shared, request("once", false)).await.unwrap();
    assert_eq!(
        (info.start_ms, info.duration_ms, info.files),
        (T0, 2_000, 1)
    );
    let began = std::time::Instant::now();
    let times = video_times(&shared, &info.key, usize::MAX).await;
    assert_eq!(times.len(), 50, "two seconds at 25 fps");
    assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
    assert!(
        began.elapsed() >= Duration::from_millis(1_500),
        "paced: {:?}",
        began.elapsed()
    );
    freed(&shared).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_replay_continues_its_times_until_closed_and_is_capped() {
    let (shared, _dir) = server("replay-repeat", 1);
    let info = start_replay(&shared, request("loop", true)).await.unwrap();
    assert!(matches!(
        start_replay(&shared, request("second", false)).await,
        Err(RecordError::Busy { .. })
    ));
    // Past the end of the first pass: times keep increasing.
    let times = video_times(&shared, &info.key, 60).await;
    assert_eq!(times.len(), 60);
    assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
    assert!(shared.hub.close_stream(&info.key));
    freed(&shared).await;
    let missing = ReplayRequest {
        source: ReplaySource::File("live/cam/2026-12-06/11-00-00.mp4".into()),
        ..request("file", false)
    };
    assert!(matches!(
        start_replay(&shared, missing).await,
        Err(RecordError::NothingRecorded)
    ));
    let file = ReplayRequest {
        source: ReplaySource::File("live/cam/2026-12-06/10-00-00.mp4".into()),
        ..request("file", false)
    };
    let info = start_replay(&shared, file).await.unwrap();
    assert_eq!(info.duration_ms, 2_000);
}
