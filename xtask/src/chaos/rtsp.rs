//! The RTSP clients the scenarios drive (RFC 2326 over raw sockets): a
//! request/answer exchange that skips interleaved frames, a publisher
//! (ANNOUNCE, SETUP, RECORD, then RTP from the chaos clip over TCP
//! interleaving or UDP) and a player (DESCRIBE, SETUP, PLAY) that counts
//! video frames by the RTP marker bit (RFC 6184 §5.1: set on the last packet
//! of an access unit). No depacketizing: a frame's arrival is the proof.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rtmp_proto::session::MediaKind;

use super::clients::{PlayStats, Tag};

/// Largest RTP packet the clip is cut into (payload plus header).
const MTU: usize = 1400;
/// Largest answer head accepted from the server.
const MAX_HEAD: usize = 64 * 1024;

/// One answer from the server.
#[derive(Debug, Default)]
pub struct Answer {
    /// Status code (0 if the status line was not RTSP).
    pub status: u16,
    /// Header fields as sent.
    pub headers: Vec<(String, String)>,
    /// Body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

impl Answer {
    /// A header's value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What arrives on an RTSP connection.
pub enum Msg {
    /// An answer to a request.
    Answer(Answer),
    /// An interleaved frame (RFC 2326 §10.12): channel and data.
    Frame(u8, Vec<u8>),
}

/// An RTSP connection to `live/<stream>`.
pub struct RtspConn {
    /// The socket (100 ms read timeout).
    pub sock: TcpStream,
    buf: Vec<u8>,
    cseq: u32,
    session: Option<String>,
    /// `rtsp://127.0.0.1:PORT/live/STREAM`.
    pub url: String,
}

impl RtspConn {
    /// Connects to the RTSP port for `live/<stream>`.
    pub fn connect(port: u16, stream: &str) -> Result<RtspConn, String> {
        let sock = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
        sock.set_nodelay(true).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        sock.set_write_timeout(Some(Duration::from_secs(3)))
            .map_err(|e| e.to_string())?;
        Ok(RtspConn {
            sock,
            buf: Vec::new(),
            cseq: 0,
            session: None,
            url: format!("rtsp://127.0.0.1:{port}/live/{stream}"),
        })
    }

    /// Sends a request (`CSeq` and `Session` added; `headers` are whole lines).
    pub fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[String],
        body: &[u8],
    ) -> Result<(), String> {
        self.cseq += 1;
        let mut head = format!("{method} {url} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
        if let Some(s) = &self.session {
            head.push_str(&format!("Session: {s}\r\n"));
        }
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        if !body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.sock
            .write_all(&bytes)
            .map_err(|e| format!("{method}: write: {e}"))
    }

    /// Sends a request and waits up to `within` for its answer (interleaved
    /// frames before it are dropped).
    pub fn request(
        &mut self,
        method: &str,
        url: &str,
        headers: &[String],
        body: &[u8],
        within: Duration,
    ) -> Result<Answer, String> {
        self.send(method, url, headers, body)?;
        let deadline = Instant::now() + within;
        loop {
            match self.next_msg(deadline)? {
                Some(Msg::Answer(a)) => {
                    if let Some(s) = a.header("Session") {
                        let id = s.split(';').next().unwrap_or_default().trim();
                        self.session = Some(id.to_string());
                    }
                    return Ok(a);
                }
                Some(Msg::Frame(..)) => {}
                None => {
                    return Err(format!(
                        "{method}: no answer within {} ms",
                        within.as_millis()
                    ))
                }
            }
        }
    }

    /// The next message, or `None` once `deadline` passes; an error when the
    /// server closed the connection or sent something unreadable.
    pub fn next_msg(&mut self, deadline: Instant) -> Result<Option<Msg>, String> {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if let Some(m) = self.parse()? {
                return Ok(Some(m));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            match self.sock.read(&mut chunk) {
                Ok(0) => return Err("server closed".into()),
                Ok(n) => self
                    .buf
                    .extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// One complete message off the front of the buffer.
    fn parse(&mut self) -> Result<Option<Msg>, String> {
        if self.buf.first() == Some(&b'$') {
            let Some(&[_, ch, a, b]) = self.buf.get(..4) else {
                return Ok(None);
            };
            let end = 4 + usize::from(u16::from_be_bytes([a, b]));
            let Some(data) = self.buf.get(4..end) else {
                return Ok(None);
            };
            let data = data.to_vec();
            self.buf.drain(..end);
            return Ok(Some(Msg::Frame(ch, data)));
        }
        let Some(head_end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            if self.buf.len() > MAX_HEAD {
                return Err("answer head over 64 KiB".into());
            }
            return Ok(None);
        };
        let head = String::from_utf8_lossy(self.buf.get(..head_end).unwrap_or_default());
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .filter(|l| l.starts_with("RTSP/"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let mut answer = Answer {
            status,
            headers,
            body: Vec::new(),
        };
        let len: usize = answer
            .header("Content-Length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let body_at = head_end + 4;
        let Some(body) = self.buf.get(body_at..body_at + len) else {
            return Ok(None);
        };
        answer.body = body.to_vec();
        self.buf.drain(..body_at + len);
        Ok(Some(Msg::Answer(answer)))
    }

    /// Sends one interleaved frame (RFC 2326 §10.12).
    pub fn send_frame(&mut self, channel: u8, data: &[u8]) -> Result<(), String> {
        let len = u16::try_from(data.len()).map_err(|_| "interleaved frame over 64 KiB")?;
        let mut b = Vec::with_capacity(4 + data.len());
        b.push(b'$');
        b.push(channel);
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(data);
        self.sock
            .write_all(&b)
            .map_err(|e| format!("interleaved write: {e}"))
    }
}

/// An even/odd pair of loopback UDP sockets (RTP, RTCP) for `client_port`.
fn udp_pair() -> Result<(UdpSocket, UdpSocket), String> {
    for _ in 0..50 {
        let rtp = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = rtp.local_addr().map_err(|e| e.to_string())?.port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) {
            return Ok((rtp, rtcp));
        }
    }
    Err("no free even/odd UDP port pair".into())
}

/// `server_port=a-b` of a SETUP answer's `Transport`.
fn server_port(a: &Answer) -> Option<u16> {
    a.header("Transport")?
        .split(';')
        .find_map(|p| p.trim().strip_prefix("server_port="))?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// How a publisher's RTP leaves.
enum Route {
    /// Interleaved on this channel.
    Channel(u8),
    /// To the server's RTP port, from our socket.
    Udp(UdpSocket, SocketAddr),
}

/// A recording RTSP session.
pub struct RtspPublisher {
    /// The control connection.
    pub conn: RtspConn,
    routes: Vec<Route>,
}

impl RtspPublisher {
    /// ANNOUNCE the clip's SDP, SETUP each track (interleaved, or UDP when
    /// `udp`), RECORD. A refused ANNOUNCE is `Err("rejected: <status>")`.
    pub fn start(
        port: u16,
        stream: &str,
        clip: &RtpClip,
        udp: bool,
        within: Duration,
    ) -> Result<RtspPublisher, String> {
        let mut conn = RtspConn::connect(port, stream)?;
        let url = conn.url.clone();
        let a = conn.request(
            "ANNOUNCE",
            &url,
            &["Content-Type: application/sdp".into()],
            clip.sdp.as_bytes(),
            within,
        )?;
        if a.status != 200 {
            return Err(format!("rejected: ANNOUNCE answered {}", a.status));
        }
        let mut routes = Vec::new();
        for track in 0..clip.tracks {
            let (transport, pair) = if udp {
                let (rtp, rtcp) = udp_pair()?;
                let p = rtp.local_addr().map_err(|e| e.to_string())?.port();
                let t = format!(
                    "Transport: RTP/AVP;unicast;client_port={p}-{};mode=record",
                    p + 1
                );
                (t, Some((rtp, rtcp)))
            } else {
                let c = track as u8 * 2;
                let t = format!(
                    "Transport: RTP/AVP/TCP;unicast;interleaved={c}-{};mode=record",
                    c + 1
                );
                (t, None)
            };
            let a = conn.request(
                "SETUP",
                &format!("{url}/streamid={track}"),
                &[transport],
                &[],
                within,
            )?;
            if a.status != 200 {
                return Err(format!("SETUP answered {}", a.status));
            }
            routes.push(match pair {
                Some((rtp, _rtcp)) => {
                    let sp = server_port(&a).ok_or("SETUP answer without server_port")?;
                    Route::Udp(rtp, SocketAddr::from(([127, 0, 0, 1], sp)))
                }
                None => Route::Channel(track as u8 * 2),
            });
        }
        let a = conn.request("RECORD", &url, &["Range: npt=0.000-".into()], &[], within)?;
        if a.status != 200 {
            return Err(format!("RECORD answered {}", a.status));
        }
        Ok(RtspPublisher { conn, routes })
    }

    /// Sends one RTP packet of `track`.
    pub fn send(&mut self, track: usize, packet: &[u8]) -> Result<(), String> {
        match self.routes.get(track) {
            Some(Route::Channel(c)) => {
                let c = *c;
                self.conn.send_frame(c, packet)
            }
            Some(Route::Udp(sock, to)) => sock
                .send_to(packet, to)
                .map(|_| ())
                .map_err(|e| format!("udp send: {e}")),
            None => Err(format!("no track {track}")),
        }
    }

    /// Sends the clip's first `n` packets.
    pub fn send_clip(&mut self, clip: &RtpClip, n: usize) -> Result<(), String> {
        for (track, p) in clip.packets.iter().take(n) {
            self.send(*track, p)?;
        }
        Ok(())
    }
}

/// A playing RTSP session.
pub struct RtspPlay {
    /// The control connection.
    pub conn: RtspConn,
    /// The interleaved RTP channel of the video track, over TCP.
    pub video_channel: Option<u8>,
    /// RTP/RTCP sockets per track, over UDP (video first if any).
    pub udp: Vec<(UdpSocket, UdpSocket)>,
}

impl RtspPlay {
    /// DESCRIBE, SETUP every described track (interleaved, or UDP when
    /// `udp`), PLAY. A refused DESCRIBE is `Err("rejected: <status>")`.
    pub fn start(port: u16, stream: &str, udp: bool, within: Duration) -> Result<RtspPlay, String> {
        let mut conn = RtspConn::connect(port, stream)?;
        let url = conn.url.clone();
        let a = conn.request(
            "DESCRIBE",
            &url,
            &["Accept: application/sdp".into()],
            &[],
            within,
        )?;
        if a.status != 200 {
            return Err(format!("rejected: DESCRIBE answered {}", a.status));
        }
        let base = a
            .header("Content-Base")
            .map(|b| b.trim_end_matches('/').to_string())
            .unwrap_or_else(|| url.clone());
        // (kind, control) per media section (RFC 4566 §5.14, RFC 2326 §C.1.1).
        let mut media: Vec<(String, Option<String>)> = Vec::new();
        for line in String::from_utf8_lossy(&a.body).lines() {
            if let Some(m) = line.strip_prefix("m=") {
                media.push((m.split(' ').next().unwrap_or_default().to_string(), None));
            } else if let (Some(c), Some(last)) =
                (line.strip_prefix("a=control:"), media.last_mut())
            {
                last.1 = Some(c.trim().to_string());
            }
        }
        if media.is_empty() {
            return Err("DESCRIBE answer without media".into());
        }
        let mut video_channel = None;
        let mut socks = Vec::new();
        for (i, (kind, control)) in media.iter().enumerate() {
            let track_url = match control.as_deref() {
                Some(c) if c.starts_with("rtsp://") => c.to_string(),
                Some(c) => format!("{base}/{c}"),
                None => base.clone(),
            };
            let transport = if udp {
                let (rtp, rtcp) = udp_pair()?;
                let p = rtp.local_addr().map_err(|e| e.to_string())?.port();
                let _ = rtp.set_read_timeout(Some(Duration::from_millis(50)));
                socks.push((rtp, rtcp));
                format!("Transport: RTP/AVP;unicast;client_port={p}-{}", p + 1)
            } else {
                let c = i as u8 * 2;
                format!("Transport: RTP/AVP/TCP;unicast;interleaved={c}-{}", c + 1)
            };
            let a = conn.request("SETUP", &track_url, &[transport], &[], within)?;
            if a.status != 200 {
                return Err(format!("SETUP answered {}", a.status));
            }
            if kind == "video" && !udp {
                video_channel = Some(i as u8 * 2);
            }
        }
        let a = conn.request("PLAY", &url, &["Range: npt=0.000-".into()], &[], within)?;
        if a.status != 200 {
            return Err(format!("PLAY answered {}", a.status));
        }
        Ok(RtspPlay {
            conn,
            video_channel,
            udp: socks,
        })
    }

    /// Waits up to `within` for the first video RTP packet (interleaved) or
    /// any RTP datagram (UDP); true when one came.
    pub fn saw_media(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        if let Some((rtp, _)) = self.udp.first() {
            let mut b = [0u8; 2048];
            while Instant::now() < deadline {
                if rtp.recv(&mut b).is_ok() {
                    return true;
                }
            }
            return false;
        }
        while let Ok(Some(m)) = self.conn.next_msg(deadline) {
            if matches!(m, Msg::Frame(c, _) if Some(c) == self.video_channel) {
                return true;
            }
        }
        false
    }
}

/// A player's life on its own thread: plays `live/<stream>` over TCP and
/// counts video frames (marker bit) until `stop`.
pub fn play_loop(
    port: u16,
    stream: &str,
    stop: &AtomicBool,
    stats: &Mutex<PlayStats>,
) -> Result<(), String> {
    let mut p = RtspPlay::start(port, stream, false, Duration::from_secs(5))?;
    let lock = || stats.lock().unwrap_or_else(|e| e.into_inner());
    lock().playing = true;
    while !stop.load(Ordering::Relaxed) {
        match p.conn.next_msg(Instant::now() + Duration::from_millis(100)) {
            Ok(Some(Msg::Frame(ch, data))) if Some(ch) == p.video_channel => {
                // RTP marker bit (RFC 3550 §5.1): the access unit is complete.
                if data.get(1).is_some_and(|b| b & 0x80 != 0) {
                    lock().video_frames += 1;
                }
            }
            Ok(_) => {}
            Err(e) => {
                lock().closed = true;
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The chaos clip as RTP: an SDP to ANNOUNCE and the packets in order.
pub struct RtpClip {
    /// The session description (H.264 track 0, AAC track 1 when present).
    pub sdp: String,
    /// Media sections in the SDP.
    pub tracks: usize,
    /// (track, RTP packet) in sending order.
    pub packets: Vec<(usize, Vec<u8>)>,
}

/// One RTP packet (RFC 3550 §5.1): V=2, no padding/extension/CSRC.
fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= c.len() {
                s.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Cuts the clip's FLV tags into RTP: H.264 per RFC 6184 (single NAL units
/// and FU-A, SPS/PPS in-band before each keyframe and in
/// `sprop-parameter-sets`), AAC per RFC 3640 (AAC-hbr, one AU per packet).
pub fn rtp_clip(tags: &[Tag]) -> Result<RtpClip, String> {
    let (mut sps_pps, mut asc) = (Vec::<Vec<u8>>::new(), None::<Vec<u8>>);
    let mut packets = Vec::new();
    let (mut vseq, mut aseq) = (0u16, 0u16);
    for (kind, ts, body) in tags {
        match kind {
            MediaKind::Video => {
                let (Some(&ft), Some(&pt)) = (body.first(), body.get(1)) else {
                    continue;
                };
                if pt == 0 {
                    sps_pps = avcc_parameter_sets(body.get(5..).unwrap_or_default());
                    continue;
                }
                let cts = body.get(2..5).map_or(0, |c| {
                    (i32::from_be_bytes([c[0], c[1], c[2], 0]) >> 8) as i64
                });
                let rtp_ts = ((i64::from(*ts) + cts) * 90) as u32;
                let mut nals: Vec<&[u8]> = Vec::new();
                if ft >> 4 == 1 {
                    nals.extend(sps_pps.iter().map(Vec::as_slice));
                }
                let mut rest = body.get(5..).unwrap_or_default();
                while let Some(l) = rest.get(..4) {
                    let n = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                    let Some(nal) = rest.get(4..4 + n) else { break };
                    nals.push(nal);
                    rest = rest.get(4 + n..).unwrap_or_default();
                }
                let count = nals.len();
                for (i, nal) in nals.into_iter().enumerate() {
                    let last = i + 1 == count;
                    let Some((&h, data)) = nal.split_first() else {
                        continue;
                    };
                    if nal.len() <= MTU - 12 {
                        packets.push((0, rtp(96, last, vseq, rtp_ts, 0x5eed_0001, nal)));
                        vseq = vseq.wrapping_add(1);
                        continue;
                    }
                    // FU-A (RFC 6184 §5.8).
                    let pieces: Vec<&[u8]> = data.chunks(MTU - 14).collect();
                    for (j, piece) in pieces.iter().enumerate() {
                        let (first, end) = (j == 0, j + 1 == pieces.len());
                        let mut payload = vec![
                            (h & 0xe0) | 28,
                            (h & 0x1f) | if first { 0x80 } else { 0 } | if end { 0x40 } else { 0 },
                        ];
                        payload.extend_from_slice(piece);
                        packets
                            .push((0, rtp(96, last && end, vseq, rtp_ts, 0x5eed_0001, &payload)));
                        vseq = vseq.wrapping_add(1);
                    }
                }
            }
            MediaKind::Audio => {
                if body.first().is_some_and(|b| b >> 4 != 10) {
                    continue;
                }
                match body.get(1) {
                    Some(0) => asc = body.get(2..).map(<[u8]>::to_vec),
                    Some(1) => {
                        let au = body.get(2..).unwrap_or_default();
                        let rate = asc.as_deref().map_or(44_100, aac_rate);
                        let rtp_ts = (u64::from(*ts) * u64::from(rate) / 1000) as u32;
                        // AU-headers-length 16 bits, AU-size 13 bits + index 3 (RFC 3640 §3.2.1).
                        let size = (au.len() as u16) << 3;
                        let mut payload = vec![0, 16];
                        payload.extend_from_slice(&size.to_be_bytes());
                        payload.extend_from_slice(au);
                        packets.push((1, rtp(97, true, aseq, rtp_ts, 0x5eed_0002, &payload)));
                        aseq = aseq.wrapping_add(1);
                    }
                    _ => {}
                }
            }
        }
    }
    if sps_pps.is_empty() {
        return Err("the chaos clip has no AVC sequence header".into());
    }
    let sprop: Vec<String> = sps_pps.iter().map(|p| base64(p)).collect();
    let mut sdp = format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=chaos\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
         a=fmtp:96 packetization-mode=1;sprop-parameter-sets={}\r\na=control:streamid=0\r\n",
        sprop.join(",")
    );
    let mut tracks = 1;
    if let Some(asc) = &asc {
        let hex: String = asc.iter().map(|b| format!("{b:02x}")).collect();
        let channels = asc.get(1).map_or(2, |b| (b >> 3) & 0xf);
        sdp.push_str(&format!(
            "m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/{}/{channels}\r\n\
             a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config={hex}\r\n\
             a=control:streamid=1\r\n",
            aac_rate(asc)
        ));
        tracks = 2;
    } else {
        packets.retain(|(t, _)| *t == 0);
    }
    Ok(RtpClip {
        sdp,
        tracks,
        packets,
    })
}

/// SPS and PPS NAL units of an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.2.4.1).
fn avcc_parameter_sets(rec: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 5;
    for _ in 0..2 {
        let Some(&n) = rec.get(pos) else { break };
        // The SPS count sits in the low 5 bits; the PPS count is a whole byte.
        let n = if out.is_empty() { n & 0x1f } else { n };
        pos += 1;
        for _ in 0..n {
            let Some(l) = rec.get(pos..pos + 2) else {
                return out;
            };
            let l = usize::from(u16::from_be_bytes([l[0], l[1]]));
            let Some(nal) = rec.get(pos + 2..pos + 2 + l) else {
                return out;
            };
            out.push(nal.to_vec());
            pos += 2 + l;
        }
    }
    out
}

/// Sampling rate of an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
fn aac_rate(asc: &[u8]) -> u32 {
    const RATES: [u32; 13] = [
        96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025,
        8_000, 7_350,
    ];
    let (a, b) = (
        asc.first().copied().unwrap_or(0),
        asc.get(1).copied().unwrap_or(0),
    );
    let i = usize::from(((a & 7) << 1) | (b >> 7));
    RATES.get(i).copied().unwrap_or(44_100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn aac_rate_of_lc_44100_stereo() {
        assert_eq!(aac_rate(&[0x12, 0x10]), 44_100);
    }

    #[test]
    fn avcc_yields_sps_then_pps() {
        let rec = [1, 0x64, 0, 0x1e, 0xff, 0xe1, 0, 2, 0x67, 1, 1, 0, 1, 0x68];
        assert_eq!(avcc_parameter_sets(&rec), vec![vec![0x67, 1], vec![0x68]]);
    }
}
