//! Answering a connection the server will not serve, at once and cheaply.
//!
//! HTTP's answer is written straight into the fresh socket's empty send
//! buffer (it cannot block); RTSP's waits briefly for the request's `CSeq`;
//! RTMP's needs the handshake and `connect` first (see [`Refusal::Rtmp`]).
//! Closing a socket whose request is still unread makes the kernel send RST,
//! which can destroy the answer before the client reads it, so a refused
//! connection is half-closed and drained for a moment — but only while fewer
//! than [`MAX_LINGERING`] refusals linger ([`MAX_RTMP_REFUSING`] for RTMP);
//! beyond that, under a flood, it is closed at once. A refusal never waits on
//! the peer on the accept loop's path.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Reason;

/// Refused connections drained at once at most, server-wide.
pub const MAX_LINGERING: usize = 64;

/// How long a refused connection is drained (and, for RTSP, how long its
/// request's `CSeq` is waited for).
pub const REFUSAL_LINGER: Duration = Duration::from_millis(250);

/// How long an RTMP refusal may take: handshake, `connect`, the answer.
pub const RTMP_REFUSAL_LIMIT: Duration = Duration::from_secs(2);

/// RTMP refusals in progress at once at most, server-wide (apart from the
/// HTTP/RTSP lingers, so idle RTMP floods cannot take their slots).
pub const MAX_RTMP_REFUSING: usize = 32;

static LINGERING: AtomicUsize = AtomicUsize::new(0);
static RTMP_REFUSING: AtomicUsize = AtomicUsize::new(0);

/// The protocol whose refusal a connection gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `HTTP/1.1 503 Service Unavailable`, `Connection: close`, `Retry-After`.
    Http,
    /// `RTSP/1.0 503 Service Unavailable` echoing the request's `CSeq` when
    /// it arrives within [`REFUSAL_LINGER`].
    Rtsp,
    /// RTMP over a session cap: the handshake, then `connect` answered with
    /// `_error` `NetConnection.Connect.Rejected` naming the cap, within
    /// [`RTMP_REFUSAL_LIMIT`]. That costs a few round trips, so over a
    /// pending budget (a flood) or with no slot free the connection is
    /// closed at once instead.
    Rtmp,
}

/// The HTTP refusal's bytes.
pub fn http_503(reason: Reason) -> String {
    let body = format!(
        "{{\"error\":{{\"code\":\"overloaded\",\"message\":\"server busy: {}\"}}}}",
        reason.name()
    );
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The RTSP refusal's bytes.
pub fn rtsp_503(cseq: Option<&str>) -> String {
    let cseq = cseq.map(|c| format!("CSeq: {c}\r\n")).unwrap_or_default();
    format!("RTSP/1.0 503 Service Unavailable\r\n{cseq}Retry-After: 1\r\nContent-Length: 0\r\n\r\n")
}

/// The `CSeq` value of the first request head in `buf`, if complete enough.
fn cseq_of(buf: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(buf).ok()?;
    text.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        let ok = name.trim().eq_ignore_ascii_case("cseq")
            && !value.is_empty()
            && value.len() <= 10
            && value.bytes().all(|b| b.is_ascii_digit());
        ok.then_some(value)
    })
}

/// Refuses `stream` with its protocol's answer. Must run inside a runtime
/// (the linger, when there is room for it, is a task of its own).
pub fn refuse(stream: TcpStream, refusal: Refusal, reason: Reason) {
    let _ = stream.set_nodelay(true);
    match refusal {
        // Over a pending budget the peer is flooding (it holds connections
        // that said nothing yet): not worth a handshake.
        Refusal::Rtmp if matches!(reason, Reason::MaxSessions | Reason::MaxSessionsPerIp) => {
            refuse_rtmp(stream, reason)
        }
        Refusal::Rtmp => drop(stream),
        Refusal::Http => {
            let _ = stream.try_write(http_503(reason).as_bytes());
            linger(stream, None);
        }
        Refusal::Rtsp => linger(stream, Some(())),
    }
}

/// Takes one of `max` slots counted by `pool`, if one is free; the guard
/// gives it back.
fn slot(pool: &'static AtomicUsize, max: usize) -> Option<SlotGuard> {
    if pool.fetch_add(1, Ordering::AcqRel) >= max {
        pool.fetch_sub(1, Ordering::AcqRel);
        return None;
    }
    Some(SlotGuard(pool))
}

struct SlotGuard(&'static AtomicUsize);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// RTMP's refusal: handshake, then `connect` rejected (see [`Refusal::Rtmp`]).
fn refuse_rtmp(mut stream: TcpStream, reason: Reason) {
    use rtmp_proto::{HandshakeParams, ServerConfig, ServerEvent, ServerSession};
    let Some(slot) = slot(&RTMP_REFUSING, MAX_RTMP_REFUSING) else {
        return; // dropped: closed at once
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut session = ServerSession::new(
        ServerConfig {
            handshake: HandshakeParams {
                epoch: 0,
                seed: [seed.to_le_bytes(), seed.rotate_left(64).to_le_bytes()]
                    .concat()
                    .try_into()
                    .unwrap_or([7; 32]),
            },
            ..ServerConfig::default()
        },
        std::time::Instant::now(),
    );
    let why = format!("server busy: {}", reason.name());
    tokio::spawn(async move {
        let _slot = slot;
        let exchange = async {
            let mut buf = bytes::BytesMut::with_capacity(4096);
            // A peer that does not even start the handshake at once (an idle
            // flood) is not worth the slot.
            let first = tokio::time::timeout(REFUSAL_LINGER, stream.read_buf(&mut buf));
            if !matches!(first.await, Ok(Ok(1..))) {
                return None;
            }
            session
                .handle_input_bytes(buf.split().freeze(), std::time::Instant::now())
                .ok()?;
            loop {
                while let Some(out) = session.poll_transmit() {
                    stream.write_all(&out).await.ok()?;
                }
                if session.is_closed() {
                    return Some(());
                }
                buf.reserve(4096);
                if stream.read_buf(&mut buf).await.ok()? == 0 {
                    return None;
                }
                session
                    .handle_input_bytes(buf.split().freeze(), std::time::Instant::now())
                    .ok()?;
                while let Some(event) = session.poll_event() {
                    if let ServerEvent::ConnectRequested { req, .. } = event {
                        session.respond(
                            req,
                            rtmp_proto::Decision::reject(
                                rtmp_proto::command::StatusCode::ConnectRejected,
                                &why,
                            ),
                        );
                    }
                }
            }
        };
        if tokio::time::timeout(RTMP_REFUSAL_LIMIT, exchange)
            .await
            .ok()
            .flatten()
            .is_some()
        {
            // Let the client read the rejection: FIN, then drain briefly.
            let _ = stream.shutdown().await;
            let mut sink = [0u8; 1024];
            let drain = async { while let Ok(1..) = stream.read(&mut sink).await {} };
            let _ = tokio::time::timeout(REFUSAL_LINGER, drain).await;
        }
    });
}

/// Drains (and for RTSP answers) `stream` in a task if a linger slot is
/// free; otherwise reads what already arrived, answers and closes at once.
fn linger(stream: TcpStream, rtsp: Option<()>) {
    let Some(slot) = slot(&LINGERING, MAX_LINGERING) else {
        // Read what already arrived (usually the whole request), so that
        // closing sends FIN, not an RST that could discard the answer.
        let mut buf = [0u8; 1024];
        let mut seen = 0;
        while seen < buf.len() {
            match stream.try_read(&mut buf[seen..]) {
                Ok(n) if n > 0 => seen += n,
                _ => break,
            }
        }
        if rtsp.is_some() {
            let _ = stream.try_write(rtsp_503(cseq_of(&buf[..seen])).as_bytes());
        }
        return;
    };
    let mut stream = stream;
    tokio::spawn(async move {
        let _slot = slot;
        let drain = async {
            let mut buf = [0u8; 1024];
            let mut seen = 0;
            if rtsp.is_some() {
                // Wait for the request head so the answer can carry its CSeq.
                while seen < buf.len() {
                    match stream.read(&mut buf[seen..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => seen += n,
                    }
                    if buf[..seen].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let answer = rtsp_503(cseq_of(&buf[..seen]));
                let _ = stream.write_all(answer.as_bytes()).await;
            }
            let _ = stream.shutdown().await;
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(REFUSAL_LINGER, drain).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_well_formed() {
        let h = http_503(Reason::MaxPendingPerIp);
        assert!(h.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(h.contains("Connection: close\r\n"));
        let (head, body) = h.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(body.contains("max_pending_per_ip"));
        assert_eq!(
            rtsp_503(Some("7")),
            "RTSP/1.0 503 Service Unavailable\r\nCSeq: 7\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn cseq_is_found_and_checked() {
        let req = b"OPTIONS rtsp://h/a/b RTSP/1.0\r\ncseq: 12\r\n\r\n";
        assert_eq!(cseq_of(req), Some("12"));
        assert_eq!(
            cseq_of(b"OPTIONS x RTSP/1.0\r\nCSeq: 1\r\nFAKE\r\n"),
            Some("1")
        );
        assert_eq!(cseq_of(b"OPTIONS x RTSP/1.0\r\nCSeq: 1\rX: y\r\n"), None);
        assert_eq!(
            cseq_of(b"OPTIONS x RTSP/1.0\r\nCSeq: 99999999999\r\n"),
            None
        );
        assert_eq!(cseq_of(b"\xff\xfe"), None);
    }

    #[tokio::test]
    async fn a_refused_http_client_reads_the_503() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut out = Vec::new();
            let _ = c.read_to_end(&mut out).await;
            String::from_utf8_lossy(&out).into_owned()
        });
        let (s, _) = listener.accept().await.unwrap();
        refuse(s, Refusal::Http, Reason::MaxControl);
        let got = client.await.unwrap();
        assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    }

    #[tokio::test]
    async fn a_refused_rtsp_client_gets_its_cseq_back() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            c.write_all(b"OPTIONS rtsp://h/live/x RTSP/1.0\r\nCSeq: 3\r\n\r\n")
                .await
                .unwrap();
            let mut out = Vec::new();
            let _ = c.read_to_end(&mut out).await;
            String::from_utf8_lossy(&out).into_owned()
        });
        let (s, _) = listener.accept().await.unwrap();
        refuse(s, Refusal::Rtsp, Reason::MaxSessions);
        let got = client.await.unwrap();
        assert!(got.starts_with("RTSP/1.0 503"), "{got}");
        assert!(got.contains("CSeq: 3\r\n"), "{got}");
    }
}
