//! A WHEP viewer made of str0m's client side: an offer posted over HTTP, ICE
//! (strom is ICE-lite, the client controls), DTLS, SRTP, and the frames
//! counted.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// What a viewer saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub connected: Option<Duration>,
    pub first_video: Option<Duration>,
    pub first_video_keyframe: bool,
    pub video_frames: u64,
    pub audio_frames: u64,
    pub audio_codec: Option<String>,
    pub video_mid: Option<Mid>,
}

/// A viewer that posted its offer and holds the answer's resource.
pub struct Viewer {
    pub rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    pub location: Option<String>,
    started: Instant,
    pub seen: Seen,
    /// ICE-TCP: the connection to strom and the bytes read from it so far.
    tcp: Option<(TcpStream, Vec<u8>)>,
    use_tcp: bool,
}

/// An offer for video + audio, receive only, and what it needs to go on.
pub fn offer() -> (Rtc, SdpOffer, SdpPendingOffer, UdpSocket, SocketAddr) {
    let (rtc, offer, pending, socket, local, _) = offer_over(false);
    (rtc, offer, pending, socket, local)
}

/// An offer whose only candidate is ICE-TCP active (`tcp`) or UDP.
#[allow(clippy::type_complexity)]
fn offer_over(tcp: bool) -> (Rtc, SdpOffer, SdpPendingOffer, UdpSocket, SocketAddr, Mid) {
    let mut rtc = Rtc::builder().build(Instant::now());
    let socket = UdpSocket::bind("127.0.0.1:0").expect("udp bind");
    let mut local = socket.local_addr().expect("addr");
    if tcp {
        // RFC 6544: an active candidate's port is 9; the connection's own
        // port does not matter to ICE.
        local.set_port(9);
        let c = Candidate::builder()
            .tcp()
            .host(local)
            .tcptype(TcpType::Active)
            .build()
            .expect("tcp candidate");
        rtc.add_local_candidate(c);
    } else {
        rtc.add_local_candidate(Candidate::host(local, "udp").expect("candidate"));
    }
    let mut api = rtc.sdp_api();
    let video = api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    let (offer, pending) = api.apply().expect("an offer");
    (rtc, offer, pending, socket, local, video)
}

/// `POST path` with an SDP body: status, headers (lowercase names), body.
pub fn post_sdp(port: u16, path: &str, sdp: &str) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1:1\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{sdp}",
        sdp.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

impl Viewer {
    /// Posts an offer to `path` (a WHEP URL) and applies the answer.
    pub fn start(port: u16, path: &str) -> Result<Viewer, String> {
        Viewer::start_over(port, path, false)
    }

    /// Like [`Viewer::start`], over ICE-TCP only.
    pub fn start_tcp(port: u16, path: &str) -> Result<Viewer, String> {
        Viewer::start_over(port, path, true)
    }

    fn start_over(port: u16, path: &str, use_tcp: bool) -> Result<Viewer, String> {
        let started = Instant::now();
        let (mut rtc, offer, pending, socket, local, video) = offer_over(use_tcp);
        let (status, headers, body) = post_sdp(port, path, &offer.to_sdp_string());
        if status != 201 {
            return Err(format!("{status}: {body}"));
        }
        let answer = SdpAnswer::from_sdp_string(&body).map_err(|e| e.to_string())?;
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| e.to_string())?;
        socket
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let location = headers
            .iter()
            .find(|(k, _)| k == "location")
            .map(|(_, v)| v.clone());
        Ok(Viewer {
            rtc,
            socket,
            local,
            location,
            started,
            seen: Seen {
                video_mid: Some(video),
                ..Seen::default()
            },
            tcp: None,
            use_tcp,
        })
    }

    /// Drives the peer for `time` or until `done` says so.
    pub fn run(&mut self, time: Duration, done: impl Fn(&Seen) -> bool) {
        let until = Instant::now() + time;
        let mut buf = vec![0u8; 2048];
        while Instant::now() < until && !done(&self.seen) && self.rtc.is_alive() {
            let timeout = loop {
                match self.rtc.poll_output() {
                    Ok(Output::Timeout(t)) => break t,
                    Ok(Output::Transmit(t)) if t.proto == Protocol::Tcp => {
                        self.send_tcp(t.destination, &t.contents);
                    }
                    Ok(Output::Transmit(t)) => {
                        let _ = self.socket.send_to(&t.contents, t.destination);
                    }
                    Ok(Output::Event(e)) => self.event(e),
                    Err(_) => return,
                }
            };
            let wait = timeout
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(1), Duration::from_millis(20));
            if self.use_tcp {
                let now = Instant::now();
                let input = match self.recv_tcp(wait) {
                    Some((source, data)) => {
                        let Ok(contents) = data.as_slice().try_into() else {
                            continue;
                        };
                        let receive = Receive {
                            proto: Protocol::Tcp,
                            source,
                            destination: self.local,
                            contents,
                        };
                        let _ = self.rtc.handle_input(Input::Receive(now, receive));
                        continue;
                    }
                    None => Input::Timeout(now),
                };
                let _ = self.rtc.handle_input(input);
                continue;
            }
            self.socket.set_read_timeout(Some(wait)).unwrap();
            let input = match self.socket.recv_from(&mut buf) {
                Ok((n, source)) => match buf[..n].try_into() {
                    Ok(contents) => Input::Receive(
                        Instant::now(),
                        Receive {
                            proto: Protocol::Udp,
                            source,
                            destination: self.local,
                            contents,
                        },
                    ),
                    Err(_) => continue,
                },
                Err(_) => Input::Timeout(Instant::now()),
            };
            let _ = self.rtc.handle_input(input);
        }
    }

    /// Asks strom for a keyframe (an RTCP PLI on the video).
    pub fn request_keyframe(&mut self) -> bool {
        let Some(mid) = self.seen.video_mid else {
            return false;
        };
        match self.rtc.direct_api().stream_rx_by_mid(mid, None) {
            Some(rx) => {
                rx.request_keyframe(str0m::media::KeyframeRequestKind::Pli);
                true
            }
            None => false,
        }
    }

    fn send_tcp(&mut self, to: SocketAddr, data: &[u8]) {
        if self.tcp.is_none() {
            if let Ok(s) = TcpStream::connect_timeout(&to, Duration::from_secs(2)) {
                self.tcp = Some((s, Vec::new()));
            }
        }
        if let Some((s, _)) = &mut self.tcp {
            let mut framed = (data.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(data);
            let _ = s.write_all(&framed);
        }
    }

    /// One RFC 4571 frame from strom, waiting at most `wait`.
    fn recv_tcp(&mut self, wait: Duration) -> Option<(SocketAddr, Vec<u8>)> {
        let (s, pending) = self.tcp.as_mut()?;
        let from = s.peer_addr().ok()?;
        loop {
            if pending.len() >= 2 {
                let len = usize::from(u16::from_be_bytes([pending[0], pending[1]]));
                if pending.len() >= 2 + len {
                    let frame = pending[2..2 + len].to_vec();
                    pending.drain(..2 + len);
                    return Some((from, frame));
                }
            }
            s.set_read_timeout(Some(wait)).ok()?;
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => pending.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn event(&mut self, e: Event) {
        let at = self.started.elapsed();
        match e {
            Event::Connected => self.seen.connected = Some(at),
            Event::MediaData(d) => {
                if d.params.spec().codec.is_video() {
                    if self.seen.first_video.is_none() {
                        self.seen.first_video = Some(at);
                        self.seen.first_video_keyframe = d.is_keyframe();
                    }
                    self.seen.video_frames += 1;
                } else {
                    self.seen.audio_frames += 1;
                    self.seen.audio_codec = Some(format!("{:?}", d.params.spec().codec));
                }
            }
            _ => {}
        }
    }
}
