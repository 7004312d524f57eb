//! Scenario 24, webrtc-vanish: a Chromium WHEP viewer is SIGKILLed (no
//! DTLS close, no DELETE, nothing more on the wire). strom must drop its
//! session within `webrtc.peer_timeout_ms` plus slack, while another
//! Chromium viewer and an RTMP player of the same stream play on; then
//! sessions, tasks and descriptors are back to where they were.

use crate::browser::publisher::Publisher;
use std::time::{Duration, Instant};

use super::super::attack::{check_recovered, Base};
use super::super::clients::{Player, Rng, FPS};
use super::super::{check_fps, wait_for, wait_live, wait_tracks, Ctx};
use super::{
    metric, probe_offer, rtc_sessions, wait_new_session, wait_session_gone, Browser,
    PEER_TIMEOUT_MS,
};

/// How late after `peer_timeout_ms` the session may still be there.
pub const SLACK_MS: u64 = 1500;
/// The other viewer's play time: it spans the kill and the timeout.
const OTHER_SECS: f64 = 6.0;
/// A Chromium viewer keeps this share of the publisher's frame rate.
pub const BROWSER_FPS_SHARE: f64 = 0.8;

/// Scenario 24.
pub fn vanish(ctx: &mut Ctx) -> Result<(), String> {
    let name = "vanish";
    let (http, rtmp) = (ctx.server.http, ctx.server.rtmp);
    let _publisher = Publisher::start(rtmp, name)?;
    wait_live(ctx.server, name, Duration::from_secs(10))?;
    wait_tracks(ctx.server, name, 2, Duration::from_secs(10))?;
    let mut rng = Rng::new(24 ^ u64::from(std::process::id()));
    probe_offer(ctx.server, name, &mut rng)?;
    let player = Player::start(rtmp, name);
    wait_for(Duration::from_secs(5), || player.frames() > 0)
        .ok_or("the RTMP player saw no frame within 5 s")?;
    let base = Base::take(ctx)?;
    let timeouts0 = metric(ctx.server, "strom_webrtc_timeouts_total{kind=\"peer\"}");

    let doomed = Browser::whep("24-doomed", http, name, 60.0)?;
    let doomed_id = wait_new_session(ctx.server, &[], Duration::from_secs(20))?;
    let mut other = Browser::whep("24-other", http, name, OTHER_SECS)?;
    let other_id = wait_new_session(ctx.server, &[doomed_id], Duration::from_secs(20))?;

    let frames0 = player.frames();
    let killed = Instant::now();
    doomed.kill_chromium()?;
    let limit = Duration::from_millis(PEER_TIMEOUT_MS + SLACK_MS);
    let gone = wait_session_gone(ctx.server, doomed_id, limit + Duration::from_secs(5));
    let rate = (player.frames() - frames0) as f64 / killed.elapsed().as_secs_f64();
    match gone {
        Some(d) => {
            ctx.check(
                d <= limit,
                format!(
                    "the vanished viewer's session lasted {} ms > peer_timeout_ms {PEER_TIMEOUT_MS} + {SLACK_MS}",
                    d.as_millis()
                ),
            );
            ctx.figure(format!(
                "vanished viewer dropped {} ms after SIGKILL (peer_timeout_ms {PEER_TIMEOUT_MS})",
                d.as_millis()
            ));
        }
        None => ctx.check(
            false,
            format!(
                "the vanished viewer's session {doomed_id} still there {} s after SIGKILL",
                killed.elapsed().as_secs()
            ),
        ),
    }
    drop(doomed);
    let min = check_fps(ctx, "RTMP player while the viewer vanished", &[rate]);
    let s = player.stats();
    ctx.check(
        s.error.is_none() && !s.closed && s.ts_regressions == 0,
        format!("RTMP player hurt: {s:?}"),
    );

    // The other viewer played through it.
    let budget = Duration::from_secs_f64(OTHER_SECS + 20.0);
    match other.whep_result(budget) {
        Ok(r) => {
            let fps = r["fps"].as_f64().unwrap_or(0.0);
            ctx.check(
                fps >= BROWSER_FPS_SHARE * FPS,
                format!("the other Chromium viewer: {fps:.1} fps < {BROWSER_FPS_SHARE} × {FPS}"),
            );
            ctx.figure(format!(
                "other viewer {fps:.1} fps ({} frames, {} freezes), RTMP player {min:.1} fps",
                r["framesPresented"], r["video"]["freezeCount"]
            ));
        }
        Err(e) => ctx.check(false, format!("the other viewer: {e}")),
    }
    drop(other);
    // It hung up with DELETE: its session ends at once.
    let other_gone = wait_session_gone(ctx.server, other_id, Duration::from_secs(3));
    ctx.check(
        other_gone.is_some(),
        format!(
            "the other viewer's session outlived its DELETE: {:?}",
            rtc_sessions(ctx.server)
        ),
    );
    let timeouts1 = metric(ctx.server, "strom_webrtc_timeouts_total{kind=\"peer\"}");
    if let (Some(a), Some(b)) = (timeouts0, timeouts1) {
        ctx.check(
            b - a == 1.0,
            format!("peer timeouts counted {a}→{b}, not one more"),
        );
        ctx.figure(format!("peer timeouts {a}→{b}"));
    }
    drop(player);
    let recovered = check_recovered(ctx, &base, Duration::from_secs(5));
    ctx.figure(recovered);
    Ok(())
}
