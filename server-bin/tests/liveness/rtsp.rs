//! RTSP: the handshake deadline (however many requests), a trickle, the
//! publisher keep-alive of a RECORD session, the session timeout of a
//! paused player.

use std::time::Duration;

use stream_core::Protocol;
use strom::drive::End;
use tokio::io::AsyncWriteExt;
use tokio::time::{sleep, Instant};

use crate::harness::{rtsp_response, rtsp_send, Connection, RtmpPeer, Server};

const LINGER: Duration = Duration::from_millis(500);

fn at_deadline(lived: Duration, deadline: Duration) {
    assert!(
        lived >= deadline && lived <= deadline + LINGER + Duration::from_millis(5),
        "ended after {lived:?}, deadline {deadline:?}"
    );
}

const SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==,aOvjyyLA\r\n\
a=control:streamid=0\r\n";

pub(crate) fn request(method: &str, url: &str, cseq: u32, extra: &str, body: &str) -> String {
    let length = if body.is_empty() {
        String::new()
    } else {
        format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    format!("{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\n{extra}{length}\r\n{body}")
}

pub(crate) fn status(response: &Option<String>) -> u16 {
    response
        .as_deref()
        .and_then(|r| r.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn session_header(response: &Option<String>) -> String {
    let id = response
        .as_deref()
        .and_then(|r| r.lines().find_map(|l| l.strip_prefix("Session:")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_string();
    format!("Session: {id}\r\n")
}

#[tokio::test(start_paused = true)]
async fn options_every_second_do_not_extend_the_handshake_deadline() {
    let server = Server::start(|_| {});
    let mut conn = server.connect(Protocol::Rtsp);
    let url = "rtsp://127.0.0.1/live/none";
    let mut cseq = 1;
    loop {
        rtsp_send(&mut conn, &request("OPTIONS", url, cseq, "", "")).await;
        if status(&rtsp_response(&mut conn).await) != 200 {
            break;
        }
        cseq += 1;
        sleep(Duration::from_secs(1)).await;
    }
    let (end, lived) = conn.ended().await;
    assert!(matches!(end, End::Timeout("handshake")), "{end}");
    at_deadline(lived, Duration::from_secs(15));
    assert!(cseq >= 15, "only {cseq} requests answered");
}

#[tokio::test(start_paused = true)]
async fn a_request_trickling_one_byte_a_second_is_closed_at_the_handshake_deadline() {
    let server = Server::start(|_| {});
    let mut conn = server.connect(Protocol::Rtsp);
    let text = request(
        "DESCRIBE",
        "rtsp://127.0.0.1/live/x",
        1,
        "Accept: application/sdp\r\n",
        "",
    );
    let io = &mut conn.io;
    let trickle = async {
        for b in text.bytes().cycle() {
            if io.write_all(&[b]).await.is_err() {
                return;
            }
            sleep(Duration::from_secs(1)).await;
        }
    };
    let end = tokio::select! {
        _ = trickle => panic!("writes failed before the session ended"),
        end = &mut conn.task => end.expect("task"),
    };
    assert!(matches!(end, End::Timeout("handshake")), "{end}");
    at_deadline(conn.opened.elapsed(), Duration::from_secs(15));
}

#[tokio::test(start_paused = true)]
async fn a_recording_client_without_rtp_is_closed_at_its_keep_alive() {
    let server = Server::start(|_| {});
    let mut conn = server.connect(Protocol::Rtsp);
    let url = "rtsp://127.0.0.1/live/rec";
    rtsp_send(&mut conn, &request("ANNOUNCE", url, 1, "", SDP)).await;
    assert_eq!(status(&rtsp_response(&mut conn).await), 200, "ANNOUNCE");
    let transport = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1;mode=record\r\n";
    rtsp_send(
        &mut conn,
        &request("SETUP", &format!("{url}/streamid=0"), 2, transport, ""),
    )
    .await;
    let setup = rtsp_response(&mut conn).await;
    assert_eq!(status(&setup), 200, "SETUP {setup:?}");
    let session = session_header(&setup);
    rtsp_send(&mut conn, &request("RECORD", url, 3, &session, "")).await;
    assert_eq!(status(&rtsp_response(&mut conn).await), 200, "RECORD");
    let recording = Instant::now();
    // Keep-alive requests do not keep a publisher alive: only RTP does.
    for cseq in 4..10 {
        sleep(Duration::from_secs(2)).await;
        rtsp_send(
            &mut conn,
            &request("GET_PARAMETER", url, cseq, &session, ""),
        )
        .await;
        assert_eq!(status(&rtsp_response(&mut conn).await), 200);
    }
    let end = (&mut conn.task).await.expect("task");
    assert!(matches!(end, End::Timeout("publisher keep-alive")), "{end}");
    at_deadline(recording.elapsed(), Duration::from_secs(15));
}

#[tokio::test(start_paused = true)]
async fn a_paused_player_is_closed_at_the_session_timeout() {
    let server = Server::start(|c| c.rtsp.session_timeout_secs = 20);
    let _publisher = RtmpPeer::publisher(&server, "paused").await;
    let url = "rtsp://127.0.0.1/live/paused";
    let (mut conn, session) = play_tcp(&server, url).await;
    rtsp_send(&mut conn, &request("PAUSE", url, 4, &session, "")).await;
    let paused = Instant::now();
    // Read (and drop) whatever comes until the session ends, so no write
    // stall can be what closes it.
    let mut sink = vec![0u8; 64 * 1024];
    loop {
        use tokio::io::AsyncReadExt;
        match conn.io.read(&mut sink).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let end = (&mut conn.task).await.expect("task");
    assert!(matches!(end, End::Timeout("session timeout")), "{end}");
    let lived = paused.elapsed();
    assert!(
        lived >= Duration::from_secs(20) - Duration::from_millis(5)
            && lived <= Duration::from_secs(20) + LINGER,
        "{lived:?}"
    );
}

/// An RTSP player of `url`'s first track, RTP interleaved on its
/// connection: DESCRIBE, SETUP and PLAY sent (PLAY's answer left unread).
/// Returns the connection and its `Session:` header line.
pub(crate) async fn play_tcp(server: &Server, url: &str) -> (Connection, String) {
    let mut conn = server.connect(Protocol::Rtsp);
    rtsp_send(
        &mut conn,
        &request("DESCRIBE", url, 1, "Accept: application/sdp\r\n", ""),
    )
    .await;
    let describe = rtsp_response(&mut conn).await;
    assert_eq!(status(&describe), 200, "DESCRIBE {describe:?}");
    let control = describe
        .as_deref()
        .and_then(|d| {
            d.lines()
                .filter_map(|l| l.strip_prefix("a=control:"))
                .find(|c| *c != "*")
        })
        .unwrap_or("trackID=0")
        .trim()
        .to_string();
    let track = if control.starts_with("rtsp://") {
        control
    } else {
        format!("{url}/{control}")
    };
    let transport = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n";
    rtsp_send(&mut conn, &request("SETUP", &track, 2, transport, "")).await;
    let setup = rtsp_response(&mut conn).await;
    assert_eq!(status(&setup), 200, "SETUP {setup:?}");
    let session = session_header(&setup);
    rtsp_send(&mut conn, &request("PLAY", url, 3, &session, "")).await;
    (conn, session)
}
