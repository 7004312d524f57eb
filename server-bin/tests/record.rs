//! Recording against the real binary: ffmpeg publishes, ffprobe and ffmpeg
//! validate every recorded file (codecs, duration, no decode errors,
//! monotonic timestamps); `segment_secs` cuts several files; a `kill -9`
//! leaves a file that plays and is closed in the catalogue at the next
//! start; a full disk (a small tmpfs) suspends recording without costing
//! the live players anything, and recording resumes once files are
//! deleted; the hook server gets `on_record_mp4` and `on_record_disk`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::hook_server::HookServer;
use common::media::{finish, play, publish, require, stop};
use common::{scratch_dir, wait_until, Strom};
use serde_json::Value;

/// A hook server answering `{"code":0}`, and `"enable_mp4":1` to the
/// `on_publish` of streams named `rec…`.
fn hook_server() -> HookServer {
    HookServer::start(|path, body| {
        let rec = body["stream"]
            .as_str()
            .is_some_and(|s| s.starts_with("rec"));
        if rec && path.ends_with("on_publish") {
            r#"{"code":0,"enable_mp4":1}"#.into()
        } else {
            r#"{"code":0}"#.into()
        }
    })
}

/// Every recorded mp4 under `dir`, in name order.
fn mp4s(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "mp4") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// ffprobe: the codecs of a file and its duration in seconds.
fn probe_file(path: &Path) -> (Vec<String>, f64) {
    require("ffprobe");
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name:format=duration",
        ])
        .args(["-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let codecs = v["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["codec_name"].as_str().map(String::from))
        .collect();
    let duration = v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok());
    (codecs, duration.unwrap_or(0.0))
}

/// `ffmpeg -v error -i file -f null -`: success and what it printed.
fn decode(path: &Path) -> (bool, String) {
    let out = Command::new("timeout")
        .args([
            "60",
            "ffmpeg",
            "-hide_banner",
            "-v",
            "error",
            "-nostdin",
            "-i",
        ])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The video packets' decode times keep increasing.
fn monotonic(path: &Path) -> bool {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "packet=dts_time",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    let dts: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    dts.len() > 10 && dts.windows(2).all(|w| w[1] > w[0])
}

fn metric(strom: &Strom, name: &str) -> Option<f64> {
    let (_, body) = strom.get("/metrics");
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn wait_exit(child: &mut Child, limit: Duration) {
    let ok = wait_until(limit, || child.try_wait().ok().flatten().is_some());
    assert!(ok.is_some(), "the publisher did not end");
}

fn assert_plays(path: &Path) -> f64 {
    let (codecs, duration) = probe_file(path);
    assert_eq!(codecs, ["h264", "aac"], "{}", path.display());
    let (ok, errors) = decode(path);
    assert!(
        ok && errors.trim().is_empty(),
        "{}: {errors}",
        path.display()
    );
    assert!(
        monotonic(path),
        "{}: timestamps not increasing",
        path.display()
    );
    duration
}

#[test]
fn a_configured_stream_is_recorded_in_playable_files_cut_by_segment_secs() {
    let hooks = hook_server();
    let env = [
        ("STROM_RECORD__STREAMS", r#"["live/*"]"#.to_string()),
        ("STROM_RECORD__SEGMENT_SECS", "4".into()),
        ("STROM_RECORD__FRAGMENT_MS", "500".into()),
        ("STROM_RECORD__MIN_FREE_BYTES", "0".into()),
        ("STROM_STREAM__CONTINUE_PUSH_MS", "1000".into()),
        ("STROM_HOOK__ON_RECORD_MP4", hooks.url("on_record_mp4")),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let strom = Strom::start("record-files", &[], &env);
    let rtmp = format!("rtmp://127.0.0.1:{}/live/cam", strom.rtmp_port);
    let mut publisher = publish(&rtmp, 11);
    strom.wait_live("cam", Duration::from_secs(10));
    let published = Instant::now();
    wait_exit(&mut publisher, Duration::from_secs(30));
    let publish_secs = published.elapsed().as_secs_f64();
    let done = wait_until(Duration::from_secs(15), || {
        metric(&strom, "strom_recordings") == Some(0.0)
            && hooks.calls_to("on_record_mp4").len() == mp4s(&strom.dir.join("record")).len()
    });
    assert!(
        done.is_some(),
        "recording did not end; log:\n{}",
        strom.log()
    );
    let files = mp4s(&strom.dir.join("record"));
    assert!(files.len() >= 3, "{files:?}; log:\n{}", strom.log());
    let mut total = 0.0;
    for (i, f) in files.iter().enumerate() {
        let d = assert_plays(f);
        if i + 1 < files.len() {
            assert!((3.9..5.1).contains(&d), "{}: {d} s", f.display());
        }
        total += d;
    }
    // Within a GOP (1 s) of what was published, counted from the first keyframe.
    assert!(
        (total - publish_secs).abs() < 1.5,
        "{total} s recorded of {publish_secs} s"
    );
    let calls = hooks.calls_to("on_record_mp4");
    for body in &calls {
        let path = PathBuf::from(body["file_path"].as_str().expect("file_path"));
        assert!(files.contains(&path), "{body}");
        let len = std::fs::metadata(&path).expect("file").len();
        assert_eq!(body["file_size"].as_u64(), Some(len), "{body}");
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(body["file_name"].as_str(), Some(name));
        assert_eq!(
            (body["app"].as_str(), body["stream"].as_str()),
            (Some("live"), Some("cam"))
        );
        assert_eq!(body["vhost"].as_str(), Some("__defaultVhost__"));
        let url = body["url"].as_str().expect("url");
        assert!(
            url.starts_with("record/live/cam/") && url.ends_with(name),
            "{url}"
        );
        assert!(
            body["folder"].as_str().is_some_and(|f| path.starts_with(f)),
            "{body}"
        );
        assert!(body["start_time"]
            .as_u64()
            .is_some_and(|t| t > 1_700_000_000));
        assert!(
            body["time_len"]
                .as_f64()
                .is_some_and(|t| t > 0.5 && t < 5.5),
            "{body}"
        );
        assert!(body["mediaServerId"].is_string());
    }
    assert_eq!(
        metric(&strom, "strom_record_files_total"),
        Some(files.len() as f64)
    );
    strom.terminate(Duration::from_secs(10));
}

#[test]
fn kill_9_leaves_a_playable_file_closed_in_the_catalogue_at_the_next_start() {
    let dir = scratch_dir("record-kill-dir");
    let record = dir.join("record");
    let env = [
        ("STROM_RECORD__STREAMS", r#"["live/cam"]"#.to_string()),
        ("STROM_RECORD__DIR", record.display().to_string()),
        ("STROM_RECORD__FRAGMENT_MS", "500".into()),
        ("STROM_RECORD__MIN_FREE_BYTES", "0".into()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let strom = Strom::start("record-kill", &[], &env);
    let rtmp = format!("rtmp://127.0.0.1:{}/live/cam", strom.rtmp_port);
    let publisher = publish(&rtmp, 30);
    strom.wait_live("cam", Duration::from_secs(10));
    // Four seconds of fragments on disk (their sidecar records follow them).
    let indexed = wait_until(Duration::from_secs(20), || {
        mp4s(&record).first().is_some_and(|f| {
            let idx =
                f.with_file_name(format!(".{}.idx", f.file_name().unwrap().to_string_lossy()));
            std::fs::metadata(idx).is_ok_and(|m| m.len() >= 8 * 24)
        })
    });
    assert!(indexed.is_some(), "nothing recorded; log:\n{}", strom.log());
    let killed = Command::new("kill")
        .args(["-9", &strom.pid().to_string()])
        .status();
    assert!(killed.is_ok_and(|s| s.success()));
    stop(publisher);
    let file = mp4s(&record).remove(0);
    let (codecs, duration) = probe_file(&file);
    assert_eq!(codecs, ["h264", "aac"]);
    assert!(duration >= 3.5, "{duration} s left after kill -9");
    let (ok, _) = decode(&file);
    assert!(ok, "the file left by kill -9 does not decode");
    drop(strom);

    let again = Strom::start("record-kill-again", &[], &env);
    again.wait_for_log(
        &["recording left open by a crash closed"],
        Duration::from_secs(10),
    );
    again.terminate(Duration::from_secs(10));
    let catalogue = strom::record::catalogue::Catalogue::open(&record.join(".catalogue.redb"))
        .expect("catalogue");
    let rows = catalogue.all().expect("rows");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let entry = &rows[0].2;
    assert!(!entry.open, "{entry:?}");
    assert_eq!(entry.bytes, std::fs::metadata(&file).expect("file").len());
    assert!(
        entry.fragments >= 8 && entry.end_ms > rows[0].1 + 3000,
        "{entry:?}"
    );
    assert_plays(&file);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tmpfs mounted for one test, unmounted when dropped (even on failure).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, size: &str) -> Tmpfs {
        let dir = scratch_dir(name);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mount -t tmpfs needs root");
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// ffmpeg publishing noise (megabytes a second) with a keyframe a second.
fn publish_heavy(url: &str, secs: u32) -> Child {
    require("ffmpeg");
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25,noise=alls=60:allf=t",
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &secs.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-qp",
            "4",
            "-g",
            "25",
        ])
        .args([
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv",
        ])
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg starts")
}

#[test]
fn a_full_disk_suspends_recording_not_the_live_stream_and_recording_resumes() {
    let disk = Tmpfs::mount("record-tmpfs", "12m");
    let hooks = hook_server();
    let env = [
        ("STROM_RECORD__STREAMS", r#"["live/cam"]"#.to_string()),
        ("STROM_RECORD__DIR", disk.0.display().to_string()),
        ("STROM_RECORD__FRAGMENT_MS", "500".into()),
        ("STROM_RECORD__MIN_FREE_BYTES", (2u64 << 20).to_string()),
        ("STROM_RECORD__RESUME_CHECK_SECS", "1".into()),
        ("STROM_HOOK__ON_RECORD_MP4", hooks.url("on_record_mp4")),
        ("STROM_HOOK__ON_RECORD_DISK", hooks.url("on_record_disk")),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let strom = Strom::start("record-full", &[], &env);
    let rtmp = format!("rtmp://127.0.0.1:{}/live/cam", strom.rtmp_port);
    let publisher = publish_heavy(&rtmp, 90);
    strom.wait_live("cam", Duration::from_secs(10));
    let full = wait_until(Duration::from_secs(40), || {
        metric(&strom, "strom_record_disk_full") == Some(1.0)
    });
    assert!(
        full.is_some(),
        "the disk never filled; log:\n{}",
        strom.log()
    );
    // While full: a live player keeps its frame rate and /healthz is fast.
    let flv = format!("http://127.0.0.1:{}/live/cam.live.flv", strom.http_port);
    let player = play(&flv, Some(6));
    let asked = Instant::now();
    let (status, _) = strom.get("/healthz");
    assert_eq!(status, 200);
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "{:?}",
        asked.elapsed()
    );
    let played = finish(player, Duration::from_secs(20));
    assert!(
        played.dts.len() >= 140,
        "{} frames in 6 s: {}",
        played.dts.len(),
        played.stderr
    );
    assert!(
        played.max_gap_ms() <= 200,
        "gap of {} ms",
        played.max_gap_ms()
    );
    assert!(strom.log().contains("recording disk full"));
    let disk_calls = hooks.calls_to("on_record_disk");
    assert_eq!(
        disk_calls.first().map(|b| b["state"].clone()),
        Some("full".into())
    );
    // Every file left is whole and plays.
    let before = mp4s(&disk.0);
    assert!(!before.is_empty());
    for f in &before {
        let (ok, errors) = decode(f);
        assert!(ok && errors.trim().is_empty(), "{}: {errors}", f.display());
    }
    // Space returns: recording resumes in a new file.
    for f in &before {
        let _ = std::fs::remove_file(f);
    }
    let resumed = wait_until(Duration::from_secs(20), || {
        metric(&strom, "strom_record_disk_full") == Some(0.0) && !mp4s(&disk.0).is_empty()
    });
    assert!(
        resumed.is_some(),
        "recording did not resume; log:\n{}",
        strom.log()
    );
    let states: Vec<Value> = hooks
        .calls_to("on_record_disk")
        .iter()
        .map(|b| b["state"].clone())
        .collect();
    assert!(states.contains(&"resumed".into()), "{states:?}");
    assert!(metric(
        &strom,
        "strom_record_fragments_dropped_total{reason=\"disk_full\"}"
    )
    .is_some_and(|n| n > 0.0));
    stop(publisher);
    strom.terminate(Duration::from_secs(10));
}

#[test]
fn enable_mp4_in_the_on_publish_answer_records_and_shutdown_closes_the_file() {
    let hooks = hook_server();
    let dir = scratch_dir("record-hook-dir");
    let record = dir.join("record");
    let env = [
        ("STROM_HOOK__ON_PUBLISH", hooks.url("on_publish")),
        ("STROM_RECORD__DIR", record.display().to_string()),
        ("STROM_RECORD__MIN_FREE_BYTES", "0".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let strom = Strom::start("record-hook", &[], &env);
    let rec = publish(
        &format!("rtmp://127.0.0.1:{}/live/rec1", strom.rtmp_port),
        30,
    );
    let plain = publish(
        &format!("rtmp://127.0.0.1:{}/live/plain", strom.rtmp_port),
        30,
    );
    strom.wait_live("rec1", Duration::from_secs(10));
    strom.wait_live("plain", Duration::from_secs(10));
    let written = wait_until(Duration::from_secs(20), || {
        metric(&strom, "strom_record_bytes_total").is_some_and(|b| b > 100_000.0)
    });
    assert!(written.is_some(), "nothing recorded; log:\n{}", strom.log());
    assert_eq!(metric(&strom, "strom_recordings"), Some(1.0));
    // SIGTERM while recording: the file is closed in the catalogue.
    strom.terminate(Duration::from_secs(15));
    stop(rec);
    stop(plain);
    let files = mp4s(&record);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with(record.join("live/rec1")));
    assert_plays(&files[0]);
    let catalogue = strom::record::catalogue::Catalogue::open(&record.join(".catalogue.redb"))
        .expect("catalogue");
    let rows = catalogue.all().expect("rows");
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].2.open, "{rows:?}");
    assert_eq!(
        rows[0].2.bytes,
        std::fs::metadata(&files[0]).expect("file").len()
    );
}
