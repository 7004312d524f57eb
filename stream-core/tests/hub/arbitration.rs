//! Publish conflicts are a policy (DESIGN rule 5).

use std::time::Duration;

use stream_core::{
    CloseReason, ConflictPolicy, Hub, HubConfig, HubEvent, PublishError, PushError, StreamState,
};

use crate::common::*;

#[tokio::test(start_paused = true)]
async fn reject_keeps_first_untouched_and_error_names_the_current_publisher() {
    let hub = hub();
    let k = key("cam");
    let mut first = hub.publish(k.clone(), peer(1)).unwrap();
    first.set_tracks(video_only());
    first.push(vframe(0, true, 10)).unwrap();
    let since = hub.stream(&k).unwrap().publishing_since.unwrap();

    let err = hub.publish(k.clone(), peer(2)).unwrap_err();
    match err {
        PublishError::AlreadyPublishing {
            key: ek,
            current,
            since: s,
        } => {
            assert_eq!(ek, k);
            assert_eq!(current.session_id, 1);
            assert_eq!(s, since);
        }
        other => panic!("unexpected {other:?}"),
    }
    // The first goes on untouched.
    assert!(first.is_active());
    first.push(vframe(40, false, 10)).unwrap();
    let snap = hub.stream(&k).unwrap();
    assert_eq!(snap.state, StreamState::Live);
    assert_eq!(snap.publisher.unwrap().session_id, 1);
    assert_eq!(snap.frames_in, 2);
    let closed = tokio::time::timeout(Duration::from_secs(1), first.closed()).await;
    assert!(closed.is_err(), "the first publisher was not told to stop");
}

#[tokio::test(start_paused = true)]
async fn kick_takes_over_and_the_old_guard_cannot_release_the_new_owner() {
    let hub = Hub::new(HubConfig {
        publish_conflict: ConflictPolicy::Kick,
        ..HubConfig::default()
    });
    let k = key("cam");
    let mut events_rx = hub.events();
    let mut old = hub.publish(k.clone(), peer(1)).unwrap();
    old.set_tracks(video_only());
    let mut sub = hub.subscribe(&k, peer(9)).await.unwrap();
    for i in 0..5 {
        old.push(vframe(1000 + i * 40, i == 0, 10)).unwrap();
    }

    let mut new = hub.publish(k.clone(), peer(2)).unwrap();
    assert!(new.resumed());
    assert_eq!(old.closed().await, CloseReason::TakenOver);
    assert_eq!(
        old.push(vframe(2000, false, 10)),
        Err(PushError::Closed(CloseReason::TakenOver))
    );
    assert!(!old.is_active());
    drop(old);
    let snap = hub.stream(&k).unwrap();
    assert_eq!(
        snap.state,
        StreamState::Live,
        "old guard's drop left the new owner alone"
    );
    assert_eq!(snap.publisher.unwrap().session_id, 2);

    // The new encoder starts at 0; the subscriber that stayed sees continuing time.
    new.set_tracks(video_only());
    for i in 0..5 {
        new.push(vframe(i * 40, i == 0, 10)).unwrap();
    }
    let got = frames(&drain(&mut sub));
    assert_eq!(got.len(), 10);
    assert_monotonic(&got);
    assert!(got[5].dts_us > got[4].dts_us);

    let evs = events(&mut events_rx);
    assert!(evs.contains(&HubEvent::Unpublished {
        key: k.clone(),
        publisher: peer(1)
    }));
    assert!(evs.contains(&HubEvent::Published {
        key: k.clone(),
        publisher: peer(2),
        resumed: true
    }));
}

#[tokio::test(start_paused = true)]
async fn stale_publisher_is_taken_over_under_reject() {
    let hub = hub();
    let k = key("cam");
    let mut old = hub.publish(k.clone(), peer(1)).unwrap();
    old.set_tracks(video_only());
    old.push(vframe(0, true, 10)).unwrap();

    // Media keeps it fresh: 4/5 of the idle timeout, a frame, 4/5 again is
    // never the whole timeout without media.
    let idle = HubConfig::default().publisher_idle_timeout;
    tokio::time::advance(idle * 4 / 5).await;
    old.push(vframe(40, false, 10)).unwrap();
    tokio::time::advance(idle * 4 / 5).await;
    assert!(matches!(
        hub.publish(k.clone(), peer(2)),
        Err(PublishError::AlreadyPublishing { .. })
    ));

    // Silent for publisher_idle_timeout: stale, a newcomer takes over at once.
    tokio::time::advance(idle / 5).await;
    let new = hub.publish(k.clone(), peer(3)).unwrap();
    assert!(new.resumed());
    assert_eq!(old.closed().await, CloseReason::TakenOver);
    drop(old);
    assert_eq!(hub.stream(&k).unwrap().publisher.unwrap().session_id, 3);
}

#[tokio::test(start_paused = true)]
async fn publisher_that_never_sent_media_is_stale_after_the_idle_timeout() {
    let hub = hub();
    let k = key("cam");
    let _silent = hub.publish(k.clone(), peer(1)).unwrap();
    let idle = HubConfig::default().publisher_idle_timeout;
    tokio::time::advance(idle - Duration::from_millis(1)).await;
    assert!(hub.publish(k.clone(), peer(2)).is_err());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(hub.publish(k.clone(), peer(3)).is_ok());
}

#[tokio::test(start_paused = true)]
async fn frames_for_unannounced_tracks_are_refused() {
    let hub = hub();
    let mut p = hub.publish(key("cam"), peer(1)).unwrap();
    assert_eq!(p.push(vframe(0, true, 1)), Err(PushError::UnknownTrack(V)));
    p.set_tracks(video_only());
    assert_eq!(p.push(aframe(0)), Err(PushError::UnknownTrack(A)));
    assert_eq!(p.push(vframe(0, true, 1)), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn take_over_replaces_a_live_publisher_under_reject_and_players_stay() {
    let hub = hub();
    let k = key("cam");
    let mut relay = hub.publish(k.clone(), peer(1)).unwrap();
    relay.set_tracks(video_only());
    let mut sub = hub.subscribe(&k, peer(9)).await.unwrap();
    relay.push(vframe(0, true, 10)).unwrap();
    // An ordinary publish is refused; the server's forced one is not.
    assert!(hub.publish(k.clone(), peer(2)).is_err());
    let mut own = hub.take_over(k.clone(), peer(3)).unwrap();
    assert!(own.resumed());
    assert_eq!(relay.closed().await, CloseReason::TakenOver);
    own.set_tracks(video_only());
    own.push(vframe(40, true, 10)).unwrap();
    assert_eq!(hub.stream(&k).unwrap().publisher.unwrap().session_id, 3);
    // The player was not ended by the change of publisher.
    let mut got = 0;
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(10), sub.recv()).await {
        got += 1;
    }
    assert!(
        got >= 2,
        "the player kept receiving across the take-over: {got}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_tells_how_long_the_publisher_has_been_silent() {
    let hub = hub();
    let k = key("cam");
    let mut p = hub.publish(k.clone(), peer(1)).unwrap();
    p.set_tracks(video_only());
    p.push(vframe(0, true, 10)).unwrap();
    tokio::time::advance(Duration::from_millis(2500)).await;
    let idle = hub.stream(&k).unwrap().publisher_idle.unwrap();
    assert!(idle >= Duration::from_millis(2500), "{idle:?}");
    p.push(vframe(40, false, 10)).unwrap();
    assert_eq!(hub.stream(&k).unwrap().publisher_idle, Some(Duration::ZERO));
    drop(p);
    assert_eq!(hub.stream(&k).unwrap().publisher_idle, None);
}
