//! Measures what a viewer waits for: the time from TCP connect to the first
//! video frame, over RTMP (with rtmp-proto's client session) and HTTP-FLV.
//!
//! ```sh
//! cargo run --release -p server-bin --example first_frame -- 127.0.0.1 1935 8080 live/stream 20
//! ```
//! Prints p50/p95/max per protocol over the given number of trials.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rtmp_proto::session::MediaKind;
use rtmp_proto::{ClientConfig, ClientEvent, ClientMode, ClientSession, HandshakeParams};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: first_frame HOST RTMP_PORT HTTP_PORT APP/STREAM TRIALS");
        std::process::exit(2);
    }
    let (host, rtmp_port, http_port, path) = (&args[1], &args[2], &args[3], &args[4]);
    let trials: usize = args[5].parse().unwrap_or(10);
    let Some((app, stream)) = path.rsplit_once('/') else {
        eprintln!("APP/STREAM expected");
        std::process::exit(2);
    };
    let mut rtmp = Vec::new();
    let mut flv = Vec::new();
    for _ in 0..trials {
        match rtmp_first_frame(&format!("{host}:{rtmp_port}"), app, stream) {
            Ok(d) => rtmp.push(d),
            Err(e) => eprintln!("rtmp trial failed: {e}"),
        }
        match flv_first_frame(&format!("{host}:{http_port}"), path) {
            Ok(d) => flv.push(d),
            Err(e) => eprintln!("http-flv trial failed: {e}"),
        }
    }
    report("rtmp", &mut rtmp);
    report("http-flv", &mut flv);
}

fn report(name: &str, samples: &mut [Duration]) {
    if samples.is_empty() {
        println!("{name}: no successful trial");
        return;
    }
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name}: connect to first video frame over {} trials: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        samples.len(),
        pick(0.5).as_secs_f64() * 1000.0,
        pick(0.95).as_secs_f64() * 1000.0,
        pick(1.0).as_secs_f64() * 1000.0
    );
}

fn rtmp_first_frame(addr: &str, app: &str, stream: &str) -> Result<Duration, String> {
    let start = Instant::now();
    let mut sock = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    sock.set_nodelay(true).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut session = ClientSession::new(
        ClientConfig {
            app: app.into(),
            tc_url: format!("rtmp://{addr}/{app}"),
            stream: stream.into(),
            mode: ClientMode::Play,
            chunk_size: 4096,
            handshake: HandshakeParams {
                epoch: 0,
                seed: [7; 32],
            },
            digest: false,
            timeouts: rtmp_proto::ClientTimeouts::NONE,
        },
        Instant::now(),
    );
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(out) = session.poll_transmit() {
            sock.write_all(&out).map_err(|e| e.to_string())?;
        }
        while let Some(ev) = session.poll_event() {
            match ev {
                ClientEvent::Media { kind: MediaKind::Video, payload, .. }
                    // The sequence header (AVC packet type 0) is not a frame.
                    if payload.get(1) == Some(&1) =>
                {
                    return Ok(start.elapsed());
                }
                ClientEvent::Rejected { code, description } => return Err(format!("{code}: {description}")),
                _ => {}
            }
        }
        let n = sock.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("server closed".into());
        }
        session
            .handle_input(&buf[..n], Instant::now())
            .map_err(|e| e.to_string())?;
    }
}

fn flv_first_frame(addr: &str, path: &str) -> Result<Duration, String> {
    let start = Instant::now();
    let mut sock = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    sock.set_nodelay(true).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let request = format!("GET /{path}.live.flv HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    sock.write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    // HTTP/1.0: the body is the plain FLV stream after the head.
    let mut data = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = sock.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("server closed".into());
        }
        data.extend_from_slice(&buf[..n]);
        let Some(head_end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        // Walk the tags: 9-byte header + 4, then 11-byte tag headers.
        let mut pos = head_end + 4 + 13;
        while pos + 11 <= data.len() {
            let tag_type = data[pos];
            let size =
                u32::from_be_bytes([0, data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
            if tag_type == 9 && data.get(pos + 12) == Some(&1) {
                return Ok(start.elapsed());
            }
            pos += 11 + size + 4;
        }
    }
}
