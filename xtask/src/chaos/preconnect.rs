//! Scenario 16, preconnect-floods: RTMP peers that, right after the
//! handshake and before any `connect`, announce a 16 MiB message and start
//! streaming its body, or send a command message of many MiB of AMF0 null
//! markers. Nothing is known about such a peer yet: each must be closed
//! quickly, and the server's memory must stay bounded.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::attack::{self, check_recovered, during, median, Base};
use super::clients::Rng;
use super::server::rss_kib;
use super::Ctx;

/// How soon after the offending header the server must have closed.
const CLOSE_WITHIN: Duration = Duration::from_millis(1500);
/// The pace of the 16 MiB body (so a server that waits for all of it is
/// seen waiting, not saved by loopback speed).
const BODY_BYTES_PER_SEC: f64 = 4.0 * 1024.0 * 1024.0;
/// Our chunk size (announced with Set Chunk Size before the message).
const CHUNK: usize = 65536;
/// How long a peer refused before its header waits before the next one
/// (at most 10 a second per peer thread).
const RETRY_AFTER_REFUSAL: Duration = Duration::from_millis(100);
/// How much the server's RSS may grow during the attack.
const RSS_GROWTH_KIB: u64 = 64 * 1024;

/// The two attacks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A 16 MiB − 1 message header (the largest RTMP length), then its body.
    BigMessage,
    /// An AMF0 command: `"connect"`, 1.0, then MiB of null markers (0x05).
    AmfNulls,
}

/// What one kind's peers got.
#[derive(Default, Debug)]
struct Shots {
    /// Peers that tried.
    attempts: u64,
    /// Closed before the handshake finished (a refusal at admission).
    closed_in_handshake: u64,
    /// Closed after the offending header: ms after it.
    closed_ms: Vec<u64>,
    /// Body bytes written before the close.
    body_sent: Vec<u64>,
    /// Not closed within [`CLOSE_WITHIN`] of the header.
    late: u64,
}

/// Message header fmt 0: csid, timestamp 0, `len`, `type_id`, stream 0.
fn fmt0(csid: u8, len: u32, type_id: u8) -> Vec<u8> {
    let l = len.to_be_bytes();
    vec![csid, 0, 0, 0, l[1], l[2], l[3], type_id, 0, 0, 0, 0]
}

/// The simple handshake (C0 C1, read S0 S1 S2, C2 = S1); false when the
/// server closed or did not answer within 3 s.
fn handshake(sock: &mut TcpStream, rng: &mut Rng) -> bool {
    let mut c0c1 = vec![3, 0, 0, 0, 0, 0, 0, 0, 0];
    c0c1.extend(rng.bytes(1528));
    if sock.write_all(&c0c1).is_err() {
        return false;
    }
    let _ = sock.set_read_timeout(Some(Duration::from_secs(3)));
    let mut s = vec![0u8; 1 + 1536 * 2];
    if sock.read_exact(&mut s).is_err() {
        return false;
    }
    sock.write_all(s.get(1..1537).unwrap_or_default()).is_ok()
}

/// Whether the server closed (or reset) the socket; non-blocking look.
fn server_closed(sock: &mut TcpStream, buf: &mut [u8]) -> bool {
    match sock.read(buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

/// One attacking peer's life; records into `shots`.
fn shot(port: u16, kind: Kind, rng: &mut Rng, shots: &mut Shots, stop: &AtomicBool) {
    shots.attempts += 1;
    let Ok(mut sock) = attack::connect(port, Duration::from_secs(3)) else {
        shots.closed_in_handshake += 1;
        return;
    };
    if !handshake(&mut sock, rng) {
        shots.closed_in_handshake += 1;
        return;
    }
    let (len, body_byte, prefix): (u32, u8, Vec<u8>) = match kind {
        Kind::BigMessage => (0xff_ffff, 0x5a, Vec::new()),
        Kind::AmfNulls => {
            // "connect", transaction 1.0, then nulls.
            let mut p = vec![0x02, 0, 7];
            p.extend(b"connect");
            p.push(0x00);
            p.extend(1.0f64.to_be_bytes());
            (12 * 1024 * 1024, 0x05, p)
        }
    };
    let mut head = fmt0(2, 4, 1);
    head.extend((CHUNK as u32).to_be_bytes());
    head.extend(fmt0(3, len, 0x14));
    if sock.write_all(&head).is_err() {
        shots.closed_ms.push(0);
        shots.body_sent.push(0);
        return;
    }
    let t = Instant::now();
    let _ = sock.set_read_timeout(Some(Duration::from_millis(1)));
    let _ = sock.set_write_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 4096];
    let (mut sent, mut in_chunk) = (0u64, 0usize);
    let mut piece = Vec::with_capacity(64 * 1024 + 64);
    let mut closed = None;
    while closed.is_none() && !stop.load(Ordering::Relaxed) && t.elapsed() < CLOSE_WITHIN * 4 {
        if server_closed(&mut sock, &mut buf) {
            closed = Some(t.elapsed());
            break;
        }
        if sent < u64::from(len) {
            // The next piece: paced for the big message, at once for nulls.
            let allowed = match kind {
                Kind::BigMessage => (t.elapsed().as_secs_f64() * BODY_BYTES_PER_SEC) as u64,
                Kind::AmfNulls => u64::from(len),
            };
            let n = allowed
                .min(u64::from(len))
                .saturating_sub(sent)
                .min(64 * 1024);
            if n == 0 {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            piece.clear();
            for k in 0..n {
                if in_chunk == CHUNK {
                    piece.push(0xc3);
                    in_chunk = 0;
                }
                let i = (sent + k) as usize;
                piece.push(prefix.get(i).copied().unwrap_or(body_byte));
                in_chunk += 1;
            }
            match sock.write(&piece) {
                Ok(_) => sent += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    // Partly written pieces are lost: the framing is garbage
                    // from here on, which the server may refuse as well.
                }
                Err(_) => closed = Some(t.elapsed()),
            }
        } else {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    shots.body_sent.push(sent);
    match closed {
        Some(d) => {
            shots.closed_ms.push(d.as_millis() as u64);
            if d > CLOSE_WITHIN {
                shots.late += 1;
            }
        }
        None if stop.load(Ordering::Relaxed) && t.elapsed() < CLOSE_WITHIN => {}
        None => shots.late += 1,
    }
}

/// Scenario 16: peers of both kinds from 127.0.0.2, each replaced when it
/// ends, for the window; every one closed within [`CLOSE_WITHIN`] of its
/// header, RSS bounded; the probe stays fast, a new publisher and player
/// work, everything is released afterwards.
pub fn preconnect_floods(ctx: &mut Ctx) -> Result<(), String> {
    let peers = ctx.profile.pick(8, 32);
    let window = Duration::from_secs(ctx.profile.pick(8, 20));
    let healthy_secs = ctx.profile.pick(3.0, 10.0);
    let base = Base::take(ctx)?;
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(base.rss));
    let started = Instant::now();
    let (port, pid) = (ctx.server.rtmp, ctx.server.pid);
    // Memory is sampled every 10 ms: a transient decode blow-up is short.
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let threads: Vec<_> = (0..peers * 2)
        .map(|i| {
            let stop = stop.clone();
            let kind = if i % 2 == 0 {
                Kind::BigMessage
            } else {
                Kind::AmfNulls
            };
            std::thread::spawn(move || {
                let mut rng = Rng::new(0x5eed + i as u64);
                let mut shots = Shots::default();
                while !stop.load(Ordering::Relaxed) {
                    let refused = shots.closed_in_handshake;
                    shot(port, kind, &mut rng, &mut shots, &stop);
                    // A peer refused at admission is replaced after
                    // RETRY_AFTER_REFUSAL: this scenario is about what the
                    // server buffers and decodes; reconnect storms are
                    // scenarios 11 and 13.
                    if shots.closed_in_handshake > refused {
                        std::thread::sleep(RETRY_AFTER_REFUSAL);
                    }
                }
                (kind, shots)
            })
        })
        .collect();
    let held = during(ctx, started, window, "preconnect-healthy", healthy_secs);
    stop.store(true, Ordering::Relaxed);
    let mut big = Shots::default();
    let mut nulls = Shots::default();
    for t in threads {
        let (kind, s) = t.join().map_err(|_| "attacker panicked")?;
        let into = if kind == Kind::BigMessage {
            &mut big
        } else {
            &mut nulls
        };
        into.attempts += s.attempts;
        into.closed_in_handshake += s.closed_in_handshake;
        into.closed_ms.extend(s.closed_ms);
        into.body_sent.extend(s.body_sent);
        into.late += s.late;
    }
    let _ = sampler.join();
    let peak_kib = peak.load(Ordering::Relaxed);
    let after = check_recovered(ctx, &base, Duration::from_secs(10));
    for (name, s) in [("16 MiB message", &big), ("AMF0 null flood", &nulls)] {
        ctx.check(
            s.late == 0,
            format!(
                "{name}: {} of {} peers not closed within {} ms of the header",
                s.late,
                s.attempts,
                CLOSE_WITHIN.as_millis()
            ),
        );
    }
    ctx.check(
        peak_kib < base.rss + RSS_GROWTH_KIB,
        format!(
            "RSS peaked at {} MiB (baseline {} MiB) under pre-connect floods",
            peak_kib / 1024,
            base.rss / 1024
        ),
    );
    let describe = |s: &Shots| {
        format!(
            "{} peers: {} closed in the handshake, {} closed {} ms median (max {}) after the header having sent {} KiB median of the body, {} not closed within {} ms",
            s.attempts,
            s.closed_in_handshake,
            s.closed_ms.len(),
            median(&s.closed_ms),
            s.closed_ms.iter().max().copied().unwrap_or(0),
            median(&s.body_sent) / 1024,
            s.late,
            CLOSE_WITHIN.as_millis()
        )
    };
    ctx.figure(format!(
        "{peers}+{peers} concurrent peers from 127.0.0.2 for {} s; 16 MiB message (body at 4 MiB/s): {}; AMF0 null flood (12 MiB command): {}; RSS peak {} MiB (baseline {}); server peak fds {}, sessions {}; server counted refusals: {}; {}; {after}",
        window.as_secs(),
        describe(&big),
        describe(&nulls),
        peak_kib / 1024,
        base.rss / 1024,
        held.peak_fds,
        held.peak_sessions,
        held.refusals,
        held.healthy
    ));
    Ok(())
}
