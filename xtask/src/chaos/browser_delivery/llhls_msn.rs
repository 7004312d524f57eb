//! Scenario 30, llhls-msn-flood: blocking reloads no server may hold, in
//! bulk from [`ATTACKER`] on keep-alive connections, paced over a window: `_HLS_msn` a million
//! segments past the live edge (with random parts, or none), negative,
//! non-numeric, empty and over 64-bit values, `_HLS_part` without
//! `_HLS_msn` or not a number. Each must be answered 400 at once (the p99
//! of those refusals is measured), none held (the blocked-request gauge
//! never counts more than the poller's own request, nothing refused over
//! a cap), and the LL-HLS poller from 127.0.0.1 gets every part meanwhile.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::super::attack::{check_recovered, Base, ATTACKER};
use super::super::clients::{Ffmpeg, Rng};
use super::super::{wait_for, wait_live, Ctx};
use super::llhls::{playlist, Http, Poller};
use super::llhls_blocking::{take, AT_ONCE_MS, BLOCKED};
use super::{metric_sum, quantile_ms, PART_MS};

/// The refusals' p99 must stay under this (the probe's own limit).
const P99_MS: f64 = 50.0;
/// Connections the requests are spread over.
const CONNS: usize = 8;
/// The flood ends after this even if the count is not reached.
const MAX_FLOOD: Duration = Duration::from_secs(60);

/// A query no server may hold, picked by `rng`; `last` is the last msn seen.
fn bad_query(rng: &mut Rng, last: u64) -> String {
    let far = last + 1_000_000 + rng.below(1000);
    match rng.below(9) {
        0 => format!("_HLS_msn={far}"),
        1 | 2 => format!("_HLS_msn={far}&_HLS_part={}", rng.below(50)),
        3 => format!("_HLS_msn=-{}", rng.below(1000) + 1),
        4 => [
            "_HLS_msn=abc",
            "_HLS_msn=",
            "_HLS_msn=0x10",
            "_HLS_msn=1e9",
            "_HLS_msn",
        ][rng.below(5) as usize]
            .to_string(),
        5 => format!("_HLS_msn=99999999999999999999{}", rng.below(1000)),
        6 => format!("_HLS_part={}", rng.below(10)),
        7 => format!("_HLS_msn={last}&_HLS_part=-{}", rng.below(9) + 1),
        _ => format!("_HLS_msn={far}&_HLS_part=x{}", rng.below(9)),
    }
}

/// Scenario 30.
pub fn llhls_msn_flood(ctx: &mut Ctx) -> Result<(), String> {
    let name = "llmsn";
    let base = format!("/live/{name}");
    let (http, rtmp) = (ctx.server.http, ctx.server.rtmp);
    let (total, window): (usize, u64) = ctx.profile.pick((10_000, 3), (100_000, 20));
    // Paced over the window, so the poller lives through it.
    let window = Duration::from_secs(window);
    let _publisher = Ffmpeg::publish(rtmp, name)?;
    wait_live(ctx.server, name, Duration::from_secs(10))?;
    let poller = Poller::start(http, name);
    wait_for(Duration::from_secs(15), || poller.parts() >= 3).ok_or_else(|| {
        format!(
            "the LL-HLS poller got no 3 parts within 15 s: {:?}",
            poller.stats()
        )
    })?;
    let mut local = Http::connect(Ipv4Addr::LOCALHOST, http)?;
    let last = playlist(&mut local, &base)?.last_msn().unwrap_or(0);
    drop(local);
    let base_state = Base::take(ctx)?;
    let refused0 =
        metric_sum(ctx.server, "strom_hls_blocked_requests_refused_total", "").unwrap_or(0.0);
    let polled0 = poller.stats();
    let t0 = Instant::now();

    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let wrong = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..CONNS)
        .map(|c| {
            let (stop, latencies, wrong, base) =
                (stop.clone(), latencies.clone(), wrong.clone(), base.clone());
            let n = total / CONNS + usize::from(c < total % CONNS);
            std::thread::spawn(move || {
                let mut rng = Rng::new(30 ^ (c as u64) << 20 ^ u64::from(std::process::id()));
                let mut conn: Option<Http> = None;
                let mut mine = Vec::with_capacity(n);
                let mut bad = Vec::new();
                let t = Instant::now();
                for i in 0..n {
                    if stop.load(Ordering::Relaxed) || t.elapsed() > MAX_FLOOD {
                        break;
                    }
                    let due = window.mul_f64(i as f64 / n as f64);
                    std::thread::sleep(due.saturating_sub(t.elapsed()));
                    let http_conn = match conn.as_mut() {
                        Some(h) => h,
                        None => match Http::connect(ATTACKER, http) {
                            Ok(h) => conn.insert(h),
                            Err(e) => {
                                bad.push(e);
                                break;
                            }
                        },
                    };
                    let path = format!("{base}/hls.fmp4.m3u8?{}", bad_query(&mut rng, last));
                    let sent = Instant::now();
                    match http_conn.get(&path, Duration::from_secs(10)) {
                        Ok((400, _)) => mine.push(sent.elapsed()),
                        Ok((status, _)) => {
                            mine.push(sent.elapsed());
                            bad.push(format!("{status} for {path}"));
                        }
                        Err(e) => {
                            bad.push(format!("{path}: {e}"));
                            conn = None;
                        }
                    }
                }
                latencies
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(mine);
                wrong.lock().unwrap_or_else(|e| e.into_inner()).extend(bad);
            })
        })
        .collect();
    // The gauge while the flood runs.
    let mut peak: f64 = 0.0;
    while threads.iter().any(|t| !t.is_finished())
        && t0.elapsed() < MAX_FLOOD + Duration::from_secs(5)
    {
        peak = peak.max(metric_sum(ctx.server, BLOCKED, "").unwrap_or(0.0));
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let flood = t0.elapsed();
    // A second more of polling after the flood, then no hole allowed.
    std::thread::sleep(Duration::from_millis(1000));
    let polled = poller.stats();
    let secs = t0.elapsed().as_secs_f64();
    drop(poller);

    let (latencies, wrong) = (take(&latencies), take(&wrong));
    let (p50, p99, max) = (
        quantile_ms(&latencies, 0.5),
        quantile_ms(&latencies, 0.99),
        quantile_ms(&latencies, 1.0),
    );
    let refused = metric_sum(ctx.server, "strom_hls_blocked_requests_refused_total", "")
        .unwrap_or(0.0)
        - refused0;
    ctx.check(
        latencies.len() == total && wrong.is_empty(),
        format!(
            "{total} bad reloads: {} answered, {} not 400 or failed, first: {:?}",
            latencies.len(),
            wrong.len(),
            wrong.first()
        ),
    );
    ctx.check(
        p99 <= P99_MS && max <= AT_ONCE_MS as f64,
        format!("400s took p99 {p99:.1} ms (limit {P99_MS}), max {max:.1} ms (limit {AT_ONCE_MS})"),
    );
    ctx.check(
        peak <= 1.0 && refused == 0.0,
        format!("bad reloads were held: blocked gauge peak {peak} (the poller's own is 1), {refused} refused over the caps"),
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
        polled.refused.len() == polled0.refused.len() && polled.errors.is_empty(),
        format!(
            "the poller was refused or failed: {:?} {:?}",
            &polled.refused[polled0.refused.len()..],
            polled.errors
        ),
    );
    let parts = polled.got.len() - polled0.got.len();
    let rate = parts as f64 / secs;
    let due = 1000.0 / PART_MS as f64;
    ctx.check(
        rate >= 0.8 * due,
        format!("the poller got {rate:.1} parts/s < 80 % of {due:.0}"),
    );
    let recovered = check_recovered(ctx, &base_state, Duration::from_secs(5));
    ctx.figure(format!(
        "{} bad blocking reloads from {ATTACKER} on {CONNS} keep-alive connections in {} ms (msn last+10^6 with/without random parts, negative, non-numeric, empty, > u64, part without msn, bad part): all 400 in p50 {p50:.2} ms p99 {p99:.2} ms max {max:.1} ms; blocked gauge peak {peak} (the poller's), {refused} refused over caps",
        latencies.len(),
        flood.as_millis()
    ));
    ctx.figure(format!(
        "LL-HLS poller {parts} parts ({rate:.1}/s, part {PART_MS} ms), no hole, longest wait {} ms",
        polled.max_gap.as_millis()
    ));
    ctx.figure(recovered);
    Ok(())
}
