//! Scenario 20: upstreams that handshake and send nothing, send garbage, or
//! answer 401 or 404, all pulled at once.

use std::time::{Duration, Instant};

use super::super::Ctx;
use super::fake::{Behaviour, Fake};
use super::{add_proxy, attempts_bound, proxy, RETRY_MIN_MS};

/// Each bad upstream, its proxy's name, URL scheme and what its reason must say.
const BAD: &[(Behaviour, &str, &str, &[&str])] = &[
    (
        Behaviour::RtmpSilent,
        "silent-rtmp",
        "rtmp",
        &["deadline", "no answer", "media"],
    ),
    (Behaviour::RtspSilent, "silent-rtsp", "rtsp", &["media"]),
    (Behaviour::Garbage, "garbage-rtmp", "rtmp", &[""]),
    (Behaviour::Garbage, "garbage-rtsp", "rtsp", &[""]),
    (Behaviour::Rtsp401, "auth-401", "rtsp", &["401"]),
    (Behaviour::Rtsp404, "missing-404", "rtsp", &["404"]),
];

/// Each proxy backs off: its reason is in `/api/v1/proxies` `last_error`,
/// it retries, and the connections its fake upstream counted over the
/// window stay within what the backoff allows (`attempts_bound`); the API's
/// attempt count agrees with the connections seen.
pub fn bad_upstreams(ctx: &mut Ctx) -> Result<(), String> {
    let window = Duration::from_secs(ctx.profile.pick(8, 60));
    let mut fakes = Vec::new();
    for (behaviour, name, scheme, _) in BAD {
        let fake = Fake::start(*behaviour)?;
        let creds = if *behaviour == Behaviour::Rtsp401 {
            "user:pass@"
        } else {
            ""
        };
        add_proxy(
            ctx.server,
            name,
            &format!("{scheme}://{creds}127.0.0.1:{}/live/cam", fake.port),
        )?;
        fakes.push(fake);
    }
    let t = Instant::now();
    // The probe checks the relay meanwhile. No bad upstream ever shows live:
    // a pull is live from its first frame, so the silent RTSP one (PLAY
    // answered, then nothing) stays `connecting` until its media deadline.
    while t.elapsed() < window {
        for (_, name, _, _) in BAD {
            if proxy(ctx.server, name).is_some_and(|p| p["state"] == "live") {
                ctx.check(false, format!("{name}: a bad upstream went live"));
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let bound = attempts_bound(window, Duration::from_millis(RETRY_MIN_MS));
    let mut figures = Vec::new();
    for ((_, name, _, reasons), fake) in BAD.iter().zip(&fakes) {
        let seen = fake.accepted();
        let p = proxy(ctx.server, name).unwrap_or_default();
        let attempts = p["attempts"].as_u64().unwrap_or(0);
        let why = p["last_error"].as_str().unwrap_or("").to_string();
        ctx.check(
            (2..=bound).contains(&seen),
            format!(
                "{name}: {seen} connections in {} s (want 2..={bound})",
                window.as_secs()
            ),
        );
        ctx.check(
            attempts.abs_diff(seen) <= 1,
            format!("{name}: API says {attempts} attempts, the upstream saw {seen}"),
        );
        ctx.check(
            !why.is_empty() && reasons.iter().any(|r| why.contains(r)),
            format!("{name}: last_error {why:?} lacks {reasons:?}"),
        );
        ctx.check(
            p["state"] != "live",
            format!("{name}: state {}", p["state"]),
        );
        let short: String = why.chars().take(60).collect();
        figures.push(format!("{name} {seen} ({short})"));
    }
    ctx.figure(format!(
        "connections per bad upstream in {} s (bound {bound}): {}; none shown live",
        window.as_secs(),
        figures.join(", ")
    ));
    for (_, name, _, _) in BAD {
        let _ = super::delete_proxy(ctx.server, name);
    }
    Ok(())
}
