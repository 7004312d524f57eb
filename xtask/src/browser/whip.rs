//! Scenario 2, `whip-publish`: Chromium publishes its fake camera
//! (640x480) and microphone over WHIP; ffmpeg plays the stream over RTMP,
//! HLS and RTSP at once, decoding a few seconds of each: the picture's size,
//! frames decoded, and the audio strom transcodes from Opus to AAC.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::node::Driver;
use super::Ctx;
use crate::chaos::{wait_live, wait_tracks};

/// The fake camera's picture size (asked of getUserMedia exactly).
const SIZE: (u64, u64) = (640, 480);
/// Seconds of media each ffmpeg player decodes.
const DECODE_SECS: u64 = 4;
/// Frames each must decode at least (the fake camera gives 20 to 25 fps,
/// fewer while three decoders and Chromium share the machine).
const MIN_FRAMES: u64 = 25;

/// What ffmpeg found and decoded on one URL.
#[derive(Debug, Default)]
struct Decoded {
    video: Option<String>,
    size: Option<(u64, u64)>,
    audio: Option<String>,
    frames: u64,
    error: String,
}

/// Decodes [`DECODE_SECS`] of `url`'s video with ffmpeg (at most 25 s),
/// noting the codecs and picture size of its input streams.
fn decode(url: &str) -> Decoded {
    let mut cmd = Command::new("timeout");
    cmd.args(["25", "ffmpeg", "-hide_banner", "-nostdin", "-v", "info"]);
    if url.starts_with("rtsp:") {
        cmd.args(["-rtsp_transport", "tcp"]);
    }
    let out = cmd
        .args(["-i", url, "-t", &DECODE_SECS.to_string()])
        .args([
            "-map",
            "0",
            "-f",
            "null",
            "-",
            "-nostats",
            "-progress",
            "pipe:1",
        ])
        .stdin(Stdio::null())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            return Decoded {
                error: format!("cannot run ffmpeg: {e}"),
                ..Decoded::default()
            }
        }
    };
    let mut d = Decoded::default();
    let err = String::from_utf8_lossy(&out.stderr);
    let mut input = false;
    for line in err.lines() {
        if line.starts_with("Input #") {
            input = true;
        } else if line.starts_with("Output #") || line.starts_with("Stream mapping") {
            input = false;
        }
        let line = line.trim();
        if !input || !line.starts_with("Stream #") {
            continue;
        }
        if let Some((_, rest)) = line.split_once("Video: ") {
            d.video = rest.split([' ', ',']).next().map(str::to_string);
            d.size = rest.split([' ', ',']).find_map(|w| {
                let (a, b) = w.split_once('x')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            });
        } else if let Some((_, rest)) = line.split_once("Audio: ") {
            d.audio = rest.split([' ', ',']).next().map(str::to_string);
        }
    }
    d.frames = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("frame=")?.trim().parse().ok())
        .next_back()
        .unwrap_or(0);
    if !out.status.success() || d.video.is_none() {
        d.error = format!(
            "ffmpeg {}: {}",
            out.status,
            err.lines().last().unwrap_or("no output")
        );
    }
    d
}

/// Scenario 2 (see the module documentation).
pub fn whip_publish(ctx: &mut Ctx) -> Result<(), String> {
    let name = "chromium";
    let s = &ctx.server;
    let url = format!("http://127.0.0.1:{}/live/{name}/whip", s.http);
    let args: Vec<String> = ["whip", "--url", &url, "--secs", "90"]
        .map(String::from)
        .to_vec();
    let mut driver = Driver::start("whip", &args)?;
    let started = driver.next_json(Duration::from_secs(40))?;
    if started["ok"] != true {
        return Err(format!("Chromium did not publish: {started}"));
    }
    ctx.figure(format!(
        "connected {:.0} ms after getUserMedia",
        started["connectedMs"].as_f64().unwrap_or(0.0)
    ));
    wait_live(&ctx.server, name, Duration::from_secs(10))?;
    if let Err(e) = wait_tracks(&ctx.server, name, 2, Duration::from_secs(10)) {
        ctx.check(false, format!("{e}: {:?}", ctx.server.stream(name)));
    }
    let s = &ctx.server;
    let urls = [
        ("rtmp", format!("rtmp://127.0.0.1:{}/live/{name}", s.rtmp)),
        (
            "hls",
            format!("http://127.0.0.1:{}/live/{name}/hls.m3u8", s.http),
        ),
        ("rtsp", format!("rtsp://127.0.0.1:{}/live/{name}", s.rtsp)),
    ];
    let players: Vec<_> = urls
        .into_iter()
        .map(|(proto, url)| (proto, std::thread::spawn(move || decode(&url))))
        .collect();
    let mut seen = Vec::new();
    for (proto, h) in players {
        let d = h.join().unwrap_or_default();
        ctx.check(d.error.is_empty(), format!("{proto}: {}", d.error));
        ctx.check(
            d.size == Some(SIZE),
            format!(
                "{proto}: picture {:?}, published {}x{}",
                d.size, SIZE.0, SIZE.1
            ),
        );
        ctx.check(
            d.frames >= MIN_FRAMES,
            format!("{proto}: {} frames decoded in {DECODE_SECS} s", d.frames),
        );
        ctx.check(
            d.audio.as_deref() == Some("aac"),
            format!("{proto}: audio {:?}, expected aac", d.audio),
        );
        seen.push(format!(
            "{proto} {}/{} {}x{} {} frames",
            d.video.as_deref().unwrap_or("-"),
            d.audio.as_deref().unwrap_or("-"),
            d.size.map_or(0, |s| s.0),
            d.size.map_or(0, |s| s.1),
            d.frames
        ));
    }
    ctx.figure(seen.join(", "));
    driver.close_stdin();
    let end = driver.next_json(Duration::from_secs(20))?;
    let (v, a) = (&end["video"], &end["audio"]);
    ctx.figure(format!(
        "Chromium sent {} ({} frames, {} packets, {} PLI, {} NACK) + {} ({} packets)",
        v["codec"].as_str().unwrap_or("?"),
        v["framesEncoded"],
        v["packetsSent"],
        v["pliCount"],
        v["nackCount"],
        a["codec"].as_str().unwrap_or("?"),
        a["packetsSent"],
    ));
    ctx.check(
        end["deleteStatus"].as_u64().is_some_and(|s| s < 300),
        format!("DELETE of the WHIP session: {}", end["deleteStatus"]),
    );
    Ok(())
}
