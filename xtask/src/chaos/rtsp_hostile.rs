//! Scenario 8's attacks on the RTSP listener: each opens a fresh connection,
//! does its damage and hands the socket back; the scenario then expects the
//! server to close it (after a 4xx answer where the request was readable)
//! within the handshake or keep-alive deadline.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use super::clients::{clip, Rng};
use super::hostile::{raw, Attack};
use super::rtsp::{rtp_clip, RtspConn, RtspPublisher};

/// The stream scenario 8's healthy publisher keeps live (for attacks that
/// need a real DESCRIBE first).
const LIVE: &str = "h";

fn head(method: &str, cseq: u32, extra: &str) -> String {
    format!("{method} rtsp://127.0.0.1/live/{LIVE} RTSP/1.0\r\nCSeq: {cseq}\r\n{extra}\r\n")
}

/// An RTSP publisher, then `bytes` raw on its socket.
fn after_record(
    port: u16,
    rng: &mut Rng,
    bytes: impl FnOnce(&mut Rng, &[u8]) -> Vec<u8>,
) -> Result<TcpStream, String> {
    let media = rtp_clip(&clip()?)?;
    let name = format!("hostile-rtsp-{}", rng.below(1_000_000));
    let mut p = RtspPublisher::start(port, &name, &media, false, Duration::from_secs(3))?;
    let mut interleaved = Vec::new();
    for (track, pkt) in media.packets.iter().take(200) {
        interleaved.push(b'$');
        interleaved.push(*track as u8 * 2);
        interleaved.extend_from_slice(&(pkt.len() as u16).to_be_bytes());
        interleaved.extend_from_slice(pkt);
    }
    let out = bytes(rng, &interleaved);
    let _ = p.conn.sock.write_all(&out);
    Ok(p.conn.sock)
}

/// The RTSP attacks, one connection each.
pub const RTSP_ATTACKS: &[Attack] = &[
    ("random bytes", |p, r| raw(p, &r.bytes(4096))),
    ("1 MB header line", |p, _| {
        let mut b = head("OPTIONS", 1, "").into_bytes();
        b.truncate(b.len() - 2);
        b.extend(b"X-Big: ");
        b.extend(std::iter::repeat_n(b'a', 1 << 20));
        b.extend(b"\r\n\r\n");
        raw(p, &b)
    }),
    ("10000 headers", |p, _| {
        let extra: String = (0..10_000).map(|i| format!("X-{i}: y\r\n")).collect();
        raw(p, head("OPTIONS", 1, &extra).as_bytes())
    }),
    ("$ frame of 65535 then junk", |p, r| {
        let mut b = vec![b'$', 0, 0xff, 0xff];
        b.extend(r.bytes(65_535));
        b.extend(r.bytes(8192));
        raw(p, &b)
    }),
    ("ANNOUNCE with a garbage SDP", |p, r| {
        let body = r.bytes(4096);
        let extra = format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n",
            body.len()
        );
        let mut b = head("ANNOUNCE", 1, &extra).into_bytes();
        b.extend(body);
        raw(p, &b)
    }),
    ("ANNOUNCE with a 4 MB SDP", |p, _| {
        let mut body = b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n".to_vec();
        while body.len() < 4 << 20 {
            body.extend(b"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n");
        }
        let extra = format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n",
            body.len()
        );
        let mut b = head("ANNOUNCE", 1, &extra).into_bytes();
        b.extend(body);
        raw(p, &b)
    }),
    ("SETUP/PLAY/RECORD in the wrong order", |p, _| {
        let t = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n";
        let b = [
            head("PLAY", 1, ""),
            head("RECORD", 2, ""),
            head("SETUP", 3, t),
            head("PLAY", 4, "Session: 12345678\r\n"),
            head("TEARDOWN", 5, "Session: nope\r\n"),
            head("SETUP", 6, &format!("{t}Session: 1\r\n")),
        ]
        .concat();
        raw(p, b.as_bytes())
    }),
    ("Transport with absurd ports, then PLAY", |p, _| {
        // Answers are read one by one (the session id is needed for PLAY);
        // whatever they are, the session must end by its deadline.
        let mut c = RtspConn::connect(p, LIVE)?;
        let url = c.url.clone();
        let within = Duration::from_secs(2);
        c.request("DESCRIBE", &url, &[], &[], within)?;
        let track = format!("{url}/trackID=0");
        for t in [
            "RTP/AVP;unicast;client_port=70000-70001",
            "RTP/AVP/TCP;unicast;interleaved=300-301",
            "RTP/AVP;unicast;client_port=65535-65536",
            "RTP/AVP;unicast;client_port=-1--2;destination=10.0.0.1",
            &format!("RTP/AVP/TCP;interleaved={}", "9".repeat(4000)),
            "RTP/AVP;unicast;client_port=0-1",
        ] {
            c.request("SETUP", &track, &[format!("Transport: {t}")], &[], within)?;
        }
        c.request("PLAY", &url, &[], &[], within)?;
        Ok(c.sock)
    }),
    ("Content-Length 99999999999", |p, r| {
        let extra = "Content-Type: application/sdp\r\nContent-Length: 99999999999\r\n";
        let mut b = head("ANNOUNCE", 1, extra).into_bytes();
        b.extend(r.bytes(8192));
        raw(p, &b)
    }),
    ("Digest Authorization garbage", |p, r| {
        let junk: String = r
            .bytes(300)
            .iter()
            .map(|b| char::from(b'!' + b % 90))
            .collect();
        let b = [
            head(
                "DESCRIBE",
                1,
                &format!("Authorization: Digest username=\"{junk}, realm=, nonce=\"\"\"\r\n"),
            ),
            head("DESCRIBE", 2, "Authorization: Digest\r\n"),
            head("DESCRIBE", 3, &format!("Authorization: Basic {junk}\r\n")),
            head(
                "DESCRIBE",
                4,
                &format!(
                    "Authorization: Digest response=\"{}\"\r\n",
                    "f".repeat(100_000)
                ),
            ),
        ]
        .concat();
        raw(p, b.as_bytes())
    }),
    ("RECORD then mutated RTP", |p, r| {
        after_record(p, r, |r, bytes| {
            let mut b = bytes.to_vec();
            for _ in 0..b.len() / 100 {
                let i = r.below(b.len() as u64) as usize;
                if let Some(x) = b.get_mut(i) {
                    *x = r.next_u64() as u8;
                }
            }
            b
        })
    }),
    ("RECORD then a cut frame and silence", |p, r| {
        after_record(p, r, |_, bytes| {
            let mut b = bytes.to_vec();
            b.extend([b'$', 0, 0x05, 0xdc, 0x80, 0x60]);
            b
        })
    }),
];
