//! Scenarios 4, 5 and 6: peers that vanish, players that never read, and
//! slow-loris connections, at every listener in [`LISTENERS`].

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtmp_proto::ClientMode;

use super::attack::{connect_from, spread_source};
use super::clients::{clip, closed_within, flush, rtmp_connect, Ffmpeg, Player, Rng};
use super::rtsp::{rtp_clip, RtspConn, RtspPlay, RtspPublisher};
use super::server::{
    signal, HANDSHAKE_SECS, KEEP_ALIVE_SECS, MAX_LAG_MS, REQUEST_TIMEOUT_MS, RTSP_HANDSHAKE_SECS,
    RTSP_KEEP_ALIVE_SECS, WRITE_STALL_MS,
};
use super::{check_fps, measure_fps, wait_for, wait_live, wait_tracks, Ctx, Listener, LISTENERS};

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
        // PLAY over TCP interleaving, then never another read.
        Listener::Rtsp => {
            RtspPlay::start(port, stream, false, Duration::from_secs(5)).map(|p| p.conn.sock)
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
    let (rtmp, rtsp) = (ctx.server.rtmp, ctx.server.rtsp);
    let with_rtsp = LISTENERS.contains(&Listener::Rtsp);
    let _publisher = Ffmpeg::publish(rtmp, "v")?;
    wait_live(ctx.server, "v", Duration::from_secs(10))?;
    let mut healthy = vec![Player::start(rtmp, "v")];
    // An ffmpeg RTSP publisher that will be SIGKILLed, with an RTMP and an
    // RTSP player that must outlive it.
    let mut rtsp_publisher = None;
    if with_rtsp {
        let f = Ffmpeg::publish_rtsp(rtsp, "v-rtsp")?;
        let id = wait_live(ctx.server, "v-rtsp", Duration::from_secs(10))?;
        rtsp_publisher = Some((f, id));
        wait_tracks(ctx.server, "v", 2, Duration::from_secs(5))?;
        wait_tracks(ctx.server, "v-rtsp", 2, Duration::from_secs(5))?;
        healthy.push(Player::start_rtsp(rtsp, "v"));
        healthy.push(Player::start(rtmp, "v-rtsp"));
    }
    // The RTSP player of the stream whose publisher is killed: strom ends an
    // RTSP player when the tracks change, which a takeover by a publisher
    // that announces its tracks one by one (RTMP: a sequence header each) does.
    let mut rtsp_of_killed = with_rtsp.then(|| Player::start_rtsp(rtsp, "v-rtsp"));
    std::thread::sleep(Duration::from_millis(1000));
    // The RTSP publisher is SIGKILLed; a new RTMP publisher takes the name.
    let mut killed_taken = None;
    if let Some((f, old_id)) = rtsp_publisher.take() {
        signal(f.pid(), "KILL")?;
        let t = Instant::now();
        let _new = Ffmpeg::publish(rtmp, "v-rtsp")?;
        let mut new_id = None;
        wait_for(Duration::from_secs(5), || {
            new_id = ctx
                .server
                .stream("v-rtsp")
                .ok()
                .flatten()
                .and_then(|s| s["publisher"]["session_id"].as_u64())
                .filter(|n| *n != old_id);
            new_id.is_some()
        });
        ctx.check(
            new_id.is_some(),
            "rtsp: the SIGKILLed ffmpeg's stream was not taken by a new publisher within 5 s",
        );
        killed_taken = Some((t.elapsed(), _new));
        drop(f);
        // The newcomer's tracks are all known (the RTSP player's fate is decided).
        wait_tracks(ctx.server, "v-rtsp", 2, Duration::from_secs(5))?;
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut replay = String::new();
    if let Some(p) = rtsp_of_killed.take() {
        let s = p.stats();
        if s.closed && s.error.as_deref() == Some("server closed") {
            // Ended by the server at the takeover: a real player DESCRIBEs
            // again, and that must work at once.
            healthy.push(Player::start_rtsp(rtsp, "v-rtsp"));
            replay =
                "; its RTSP player was ended at the takeover and played again on a new DESCRIBE"
                    .into();
        } else {
            replay = "; its RTSP player kept playing through the takeover".into();
            healthy.push(p);
        }
    }
    // The baseline: publishers and healthy players, after the takeover.
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
            Listener::Rtsp => {
                let hs = Duration::from_secs(RTSP_HANDSHAKE_SECS) + slack;
                let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
                waits.push(expect_close("rtsp: silent after connect".into(), s, hs));
                let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
                s.write_all(b"DESCRIBE rtsp://127.0.0.1/live/v RTSP/1.0\r\nCSeq: 1\r\nAcc")
                    .map_err(|e| e.to_string())?;
                waits.push(expect_close("rtsp: half a request head".into(), s, hs));
                // Set up, then silent before PLAY: the handshake deadline.
                let mut c = RtspConn::connect(port, "v")?;
                let url = c.url.clone();
                c.request("DESCRIBE", &url, &[], &[], Duration::from_secs(3))?;
                waits.push(expect_close(
                    "rtsp: described, then silent".into(),
                    c.sock,
                    hs,
                ));
                // A raw publisher: a second of media, then nothing.
                let media = rtp_clip(&clip()?)?;
                let mut p = RtspPublisher::start(
                    port,
                    "v-rtsp-silent",
                    &media,
                    false,
                    Duration::from_secs(3),
                )?;
                p.send_clip(&media, media.packets.len() / 2)?;
                let ka = Duration::from_secs(RTSP_KEEP_ALIVE_SECS) + slack;
                waits.push(expect_close(
                    "rtsp: publisher gone silent".into(),
                    p.conn.sock,
                    ka,
                ));
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
    // The silent RTSP publisher's name is free again: a new one takes it.
    if with_rtsp {
        let media = rtp_clip(&clip()?)?;
        let again =
            RtspPublisher::start(rtsp, "v-rtsp-silent", &media, false, Duration::from_secs(3));
        ctx.check(
            again.is_ok(),
            format!(
                "rtsp: the silent publisher's stream was not released: {:?}",
                again.as_ref().err()
            ),
        );
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
    let min = check_fps(ctx, "healthy players", &rates);
    for p in &healthy {
        let s = p.stats();
        ctx.check(
            s.error.is_none() && !s.closed,
            format!("healthy player hurt: {s:?}"),
        );
    }
    let killed = killed_taken.map_or(String::new(), |(t, _)| {
        format!(
            "; SIGKILLed RTSP ffmpeg replaced over RTMP after {} ms, its RTMP player kept going{replay}",
            t.as_millis()
        )
    });
    ctx.figure(format!(
        "silent peers closed ≤ {} ms; stuck players dropped after {} ms (write stall {WRITE_STALL_MS} ms, max lag {MAX_LAG_MS} ms); sessions back to {sessions0}; fds {fds0}→{fds1}{killed}; {} healthy players min {min:.1} fps",
        worst.as_millis(),
        stuck_took.as_millis(),
        healthy.len()
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
    let mut healthy: Vec<Player> = (0..n_healthy)
        .map(|_| Player::start(rtmp, "stuck"))
        .collect();
    if LISTENERS.contains(&Listener::Rtsp) {
        wait_tracks(ctx.server, "stuck", 2, Duration::from_secs(5))?;
        healthy.push(Player::start_rtsp(ctx.server.rtsp, "stuck"));
    }
    let n_healthy = healthy.len();
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
        "{n_stuck} stuck (~{} per listener: RTMP, HTTP-FLV, RTSP) all dropped {} ms after connecting; {n_healthy} healthy (1 RTSP) min {min:.1} fps; rss during {}→{} MiB",
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
    let rtsp_head = b"OPTIONS rtsp://127.0.0.1/live/x RTSP/1.0\r\nCSeq: 1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for i in 0..total {
        // In fours: HTTP (while under its share), RTMP, RTSP (if listed),
        // RTMP; every other group of four trickles, the rest stay silent
        // (RTSP's silent ones after half a request head).
        let listener = match i % 4 {
            0 if LISTENERS.contains(&Listener::Http) && i / 4 < http_share => Listener::Http,
            2 if LISTENERS.contains(&Listener::Rtsp) => Listener::Rtsp,
            _ => Listener::Rtmp,
        };
        // Ten connections per attacker address (127.0.0.10 and up): under
        // the per-address caps, so every one waits for its deadline.
        let mut sock = connect_from(
            spread_source(i / 10),
            listener.port(ctx.server),
            Duration::from_secs(3),
        )
        .map_err(|e| format!("connect #{i}: {e}"))?;
        let trickle = (i / 4) % 2 == 1;
        if listener == Listener::Rtsp && !trickle {
            sock.write_all(rtsp_head.get(..40).unwrap_or_default())
                .map_err(|e| e.to_string())?;
        }
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        conns.push(Conn {
            listener,
            sock,
            trickle,
            sent: 0,
            closed: None,
        });
    }
    let connect_ms = t.elapsed().as_millis();
    // The listener keeps accepting and answering while all of them hang.
    let mut rtsp_answer = None;
    if LISTENERS.contains(&Listener::Rtsp) {
        let a = Instant::now();
        let answered = RtspConn::connect(ctx.server.rtsp, "x").and_then(|mut c| {
            let url = c.url.clone();
            c.request("OPTIONS", &url, &[], &[], Duration::from_secs(1))
        });
        ctx.check(
            answered.as_ref().is_ok_and(|r| r.status == 200),
            format!(
                "rtsp: OPTIONS during the slow-loris not answered 200: {:?}",
                answered.map(|r| r.status)
            ),
        );
        rtsp_answer = Some(a.elapsed());
    }
    let deadline = |l: Listener| match l {
        Listener::Rtmp => Duration::from_secs(HANDSHAKE_SECS),
        Listener::Http => Duration::from_millis(REQUEST_TIMEOUT_MS),
        Listener::Rtsp => Duration::from_secs(RTSP_HANDSHAKE_SECS),
    };
    let head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut buf = [0u8; 4096];
    let mut last_trickle = Instant::now() - Duration::from_secs(1);
    let stop_at = Duration::from_secs(
        HANDSHAKE_SECS
            .max(REQUEST_TIMEOUT_MS / 1000)
            .max(RTSP_HANDSHAKE_SECS)
            + 5,
    );
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
                    Listener::Rtsp => rtsp_head.get(c.sent).copied().unwrap_or(b'a'),
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
    let conns_by: Vec<Listener> = conns.iter().map(|c| c.listener).collect();
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
    let count = |l: Listener| conns_by.iter().filter(|x| **x == l).count();
    let rtsp = rtsp_answer.map_or(String::new(), |d| {
        format!(
            "; a fresh RTSP OPTIONS answered in {} ms meanwhile",
            d.as_millis()
        )
    });
    ctx.figure(format!(
        "{total} slow connections ({} http, {} rtsp, {} rtmp; half trickling a byte a second) opened in {connect_ms} ms, all closed by {} ms{rtsp}; fds {fds0}→{fds1}",
        count(Listener::Http),
        count(Listener::Rtsp),
        count(Listener::Rtmp),
        last.as_millis()
    ));
    Ok(())
}
