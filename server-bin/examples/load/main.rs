//! The load generator of `cargo xtask bench`: one publisher and N players in
//! their own process and runtime.
//!
//! The publisher sends an FLV file (looped) over RTMP in real time (rtmp-proto's
//! client session) and logs when it sent each video frame. Players of five
//! kinds count frames and bytes, time their first video frame and, for sampled
//! frames, the latency the server added (publisher send → player receive,
//! same clock):
//!
//! | flag | player | frames counted | latency |
//! |---|---|---|---|
//! | `--rtmp-players` | RTMP play (rtmp-proto) | coded video messages | by FLV timestamp |
//! | `--flv-players` | HTTP-FLV | coded video tags | by FLV timestamp |
//! | `--rtsp-players` | RTSP, TCP interleaved (rtsp-proto) | H.264 access units | by RTP timestamp, rebased ([`rebase`]) |
//! | `--ts-players` | HTTP-TS | video PES starts on PID 0x100 | by PES DTS, rebased |
//! | `--mp4-players` | HTTP-fMP4 | video samples of complete fragments | by `tfdt`, rebased |
//! | `--hls-players` | HLS poller | video PES in fetched segments | segment's last frame sent → segment fetched |
//!
//! One JSON line with the figures goes to stdout.
//!
//! ```sh
//! cargo run --release -p server-bin --example load -- --flv bench.flv \
//!     --rtmp-port 1935 --http-port 8080 --rtsp-port 8554 \
//!     --rtmp-players 100 --rtsp-players 100 --hls-players 100 --secs 20
//! ```

mod hls;
mod mp4;
mod publisher;
mod rebase;
mod rtmp;
mod rtsp;
mod ts;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;

#[derive(Parser, Debug, Clone)]
pub(crate) struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 1935)]
    rtmp_port: u16,
    /// RTMP port the publisher sends to, when not `--rtmp-port`: another
    /// node of a cluster, so the players read the stream through an edge.
    #[arg(long)]
    publish_port: Option<u16>,
    #[arg(long, default_value_t = 8080)]
    http_port: u16,
    #[arg(long, default_value_t = 8554)]
    rtsp_port: u16,
    /// app/stream
    #[arg(long, default_value = "live/bench")]
    stream: String,
    /// FLV file to publish (looped). Without it nothing is published.
    #[arg(long)]
    flv: Option<String>,
    /// Streams published from the file: 1 publishes `--stream`; more publish
    /// `{stream}0` … `{stream}{N-1}` (the ingest benchmark's sources), their
    /// starts spread over a second.
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// What the players play, when not `--stream` (with `--publishers N`,
    /// one of the published `{stream}I`).
    #[arg(long)]
    play_stream: Option<String>,
    #[arg(long, default_value_t = 0)]
    rtmp_players: usize,
    #[arg(long, default_value_t = 0)]
    flv_players: usize,
    /// RTSP players (TCP interleaved).
    #[arg(long, default_value_t = 0)]
    rtsp_players: usize,
    /// HLS pollers.
    #[arg(long, default_value_t = 0)]
    hls_players: usize,
    /// HTTP-TS players.
    #[arg(long, default_value_t = 0)]
    ts_players: usize,
    /// HTTP-fMP4 players.
    #[arg(long, default_value_t = 0)]
    mp4_players: usize,
    /// Measurement window after all players connected.
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// Nominal video frame rate of the file, for "full frame rate".
    #[arg(long, default_value_t = 25.0)]
    fps: f64,
    /// Worker threads of the load process.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

impl Args {
    /// The stream the players play.
    pub(crate) fn play_stream(&self) -> &str {
        self.play_stream.as_deref().unwrap_or(&self.stream)
    }
}

/// The player kinds, in the order their counts are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Rtmp,
    Flv,
    Rtsp,
    Hls,
    Ts,
    Mp4,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Rtmp,
        Kind::Flv,
        Kind::Rtsp,
        Kind::Hls,
        Kind::Ts,
        Kind::Mp4,
    ];

    /// The key of this kind's summary in the JSON report.
    fn key(self) -> &'static str {
        match self {
            Kind::Rtmp => "rtmp",
            Kind::Flv => "http_flv",
            Kind::Rtsp => "rtsp",
            Kind::Hls => "hls",
            Kind::Ts => "http_ts",
            Kind::Mp4 => "http_mp4",
        }
    }

    fn count(self, args: &Args) -> usize {
        match self {
            Kind::Rtmp => args.rtmp_players,
            Kind::Flv => args.flv_players,
            Kind::Rtsp => args.rtsp_players,
            Kind::Hls => args.hls_players,
            Kind::Ts => args.ts_players,
            Kind::Mp4 => args.mp4_players,
        }
    }

    /// Which publisher clock the player's timestamps follow, when they must
    /// be rebased (`None`: the player sees the publisher's own timestamps).
    fn rebased_clock(self) -> Option<Clock> {
        match self {
            Kind::Rtmp | Kind::Flv => None,
            // RTP carries presentation times (RFC 6184 §5.1).
            Kind::Rtsp => Some(Clock::Pts),
            Kind::Hls | Kind::Ts | Kind::Mp4 => Some(Clock::Dts),
        }
    }

    fn latency_method(self) -> &'static str {
        match self {
            Kind::Rtmp | Kind::Flv => "publisher send -> player receive, by FLV timestamp",
            Kind::Rtsp => "publisher send -> access unit complete, by RTP timestamp rebased on the first keyframe",
            Kind::Ts => "publisher send -> video PES start received, by PES DTS rebased on the first keyframe",
            Kind::Mp4 => "publisher send -> video fragment complete, by tfdt rebased on the first keyframe",
            Kind::Hls => "publisher send of a segment's last video frame -> segment downloaded (rebased by PES DTS)",
        }
    }
}

/// A publisher timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Clock {
    /// Decoding time: the FLV tag timestamp.
    Dts,
    /// Presentation time: FLV timestamp + composition time.
    Pts,
}

/// Frames kept in the send log: ~11 minutes of 25 fps video.
const LOG_FRAMES: usize = 16_384;

/// When the publisher sent each video frame (bounded).
#[derive(Default)]
pub(crate) struct SendLog {
    inner: Mutex<LogInner>,
}

#[derive(Default, Clone)]
pub(crate) struct LogInner {
    by_dts: HashMap<u32, Instant>,
    by_pts: HashMap<u32, Instant>,
    order: VecDeque<(u32, u32)>,
    /// `(dts, pts)` of the keyframes still in the log, oldest first.
    keys: VecDeque<(u32, u32)>,
}

impl SendLog {
    fn lock(&self) -> MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A video frame with these timestamps (ms) leaves the publisher now.
    pub(crate) fn record(&self, dts: u32, pts: u32, keyframe: bool) {
        let now = Instant::now();
        let mut g = self.lock();
        g.by_dts.insert(dts, now);
        g.by_pts.insert(pts, now);
        g.order.push_back((dts, pts));
        if keyframe {
            g.keys.push_back((dts, pts));
        }
        while g.order.len() > LOG_FRAMES {
            if let Some((d, p)) = g.order.pop_front() {
                g.by_dts.remove(&d);
                g.by_pts.remove(&p);
                if g.keys.front().is_some_and(|&(kd, _)| kd == d) {
                    g.keys.pop_front();
                }
            }
        }
    }

    /// When the frame of decoding timestamp `dts` was sent.
    pub(crate) fn sent(&self, dts: u32) -> Option<Instant> {
        self.lock().by_dts.get(&dts).copied()
    }

    /// The keyframe timestamps and send times on `clock`, for rebasing.
    fn timeline(&self, clock: Clock) -> (Vec<u32>, HashMap<u32, Instant>) {
        let g = self.lock();
        match clock {
            Clock::Dts => (g.keys.iter().map(|k| k.0).collect(), g.by_dts.clone()),
            Clock::Pts => (g.keys.iter().map(|k| k.1).collect(), g.by_pts.clone()),
        }
    }
}

/// What one player saw.
#[derive(Default, Debug)]
pub(crate) struct PlayerStats {
    connected: bool,
    first_frame: Option<Duration>,
    frames_in_window: u64,
    bytes_in_window: u64,
    /// Latencies measured directly (the player sees publisher timestamps).
    latencies: Vec<Duration>,
    /// `(ms after the reference keyframe, received at)`, resolved at the end.
    relative: Vec<(i64, Instant)>,
    /// HLS: segments downloaded in the window, their fetch times, and
    /// sequence numbers the poller never saw (fell out of the playlist).
    segments_in_window: u64,
    segment_fetch: Vec<Duration>,
    skipped_segments: u64,
    error: Option<String>,
}

/// The player's stats, locked.
pub(crate) fn stats_of(stats: &Mutex<PlayerStats>) -> MutexGuard<'_, PlayerStats> {
    stats.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) struct Window {
    start: Mutex<Option<Instant>>,
    stop: AtomicBool,
}

impl Window {
    pub(crate) fn open(&self) -> bool {
        self.start
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
            && !self.stop.load(Ordering::Relaxed)
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// What every player task gets.
pub(crate) struct Ctx {
    pub(crate) args: Args,
    pub(crate) log: Arc<SendLog>,
    pub(crate) window: Arc<Window>,
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .expect("runtime");
    let report = rt.block_on(run(args));
    println!("{report}");
}

async fn run(args: Args) -> serde_json::Value {
    let ctx = Arc::new(Ctx {
        args: args.clone(),
        log: Arc::new(SendLog::default()),
        window: Arc::new(Window {
            start: Mutex::new(None),
            stop: AtomicBool::new(false),
        }),
    });
    if let Some(file) = args.flv.clone() {
        let tags = match publisher::read_tags(&file) {
            Ok(tags) => Arc::new(tags),
            Err(e) => return json!({ "error": e }),
        };
        for i in 0..args.publishers {
            let path = match args.publishers {
                1 => args.stream.clone(),
                _ => format!("{}{i}", args.stream),
            };
            let (ctx, tags) = (ctx.clone(), tags.clone());
            tokio::spawn(async move {
                if let Err(e) = publisher::run(&ctx, &tags, &path, i == 0).await {
                    eprintln!("load: publisher of {path} failed: {e}");
                }
            });
            if args.publishers > 1 {
                let spread = 1_000 / args.publishers as u64;
                tokio::time::sleep(Duration::from_millis(spread.max(1))).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await; // let the stream start and fill the GOP cache
    }
    let mut handles = Vec::new();
    let mut spawned = 0usize;
    for kind in Kind::ALL {
        for _ in 0..kind.count(&args) {
            let stats = Arc::new(Mutex::new(PlayerStats::default()));
            let (ctx, mine) = (ctx.clone(), stats.clone());
            let task = tokio::spawn(async move { player(kind, &ctx, &mine).await });
            handles.push((kind, stats, task));
            spawned += 1;
            if spawned.is_multiple_of(50) {
                tokio::time::sleep(Duration::from_millis(20)).await; // spread the connects a little
            }
        }
    }
    // Open the window once every player has its first frame (servers without
    // a GOP cache need a keyframe first; HLS a whole segment), or after 12 s at most.
    let ready_by = Instant::now() + Duration::from_secs(12);
    while Instant::now() < ready_by
        && !handles.iter().all(|(_, s, _)| {
            let s = stats_of(s);
            s.first_frame.is_some() || s.error.is_some()
        })
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu_before = cpu_seconds();
    *ctx.window.start.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    ctx.window.stop.store(true, Ordering::Relaxed);
    let load_cpu = cpu_seconds() - cpu_before;

    let mut report = json!({
        "secs": args.secs,
        "load_cpu_seconds_per_second": load_cpu / args.secs as f64,
    });
    for (_, _, task) in &handles {
        task.abort();
    }
    for kind in Kind::ALL {
        let stats: Vec<_> = handles
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, s, _)| std::mem::take(&mut *stats_of(s)))
            .collect();
        report[kind.key()] = summary(kind, &stats, &args, &ctx.log);
    }
    report
}

fn summary(kind: Kind, stats: &[PlayerStats], args: &Args, log: &SendLog) -> serde_json::Value {
    if stats.is_empty() {
        return json!(null);
    }
    let secs = args.secs as f64;
    let full = stats
        .iter()
        .filter(|s| match kind {
            // Segments arrive whole: frames per window swing by a segment,
            // so an HLS player is at full rate when it missed no segment.
            Kind::Hls => s.error.is_none() && s.segments_in_window > 0 && s.skipped_segments == 0,
            _ => s.frames_in_window as f64 / secs >= 0.95 * args.fps,
        })
        .count();
    let mut first: Vec<Duration> = stats.iter().filter_map(|s| s.first_frame).collect();
    let mut lat: Vec<Duration> = stats
        .iter()
        .flat_map(|s| s.latencies.iter().copied())
        .collect();
    let mut unresolved = 0usize;
    if let Some(clock) = kind.rebased_clock() {
        let (keys, sent) = log.timeline(clock);
        for s in stats.iter().filter(|s| !s.relative.is_empty()) {
            match rebase::resolve(&s.relative, &keys, &sent) {
                Some(l) => lat.extend(l),
                None => unresolved += 1,
            }
        }
    }
    let mean =
        |f: &dyn Fn(&PlayerStats) -> f64| stats.iter().map(f).sum::<f64>() / stats.len() as f64;
    let fps = mean(&|s| s.frames_in_window as f64 / secs);
    let bps = mean(&|s| s.bytes_in_window as f64 * 8.0 / secs);
    let errors: Vec<&str> = stats
        .iter()
        .filter_map(|s| s.error.as_deref())
        .take(3)
        .collect();
    let mut out = json!({
        "players": stats.len(),
        "connected": stats.iter().filter(|s| s.connected).count(),
        "full_rate": full,
        "fps_per_player": fps,
        "bits_per_second_per_player": bps,
        "delivered_gbit_per_second": bps * stats.len() as f64 / 1e9,
        "first_frame_ms": percentiles(&mut first),
        "added_latency_ms": percentiles(&mut lat),
        "latency_method": kind.latency_method(),
        "errors": errors,
        "failed": stats.iter().filter(|s| s.error.is_some()).count(),
    });
    if kind.rebased_clock().is_some() {
        out["latency_unresolved_players"] = json!(unresolved);
    }
    if kind == Kind::Hls {
        let mut fetch: Vec<Duration> = stats
            .iter()
            .flat_map(|s| s.segment_fetch.iter().copied())
            .collect();
        out["segments_per_player"] = json!(mean(&|s| s.segments_in_window as f64));
        out["skipped_segments"] = json!(stats.iter().map(|s| s.skipped_segments).sum::<u64>());
        out["segment_fetch_ms"] = percentiles(&mut fetch);
    }
    out
}

fn percentiles(v: &mut [Duration]) -> serde_json::Value {
    if v.is_empty() {
        return json!(null);
    }
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
    json!({ "p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": at(1.0), "samples": v.len() })
}

/// CPU seconds used by this process so far (utime + stime from /proc).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

async fn player(kind: Kind, ctx: &Ctx, stats: &Mutex<PlayerStats>) {
    let result = match kind {
        Kind::Rtmp => rtmp::rtmp_player(ctx, stats).await,
        Kind::Flv => rtmp::flv_player(ctx, stats).await,
        Kind::Rtsp => rtsp::player(ctx, stats).await,
        Kind::Hls => hls::player(ctx, stats).await,
        Kind::Ts => ts::player(ctx, stats).await,
        Kind::Mp4 => mp4::player(ctx, stats).await,
    };
    if let Err(e) = result {
        stats_of(stats).error = Some(e);
    }
}

/// Every 5th frame per player is sampled for latency: bounded memory.
const SAMPLE_EVERY: u64 = 5;

/// A coded video frame with the publisher's own timestamp arrived now.
pub(crate) fn count_video(ts: u32, started: Instant, ctx: &Ctx, stats: &Mutex<PlayerStats>) {
    let mut s = stats_of(stats);
    if s.first_frame.is_none() {
        s.first_frame = Some(started.elapsed());
    }
    if ctx.window.open() {
        s.frames_in_window += 1;
        if s.frames_in_window.is_multiple_of(SAMPLE_EVERY) {
            if let Some(sent) = ctx.log.sent(ts) {
                s.latencies.push(sent.elapsed());
            }
        }
    }
}

/// A coded video frame arrived now, `offset` ms after the player's
/// reference keyframe (`None` before the reference).
pub(crate) fn count_relative(
    offset: Option<i64>,
    started: Instant,
    ctx: &Ctx,
    stats: &Mutex<PlayerStats>,
) {
    let mut s = stats_of(stats);
    if s.first_frame.is_none() {
        s.first_frame = Some(started.elapsed());
    }
    if ctx.window.open() {
        s.frames_in_window += 1;
        if s.frames_in_window.is_multiple_of(SAMPLE_EVERY) {
            if let Some(off) = offset {
                s.relative.push((off, Instant::now()));
            }
        }
    }
}

/// Bytes received now.
pub(crate) fn count_bytes(n: usize, ctx: &Ctx, stats: &Mutex<PlayerStats>) {
    if ctx.window.open() {
        stats_of(stats).bytes_in_window += n as u64;
    }
}

/// Marks the player connected.
pub(crate) fn connected(stats: &Mutex<PlayerStats>) {
    stats_of(stats).connected = true;
}

/// A streamed HTTP body: connects, asks `GET /{stream}{suffix}` over
/// HTTP/1.0 (close-delimited, no chunk framing to undo), checks for 200 and
/// returns the socket with what already came of the body (counted).
pub(crate) async fn http_stream(
    ctx: &Ctx,
    stats: &Mutex<PlayerStats>,
    suffix: &str,
    what: &str,
) -> Result<(tokio::net::TcpStream, bytes::BytesMut), String> {
    use tokio::io::AsyncWriteExt;
    let args = &ctx.args;
    let mut sock = tokio::net::TcpStream::connect((args.host.as_str(), args.http_port))
        .await
        .map_err(|e| e.to_string())?;
    connected(stats);
    let req = format!(
        "GET /{}{suffix} HTTP/1.0\r\nHost: {}\r\n\r\n",
        args.play_stream(),
        args.host
    );
    sock.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = bytes::BytesMut::with_capacity(64 * 1024);
    let (status, _) = read_http_head(&mut sock, &mut buf).await?;
    if status != 200 {
        return Err(format!("{what} answered {status}"));
    }
    count_bytes(buf.len(), ctx, stats);
    Ok((sock, buf))
}

/// Reads until the end of an HTTP response head; returns the status code
/// and leaves the bytes after the head in `buf`.
pub(crate) async fn read_http_head(
    sock: &mut tokio::net::TcpStream,
    buf: &mut bytes::BytesMut,
) -> Result<(u16, String), String> {
    use tokio::io::AsyncReadExt;
    const MAX_HEAD: usize = 16 * 1024;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = buf.split_to(end + 4);
            let text = String::from_utf8_lossy(&head).into_owned();
            let status = text
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad status line: {:?}", text.lines().next()))?;
            return Ok((status, text));
        }
        if buf.len() > MAX_HEAD {
            return Err("response head over 16 KiB".into());
        }
        if sock.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("server closed before the response head".into());
        }
    }
}
