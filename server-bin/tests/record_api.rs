//! The recording control plane against the real binary: starting and
//! stopping by strom's API and by ZLMediaKit's calls while ffmpeg
//! publishes, the files listed by the listing endpoint (as a span) and by
//! `getMp4RecordFile`, `deleteRecordDirectory` removing files and their
//! catalogue rows, and the refusals: bad and traversing paths, callers
//! without the secret, other sites' pages.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::media::{publish, stop};
use common::{encode, json, scratch_dir, wait_until, Strom};
use serde_json::json;

const SECRET: &str = "r3c-k3y";

/// strom with a secret, no trusted network, and `extra` TOML.
fn start(name: &str, extra: &str) -> (Strom, PathBuf) {
    let dir = scratch_dir(&format!("{name}-config"));
    let path = dir.join("strom.toml");
    std::fs::write(
        &path,
        format!("[api]\nsecret = \"{SECRET}\"\ntrusted_networks = []\n{extra}"),
    )
    .expect("config written");
    let strom = Strom::start(name, &["--config", &path.to_string_lossy()], &[]);
    (strom, dir)
}

/// `method path` with the secret; status and JSON body.
fn call(strom: &Strom, method: &str, path: &str) -> (u16, serde_json::Value) {
    let auth = format!("Bearer {SECRET}");
    let (status, body) = strom.request(method, path, &[("Authorization", &auth)]);
    (status, json(&body))
}

/// A ZLMediaKit call (its answers are always HTTP 200): the body.
fn zlm(strom: &Strom, call_and_args: &str) -> serde_json::Value {
    let (status, v) = call(strom, "GET", &format!("/index/api/{call_and_args}"));
    assert_eq!(status, 200, "{call_and_args}: {v}");
    v
}

/// The listing of `live/{name}` over the last hour.
fn listing(strom: &Strom, name: &str) -> serde_json::Value {
    let (status, v) = call(strom, "GET", &format!("/api/v1/recordings/live/{name}"));
    assert_eq!(status, 200, "{v}");
    v
}

fn closed_files(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["files"]
        .as_array()
        .map(|f| f.iter().filter(|f| f["open"] == false).cloned().collect())
        .unwrap_or_default()
}

#[test]
fn recordings_start_stop_list_and_delete_through_both_apis() {
    let (strom, _config) = start("record-api", "[record]\nsegment_secs = 2\n");
    let publisher = publish(
        &format!("rtmp://127.0.0.1:{}/live/rec", strom.rtmp_port),
        40,
    );
    let live = wait_until(Duration::from_secs(10), || {
        let (status, v) = call(&strom, "GET", "/api/v1/streams/live/rec");
        status == 200 && v["state"] == "live" && v.to_string().contains("H264")
    });
    assert!(live.is_some(), "live/rec never went live:\n{}", strom.log());

    // strom's API: start, conflict, status.
    let (status, v) = call(&strom, "POST", "/api/v1/recordings/live/rec");
    assert_eq!(
        (status, &v["recording"]["reason"]),
        (201, &json!("api")),
        "{v}"
    );
    let (status, v) = call(&strom, "POST", "/api/v1/recordings/live/rec");
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("already_recording"))
    );
    let (_, v) = call(&strom, "GET", "/api/v1/recordings");
    let active = v["recordings"].as_array().expect("recordings");
    assert!(
        active
            .iter()
            .any(|r| r["app"] == "live" && r["stream"] == "rec" && r["reason"] == "api"),
        "{v}"
    );
    let is_recording = "isRecording?type=1&vhost=__defaultVhost__&app=live&stream=rec";
    assert_eq!(zlm(&strom, is_recording)["status"], true);

    // Files are cut every 2 s: wait for a closed one in the listing.
    let mut files = Vec::new();
    let found = wait_until(Duration::from_secs(20), || {
        files = closed_files(&listing(&strom, "rec"));
        !files.is_empty()
    });
    assert!(
        found.is_some(),
        "no closed file listed: {}",
        listing(&strom, "rec")
    );
    let (status, _) = call(&strom, "DELETE", "/api/v1/recordings/live/rec");
    assert_eq!(status, 200);
    let (status, v) = call(&strom, "DELETE", "/api/v1/recordings/live/rec");
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("not_recording"))
    );
    assert_eq!(zlm(&strom, is_recording)["status"], false);

    // ZLMediaKit's calls: HLS refused, MP4 started and stopped.
    let hls = zlm(
        &strom,
        "startRecord?type=0&vhost=__defaultVhost__&app=live&stream=rec",
    );
    assert_eq!(
        (hls["code"].as_i64(), hls["result"].as_bool()),
        (Some(-1), Some(false))
    );
    assert!(
        hls["msg"].as_str().is_some_and(|m| m.contains("HLS")),
        "{hls}"
    );
    let started = zlm(
        &strom,
        "startRecord?type=1&vhost=__defaultVhost__&app=live&stream=rec",
    );
    assert_eq!(
        (started["code"].as_i64(), started["result"].as_bool()),
        (Some(0), Some(true))
    );
    assert_eq!(zlm(&strom, is_recording)["status"], true);
    let stopped = zlm(
        &strom,
        "stopRecord?type=1&vhost=__defaultVhost__&app=live&stream=rec",
    );
    assert_eq!(
        (stopped["code"].as_i64(), stopped["result"].as_bool()),
        (Some(0), Some(true))
    );
    assert_eq!(zlm(&strom, is_recording)["status"], false);

    // Files close on the writer threads: once all are, the listing merges
    // contiguous ones into spans.
    let mut v = json!(null);
    let closed = wait_until(Duration::from_secs(10), || {
        v = listing(&strom, "rec");
        v["files"]
            .as_array()
            .is_some_and(|f| f.iter().all(|f| f["open"] == false))
    });
    assert!(closed.is_some(), "files still open after the stop: {v}");
    let files = closed_files(&v);
    let spans = v["spans"].as_array().expect("spans");
    assert!(!spans.is_empty() && spans.len() <= files.len(), "{v}");
    let in_spans: u64 = spans.iter().filter_map(|s| s["files"].as_u64()).sum();
    assert_eq!(in_spans as usize, files.len(), "{v}");
    assert!(spans.iter().all(|s| s["url"]
        .as_str()
        .is_some_and(|u| u.starts_with("/api/v1/recordings/live/rec/get?start="))));
    assert!(
        spans.iter().any(|s| s["files"].as_u64() > Some(1)),
        "contiguous 2 s files make one span: {v}"
    );

    // getMp4RecordFile: the day's files, the month's days.
    let first = files[0]["path"].as_str().expect("path").to_string();
    let parts: Vec<&str> = first.split('/').collect();
    let [_, _, day, name] = parts.as_slice() else {
        panic!("path {first} is not app/stream/day/file")
    };
    let day_list = zlm(
        &strom,
        &format!("getMp4RecordFile?vhost=__defaultVhost__&app=live&stream=rec&period={day}"),
    );
    assert_eq!(day_list["code"], 0, "{day_list}");
    let paths: Vec<&str> = day_list["data"]["paths"]
        .as_array()
        .map(|p| p.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    assert!(paths.contains(name), "{day_list}");
    assert!(
        paths
            .iter()
            .all(|p| p.ends_with(".mp4") && !p.starts_with('.')),
        "{day_list}"
    );
    assert!(day_list["data"]["rootPath"]
        .as_str()
        .is_some_and(|r| r.ends_with(&format!("/live/rec/{day}/")) && r.starts_with('/')));
    let month = zlm(
        &strom,
        &format!(
            "getMP4RecordFile?vhost=__defaultVhost__&app=live&stream=rec&period={}",
            &day[..7]
        ),
    );
    assert_eq!(month["data"]["paths"], json!([day]), "{month}");

    // deleteRecordDirectory: one file, then the day.
    let on_disk = strom.dir.join("record").join(&first);
    assert!(on_disk.is_file() && index_of(&on_disk).is_file());
    let gone = zlm(&strom, &format!("deleteRecordDirectory?vhost=__defaultVhost__&app=live&stream=rec&period={day}&name={name}"));
    assert_eq!(
        (gone["code"].as_i64(), gone["deleted"].as_u64()),
        (Some(0), Some(1)),
        "{gone}"
    );
    assert!(!on_disk.exists() && !index_of(&on_disk).exists());
    let v = listing(&strom, "rec");
    let listed = v["files"].as_array().expect("files");
    assert!(
        listed.iter().all(|f| f["path"] != first.as_str()),
        "row left: {v}"
    );
    assert_eq!(listed.len(), files.len() - 1);
    let gone = zlm(
        &strom,
        &format!("deleteRecordDirectory?vhost=__defaultVhost__&app=live&stream=rec&period={day}"),
    );
    assert_eq!(gone["code"], 0, "{gone}");
    assert!(
        !on_disk.parent().expect("day folder").exists(),
        "day folder left"
    );
    assert_eq!(listing(&strom, "rec")["files"], json!([]));
    stop(publisher);
}

fn index_of(mp4: &Path) -> PathBuf {
    let name = mp4.file_name().and_then(|n| n.to_str()).expect("file name");
    mp4.with_file_name(format!(".{name}.idx"))
}

#[test]
fn bad_paths_callers_and_sites_are_refused() {
    let (strom, _config) = start("record-api-refusals", "");
    let outside = strom.dir.join("outside.mp4");
    std::fs::write(&outside, b"not a recording").expect("a file outside record.dir");
    let abs_outside = outside.to_string_lossy().into_owned();
    let sneaky = format!("{}/record/../outside.mp4", strom.dir.display());
    let base = "vhost=__defaultVhost__&app=live&stream=cam";
    for call_and_args in [
        format!("getMp4RecordFile?{base}&period={}", encode("../../etc")),
        format!(
            "getMp4RecordFile?vhost=__defaultVhost__&app=live&stream={}&period=2026-12-06",
            encode("..")
        ),
        format!("deleteRecordDirectory?{base}"),
        format!("deleteRecordDirectory?{base}&period=2026-12"),
        format!(
            "deleteRecordDirectory?{base}&period={}",
            encode("2026-12-06/../..")
        ),
        format!(
            "deleteRecordDirectory?{base}&period=2026-12-06&name={}",
            encode("../../../outside.mp4")
        ),
        format!(
            "deleteRecordDirectory?{base}&period=2026-12-06&name={}",
            encode(".10-00-00.mp4.idx")
        ),
        format!("loadMP4File?{base}&file_path={}", encode("../outside.mp4")),
        format!("loadMP4File?{base}&file_path={}", encode(&abs_outside)),
        format!("loadMP4File?{base}&file_path={}", encode(&sneaky)),
        format!("loadMP4File?{base}&file_path={}", encode("/etc/passwd")),
        format!("loadMP4File?{base}"),
        format!("startRecord?{base}"),
        "isRecording?type=1".to_string(),
    ] {
        let v = zlm(&strom, &call_and_args);
        assert_eq!(v["code"], -300, "{call_and_args}: {v}");
    }
    assert!(outside.is_file(), "a file outside record.dir was touched");

    let (status, v) = call(&strom, "GET", "/api/v1/recordings/live/cam?start=yesterday");
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("bad_range"))
    );
    let (status, v) = call(
        &strom,
        "GET",
        "/api/v1/recordings/live/cam?start=1796551200&end=1796551100",
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("bad_range"))
    );
    let (status, v) = call(
        &strom,
        "GET",
        "/api/v1/recordings/live/cam?start=2026-12-06T00:00:00Z",
    );
    assert_eq!(
        (status, &v["spans"], &v["files"]),
        (200, &json!([]), &json!([])),
        "{v}"
    );
    let (status, _) = call(&strom, "PUT", "/api/v1/recordings/live/cam");
    assert_eq!(status, 405);

    // A stream that is not live cannot be recorded.
    let (status, v) = call(&strom, "POST", "/api/v1/recordings/live/not-live");
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("stream_not_found")),
        "{v}"
    );
    let v = zlm(
        &strom,
        "startRecord?type=1&vhost=__defaultVhost__&app=live&stream=not-live",
    );
    assert_eq!(
        (v["code"].as_i64(), v["result"].as_bool()),
        (Some(-500), Some(false)),
        "{v}"
    );
    let (status, v) = call(&strom, "DELETE", "/api/v1/recordings/live/not-live");
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("not_recording"))
    );

    // Without the secret: refused like every API call.
    for path in ["/api/v1/recordings", "/api/v1/recordings/live/cam"] {
        let (status, _) = strom.request("GET", path, &[]);
        assert_eq!(status, 403, "{path}");
    }
    let (status, body) = strom.request(
        "GET",
        "/index/api/isRecording?type=1&app=live&stream=cam",
        &[],
    );
    assert_eq!(
        (status, json(&body)["code"].as_i64()),
        (200, Some(-100)),
        "{body}"
    );
    // From another site's page: the calls that change something are refused.
    let auth = format!("Bearer {SECRET}");
    let cross = [
        ("Authorization", auth.as_str()),
        ("Sec-Fetch-Site", "cross-site"),
    ];
    let (status, _) = strom.request("POST", "/api/v1/recordings/live/cam", &cross);
    assert_eq!(status, 403);
    for call_and_args in [
        "startRecord?type=1&app=live&stream=cam",
        "deleteRecordDirectory?app=live&stream=cam&period=2026-12-06",
        "loadMP4File?app=live&stream=cam&file_path=x.mp4",
    ] {
        let (status, _) = strom.request("GET", &format!("/index/api/{call_and_args}"), &cross);
        assert_eq!(status, 403, "{call_and_args}");
    }
    let (status, body) = strom.request(
        "GET",
        "/index/api/isRecording?type=1&app=live&stream=cam",
        &cross,
    );
    assert_eq!(
        (status, json(&body)["status"].as_bool()),
        (200, Some(false)),
        "{body}"
    );
}
