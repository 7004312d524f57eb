//! Scenario 13, healthz-pollers: 256 keep-alive `/healthz` pollers from the
//! attacker's address, each asking again as soon as it is answered.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::attack::{self, check_recovered, during, raise_fd_limit, Base, Outcome};
use super::Ctx;

/// What one poller got.
#[derive(Default)]
struct Polled {
    outcome: Outcome,
    /// `200` answers.
    answered: u64,
}

/// Reads one HTTP answer (head and `Content-Length` body); its status and
/// whether the server said `Connection: close`. `None` when the connection
/// ended (or `stop` was set) first.
fn read_answer(sock: &mut TcpStream, stop: &AtomicBool) -> Option<(u16, bool)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    // One read into `data`; false when the connection ended or `stop` was set.
    let mut more = |data: &mut Vec<u8>| {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        match sock.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                data.extend_from_slice(buf.get(..n).unwrap_or_default());
                true
            }
            Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        }
    };
    let (head_len, status, close, length) = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(data.get(..i).unwrap_or_default()).to_lowercase();
            let status = head.split_whitespace().nth(1)?.parse().ok()?;
            let close = head.contains("connection: close");
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            break (i + 4, status, close, length);
        }
        if data.len() > 64 * 1024 || !more(&mut data) {
            return None;
        }
    };
    while data.len() < head_len + length {
        if !more(&mut data) {
            return None;
        }
    }
    Some((status, close))
}

/// One poller: keep-alive `GET /healthz` as fast as answered, reconnecting
/// when closed, until `stop`.
fn poller(port: u16, stop: &AtomicBool) -> Polled {
    let mut p = Polled::default();
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut sock) = attack::connect(port, Duration::from_secs(2)) else {
            p.outcome.connect_errors += 1;
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        p.outcome.opened += 1;
        let since = Instant::now();
        let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
        let _ = sock.set_write_timeout(Some(Duration::from_secs(2)));
        loop {
            if stop.load(Ordering::Relaxed) {
                p.outcome.open += 1;
                break;
            }
            let req = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
            if sock.write_all(req).is_err() {
                p.outcome.ended(false, since);
                break;
            }
            match read_answer(&mut sock, stop) {
                Some((200, close)) => {
                    p.answered += 1;
                    if close {
                        p.outcome.ended(false, since);
                        break;
                    }
                }
                Some(_) => {
                    p.outcome.ended(true, since);
                    break;
                }
                None if stop.load(Ordering::Relaxed) => {
                    p.outcome.open += 1;
                    break;
                }
                None => {
                    p.outcome.ended(false, since);
                    break;
                }
            }
        }
    }
    p
}

/// Scenario 13: 256 keep-alive pollers of `/healthz` from 127.0.0.2; the
/// probe from 127.0.0.1 stays fast, a new publisher and player work,
/// everything is released afterwards.
pub fn healthz_pollers(ctx: &mut Ctx) -> Result<(), String> {
    let pollers = 256;
    let window = Duration::from_secs(ctx.profile.pick(8, 20));
    let healthy_secs = ctx.profile.pick(3.0, 10.0);
    raise_fd_limit(pollers as u64 + 512)?;
    let base = Base::take(ctx)?;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let port = ctx.server.http;
    let threads: Vec<_> = (0..pollers)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || poller(port, &stop))
        })
        .collect();
    let held = during(ctx, started, window, "pollers-healthy", healthy_secs);
    stop.store(true, Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    let (mut all, mut answered) = (Outcome::default(), 0);
    for t in threads {
        let p = t.join().map_err(|_| "poller panicked")?;
        all.add(&p.outcome);
        answered += p.answered;
    }
    let after = check_recovered(ctx, &base, Duration::from_secs(10));
    ctx.figure(format!(
        "{pollers} keep-alive /healthz pollers from 127.0.0.2 for {secs:.1} s: {answered} answered 200 ({:.0}/s); connections {}; server peak fds {}, sessions {}; server counted refusals: {}; {}; {after}",
        answered as f64 / secs,
        all.describe(),
        held.peak_fds,
        held.peak_sessions,
        held.refusals,
        held.healthy
    ));
    Ok(())
}
