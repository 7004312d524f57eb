//! Honest bounds (issue 15): the GOP cache counts the wire forms players of
//! every format cache on its frames, and `/metrics` reports the resident
//! media bytes of each stream and in total.

use std::net::SocketAddr;
use std::time::Duration;

use stream_core::Protocol;
use strom::server::Shared;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::sleep;

use crate::flv_bodies::big_inter_frame;
use crate::harness::{big_keyframe, RtmpPeer, Server};
use crate::rtsp::play_tcp;

/// Payload of each published frame, and the GOP bound: a whole GOP of
/// payload (25 × 8 KiB = 200 KiB) fits. Its four wire forms share the
/// payload (parts, not copies), so they add only their headers and part
/// lists; forms that copied it would have made 1 MiB.
const FRAME: usize = 8 * 1024;
const GOP_MAX: usize = 400 * 1024;

/// Reads and drops everything until the connection closes.
fn drain(mut io: impl AsyncRead + Unpin + Send + 'static) {
    tokio::spawn(async move {
        let mut sink = vec![0u8; 64 * 1024];
        while matches!(io.read(&mut sink).await, Ok(n) if n > 0) {}
    });
}

/// An HTTP-FLV player (HTTP/1.1: chunked, or HTTP/1.0: plain) served by the
/// real handler on a loopback connection.
async fn http_flv_player(server: &Server, listener: &TcpListener, stream: &str, http11: bool) {
    let addr = listener.local_addr().expect("addr");
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let (mut client, (served, peer)) = (client.expect("connect"), accepted.expect("accept"));
    let guard = server.shared.sessions.register(Protocol::HttpFlv, peer);
    tokio::spawn(strom::http_media::flv::run(
        served,
        server.shared.clone(),
        guard,
    ));
    let version = if http11 { "1.1" } else { "1.0" };
    let head = format!("GET /live/{stream}.live.flv HTTP/{version}\r\nHost: t\r\n\r\n");
    client.write_all(head.as_bytes()).await.expect("request");
    drain(client);
}

/// A sample of the exposition text: `name` or `name{labels}`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `/metrics`' resident bytes of `live/cam` and in total.
fn resident(shared: &Shared) -> (f64, f64) {
    let text = strom::http::metrics::render(shared);
    let stream = sample(&text, "strom_stream_resident_bytes{stream=\"live/cam\"}");
    let total = sample(&text, "strom_resident_media_bytes");
    (stream.unwrap_or(-1.0), total.unwrap_or(-1.0))
}

#[tokio::test(start_paused = true)]
async fn resident_bytes_stay_under_the_gop_bound_with_players_of_every_format() {
    let server = Server::start(|c| c.stream.gop_cache_max_bytes = GOP_MAX);
    let mut publisher = RtmpPeer::publisher(&server, "cam").await;
    // RTMP, RTSP (RTP interleaved), HTTP-FLV chunked and plain: every wire slot.
    let mut rtmp = RtmpPeer::player(&server, "cam").await;
    tokio::spawn(async move { while rtmp.next_event().await.is_some() {} });
    let (rtsp, _) = play_tcp(&server, "rtsp://127.0.0.1/live/cam").await;
    drain(rtsp.io);
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    http_flv_player(&server, &listener, "cam", true).await;
    http_flv_player(&server, &listener, "cam", false).await;
    sleep(Duration::from_millis(100)).await;

    let mut most = 0.0f64;
    let mut after_keyframe = Vec::new();
    for i in 1..=100u32 {
        let ts = i * 40;
        if i % 25 == 0 {
            publisher.send_video(ts, big_keyframe(FRAME)).await;
        } else {
            publisher.send_video(ts, big_inter_frame(FRAME)).await;
        }
        // Frame pacing in virtual time: every player has taken the frame.
        sleep(Duration::from_millis(40)).await;
        let (stream, total) = resident(&server.shared);
        assert_eq!(stream, total, "one stream: the total is its bytes");
        assert!(
            (0.0..=GOP_MAX as f64).contains(&stream),
            "frame {i}: {stream} resident bytes, bound {GOP_MAX}"
        );
        most = most.max(stream);
        if i % 25 == 0 {
            after_keyframe.push(stream);
        }
    }
    // A keyframe alone: its payload, and its four wire forms counting only
    // what is not a slice of the payload (headers, part lists).
    for n in &after_keyframe {
        assert!(
            (FRAME as f64..(FRAME + FRAME / 4) as f64).contains(n),
            "a lone keyframe counts {n}"
        );
    }
    assert!(
        ((24 * FRAME) as f64..(30 * FRAME) as f64).contains(&most),
        "the whole GOP cached, forms adding little: {most}"
    );
    let players = server
        .shared
        .hub
        .stream(&stream_core::StreamKey::new("live", "cam"));
    assert_eq!(players.map(|s| s.subscribers.len()), Some(4));
    server.shut_down();
}
