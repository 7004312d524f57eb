//! Guard release on every path, resume, linger expiry, no-reader, close and shutdown.

use std::time::Duration;

use stream_core::{
    CloseReason, EndReason, Hub, HubConfig, HubEvent, PublishError, PushError, StreamCloseReason,
    StreamState, SubscribeError,
};

use crate::common::*;

fn assert_released(hub: &Hub, name: &str) {
    let snap = hub.stream(&key(name)).expect("the stream lingers");
    assert_eq!(snap.state, StreamState::Lingering);
    assert!(snap.publisher.is_none());
    assert_eq!(hub.stats().publishers, 0);
    // Under Reject, a newcomer is accepted at once: nothing claims the key any more.
    let p = hub.publish(key(name), peer(99)).unwrap();
    assert!(p.resumed());
}

#[tokio::test(start_paused = true)]
async fn guard_drop_on_normal_end_releases_the_stream() {
    let hub = hub();
    let mut p = hub.publish(key("a"), peer(1)).unwrap();
    p.set_tracks(video_only());
    p.push(vframe(0, true, 10)).unwrap();
    drop(p);
    assert_released(&hub, "a");
}

#[tokio::test(start_paused = true)]
async fn guard_drop_on_panic_releases_the_stream() {
    let hub = hub();
    let p = hub.publish(key("a"), peer(1)).unwrap();
    let task = tokio::spawn(async move {
        let mut p = p;
        p.set_tracks(video_only());
        p.push(vframe(0, true, 10)).unwrap();
        panic!("the session crashed while publishing");
    });
    let err = task.await.unwrap_err();
    assert!(err.is_panic());
    assert_released(&hub, "a");
}

#[tokio::test(start_paused = true)]
async fn guard_drop_on_task_abort_releases_the_stream() {
    let hub = hub();
    let p = hub.publish(key("a"), peer(1)).unwrap();
    let task = tokio::spawn(async move {
        let reason = p.closed().await;
        drop(p);
        reason
    });
    settle().await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_released(&hub, "a");
}

#[test]
fn guard_drop_outside_a_runtime_does_not_panic_and_expiry_is_applied_lazily() {
    let hub = Hub::new(HubConfig {
        continue_push: Duration::ZERO,
        ..HubConfig::default()
    });
    let p = hub.publish(key("a"), peer(1)).unwrap();
    assert!(!hub.is_empty());
    drop(p);
    assert!(
        hub.is_empty(),
        "the zero-length linger expired on the next hub call"
    );
}

#[tokio::test(start_paused = true)]
async fn resume_within_continue_push_keeps_subscribers_and_dts_non_decreasing() {
    let hub = hub();
    let k = key("cam");
    let mut rx = hub.events();
    let mut a = hub.publish(k.clone(), peer(1)).unwrap();
    assert!(!a.resumed());
    a.set_tracks(av_tracks());
    let mut sub = hub.subscribe(&k, peer(9)).await.unwrap();
    for i in 0..25 {
        a.push(vframe(5_000 + i * 40, i % 10 == 0, 100)).unwrap();
        a.push(aframe(5_000 + i * 40 + 5)).unwrap();
    }
    drop(a);
    tokio::time::sleep(Duration::from_secs(14)).await;
    assert_eq!(hub.stream(&k).unwrap().state, StreamState::Lingering);

    let mut b = hub.publish(k.clone(), peer(2)).unwrap();
    assert!(b.resumed());
    b.set_tracks(av_tracks());
    // The new encoder restarts at zero, with audio a little before video.
    for i in 0..25 {
        b.push(aframe(i * 40)).unwrap();
        b.push(vframe(i * 40 + 3, i % 10 == 0, 100)).unwrap();
    }
    let got = drain(&mut sub);
    assert!(
        got.iter().all(Result::is_ok),
        "the subscriber stayed attached"
    );
    let fs = frames(&got);
    assert_eq!(fs.len(), 100);
    assert_monotonic(&fs);
    assert_eq!(hub.stream(&k).unwrap().subscribers.len(), 1);
    assert!(events(&mut rx).contains(&HubEvent::Published {
        key: k.clone(),
        publisher: peer(2),
        resumed: true
    }));
}

#[tokio::test(start_paused = true)]
async fn after_the_window_subscribers_get_stream_ended_and_the_registry_is_empty() {
    let hub = hub();
    let k = key("cam");
    let mut rx = hub.events();
    let mut p = hub.publish(k.clone(), peer(1)).unwrap();
    p.set_tracks(video_only());
    let mut sub = hub.subscribe(&k, peer(9)).await.unwrap();
    p.push(vframe(0, true, 10)).unwrap();
    drop(p);
    tokio::time::sleep(Duration::from_millis(15_001)).await;
    settle().await;
    // Queued media is still delivered, then the end.
    assert!(matches!(
        next(&mut sub).await,
        Ok(stream_core::SubscriberEvent::Tracks(_))
    ));
    assert!(matches!(
        next(&mut sub).await,
        Ok(stream_core::SubscriberEvent::Frame(_))
    ));
    assert_eq!(next(&mut sub).await, Err(EndReason::StreamEnded));
    assert_eq!(next(&mut sub).await, Err(EndReason::StreamEnded), "sticky");
    assert!(hub.is_empty());
    assert!(events(&mut rx).contains(&HubEvent::StreamClosed {
        key: k,
        reason: StreamCloseReason::LingerExpired
    }));
    drop(sub);
    assert_eq!(hub.stats().subscribers, 0);
}

#[tokio::test(start_paused = true)]
async fn no_reader_event_fires_once_per_idle_period() {
    let hub = hub();
    let k = key("cam");
    let mut rx = hub.events();
    let p = hub.publish(k.clone(), peer(1)).unwrap();
    tokio::time::sleep(Duration::from_secs(21)).await;
    settle().await;
    let count = |evs: &[HubEvent]| {
        evs.iter()
            .filter(|e| matches!(e, HubEvent::NoReader { .. }))
            .count()
    };
    assert_eq!(count(&events(&mut rx)), 1);
    tokio::time::sleep(Duration::from_secs(60)).await;
    settle().await;
    assert_eq!(count(&events(&mut rx)), 0, "once per idle period");
    assert!(p.is_active(), "not closed unless configured");

    // A reader comes and goes: a new idle period.
    let sub = hub.subscribe(&k, peer(9)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    settle().await;
    assert_eq!(count(&events(&mut rx)), 0, "no event while watched");
    drop(sub);
    tokio::time::sleep(Duration::from_secs(21)).await;
    settle().await;
    assert_eq!(count(&events(&mut rx)), 1);
}

#[tokio::test(start_paused = true)]
async fn no_reader_closes_the_stream_when_configured() {
    let hub = Hub::new(HubConfig {
        close_on_no_reader: true,
        ..HubConfig::default()
    });
    let k = key("cam");
    let mut p = hub.publish(k.clone(), peer(1)).unwrap();
    p.set_tracks(video_only());
    let reason = tokio::time::timeout(Duration::from_secs(25), p.closed()).await;
    assert_eq!(reason, Ok(CloseReason::NoReader));
    assert_eq!(
        p.push(vframe(0, true, 1)),
        Err(PushError::Closed(CloseReason::NoReader))
    );
    assert!(hub.is_empty());
}

#[tokio::test(start_paused = true)]
async fn close_stream_ends_everyone_with_closed_and_frees_the_key() {
    let hub = hub();
    let k = key("cam");
    let mut rx = hub.events();
    let mut p = hub.publish(k.clone(), peer(1)).unwrap();
    p.set_tracks(video_only());
    p.push(vframe(0, true, 10)).unwrap();
    let mut s1 = hub.subscribe(&k, peer(8)).await.unwrap();
    let mut s2 = hub.subscribe(&k, peer(9)).await.unwrap();

    // closed() is cancel-safe: a select! loop polls it, gives up, and polls it again.
    for _ in 0..3 {
        let r = tokio::time::timeout(Duration::from_millis(10), p.closed()).await;
        assert!(r.is_err());
    }
    assert!(hub.close_stream(&k));
    assert!(!hub.close_stream(&k));
    assert_eq!(p.closed().await, CloseReason::Closed);
    assert_eq!(
        p.closed().await,
        CloseReason::Closed,
        "may be awaited again"
    );
    assert_eq!(
        next(&mut s1).await,
        Err(EndReason::Closed),
        "queue freed at once"
    );
    assert_eq!(next(&mut s2).await, Err(EndReason::Closed));
    assert!(hub.is_empty());
    let q = hub.publish(k.clone(), peer(2)).unwrap();
    assert!(!q.resumed(), "a fresh stream");
    drop(p);
    assert_eq!(hub.stream(&k).unwrap().publisher.unwrap().session_id, 2);
    let evs = events(&mut rx);
    assert!(evs.contains(&HubEvent::StreamClosed {
        key: k.clone(),
        reason: StreamCloseReason::Closed
    }));
    assert!(evs.contains(&HubEvent::SubscriberRemoved {
        key: k,
        subscriber: peer(8),
        reason: Some(EndReason::Closed)
    }));
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_everyone_and_refuses_new_work() {
    let hub = hub();
    let k = key("cam");
    let p = hub.publish(k.clone(), peer(1)).unwrap();
    let mut sub = hub.subscribe(&k, peer(9)).await.unwrap();
    let waiting = {
        let hub = hub.clone();
        tokio::spawn(async move { hub.subscribe(&key("later"), peer(10)).await.map(|_| ()) })
    };
    settle().await;
    assert_eq!(
        hub.stream(&key("later")).unwrap().state,
        StreamState::Waiting
    );

    hub.shutdown();
    assert_eq!(p.closed().await, CloseReason::Shutdown);
    assert_eq!(next(&mut sub).await, Err(EndReason::Shutdown));
    assert_eq!(waiting.await.unwrap(), Err(SubscribeError::ShuttingDown));
    assert!(matches!(
        hub.publish(k.clone(), peer(2)),
        Err(PublishError::ShuttingDown)
    ));
    assert_eq!(
        hub.subscribe(&k, peer(3)).await.err(),
        Some(SubscribeError::ShuttingDown)
    );
    drop(p);
    drop(sub);
    assert!(hub.is_empty());
    assert_eq!(hub.stats().subscribers, 0);
}

/// Tasks alive on the test's runtime: the hub's timer tasks, nothing else.
fn timer_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test(start_paused = true)]
async fn no_timer_task_outlives_the_deadline_it_serves() {
    let hub = hub();
    // Churn: streams published, watched, left by their player and their publisher. Each
    // step arms or withdraws a no-reader (20 s) or linger (15 s) deadline.
    for i in 0..100 {
        let k = key(&format!("churn{i}"));
        let p = hub.publish(k.clone(), peer(1)).unwrap();
        let s = hub.subscribe(&k, peer(2)).await.unwrap();
        drop(s);
        drop(p);
    }
    settle().await;
    assert_eq!(timer_tasks(), 100, "one linger timer per lingering stream");
    tokio::time::sleep(Duration::from_secs(15) + Duration::from_millis(1)).await;
    settle().await;
    assert!(hub.streams().is_empty());
    assert_eq!(
        timer_tasks(),
        0,
        "closed streams leave no timer, no-reader ones included"
    );

    // Players flapping on one live stream keep one no-reader timer at most.
    let p = hub.publish(key("flap"), peer(1)).unwrap();
    for _ in 0..100 {
        let s = hub.subscribe(&key("flap"), peer(3)).await.unwrap();
        drop(s);
    }
    settle().await;
    assert_eq!(timer_tasks(), 1);
    // A publisher that resumes within the linger withdraws the linger timer.
    drop(p);
    let p = hub.publish(key("flap"), peer(4)).unwrap();
    assert!(p.resumed());
    settle().await;
    assert_eq!(timer_tasks(), 1, "only the new no-reader timer");
    drop(p);
    hub.close_stream(&key("flap"));
    settle().await;
    assert_eq!(timer_tasks(), 0);
}

/// Distinct track sets: video of width `n`.
fn tracks_of_width(n: u32) -> Vec<stream_core::Track> {
    let mut v = video_only();
    v[0].width = Some(n);
    v
}

#[tokio::test(start_paused = true)]
async fn a_publisher_changing_tracks_too_often_is_told_to_stop() {
    use stream_core::MAX_TRACK_CHANGES;
    let hub = hub();
    let mut p = hub.publish(key("flip"), peer(1)).unwrap();
    for n in 0..MAX_TRACK_CHANGES as u32 {
        p.set_tracks(tracks_of_width(n));
        // Repeating the same tracks is not a change and costs nothing.
        p.set_tracks(tracks_of_width(n));
        tokio::time::advance(Duration::from_millis(100)).await;
    }
    assert!(p.push(vframe(0, true, 10)).is_ok());
    // Within the window, one change more: not applied, and the publisher must go.
    p.set_tracks(tracks_of_width(1000));
    let reason = tokio::time::timeout(Duration::from_secs(1), p.closed())
        .await
        .expect("told to stop");
    assert_eq!(reason, CloseReason::TrackChanges);
    assert_eq!(reason.name(), "track-changes");
    let current = hub.stream(&key("flip")).unwrap().tracks;
    assert_eq!(current[0].width, Some(MAX_TRACK_CHANGES as u32 - 1));
    drop(p);
    assert_released(&hub, "flip");
}

#[tokio::test(start_paused = true)]
async fn track_changes_spread_over_the_window_are_fine() {
    use stream_core::{MAX_TRACK_CHANGES, TRACK_CHANGE_WINDOW};
    let hub = hub();
    let mut p = hub.publish(key("slow"), peer(1)).unwrap();
    let step = TRACK_CHANGE_WINDOW / (MAX_TRACK_CHANGES as u32 - 1);
    for n in 0..4 * MAX_TRACK_CHANGES as u32 {
        p.set_tracks(tracks_of_width(n));
        tokio::time::advance(step).await;
    }
    let closed = tokio::time::timeout(Duration::from_secs(1), p.closed()).await;
    assert!(closed.is_err(), "not told to stop: {closed:?}");
    let current = hub.stream(&key("slow")).unwrap().tracks;
    assert_eq!(current[0].width, Some(4 * MAX_TRACK_CHANGES as u32 - 1));
}

#[tokio::test(start_paused = true)]
async fn refuse_tells_the_publisher_to_stop() {
    let hub = hub();
    let p = hub.publish(key("bad"), peer(1)).unwrap();
    p.refuse();
    assert_eq!(p.closed().await, CloseReason::Refused);
    drop(p);
    assert_released(&hub, "bad");
}
