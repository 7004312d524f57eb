//! Subscribing: order of delivery, waiting for a publisher, and its deadline (DESIGN rule 4).

use std::time::Duration;

use stream_core::{EndReason, HubEvent, StreamState, SubscribeError, SubscriberEvent};
use tokio::time::Instant;

use crate::common::*;

#[tokio::test(start_paused = true)]
async fn subscriber_gets_tracks_then_the_cached_gop_then_live_frames_in_order() {
    let hub = hub();
    let k = key("cam");
    let mut p = hub.publish(k.clone(), peer(1)).unwrap();
    p.set_tracks(av_tracks());
    // A P-frame before the first keyframe cannot be decoded by anyone: not cached.
    p.push(vframe(0, false, 10)).unwrap();
    p.push(vframe(40, true, 10)).unwrap();
    p.push(aframe(45)).unwrap();
    p.push(vframe(80, false, 10)).unwrap();
    p.push(aframe(85)).unwrap();

    let mut sub = hub.subscribe(&k, peer(9)).await.unwrap();
    p.push(vframe(120, false, 10)).unwrap();

    match next(&mut sub).await.unwrap() {
        SubscriberEvent::Tracks(t) => assert_eq!(&t[..], &av_tracks()[..]),
        other => panic!("tracks first, got {other:?}"),
    }
    let mut got = Vec::new();
    for _ in 0..5 {
        match next(&mut sub).await.unwrap() {
            SubscriberEvent::Frame(f) => got.push((f.track, f.dts_us / 1000, f.keyframe)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        got,
        vec![
            (V, 40, true),
            (A, 45, true),
            (V, 80, false),
            (A, 85, true),
            (V, 120, false)
        ]
    );
    assert!(sub.try_recv().is_none());

    // A track change reaches subscribers as a new Tracks event.
    p.set_tracks(video_only());
    assert!(matches!(next(&mut sub).await, Ok(SubscriberEvent::Tracks(t)) if t.len() == 1));
}

#[tokio::test(start_paused = true)]
async fn subscriber_before_publisher_waits_and_attaches() {
    let hub = hub();
    let k = key("cam");
    let task = {
        let hub = hub.clone();
        let k = k.clone();
        tokio::spawn(async move { hub.subscribe(&k, peer(9)).await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let snap = hub.stream(&k).unwrap();
    assert_eq!(snap.state, StreamState::Waiting);
    assert_eq!(snap.subscribers.len(), 1, "counted as a waiting subscriber");
    assert_eq!(hub.stats().subscribers, 1);

    let mut p = hub.publish(k.clone(), peer(1)).unwrap();
    let mut sub = task.await.unwrap().unwrap();
    p.set_tracks(video_only());
    p.push(vframe(0, true, 10)).unwrap();
    assert!(matches!(
        next(&mut sub).await,
        Ok(SubscriberEvent::Tracks(_))
    ));
    assert!(matches!(next(&mut sub).await, Ok(SubscriberEvent::Frame(f)) if f.keyframe));
    assert_eq!(hub.stream(&k).unwrap().state, StreamState::Live);
}

#[tokio::test(start_paused = true)]
async fn waiting_past_max_stream_wait_is_not_found_and_leaves_no_entry() {
    let hub = hub();
    let k = key("nobody");
    let mut rx = hub.events();
    let start = Instant::now();
    let err = hub.subscribe(&k, peer(9)).await.unwrap_err();
    assert_eq!(err, SubscribeError::NotFound(k.clone()));
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert!(hub.is_empty());
    assert_eq!(hub.stats().subscribers, 0);
    let evs = events(&mut rx);
    assert_eq!(
        evs,
        vec![
            HubEvent::SubscriberAdded {
                key: k.clone(),
                subscriber: peer(9)
            },
            HubEvent::SubscriberRemoved {
                key: k,
                subscriber: peer(9),
                reason: Some(EndReason::NotFound)
            }
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn cancelled_subscribe_leaves_no_entry() {
    let hub = hub();
    let k = key("nobody");
    let r = tokio::time::timeout(Duration::from_secs(1), hub.subscribe(&k, peer(9))).await;
    assert!(r.is_err(), "still waiting after 1 s");
    assert!(
        hub.is_empty(),
        "dropping the future detached the waiting subscriber"
    );
}

#[tokio::test(start_paused = true)]
async fn subscriber_of_a_lingering_stream_attaches_at_once() {
    let hub = hub();
    let k = key("cam");
    let mut p = hub.publish(k.clone(), peer(1)).unwrap();
    p.set_tracks(video_only());
    p.push(vframe(0, true, 10)).unwrap();
    drop(p);
    let start = Instant::now();
    let mut sub = hub.subscribe(&k, peer(9)).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(matches!(
        next(&mut sub).await,
        Ok(SubscriberEvent::Tracks(_))
    ));
    assert!(matches!(
        next(&mut sub).await,
        Ok(SubscriberEvent::Frame(_))
    ));
}

/// Counts the permits the gate handed out and not yet returned.
struct Permit(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn gated_subscribe_holds_the_permit_only_while_it_waits() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let hub = hub();
    let held = Arc::new(AtomicUsize::new(0));
    let gate = |held: &Arc<AtomicUsize>| {
        let held = held.clone();
        move || {
            held.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(Permit(held))
        }
    };

    // A live stream: the gate is not asked.
    let k = key("live");
    let _p = hub.publish(k.clone(), peer(1)).unwrap();
    let refuse = || Err::<(), _>("never asked for a live stream");
    assert!(hub.subscribe_gated(&k, peer(2), refuse).await.is_ok());

    // A missing stream: held during the wait, returned when it times out.
    let missing = key("missing");
    let task = {
        let (hub, k, gate) = (hub.clone(), missing.clone(), gate(&held));
        tokio::spawn(async move { hub.subscribe_gated(&k, peer(3), gate).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(held.load(Ordering::SeqCst), 1, "held while waiting");
    let r = task.await.unwrap();
    assert!(matches!(
        r,
        Err(stream_core::GatedError::Subscribe(
            SubscribeError::NotFound(_)
        ))
    ));
    assert_eq!(held.load(Ordering::SeqCst), 0, "returned at the deadline");

    // Returned when the publisher arrives.
    let late = key("late");
    let task = {
        let (hub, k, gate) = (hub.clone(), late.clone(), gate(&held));
        tokio::spawn(async move { hub.subscribe_gated(&k, peer(4), gate).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(held.load(Ordering::SeqCst), 1);
    let _q = hub.publish(late.clone(), peer(5)).unwrap();
    assert!(task.await.unwrap().is_ok());
    assert_eq!(
        held.load(Ordering::SeqCst),
        0,
        "returned when the stream went live"
    );

    // Returned when the waiting future is dropped (the player left).
    let task = {
        let (hub, k, gate) = (hub.clone(), key("gone"), gate(&held));
        tokio::spawn(async move { hub.subscribe_gated(&k, peer(6), gate).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(held.load(Ordering::SeqCst), 1);
    task.abort();
    let _ = task.await;
    assert_eq!(held.load(Ordering::SeqCst), 0, "returned on cancel");
    assert!(hub.stream(&key("gone")).is_none(), "waiting entry removed");
}

#[tokio::test(start_paused = true)]
async fn a_refused_gate_answers_at_once_and_leaves_no_waiting_entry() {
    let hub = hub();
    let k = key("missing");
    let start = Instant::now();
    let r = hub
        .subscribe_gated(&k, peer(1), || Err::<(), _>("full"))
        .await;
    assert!(matches!(r, Err(stream_core::GatedError::Gate("full"))));
    assert_eq!(start.elapsed(), Duration::ZERO, "no wait");
    assert!(hub.stream(&k).is_none());
    assert_eq!(hub.stats().subscribers, 0);
}
