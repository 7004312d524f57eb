//! Real ffmpeg and ffprobe as publishers and players.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Fails the test with install instructions when a tool is missing.
pub fn require(tool: &str) {
    let ok = Command::new(tool)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{tool} is required: install the Debian package `ffmpeg` (apt-get install -y ffmpeg); \
         `cargo xtask ci` installs it when run as root"
    );
}

/// Starts ffmpeg publishing `secs` seconds of H.264 (320x240, 25 fps, a
/// keyframe every second, B-frames on) + AAC in real time to `url`.
pub fn publish(url: &str, secs: u32) -> Child {
    publish_with(url, secs, &["-c:v", "libx264"], &["-f", "flv"])
}

/// Publishes over RTSP (`transport` tcp or udp), video encoded with `video`
/// (`["-c:v", "libx264"]`, `["-c:v", "libx265"]`).
pub fn publish_rtsp(url: &str, secs: u32, transport: &str, video: &[&str]) -> Child {
    publish_with(
        url,
        secs,
        video,
        &["-f", "rtsp", "-rtsp_transport", transport],
    )
}

/// ffmpeg publishing a test pattern + 440 Hz AAC for `secs` seconds in real
/// time, with the given video encoder and output format options.
pub fn publish_with(url: &str, secs: u32, video: &[&str], format: &[&str]) -> Child {
    require("ffmpeg");
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &secs.to_string()])
        .args(video)
        .args(["-preset", "veryfast", "-g", "25", "-pix_fmt", "yuv420p"])
        .args(["-c:a", "aac", "-b:a", "64k"])
        .args(format)
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg starts")
}

/// A player: ffmpeg reading `url` and printing one line per video frame
/// (framemd5), for at most `secs` seconds of media when given.
pub fn play(url: &str, secs: Option<u32>) -> Child {
    play_with(url, secs, &[])
}

/// [`play`] with input options before `-i` (e.g. `-rtsp_transport udp`).
pub fn play_with(url: &str, secs: Option<u32>, input: &[&str]) -> Child {
    require("ffmpeg");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin"]);
    cmd.args(input).args(["-i", url]);
    if let Some(s) = secs {
        cmd.args(["-t", &s.to_string()]);
    }
    cmd.args(["-map", "0:v", "-f", "framemd5", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg starts")
}

/// What a player saw.
#[derive(Debug)]
pub struct Played {
    /// Decode timestamps of the video frames, in milliseconds (FLV time base).
    pub dts: Vec<i64>,
    /// ffmpeg's exit status.
    pub success: bool,
    /// ffmpeg's error output.
    pub stderr: String,
}

impl Played {
    /// The largest step between consecutive frames, in milliseconds.
    pub fn max_gap_ms(&self) -> i64 {
        self.dts.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
    }

    /// Whether the decode timestamps never go back.
    pub fn non_decreasing(&self) -> bool {
        self.dts.windows(2).all(|w| w[1] >= w[0])
    }
}

/// Waits up to `limit` for a child to exit (killing it after), and collects its output.
pub fn finish(mut child: Child, limit: Duration) -> Played {
    let deadline = Instant::now() + limit;
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_string(&mut s);
        }
        s
    });
    let mut stderr = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(err) = stderr.as_mut() {
            let _ = err.read_to_string(&mut s);
        }
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap_or_default();
    // framemd5 prints timestamps in the output time base, given as "#tb 0: 1/25".
    let (num, den) = out
        .lines()
        .find_map(|l| {
            let tb = l.strip_prefix("#tb 0: ")?;
            let (n, d) = tb.split_once('/')?;
            Some((n.trim().parse::<i64>().ok()?, d.trim().parse::<i64>().ok()?))
        })
        .unwrap_or((1, 1000));
    let dts = out
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(',').nth(1)?.trim().parse::<i64>().ok())
        .map(|t| t * num * 1000 / den.max(1))
        .collect();
    Played {
        dts,
        success: status.is_some_and(|s| s.success()),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// ffprobe's view of a URL's streams: `(codec_name, width, height)` per stream.
pub fn probe(url: &str) -> Vec<(String, Option<u32>, Option<u32>)> {
    probe_with(url, &["-rw_timeout", "10000000"])
}

/// [`probe`] with input options before the URL (e.g. `-rtsp_transport udp`).
pub fn probe_with(url: &str, input: &[&str]) -> Vec<(String, Option<u32>, Option<u32>)> {
    require("ffprobe");
    // coreutils' timeout bounds every protocol, RTSP over UDP included.
    let out = Command::new("timeout")
        .args(["30", "ffprobe", "-v", "error"])
        .args(input)
        .args([
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe {url} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut f = l.split(',');
            let codec = f.next().unwrap_or("").to_string();
            let w = f.next().and_then(|v| v.parse().ok());
            let h = f.next().and_then(|v| v.parse().ok());
            (codec, w, h)
        })
        .collect()
}

/// `ffmpeg -v error [input] -i url -t secs -f null -`: whether it succeeded
/// and what a player decoding it printed as errors.
pub fn decode_errors(url: &str, secs: u32, input: &[&str]) -> (bool, String) {
    require("ffmpeg");
    let out = Command::new("timeout")
        .args(["60", "ffmpeg", "-hide_banner", "-v", "error", "-nostdin"])
        .args(input)
        .args(["-i", url, "-t", &secs.to_string(), "-f", "null", "-"])
        .stdin(Stdio::null())
        .output()
        .expect("ffmpeg runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Ends a child the test no longer needs (dropping a `Child` leaves it running).
pub fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}
