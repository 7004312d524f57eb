//! RTMP: handshake deadline, publisher keep-alive, write stall, stale
//! publisher takeover, kick, linger after the publisher leaves, shutdown.

use std::time::Duration;

use rtmp_proto::{ClientEvent, ClientMode};
use stream_core::{CloseReason, EndReason};
use strom::drive::End;
use tokio::io::AsyncWriteExt;
use tokio::time::{sleep, Instant};

use crate::harness::{avc_keyframe, big_keyframe, RtmpPeer, Server};

/// How long a server-initiated close waits for the peer (`io::LINGER`).
const LINGER: Duration = Duration::from_millis(500);

/// `lived` is `deadline`, plus at most the linger.
fn at_deadline(lived: Duration, deadline: Duration) {
    assert!(
        lived >= deadline && lived <= deadline + LINGER + Duration::from_millis(5),
        "ended after {lived:?}, deadline {deadline:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_closed_at_the_handshake_deadline() {
    let server = Server::start(|_| {});
    let conn = server.connect(stream_core::Protocol::Rtmp);
    let (end, lived) = conn.ended().await;
    assert!(matches!(end, End::Timeout("handshake")), "{end}");
    at_deadline(lived, Duration::from_secs(15));
}

#[tokio::test(start_paused = true)]
async fn a_handshake_trickling_one_byte_a_second_is_closed_at_its_deadline() {
    let server = Server::start(|_| {});
    let mut conn = server.connect(stream_core::Protocol::Rtmp);
    let c0c1 = {
        let mut v = vec![3u8];
        v.resize(1 + 1536, 0);
        v
    };
    let io = &mut conn.io;
    let trickle = async {
        for b in c0c1 {
            if io.write_all(&[b]).await.is_err() {
                return;
            }
            sleep(Duration::from_secs(1)).await;
        }
    };
    let (end, lived) = tokio::select! {
        _ = trickle => panic!("the whole handshake trickled in"),
        end = &mut conn.task => (end.expect("task"), conn.opened.elapsed()),
    };
    assert!(matches!(end, End::Timeout("handshake")), "{end}");
    // The trickle stops being read once the session gives up; the linger
    // then reads it until its limit.
    at_deadline(lived, Duration::from_secs(15));
}

#[tokio::test(start_paused = true)]
async fn connect_without_publish_or_play_is_still_the_handshake_deadline() {
    let server = Server::start(|_| {});
    let mut p = RtmpPeer::new(&server, "s", ClientMode::Publish);
    // `next_event` returns Connected before flushing what the client queued
    // next (createStream, publish): the server has seen connect only.
    assert_eq!(p.next_event().await, Some(ClientEvent::Connected));
    let (end, lived) = p.conn.ended().await;
    assert!(matches!(end, End::Timeout("handshake")), "{end}");
    at_deadline(lived, Duration::from_secs(15));
}

#[tokio::test(start_paused = true)]
async fn a_publisher_without_media_is_closed_at_its_keep_alive() {
    let server = Server::start(|_| {});
    let mut p = RtmpPeer::publisher(&server, "quiet").await;
    let last_media = Instant::now();
    // Metadata keeps nothing alive.
    for _ in 0..5 {
        sleep(Duration::from_secs(2)).await;
        let _ = p.session.send_metadata(bytes::Bytes::from_static(
            b"\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09",
        ));
        let _ = p.flush().await;
    }
    let task = p.conn.task;
    let end = task.await.expect("task");
    assert!(matches!(end, End::Timeout("publisher keep-alive")), "{end}");
    at_deadline(last_media.elapsed(), Duration::from_secs(15));
}

#[tokio::test(start_paused = true)]
async fn a_publisher_sending_media_stays() {
    let server = Server::start(|_| {});
    let mut p = RtmpPeer::publisher(&server, "steady").await;
    for i in 1..=40u32 {
        sleep(Duration::from_secs(1)).await;
        p.send_video(i * 1000, avc_keyframe()).await;
    }
    assert!(!p.conn.task.is_finished(), "closed while sending media");
}

#[tokio::test(start_paused = true)]
async fn a_player_that_stops_reading_is_closed_at_the_write_stall() {
    let server = Server::start(|c| {
        c.server.write_stall_ms = 2_000;
        c.stream.max_lag_ms = 600_000;
    });
    let mut publisher = RtmpPeer::publisher(&server, "busy").await;
    let player = RtmpPeer::player(&server, "busy").await;
    // The player reads nothing more; the publisher sends 32 KiB keyframes
    // every 100 ms until the player's session ends.
    let player_task = player.conn.task;
    let feed = async {
        for i in 1..=600u32 {
            sleep(Duration::from_millis(100)).await;
            publisher.send_video(i * 100, big_keyframe(32 * 1024)).await;
        }
    };
    let end = tokio::select! {
        end = player_task => end.expect("task"),
        _ = feed => panic!("the player outlived 60 s of media it did not read"),
    };
    assert!(
        matches!(&end, End::Write(strom::io::WriteError::Stalled(d)) if *d == Duration::from_secs(2)),
        "{end}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stale_publisher_is_taken_over_and_a_live_one_is_not() {
    let server = Server::start(|_| {});
    let idle = Duration::from_millis(server.shared.config.stream.publisher_idle_timeout_ms);
    let old = RtmpPeer::publisher(&server, "cam").await;
    let last_media = Instant::now();
    // Frozen: the socket stays open, nothing more is sent.
    sleep(idle / 2).await;
    let mut early = RtmpPeer::new(&server, "cam", ClientMode::Publish);
    let refused = early
        .until(|e| matches!(e, ClientEvent::Rejected { .. } | ClientEvent::Publishing))
        .await;
    assert!(
        matches!(&refused, Some(ClientEvent::Rejected { code, .. }) if code == "NetStream.Publish.BadName"),
        "{refused:?}"
    );
    sleep(idle - idle / 2).await;
    let mut newcomer = RtmpPeer::new(&server, "cam", ClientMode::Publish);
    let taken = newcomer
        .until(|e| matches!(e, ClientEvent::Rejected { .. } | ClientEvent::Publishing))
        .await;
    assert_eq!(taken, Some(ClientEvent::Publishing));
    assert!(last_media.elapsed() <= idle + Duration::from_millis(5));
    let (end, _) = old.conn.ended().await;
    assert!(
        matches!(end, End::PublisherClosed(CloseReason::TakenOver)),
        "{end}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_default_takeover_of_a_frozen_publisher_is_within_3_s() {
    let server = Server::start(|_| {});
    let old = RtmpPeer::publisher(&server, "frozen").await;
    let last_media = Instant::now();
    // A newcomer retrying every 500 ms, as encoders reconnect.
    loop {
        sleep(Duration::from_millis(500)).await;
        let mut p = RtmpPeer::new(&server, "frozen", ClientMode::Publish);
        let answer = p
            .until(|e| matches!(e, ClientEvent::Rejected { .. } | ClientEvent::Publishing))
            .await;
        if answer == Some(ClientEvent::Publishing) {
            break;
        }
        assert!(
            last_media.elapsed() < Duration::from_secs(3),
            "still locked"
        );
    }
    assert!(
        last_media.elapsed() <= Duration::from_secs(3),
        "{:?}",
        last_media.elapsed()
    );
    drop(old);
}

#[tokio::test(start_paused = true)]
async fn a_kicked_session_closes_at_once() {
    let server = Server::start(|_| {});
    let p = RtmpPeer::publisher(&server, "k").await;
    let kicked_at = Instant::now();
    assert!(server.shared.sessions.kick(p.conn.info.id));
    let (end, _) = p.conn.ended().await;
    assert!(matches!(end, End::Kicked), "{end}");
    assert!(kicked_at.elapsed() <= LINGER + Duration::from_millis(5));
}

#[tokio::test(start_paused = true)]
async fn players_stay_for_continue_push_then_are_told_the_stream_ended() {
    let server = Server::start(|_| {});
    let linger = Duration::from_millis(server.shared.config.stream.continue_push_ms);
    let mut publisher = RtmpPeer::publisher(&server, "gone").await;
    let mut player = RtmpPeer::player(&server, "gone").await;
    publisher.session.close();
    let _ = publisher.flush().await;
    drop(publisher);
    let left = Instant::now();
    let told = player
        .until(|e| matches!(e, ClientEvent::UnpublishNotify))
        .await;
    assert_eq!(told, Some(ClientEvent::UnpublishNotify));
    let waited = left.elapsed();
    assert!(
        waited >= linger && waited <= linger + Duration::from_millis(5),
        "{waited:?}"
    );
    let (end, _) = player.conn.ended().await;
    assert!(
        matches!(end, End::PlayEnded(EndReason::StreamEnded)),
        "{end}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_publisher_back_within_continue_push_keeps_its_players() {
    let server = Server::start(|_| {});
    let mut first = RtmpPeer::publisher(&server, "flap").await;
    let mut player = RtmpPeer::player(&server, "flap").await;
    first.session.close();
    let _ = first.flush().await;
    drop(first);
    sleep(Duration::from_secs(5)).await;
    let mut second = RtmpPeer::publisher(&server, "flap").await;
    second.send_video(40, avc_keyframe()).await;
    let media = player
        .until(|e| matches!(e, ClientEvent::Media { .. } | ClientEvent::UnpublishNotify))
        .await;
    assert!(
        matches!(media, Some(ClientEvent::Media { .. })),
        "{media:?}"
    );
    assert!(!player.conn.task.is_finished());
}

#[tokio::test(start_paused = true)]
async fn shutdown_tells_players_the_stream_ended_and_closes_publishers() {
    let server = Server::start(|_| {});
    let publisher = RtmpPeer::publisher(&server, "bye").await;
    let mut player = RtmpPeer::player(&server, "bye").await;
    server.shut_down();
    let told = player
        .until(|e| matches!(e, ClientEvent::UnpublishNotify))
        .await;
    assert_eq!(told, Some(ClientEvent::UnpublishNotify));
    let (end, _) = player.conn.ended().await;
    assert!(matches!(end, End::PlayEnded(EndReason::Shutdown)), "{end}");
    let (end, _) = publisher.conn.ended().await;
    assert!(matches!(end, End::PublisherClosed(_)), "{end}");
}
