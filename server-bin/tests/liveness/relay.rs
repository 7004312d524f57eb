//! Relays in-process: a downstream strom pulling from an upstream strom over
//! duplex pipes, under the paused clock — the upstream frozen, dead, or gone
//! and back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use rtmp_proto::ClientEvent;
use stream_core::Protocol;
use strom::config::ProxyConfig;
use strom::relay::{Dial, Dialed, PullUrl, Scheme, State};
use tokio::time::{sleep, Instant};

use crate::harness::{avc_keyframe, RtmpPeer, Server};

/// Dials the upstream server in-process; refuses while `down`.
struct ToUpstream {
    upstream: Arc<Server>,
    down: AtomicBool,
}

impl Dial for ToUpstream {
    fn dial<'a>(
        &'a self,
        url: &'a PullUrl,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Dialed>> + Send + 'a>>
    {
        Box::pin(async move {
            if self.down.load(Ordering::Relaxed) {
                return Err(std::io::ErrorKind::ConnectionRefused.into());
            }
            let protocol = match url.scheme {
                Scheme::Rtsp => Protocol::Rtsp,
                // The in-process upstream serves RTMP and RTSP only.
                _ => Protocol::Rtmp,
            };
            let conn = self.upstream.connect(protocol);
            let (rd, wr) = tokio::io::split(conn.io);
            Ok(Dialed {
                rd: Box::new(rd),
                wr: Box::new(wr),
                peer: "127.0.0.1:1935".parse().expect("address"),
            })
        })
    }
}

/// An upstream server and a downstream one pulling `live/cam` from it.
fn pair() -> (Arc<Server>, Server, Arc<ToUpstream>) {
    pair_with(|_| {})
}

/// As [`pair`], with the upstream's configuration changed by `edit`.
fn pair_with(
    edit: impl FnOnce(&mut strom::config::Config),
) -> (Arc<Server>, Server, Arc<ToUpstream>) {
    pair_over("rtmp://upstream/live/cam", edit)
}

/// As [`pair_with`], pulling from `url`.
fn pair_over(
    url: &str,
    edit: impl FnOnce(&mut strom::config::Config),
) -> (Arc<Server>, Server, Arc<ToUpstream>) {
    pair_full(url, false, edit)
}

/// An upstream (configured by `edit`) and a downstream pulling `live/cam`
/// from `url`, on demand or always.
fn pair_full(
    url: &str,
    on_demand: bool,
    edit: impl FnOnce(&mut strom::config::Config),
) -> (Arc<Server>, Server, Arc<ToUpstream>) {
    servers(edit, |c| {
        c.proxy.push(ProxyConfig {
            app: "live".into(),
            stream: "cam".into(),
            url: url.into(),
            on_demand,
            rtsp_transport: Default::default(),
        })
    })
}

/// An upstream and a downstream (configured by the two closures; the
/// downstream keeps no state on disk) whose relays dial the upstream.
fn servers(
    upstream_edit: impl FnOnce(&mut strom::config::Config),
    downstream_edit: impl FnOnce(&mut strom::config::Config),
) -> (Arc<Server>, Server, Arc<ToUpstream>) {
    let upstream = Arc::new(Server::start(upstream_edit));
    let downstream = Server::start(|c| {
        c.state.dir = String::new();
        downstream_edit(c)
    });
    let dial = Arc::new(ToUpstream {
        upstream: upstream.clone(),
        down: AtomicBool::new(false),
    });
    downstream
        .shared
        .start_relays_on(&tokio::runtime::Handle::current(), dial.clone());
    (upstream, downstream, dial)
}

fn status(server: &Server) -> strom::relay::Status {
    server.shared.relays.list().remove(0)
}

/// Sends a keyframe every 40 ms for `secs`.
async fn feed(publisher: &mut RtmpPeer, from_ms: u32, secs: u32) {
    for i in 0..secs * 25 {
        sleep(Duration::from_millis(40)).await;
        publisher.send_video(from_ms + i * 40, avc_keyframe()).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_relay_pulls_a_live_rtmp_upstream_into_a_local_stream() {
    let s = pulls("rtmp://upstream/live/cam").await;
    assert_eq!(s.attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_relay_pulls_a_live_rtsp_upstream_into_a_local_stream() {
    let s = pulls("rtsp://user:pw@upstream/live/cam").await;
    assert_eq!(s.attempts, 1);
    // Credentials are not shown.
    assert_eq!(s.url, "rtsp://upstream:554/live/cam");
}

/// Publishes on the upstream, pulls it from `url`, and checks a player of
/// the downstream gets media; returns the proxy's status.
async fn pulls(url: &str) -> strom::relay::Status {
    let (upstream, downstream, _) = pair_over(url, |_| {});
    let mut publisher = RtmpPeer::publisher(&upstream, "cam").await;
    let player = async {
        sleep(Duration::from_secs(2)).await;
        let mut player = RtmpPeer::player(&downstream, "cam").await;
        player
            .until(|e| matches!(e, ClientEvent::Media { .. }))
            .await
    };
    let (_, media) = tokio::join!(feed(&mut publisher, 0, 4), player);
    assert!(
        matches!(media, Some(ClientEvent::Media { .. })),
        "{media:?}"
    );
    let s = status(&downstream);
    assert_eq!(s.state, State::Live, "{s:?}");
    s
}

#[tokio::test(start_paused = true)]
async fn a_frozen_upstream_is_closed_at_the_no_media_deadline() {
    let (upstream, downstream, _) = pair();
    let mut publisher = RtmpPeer::publisher(&upstream, "cam").await;
    feed(&mut publisher, 0, 2).await;
    assert_eq!(status(&downstream).state, State::Live);
    // Frozen: the upstream's publisher stays connected and sends nothing.
    let frozen = Instant::now();
    while status(&downstream).state == State::Live {
        sleep(Duration::from_millis(100)).await;
        assert!(frozen.elapsed() < Duration::from_secs(30), "never closed");
    }
    let s = status(&downstream);
    let no_media = Duration::from_secs(downstream.shared.config.relay.no_media_secs);
    assert!(
        frozen.elapsed() >= no_media && frozen.elapsed() <= no_media + Duration::from_secs(1),
        "closed after {:?}",
        frozen.elapsed()
    );
    assert!(
        s.last_error
            .as_deref()
            .unwrap_or("")
            .contains("upstream media"),
        "{s:?}"
    );
    drop(publisher);
}

#[tokio::test(start_paused = true)]
async fn a_dead_upstream_is_retried_with_a_capped_backoff() {
    let (_upstream, downstream, dial) = pair();
    dial.down.store(true, Ordering::Relaxed);
    sleep(Duration::from_secs(120)).await;
    let s = status(&downstream);
    assert_eq!(s.state, State::Backoff, "{s:?}");
    assert!(
        s.last_error.as_deref().unwrap_or("").contains("connect"),
        "{s:?}"
    );
    // Waits of 0.5–1, 1–2, 2–4 … 32–60 s: at most 11 attempts in 120 s,
    // at least 6; never a tight loop.
    assert!((6..=11).contains(&s.attempts), "{} attempts", s.attempts);
}

#[tokio::test(start_paused = true)]
async fn players_stay_through_an_upstream_reconnect() {
    // The upstream ends its stream 2 s after its publisher left, so the
    // relay's connection ends and it must reconnect.
    let (upstream, downstream, _) = pair_with(|c| c.stream.continue_push_ms = 2_000);
    let mut first = RtmpPeer::publisher(&upstream, "cam").await;
    feed(&mut first, 0, 2).await;
    let mut player = RtmpPeer::player(&downstream, "cam").await;
    assert!(player
        .until(|e| matches!(e, ClientEvent::Media { .. }))
        .await
        .is_some());
    // The upstream's publisher leaves and another comes 3 s later.
    first.session.close();
    let _ = first.flush().await;
    drop(first);
    sleep(Duration::from_secs(3)).await;
    let mut second = RtmpPeer::publisher(&upstream, "cam").await;
    let watch = async {
        player
            .until(|e| {
                matches!(e, ClientEvent::Media { timestamp, .. } if *timestamp > 2_000)
                    || matches!(e, ClientEvent::UnpublishNotify)
            })
            .await
    };
    let (_, seen) = tokio::join!(feed(&mut second, 5_000, 6), watch);
    assert!(matches!(seen, Some(ClientEvent::Media { .. })), "{seen:?}");
    assert!(!player.conn.task.is_finished());
    assert!(status(&downstream).attempts >= 2);
}

/// An upstream that comes back with another codec (AAC, then MP3) ends the
/// relay's players with that reason: they must play again.
#[tokio::test(start_paused = true)]
async fn an_upstream_back_with_another_codec_ends_players_with_the_reason() {
    let (upstream, downstream, _) = pair_with(|c| c.stream.continue_push_ms = 2_000);
    let aac = |frame: bool| {
        Bytes::from_static(if frame {
            &[0xAF, 1, 0x21, 0x10, 0x04]
        } else {
            &[0xAF, 0, 0x12, 0x10]
        })
    };
    let mp3 = Bytes::from_static(&[0x2F, 0xFF, 0xFB, 0x90, 0x64, 0, 0, 0, 0]);
    let mut first = RtmpPeer::publisher(&upstream, "cam").await;
    first.send_audio(0, aac(false)).await;
    let mut player = RtmpPeer::player(&downstream, "cam").await;
    let first_feed = async {
        for i in 1..50u32 {
            sleep(Duration::from_millis(40)).await;
            first.send_video(i * 40, avc_keyframe()).await;
            first.send_audio(i * 40, aac(true)).await;
        }
    };
    let heard = player.until(|e| {
        matches!(
            e,
            ClientEvent::Media {
                kind: rtmp_proto::session::MediaKind::Audio,
                ..
            }
        )
    });
    let (_, heard) = tokio::join!(first_feed, heard);
    assert!(heard.is_some(), "AAC reached the relay's player");
    first.session.close();
    let _ = first.flush().await;
    drop(first);
    sleep(Duration::from_secs(1)).await;
    let mut second = RtmpPeer::publisher(&upstream, "cam").await;
    let second_feed = async {
        for i in 0..100u32 {
            sleep(Duration::from_millis(40)).await;
            second.send_video(5_000 + i * 40, avc_keyframe()).await;
            second.send_audio(5_000 + i * 40, mp3.clone()).await;
        }
    };
    let ended = async {
        while player.next_event().await.is_some() {}
        tokio::time::timeout(Duration::from_secs(5), player.conn.task)
            .await
            .expect("the player's session ends")
            .expect("session task")
    };
    let (_, end) = tokio::join!(second_feed, ended);
    assert_eq!(end.name(), "codec-changed", "{end}");
    assert!(end.to_string().contains("audio AAC → MP3"), "{end}");
}

#[tokio::test(start_paused = true)]
async fn an_on_demand_proxy_pulls_only_while_players_watch() {
    let (upstream, downstream, _) = pair_full("rtmp://upstream/live/cam", true, |_| {});
    let mut publisher = RtmpPeer::publisher(&upstream, "cam").await;
    let watch = async {
        sleep(Duration::from_secs(3)).await;
        // Nobody asked: no upstream connection.
        assert_eq!(status(&downstream).state, State::Idle);
        assert_eq!(
            upstream.shared.sessions.len(),
            1,
            "only the publisher upstream"
        );
        let asked = Instant::now();
        let mut player = RtmpPeer::player(&downstream, "cam").await;
        let media = player
            .until(|e| matches!(e, ClientEvent::Media { .. }))
            .await;
        assert!(
            matches!(media, Some(ClientEvent::Media { .. })),
            "{media:?}"
        );
        let first_frame = asked.elapsed();
        assert_eq!(status(&downstream).state, State::Live);
        // The last player leaves: the upstream is closed idle_close_secs later.
        drop(player);
        let left = Instant::now();
        while status(&downstream).state != State::Idle {
            sleep(Duration::from_millis(100)).await;
            assert!(left.elapsed() < Duration::from_secs(60), "never went idle");
        }
        (first_frame, left.elapsed())
    };
    let (_, (first_frame, idle_after)) = tokio::join!(feed(&mut publisher, 0, 50), watch);
    assert!(
        first_frame < Duration::from_millis(1_500),
        "first frame after {first_frame:?}"
    );
    let idle = Duration::from_secs(downstream.shared.config.relay.idle_close_secs);
    assert!(
        idle_after >= idle && idle_after <= idle + Duration::from_millis(1_100),
        "idle after {idle_after:?}"
    );
    assert_eq!(status(&downstream).attempts, 1);
}

/// 1,000 add/delete cycles of API proxies while players come and go: no
/// name stays held, no proxy, session or stream is left behind.
#[tokio::test(start_paused = true)]
async fn a_thousand_add_delete_cycles_leave_nothing_behind() {
    let (upstream, downstream, _) = servers(|_| {}, |_| {});
    let mut publisher = RtmpPeer::publisher(&upstream, "src").await;
    let shared = downstream.shared.clone();
    let churn = async {
        for i in 0..1_000u32 {
            let name = format!("p{}", i % 7);
            let key = stream_core::StreamKey::parse("live", name.as_str()).expect("key");
            let added = shared.relays.add(
                &shared,
                ProxyConfig {
                    app: "live".into(),
                    stream: name.clone(),
                    url: "rtmp://upstream/live/src".into(),
                    on_demand: i % 3 == 0,
                    rtsp_transport: Default::default(),
                },
            );
            assert!(added.is_ok(), "cycle {i}: {added:?}");
            // A player comes for every other cycle, and leaves at once or
            // stays for the delete.
            let player = if i % 2 == 0 {
                Some(RtmpPeer::new(
                    &downstream,
                    &name,
                    rtmp_proto::ClientMode::Play,
                ))
            } else {
                None
            };
            sleep(Duration::from_millis(u64::from(i % 5) * 20)).await;
            assert!(shared.relays.remove(&shared, &key).is_ok(), "cycle {i}");
            drop(player);
        }
    };
    tokio::join!(feed(&mut publisher, 0, 5), churn);
    assert!(downstream.shared.relays.list().is_empty());
    // Everything the churn opened ends within the longest deadline.
    sleep(Duration::from_secs(20)).await;
    assert_eq!(downstream.shared.sessions.len(), 0, "sessions left");
    assert!(downstream.shared.hub.streams().is_empty(), "streams left");
    // Every name is free: a local publisher takes one at once.
    let local = RtmpPeer::publisher(&downstream, "p1").await;
    drop(local);
}

/// `live/camN` pulled from the upstream's `live/srcN`.
fn cam_pattern() -> ProxyConfig {
    ProxyConfig {
        app: "live".into(),
        stream: r"~^cam(\d+)$".into(),
        url: "rtmp://upstream/live/src$1".into(),
        on_demand: false,
        rtsp_transport: Default::default(),
    }
}

/// A `[[proxy]]` stream pattern makes an on-demand proxy for each asked
/// name that matches (`$1` in the URL), bounded by
/// `relay.max_pattern_proxies`, and removes it once idle.
#[tokio::test(start_paused = true)]
async fn a_stream_pattern_makes_proxies_for_asked_names_and_removes_them_idle() {
    let (upstream, downstream, _) = servers(
        |_| {},
        |c| {
            c.relay.max_pattern_proxies = 2;
            c.stream.max_stream_wait_ms = 2_000;
            c.proxy.push(cam_pattern());
        },
    );
    let mut publisher = RtmpPeer::publisher(&upstream, "src7").await;
    let watch = async {
        assert!(
            downstream.shared.relays.list().is_empty(),
            "nothing before a player asks"
        );
        let mut player = RtmpPeer::player(&downstream, "cam7").await;
        let media = player
            .until(|e| matches!(e, ClientEvent::Media { .. }))
            .await;
        assert!(
            matches!(media, Some(ClientEvent::Media { .. })),
            "{media:?}"
        );
        let list = downstream.shared.relays.list();
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0].key, "live/cam7");
        assert_eq!(list[0].origin, strom::relay::Origin::Pattern);
        // Names that do not match make nothing; past the cap, nothing more.
        let mut other = RtmpPeer::new(&downstream, "dog1", rtmp_proto::ClientMode::Play);
        assert!(other
            .until(|e| matches!(e, ClientEvent::Playing))
            .await
            .is_none());
        assert_eq!(downstream.shared.relays.list().len(), 1);
        let mut cam8 = RtmpPeer::new(&downstream, "cam8", rtmp_proto::ClientMode::Play);
        let mut cam9 = RtmpPeer::new(&downstream, "cam9", rtmp_proto::ClientMode::Play);
        let count = async {
            sleep(Duration::from_millis(100)).await;
            downstream.shared.relays.list().len()
        };
        let (_, _, made) = tokio::join!(cam8.until(|_| false), cam9.until(|_| false), count);
        assert_eq!(made, 2, "capped at max_pattern_proxies");
        drop(player);
        // Idle: every made proxy leaves the list.
        let left = Instant::now();
        while !downstream.shared.relays.list().is_empty() {
            sleep(Duration::from_millis(500)).await;
            assert!(
                left.elapsed() < Duration::from_secs(90),
                "{:?}",
                downstream.shared.relays.list()
            );
        }
    };
    tokio::join!(feed(&mut publisher, 0, 60), watch);
}

/// Proxies made from a pattern are capped per asking address as well as in
/// total: one address asking many names cannot take every place.
#[tokio::test(start_paused = true)]
async fn pattern_proxies_are_capped_per_address() {
    let (_upstream, downstream, _) = servers(
        |_| {},
        |c| {
            c.relay.max_pattern_proxies = 3;
            c.relay.max_pattern_proxies_per_ip = 2;
            c.proxy.push(cam_pattern());
        },
    );
    let relays = &downstream.shared.relays;
    let key = |n: u32| stream_core::StreamKey::parse("live", format!("cam{n}")).expect("key");
    let attacker = Some(std::net::IpAddr::from([127, 0, 0, 2]));
    let viewer = Some(std::net::IpAddr::from([127, 0, 0, 1]));
    let made: Vec<bool> = (0..10).map(|n| relays.demand(&key(n), attacker)).collect();
    assert_eq!(made.iter().filter(|m| **m).count(), 2, "{made:?}");
    // An existing proxy is woken for anyone, without counting again.
    assert!(relays.demand(&key(0), attacker));
    // Another address still gets a place, up to the total cap.
    assert!(relays.demand(&key(100), viewer));
    assert!(!relays.demand(&key(101), viewer), "total cap");
    assert_eq!(relays.list().len(), 3);
}
