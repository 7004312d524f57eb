//! The failures that make other servers fake-die, at test scale: players
//! that never read, and hostile bytes at every listener. The long, loaded
//! versions belong to `cargo xtask chaos`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::media::{finish, play, publish};
use common::{json, Strom};

fn sessions(strom: &Strom) -> Vec<serde_json::Value> {
    json(&strom.get("/api/v1/sessions").1)["sessions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn players_that_never_read_are_dropped_and_cost_nobody_else() {
    let strom = Strom::start(
        "stuck-players",
        &[],
        &[
            ("STROM_SERVER__WRITE_STALL_MS", "2000"),
            ("STROM_STREAM__MAX_LAG_MS", "2000"),
            // A small kernel buffer so this low-bitrate test stream fills it in seconds.
            ("STROM_SERVER__SOCKET_SEND_BUFFER", "32768"),
        ],
    );
    let rtmp = format!("rtmp://127.0.0.1:{}/live/stuck", strom.rtmp_port);
    let flv = format!("http://127.0.0.1:{}/live/stuck.live.flv", strom.http_port);
    let publisher = publish(&rtmp, 14);
    let deadline = Instant::now() + Duration::from_secs(10);
    while strom.get("/api/v1/streams/live/stuck").0 != 200 {
        assert!(Instant::now() < deadline, "stream never went live");
        std::thread::sleep(Duration::from_millis(100));
    }
    // 30 HTTP-FLV players that send a request and never read a byte; their
    // receive windows fill and stay full.
    // Small receive buffers: their windows fill and stay full.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let port = strom.http_port;
    let stuck: Vec<tokio::net::TcpStream> = rt.block_on(async {
        use tokio::io::AsyncWriteExt;
        let mut all = Vec::new();
        for _ in 0..30 {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.set_recv_buffer_size(4096).unwrap();
            let mut s = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
            s.write_all(b"GET /live/stuck.live.flv HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            all.push(s);
        }
        all
    });
    let healthy = play(&flv, Some(8));

    let mut worst = Duration::ZERO;
    let watch_until = Instant::now() + Duration::from_secs(9);
    while Instant::now() < watch_until {
        let t = Instant::now();
        assert_eq!(strom.get("/healthz").0, 200);
        worst = worst.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        worst < Duration::from_millis(1000),
        "healthz took {worst:?} beside stuck players"
    );

    let seen = finish(healthy, Duration::from_secs(20));
    assert!(
        seen.dts.len() >= 190,
        "the healthy player got {} of 200 frames: {}",
        seen.dts.len(),
        seen.stderr
    );
    assert!(seen.max_gap_ms() <= 80, "gap of {} ms", seen.max_gap_ms());
    // The stuck ones were dropped (write stall or max lag), the publisher stays.
    let left = sessions(&strom);
    let stuck_left = left.iter().filter(|s| s["protocol"] == "http-flv").count();
    assert_eq!(stuck_left, 0, "stuck players still attached: {left:?}");
    let metrics = strom.get("/metrics").1;
    assert!(
        metrics.contains("reason=\"write-stall\"") || metrics.contains("reason=\"lagged\""),
        "{metrics}"
    );
    let published = finish(publisher, Duration::from_secs(20));
    assert!(
        published.success,
        "publisher disturbed: {}",
        published.stderr
    );
    drop(stuck);
}

#[test]
fn hostile_bytes_close_only_the_offending_sessions() {
    let strom = Strom::start("hostile", &[], &[("STROM_RTMP__HANDSHAKE_SECS", "2")]);
    let rtmp = format!("rtmp://127.0.0.1:{}/live/calm", strom.rtmp_port);
    let publisher = publish(&rtmp, 8);
    let player = play(&rtmp, Some(5));

    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    let mut attacks: Vec<(u16, Vec<u8>)> = Vec::new();
    for _ in 0..20 {
        attacks.push((strom.rtmp_port, noise(4096)));
        attacks.push((strom.http_port, noise(2048)));
    }
    // A valid handshake, then a Set Chunk Size of 0x7FFFFFFF and a 16 MB message header.
    let mut absurd = vec![3u8];
    absurd.extend(vec![0u8; 1536 * 2]);
    absurd.extend([
        0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff,
    ]);
    absurd.extend([0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0x14, 0, 0, 0, 0]);
    attacks.push((strom.rtmp_port, absurd));
    // An endless request line and a huge header block.
    attacks.push((
        strom.http_port,
        [b"GET /".as_slice(), &vec![b'a'; 64 * 1024]].concat(),
    ));
    attacks.push((
        strom.http_port,
        [
            b"GET /live/x.live.flv HTTP/1.1\r\n".as_slice(),
            &vec![b'h'; 32 * 1024],
        ]
        .concat(),
    ));

    for (port, bytes) in &attacks {
        let mut s = TcpStream::connect(("127.0.0.1", *port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(bytes);
        let mut buf = [0u8; 4096];
        let started = Instant::now();
        // Whatever the server answers, it must end the connection.
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "attack on {port} kept open"
        );
    }
    assert_eq!(strom.get("/healthz").0, 200);

    let seen = finish(player, Duration::from_secs(20));
    assert!(
        seen.dts.len() >= 120,
        "player got {} frames: {}",
        seen.dts.len(),
        seen.stderr
    );
    let published = finish(publisher, Duration::from_secs(20));
    assert!(published.success, "{}", published.stderr);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sessions(&strom).is_empty() {
        assert!(
            Instant::now() < deadline,
            "sessions left: {:?}",
            sessions(&strom)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigterm_under_load_tells_players_and_exits_in_time() {
    let strom = Strom::start(
        "sigterm-load",
        &[],
        &[("STROM_SERVER__SHUTDOWN_GRACE_SECS", "3")],
    );
    let rtmp = format!("rtmp://127.0.0.1:{}/live/bye", strom.rtmp_port);
    let flv = format!("http://127.0.0.1:{}/live/bye.live.flv", strom.http_port);
    let publisher = publish(&rtmp, 30);
    let deadline = Instant::now() + Duration::from_secs(10);
    while strom.get("/api/v1/streams/live/bye").0 != 200 {
        assert!(Instant::now() < deadline, "stream never went live");
        std::thread::sleep(Duration::from_millis(100));
    }
    let rtsp = format!("rtsp://127.0.0.1:{}/live/bye", strom.rtsp_port);
    let ts = format!("http://127.0.0.1:{}/live/bye.live.ts", strom.http_port);
    let hls = format!("http://127.0.0.1:{}/live/bye/hls.m3u8", strom.http_port);
    let players = [
        play(&rtmp, None),
        play(&flv, None),
        play(&flv, None),
        common::media::play_with(&rtsp, None, &["-rtsp_transport", "tcp"]),
        play(&ts, None),
        play(&hls, None),
    ];
    std::thread::sleep(Duration::from_secs(5));

    let (status, took, log) = strom.terminate(Duration::from_secs(6));
    assert_eq!(status.code(), Some(0), "{log}");
    // Every session ends at once (HLS keep-alive connections included), not
    // at the end of the grace period.
    assert!(
        took < Duration::from_millis(2500),
        "took {took:?}; log:\n{log}"
    );
    // Every player ends on its own (told the stream ended, or its socket closed).
    for p in players {
        let seen = finish(p, Duration::from_secs(10));
        assert!(
            !seen.dts.is_empty(),
            "a player saw nothing before the shutdown"
        );
    }
    let _ = finish(publisher, Duration::from_secs(10));
    assert!(log.contains("strom stopped"), "{log}");
    // Nothing kept the media workers alive past the end (an ended HLS feed
    // waiting for ENDLIST fetchers once did).
    assert!(!log.contains("still referenced"), "{log}");
}
