//! One WHEP viewer: a client-side `str0m::Rtc` on its own UDP socket,
//! its offer posted over HTTP, full ICE (controlling) + DTLS + SRTP, and
//! every `MediaData` counted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use str0m::change::SdpAnswer;
use str0m::config::DtlsCert;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Largest answer read.
const MAX_ANSWER: usize = 64 * 1024;
/// Largest datagram read.
const MAX_DATAGRAM: usize = 2048;
/// Receive buffer asked for each viewer's socket (the kernel caps it at
/// `net.core.rmem_max`).
const RECV_BUFFER: usize = 1 << 20;
/// Datagrams taken from the socket per wake-up before str0m is polled
/// for its timeout again (bounds one turn).
const BATCH: usize = 64;

/// What one viewer saw; read by the summary.
#[derive(Default)]
pub struct Stats {
    /// ICE + DTLS done (`Event::Connected`).
    pub connected: AtomicBool,
    /// POST sent → first video `MediaData`, in µs (0: none yet).
    pub first_frame_us: AtomicU64,
    /// Video frames (`MediaData` of the video mid) in the window.
    pub frames: AtomicU64,
    /// Media bytes (depacketized) in the window.
    pub media_bytes: AtomicU64,
    /// UDP payload bytes received in the window (what the server sent).
    pub udp_bytes: AtomicU64,
    /// Why the viewer failed.
    pub error: Mutex<Option<String>>,
}

impl Stats {
    pub fn fail(&self, why: String) {
        let mut e = self.error.lock().unwrap_or_else(|e| e.into_inner());
        e.get_or_insert(why);
    }

    pub fn failed(&self) -> bool {
        self.error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

/// What every viewer shares.
pub struct Shared {
    pub host: String,
    pub http_port: u16,
    pub path: String,
    pub audio: bool,
    /// One certificate for every viewer: a key generation per viewer would
    /// be load-client CPU that measures nothing about the server.
    pub cert: DtlsCert,
    /// Counting is on (the measurement window).
    pub window: AtomicBool,
    /// Every viewer ends (DTLS close sent) when this turns.
    pub stop: AtomicBool,
    /// Longest a viewer waits for its answer and connection.
    pub connect_timeout: Duration,
    /// Longest any viewer lives (a bound on every loop).
    pub deadline: Instant,
}

/// Runs one viewer until `shared.stop` or `shared.deadline`; failures go
/// into `stats`.
pub async fn run(shared: Arc<Shared>, stats: Arc<Stats>) {
    if let Err(e) = viewer(&shared, &stats).await {
        stats.fail(e);
    }
}

async fn viewer(shared: &Shared, stats: &Stats) -> Result<(), String> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("udp bind: {e}"))?;
    socket.set_nonblocking(true).map_err(|e| e.to_string())?;
    // Room for a GOP burst while the client's thread is busy with others:
    // drops here would be the client's, not the server's.
    let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&socket, RECV_BUFFER);
    let socket = UdpSocket::from_std(socket).map_err(|e| format!("udp: {e}"))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let mut rtc = RtcConfig::new()
        .set_dtls_cert(shared.cert.clone())
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true, false)
        .build(Instant::now());
    let candidate = Candidate::host(local, "udp").map_err(|e| format!("candidate: {e}"))?;
    rtc.add_local_candidate(candidate);
    let mut api = rtc.sdp_api();
    let video = api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    if shared.audio {
        api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    }
    let (offer, pending) = api.apply().ok_or("no offer made")?;
    let started = Instant::now();
    let answer = tokio::time::timeout(shared.connect_timeout, post(shared, &offer.to_sdp_string()))
        .await
        .map_err(|_| "no answer in time".to_string())??;
    let (answer, location) = answer;
    let answer = SdpAnswer::from_sdp_string(&answer).map_err(|e| format!("answer: {e}"))?;
    // The server's candidate: str0m takes the answer's candidates as remote.
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| format!("answer not accepted: {e}"))?;
    let driven = drive(shared, stats, &mut rtc, &socket, local, video, started).await;
    // The session ends at once on strom (a DTLS close alone may be lost,
    // and the next step must start from none).
    if let Some(location) = location {
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            request(shared, "DELETE", &location, ""),
        )
        .await;
    }
    driven
}

/// The drive loop: datagrams in, str0m's output out, until stopped.
async fn drive(
    shared: &Shared,
    stats: &Stats,
    rtc: &mut Rtc,
    socket: &UdpSocket,
    local: SocketAddr,
    video: Mid,
    started: Instant,
) -> Result<(), String> {
    let connect_by = started + shared.connect_timeout;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let sleep = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(sleep);
    let mut connected = false;
    loop {
        let wake = poll(rtc, socket, stats, shared, video, started, &mut connected)?;
        let now = Instant::now();
        if shared.stop.load(Ordering::Relaxed) || now >= shared.deadline {
            break;
        }
        if !connected && now >= connect_by {
            return Err("not connected in time".into());
        }
        // Wake at str0m's deadline, and at least every 100 ms to see `stop`.
        let wake = wake.min(now + Duration::from_millis(100));
        sleep.as_mut().reset(wake.into());
        tokio::select! {
            r = socket.readable() => {
                r.map_err(|e| format!("udp: {e}"))?;
                for _ in 0..BATCH {
                    let (n, from) = match socket.try_recv_from(&mut buf) {
                        Ok(x) => x,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(_) => continue, // ICMP errors of earlier sends
                    };
                    if shared.window.load(Ordering::Relaxed) {
                        stats.udp_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    let Ok(contents) = buf[..n].try_into() else { continue };
                    let input = Input::Receive(
                        Instant::now(),
                        Receive { proto: Protocol::Udp, source: from, destination: local, contents },
                    );
                    rtc.handle_input(input).map_err(|e| format!("input: {e}"))?;
                    poll(rtc, socket, stats, shared, video, started, &mut connected)?;
                }
            }
            () = &mut sleep => {
                rtc.handle_input(Input::Timeout(Instant::now())).map_err(|e| format!("timeout: {e}"))?;
            }
        }
    }
    rtc.disconnect();
    while let Ok(Output::Transmit(t)) = rtc.poll_output() {
        let _ = socket.try_send_to(&t.contents, t.destination);
    }
    Ok(())
}

/// Everything str0m has to say up to its next deadline.
fn poll(
    rtc: &mut Rtc,
    socket: &UdpSocket,
    stats: &Stats,
    shared: &Shared,
    video: Mid,
    started: Instant,
    connected: &mut bool,
) -> Result<Instant, String> {
    loop {
        match rtc.poll_output().map_err(|e| format!("rtc: {e}"))? {
            Output::Timeout(t) => return Ok(t),
            Output::Transmit(t) => {
                let _ = socket.try_send_to(&t.contents, t.destination);
            }
            Output::Event(Event::Connected) => {
                *connected = true;
                stats.connected.store(true, Ordering::Relaxed);
            }
            Output::Event(Event::IceConnectionStateChange(IceConnectionState::Disconnected)) => {
                return Err("ICE disconnected".into());
            }
            Output::Event(Event::MediaData(d)) => {
                if d.mid == video {
                    if stats.first_frame_us.load(Ordering::Relaxed) == 0 {
                        let us = started.elapsed().as_micros().max(1) as u64;
                        stats.first_frame_us.store(us, Ordering::Relaxed);
                    }
                    if shared.window.load(Ordering::Relaxed) {
                        stats.frames.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if shared.window.load(Ordering::Relaxed) {
                    stats
                        .media_bytes
                        .fetch_add(d.data.len() as u64, Ordering::Relaxed);
                }
            }
            Output::Event(Event::Closed) => return Err("closed by the server".into()),
            Output::Event(_) => {}
        }
    }
}

/// POSTs the offer; the answer's SDP and the session's `Location`.
async fn post(shared: &Shared, offer: &str) -> Result<(String, Option<String>), String> {
    let (status, head, sdp) = request(shared, "POST", &shared.path, offer).await?;
    if status != "201" {
        return Err(format!(
            "POST answered {status}: {}",
            sdp.chars().take(200).collect::<String>()
        ));
    }
    let location = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("location")
            .then(|| v.trim().to_string())
    });
    Ok((sdp, location))
}

/// One HTTP/1.1 request (`Connection: close`); status, head and body.
async fn request(
    shared: &Shared,
    method: &str,
    path: &str,
    offer: &str,
) -> Result<(String, String, String), String> {
    let mut sock = TcpStream::connect((shared.host.as_str(), shared.http_port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        shared.host,
        offer.len()
    );
    sock.write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    sock.write_all(offer.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    (&mut sock)
        .take(MAX_ANSWER as u64)
        .read_to_end(&mut body)
        .await
        .map_err(|e| format!("answer: {e}"))?;
    let text = String::from_utf8_lossy(&body);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no complete response")?;
    let status = head.split_whitespace().nth(1).unwrap_or("").to_string();
    Ok((status, head.to_string(), body.to_string()))
}
