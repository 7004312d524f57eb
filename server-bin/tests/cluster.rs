//! Nodes sharing a stream directory in a real etcd: a stream published on
//! one node plays on another over every protocol, a second publisher
//! anywhere is refused, a publisher moving to another node keeps the edges'
//! players, and etcd going away stops nothing that plays.
//! (`cargo xtask cluster` has the three-member, three-node scenarios.)

mod common;
#[path = "support/etcd.rs"]
mod etcd_server;

use std::time::{Duration, Instant};

use common::media::{finish, play, probe, publish, stop};
use common::{fetch, json, wait_until, Strom};
use etcd_server::EtcdServer as Etcd;

/// A node named `node` of the cluster on `etcd`.
fn node(test: &str, node: &str, etcd: &Etcd) -> Strom {
    node_with(test, node, etcd, &[])
}

/// [`node`] with more settings.
fn node_with(test: &str, node: &str, etcd: &Etcd, extra: &[(&str, &str)]) -> Strom {
    let endpoints = format!("[\"{}\"]", etcd.url);
    let mut env = vec![
        ("STROM_CLUSTER__ENDPOINTS", endpoints.as_str()),
        ("STROM_CLUSTER__NODE", node),
        ("STROM_CLUSTER__LEASE_SECS", "2"),
        ("STROM_CLUSTER__REQUEST_MS", "500"),
        ("STROM_RELAY__RETRY_MIN_MS", "200"),
        ("STROM_RELAY__RETRY_MAX_MS", "1000"),
        ("STROM_STATE__DIR", ""),
    ];
    env.extend_from_slice(extra);
    Strom::start(&format!("cluster-{test}-{node}"), &[], &env)
}

fn cluster_view(n: &Strom) -> serde_json::Value {
    let (status, body) = n.get("/api/v1/cluster");
    assert_eq!(status, 200, "{body}");
    json(&body)
}

/// Waits until `n`'s copy of the directory names `owner` for `live/{name}`;
/// the epoch.
fn wait_owner(n: &Strom, name: &str, owner: &str, limit: Duration) -> i64 {
    let mut epoch = 0;
    let found = wait_until(limit, || {
        let v = cluster_view(n);
        v["streams"].as_array().into_iter().flatten().any(|s| {
            let hit = s["key"] == format!("live/{name}") && s["node"] == owner;
            if hit {
                epoch = s["epoch"].as_i64().unwrap_or(0);
            }
            hit
        })
    });
    assert!(
        found.is_some(),
        "live/{name} not owned by {owner} within {limit:?}: {}\n{}",
        cluster_view(n),
        n.log()
    );
    epoch
}

fn wait_store(n: &Strom, state: &str) {
    let seen = wait_until(Duration::from_secs(15), || {
        let (_, body) = n.get("/healthz");
        json(&body)["cluster"]["store"] == state
    });
    assert!(seen.is_some(), "store never {state}: {}", n.log());
}

#[test]
fn a_stream_published_on_one_node_plays_on_another_over_every_protocol() {
    let etcd = Etcd::start("every-protocol");
    let a = node("every", "a", &etcd);
    let b = node("every", "b", &etcd);
    wait_store(&a, "up");
    wait_store(&b, "up");
    let publisher = publish(&format!("rtmp://127.0.0.1:{}/live/cam", a.rtmp_port), 60);
    a.wait_live("cam", Duration::from_secs(10));
    let epoch = wait_owner(&b, "cam", "a", Duration::from_secs(10));
    assert!(epoch > 0);

    for url in [
        format!("rtmp://127.0.0.1:{}/live/cam", b.rtmp_port),
        format!("http://127.0.0.1:{}/live/cam.live.flv", b.http_port),
        format!("rtsp://127.0.0.1:{}/live/cam", b.rtsp_port),
        format!("http://127.0.0.1:{}/live/cam.live.ts", b.http_port),
    ] {
        let streams = probe(&url);
        assert!(
            streams.iter().any(|(codec, _, _)| codec == "h264")
                && streams.iter().any(|(codec, _, _)| codec == "aac"),
            "{url}: {streams:?}\n{}",
            b.log()
        );
    }
    // HLS on the edge is the owner's: the same segment names, the same bytes
    // (one HTTP cache in front of every node may keep them).
    let playlist = fetch(b.http_port, "GET", "/live/cam/hls.m3u8").expect("playlist");
    assert_eq!(playlist.status, 200, "{}", playlist.text());
    assert!(playlist.text().contains("#EXTINF"), "{}", playlist.text());
    assert!(playlist
        .header("cache-control")
        .is_some_and(|c| c.starts_with("public, max-age=")));
    let on_owner = fetch(a.http_port, "GET", "/live/cam/hls.m3u8").expect("owner playlist");
    let segment = playlist
        .text()
        .lines()
        .rfind(|l| l.ends_with(".ts"))
        .expect("a segment")
        .to_string();
    assert!(
        on_owner.text().contains(&segment),
        "the edge lists {segment}, the owner:\n{}",
        on_owner.text()
    );
    let from_edge = fetch(b.http_port, "GET", &format!("/live/cam/{segment}")).expect("segment");
    let from_owner = fetch(a.http_port, "GET", &format!("/live/cam/{segment}")).expect("segment");
    assert_eq!(from_edge.status, 200);
    assert!(from_edge.body == from_owner.body && !from_edge.body.is_empty());
    assert_eq!(
        from_edge.header("cache-control"),
        Some("public, max-age=3600")
    );

    // One upstream on the edge, however many players asked.
    let v = cluster_view(&b);
    let edges = v["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 1, "{v}");
    assert_eq!(edges[0]["key"], "live/cam");
    let (_, list) = b.get("/index/api/getMediaList");
    assert!(list.contains("\"relayed\":true"), "{list}");
    // The owner serves edges at its epoch, and refuses a newer one.
    let stale = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-rw_timeout", "5000000"])
        .arg(format!(
            "rtmp://127.0.0.1:{}/live/cam?strom_epoch={}",
            a.rtmp_port,
            epoch + 1000
        ))
        .output()
        .expect("ffprobe runs");
    assert!(
        !stale.status.success(),
        "an epoch newer than the owner's was served"
    );
    a.wait_for_log(&["does not own live/cam at epoch"], Duration::from_secs(5));

    // A second publisher of the name on the other node: refused, as on one node.
    let second = publish(&format!("rtmp://127.0.0.1:{}/live/cam", b.rtmp_port), 5);
    let refused = finish(second, Duration::from_secs(15));
    assert!(!refused.success, "the second publisher was accepted");
    b.wait_for_log(
        &["already being published on node a"],
        Duration::from_secs(5),
    );
    stop(publisher);
}

#[test]
fn a_publisher_moving_to_another_node_keeps_the_edges_players() {
    let etcd = Etcd::start("move");
    let a = node("move", "a", &etcd);
    let b = node("move", "b", &etcd);
    let c = node("move", "c", &etcd);
    for n in [&a, &b, &c] {
        wait_store(n, "up");
    }
    let first = publish(&format!("rtmp://127.0.0.1:{}/live/mv", a.rtmp_port), 60);
    a.wait_live("mv", Duration::from_secs(10));
    wait_owner(&c, "mv", "a", Duration::from_secs(10));
    let player = play(
        &format!("http://127.0.0.1:{}/live/mv.live.flv", c.http_port),
        Some(14),
    );
    c.wait_live("mv", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(3));
    // The encoder goes away and reconnects through the balancer to b.
    stop(first);
    let moved_at = Instant::now();
    let mut second = None;
    let accepted = wait_until(Duration::from_secs(10), || {
        let p = publish(&format!("rtmp://127.0.0.1:{}/live/mv", b.rtmp_port), 40);
        std::thread::sleep(Duration::from_millis(1500));
        let live = b.get("/api/v1/streams/live/mv").0 == 200;
        if live {
            second = Some(p);
        } else {
            stop(p);
        }
        live
    });
    assert!(
        accepted.is_some(),
        "b never accepted the publisher: {}",
        b.log()
    );
    wait_owner(&c, "mv", "b", Duration::from_secs(10));
    let played = finish(player, Duration::from_secs(30));
    eprintln!(
        "edge player: {} frames, largest gap {} ms, republished after {:?}",
        played.dts.len(),
        played.max_gap_ms(),
        moved_at.elapsed()
    );
    assert!(
        played.non_decreasing(),
        "timestamps went back: {:?}",
        played.dts
    );
    assert!(
        played.dts.len() > 14 * 25 / 2,
        "the player was cut off: {} frames\n{}\n{}",
        played.dts.len(),
        played.stderr,
        c.log()
    );
    let v = cluster_view(&c);
    assert!(
        v["edges"][0]["url"]
            .as_str()
            .is_some_and(|u| u.contains(&b.rtmp_port.to_string())),
        "the edge did not follow the owner: {v}"
    );
    if let Some(p) = second {
        stop(p);
    }
}

#[test]
fn with_etcd_gone_streams_keep_playing_and_new_names_are_claimed_when_it_returns() {
    let mut etcd = Etcd::start("down");
    let a = node("down", "a", &etcd);
    let b = node("down", "b", &etcd);
    wait_store(&a, "up");
    wait_store(&b, "up");
    let publisher = publish(&format!("rtmp://127.0.0.1:{}/live/kept", a.rtmp_port), 60);
    a.wait_live("kept", Duration::from_secs(10));
    wait_owner(&b, "kept", "a", Duration::from_secs(10));
    let player = play(
        &format!("rtmp://127.0.0.1:{}/live/kept", b.rtmp_port),
        Some(10),
    );
    b.wait_live("kept", Duration::from_secs(10));

    etcd.kill();
    wait_store(&a, "down");
    wait_store(&b, "down");
    let (status, _) = b.get("/healthz");
    assert_eq!(status, 200, "a node without its store is still healthy");
    let (_, metrics) = b.get("/metrics");
    assert!(metrics.contains("strom_cluster_store_up 0"), "{metrics}");
    // A name nobody here knows: refused at once, not a 5 s wait.
    let asked = Instant::now();
    let unknown = fetch(b.http_port, "GET", "/live/nowhere.live.flv").expect("answer");
    assert_eq!(unknown.status, 503, "{}", unknown.text());
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    // A new name is served locally (serve_local) …
    let local = publish(&format!("rtmp://127.0.0.1:{}/live/fresh", b.rtmp_port), 60);
    b.wait_live("fresh", Duration::from_secs(10));

    let played = finish(player, Duration::from_secs(30));
    assert!(
        played.success && played.dts.len() > 10 * 25 / 2,
        "the edge's player stopped while etcd was down: {} frames\n{}",
        played.dts.len(),
        played.stderr
    );
    // … and claimed once etcd answers again.
    etcd.restart();
    wait_store(&b, "up");
    wait_owner(&a, "fresh", "b", Duration::from_secs(15));
    stop(local);
    stop(publisher);
}

#[test]
fn a_frozen_publisher_on_one_node_is_taken_over_from_another() {
    let etcd = Etcd::start("frozen");
    let a = node("frozen", "a", &etcd);
    let b = node("frozen", "b", &etcd);
    wait_store(&a, "up");
    wait_store(&b, "up");
    let frozen = publish(&format!("rtmp://127.0.0.1:{}/live/fz", a.rtmp_port), 60);
    a.wait_live("fz", Duration::from_secs(10));
    wait_owner(&b, "fz", "a", Duration::from_secs(10));
    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &frozen.id().to_string()])
            .status()
            .expect("kill runs")
    };
    // The encoder's machine freezes: its connection stays open, silent.
    signal("-STOP");
    let frozen_at = Instant::now();
    let mut newcomer = None;
    let taken = wait_until(Duration::from_secs(15), || {
        let p = publish(&format!("rtmp://127.0.0.1:{}/live/fz", b.rtmp_port), 30);
        std::thread::sleep(Duration::from_millis(1000));
        let live = b.get("/api/v1/streams/live/fz").0 == 200;
        if live {
            newcomer = Some(p);
        } else {
            stop(p);
        }
        live
    });
    let after = frozen_at.elapsed();
    assert!(taken.is_some(), "b never took the name over: {}", b.log());
    eprintln!("a frozen publisher on a taken over from b {after:?} after it froze");
    wait_owner(&a, "fz", "b", Duration::from_secs(10));
    // The old encoder wakes up: the name is b's, a's publisher is ended.
    signal("-CONT");
    a.wait_for_log(&["another node owns this name"], Duration::from_secs(10));
    stop(frozen);
    if let Some(p) = newcomer {
        stop(p);
    }
}

#[test]
fn a_player_waiting_on_an_edge_gets_a_stream_published_later_on_another_node() {
    let etcd = Etcd::start("waiting");
    let a = node("waiting", "a", &etcd);
    let b = node("waiting", "b", &etcd);
    wait_store(&a, "up");
    wait_store(&b, "up");
    // The player comes first; the stream is published on a a moment later.
    let player = play(
        &format!("http://127.0.0.1:{}/live/later.live.flv", b.http_port),
        Some(3),
    );
    std::thread::sleep(Duration::from_millis(300));
    let publisher = publish(&format!("rtmp://127.0.0.1:{}/live/later", a.rtmp_port), 30);
    let played = finish(player, Duration::from_secs(20));
    assert!(
        played.success && played.dts.len() > 25,
        "the waiting player got {} frames\n{}\n{}",
        played.dts.len(),
        played.stderr,
        b.log()
    );
    stop(publisher);
}

#[test]
fn with_a_cluster_secret_edges_pass_the_owners_play_tokens_and_forgers_do_not() {
    let etcd = Etcd::start("secret");
    let settings = [
        ("STROM_AUTH__PLAY_TOKENS", "{live = \"viewer-token\"}"),
        ("STROM_CLUSTER__SECRET", "nodes-only"),
    ];
    let a = node_with("secret", "a", &etcd, &settings);
    let b = node_with("secret", "b", &etcd, &settings);
    wait_store(&a, "up");
    wait_store(&b, "up");
    let publisher = publish(&format!("rtmp://127.0.0.1:{}/live/sec", a.rtmp_port), 60);
    a.wait_live("sec", Duration::from_secs(10));
    let epoch = wait_owner(&b, "sec", "a", Duration::from_secs(10));
    // A viewer with the token plays on the edge: the edge's own pull and HLS
    // fetches carry no viewer token, only the nodes' signature.
    for url in [
        format!(
            "rtmp://127.0.0.1:{}/live/sec?token=viewer-token",
            b.rtmp_port
        ),
        format!(
            "http://127.0.0.1:{}/live/sec.live.flv?token=viewer-token",
            b.http_port
        ),
    ] {
        let streams = probe(&url);
        assert!(
            streams.iter().any(|(codec, _, _)| codec == "h264"),
            "{url}: {streams:?}\n{}",
            a.log()
        );
    }
    // HLS segments carry no token (a limit of tokens in queries, on any
    // node): the playlist shows the edge's signed fetch passed the owner.
    let playlist =
        fetch(b.http_port, "GET", "/live/sec/hls.m3u8?token=viewer-token").expect("playlist");
    assert_eq!(playlist.status, 200, "{}\n{}", playlist.text(), a.log());
    // Someone who read an epoch but has no secret is not a node.
    let forged = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-rw_timeout", "5000000"])
        .arg(format!(
            "rtmp://127.0.0.1:{}/live/sec?strom_epoch={epoch}&strom_sign=00",
            a.rtmp_port
        ))
        .output()
        .expect("ffprobe runs");
    assert!(!forged.status.success(), "a forged edge pull was served");
    a.wait_for_log(
        &["without a valid cluster signature"],
        Duration::from_secs(5),
    );
    stop(publisher);
}
