//! Admission on the real binary: floods above every cap from an attacker's
//! address (127.0.0.2) while a healthy client on 127.0.0.1 is served.
//! The attacker's sockets are held open for the whole check: a flood that
//! stops at the cap would prove nothing about the cap.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::Strom;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A connection from `source` (an attacker binds 127.0.0.2).
async fn connect_from(source: [u8; 4], port: u16) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    socket
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
}

/// Opens `n` idle connections from `source`, keeping those that connect.
async fn idle_flood(source: [u8; 4], port: u16, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        if let Ok(s) = connect_from(source, port).await {
            held.push(s);
        }
    }
    held
}

/// What the server did with a held connection within `limit`: the bytes it
/// sent before closing, or `None` when it is still open.
async fn fate(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 512];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| got)
}

/// `GET path` from 127.0.0.1 on a fresh connection; how long the answer took.
async fn timed_get(port: u16, path: &str) -> (u16, Duration) {
    let start = Instant::now();
    let exchange = async {
        let mut s = connect_from([127, 0, 0, 1], port).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        text.split_whitespace().nth(1)?.parse::<u16>().ok()
    };
    let status = tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or(0);
    (status, start.elapsed())
}

/// The value of the `/metrics` sample with exactly these labels.
fn metric(strom: &Strom, sample: &str) -> f64 {
    let (_, text) = strom.get("/metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {sample} in /metrics:\n{text}"))
}

#[tokio::test]
async fn idle_http_sockets_above_the_cap_do_not_delay_healthz() {
    // A long request deadline, so the attacker's 16 admitted sockets are
    // still waiting when the test looks at them, however slow the machine.
    let strom = Strom::start(
        "adm-idle-http",
        &[],
        &[("STROM_HTTP__REQUEST_TIMEOUT_MS", "60000")],
    );
    // 300 idle sockets: more than http.max_connections (256) and far more
    // than the 16 pending connections one address may hold.
    let mut idle = idle_flood([127, 0, 0, 2], strom.http_port, 300).await;
    assert_eq!(idle.len(), 300, "every attacker connection was accepted");
    for _ in 0..16 {
        let (status, took) = timed_get(strom.http_port, "/healthz").await;
        assert_eq!(status, 200, "/healthz answered within 2 s (took {took:?})");
    }
    // The attacker's excess was answered 503 and closed at once; its first
    // 16 are still open, waiting for their request line.
    let mut refused = 0;
    let mut open = 0;
    for s in idle.iter_mut() {
        match fate(s, Duration::from_millis(50)).await {
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
                assert!(text.contains("Connection: close"), "{text}");
                refused += 1;
            }
            None => open += 1,
        }
    }
    assert_eq!((open, refused), (16, 284));
    let counted = metric(
        &strom,
        "strom_connections_refused_total{listener=\"http\",reason=\"max_pending_per_ip\"}",
    );
    assert_eq!(counted, 284.0);
    // A media player from the healthy address still gets its stream answer.
    let (status, _) = timed_get(strom.http_port, "/api/v1/streams").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_1024_descriptor_limit_survives_idle_floods_on_every_listener() {
    let strom = Strom::start_wrapped(
        "adm-fd-limit",
        &["prlimit", "--nofile=1024:1024", "--"],
        &[],
        &[],
    );
    let log = strom.wait_for_log(&["admission limits"], Duration::from_secs(5));
    assert!(log.contains("fd_soft=1024"), "{log}");
    let mut held = Vec::new();
    for port in [strom.rtmp_port, strom.rtsp_port, strom.http_port] {
        // 1,100 per listener: the whole flood is three times the limit.
        held.push(idle_flood([127, 0, 0, 2], port, 1100).await);
    }
    for _ in 0..10 {
        let (status, took) = timed_get(strom.http_port, "/healthz").await;
        assert_eq!(status, 200, "/healthz answered within 2 s (took {took:?})");
    }
    // RTSP still answers a healthy client.
    let mut rtsp = connect_from([127, 0, 0, 1], strom.rtsp_port).await.unwrap();
    rtsp.write_all(b"OPTIONS rtsp://127.0.0.1/live/x RTSP/1.0\r\nCSeq: 1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(2), rtsp.read(&mut buf))
        .await
        .expect("RTSP answers in time")
        .unwrap();
    assert!(buf[..n].starts_with(b"RTSP/1.0 200"));
    let open = metric(&strom, "strom_open_fds");
    assert!(open < 200.0, "descriptors stay far from the limit: {open}");
    let log = strom.log();
    assert!(
        !log.contains("out of descriptors"),
        "the caps keep the limit out of reach:\n{log}"
    );
    // Each listener refused all but its address's 16 pending connections.
    let refused = ["rtmp", "rtsp", "http"].map(|l| {
        metric(
            &strom,
            &format!(
                "strom_connections_refused_total{{listener=\"{l}\",reason=\"max_pending_per_ip\"}}"
            ),
        )
    });
    assert!(
        refused.iter().sum::<f64>() >= 3.0 * 1100.0 - 16.0,
        "{refused:?}"
    );
    drop(held);
}

#[tokio::test]
async fn descriptor_exhaustion_refuses_without_spinning_and_recovers() {
    // Caps configured above the descriptor limit: accept() itself runs out.
    let strom = Strom::start_wrapped(
        "adm-emfile",
        &["prlimit", "--nofile=256:256", "--"],
        &[],
        &[
            ("STROM_SERVER__MAX_PENDING", "5000"),
            ("STROM_SERVER__MAX_PENDING_PER_IP", "5000"),
            ("STROM_SERVER__MAX_SESSIONS", "5000"),
            ("STROM_SERVER__MAX_SESSIONS_PER_IP", "5000"),
        ],
    );
    let start = Instant::now();
    let mut held = idle_flood([127, 0, 0, 2], strom.rtmp_port, 600).await;
    // Connections the server could not take are closed, not left hanging.
    let mut closed = 0;
    for s in held.iter_mut().rev().take(100) {
        if fate(s, Duration::from_millis(100)).await.is_some() {
            closed += 1;
        }
    }
    assert!(
        closed > 0,
        "connections beyond the descriptors were refused"
    );
    let log = strom.log();
    let warnings = log.matches("out of descriptors").count();
    let secs = start.elapsed().as_secs() as usize + 1;
    assert!(
        (1..=secs + 1).contains(&warnings),
        "one throttled warning per second at most: {warnings} in {secs} s"
    );
    drop(held);
    // Descriptors come back once the attacker leaves.
    let back = common::wait_until(Duration::from_secs(10), || {
        common::http_request(strom.http_port, "GET", "/healthz", &[])
            .is_ok_and(|(status, _)| status == 200)
    });
    assert!(back.is_some(), "/healthz answers again after the flood");
    let exhausted = metric(
        &strom,
        "strom_connections_refused_total{listener=\"rtmp\",reason=\"fd_exhausted\"}",
    );
    assert!(exhausted > 0.0);
}

#[tokio::test]
async fn rtsp_over_max_sessions_gets_503_with_its_cseq() {
    let strom = Strom::start("adm-rtsp", &[], &[("STROM_SERVER__MAX_SESSIONS", "2")]);
    let _a = idle_flood([127, 0, 0, 2], strom.rtsp_port, 1).await;
    let _b = idle_flood([127, 0, 0, 3], strom.rtsp_port, 1).await;
    let mut late = connect_from([127, 0, 0, 1], strom.rtsp_port).await.unwrap();
    late.write_all(b"OPTIONS rtsp://127.0.0.1/live/x RTSP/1.0\r\nCSeq: 41\r\n\r\n")
        .await
        .unwrap();
    let answer = fate(&mut late, Duration::from_secs(2))
        .await
        .expect("the refused connection is closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("RTSP/1.0 503 "), "{text}");
    assert!(text.contains("CSeq: 41\r\n"), "{text}");
    assert_eq!(
        metric(
            &strom,
            "strom_connections_refused_total{listener=\"rtsp\",reason=\"max_sessions\"}"
        ),
        1.0
    );
}

#[tokio::test]
async fn the_control_reserve_keeps_healthz_and_trusted_api_answering() {
    let strom = Strom::start(
        "adm-reserve",
        &[],
        &[
            ("STROM_HTTP__MAX_CONNECTIONS", "4"),
            ("STROM_HTTP__CONTROL_RESERVE", "2"),
        ],
    );
    // Two keep-alive connections on a path that is neither probe nor API.
    let mut held = Vec::new();
    for source in [[127, 0, 0, 2], [127, 0, 0, 3]] {
        let mut s = connect_from(source, strom.http_port).await.unwrap();
        s.write_all(b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 404"));
        held.push(s);
    }
    // A third such caller is refused at once …
    let mut third = connect_from([127, 0, 0, 4], strom.http_port).await.unwrap();
    third
        .write_all(b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let answer = fate(&mut third, Duration::from_secs(2)).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 503 "));
    // … while the reserve serves /healthz, /metrics and the trusted API.
    for path in ["/healthz", "/metrics", "/api/v1/streams"] {
        let (status, _) = timed_get(strom.http_port, path).await;
        assert_eq!(status, 200, "{path}");
    }
    drop(held);
}

#[tokio::test]
async fn an_idle_keep_alive_control_connection_is_closed() {
    let strom = Strom::start(
        "adm-keepalive",
        &[],
        &[("STROM_HTTP__REQUEST_TIMEOUT_MS", "500")],
    );
    let mut s = connect_from([127, 0, 0, 2], strom.http_port).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Then silence: the server closes well before the 60 s lifetime bound.
    let start = Instant::now();
    let closed = fate(&mut s, Duration::from_secs(10)).await;
    assert!(
        closed.is_some(),
        "idle keep-alive connection still open after {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn rtmp_over_max_sessions_is_told_connect_rejected() {
    let strom = Strom::start("adm-rtmp", &[], &[("STROM_SERVER__MAX_SESSIONS", "2")]);
    let _a = idle_flood([127, 0, 0, 2], strom.rtmp_port, 1).await;
    let _b = idle_flood([127, 0, 0, 3], strom.rtmp_port, 1).await;
    let url = format!("rtmp://127.0.0.1:{}/live/late", strom.rtmp_port);
    // `timeout` bounds ffmpeg however it ends; the blocking wait runs off
    // the runtime that drives the idle sockets.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("timeout")
            .args([
                "30",
                "ffmpeg",
                "-hide_banner",
                "-nostdin",
                "-f",
                "lavfi",
                "-i",
            ])
            .args([
                "testsrc2=size=160x120:rate=25",
                "-t",
                "2",
                "-c:v",
                "libx264",
            ])
            .args(["-f", "flv", &url])
            .output()
            .expect("ffmpeg runs (apt-get install ffmpeg)")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("server busy: max_sessions"),
        "ffmpeg names the cap:\n{stderr}"
    );
}
