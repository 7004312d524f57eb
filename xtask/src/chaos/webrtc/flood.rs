//! Scenario 25, webrtc-udp-flood: from [`ATTACKER`], a bounded flood at
//! strom's WebRTC UDP port of STUN binding requests (unknown ufrags, ufrags
//! guessed in strom's format, the ufrag of a session that has ended,
//! malformed STUN) and junk (random bytes, RTP, RTCP and DTLS lookalikes,
//! oversized datagrams), while a Chromium WHEP viewer plays: it keeps its
//! frame rate, the probe stays fast, everything is counted unrouted, no
//! session appears, and memory stays bounded.

use crate::browser::publisher::Publisher;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use super::super::attack::{check_recovered, Base, ATTACKER};
use super::super::clients::{Rng, FPS};
use super::super::{wait_live, wait_tracks, Ctx};
use super::vanish::BROWSER_FPS_SHARE;
use super::{metric, rtc_sessions, wait_new_session, Browser};

/// The flood's kinds of datagram, sent in turn.
const KINDS: usize = 9;
const UNROUTED: &str = "strom_webrtc_datagrams_total{kind=\"unrouted\"}";

/// A STUN binding request with `USERNAME` `user`, PRIORITY,
/// ICE-CONTROLLING and made-up MESSAGE-INTEGRITY and FINGERPRINT.
fn binding(rng: &mut Rng, user: &[u8]) -> Vec<u8> {
    let mut attrs = Vec::new();
    let mut attr = |kind: u16, value: &[u8]| {
        attrs.extend_from_slice(&kind.to_be_bytes());
        attrs.extend_from_slice(&(value.len() as u16).to_be_bytes());
        attrs.extend_from_slice(value);
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
    };
    attr(0x0006, user);
    attr(0x0024, &rng.bytes(4));
    attr(0x802a, &rng.bytes(8));
    attr(0x0008, &rng.bytes(20));
    attr(0x8028, &rng.bytes(4));
    let mut m = vec![0x00, 0x01];
    m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
    m.extend(rng.bytes(12));
    m.extend(attrs);
    m
}

fn word(rng: &mut Rng, n: usize) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| ALNUM[rng.below(ALNUM.len() as u64) as usize] as char)
        .collect()
}

/// `n` bytes at a random place of `pool` (random bytes made once: the
/// attacker's CPU goes into sending, not into making junk).
fn junk<'a>(rng: &mut Rng, pool: &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(pool.len());
    let at = rng.below((pool.len() - n + 1) as u64) as usize;
    pool.get(at..at + n).unwrap_or_default()
}

/// Datagram number `i` of the flood (kind `i % KINDS`); `stale` is the
/// ufrag of a session that has ended; payloads come from `pool`.
fn datagram(i: usize, rng: &mut Rng, stale: &str, pool: &[u8]) -> Vec<u8> {
    match i % KINDS {
        // Unknown ufrag, any length.
        0 => {
            let n = 1 + rng.below(32) as usize;
            let user = format!("{}:{}", word(rng, n), word(rng, 4));
            binding(rng, user.as_bytes())
        }
        // Guessed in the format strom hands out (str0m's IceCreds).
        1 => {
            let user = format!("{}:{}", word(rng, 8), word(rng, 4));
            binding(rng, user.as_bytes())
        }
        // A ufrag that was real: its route must be gone.
        2 => {
            let user = format!("{stale}:{}", word(rng, 4));
            binding(rng, user.as_bytes())
        }
        // Malformed STUN: the length lies, or a huge USERNAME.
        3 => {
            let user = junk(rng, pool, 600);
            let mut m = binding(rng, user);
            if rng.below(2) == 0 {
                m[2] = 0xff;
                m[3] = 0xff;
            }
            m
        }
        // Random bytes.
        4 => {
            let n = 1 + rng.below(1400) as usize;
            junk(rng, pool, n).to_vec()
        }
        // RTP: version 2, a dynamic payload type, random SSRC and payload.
        5 => {
            let mut m = vec![0x80, 96 + rng.below(32) as u8];
            m.extend(rng.bytes(10));
            let n = 100 + rng.below(1100) as usize;
            m.extend_from_slice(junk(rng, pool, n));
            m
        }
        // RTCP: SR, RR, SDES, BYE, feedback.
        6 => {
            let mut m = vec![0x81, 200 + rng.below(7) as u8, 0, 7];
            m.extend(rng.bytes(28));
            m
        }
        // DTLS: a ClientHello-looking handshake record, or application data.
        7 => {
            let (kind, epoch) = if rng.below(2) == 0 { (22, 0) } else { (23, 1) };
            let n = 60 + rng.below(300) as usize;
            let body = junk(rng, pool, n);
            let mut m = vec![kind, 0xfe, 0xfd, 0, epoch];
            m.extend(rng.bytes(6));
            m.extend_from_slice(&(body.len() as u16).to_be_bytes());
            m.extend_from_slice(body);
            m
        }
        // Oversized (strom reads 2 KiB at most).
        _ => {
            let n = 4000 + rng.below(4000) as usize;
            junk(rng, pool, n).to_vec()
        }
    }
}

/// Sends `count` datagrams to `port` within about `secs` (paced every
/// 10 ms, never beyond `secs` + 2 s); how many the socket took.
fn flood(port: u16, count: usize, secs: f64, stale: String) -> Result<usize, String> {
    let sock = UdpSocket::bind(SocketAddrV4::new(ATTACKER, 0))
        .map_err(|e| format!("bind {ATTACKER}: {e}"))?;
    let to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    let mut rng = Rng::new(0xf100d ^ u64::from(port));
    let pool = rng.bytes(64 * 1024);
    let started = Instant::now();
    let hard_stop = Duration::from_secs_f64(secs + 2.0);
    let per_tick = (count as f64 / (secs * 100.0)).ceil() as usize;
    let mut sent = 0;
    let mut i = 0;
    while i < count && started.elapsed() < hard_stop {
        for _ in 0..per_tick.min(count - i) {
            if sock
                .send_to(&datagram(i, &mut rng, &stale, &pool), to)
                .is_ok()
            {
                sent += 1;
            }
            i += 1;
        }
        let next = Duration::from_millis(10 * (i / per_tick.max(1)) as u64);
        std::thread::sleep(next.saturating_sub(started.elapsed()));
    }
    Ok(sent)
}

/// Scenario 25.
pub fn udp_flood(ctx: &mut Ctx) -> Result<(), String> {
    let name = "udpflood";
    let count = ctx.profile.pick(40_000, 400_000);
    let secs = ctx.profile.pick(4.0, 20.0);
    let (http, rtmp) = (ctx.server.http, ctx.server.rtmp);
    let _publisher = Publisher::start(rtmp, name)?;
    wait_live(ctx.server, name, Duration::from_secs(10))?;
    wait_tracks(ctx.server, name, 2, Duration::from_secs(10))?;
    let mut rng = Rng::new(25 ^ u64::from(std::process::id()));
    let probe = super::probe_offer(ctx.server, name, &mut rng)?;
    let base = Base::take(ctx)?;

    let mut viewer = Browser::whep("25-viewer", http, name, secs + 3.0)?;
    let viewer_id = wait_new_session(ctx.server, &[], Duration::from_secs(20))?;
    let unrouted0 = metric(ctx.server, UNROUTED);
    let port = probe.port;
    let stale = probe.ufrag.clone();
    let attacker = std::thread::spawn(move || flood(port, count, secs, stale));
    // Sessions while it lasts: only the viewer.
    let mut intruders = Vec::new();
    while !attacker.is_finished() {
        for s in rtc_sessions(ctx.server).unwrap_or_default() {
            if s.id != viewer_id && !intruders.contains(&s.id) {
                intruders.push(s.id);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent = attacker.join().map_err(|_| "the flood thread panicked")??;
    ctx.check(
        intruders.is_empty(),
        format!("sessions appeared during the flood: {intruders:?}"),
    );
    let died = ctx.server.is_gone();
    ctx.check(!died, "strom died during the flood");
    let unrouted1 = metric(ctx.server, UNROUTED);
    match (unrouted0, unrouted1) {
        (Some(a), Some(b)) => {
            // Loopback loses little; the socket's buffer may drop some.
            ctx.check(
                b - a >= 0.5 * sent as f64,
                format!("unrouted grew {a}→{b}, for {sent} junk datagrams"),
            );
            ctx.figure(format!(
                "{sent} datagrams from {ATTACKER} in {secs} s, unrouted +{}",
                b - a
            ));
        }
        // A server without the WebRTC metrics: the sessions tell.
        _ => ctx.figure(format!(
            "{sent} datagrams from {ATTACKER} in {secs} s (no {UNROUTED} in /metrics)"
        )),
    }
    match viewer.whep_result(Duration::from_secs_f64(secs + 25.0)) {
        Ok(r) => {
            let fps = r["fps"].as_f64().unwrap_or(0.0);
            ctx.check(
                fps >= BROWSER_FPS_SHARE * FPS,
                format!("the Chromium viewer: {fps:.1} fps < {BROWSER_FPS_SHARE} × {FPS}"),
            );
            ctx.figure(format!(
                "viewer {fps:.1} fps ({} frames, {} freezes, {} lost)",
                r["framesPresented"], r["video"]["freezeCount"], r["video"]["packetsLost"]
            ));
        }
        Err(e) => ctx.check(false, format!("the viewer: {e}")),
    }
    drop(viewer);
    let recovered = check_recovered(ctx, &base, Duration::from_secs(5));
    ctx.figure(recovered);
    Ok(())
}
