//! `cargo xtask chaos [--long] [SCENARIO]`: the never-fake-die suite
//! (RELIABILITY.md). Each scenario gets a fresh release `strom` on loopback
//! ephemeral ports with short deadlines, a probe on `/healthz` and
//! `/api/v1/streams` every 100 ms, real ffmpeg publishers and purpose-built
//! misbehaving clients, and prints one result line with its figures.
//!
//! Listeners under attack in scenarios 4 to 8 and 11 are listed in
//! [`LISTENERS`]: RTMP, HTTP and RTSP. Scenarios 11 to 17 are floods from
//! [`attack::ATTACKER`] (127.0.0.2; 17 from many addresses) above every
//! limit, with the probe and healthy clients on 127.0.0.1. Scenarios 18 to
//! 22 make the server a pull relay of another strom or of fake upstreams
//! ([`relay`]). Scenarios 24 to 27 are WebRTC's ([`webrtc`]): Chromium
//! peers that vanish or are replaced, UDP junk and abandoned offers.
//! Scenarios 28 to 30 are what browsers are served ([`browser_delivery`]):
//! WebSocket viewers that stall or break the protocol, LL-HLS blocking
//! reloads held open and flooded. Scenario 31 fills the disk under the
//! recordings ([`record`]).

use std::process::Command;
use std::time::{Duration, Instant};

mod attack;
mod big_config;
mod browser_delivery;
pub(crate) mod clients;
mod fd_flood;
mod healthz_pollers;
mod hooks;
mod hostile;
mod idle_http;
mod missing_players;
mod peers;
mod preconnect;
pub(crate) mod probe;
mod publish;
mod record;
mod relay;
mod rtp_clip;
mod rtsp;
mod rtsp_churn;
mod rtsp_hostile;
pub(crate) mod server;
mod webrtc;

use probe::{Probe, ProbeStats};
use server::{Launch, Server};

/// A listener the hostile scenarios attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// The RTMP port.
    Rtmp,
    /// The HTTP port (API, health, metrics, HTTP-FLV).
    Http,
    /// The RTSP port (publish and play, TCP interleaved and UDP).
    Rtsp,
}

/// Every listener strom has.
pub const LISTENERS: &[Listener] = &[Listener::Rtmp, Listener::Http, Listener::Rtsp];

impl Listener {
    /// Its port on `server`.
    pub fn port(self, server: &Server) -> u16 {
        match self {
            Listener::Rtmp => server.rtmp,
            Listener::Http => server.http,
            Listener::Rtsp => server.rtsp,
        }
    }
}

/// Short (CI) or long profile.
pub struct Profile {
    /// `--long`: the full counts.
    pub long: bool,
}

impl Profile {
    /// `short` in CI, `long` with `--long`.
    pub fn pick<T>(&self, short: T, long: T) -> T {
        if self.long {
            long
        } else {
            short
        }
    }
}

/// What a scenario works with and reports into.
pub struct Ctx<'a> {
    /// The server under test.
    pub server: &'a mut Server,
    /// Counts and durations.
    pub profile: &'a Profile,
    /// A relay scenario's upstream ports and settings ([`relay::prepare`]).
    pub relay: Option<relay::Prepared>,
    probe: Option<Probe>,
    probe_stats: Option<ProbeStats>,
    figures: Vec<String>,
    failures: Vec<String>,
}

impl Ctx<'_> {
    /// Adds a figure to the result line.
    pub fn figure(&mut self, f: impl Into<String>) {
        self.figures.push(f.into());
    }

    /// Records a failure unless `ok`.
    pub fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.failures.push(what.into());
        }
    }

    /// Stops the probe early (before a deliberate shutdown).
    pub fn stop_probe(&mut self) {
        if let Some(p) = self.probe.take() {
            self.probe_stats = Some(p.finish());
        }
    }
}

/// A scenario: setup errors are returned, assertion failures recorded in the [`Ctx`].
type ScenarioFn = fn(&mut Ctx) -> Result<(), String>;

const SCENARIOS: &[(u8, &str, ScenarioFn)] = &[
    (1, "duplicate-publisher", publish::duplicate_publisher),
    (2, "publisher-killed", publish::publisher_killed),
    (3, "publisher-frozen", publish::publisher_frozen),
    (4, "vanishing-peers", peers::vanishing_peers),
    (5, "stuck-players", peers::stuck_players),
    (6, "slow-loris", peers::slow_loris),
    (7, "churn", hostile::churn),
    (8, "hostile-input", hostile::hostile_input),
    (9, "sigterm-under-load", publish::sigterm_under_load),
    (10, "hanging-hook", hooks::hanging_hook),
    (11, "fd-flood", fd_flood::fd_flood),
    (12, "idle-http", idle_http::idle_http),
    (13, "healthz-pollers", healthz_pollers::healthz_pollers),
    (
        14,
        "missing-stream-players",
        missing_players::missing_stream_players,
    ),
    (15, "big-config", big_config::big_config),
    (16, "preconnect-floods", preconnect::preconnect_floods),
    (17, "fd-flood-spread", fd_flood::fd_flood_spread),
    (18, "upstream-restart", relay::restart::upstream_restart),
    (19, "upstream-frozen", relay::restart::upstream_frozen),
    (20, "bad-upstreams", relay::bad::bad_upstreams),
    (21, "proxy-churn", relay::churn::proxy_churn),
    (22, "pattern-cap", relay::churn::pattern_cap),
    (23, "stuck-push-target", relay::push::stuck_push_target),
    (24, "webrtc-vanish", webrtc::vanish),
    (25, "webrtc-udp-flood", webrtc::udp_flood),
    (26, "whip-replaced", webrtc::whip_replaced),
    (27, "webrtc-offers-abandoned", webrtc::offers_abandoned),
    (
        28,
        "ws-stalled-viewers",
        browser_delivery::ws_stalled_viewers,
    ),
    (
        29,
        "llhls-blocking-flood",
        browser_delivery::llhls_blocking_flood,
    ),
    (30, "llhls-msn-flood", browser_delivery::llhls_msn_flood),
    (31, "record-disk-full", record::record_disk_full),
];

/// The probe's limit on p99 latency.
const PROBE_P99_MS: f64 = 50.0;

/// Runs the suite (or one scenario); the summary line or what failed.
pub fn run(long: bool, only: Option<&str>) -> Result<String, String> {
    crate::tools::ensure_media_tools()?;
    // Scenarios 24 to 27 drive Chromium through the browser's node driver.
    let browser = SCENARIOS.iter().any(|(n, name, _)| {
        (24..=27).contains(n) && only.is_none_or(|o| o == n.to_string() || o == *name)
    });
    if browser {
        crate::tools::ensure_browser()?;
        crate::browser::node::npm_ci()?;
    }
    run_suite(long, only, SCENARIOS, run_one)
}

/// Builds the release strom and the chaos clip, then runs the scenarios of
/// `list` picked by `only` (a number or a name; all when `None`) with
/// `run_one`, which prints each result line; the summary line or what failed.
/// Shared by `cargo xtask chaos` and `cargo xtask cluster`.
pub fn run_suite<F: Copy>(
    long: bool,
    only: Option<&str>,
    list: &[(u8, &str, F)],
    run_one: fn(u8, &str, F, &Profile) -> bool,
) -> Result<String, String> {
    let ok = Command::new("cargo")
        .args(["build", "--release", "-p", "server-bin", "--bin", "strom"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Err("cargo build --release -p server-bin failed".into());
    }
    clients::clip()?;
    let profile = Profile { long };
    let chosen: Vec<_> = list
        .iter()
        .filter(|(n, name, _)| only.is_none_or(|o| o == n.to_string() || o == *name))
        .collect();
    if chosen.is_empty() {
        return Err(format!(
            "no scenario {:?}; pick 1-{} or a name",
            only.unwrap_or_default(),
            list.len()
        ));
    }
    let started = Instant::now();
    let mut failed = Vec::new();
    for (n, name, f) in &chosen {
        if !run_one(*n, name, *f, &profile) {
            failed.push(n.to_string());
        }
    }
    let secs = started.elapsed().as_secs();
    let profile_name = profile.pick("short", "long");
    if failed.is_empty() {
        Ok(format!(
            "{} scenarios passed ({profile_name}) in {secs} s",
            chosen.len()
        ))
    } else {
        Err(format!(
            "{} of {} scenarios failed ({profile_name}, {secs} s): {}",
            failed.len(),
            chosen.len(),
            failed.join(", ")
        ))
    }
}

fn run_one(n: u8, name: &str, f: ScenarioFn, profile: &Profile) -> bool {
    // Scenario 10 needs its hook server up before strom starts.
    let hang = (n == 10).then(hooks::HangingHookServer::start);
    let mut extra = match &hang {
        Some(Ok(h)) => h.env(),
        Some(Err(e)) => {
            println!("chaos {n} {name}: FAIL hook server did not start: {e}");
            return false;
        }
        None => Vec::new(),
    };
    // The relay scenarios pick their upstream's ports and settings first.
    let prepared = match relay::prepare(n, name).transpose() {
        Ok(p) => p,
        Err(e) => {
            println!("chaos {n} {name}: FAIL preparing the relay: {e}");
            return false;
        }
    };
    // The WebRTC scenarios' deadlines and caps.
    extra.extend(webrtc::env(n));
    // The browser-delivery scenarios' caps.
    extra.extend(browser_delivery::env(n));
    // Scenario 31 records onto a small tmpfs of its own.
    let tmpfs = match (n == 31).then(record::Tmpfs::mount).transpose() {
        Ok(t) => t,
        Err(e) => {
            println!("chaos {n} {name}: FAIL {e}");
            return false;
        }
    };
    extra.extend(tmpfs.iter().flat_map(record::Tmpfs::env));
    let mut args = Vec::new();
    if let Some(p) = &prepared {
        extra.extend(p.env.iter().cloned());
        args.clone_from(&p.args);
    }
    // The fd floods run strom under a descriptor limit it cannot raise.
    let fd_limit = name.starts_with("fd-flood").then_some(fd_flood::FD_LIMIT);
    let launch = Launch {
        extra,
        args,
        fd_limit,
        ports: None,
    };
    let mut server = match Server::launch(&format!("{n}-{name}"), launch) {
        Ok(s) => s,
        Err(e) => {
            println!("chaos {n} {name}: FAIL server did not start: {e}");
            return false;
        }
    };
    // Let the runtime settle before the baseline.
    std::thread::sleep(Duration::from_millis(300));
    let (rss0, fds0, tasks0) = (server.rss_kib(), server.fds(), server.tasks());
    let probe = Probe::start(server.http, server.pid);
    let mut ctx = Ctx {
        server: &mut server,
        profile,
        relay: prepared,
        probe: Some(probe),
        probe_stats: None,
        figures: Vec::new(),
        failures: Vec::new(),
    };
    let t = Instant::now();
    if let Err(e) = f(&mut ctx) {
        ctx.failures.push(e);
    }
    ctx.stop_probe();
    let stats = ctx.probe_stats.take().unwrap_or_default();
    let mut failures = std::mem::take(&mut ctx.failures);
    let figures = std::mem::take(&mut ctx.figures);
    let (p50, p99, max) = (
        stats.quantile_ms(0.5),
        stats.quantile_ms(0.99),
        stats.quantile_ms(1.0),
    );
    if let Some(first) = stats.failures.first() {
        failures.push(format!(
            "probe: {} of {} calls failed, first: {first}",
            stats.failures.len(),
            stats.failures.len() + stats.samples.len()
        ));
    }
    if stats.samples.is_empty() {
        failures.push("probe: no answered call".into());
    }
    if p99 > PROBE_P99_MS {
        failures.push(format!("probe p99 {p99:.1} ms > {PROBE_P99_MS} ms"));
    }
    let mem = if server.is_gone() {
        format!(
            "rss {} MiB (peak {})",
            rss0 / 1024,
            stats.peak_rss_kib / 1024
        )
    } else {
        format!(
            "rss {}→{} MiB (peak {}); fds {fds0}→{}; tasks {tasks0}→{}",
            rss0 / 1024,
            server.rss_kib() / 1024,
            stats.peak_rss_kib / 1024,
            server.fds(),
            server.tasks()
        )
    };
    let verdict = if failures.is_empty() { "PASS" } else { "FAIL" };
    let mut line = format!(
        "chaos {n} {name}: {verdict} probe p50 {p50:.1} ms p99 {p99:.1} ms max {max:.1} ms ({} calls)",
        stats.samples.len()
    );
    for f in &figures {
        line.push_str("; ");
        line.push_str(f);
    }
    println!("{line}; {mem}; {:.1} s", t.elapsed().as_secs_f64());
    for f in &failures {
        println!("  chaos {n}: {f}");
    }
    if !failures.is_empty() {
        println!("  strom log tail:\n  {}", server.log_tail());
    }
    failures.is_empty()
}

/// Prints a scenario's result line, `<suite> <n> <name>: PASS|FAIL`, its
/// figures and how long it took, then each failure on its own line; true
/// when it passed. Shared by `cargo xtask cluster` and `cargo xtask browser`.
pub fn print_result(
    suite: &str,
    n: u8,
    name: &str,
    figures: &[String],
    failures: &[String],
    took: Duration,
) -> bool {
    let verdict = if failures.is_empty() { "PASS" } else { "FAIL" };
    let mut line = format!("{suite} {n} {name}: {verdict}");
    for (i, f) in figures.iter().enumerate() {
        line.push_str(if i == 0 { " " } else { "; " });
        line.push_str(f);
    }
    println!("{line}; {:.1} s", took.as_secs_f64());
    for f in failures {
        println!("  {suite} {n}: {f}");
    }
    failures.is_empty()
}

/// Each player's frame rate over `secs` (from now).
pub fn measure_fps(players: &[clients::Player], secs: f64) -> Vec<f64> {
    let before: Vec<u64> = players.iter().map(|p| p.frames()).collect();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let took = t.elapsed().as_secs_f64();
    players
        .iter()
        .zip(before)
        .map(|(p, b)| (p.frames() - b) as f64 / took)
        .collect()
}

/// Fails the scenario unless every rate keeps 90 % of 25 fps; returns the minimum.
pub fn check_fps(ctx: &mut Ctx, who: &str, rates: &[f64]) -> f64 {
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let min = if min.is_finite() { min } else { 0.0 };
    ctx.check(
        min >= 0.9 * clients::FPS,
        format!("{who}: min {min:.1} fps < 90 % of {} fps", clients::FPS),
    );
    min
}

/// Polls `cond` every 50 ms until true or `within` passes; the time it took.
pub fn wait_for(within: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < within {
        if cond() {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Waits until `live/<name>` is live with a publisher; its session id.
pub fn wait_live(server: &Server, name: &str, within: Duration) -> Result<u64, String> {
    let mut id = None;
    wait_for(within, || {
        id = server.stream(name).ok().flatten().and_then(|s| {
            (s["state"] == "live")
                .then(|| s["publisher"]["session_id"].as_u64())
                .flatten()
        });
        id.is_some()
    });
    id.ok_or_else(|| format!("live/{name} not live within {} s", within.as_secs()))
}

/// Waits until `live/<name>` lists `n` tracks. An RTSP player's DESCRIBE
/// answers the tracks known at that moment, and strom ends an RTSP player
/// whose stream's tracks change (RTSP cannot renegotiate), so RTSP players
/// join once the publisher's audio and video are both known.
pub fn wait_tracks(server: &Server, name: &str, n: usize, within: Duration) -> Result<(), String> {
    wait_for(within, || {
        server
            .stream(name)
            .ok()
            .flatten()
            .is_some_and(|s| s["tracks"].as_array().is_some_and(|t| t.len() >= n))
    })
    .map(|_| ())
    .ok_or_else(|| {
        format!(
            "live/{name} without {n} tracks within {} s",
            within.as_secs()
        )
    })
}
