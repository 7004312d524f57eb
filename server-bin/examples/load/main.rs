//! The load generator of `cargo xtask bench`: one publisher and N players in
//! their own process and runtime, built on rtmp-proto's client session.
//!
//! The publisher sends an FLV file (looped) over RTMP in real time and logs
//! when it sent each timestamp; players (RTMP and HTTP-FLV) count frames and
//! bytes, time their first video frame and, for sampled frames, the latency
//! the server added (publisher send → player receive, same clock). One JSON
//! line with the figures goes to stdout.
//!
//! ```sh
//! cargo run --release -p server-bin --example load -- --flv bench.flv \
//!     --rtmp-port 1935 --http-port 8080 --rtmp-players 100 --flv-players 100 --secs 20
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use clap::Parser;
use flv_mux::{FlvEvent, FlvReader, FlvTag, TagType};
use rtmp_proto::session::MediaKind;
use rtmp_proto::{ClientConfig, ClientEvent, ClientMode, ClientSession, HandshakeParams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 1935)]
    rtmp_port: u16,
    #[arg(long, default_value_t = 8080)]
    http_port: u16,
    /// app/stream
    #[arg(long, default_value = "live/bench")]
    stream: String,
    /// FLV file to publish (looped). Without it nothing is published.
    #[arg(long)]
    flv: Option<String>,
    #[arg(long, default_value_t = 0)]
    rtmp_players: usize,
    #[arg(long, default_value_t = 0)]
    flv_players: usize,
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

/// When the publisher sent each video timestamp (bounded).
#[derive(Default)]
struct SendLog {
    inner: Mutex<(HashMap<u32, Instant>, VecDeque<u32>)>,
}

impl SendLog {
    fn record(&self, ts: u32) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.0.insert(ts, Instant::now());
        g.1.push_back(ts);
        while g.1.len() > 4096 {
            if let Some(old) = g.1.pop_front() {
                g.0.remove(&old);
            }
        }
    }

    fn sent(&self, ts: u32) -> Option<Instant> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .get(&ts)
            .copied()
    }
}

/// What one player saw.
#[derive(Default, Debug)]
struct PlayerStats {
    connected: bool,
    first_frame: Option<Duration>,
    frames_in_window: u64,
    bytes_in_window: u64,
    latencies: Vec<Duration>,
    error: Option<String>,
}

struct Window {
    start: Mutex<Option<Instant>>,
    stop: AtomicBool,
}

impl Window {
    fn open(&self) -> bool {
        self.start
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
            && !self.stop.load(Ordering::Relaxed)
    }
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
    let log = Arc::new(SendLog::default());
    let window = Arc::new(Window {
        start: Mutex::new(None),
        stop: AtomicBool::new(false),
    });
    if let Some(file) = args.flv.clone() {
        let (args, log, window) = (args.clone(), log.clone(), window.clone());
        tokio::spawn(async move {
            if let Err(e) = publisher(&args, &file, &log, &window).await {
                eprintln!("load: publisher failed: {e}");
            }
        });
        tokio::time::sleep(Duration::from_secs(2)).await; // let the stream start and fill the GOP cache
    }
    let mut handles = Vec::new();
    for i in 0..args.rtmp_players + args.flv_players {
        let rtmp = i < args.rtmp_players;
        let (args, log, window) = (args.clone(), log.clone(), window.clone());
        let stats = Arc::new(Mutex::new(PlayerStats::default()));
        let mine = stats.clone();
        let task = tokio::spawn(async move { player(rtmp, &args, &log, &window, &mine).await });
        handles.push((rtmp, stats, task));
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(20)).await; // spread the connects a little
        }
    }
    // Open the window once every player has its first frame (servers without
    // a GOP cache need a keyframe first), or after 10 s at most.
    let ready_by = Instant::now() + Duration::from_secs(10);
    while Instant::now() < ready_by
        && !handles.iter().all(|(_, s, _)| {
            let s = s.lock().unwrap_or_else(|e| e.into_inner());
            s.first_frame.is_some() || s.error.is_some()
        })
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu_before = cpu_seconds();
    *window.start.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    window.stop.store(true, Ordering::Relaxed);
    let load_cpu = cpu_seconds() - cpu_before;

    let mut rtmp_stats = Vec::new();
    let mut flv_stats = Vec::new();
    for (rtmp, stats, task) in handles {
        task.abort();
        if rtmp {
            rtmp_stats.push(stats);
        } else {
            flv_stats.push(stats);
        }
    }
    json!({
        "secs": args.secs,
        "load_cpu_seconds_per_second": load_cpu / args.secs as f64,
        "rtmp": summary(&rtmp_stats, &args),
        "http_flv": summary(&flv_stats, &args),
    })
}

fn summary(stats: &[Arc<Mutex<PlayerStats>>], args: &Args) -> serde_json::Value {
    let stats: Vec<_> = stats
        .iter()
        .map(|s| std::mem::take(&mut *s.lock().unwrap_or_else(|e| e.into_inner())))
        .collect();
    if stats.is_empty() {
        return json!(null);
    }
    let secs = args.secs as f64;
    let full = stats
        .iter()
        .filter(|s| s.frames_in_window as f64 / secs >= 0.95 * args.fps)
        .count();
    let mut first: Vec<Duration> = stats.iter().filter_map(|s| s.first_frame).collect();
    let mut lat: Vec<Duration> = stats
        .iter()
        .flat_map(|s| s.latencies.iter().copied())
        .collect();
    let fps: f64 = stats
        .iter()
        .map(|s| s.frames_in_window as f64 / secs)
        .sum::<f64>()
        / stats.len() as f64;
    let bps: f64 = stats
        .iter()
        .map(|s| s.bytes_in_window as f64 * 8.0 / secs)
        .sum::<f64>()
        / stats.len() as f64;
    let errors: Vec<&str> = stats
        .iter()
        .filter_map(|s| s.error.as_deref())
        .take(3)
        .collect();
    json!({
        "players": stats.len(),
        "connected": stats.iter().filter(|s| s.connected).count(),
        "full_rate": full,
        "fps_per_player": fps,
        "bits_per_second_per_player": bps,
        "delivered_gbit_per_second": bps * stats.len() as f64 / 1e9,
        "first_frame_ms": percentiles(&mut first),
        "added_latency_ms": percentiles(&mut lat),
        "errors": errors,
    })
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

fn client(args: &Args, mode: ClientMode, seed: u8) -> ClientSession {
    let (app, stream) = args
        .stream
        .rsplit_once('/')
        .unwrap_or(("live", &args.stream));
    ClientSession::new(ClientConfig {
        app: app.into(),
        tc_url: format!("rtmp://{}:{}/{app}", args.host, args.rtmp_port),
        stream: stream.into(),
        mode,
        chunk_size: 4096,
        handshake: HandshakeParams {
            epoch: 0,
            seed: [seed; 32],
        },
        digest: false,
    })
}

async fn flush(session: &mut ClientSession, sock: &mut TcpStream) -> std::io::Result<()> {
    while let Some(b) = session.poll_transmit() {
        sock.write_all(&b).await?;
    }
    Ok(())
}

async fn publisher(args: &Args, file: &str, log: &SendLog, window: &Window) -> Result<(), String> {
    let data = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
    let mut reader = FlvReader::new();
    reader.push(&data);
    let mut tags: Vec<FlvTag> = Vec::new();
    while let Some(ev) = reader.poll().map_err(|e| e.to_string())? {
        if let FlvEvent::Tag(t) = ev {
            tags.push(t);
        }
    }
    let last_ts = tags.iter().map(|t| t.timestamp).max().unwrap_or(0);
    let mut sock = TcpStream::connect((args.host.as_str(), args.rtmp_port))
        .await
        .map_err(|e| e.to_string())?;
    let _ = sock.set_nodelay(true);
    let mut session = client(args, ClientMode::Publish, 1);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    // Handshake, connect, publish.
    loop {
        flush(&mut session, &mut sock)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(ev) = session.poll_event() {
            match ev {
                ClientEvent::Publishing => break,
                ClientEvent::Rejected { description, .. } => return Err(description),
                _ => continue,
            }
        }
        if sock.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("server closed".into());
        }
        session
            .handle_input(&buf.split())
            .map_err(|e| e.to_string())?;
    }
    let start = Instant::now();
    let mut offset: u32 = 0;
    let mut first_loop = true;
    while !window.stop.load(Ordering::Relaxed) {
        for tag in &tags {
            let is_header = tag.data.get(1) == Some(&0);
            if !first_loop && (tag.tag_type == TagType::Script || is_header) {
                continue; // sequence headers and metadata once
            }
            let ts = tag.timestamp + offset;
            let due = start + Duration::from_millis(u64::from(ts));
            // Read what the server sends (acks, pings) while waiting.
            loop {
                let now = Instant::now();
                if now >= due {
                    break;
                }
                tokio::select! {
                    r = sock.read_buf(&mut buf) => {
                        if r.map_err(|e| e.to_string())? == 0 { return Err("server closed".into()); }
                        session.handle_input(&buf.split()).map_err(|e| e.to_string())?;
                    }
                    _ = tokio::time::sleep_until(due.into()) => {}
                }
            }
            let payload: Bytes = tag.data.clone();
            let sent = match tag.tag_type {
                TagType::Video => {
                    let r = session.send_media(MediaKind::Video, ts, payload);
                    if !is_header {
                        log.record(ts);
                    }
                    r
                }
                TagType::Audio => session.send_media(MediaKind::Audio, ts, payload),
                _ => session.send_metadata(payload),
            };
            sent.map_err(|e| e.to_string())?;
            flush(&mut session, &mut sock)
                .await
                .map_err(|e| e.to_string())?;
        }
        offset += last_ts + 40;
        first_loop = false;
    }
    session.close();
    let _ = flush(&mut session, &mut sock).await;
    Ok(())
}

async fn player(
    rtmp: bool,
    args: &Args,
    log: &SendLog,
    window: &Window,
    stats: &Mutex<PlayerStats>,
) {
    let result = if rtmp {
        rtmp_player(args, log, window, stats).await
    } else {
        flv_player(args, log, window, stats).await
    };
    if let Err(e) = result {
        stats.lock().unwrap_or_else(|e| e.into_inner()).error = Some(e);
    }
}

fn count_video(
    ts: u32,
    bytes: usize,
    started: Instant,
    log: &SendLog,
    window: &Window,
    stats: &Mutex<PlayerStats>,
) {
    let mut s = stats.lock().unwrap_or_else(|e| e.into_inner());
    if s.first_frame.is_none() {
        s.first_frame = Some(started.elapsed());
    }
    if window.open() {
        s.frames_in_window += 1;
        // Sample every 5th frame per player for latency: bounded memory.
        if s.frames_in_window % 5 == 0 {
            if let Some(sent) = log.sent(ts) {
                s.latencies.push(sent.elapsed());
            }
        }
    }
    let _ = bytes;
}

async fn rtmp_player(
    args: &Args,
    log: &SendLog,
    window: &Window,
    stats: &Mutex<PlayerStats>,
) -> Result<(), String> {
    let started = Instant::now();
    let mut sock = TcpStream::connect((args.host.as_str(), args.rtmp_port))
        .await
        .map_err(|e| e.to_string())?;
    let _ = sock.set_nodelay(true);
    stats.lock().unwrap_or_else(|e| e.into_inner()).connected = true;
    let mut session = client(args, ClientMode::Play, 2);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        flush(&mut session, &mut sock)
            .await
            .map_err(|e| e.to_string())?;
        while let Some(ev) = session.poll_event() {
            if let ClientEvent::Media {
                kind,
                timestamp,
                payload,
            } = ev
            {
                if window.open() {
                    stats
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .bytes_in_window += payload.len() as u64;
                }
                if kind == MediaKind::Video && payload.get(1) == Some(&1) {
                    count_video(timestamp, payload.len(), started, log, window, stats);
                }
            }
        }
        let n = sock.read_buf(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("server closed".into());
        }
        session
            .handle_input(&buf.split())
            .map_err(|e| e.to_string())?;
    }
}

async fn flv_player(
    args: &Args,
    log: &SendLog,
    window: &Window,
    stats: &Mutex<PlayerStats>,
) -> Result<(), String> {
    let started = Instant::now();
    let mut sock = TcpStream::connect((args.host.as_str(), args.http_port))
        .await
        .map_err(|e| e.to_string())?;
    stats.lock().unwrap_or_else(|e| e.into_inner()).connected = true;
    let req = format!(
        "GET /{}.live.flv HTTP/1.0\r\nHost: {}\r\n\r\n",
        args.stream, args.host
    );
    sock.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut head_done = false;
    let mut reader = FlvReader::new();
    loop {
        let n = sock.read_buf(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("server closed".into());
        }
        if window.open() {
            stats
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .bytes_in_window += n as u64;
        }
        if !head_done {
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let _ = buf.split_to(end + 4);
            head_done = true;
        }
        reader.push(&buf.split());
        while let Some(ev) = reader.poll().map_err(|e| e.to_string())? {
            if let FlvEvent::Tag(t) = ev {
                if t.tag_type == TagType::Video && t.data.get(1) == Some(&1) {
                    count_video(t.timestamp, t.data.len(), started, log, window, stats);
                }
            }
        }
    }
}
