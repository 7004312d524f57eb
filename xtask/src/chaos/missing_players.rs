//! Scenario 14, missing-stream-players: players of streams that do not
//! exist (RTMP play and HTTP-FLV, mixed), asking again whenever refused or
//! closed.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtmp_proto::{ClientEvent, ClientMode, ClientSession};

use super::attack::{
    check_recovered, connect_nb, during, is_refusal, raise_fd_limit, Base, Outcome, REOPEN_PER_SEC,
};
use super::clients::config;
use super::Ctx;

/// Distinct missing stream names the players ask for.
const NAMES: usize = 100;

/// One player of a missing stream.
struct Asker {
    rtmp: bool,
    stream: String,
    sock: Option<TcpStream>,
    session: Option<ClientSession>,
    out: Vec<u8>,
    first: Vec<u8>,
    since: Instant,
    /// RTMP `Play.Start` or an HTTP 200 head: the server holds it waiting.
    waiting: bool,
}

/// What the players got: per protocol, and how many were held waiting.
#[derive(Default)]
struct Got {
    rtmp: Outcome,
    flv: Outcome,
    rtmp_waiting: u64,
    flv_waiting: u64,
}

impl Asker {
    fn open(&mut self, port: u16) -> std::io::Result<()> {
        let sock = connect_nb(port)?;
        self.out.clear();
        self.first.clear();
        self.waiting = false;
        self.since = Instant::now();
        if self.rtmp {
            let mut s =
                ClientSession::new(config(port, &self.stream, ClientMode::Play), Instant::now());
            while let Some(b) = s.poll_transmit() {
                self.out.extend_from_slice(&b);
            }
            self.session = Some(s);
        } else {
            self.session = None;
            self.out = format!(
                "GET /live/{}.live.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                self.stream
            )
            .into_bytes();
        }
        self.sock = Some(sock);
        Ok(())
    }

    /// One step; `Some(refused)` when the connection ended.
    fn step(&mut self, buf: &mut [u8]) -> Option<bool> {
        let sock = self.sock.as_mut()?;
        if !self.out.is_empty() {
            match sock.write(&self.out) {
                Ok(n) => {
                    self.out.drain(..n.min(self.out.len()));
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::NotConnected) => {}
                Err(_) => return Some(false),
            }
        }
        let n = match sock.read(buf) {
            Ok(0) => return Some(is_refusal(&self.first)),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::NotConnected) => {
                return None
            }
            Err(_) => return Some(is_refusal(&self.first)),
        };
        let data = buf.get(..n).unwrap_or_default();
        let Some(session) = self.session.as_mut() else {
            if self.first.len() < 64 {
                self.first
                    .extend_from_slice(data.get(..n.min(64)).unwrap_or_default());
            }
            if is_refusal(&self.first) {
                return Some(true);
            }
            if self.first.starts_with(b"HTTP/1.1 200") || self.first.starts_with(b"HTTP/1.0 200") {
                self.waiting = true;
            }
            return None;
        };
        if session.handle_input(data, Instant::now()).is_err() {
            return Some(false);
        }
        while let Some(b) = session.poll_transmit() {
            self.out.extend_from_slice(&b);
        }
        while let Some(ev) = session.poll_event() {
            match ev {
                ClientEvent::Playing => self.waiting = true,
                ClientEvent::Rejected { .. } => return Some(true),
                ClientEvent::Status { code, .. }
                    if code.contains("NotFound") || code.contains("Failed") =>
                {
                    return Some(true)
                }
                _ => {}
            }
        }
        None
    }
}

fn ask_loop(http: u16, rtmp: u16, count: usize, stop: &AtomicBool) -> Got {
    let mut askers: Vec<Asker> = (0..count)
        .map(|i| Asker {
            rtmp: i % 2 == 0,
            stream: format!("missing-{}", i % NAMES),
            sock: None,
            session: None,
            out: Vec::new(),
            first: Vec::new(),
            since: Instant::now(),
            waiting: false,
        })
        .collect();
    let mut got = Got::default();
    let mut budget = count as f64;
    let mut last = Instant::now();
    let mut buf = vec![0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        budget = (budget + last.elapsed().as_secs_f64() * REOPEN_PER_SEC).min(count as f64);
        last = Instant::now();
        for a in askers.iter_mut() {
            let out = if a.rtmp { &mut got.rtmp } else { &mut got.flv };
            if a.sock.is_none() {
                if budget < 1.0 {
                    continue;
                }
                budget -= 1.0;
                match a.open(if a.rtmp { rtmp } else { http }) {
                    Ok(()) => out.opened += 1,
                    Err(_) => out.connect_errors += 1,
                }
                continue;
            }
            if let Some(refused) = a.step(&mut buf) {
                out.ended(refused, a.since);
                a.sock = None;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for a in askers.iter().filter(|a| a.sock.is_some()) {
        let (out, waiting) = if a.rtmp {
            (&mut got.rtmp, &mut got.rtmp_waiting)
        } else {
            (&mut got.flv, &mut got.flv_waiting)
        };
        out.open += 1;
        *waiting += u64::from(a.waiting);
    }
    got
}

/// Scenario 14: players of missing streams from 127.0.0.2, half RTMP play,
/// half HTTP-FLV, re-asking when refused or closed; the probe stays fast, a
/// new publisher and player work, everything is released afterwards.
pub fn missing_stream_players(ctx: &mut Ctx) -> Result<(), String> {
    let count = ctx.profile.pick(500, 2000);
    let window = Duration::from_secs(ctx.profile.pick(8, 20));
    let healthy_secs = ctx.profile.pick(3.0, 10.0);
    raise_fd_limit(count as u64 + 512)?;
    let base = Base::take(ctx)?;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let (http, rtmp) = (ctx.server.http, ctx.server.rtmp);
    let s = stop.clone();
    let asker = std::thread::spawn(move || ask_loop(http, rtmp, count, &s));
    let held = during(ctx, started, window, "missing-healthy", healthy_secs);
    stop.store(true, Ordering::Relaxed);
    let got = asker.join().map_err(|_| "the asking thread panicked")?;
    let after = check_recovered(ctx, &base, Duration::from_secs(10));
    ctx.figure(format!(
        "{count} players of {NAMES} missing streams from 127.0.0.2 for {} s: RTMP {} (held waiting after Play.Start {}); HTTP-FLV {} (held after a 200 head {}); server peak fds {}, sessions {}; server counted refusals: {}; {}; {after}",
        window.as_secs(),
        got.rtmp.describe(),
        got.rtmp_waiting,
        got.flv.describe(),
        got.flv_waiting,
        held.peak_fds,
        held.peak_sessions,
        held.refusals,
        held.healthy
    ));
    Ok(())
}
