//! Scenarios 7 and 8: churn of publish/play/abort cycles, and malformed or
//! hostile input at every listener in [`LISTENERS`].

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtmp_proto::session::MediaKind;
use rtmp_proto::{ClientEvent, ClientMode};

use super::attack::{set_thread_source, spread_source};
use super::clients::{clip, closed_within, flush, rtmp_connect, Ffmpeg, Player, Rng, Tag};
use super::rtsp::rtp_clip;
use super::rtsp_churn::rtsp_cycle;
use super::rtsp_hostile::RTSP_ATTACKS;
use super::server::{
    HANDSHAKE_SECS, KEEP_ALIVE_SECS, RTSP_HANDSHAKE_SECS, RTSP_KEEP_ALIVE_SECS,
    RTSP_SESSION_TIMEOUT_SECS,
};
use super::{check_fps, wait_for, wait_live, wait_tracks, Ctx, Listener, LISTENERS};

/// What the churn workers did.
#[derive(Default)]
pub(super) struct Counts {
    pub cycles: AtomicU64,
    pub published: AtomicU64,
    pub refused: AtomicU64,
    pub played: AtomicU64,
    pub frames_seen: AtomicU64,
    pub abrupt: AtomicU64,
    pub http_media: AtomicU64,
    /// Cycles over RTSP (the rest are RTMP).
    pub rtsp_cycles: AtomicU64,
    /// RTSP publishers and players that SETUP over UDP (a port pair each).
    pub udp_setups: AtomicU64,
}

/// Scenario 7: Churn: publish/play/abort cycles over 50 streams with random abrupt
/// ends; at the end the registry is empty and descriptors, sessions and
/// memory are back near the baseline.
pub fn churn(ctx: &mut Ctx) -> Result<(), String> {
    let (port, http, rtsp) = (ctx.server.rtmp, ctx.server.http, ctx.server.rtsp);
    let with_rtsp = LISTENERS.contains(&Listener::Rtsp);
    let cycles = ctx.profile.pick(300, 3000);
    let time_limit = Duration::from_secs(ctx.profile.pick(60, 300));
    let threads = 6;
    let tags: Arc<Vec<Tag>> = Arc::new(clip()?.into_iter().take(60).collect());
    let media = Arc::new(rtp_clip(&tags)?);
    let udp0 = ctx.server.udp_bound();
    let (fds0, rss0, sessions0, tasks0) = (
        ctx.server.fds(),
        ctx.server.rss_kib(),
        ctx.server.sessions()?,
        ctx.server.tasks(),
    );
    let counts = Arc::new(Counts::default());
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let t = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|w| {
            let (tags, counts, errors) = (tags.clone(), counts.clone(), errors.clone());
            let media = media.clone();
            std::thread::spawn(move || {
                let mut rng = Rng::new(0x9e37_79b9 + w as u64);
                for _ in 0..cycles / threads {
                    if t.elapsed() > time_limit {
                        break;
                    }
                    counts.cycles.fetch_add(1, Ordering::Relaxed);
                    // One cycle in three over RTSP.
                    let r = if with_rtsp && rng.below(3) == 0 {
                        rtsp_cycle(rtsp, &media, &mut rng, &counts)
                    } else {
                        churn_cycle((port, http), &tags, &mut rng, &counts)
                    };
                    if let Err(e) = r {
                        let mut g = errors.lock().unwrap_or_else(|e| e.into_inner());
                        if g.len() < 5 {
                            g.push(e);
                        }
                    }
                }
            })
        })
        .collect();
    // Sample the UDP sockets in the RTP range while the workers run, to
    // show pairs were handed out (and, below, all given back).
    let mut udp_peak = udp0;
    while !workers.iter().all(|w| w.is_finished()) {
        udp_peak = udp_peak.max(ctx.server.udp_bound());
        std::thread::sleep(Duration::from_millis(5));
    }
    for w in workers {
        w.join().map_err(|_| "churn worker panicked")?;
    }
    let churn_secs = t.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let empty = wait_for(Duration::from_secs(10), || {
        ctx.server.streams().is_ok_and(|s| s.is_empty())
            && ctx.server.sessions().is_ok_and(|n| n <= sessions0)
    });
    ctx.check(
        empty.is_some(),
        format!(
            "registry not empty 10 s after churn: {:?} streams, sessions {:?}",
            ctx.server.streams().map(|s| s.len()),
            ctx.server.sessions()
        ),
    );
    let settle = t2.elapsed();
    let mut fds1 = 0;
    wait_for(Duration::from_secs(3), || {
        fds1 = ctx.server.fds();
        fds1 <= fds0 + 2
    });
    // Every session's task and its helpers ended with it (the workers' own
    // heartbeat tasks are in the baseline); an ended stream's HLS feed is kept
    // segment_secs × segment_count (10 s here) for players fetching its ENDLIST.
    let (tasks_left, t3) = (ctx.server.tasks(), Instant::now());
    let mut tasks1 = tasks_left;
    wait_for(Duration::from_secs(15), || {
        tasks1 = ctx.server.tasks();
        tasks1 <= tasks0
    });
    let tasks_settle = t3.elapsed();
    ctx.check(
        tasks1 <= tasks0,
        format!("tasks alive {tasks0}→{tasks1} 15 s after churn"),
    );
    let rss1 = ctx.server.rss_kib();
    ctx.check(fds1 <= fds0 + 2, format!("file descriptors {fds0}→{fds1}"));
    ctx.check(
        rss1 < rss0 + 32 * 1024,
        format!("memory {}→{} MiB after churn", rss0 / 1024, rss1 / 1024),
    );
    // Every RTP/RTCP port pair handed out over UDP was released.
    let udp1 = ctx.server.udp_bound();
    ctx.check(
        udp1 <= udp0,
        format!("UDP sockets bound in the RTP range {udp0}→{udp1} after churn"),
    );
    let rtsp_sessions = ctx.server.json("/api/v1/sessions")?["sessions"]
        .as_array()
        .map_or(0, |s| s.iter().filter(|s| s["protocol"] == "rtsp").count());
    ctx.check(
        rtsp_sessions == 0,
        format!("{rtsp_sessions} RTSP sessions left after churn"),
    );
    let errs = errors.lock().unwrap_or_else(|e| e.into_inner()).clone();
    ctx.check(errs.is_empty(), format!("churn cycles failed: {errs:?}"));
    let c = &counts;
    let n = c.cycles.load(Ordering::Relaxed);
    ctx.check(
        n as usize >= cycles / threads * threads,
        format!(
            "only {n} of {cycles} cycles ran within {} s",
            time_limit.as_secs()
        ),
    );
    ctx.figure(format!(
        "{n} cycles in {churn_secs:.1} s over 50 streams ({} over RTSP, {} RTSP SETUPs over UDP; {} published, {} refused, {} plays, {} saw video, {} abrupt, {} HTTP-TS/HLS requests); registry empty {} ms after; sessions {sessions0}→{}; fds {fds0}→{fds1}; tasks {tasks0}→{tasks_left}→{tasks1} ({} ms later); UDP sockets in the RTP range {udp0}→{udp_peak} (peak)→{udp1}; rss {}→{} MiB after",
        c.rtsp_cycles.load(Ordering::Relaxed),
        c.udp_setups.load(Ordering::Relaxed),
        c.published.load(Ordering::Relaxed),
        c.refused.load(Ordering::Relaxed),
        c.played.load(Ordering::Relaxed),
        c.frames_seen.load(Ordering::Relaxed),
        c.abrupt.load(Ordering::Relaxed),
        c.http_media.load(Ordering::Relaxed),
        settle.as_millis(),
        ctx.server.sessions().unwrap_or(u64::MAX),
        tasks_settle.as_millis(),
        rss0 / 1024,
        rss1 / 1024
    ));
    Ok(())
}

fn churn_cycle(
    (port, http): (u16, u16),
    tags: &[Tag],
    rng: &mut Rng,
    c: &Counts,
) -> Result<(), String> {
    let stream = format!("c{}", rng.below(50));
    let within = Duration::from_secs(3);
    let (mut ps, mut pub_session) = match rtmp_connect(port, &stream, ClientMode::Publish, within) {
        Ok(x) => x,
        // Another worker publishes this stream right now: a clear refusal is right.
        Err(e) if e.starts_with("rejected") => {
            c.refused.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        Err(e) => return Err(format!("publish {stream}: {e}")),
    };
    c.published.fetch_add(1, Ordering::Relaxed);
    let n = 5 + rng.below(tags.len() as u64 - 5) as usize;
    for (kind, ts, body) in tags.iter().take(n) {
        pub_session
            .send_media(*kind, *ts, body.clone())
            .map_err(|e| e.to_string())?;
    }
    flush(&mut ps, &mut pub_session)?;
    let mut player = None;
    if rng.below(2) == 0 {
        if let Ok((mut s, mut session)) = rtmp_connect(port, &stream, ClientMode::Play, within) {
            c.played.fetch_add(1, Ordering::Relaxed);
            let deadline = Instant::now() + Duration::from_millis(500);
            let mut buf = vec![0u8; 16 * 1024];
            'read: while Instant::now() < deadline {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => {
                        if session
                            .handle_input(buf.get(..k).unwrap_or_default(), Instant::now())
                            .is_err()
                        {
                            break;
                        }
                        while let Some(ev) = session.poll_event() {
                            if matches!(
                                ev,
                                ClientEvent::Media {
                                    kind: MediaKind::Video,
                                    ..
                                }
                            ) {
                                c.frames_seen.fetch_add(1, Ordering::Relaxed);
                                break 'read;
                            }
                        }
                    }
                }
            }
            player = Some((s, session));
        }
    }
    // HTTP-TS viewers and HLS segment requests come and go too: each starts
    // (or finds) the stream's TS packager, which must end with the stream.
    let http_viewer = match rng.below(4) {
        0 => Some(format!(
            "GET /live/{stream}.live.ts HTTP/1.1\r\nHost: x\r\n\r\n"
        )),
        1 => Some(format!(
            "GET /live/{stream}/{}.ts HTTP/1.1\r\nHost: x\r\n\r\n",
            rng.below(3)
        )),
        _ => None,
    }
    .and_then(|req| {
        c.http_media.fetch_add(1, Ordering::Relaxed);
        let mut s = TcpStream::connect(("127.0.0.1", http)).ok()?;
        let _ = s.write_all(req.as_bytes());
        let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        Some(s)
    });
    match rng.below(4) {
        // Everyone vanishes without a word.
        0 => {
            c.abrupt.fetch_add(1, Ordering::Relaxed);
            drop(http_viewer);
        }
        // The publisher dies in the middle of a message.
        1 => {
            c.abrupt.fetch_add(1, Ordering::Relaxed);
            let _ = ps.write_all(&[0x04, 0, 0, 0, 0, 0x10, 0, 9, 1, 0, 0, 0, 0x17]);
        }
        // The player leaves first, then the publisher politely.
        2 => {
            drop(player.take());
            pub_session.close();
            let _ = flush(&mut ps, &mut pub_session);
        }
        // Both politely.
        _ => {
            if let Some((mut s, mut session)) = player.take() {
                session.close();
                let _ = flush(&mut s, &mut session);
            }
            pub_session.close();
            let _ = flush(&mut ps, &mut pub_session);
        }
    }
    Ok(())
}

/// One hostile client: a name and what it does to a fresh connection.
pub(super) type Attack = (&'static str, fn(u16, &mut Rng) -> Result<TcpStream, String>);

pub(super) fn raw(port: u16, bytes: &[u8]) -> Result<TcpStream, String> {
    let mut s = super::server::connect_local(port, Duration::from_secs(3))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    // The server may close before all is written: that is a closed session.
    let _ = s.write_all(bytes);
    Ok(s)
}

/// A publishing RTMP session, then `bytes` raw on its socket.
fn after_publish(port: u16, rng: &mut Rng, bytes: &[u8]) -> Result<TcpStream, String> {
    let name = format!("hostile-{}", rng.below(1_000_000));
    let (mut s, _) = rtmp_connect(port, &name, ClientMode::Publish, Duration::from_secs(3))?;
    let _ = s.write_all(bytes);
    Ok(s)
}

/// Message header fmt 0 on `csid`: timestamp 0, `len`, `type_id`, stream 1.
fn fmt0(csid: u8, len: u32, type_id: u8) -> Vec<u8> {
    let l = len.to_be_bytes();
    vec![csid, 0, 0, 0, l[1], l[2], l[3], type_id, 1, 0, 0, 0]
}

const RTMP_ATTACKS: &[Attack] = &[
    ("random bytes", |p, r| raw(p, &r.bytes(4096))),
    ("bad version + random C1", |p, r| {
        let mut b = vec![0x06];
        b.extend(r.bytes(1536 * 2));
        raw(p, &b)
    }),
    ("chunk size 0x7FFFFFFF then junk", |p, r| {
        let mut b = fmt0(2, 4, 1);
        b.extend([0x7f, 0xff, 0xff, 0xff]);
        b.extend(r.bytes(64 * 1024));
        after_publish(p, r, &b)
    }),
    ("chunk size 0", |p, r| {
        let mut b = fmt0(2, 4, 1);
        b.extend([0, 0, 0, 0]);
        b.extend(r.bytes(1024));
        after_publish(p, r, &b)
    }),
    ("16 MB message length", |p, r| {
        let mut b = fmt0(3, 0xff_ffff, 0x14);
        b.extend(r.bytes(64 * 1024));
        after_publish(p, r, &b)
    }),
    ("mutated media", |p, r| {
        let name = format!("hostile-{}", r.below(1_000_000));
        let (mut s, mut session) =
            rtmp_connect(p, &name, ClientMode::Publish, Duration::from_secs(3))?;
        for (kind, ts, body) in clip()?.into_iter().take(30) {
            session
                .send_media(kind, ts, body)
                .map_err(|e| e.to_string())?;
        }
        let mut bytes = Vec::new();
        while let Some(out) = session.poll_transmit() {
            bytes.extend_from_slice(&out);
        }
        for _ in 0..bytes.len() / 100 {
            let i = r.below(bytes.len() as u64) as usize;
            if let Some(b) = bytes.get_mut(i) {
                *b = r.next_u64() as u8;
            }
        }
        let _ = s.write_all(&bytes);
        Ok(s)
    }),
];

const HTTP_ATTACKS: &[Attack] = &[
    ("random bytes", |p, r| raw(p, &r.bytes(4096))),
    ("1 MB header", |p, _| {
        let mut b = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
        b.extend(std::iter::repeat_n(b'a', 1 << 20));
        b.extend(b"\r\n\r\n");
        raw(p, &b)
    }),
    ("endless request line", |p, _| {
        let mut s = raw(p, b"GET /")?;
        let block = vec![b'a'; 64 * 1024];
        for _ in 0..64 {
            if s.write_all(&block).is_err() {
                break;
            }
        }
        Ok(s)
    }),
    ("10000 headers", |p, _| {
        let mut b = b"GET /healthz HTTP/1.1\r\n".to_vec();
        for i in 0..10_000 {
            b.extend(format!("X-{i}: y\r\n").as_bytes());
        }
        b.extend(b"\r\n");
        raw(p, &b)
    }),
    ("HLS traversal", |p, _| {
        raw(
            p,
            b"GET /live/..%2F..%2F..%2Fetc/hls.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n",
        )
    }),
    ("HLS segment of a random stream", |p, r| {
        let req = format!(
            "GET /live/{}/{}.ts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            r.below(1_000_000),
            r.next_u64()
        );
        raw(p, req.as_bytes())
    }),
    ("HLS playlist, then junk", |p, r| {
        let mut b = b"GET /live/h/hls.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        b.extend(r.bytes(4096));
        raw(p, &b)
    }),
    ("HTTP-TS with a garbage head", |p, r| {
        let mut b = b"GET /live/h.live.ts HTTP/1.1\r\n".to_vec();
        b.extend(r.bytes(2048));
        raw(p, &b)
    }),
    ("HTTP-TS traversal", |p, _| {
        raw(
            p,
            b"GET /live/%2e%2e/%2e%2e/x.live.ts HTTP/1.1\r\nHost: x\r\n\r\n",
        )
    }),
    ("absurd Content-Length", |p, r| {
        let mut b =
            b"POST /api/v1/streams HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\n\r\n"
                .to_vec();
        b.extend(r.bytes(8192));
        raw(p, &b)
    }),
];

/// Scenario 8: Malformed and hostile input at every listener: each offending session
/// is closed; memory stays bounded; a healthy publisher and its players are
/// unaffected.
pub fn hostile_input(ctx: &mut Ctx) -> Result<(), String> {
    let rtmp = ctx.server.rtmp;
    let _publisher = Ffmpeg::publish(rtmp, "h")?;
    wait_live(ctx.server, "h", Duration::from_secs(10))?;
    let mut players: Vec<Player> = (0..3).map(|_| Player::start(rtmp, "h")).collect();
    if LISTENERS.contains(&Listener::Rtsp) {
        wait_tracks(ctx.server, "h", 2, Duration::from_secs(5))?;
        players.push(Player::start_rtsp(ctx.server.rtsp, "h"));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let (rss0, sessions0) = (ctx.server.rss_kib(), ctx.server.sessions()?);
    // At least `rounds` rounds and `min_time` (so the frame rates are
    // measured over a real window), at most `max_rounds`.
    let (rounds, max_rounds) = ctx.profile.pick((3, 200), (30, 2000));
    let min_time = Duration::from_secs(ctx.profile.pick(5, 30));
    // A session may spend its handshake time, then its keep-alive (RTSP: the
    // session timeout of a UDP player) before it must be gone.
    let limit = Duration::from_secs(
        HANDSHAKE_SECS.max(RTSP_HANDSHAKE_SECS)
            + KEEP_ALIVE_SECS
                .max(RTSP_KEEP_ALIVE_SECS)
                .max(RTSP_SESSION_TIMEOUT_SECS)
            + 2,
    );
    let before: Vec<u64> = players.iter().map(|p| p.frames()).collect();
    let t = Instant::now();
    let mut attacks = 0;
    let mut worst = Duration::ZERO;
    let mut slowest = String::new();
    let (mut http_4xx, mut rtsp_4xx) = (0, 0);
    // Per RTSP attack: the first answer's status and the slowest close.
    let mut rtsp_ends = std::collections::BTreeMap::new();
    let mut round = 0;
    while round < max_rounds && (round < rounds || t.elapsed() < min_time) {
        round += 1;
        let mut handles = Vec::new();
        for &l in LISTENERS {
            let port = l.port(ctx.server);
            let list = match l {
                Listener::Rtmp => RTMP_ATTACKS,
                Listener::Http => HTTP_ATTACKS,
                Listener::Rtsp => RTSP_ATTACKS,
            };
            for (i, &(name, attack)) in list.iter().enumerate() {
                let seed = (round * 100 + i) as u64 + 1;
                // Each attack from its own address (127.0.0.10 and up): the
                // parsers are under test here, not the per-address caps.
                let src = spread_source(handles.len());
                handles.push(std::thread::spawn(move || {
                    set_thread_source(Some(src));
                    let mut rng = Rng::new(seed);
                    let t = Instant::now();
                    let r = attack(port, &mut rng).map(|mut s| {
                        let mut head = [0u8; 12];
                        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                        let got = s.read(&mut head).unwrap_or(0);
                        // "HTTP/1.1 4xx" or "RTSP/1.0 4xx".
                        let status = head
                            .get(..got)
                            .filter(|h| h.starts_with(b"HTTP/1.1 ") || h.starts_with(b"RTSP/1.0 "))
                            .and_then(|h| std::str::from_utf8(h.get(9..12)?).ok()?.parse().ok());
                        (closed_within(&mut s, limit), status)
                    });
                    (l, name, r, t.elapsed())
                }));
            }
        }
        for h in handles {
            let (l, name, r, took) = h.join().map_err(|_| "attacker panicked")?;
            attacks += 1;
            match r {
                Ok((true, status)) => {
                    let is_4xx = status.is_some_and(|s: u16| (400..500).contains(&s));
                    if l == Listener::Rtsp {
                        let e = rtsp_ends.entry(name).or_insert((status, Duration::ZERO));
                        e.1 = e.1.max(took);
                    }
                    if took > worst {
                        (worst, slowest) = (took, format!("{l:?} {name}"));
                    }
                    match l {
                        Listener::Http => http_4xx += usize::from(is_4xx),
                        Listener::Rtsp => rtsp_4xx += usize::from(is_4xx),
                        Listener::Rtmp => {}
                    }
                }
                Ok((false, _)) => ctx.check(
                    false,
                    format!(
                        "{l:?} {name}: session not closed within {} s",
                        limit.as_secs()
                    ),
                ),
                Err(e) => ctx.check(false, format!("{l:?} {name}: could not attack: {e}")),
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let rates: Vec<f64> = players
        .iter()
        .zip(before)
        .map(|(p, b)| (p.frames() - b) as f64 / secs)
        .collect();
    let min = check_fps(ctx, "healthy players during the attacks", &rates);
    let rss1 = ctx.server.rss_kib();
    ctx.check(
        rss1 < rss0 + 64 * 1024,
        format!(
            "memory {}→{} MiB under hostile input",
            rss0 / 1024,
            rss1 / 1024
        ),
    );
    let back = wait_for(Duration::from_secs(5), || {
        ctx.server.sessions().is_ok_and(|n| n <= sessions0)
    });
    ctx.check(
        back.is_some(),
        format!(
            "sessions not back to {sessions0}: {:?}",
            ctx.server.sessions()
        ),
    );
    for p in &players {
        let s = p.stats();
        ctx.check(
            s.error.is_none() && !s.closed,
            format!("healthy player hurt: {s:?}"),
        );
    }
    if !rtsp_ends.is_empty() {
        let ends: Vec<String> = rtsp_ends
            .iter()
            .map(|(name, (status, took))| {
                // Attacks that read their own answers leave none here: "-".
                let first = status.map_or("-".to_string(), |s| s.to_string());
                format!("{name}: {first}, closed ≤ {} ms", took.as_millis())
            })
            .collect();
        ctx.figure(format!("rtsp attacks [{}]", ends.join("; ")));
    }
    let per = |l: Listener, n: usize| round * n * usize::from(LISTENERS.contains(&l));
    let (http_attacks, rtsp_attacks) = (
        per(Listener::Http, HTTP_ATTACKS.len()),
        per(Listener::Rtsp, RTSP_ATTACKS.len()),
    );
    ctx.figure(format!(
        "{round} rounds, {attacks} hostile sessions closed ≤ {} ms (slowest: {slowest}; {http_4xx}/{http_attacks} http and {rtsp_4xx}/{rtsp_attacks} rtsp answered 4xx first); healthy ({} rtmp + rtsp) min {min:.1} fps; rss {}→{} MiB",
        worst.as_millis(),
        players.len(),
        rss0 / 1024,
        rss1 / 1024
    ));
    Ok(())
}
