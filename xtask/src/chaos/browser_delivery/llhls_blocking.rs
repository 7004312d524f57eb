//! Scenario 29, llhls-blocking-flood: Low-Latency HLS blocking reloads
//! (`hls.fmp4.m3u8?_HLS_msn=N&_HLS_part=P`) far above the blocked-request
//! caps. First from [`ATTACKER`] alone, above `hls.max_blocked_requests_per_ip`:
//! clients asking for the next part or the next segment in a loop, clients
//! that close mid-wait, and clients that pipeline requests and never read
//! the answers; then from several addresses together above
//! `hls.max_blocked_requests`. Requests over a cap are answered 503 at
//! once; held ones are answered by 3 × the target duration at the latest
//! (200 when their update came, else 503); the blocked-request gauge never
//! goes above the caps and is back to 0 afterwards. Last, the publisher is
//! frozen (SIGSTOP) past 3 × the target duration while the attack goes on:
//! the held requests get their 503 at that deadline. An LL-HLS poller from
//! 127.0.0.1 gets every part (retrying a 503 while the total cap is full),
//! and the probe's `/healthz` and API calls stay fast throughout.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::super::attack::{check_recovered, spread_source, Base, ATTACKER};
use super::super::clients::{Ffmpeg, Rng};
use super::super::server::signal as server_signal;
use super::super::{wait_for, wait_live, Ctx};
use super::llhls::{playlist, Http, Playlist, Poller};
use super::{metric_sum, quantile_ms, MAX_BLOCKED, MAX_BLOCKED_PER_IP, PART_MS};

/// A 503 within this is "at once" (over a cap), later it is a held
/// request's deadline.
pub const AT_ONCE_MS: u64 = 500;
/// How late after 3 × the target duration a held request may be answered.
const HELD_SLACK_MS: u64 = 1000;
/// The gauge of held requests.
pub const BLOCKED: &str = "strom_hls_blocked_requests";
/// Requests refused over the caps.
const REFUSED: &str = "strom_hls_blocked_requests_refused_total";

/// What attackers do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Asks for the next part, reads the answer, again.
    NextPart,
    /// Asks for the segment after the open one, reads the answer, again.
    NextSegment,
    /// Asks for the next part and closes (RST) within 150 ms.
    Abandon,
    /// Pipelines requests for the next segment and never reads.
    Unread,
}

/// One answer an attacker read: status and how long it took.
type Answer = (u16, Duration);

/// The attack: its threads and what they read.
pub struct Attack {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    errors: Arc<Mutex<Vec<String>>>,
    sent: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// The live edge the attackers aim at, `msn << 16 | part`, updated from
/// every playlist one of them reads.
type SharedEdge = Arc<AtomicU64>;

fn pack((m, p): (u64, u64)) -> u64 {
    m << 16 | p.min(0xffff)
}

fn unpack(v: u64) -> (u64, u64) {
    (v >> 16, v & 0xffff)
}

impl Attack {
    fn new() -> Attack {
        Attack {
            stop: Arc::new(AtomicBool::new(false)),
            answers: Arc::new(Mutex::new(Vec::new())),
            errors: Arc::new(Mutex::new(Vec::new())),
            sent: Arc::new(AtomicU64::new(0)),
            threads: Vec::new(),
        }
    }

    /// Starts `n` attackers of `kind` from `src`.
    fn spawn(
        &mut self,
        n: usize,
        kind: Kind,
        src: Ipv4Addr,
        http: u16,
        base: &str,
        edge: &SharedEdge,
    ) {
        for i in 0..n {
            let (stop, answers, errors, sent) = (
                self.stop.clone(),
                self.answers.clone(),
                self.errors.clone(),
                self.sent.clone(),
            );
            let (base, edge) = (base.to_string(), edge.clone());
            let seed = (i as u64) << 8 ^ u64::from(src.octets()[3]);
            self.threads.push(std::thread::spawn(move || {
                let mut rng = Rng::new(seed ^ 0x29);
                let w = Worker {
                    kind,
                    src,
                    http,
                    base: &base,
                    edge: &edge,
                    stop: &stop,
                    sent: &sent,
                };
                if let Err(e) = w.run(&mut rng, &answers) {
                    errors.lock().unwrap_or_else(|e| e.into_inner()).push(e);
                }
            }));
        }
    }

    /// Stops every attacker and waits for them; the answers and errors.
    fn finish(self) -> (Vec<Answer>, Vec<String>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        (
            take(&self.answers),
            take(&self.errors),
            self.sent.load(Ordering::Relaxed),
        )
    }
}

struct Worker<'a> {
    kind: Kind,
    src: Ipv4Addr,
    http: u16,
    base: &'a str,
    edge: &'a SharedEdge,
    stop: &'a AtomicBool,
    sent: &'a AtomicU64,
}

impl Worker<'_> {
    fn path(&self) -> String {
        let (m, p) = unpack(self.edge.load(Ordering::Relaxed));
        match self.kind {
            Kind::NextPart | Kind::Abandon => {
                format!("{}/hls.fmp4.m3u8?_HLS_msn={m}&_HLS_part={p}", self.base)
            }
            Kind::NextSegment | Kind::Unread => {
                format!("{}/hls.fmp4.m3u8?_HLS_msn={}", self.base, m + 1)
            }
        }
    }

    /// Loops until told to stop (each loop bounded by the server's
    /// deadlines and a pause after a refusal).
    fn run(&self, rng: &mut Rng, answers: &Mutex<Vec<Answer>>) -> Result<(), String> {
        let mut conn: Option<Http> = None;
        let mut pipelined = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let http = match conn.as_mut() {
                Some(h) => h,
                None => conn.insert(Http::connect(self.src, self.http)?),
            };
            let path = self.path();
            match self.kind {
                Kind::Abandon => {
                    if http.send(&path).is_ok() {
                        self.sent.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(rng.below(150)));
                    }
                    conn = None; // RST mid-wait
                }
                Kind::Unread => {
                    if pipelined < 40 {
                        if http.send(&path).is_err() {
                            (conn, pipelined) = (None, 0);
                            continue;
                        }
                        self.sent.fetch_add(1, Ordering::Relaxed);
                        pipelined += 1;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Kind::NextPart | Kind::NextSegment => {
                    let t = Instant::now();
                    if http.send(&path).is_err() {
                        conn = None;
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    self.sent.fetch_add(1, Ordering::Relaxed);
                    // Longer than any hold the server may make.
                    let (status, body) = match http.response(Duration::from_secs(15)) {
                        Ok(r) => r,
                        // A keep-alive connection the server closed: again on a new one.
                        Err(e) if e == "closed" || e.starts_with("read:") => {
                            conn = None;
                            continue;
                        }
                        Err(e) => {
                            return Err(format!("{path}: {e} after {} ms", t.elapsed().as_millis()))
                        }
                    };
                    answers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((status, t.elapsed()));
                    match status {
                        200 => {
                            let list = Playlist::parse(&String::from_utf8_lossy(&body));
                            if let Some(h) = list.hint {
                                self.edge.fetch_max(pack(h), Ordering::Relaxed);
                            }
                        }
                        // Refused: a pause bounds the loop's rate.
                        _ => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
            }
        }
        Ok(())
    }
}

/// Empties a shared list.
pub fn take<T>(m: &Mutex<Vec<T>>) -> Vec<T> {
    std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner()))
}

/// The highest value the blocked-request gauge took while `f` ran
/// (sampled every 50 ms on this thread).
fn peak_blocked_while(ctx: &Ctx, until: Instant) -> f64 {
    let mut peak: f64 = 0.0;
    while Instant::now() < until {
        peak = peak.max(metric_sum(ctx.server, BLOCKED, "").unwrap_or(0.0));
        std::thread::sleep(Duration::from_millis(50));
    }
    peak
}

/// What one phase's attackers got.
struct Got {
    at_once: Vec<Duration>,
    held: Vec<Duration>,
    ok: usize,
    other: Vec<u16>,
}

fn sort(answers: &[Answer]) -> Got {
    let mut g = Got {
        at_once: Vec::new(),
        held: Vec::new(),
        ok: 0,
        other: Vec::new(),
    };
    for &(status, took) in answers {
        match status {
            503 if took <= Duration::from_millis(AT_ONCE_MS) => g.at_once.push(took),
            503 => g.held.push(took),
            200 => {
                g.ok += 1;
                g.held.push(took);
            }
            s => g.other.push(s),
        }
    }
    g
}

/// Scenario 29.
pub fn llhls_blocking_flood(ctx: &mut Ctx) -> Result<(), String> {
    let name = "llblock";
    let base = format!("/live/{name}");
    let (http, rtmp) = (ctx.server.http, ctx.server.rtmp);
    let (per_ip, spread, window) = ctx.profile.pick((96, 24, 5), (400, 60, 20));
    let publisher = Ffmpeg::publish(rtmp, name)?;
    wait_live(ctx.server, name, Duration::from_secs(10))?;
    let poller = Poller::start(http, name);
    wait_for(Duration::from_secs(15), || poller.parts() >= 3).ok_or_else(|| {
        format!(
            "the LL-HLS poller got no 3 parts within 15 s: {:?}",
            poller.stats()
        )
    })?;
    let mut local = Http::connect(Ipv4Addr::LOCALHOST, http)?;
    let list = playlist(&mut local, &base)?;
    drop(local);
    let target = list.target.unwrap_or(2);
    let hint = list.hint.ok_or("the playlist has no preload hint")?;
    let held_limit = Duration::from_millis(3000 * target + HELD_SLACK_MS);
    let base_state = Base::take(ctx)?;
    let refused0 = metric_sum(ctx.server, REFUSED, "").unwrap_or(0.0);
    let edge: SharedEdge = Arc::new(AtomicU64::new(pack(hint)));
    let polled0 = poller.stats();
    let t0 = Instant::now();

    // Phase 1: one address far above its cap.
    let mut attack = Attack::new();
    let quarter = per_ip / 4;
    attack.spawn(quarter * 2, Kind::NextPart, ATTACKER, http, &base, &edge);
    attack.spawn(quarter, Kind::NextSegment, ATTACKER, http, &base, &edge);
    attack.spawn(quarter / 2, Kind::Abandon, ATTACKER, http, &base, &edge);
    attack.spawn(quarter / 2, Kind::Unread, ATTACKER, http, &base, &edge);
    let peak1 = peak_blocked_while(ctx, Instant::now() + Duration::from_secs(window));
    let polled1 = poller.stats();
    // Phase 2: several addresses together above the total cap.
    for i in 0..4 {
        attack.spawn(spread, Kind::NextPart, spread_source(i), http, &base, &edge);
    }
    let peak2 = peak_blocked_while(ctx, Instant::now() + Duration::from_secs(window));
    let polled2 = poller.stats();
    let secs = t0.elapsed().as_secs_f64();
    // Phase 3: the publisher freezes (SIGSTOP) past 3 × the target
    // duration, so no held request's update comes: each must get its 503
    // at that deadline. `stream.publisher_idle_timeout_ms` is above the
    // freeze in this scenario, so the stream does not end meanwhile.
    server_signal(publisher.pid(), "STOP")?;
    let frozen = Duration::from_millis(3000 * target + 1500);
    let peak3 = peak_blocked_while(ctx, Instant::now() + frozen);
    server_signal(publisher.pid(), "CONT")?;
    let resumed = poller.parts();
    let flowing = wait_for(Duration::from_secs(5), || poller.parts() >= resumed + 3);
    ctx.check(
        flowing.is_some(),
        "the poller got no part within 5 s of the publisher's SIGCONT",
    );
    let stopped = Instant::now();
    let (answers, errors, sent) = attack.finish();
    let finish_took = stopped.elapsed();
    // The poller goes on for another second past the attack (the parts
    // of the last phase complete), then its parts must have no hole.
    std::thread::sleep(Duration::from_millis(1000));
    let polled = poller.stats();
    drop(poller);
    // Every place released, the poller's own too (it holds one while it
    // waits for each part).
    let released = wait_for(held_limit, || {
        metric_sum(ctx.server, BLOCKED, "") == Some(0.0)
    })
    .map(|_| stopped.elapsed());

    let refused = metric_sum(ctx.server, REFUSED, "").unwrap_or(0.0) - refused0;
    let g = sort(&answers);
    let held_max = quantile_ms(&g.held, 1.0);
    let held_503 = g.held.len() - g.ok;
    let at_once_p99 = quantile_ms(&g.at_once, 0.99);
    ctx.check(
        errors.is_empty(),
        format!(
            "{} attackers failed, first: {:?}",
            errors.len(),
            errors.first()
        ),
    );
    ctx.check(
        g.other.is_empty(),
        format!(
            "attackers got statuses other than 200/503: {:?}",
            &g.other[..g.other.len().min(10)]
        ),
    );
    ctx.check(
        !g.at_once.is_empty() && refused > 0.0,
        format!("no request refused over the caps ({refused} counted)"),
    );
    ctx.check(
        held_max <= held_limit.as_millis() as f64,
        format!("a held request was answered after {held_max:.0} ms > 3 × target {target} s + {HELD_SLACK_MS} ms"),
    );
    ctx.check(
        finish_took <= held_limit + Duration::from_secs(1),
        format!(
            "the attackers took {} ms to stop (answers not coming)",
            finish_took.as_millis()
        ),
    );
    // The poller's own held request is the one place above the address cap.
    ctx.check(
        peak1 <= (MAX_BLOCKED_PER_IP + 1) as f64,
        format!(
            "{peak1} requests blocked from one address (cap {MAX_BLOCKED_PER_IP} + the poller)"
        ),
    );
    ctx.check(
        peak2 <= MAX_BLOCKED as f64,
        format!("{peak2} requests blocked (cap {MAX_BLOCKED})"),
    );
    ctx.check(
        released.is_some(),
        format!(
            "{BLOCKED} not back to 0 within {} ms: {:?}",
            held_limit.as_millis(),
            metric_sum(ctx.server, BLOCKED, "")
        ),
    );
    let holes = polled.holes();
    ctx.check(
        holes.is_empty(),
        format!(
            "the poller missed parts {:?}",
            &holes[..holes.len().min(10)]
        ),
    );
    ctx.check(
        polled1.refused.len() == polled0.refused.len() && polled.errors.is_empty(),
        format!(
            "the poller was refused or failed under the per-address flood: {:?} {:?}",
            &polled1.refused[polled0.refused.len()..],
            polled.errors
        ),
    );
    let parts = polled2.got.len() - polled0.got.len();
    let rate = parts as f64 / secs;
    let due = 1000.0 / PART_MS as f64;
    ctx.check(
        rate >= 0.8 * due,
        format!("the poller got {rate:.1} parts/s during the attack < 80 % of {due:.0}"),
    );
    ctx.check(
        polled2.max_gap <= Duration::from_millis(1500),
        format!(
            "the poller waited {} ms for a part",
            polled2.max_gap.as_millis()
        ),
    );
    ctx.check(
        held_503 > 0,
        "no held request was answered 503 at its deadline while the publisher was frozen",
    );
    let recovered = check_recovered(ctx, &base_state, Duration::from_secs(5));
    ctx.figure(format!(
        "{sent} blocking reloads from {ATTACKER} ({per_ip} clients: next part, next segment, closed mid-wait, pipelined unread) then +{} from 4 more addresses: {} refused 503 at once (p99 {at_once_p99:.1} ms, server counted {refused}), {} held answered 200 / {held_503} 503 (the publisher frozen {} ms), held max {held_max:.0} ms (3 × target {target} s); blocked peak {peak1} (cap {MAX_BLOCKED_PER_IP}/ip), {peak2} (cap {MAX_BLOCKED}), {peak3} frozen; back to 0 {} ms after the attack stopped (the poller's own place until it stopped 1 s later)",
        4 * spread,
        g.at_once.len(),
        g.ok,
        frozen.as_millis(),
        released.map_or("—".into(), |d| d.as_millis().to_string())
    ));
    ctx.figure(format!(
        "LL-HLS poller {parts} parts ({rate:.1}/s, part {PART_MS} ms) in phases 1-2, no hole over the whole run, longest wait {} ms (before the freeze), {} 503s while the total cap was full",
        polled2.max_gap.as_millis(),
        polled2.refused.len() - polled1.refused.len()
    ));
    ctx.figure(recovered);
    Ok(())
}
