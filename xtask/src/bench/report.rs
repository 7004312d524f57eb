//! The bench report: the tables printed after a run and BENCHMARKS.md.

use std::path::Path;

use super::{Protocol, Run, DEFAULT_OUT, DEFAULT_PROTOCOLS};

fn pct(v: &serde_json::Value, key: &str, q: &str) -> String {
    v[key][q]
        .as_f64()
        .map(|x| format!("{x:.1}"))
        .unwrap_or_else(|| "-".into())
}

pub(super) fn table(runs: &[Run]) -> String {
    let mut t = String::from(
        "| server | protocol | players | full rate | fps/player | Mbit/s/player | first frame p50/p95/p99 ms | added latency p50/p99/max ms | server CPU s/s | CPU ms/s per player | CPU s per Gbit/s | peak RSS MiB | RSS/player KiB | load CPU s/s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let p = &r.report[r.protocol.json_key()];
        let gbps = p["delivered_gbit_per_second"].as_f64().unwrap_or(0.0);
        t.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {:.2} | {} / {} / {} | {} / {} / {} | {:.2} | {:.3} | {} | {:.1} | {:.1} | {:.2} |\n",
            r.server,
            r.protocol.name(),
            r.players,
            p["full_rate"].as_u64().unwrap_or(0),
            p["fps_per_player"].as_f64().unwrap_or(0.0),
            p["bits_per_second_per_player"].as_f64().unwrap_or(0.0) / 1e6,
            pct(p, "first_frame_ms", "p50"),
            pct(p, "first_frame_ms", "p95"),
            pct(p, "first_frame_ms", "p99"),
            pct(p, "added_latency_ms", "p50"),
            pct(p, "added_latency_ms", "p99"),
            pct(p, "added_latency_ms", "max"),
            r.server_cpu,
            r.server_cpu * 1000.0 / r.players.max(1) as f64,
            if gbps > 0.0 { format!("{:.2}", r.server_cpu / gbps) } else { "-".into() },
            r.peak_rss_mib,
            r.rss_per_player_kib,
            r.report["load_cpu_seconds_per_second"].as_f64().unwrap_or(0.0),
        ));
    }
    t
}

/// strom ÷ nginx-rtmp for the RTMP runs, when both ran.
pub(super) fn ratios(runs: &[Run]) -> Option<String> {
    let most = runs
        .iter()
        .filter(|r| r.server == "nginx-rtmp")
        .map(|r| r.players)
        .max()?;
    let find = |server: &str| {
        runs.iter()
            .find(|r| r.server == server && r.protocol == Protocol::Rtmp && r.players == most)
    };
    let (s, n) = (find("strom")?, find("nginx-rtmp")?);
    let get = |r: &Run, a: &str, b: Option<&str>| {
        let v = &r.report["rtmp"][a];
        match b {
            Some(b) => v[b].as_f64(),
            None => v.as_f64(),
        }
        .unwrap_or(0.0)
    };
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}", a / b)
        } else {
            "-".into()
        }
    };
    let gbit = |r: &Run| r.server_cpu / get(r, "delivered_gbit_per_second", None).max(1e-9);
    Some(format!(
        "\nstrom ÷ nginx-rtmp (RTMP, {most} players): players at full rate {}, server CPU per delivered Gbit/s {}, \
         first frame p50 {}, added latency p50 {}, p99 {}, peak RSS {}\n",
        ratio(get(s, "full_rate", None), get(n, "full_rate", None)),
        ratio(gbit(s), gbit(n)),
        ratio(get(s, "first_frame_ms", Some("p50")), get(n, "first_frame_ms", Some("p50"))),
        ratio(get(s, "added_latency_ms", Some("p50")), get(n, "added_latency_ms", Some("p50"))),
        ratio(get(s, "added_latency_ms", Some("p99")), get(n, "added_latency_ms", Some("p99"))),
        ratio(s.peak_rss_mib, n.peak_rss_mib),
    ))
}

pub(super) fn headline(runs: &[Run]) -> String {
    runs.iter()
        .map(|r| {
            let p = &r.report[r.protocol.json_key()];
            format!(
                "{} {} {}/{} at full rate, {:.2} CPU s/s",
                r.server,
                r.protocol.name(),
                p["full_rate"].as_u64().unwrap_or(0),
                r.players,
                r.server_cpu
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, {cpu}, Linux {}", kernel.trim())
}

/// What one invocation ran, for the report's header.
pub(super) struct Invocation<'a> {
    pub(super) counts: &'a [usize],
    pub(super) secs: u64,
    pub(super) nginx: bool,
    pub(super) merge: u64,
    pub(super) protocols: &'a [Protocol],
    pub(super) out: &'a Path,
}

impl Invocation<'_> {
    /// The command line that regenerates the report.
    fn command(&self) -> String {
        let players = self
            .counts
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let mut cmd = format!("cargo xtask bench --players {players} --secs {}", self.secs);
        if self.protocols != DEFAULT_PROTOCOLS {
            let names: Vec<_> = self.protocols.iter().map(|p| p.name()).collect();
            cmd.push_str(&format!(" --protocols {}", names.join(",")));
        }
        if self.nginx {
            cmd.push_str(" --compare nginx");
        }
        if self.merge > 0 {
            cmd.push_str(&format!(" --merge-write-ms {}", self.merge));
        }
        if self.out != Path::new(DEFAULT_OUT) {
            cmd.push_str(&format!(" --out {}", self.out.display()));
        }
        cmd
    }
}

/// The protocol-specific figures: players that failed, latency samples that
/// could not be rebased, and HLS segments.
pub(super) fn details(runs: &[Run]) -> Option<String> {
    let rows: Vec<&Run> = runs
        .iter()
        .filter(|r| {
            matches!(
                r.protocol,
                Protocol::Rtsp | Protocol::Hls | Protocol::HttpTs | Protocol::HttpMp4
            )
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut t = String::from(
        "| server | protocol | players | failed | latency unresolved players | segments/player | skipped segments | segment fetch p50/p95/p99 ms |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let p = &r.report[r.protocol.json_key()];
        let num = |k: &str| {
            p[k].as_f64()
                .map(|v| format!("{v:.1}").trim_end_matches(".0").to_string())
                .unwrap_or_else(|| "-".into())
        };
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} / {} |\n",
            r.server,
            r.protocol.name(),
            r.players,
            num("failed"),
            num("latency_unresolved_players"),
            num("segments_per_player"),
            num("skipped_segments"),
            pct(p, "segment_fetch_ms", "p50"),
            pct(p, "segment_fetch_ms", "p95"),
            pct(p, "segment_fetch_ms", "p99"),
        ));
    }
    Some(t)
}

pub(super) fn write_benchmarks(runs: &[Run], inv: &Invocation<'_>) -> Result<(), String> {
    let (secs, merge) = (inv.secs, inv.merge);
    let has = |p: Protocol| inv.protocols.contains(&p);
    let mut per_protocol = String::new();
    if has(Protocol::Rtsp) {
        per_protocol.push_str(
            "- RTSP: DESCRIBE, SETUP of both tracks over TCP interleaved, PLAY (rtsp-proto's framing);\n  \
             a frame is an H.264 access unit from rtsp-proto's depacketizer; bytes are all interleaved\n  \
             payloads. RTP timestamps start from a random base, so latency is rebased: the player notes each\n  \
             sampled frame's offset from its first keyframe, and the end of the run matches that keyframe\n  \
             to the latest published keyframe every sample fits (sent before received; keyframes are 2 s\n  \
             apart, so the match is unique while latencies stay under 2 s). Players whose samples fit no\n  \
             keyframe are counted as unresolved, not guessed.\n",
        );
    }
    if has(Protocol::HttpTs) {
        per_protocol.push_str(
            "- HTTP-TS: `GET /app/stream.live.ts`; a frame is a video PES start on PID 0x100 (its\n  \
             first packet), so its latency is to the frame's first bytes; rebased by PES DTS as for RTSP.\n",
        );
    }
    if has(Protocol::HttpMp4) {
        per_protocol.push_str(
            "- HTTP-fMP4: `GET /app/stream.live.mp4`; the body goes through the `fmp4` crate's demuxer and\n  \
             a frame is a video sample of a complete fragment (one fragment per frame), so its latency is\n  \
             to the frame's last byte; rebased by `tfdt` as for RTSP.\n",
        );
    }
    if has(Protocol::Hls) {
        per_protocol.push_str(
            "- HLS: each player polls `hls.m3u8` every target duration / 2 on one keep-alive connection,\n  \
             starts at the live edge and downloads each new segment once. Frames: video PES in the\n  \
             segments downloaded in the window (whole segments, so fps/player swings by ±1 segment in a\n  \
             short window); full rate: no segment missed (none left the playlist unseen) and no error.\n  \
             First frame: TCP connect to the first segment downloaded (the first playlist request of a\n  \
             stream starts packaging). Added latency: publisher send of a segment's last video frame to\n  \
             that segment downloaded (packaging, polling and download; not the segment's own duration).\n",
        );
    }
    let text = format!(
        "# strom benchmarks\n\n\
         Produced by `{}`; regenerate with the same\n\
         command. Numbers are from one run on the machine below; rerun before comparing.\n\n\
         ## Machine\n\n{}\n\n\
         ## Method\n\n\
         - Server: `target/release/strom` (release build) on loopback ephemeral ports, logs at `warn`,\n  \
           `server.merge_write_ms = {merge}`.\n\
         - Stream: H.264 1280x720 25 fps, GOP 2 s, ~2 Mbit/s, plus AAC 128 kbit/s, generated once with\n  \
           ffmpeg (`target/bench/bench-720p25-2mbit.flv`, under `$CARGO_TARGET_DIR` when set) and published\n  \
           in real time, looped, by the load process.\n\
         - Load: `target/release/examples/load` (one process, its own tokio runtime, one worker thread per core),\n  \
           built on rtmp-proto's client session (publisher, RTMP), rtsp-proto (RTSP) and hls-seg's TS\n  \
           header decoders (HLS, HTTP-TS): one publisher and N players of one protocol per run;\n  \
           measurement window of {secs} s after all players connected.\n\
         - Full rate: a player that received at least 95% of 25 video frames per second in the window.\n\
         - First frame: TCP connect to the first coded video frame. Added latency: the publisher's send\n  \
           time of a video timestamp to a player's receive time of the same timestamp (same clock), sampled\n  \
           on every 5th frame per player.\n\
         {per_protocol}\
         - Server CPU s/s: utime+stime from `/proc/PID/stat` over the load run's wall time; CPU s per\n  \
           Gbit/s: that divided by the media rate delivered to players. Peak RSS: `VmHWM`; RSS per player:\n  \
           (peak − RSS before the run) / players.\n\
         {}\n\
         ## Results\n\n{}\n{}{}",
        inv.command(),
        machine(),
        if inv.nginx {
            "- nginx: Debian's nginx with libnginx-mod-rtmp, one worker process, `chunk_size 4096`, the same\n  load in the same invocation, run alternately with strom (RTMP only: nginx-rtmp has no HTTP-FLV).\n"
        } else {
            ""
        },
        table(runs),
        ratios(runs).unwrap_or_default(),
        details(runs)
            .map(|d| format!("\n{d}"))
            .unwrap_or_default(),
    );
    // The ingest and edge sections are other commands' output: kept.
    let old = std::fs::read_to_string(inv.out).unwrap_or_default();
    let mut text = text;
    for m in super::sections::ALL {
        if let Some(kept) = super::sections::of(&old, m) {
            text = format!("{text}\n{kept}\n");
        }
    }
    std::fs::write(inv.out, text).map_err(|e| format!("{}: {e}", inv.out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_the_command_that_regenerates_it() {
        let mut inv = Invocation {
            counts: &[10, 100],
            secs: 10,
            nginx: true,
            merge: 0,
            protocols: &DEFAULT_PROTOCOLS,
            out: Path::new(DEFAULT_OUT),
        };
        assert_eq!(
            inv.command(),
            "cargo xtask bench --players 10,100 --secs 10 --compare nginx"
        );
        let all = Protocol::ALL;
        inv.protocols = &all;
        inv.nginx = false;
        inv.out = Path::new("x.md");
        assert_eq!(
            inv.command(),
            "cargo xtask bench --players 10,100 --secs 10 --protocols rtmp,http-flv,rtsp,hls,http-ts,http-mp4 --out x.md"
        );
    }
}
