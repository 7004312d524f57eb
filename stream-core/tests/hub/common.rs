//! Helpers shared by the behaviour tests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use stream_core::{
    Codec, EndReason, Frame, Hub, HubConfig, HubEvent, PeerInfo, Protocol, StreamKey, Subscriber,
    SubscriberEvent, Track,
};

pub const V: u8 = 0;
pub const A: u8 = 1;

pub fn key(name: &str) -> StreamKey {
    StreamKey::new("live", name)
}

pub fn peer(id: u64) -> PeerInfo {
    PeerInfo {
        session_id: id,
        protocol: Protocol::Rtmp,
        peer: None,
    }
}

pub fn hub() -> Hub {
    Hub::new(HubConfig::default())
}

pub fn av_tracks() -> Vec<Track> {
    let mut v = Track::new(V, Codec::H264, 90_000);
    v.config = Bytes::from_static(&[1, 0x64, 0, 0x1f]);
    v.width = Some(1280);
    v.height = Some(720);
    let mut a = Track::new(A, Codec::Aac, 48_000);
    a.config = Bytes::from_static(&[0x11, 0x90]);
    a.sample_rate = Some(48_000);
    a.channels = Some(2);
    vec![v, a]
}

pub fn video_only() -> Vec<Track> {
    vec![Track::new(V, Codec::H264, 90_000)]
}

pub fn vframe(dts_ms: i64, keyframe: bool, size: usize) -> Frame {
    Frame {
        track: V,
        dts_us: dts_ms * 1000,
        pts_us: dts_ms * 1000,
        keyframe,
        payload: Bytes::from(vec![0u8; size]),
        wire: Default::default(),
    }
}

pub fn aframe(dts_ms: i64) -> Frame {
    Frame {
        track: A,
        dts_us: dts_ms * 1000,
        pts_us: dts_ms * 1000,
        keyframe: true,
        payload: Bytes::from_static(&[0x21, 0x10, 0x04]),
        wire: Default::default(),
    }
}

/// Everything queued right now.
pub fn drain(sub: &mut Subscriber) -> Vec<Result<SubscriberEvent, EndReason>> {
    let mut out = Vec::new();
    while let Some(ev) = sub.try_recv() {
        let end = ev.is_err();
        out.push(ev);
        if end {
            break;
        }
    }
    out
}

/// The frames among `events`.
pub fn frames(events: &[Result<SubscriberEvent, EndReason>]) -> Vec<Arc<Frame>> {
    events
        .iter()
        .filter_map(|e| match e {
            Ok(SubscriberEvent::Frame(f)) => Some(Arc::clone(f)),
            _ => None,
        })
        .collect()
}

/// Waits (on the paused clock) for the next event, failing the test after 60 s.
pub async fn next(sub: &mut Subscriber) -> Result<SubscriberEvent, EndReason> {
    tokio::time::timeout(Duration::from_secs(60), sub.recv())
        .await
        .expect("subscriber got nothing within 60 s")
}

/// Lets spawned timer tasks run.
pub async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// Every event received so far.
pub fn events(rx: &mut tokio::sync::broadcast::Receiver<HubEvent>) -> Vec<HubEvent> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

/// Asserts dts never decreases per track.
pub fn assert_monotonic(frames: &[Arc<Frame>]) {
    let mut last: [Option<i64>; 256] = [None; 256];
    for f in frames {
        let slot = &mut last[usize::from(f.track)];
        if let Some(prev) = *slot {
            assert!(
                f.dts_us >= prev,
                "track {} went back: {} after {}",
                f.track,
                f.dts_us,
                prev
            );
        }
        *slot = Some(f.dts_us);
    }
}
