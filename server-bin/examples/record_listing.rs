//! How long listing 30 days of one stream's recordings takes: a synthetic
//! catalogue of `--streams` streams (default 100) × `--days` days (30) of
//! one-hour files (24 a day), then the listing of one stream over the 30
//! days as `GET /api/v1/recordings/{app}/{stream}` answers it (catalogue
//! range read, span merge, JSON), `--runs` times (50); prints min, median,
//! p99 and max. Run by `cargo xtask bench --record-listing`.

use std::time::{Duration, Instant};

use stream_core::StreamKey;
use strom::record::catalogue::{Catalogue, FileEntry, Row};

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;
/// 2026-11-06T00:00:00Z: where the synthetic recordings start.
const T0: u64 = 1_794_009_600_000;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let (streams, days, runs) = (
        arg("--streams", 100),
        arg("--days", 30) as u64,
        arg("--runs", 50).max(1),
    );
    let dir = std::env::temp_dir().join(format!("strom-record-listing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let catalogue = Catalogue::open(&dir.join(".catalogue.redb")).expect("a catalogue");

    let filled = Instant::now();
    for s in 0..streams {
        let name = format!("live/cam{s:03}");
        let rows: Vec<Row> = (0..days * 24)
            .map(|h| {
                let start = T0 + h * HOUR_MS + (s as u64 % 7) * 13;
                // Every 5th day of each stream has a 10-minute outage: spans split.
                let end = if h % (5 * 24) == 11 {
                    start + HOUR_MS - 600_000
                } else {
                    start + HOUR_MS - 40
                };
                let t = strom::record::layout::Utc::from_ms(start);
                let entry = FileEntry {
                    end_ms: end,
                    bytes: 900_000_000,
                    path: format!(
                        "{name}/{}/{:02}-{:02}-{:02}.mp4",
                        t.day(),
                        t.hour,
                        t.minute,
                        t.second
                    ),
                    open: false,
                    tracks: "h264+aac".into(),
                    fragments: 3600,
                };
                (name.clone(), start, entry)
            })
            .collect();
        catalogue
            .upsert(&rows, s + 1 == streams)
            .expect("rows written");
    }
    let rows = streams as u64 * days * 24;
    eprintln!(
        "catalogue: {streams} streams x {days} days x 24 files = {rows} rows in {:.1} s",
        filled.elapsed().as_secs_f64()
    );

    let key = StreamKey::new("live", format!("cam{:03}", streams / 2));
    let (from, to) = (T0, T0 + days * DAY_MS);
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    let mut shown = (0, 0, 0);
    for _ in 0..runs {
        let t = Instant::now();
        let view = strom::http::recordings::listing(&catalogue, &key, from, to).expect("listing");
        let body = serde_json::to_vec(&view).expect("json");
        times.push(t.elapsed());
        shown = (
            view["files"].as_array().map_or(0, Vec::len),
            view["spans"].as_array().map_or(0, Vec::len),
            body.len(),
        );
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "record listing: {days} days of one stream ({} files, {} spans, {} KB of JSON) among {rows} rows: \
         min {:.2} ms, median {:.2} ms, p99 {:.2} ms, max {:.2} ms over {runs} runs",
        shown.0,
        shown.1,
        shown.2 / 1024,
        ms(times[0]),
        ms(pick(0.5)),
        ms(pick(0.99)),
        ms(times[times.len() - 1]),
    );
    drop(catalogue);
    let _ = std::fs::remove_dir_all(&dir);
}
