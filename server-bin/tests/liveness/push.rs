//! Push relays in-process: a source strom pushing `live/cam` to a target
//! strom over duplex pipes, under the paused clock — waiting for the
//! source, forwarding over RTMP and RTSP, a target that stops reading, and
//! removal.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rtmp_proto::ClientEvent;
use stream_core::{Protocol, StreamKey};
use strom::config::PushConfig;
use strom::relay::push::PushState;
use strom::relay::{Dial, Dialed, PullUrl, Scheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{sleep, Instant};

use crate::harness::{avc_keyframe, big_keyframe, RtmpPeer, Server, PIPE};

/// Dials the target server in-process, through a relay that stops reading
/// the push's bytes on the connection numbered `frozen` (a target that
/// stops reading: the push's writes fill the pipe and stall).
struct ToTarget {
    target: Arc<Server>,
    dialed: AtomicUsize,
    frozen: watch::Sender<usize>,
}

impl Dial for ToTarget {
    fn dial<'a>(
        &'a self,
        url: &'a PullUrl,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Dialed>> + Send + 'a>>
    {
        Box::pin(async move {
            let protocol = match url.scheme {
                Scheme::Rtsp => Protocol::Rtsp,
                _ => Protocol::Rtmp,
            };
            let n = self.dialed.fetch_add(1, Ordering::Relaxed);
            let conn = self.target.connect(protocol);
            let (push_end, relay_end) = tokio::io::duplex(PIPE);
            tokio::spawn(relay(relay_end, conn.io, n, self.frozen.subscribe()));
            let (rd, wr) = tokio::io::split(push_end);
            Ok(Dialed {
                rd: Box::new(rd),
                wr: Box::new(wr),
                peer: "127.0.0.1:1935".parse().expect("address"),
            })
        })
    }
}

/// Copies both ways until either side closes; stops reading the push's
/// side (and keeps the connection open) once `frozen` names connection `n`.
async fn relay(
    push: tokio::io::DuplexStream,
    target: tokio::io::DuplexStream,
    n: usize,
    mut frozen: watch::Receiver<usize>,
) {
    let (mut push_rd, mut push_wr) = tokio::io::split(push);
    let (mut target_rd, mut target_wr) = tokio::io::split(target);
    let (mut up, mut down) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    loop {
        let stalled = *frozen.borrow() == n;
        tokio::select! {
            r = push_rd.read(&mut up), if !stalled => match r {
                Ok(0) | Err(_) => return,
                Ok(k) => if target_wr.write_all(&up[..k]).await.is_err() { return },
            },
            r = target_rd.read(&mut down) => match r {
                Ok(0) | Err(_) => return,
                Ok(k) => if push_wr.write_all(&down[..k]).await.is_err() { return },
            },
            changed = frozen.changed() => if changed.is_err() { return },
        }
    }
}

/// A source server pushing `live/cam` to `url` (or nothing when `None`), a
/// target server, and the dialer between them.
fn servers(url: Option<&str>) -> (Server, Arc<Server>, Arc<ToTarget>) {
    let target = Arc::new(Server::start(|_| {}));
    let source = Server::start(|c| {
        c.state.dir = String::new();
        c.server.write_stall_ms = 2_000;
        c.relay.retry_min_ms = 500;
        if let Some(url) = url {
            c.push.push(push_config(url));
        }
    });
    let (frozen, _) = watch::channel(usize::MAX);
    let dial = Arc::new(ToTarget {
        target: target.clone(),
        dialed: AtomicUsize::new(0),
        frozen,
    });
    source.shared.pushes.start(
        &source.shared,
        dial.clone(),
        Some(tokio::runtime::Handle::current()),
    );
    (source, target, dial)
}

fn push_config(url: &str) -> PushConfig {
    PushConfig {
        app: "live".into(),
        stream: "cam".into(),
        url: url.into(),
        rtsp_transport: Default::default(),
    }
}

fn status(server: &Server) -> strom::relay::push::PushStatus {
    server.shared.pushes.list().remove(0)
}

/// Sends a keyframe every 40 ms for `secs`.
async fn feed(publisher: &mut RtmpPeer, from_ms: u32, secs: u32) {
    feed_with(publisher, from_ms, secs, avc_keyframe).await
}

/// Sends a keyframe made by `frame` every 40 ms for `secs`.
async fn feed_with(
    publisher: &mut RtmpPeer,
    from_ms: u32,
    secs: u32,
    frame: impl Fn() -> bytes::Bytes,
) {
    for i in 0..secs * 25 {
        sleep(Duration::from_millis(40)).await;
        publisher.send_video(from_ms + i * 40, frame()).await;
    }
}

/// Media events a player reads until `until`.
async fn count_media(player: &mut RtmpPeer, until: Instant) -> usize {
    let mut n = 0;
    while let Ok(Some(e)) = tokio::time::timeout_at(until, player.next_event()).await {
        if matches!(e, ClientEvent::Media { .. }) {
            n += 1;
        }
    }
    n
}

#[tokio::test(start_paused = true)]
async fn a_push_waits_for_its_source_then_forwards_it_over_rtmp() {
    forwards("rtmp://target/live/out").await;
}

#[tokio::test(start_paused = true)]
async fn a_push_waits_for_its_source_then_forwards_it_over_rtsp() {
    forwards("rtsp://user:pw@target/live/out").await;
}

/// No source: the push waits without dialling. The source goes live: the
/// push dials once, and a player of the target gets the media.
async fn forwards(url: &str) {
    let (source, target, dial) = servers(Some(url));
    sleep(Duration::from_secs(30)).await;
    let s = status(&source);
    assert_eq!(s.state, PushState::WaitingForSource, "{s:?}");
    assert_eq!((s.attempts, dial.dialed.load(Ordering::Relaxed)), (0, 0));

    let mut publisher = RtmpPeer::publisher(&source, "cam").await;
    let player = async {
        sleep(Duration::from_secs(2)).await;
        let mut player = RtmpPeer::player(&target, "out").await;
        player
            .until(|e| matches!(e, ClientEvent::Media { .. }))
            .await
    };
    let (_, media) = tokio::join!(feed(&mut publisher, 0, 4), player);
    assert!(
        matches!(media, Some(ClientEvent::Media { .. })),
        "{media:?}"
    );
    let s = status(&source);
    assert_eq!(s.state, PushState::Live, "{s:?}");
    assert_eq!(s.attempts, 1, "{s:?}");
    assert!(!s.url.contains("pw"), "credentials shown: {}", s.url);

    // The source ends: the push waits for it again, without backing off.
    drop(publisher);
    let ended = Instant::now();
    while status(&source).state != PushState::WaitingForSource {
        sleep(Duration::from_millis(100)).await;
        assert!(
            ended.elapsed() < Duration::from_secs(30),
            "{:?}",
            status(&source)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_target_that_stops_reading_slows_nothing_and_is_reconnected() {
    let (source, _target, dial) = servers(Some("rtmp://target/live/out"));
    let mut publisher = RtmpPeer::publisher(&source, "cam").await;
    feed(&mut publisher, 0, 2).await;
    assert_eq!(status(&source).state, PushState::Live);
    let mut player = RtmpPeer::player(&source, "cam").await;

    // The target stops reading its first connection; 8 KB frames (200 KB/s)
    // fill the pipe to it in well under a second.
    let _ = dial.frozen.send(0);
    let frozen = Instant::now();
    let secs = 12;
    let (_, played) = tokio::join!(
        feed_with(&mut publisher, 2_000, secs, || big_keyframe(8_000)),
        count_media(&mut player, frozen + Duration::from_secs(u64::from(secs)))
    );
    // The publisher was never held up: its 300 frames took their 12 s.
    let fed = frozen.elapsed();
    assert!(
        fed <= Duration::from_secs(u64::from(secs)) + Duration::from_millis(500),
        "{fed:?}"
    );
    // The other player got (nearly) every frame meanwhile.
    assert!(played >= 290, "the player got {played} frames of 300");

    // The stalled target was closed at the write-stall deadline and the
    // push reconnected.
    let s = status(&source);
    assert!(s.attempts >= 2, "{s:?}");
    assert_eq!(s.state, PushState::Live, "{s:?}");
    assert!(dial.dialed.load(Ordering::Relaxed) >= 2);
    let why = s.last_error.unwrap_or_default();
    assert!(why.contains("accepted nothing"), "{why}");
}

#[tokio::test(start_paused = true)]
async fn a_push_removed_through_the_api_stops_and_leaves_its_source_alone() {
    let (source, target, _dial) = servers(None);
    let mut publisher = RtmpPeer::publisher(&source, "cam").await;
    let added = source
        .shared
        .pushes
        .add(push_config("rtmp://target/live/out"))
        .expect("added");
    // The same push twice is refused.
    assert!(source
        .shared
        .pushes
        .add(push_config("rtmp://target/live/out"))
        .is_err());
    feed(&mut publisher, 0, 2).await;
    assert_eq!(status(&source).state, PushState::Live);
    let out = StreamKey::new("live", "out");
    assert!(target
        .shared
        .hub
        .stream(&out)
        .is_some_and(|s| s.publisher.is_some()));

    let key = StreamKey::new("live", "cam");
    source
        .shared
        .pushes
        .remove(&key, &added.id)
        .expect("removed");
    assert!(source.shared.pushes.list().is_empty());
    // The target's publisher is gone at once; the source goes on.
    feed(&mut publisher, 2_000, 1).await;
    assert!(
        target
            .shared
            .hub
            .stream(&out)
            .is_none_or(|s| s.publisher.is_none()),
        "the target still gets the push"
    );
    assert!(source
        .shared
        .hub
        .stream(&key)
        .is_some_and(|s| s.publisher.is_some()));
    // Removing it again: not found.
    assert!(source.shared.pushes.remove(&key, &added.id).is_err());
}

#[tokio::test(start_paused = true)]
async fn pushes_stop_at_shutdown() {
    let (source, _target, _dial) = servers(Some("rtmp://target/live/out"));
    let mut publisher = RtmpPeer::publisher(&source, "cam").await;
    feed(&mut publisher, 0, 2).await;
    assert_eq!(status(&source).state, PushState::Live);
    source.shut_down();
    sleep(Duration::from_secs(1)).await;
    assert_eq!(status(&source).state, PushState::Stopped);
}
