//! Scenarios 4, 5 and 6: peers that vanish, players that never read, and
//! slow-loris connections, at every listener in [`LISTENERS`].

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtmp_proto::ClientMode;

use super::clients::{clip, closed_within, flush, rtmp_connect, Ffmpeg, Player, Rng};
use super::server::{
    HANDSHAKE_SECS, KEEP_ALIVE_SECS, MAX_LAG_MS, REQUEST_TIMEOUT_MS, WRITE_STALL_MS,
};
use super::{check_fps, measure_fps, wait_for, wait_live, Ctx, Listener, LISTENERS};

/// A player that subscribes and then never reads (its receive window fills).
fn stuck_player(listener: Listener, port: u16, stream: &str) -> Result<TcpStream, String> {
    match listener {
        Listener::Rtmp => {
            rtmp_connect(port, stream, ClientMode::Play, Duration::from_secs(5)).map(|(s, _)| s)
        }
        Listener::Http => {
            let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
            write!(s, "GET /live/{stream}.live.flv HTTP/1.1\r\nHost: x\r\n\r\n")
                .map_err(|e| e.to_string())?;
            Ok(s)
        }
    }
}

/// Waits, on its own thread, for the server to close `sock` within `limit`;
/// returns how long it took.
fn expect_close(
    label: String,
    mut sock: TcpStream,
    limit: Duration,
) -> JoinHandle<(String, Option<Duration>)> {
    std::thread::spawn(move || {
        let t = Instant::now();
        let closed = closed_within(&mut sock, limit);
        (label, closed.then(|| t.elapsed()))
    })
}

/// Scenario 4: Peers that vanish without closing (silent mid-handshake, silent after
/// publishing, stopped reading mid-play, half a request head): each is
/// detected and closed by its deadline and the sessions are returned.
pub fn vanishing_peers(ctx: &mut Ctx) -> Result<(), String> {
    let rtmp = ctx.server.rtmp;
    let _publisher = Ffmpeg::publish(rtmp, "v")?;
    wait_live(ctx.server, "v", Duration::from_secs(10))?;
    let healthy = vec![Player::start(rtmp, "v")];
    std::thread::sleep(Duration::from_millis(500));
    let (sessions0, fds0) = (ctx.server.sessions()?, ctx.server.fds());
    let slack = Duration::from_secs(2);
    let mut waits = Vec::new();
    let mut stuck = Vec::new();
    for &l in LISTENERS {
        let port = l.port(ctx.server);
        match l {
            Listener::Rtmp => {
                let hs = Duration::from_secs(HANDSHAKE_SECS) + slack;
                let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
                waits.push(expect_close("rtmp: silent after connect".into(), s, hs));
                let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
                let mut half = vec![3u8];
                half.extend(Rng::new(4).bytes(700));
                s.write_all(&half).map_err(|e| e.to_string())?;
                waits.push(expect_close("rtmp: silent mid-handshake".into(), s, hs));
                // A publisher that sends its headers and a second of media, then nothing.
                let (mut s, mut session) = rtmp_connect(
                    port,
                    "v-silent",
                    ClientMode::Publish,
                    Duration::from_secs(5),
                )?;
                for (kind, ts, body) in clip()?.into_iter().take(40) {
                    session
                        .send_media(kind, ts, body)
                        .map_err(|e| e.to_string())?;
                }
                flush(&mut s, &mut session)?;
                let ka = Duration::from_secs(KEEP_ALIVE_SECS) + slack;
                waits.push(expect_close("rtmp: publisher gone silent".into(), s, ka));
            }
            Listener::Http => {
                let rt = Duration::from_millis(REQUEST_TIMEOUT_MS) + slack;
                let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
                waits.push(expect_close("http: silent after connect".into(), s, rt));
                let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127")
                    .map_err(|e| e.to_string())?;
                waits.push(expect_close("http: half a request head".into(), s, rt));
            }
        }
        for _ in 0..2 {
            stuck.push((l, stuck_player(l, port, "v")?));
        }
    }
    let mut worst = Duration::ZERO;
    for w in waits {
        let (label, took) = w.join().map_err(|_| "waiter panicked")?;
        match took {
            Some(t) => worst = worst.max(t),
            None => ctx.check(false, format!("{label}: not closed by its deadline")),
        }
    }
    // Players that stopped reading: dropped once their buffers fill and
    // write_stall_ms / max_lag_ms pass.
    let limit = Duration::from_secs(25);
    let t = Instant::now();
    let back = wait_for(limit, || {
        ctx.server.sessions().is_ok_and(|n| n <= sessions0)
    });
    ctx.check(
        back.is_some(),
        format!(
            "sessions not back to {sessions0} within {} s: {:?}",
            limit.as_secs(),
            ctx.server.sessions()
        ),
    );
    let stuck_took = t.elapsed();
    for (l, mut s) in stuck {
        let closed = closed_within(&mut s, Duration::from_secs(3));
        ctx.check(
            closed,
            format!("{l:?}: a player that stopped reading was not closed"),
        );
    }
    let mut fds1 = 0;
    wait_for(Duration::from_secs(3), || {
        fds1 = ctx.server.fds();
        fds1 <= fds0 + 2
    });
    ctx.check(fds1 <= fds0 + 2, format!("file descriptors {fds0}→{fds1}"));
    let rates = measure_fps(&healthy, 2.0);
    let min = check_fps(ctx, "healthy player", &rates);
    ctx.figure(format!(
        "silent peers closed ≤ {} ms; stuck players dropped after {} ms (write stall {WRITE_STALL_MS} ms, max lag {MAX_LAG_MS} ms); sessions back to {sessions0}; fds {fds0}→{fds1}; healthy {min:.1} fps",
        worst.as_millis(),
        stuck_took.as_millis()
    ));
    Ok(())
}

/// Scenario 5: Players that never read beside normal players: the normal ones keep
/// full frame rate, memory stays bounded, the stuck ones are dropped.
pub fn stuck_players(ctx: &mut Ctx) -> Result<(), String> {
    let rtmp = ctx.server.rtmp;
    let (n_stuck, n_healthy) = ctx.profile.pick((30, 5), (100, 10));
    let _publisher = Ffmpeg::publish(rtmp, "stuck")?;
    wait_live(ctx.server, "stuck", Duration::from_secs(10))?;
    let healthy: Vec<Player> = (0..n_healthy)
        .map(|_| Player::start(rtmp, "stuck"))
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    let rss0 = ctx.server.rss_kib();
    let t = Instant::now();
    let mut stuck = Vec::new();
    for i in 0..n_stuck {
        let l = LISTENERS[i % LISTENERS.len()];
        stuck.push((l, stuck_player(l, l.port(ctx.server), "stuck")?));
    }
    // Measure the healthy players' rate over the window while watching the
    // subscriber count, so the moment the stuck ones are gone is known.
    let window = Duration::from_secs(ctx.profile.pick(8, 20));
    let limit = Duration::from_secs(30);
    let before: Vec<u64> = healthy.iter().map(|p| p.frames()).collect();
    let w = Instant::now();
    let mut subs = None;
    let mut dropped = None;
    while w.elapsed() < window || (dropped.is_none() && t.elapsed() < limit) {
        subs = ctx
            .server
            .stream("stuck")
            .ok()
            .flatten()
            .and_then(|s| s["subscriber_count"].as_u64());
        if dropped.is_none() && subs == Some(n_healthy as u64) {
            dropped = Some(t.elapsed());
        }
        if w.elapsed() >= window && dropped.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let secs = w.elapsed().as_secs_f64();
    let rates: Vec<f64> = healthy
        .iter()
        .zip(before)
        .map(|(p, b)| (p.frames() - b) as f64 / secs)
        .collect();
    let min = check_fps(ctx, "healthy players beside stuck ones", &rates);
    ctx.check(
        dropped.is_some(),
        format!(
            "stuck players not dropped within {} s: {subs:?} subscribers",
            limit.as_secs()
        ),
    );
    let took = dropped.unwrap_or(t.elapsed());
    let rss1 = ctx.server.rss_kib();
    ctx.check(
        rss1 < rss0 + 64 * 1024,
        format!(
            "memory grew {} MiB with stuck players",
            rss1.saturating_sub(rss0) / 1024
        ),
    );
    let mut closed = 0;
    for (_, s) in &mut stuck {
        closed += usize::from(closed_within(s, Duration::from_secs(2)));
    }
    ctx.check(
        closed == stuck.len(),
        format!("{closed} of {} stuck sockets closed", stuck.len()),
    );
    for p in &healthy {
        let s = p.stats();
        ctx.check(
            s.error.is_none() && !s.closed,
            format!("healthy player hurt: {s:?}"),
        );
    }
    ctx.figure(format!(
        "{n_stuck} stuck ({} per listener) all dropped {} ms after connecting; {n_healthy} healthy min {min:.1} fps; rss during {}→{} MiB",
        n_stuck / LISTENERS.len(),
        took.as_millis(),
        rss0 / 1024,
        rss1 / 1024
    ));
    Ok(())
}

/// Scenario 6: Slow-loris: connections that send the handshake (or request head) one
/// byte per second, or nothing, are all closed by their deadline; file
/// descriptors and memory return to the baseline.
pub fn slow_loris(ctx: &mut Ctx) -> Result<(), String> {
    let total = ctx.profile.pick(200, 1000);
    // Below http.max_connections (256), so the probe keeps a slot.
    let http_share = (total / 4).min(200);
    let (fds0, rss0) = (ctx.server.fds(), ctx.server.rss_kib());
    struct Conn {
        listener: Listener,
        sock: TcpStream,
        trickle: bool,
        sent: usize,
        closed: Option<Duration>,
    }
    let t = Instant::now();
    let mut conns = Vec::new();
    for i in 0..total {
        let listener = if LISTENERS.contains(&Listener::Http) && i % 4 == 0 && i / 4 < http_share {
            Listener::Http
        } else {
            Listener::Rtmp
        };
        let sock = TcpStream::connect(("127.0.0.1", listener.port(ctx.server)))
            .map_err(|e| format!("connect #{i}: {e}"))?;
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        conns.push(Conn {
            listener,
            sock,
            trickle: i % 2 == 1,
            sent: 0,
            closed: None,
        });
    }
    let connect_ms = t.elapsed().as_millis();
    let deadline = |l: Listener| match l {
        Listener::Rtmp => Duration::from_secs(HANDSHAKE_SECS),
        Listener::Http => Duration::from_millis(REQUEST_TIMEOUT_MS),
    };
    let head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut buf = [0u8; 4096];
    let mut last_trickle = Instant::now() - Duration::from_secs(1);
    let stop_at = Duration::from_secs(HANDSHAKE_SECS.max(REQUEST_TIMEOUT_MS / 1000) + 5);
    while t.elapsed() < stop_at && conns.iter().any(|c| c.closed.is_none()) {
        let trickle_now = last_trickle.elapsed() >= Duration::from_secs(1);
        if trickle_now {
            last_trickle = Instant::now();
        }
        for c in conns.iter_mut().filter(|c| c.closed.is_none()) {
            if trickle_now && c.trickle {
                let byte = match c.listener {
                    Listener::Rtmp if c.sent == 0 => 3,
                    Listener::Rtmp => 0x5a,
                    Listener::Http => head.get(c.sent).copied().unwrap_or(b'a'),
                };
                if c.sock.write(&[byte]).is_err() {
                    c.closed = Some(t.elapsed());
                    continue;
                }
                c.sent += 1;
            }
            match c.sock.read(&mut buf) {
                Ok(0) => c.closed = Some(t.elapsed()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => c.closed = Some(t.elapsed()),
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut worst_over = Duration::ZERO;
    let mut open = 0;
    for c in &conns {
        match c.closed {
            // Connections were opened over `connect_ms`; allow that plus 1.5 s.
            Some(d) => {
                let allowed =
                    deadline(c.listener) + Duration::from_millis(connect_ms as u64 + 1500);
                if d > allowed {
                    worst_over = worst_over.max(d - deadline(c.listener));
                }
            }
            None => open += 1,
        }
    }
    ctx.check(
        open == 0,
        format!("{open} of {total} slow connections still open"),
    );
    ctx.check(
        worst_over.is_zero(),
        format!(
            "closed up to {} ms past the deadline",
            worst_over.as_millis()
        ),
    );
    let last = conns
        .iter()
        .filter_map(|c| c.closed)
        .max()
        .unwrap_or_default();
    drop(conns);
    let mut fds1 = 0;
    wait_for(Duration::from_secs(3), || {
        fds1 = ctx.server.fds();
        fds1 <= fds0 + 2
    });
    let rss1 = ctx.server.rss_kib();
    ctx.check(
        fds1 <= fds0 + 2,
        format!("file descriptors {fds0}→{fds1} after slow-loris"),
    );
    ctx.check(
        rss1 < rss0 + 32 * 1024,
        format!(
            "memory {}→{} MiB after slow-loris",
            rss0 / 1024,
            rss1 / 1024
        ),
    );
    ctx.figure(format!(
        "{total} slow connections ({http_share} http) opened in {connect_ms} ms, all closed by {} ms; fds {fds0}→{fds1}",
        last.as_millis()
    ));
    Ok(())
}
