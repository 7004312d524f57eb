//! `cargo xtask browser [--long] [SCENARIO]`: strom's WebRTC (issue 17) and
//! its MSE outputs (issue 18) against a real browser. Headless Debian Chromium (`/usr/bin/chromium`, never
//! a downloaded browser), driven by playwright-core from `xtask/browser/`
//! ([`node`]), loads its pages from another origin than strom's and talks
//! to a fresh release strom with `[webrtc] enabled` (a free UDP port,
//! `public_addresses = ["127.0.0.1"]`). Each scenario prints one result
//! line with its figures:
//!
//! 1. `whep-play`: ffmpeg publishes a 2 s GOP H.264 (baseline, no
//!    B-frames) + AAC stream over RTMP ([`publisher`]); Chromium joins it
//!    over WHEP several times at random points of the GOP: first painted
//!    frame after posting the offer, picture size, frames presented, audio
//!    received, playback latency ([`whep`]);
//! 2. `whip-publish`: Chromium publishes its fake camera (640x480) and
//!    microphone over WHIP; ffmpeg plays the stream over RTMP, HLS and
//!    RTSP: the picture's size, frames decoded, AAC audio ([`whip`]);
//! 3. to 6. (issue 18) the MSE players: hls.js on Low-Latency HLS with fMP4
//!    segments, mpegts.js over WebSocket-FLV, and a plain MSE page on
//!    `.live.mp4` over HTTP and over WebSocket ([`players`]);
//! 8. (issue 19) `record-get-video`: a recording downloaded into a plain
//!    `<video src>` ([`recording`]).
//!
//! The issues' targets (WebRTC: first frame under 500 ms, latency under
//! 300 ms; LL-HLS latency in hls.js under 1.5 s, WebSocket-FLV first frame
//! under 200 ms) are reported against the figures; what fails a scenario is
//! a browser that plays nothing, the wrong size, no audio (WHEP), too few
//! frames, a player error, or ffmpeg that cannot play the WHIP stream.

use std::time::Instant;

pub mod node;
pub mod players;
pub mod publisher;
pub mod recording;
pub mod whep;
pub mod whip;

use crate::chaos::server::{Launch, Server};
use crate::chaos::Profile;

/// What a scenario works with and reports into.
pub struct Ctx<'a> {
    /// The server under test.
    pub server: Server,
    /// Counts and durations.
    pub profile: &'a Profile,
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
}

/// A scenario: setup errors are returned, assertion failures recorded in the [`Ctx`].
type ScenarioFn = fn(&mut Ctx) -> Result<(), String>;

const SCENARIOS: &[(u8, &str, ScenarioFn)] = &[
    (1, "whep-play", whep::whep_play),
    (2, "whip-publish", whip::whip_publish),
    (3, "hlsjs-llhls", players::hlsjs_llhls),
    (4, "mpegts-ws-flv", players::mpegts_ws_flv),
    (5, "mse-http-mp4", players::mse_http_mp4),
    (6, "mse-ws-mp4", players::mse_ws_mp4),
    (7, "mpegts-ws-ts", players::mpegts_ws_ts),
    (8, "record-get-video", recording::record_get_video),
];

/// Runs the scenarios (or one); the summary line or what failed.
pub fn run(long: bool, only: Option<&str>) -> Result<String, String> {
    crate::tools::ensure_media_tools()?;
    crate::tools::ensure_browser()?;
    node::npm_ci()?;
    crate::chaos::run_suite(long, only, SCENARIOS, run_one)
}

fn run_one(n: u8, name: &str, f: ScenarioFn, profile: &Profile) -> bool {
    // The launcher passes `--webrtc-port 0`: strom binds any free UDP port
    // and announces it in its candidates.
    // Scenario 8's recordings go under the chaos directory, not the
    // working directory.
    let record_dir = crate::chaos::server::chaos_dir()
        .map(|d| d.join(format!("record-browser-{n}")).display().to_string())
        .unwrap_or_else(|_| "record".into());
    let extra = [
        ("STROM_WEBRTC__ENABLED", "true"),
        ("STROM_WEBRTC__PUBLIC_ADDRESSES", "[\"127.0.0.1\"]"),
        ("STROM_LOG__LEVEL", "info"),
        ("STROM_RECORD__STREAMS", "[\"live/rec\"]"),
        ("STROM_RECORD__DIR", record_dir.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let launch = Launch {
        extra,
        ..Launch::default()
    };
    let started = Server::launch(&format!("browser-{n}-{name}"), launch);
    let server = match started {
        Ok(s) => s,
        Err(e) => {
            println!("browser {n} {name}: FAIL server did not start: {e}");
            return false;
        }
    };
    let mut ctx = Ctx {
        server,
        profile,
        figures: Vec::new(),
        failures: Vec::new(),
    };
    let t = Instant::now();
    if let Err(e) = f(&mut ctx) {
        ctx.failures.push(e);
    }
    let passed =
        crate::chaos::print_result("browser", n, name, &ctx.figures, &ctx.failures, t.elapsed());
    if !passed {
        println!("  strom log tail:\n  {}", ctx.server.log_tail());
    }
    passed
}

/// Quantile `q` of `samples` (0 without samples).
pub fn quantile(samples: &[f64], q: f64) -> f64 {
    let mut s: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return 0.0;
    }
    let i = ((s.len() - 1) as f64 * q).round() as usize;
    s.get(i).copied().unwrap_or(0.0)
}
