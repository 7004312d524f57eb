//! How soon a recording download starts: a synthetic one-hour recording at
//! 2 Mbit/s (one file, 1 s fragments of 25 frames, written sparse so it
//! takes no disk), a `strom` serving it, and `--runs` (default 10)
//! ten-minute `GET /api/v1/recordings/live/cam/get` from its middle: the
//! time to the first body byte (min, median, max; the target is
//! 100 ms) and how long the whole 150 MB body takes. `--strom PATH` is the
//! binary (default: `strom` beside this example's directory, as cargo
//! builds both). Run by `cargo xtask bench --record-get`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fmp4::{CodecConfig, Sample, TrackConfig, TrackRun};
use stream_core::StreamKey;
use strom::record::catalogue::Catalogue;
use strom::record::synthetic::{write_file, Data};

/// 2026-12-06T10:00:00Z.
const T0_S: u64 = 1_796_551_200;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

/// `GET path`: (time to the first body byte, body bytes, time to the end).
fn get(port: u16, path: &str) -> (Duration, usize, Duration) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let asked = Instant::now();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut buf = vec![0u8; 1 << 20];
    let mut head = Vec::new();
    let (first, mut body) = loop {
        let n = s.read(&mut buf).expect("response");
        assert!(
            n > 0,
            "closed in the head: {}",
            String::from_utf8_lossy(&head)
        );
        head.extend_from_slice(&buf[..n]);
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            if head.len() > at + 4 {
                assert!(
                    head.starts_with(b"HTTP/1.1 200"),
                    "{}",
                    String::from_utf8_lossy(&head[..at])
                );
                break (asked.elapsed(), head.len() - at - 4);
            }
        }
    };
    loop {
        let n = s.read(&mut buf).expect("body");
        if n == 0 {
            break;
        }
        body += n;
    }
    (first, body, asked.elapsed())
}

fn main() {
    let runs: usize = arg("--runs")
        .and_then(|r| r.parse().ok())
        .unwrap_or(10)
        .max(1);
    let strom = arg("--strom").map_or_else(
        || {
            let exe = std::env::current_exe().expect("this example's path");
            exe.parent()
                .and_then(|d| d.parent())
                .expect("target/<profile>")
                .join("strom")
        },
        Into::into,
    );
    let dir = std::env::temp_dir().join(format!("strom-record-get-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let root = dir.join("record");
    std::fs::create_dir_all(&root).expect("a scratch directory");
    let video = TrackConfig {
        id: 1,
        timescale: 90_000,
        codec: CodecConfig::Avc {
            avcc: Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff, 0xe0, 0]),
        },
        width: 1280,
        height: 720,
        channels: 0,
        sample_rate: 0,
    };
    // 2 Mbit/s: 25 frames of 10,000 bytes a second.
    let frame = Bytes::from(vec![0u8; 10_000]);
    let hour = (0..3600u64).map(|s| {
        let samples = (0..25)
            .map(|i| Sample {
                duration: 3600,
                cts_offset: 0,
                keyframe: i == 0,
                data: frame.clone(),
            })
            .collect();
        vec![TrackRun {
            track_id: 1,
            base_decode_time: s * 90_000,
            samples,
        }]
    });
    let written = Instant::now();
    let catalogue = Catalogue::open(&root.join(".catalogue.redb")).expect("a catalogue");
    let key = StreamKey::new("live", "cam");
    let entry = write_file(
        &root,
        &catalogue,
        &key,
        T0_S * 1000,
        &[video],
        hour,
        Data::Holes,
    )
    .expect("the recording");
    drop(catalogue);
    eprintln!(
        "record_get_ttfb: one hour ({} bytes) written in {:?}",
        entry.bytes,
        written.elapsed()
    );

    let http = free_port();
    let mut child = Command::new(&strom)
        .current_dir(&dir)
        .args(["--bind", "127.0.0.1", "--http-port", &http.to_string()])
        .args([
            "--rtmp-port",
            &free_port().to_string(),
            "--rtsp-port",
            &free_port().to_string(),
        ])
        .args(["--webrtc-port", "0"])
        .env("STROM_RECORD__DIR", &root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", strom.display()));
    let up = Instant::now();
    while TcpStream::connect(("127.0.0.1", http)).is_err() {
        assert!(
            up.elapsed() < Duration::from_secs(10),
            "strom did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let path = format!(
        "/api/v1/recordings/live/cam/get?start={}&duration=600",
        T0_S + 1800
    );
    let mut firsts = Vec::new();
    let mut whole = Duration::ZERO;
    let mut bytes = 0;
    for _ in 0..runs {
        let (first, body, total) = get(http, &path);
        firsts.push(first);
        whole = whole.max(total);
        bytes = body;
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    firsts.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "record get: time to first byte of 10 min from a 1 h 2 Mbit/s file over {runs} runs: min {:.1} ms, median {:.1} ms, max {:.1} ms (target < 100 ms); {bytes} bytes in at most {:.0} ms",
        ms(firsts[0]),
        ms(firsts[runs / 2]),
        ms(firsts[runs - 1]),
        ms(whole)
    );
}
