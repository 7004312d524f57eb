//! GOP cache bounds and bounded fan-out (DESIGN rule 3).

use std::time::Duration;

use stream_core::{EndReason, Hub, HubConfig, HubEvent, SubscriberEvent};

use crate::common::*;

/// Frames a brand-new subscriber receives from the GOP cache.
async fn cached(hub: &Hub, name: &str) -> Vec<i64> {
    let mut sub = hub.subscribe(&key(name), peer(100)).await.unwrap();
    frames(&drain(&mut sub))
        .iter()
        .map(|f| f.dts_us / 1000)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn gop_cache_byte_bound() {
    let hub = Hub::new(HubConfig {
        gop_cache_max_bytes: 1000,
        ..HubConfig::default()
    });
    let mut p = hub.publish(key("cam"), peer(1)).unwrap();
    p.set_tracks(video_only());
    p.push(vframe(0, true, 400)).unwrap();
    p.push(vframe(40, false, 400)).unwrap();
    assert_eq!(cached(&hub, "cam").await, vec![0, 40]);
    p.push(vframe(80, false, 400)).unwrap();
    assert_eq!(
        cached(&hub, "cam").await,
        Vec::<i64>::new(),
        "over 1000 bytes: cleared"
    );
    p.push(vframe(120, false, 10)).unwrap();
    assert_eq!(
        cached(&hub, "cam").await,
        Vec::<i64>::new(),
        "until the next keyframe"
    );
    p.push(vframe(160, true, 10)).unwrap();
    assert_eq!(cached(&hub, "cam").await, vec![160]);
}

#[tokio::test(start_paused = true)]
async fn gop_cache_duration_bound() {
    let hub = Hub::new(HubConfig {
        gop_cache_max_duration: Duration::from_secs(1),
        ..HubConfig::default()
    });
    let mut p = hub.publish(key("cam"), peer(1)).unwrap();
    p.set_tracks(video_only());
    for i in 0..=10 {
        p.push(vframe(i * 100, i == 0, 10)).unwrap();
    }
    assert_eq!(cached(&hub, "cam").await.len(), 11, "exactly 1 s is kept");
    p.push(vframe(1100, false, 10)).unwrap();
    assert!(cached(&hub, "cam").await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn audio_only_stream_caches_a_short_tail() {
    let hub = Hub::new(HubConfig {
        gop_cache_max_duration: Duration::from_millis(100),
        ..HubConfig::default()
    });
    let mut p = hub.publish(key("radio"), peer(1)).unwrap();
    p.set_tracks(vec![stream_core::Track::new(
        A,
        stream_core::Codec::Aac,
        48_000,
    )]);
    for i in 0..50 {
        p.push(aframe(i * 20)).unwrap();
    }
    assert_eq!(
        cached(&hub, "radio").await,
        vec![880, 900, 920, 940, 960, 980]
    );
}

#[tokio::test(start_paused = true)]
async fn lagging_subscriber_skips_to_the_next_keyframe_with_drops_counted() {
    let hub = Hub::new(HubConfig {
        subscriber_queue_frames: 8,
        ..HubConfig::default()
    });
    let k = key("cam");
    let mut p = hub.publish(k.clone(), peer(1)).unwrap();
    p.set_tracks(video_only());
    let mut slow = hub.subscribe(&k, peer(9)).await.unwrap();
    for i in 0..16 {
        p.push(vframe(i * 40, i % 10 == 0, 10)).unwrap();
    }
    // 0..=7 queued, 8 overflows: 0..=8 dropped, 9 skipped, 10 (keyframe) resumes.
    let got = drain(&mut slow);
    assert!(
        matches!(got[0], Ok(SubscriberEvent::Tracks(_))),
        "tracks survive the skip"
    );
    let dts: Vec<i64> = frames(&got).iter().map(|f| f.dts_us / 1000).collect();
    assert_eq!(dts, vec![400, 440, 480, 520, 560, 600]);
    assert!(frames(&got)[0].keyframe);
    assert_eq!(slow.dropped_frames(), 10);
    let snap = hub.stream(&k).unwrap();
    assert_eq!(snap.drops, 10);
    assert_eq!(snap.subscribers[0].drops, 10);
    assert_eq!(snap.subscribers[0].frames_out, 6);
    assert_eq!(hub.stats().drops, 10);
}

#[tokio::test(start_paused = true)]
async fn never_reading_subscriber_is_disconnected_while_the_others_get_every_frame() {
    let hub = hub();
    let k = key("cam");
    let mut rx = hub.events();
    let mut p = hub.publish(k.clone(), peer(1)).unwrap();
    p.set_tracks(av_tracks());
    let mut stuck = hub.subscribe(&k, peer(8)).await.unwrap();
    let mut reader = hub.subscribe(&k, peer(9)).await.unwrap();
    let mut received = 0usize;
    let mut pushed = 0usize;
    // 20 s of 25 fps video + audio with 4 kB frames, pushed in real time (paused clock).
    for i in 0..500 {
        tokio::time::sleep(Duration::from_millis(40)).await;
        p.push(vframe(i * 40, i % 50 == 0, 4096)).unwrap();
        p.push(aframe(i * 40 + 10)).unwrap();
        pushed += 2;
        received += frames(&drain(&mut reader)).len();
    }
    assert_eq!(received, pushed, "the reading subscriber got every frame");
    assert_eq!(reader.dropped_frames(), 0);
    assert_eq!(
        stuck.try_recv(),
        Some(Err(EndReason::Lagged)),
        "queue freed, ends at once"
    );
    let snap = hub.stream(&k).unwrap();
    assert_eq!(snap.subscribers.len(), 1, "removed from the stream at once");
    assert_eq!(snap.subscribers[0].who.session_id, 9);
    assert_eq!(snap.frames_in, 1000);
    // (4096 + 3) bytes every 40 ms = 819.8 kbit/s.
    assert!(
        (800_000..=840_000).contains(&snap.bitrate_bps),
        "bitrate {}",
        snap.bitrate_bps
    );
    let removed: Vec<_> = events(&mut rx)
        .into_iter()
        .filter(|e| matches!(e, HubEvent::SubscriberRemoved { .. }))
        .collect();
    assert_eq!(
        removed,
        vec![HubEvent::SubscriberRemoved {
            key: k.clone(),
            subscriber: peer(8),
            reason: Some(EndReason::Lagged)
        }]
    );
    let stats = hub.stats();
    assert_eq!(stats.frames_in, 1000);
    assert_eq!(stats.subscribers, 1);
    assert!(stats.bytes_out >= 500 * 4096);
}

#[tokio::test(start_paused = true)]
async fn never_reading_subscriber_is_dropped_within_max_lag() {
    let hub = hub();
    let k = key("cam");
    let mut p = hub.publish(k.clone(), peer(1)).unwrap();
    p.set_tracks(video_only());
    let mut stuck = hub.subscribe(&k, peer(8)).await.unwrap();
    let mut lagged_at = None;
    for i in 0..500 {
        tokio::time::sleep(Duration::from_millis(40)).await;
        p.push(vframe(i * 40, i % 50 == 0, 100)).unwrap();
        if lagged_at.is_none() && hub.stream(&k).unwrap().subscribers.is_empty() {
            lagged_at = Some(i * 40);
        }
    }
    let at = lagged_at.expect("disconnected");
    assert!(
        at > 5_000 && at <= 5_040,
        "disconnected at {at} ms of stream time"
    );
    assert_eq!(stuck.recv().await, Err(EndReason::Lagged));
}

#[tokio::test(start_paused = true)]
async fn a_timestamp_jump_does_not_disconnect_healthy_subscribers() {
    let hub = hub();
    let k = key("cam");
    let mut p = hub.publish(k.clone(), peer(1)).unwrap();
    p.set_tracks(av_tracks());
    let mut sub = hub.subscribe(&k, peer(9)).await.unwrap();
    let mut got = 0;
    for i in 0..100 {
        tokio::time::sleep(Duration::from_millis(40)).await;
        // The camera's clock jumps by an hour halfway, while the player still has the
        // previous audio frame queued: an hour behind in dts, 40 ms on the clock.
        let jump = if i >= 50 { 3_600_000 } else { 0 };
        p.push(vframe(jump + i * 40, i % 25 == 0, 100)).unwrap();
        got += frames(&drain(&mut sub)).len();
        p.push(aframe(jump + i * 40 + 5)).unwrap();
    }
    got += frames(&drain(&mut sub)).len();
    assert_eq!(got, 200);
    assert_eq!(hub.stream(&k).unwrap().subscribers.len(), 1);
}

/// Fills every wire slot of `frame` with a form of `size` resident bytes (its one part and
/// its part list), as players of every format do.
fn fill_forms(frame: &stream_core::Frame, size: usize) {
    let own = size - std::mem::size_of::<bytes::Bytes>();
    for slot in 0..stream_core::WireCache::SLOTS {
        frame
            .wire
            .get_or_init(slot, || bytes::Bytes::from(vec![1u8; own]).into());
    }
}

#[tokio::test(start_paused = true)]
async fn snapshot_reports_resident_bytes_and_the_gop_bound_counts_wire_forms() {
    let hub = Hub::new(HubConfig {
        gop_cache_max_bytes: 12_000,
        ..HubConfig::default()
    });
    let mut p = hub.publish(key("cam"), peer(1)).unwrap();
    p.set_tracks(video_only());
    let mut sub = hub.subscribe(&key("cam"), peer(2)).await.unwrap();
    p.push(vframe(0, true, 1000)).unwrap();
    let snap = hub.stream(&key("cam")).unwrap();
    assert_eq!((snap.gop_bytes, snap.resident_bytes), (1000, 1000));
    assert_eq!(snap.subscribers[0].queued_bytes, 1000);
    // The player encodes the keyframe in every format: 1,000 + 4 × 1,000.
    for f in frames(&drain(&mut sub)) {
        fill_forms(&f, 1000);
    }
    let snap = hub.stream(&key("cam")).unwrap();
    assert_eq!((snap.gop_bytes, snap.resident_bytes), (5000, 5000));
    p.push(vframe(40, false, 1000)).unwrap();
    let snap = hub.stream(&key("cam")).unwrap();
    assert_eq!(
        (snap.gop_bytes, snap.resident_bytes),
        (6000, 6000),
        "the queued frame is the GOP's own: counted once"
    );
    for f in frames(&drain(&mut sub)) {
        fill_forms(&f, 1000);
    }
    // 5,000 + 5,000 + 1,000 fits; with its forms the third frame makes 15,000 > 12,000,
    // which the next measure sees and applies. By payload (3,000) it would have stayed.
    p.push(vframe(80, false, 1000)).unwrap();
    for f in frames(&drain(&mut sub)) {
        fill_forms(&f, 1000);
    }
    let snap = hub.stream(&key("cam")).unwrap();
    assert_eq!((snap.gop_bytes, snap.resident_bytes), (0, 0));
    assert!(
        cached(&hub, "cam").await.is_empty(),
        "until the next keyframe"
    );
}
