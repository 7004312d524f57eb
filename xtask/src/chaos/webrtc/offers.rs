//! Scenario 27, webrtc-offers-abandoned: from twelve attacker addresses
//! (127.0.0.10 on, one per posting thread), valid WHEP offers (fresh ICE
//! credentials and fingerprints each), many more than `webrtc.max_sessions`
//! and than each address's pending cap (`server.max_pending_per_ip`: an
//! unconnected peer is a pending connection of its address), posted at once
//! and never followed by ICE. Those above either cap are refused at once
//! (503); after
//! `webrtc.connect_timeout_ms` every abandoned session is gone (sessions,
//! tasks and descriptors back to the baseline, `strom_webrtc_peers` 0). A
//! Chromium viewer from 127.0.0.1 that connected before the flood plays
//! through it, and a new one connects and plays after it.

use crate::browser::publisher::Publisher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::super::attack::{check_recovered, Base};
use super::super::clients::{Rng, FPS};
use super::super::{wait_for, wait_live, wait_tracks, Ctx};
use super::vanish::BROWSER_FPS_SHARE;
use super::{
    metric, post_offer, probe_offer, rtc_sessions, rtc_sessions_at, viewer_offer, wait_new_session,
    Browser, CONNECT_TIMEOUT_MS, MAX_SESSIONS,
};

/// Threads posting at once (under `http.max_connections_per_ip`).
const THREADS: usize = 12;
/// A refusal is "at once" within this.
const REFUSED_WITHIN: Duration = Duration::from_millis(500);
const PEERS: &str = "strom_webrtc_peers";
const CONNECT_TIMEOUTS: &str = "strom_webrtc_timeouts_total{kind=\"connect\"}";

/// One posted offer: when it was answered (since the flood began), how
/// long it took, the status.
type Shot = (Duration, Duration, u16);

/// Posts `count` offers to `path` from one address per thread ([`attacker`]) on [`THREADS`] threads
/// (each stops at `deadline`); what each got, and errors.
fn post_all(port: u16, path: &str, count: usize, deadline: Duration) -> (Vec<Shot>, Vec<String>) {
    let next = Arc::new(AtomicUsize::new(0));
    let shots = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (next, shots, errors) = (next.clone(), shots.clone(), errors.clone());
            let path = path.to_string();
            std::thread::spawn(move || {
                let mut rng = Rng::new(0x0ffe5 + t as u64 * 7919);
                while next.fetch_add(1, Ordering::Relaxed) < count && started.elapsed() < deadline {
                    let sdp = viewer_offer(&mut rng);
                    let t0 = Instant::now();
                    let src = attacker(t);
                    let r = post_offer(Some(src), port, &path, &sdp, Duration::from_secs(5));
                    match r {
                        Ok(a) => shots.lock().unwrap_or_else(|e| e.into_inner()).push((
                            started.elapsed(),
                            t0.elapsed(),
                            a.status,
                        )),
                        Err(e) => errors.lock().unwrap_or_else(|e| e.into_inner()).push(e),
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    (take(&shots), take(&errors))
}

/// The address posting thread `t` uses.
fn attacker(t: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(127, 0, 0, 10 + t as u8)
}

fn take<T>(m: &Mutex<Vec<T>>) -> Vec<T> {
    std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Checks a Chromium viewer's result; its frame rate.
fn viewer_fps(ctx: &mut Ctx, who: &str, r: Result<serde_json::Value, String>) -> f64 {
    match r {
        Ok(r) => {
            let fps = r["fps"].as_f64().unwrap_or(0.0);
            ctx.check(
                fps >= BROWSER_FPS_SHARE * FPS,
                format!("{who}: {fps:.1} fps < {BROWSER_FPS_SHARE} × {FPS}"),
            );
            fps
        }
        Err(e) => {
            ctx.check(false, format!("{who}: {e}"));
            0.0
        }
    }
}

/// Scenario 27.
pub fn offers_abandoned(ctx: &mut Ctx) -> Result<(), String> {
    let name = "offers";
    let count = ctx.profile.pick(500, 2000);
    let (http, rtmp) = (ctx.server.http, ctx.server.rtmp);
    let _publisher = Publisher::start(rtmp, name)?;
    wait_live(ctx.server, name, Duration::from_secs(10))?;
    wait_tracks(ctx.server, name, 2, Duration::from_secs(10))?;
    let mut rng = Rng::new(27 ^ u64::from(std::process::id()));
    probe_offer(ctx.server, name, &mut rng)?;
    let base = Base::take(ctx)?;

    let mut before = Browser::whep("27-before", http, name, 7.0)?;
    let before_id = wait_new_session(ctx.server, &[], Duration::from_secs(20))?;
    let path = format!("/live/{name}/whep");
    let connects0 = metric(ctx.server, CONNECT_TIMEOUTS);
    // The most WebRTC sessions at once, sampled while the flood lasts.
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        while !d.load(Ordering::Relaxed) {
            peak = peak.max(rtc_sessions_at(http).map_or(0, |s| s.len()));
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    });
    let (shots, errors) = post_all(http, &path, count, Duration::from_secs(20));
    done.store(true, Ordering::Relaxed);
    let flood_end = Instant::now();
    let flood_secs = shots.iter().map(|s| s.0).max().unwrap_or_default();
    let accepted: Vec<Duration> = shots.iter().filter(|s| s.2 == 201).map(|s| s.0).collect();
    let refused: Vec<Duration> = shots.iter().filter(|s| s.2 == 503).map(|s| s.1).collect();
    let other: Vec<u16> = shots
        .iter()
        .map(|s| s.2)
        .filter(|s| *s != 201 && *s != 503)
        .collect();
    ctx.check(
        errors.is_empty() && other.is_empty(),
        format!(
            "offers without a 201 or 503: {} errors (first {:?}), statuses {other:?}",
            errors.len(),
            errors.first()
        ),
    );
    ctx.check(
        shots.len() == count,
        format!("{} of {count} offers answered", shots.len()),
    );
    let peak = sampler.join().unwrap_or_default();
    ctx.check(
        peak <= MAX_SESSIONS,
        format!("{peak} WebRTC sessions at once: over webrtc.max_sessions {MAX_SESSIONS}"),
    );
    ctx.check(
        !refused.is_empty(),
        "no offer refused above webrtc.max_sessions",
    );
    let slowest = refused.iter().max().copied().unwrap_or_default();
    ctx.check(
        slowest <= REFUSED_WITHIN,
        format!("a refusal took {} ms", slowest.as_millis()),
    );
    let peers_after = metric(ctx.server, PEERS);

    // Every abandoned session goes after connect_timeout_ms.
    let limit = Duration::from_millis(CONNECT_TIMEOUT_MS + 1500);
    let only_viewer =
        || rtc_sessions(ctx.server).is_ok_and(|s| s.len() == 1 && s[0].id == before_id);
    let cleared = wait_for(limit + Duration::from_secs(5), only_viewer);
    let cleared_ms = flood_end.elapsed().as_millis();
    ctx.check(
        cleared.is_some_and(|_| flood_end.elapsed() <= limit),
        format!(
            "abandoned sessions not all gone {cleared_ms} ms after the flood (connect_timeout_ms {CONNECT_TIMEOUT_MS}): {} WebRTC sessions",
            rtc_sessions(ctx.server).map_or(0, |s| s.len())
        ),
    );
    let fps_before = viewer_fps(
        ctx,
        "the viewer playing through the flood",
        before.whep_result(Duration::from_secs(30)),
    );
    drop(before);
    let connects = match (connects0, metric(ctx.server, CONNECT_TIMEOUTS)) {
        (Some(a), Some(b)) => format!(", {} by connect timeout", b - a),
        _ => String::new(),
    };

    let mut after = Browser::whep("27-after", http, name, 3.0)?;
    let fps_after = viewer_fps(
        ctx,
        "a viewer after the flood",
        after.whep_result(Duration::from_secs(30)),
    );
    drop(after);
    let peers = wait_for(Duration::from_secs(3), || {
        metric(ctx.server, PEERS).is_none_or(|p| p == 0.0)
    });
    let peers_now = metric(ctx.server, PEERS);
    ctx.check(
        peers.is_some(),
        format!("{PEERS} {peers_now:?} at the end, not 0"),
    );
    ctx.figure(format!(
        "{count} offers from {THREADS} addresses ({}..) in {} ms: {} accepted, {} refused 503 (slowest {} ms; webrtc.max_sessions {MAX_SESSIONS}, server.max_pending_per_ip per address), \
         at most {peak} WebRTC sessions at once, {PEERS} {peers_after:?} after; abandoned all gone {cleared_ms} ms \
         after the flood{connects} (connect_timeout_ms {CONNECT_TIMEOUT_MS}); \
         viewer through it {fps_before:.1} fps, viewer after {fps_after:.1} fps",
        attacker(0),
        flood_secs.as_millis(),
        accepted.len(),
        refused.len(),
        slowest.as_millis()
    ));
    let recovered = check_recovered(ctx, &base, Duration::from_secs(5));
    ctx.figure(recovered);
    Ok(())
}
