//! ZLMediaKit's record calls under `/index/api/`, with its parameters and
//! answers (HTTP 200, `code` 0 on success, -300 bad arguments, -1 failure):
//!
//! - `startRecord?type=1&vhost=&app=&stream=` → `{code, result, msg}`.
//!   `type=0` (HLS) is refused: strom records MP4 only; -500 for a stream
//!   that is not live. `customized_path` and `max_second` are not supported
//!   (`record.dir`, `record.segment_secs`).
//! - `stopRecord` → `{code, result, msg}`; `isRecording` → `{code, status}`.
//! - `getMp4RecordFile` (also spelt `getMP4RecordFile`) `?period=YYYY-MM-DD`
//!   → `data.paths`: the day's file names, `data.rootPath`: their folder;
//!   with `period=YYYY-MM` (any shorter prefix) the stream's day folders.
//! - `deleteRecordDirectory?period=YYYY-MM-DD[&name=HH-MM-SS.mp4]`: deletes
//!   the day's files (or one), their indexes and catalogue rows, never the
//!   file being written → `{code, path}`. `period` is required (ZLMediaKit
//!   would delete every recording of the stream without it).
//! - `loadMP4File?app=&stream=&file_path=[&file_repeat=1]`: replays a
//!   recorded file as the live stream `app/stream` → `{code, data:
//!   {duration_ms}}`. `file_path` is relative to `record.dir` or an
//!   absolute path inside it (as `on_record_mp4` reports it).
//!
//! Paths never leave `record.dir`: every component is checked
//! ([`safe_component`]), so `..`, hidden names and separators are refused.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper::StatusCode;
use serde_json::{json, Value};
use stream_core::StreamKey;

use super::{off_loop, Unanswered};
use crate::disk_path::{safe_component, stream_dir};
use crate::http::reply::{json as reply_json, Reply};
use crate::http::url::query_param;
use crate::record::layout::{index_path, parse_time, stream_name};
use crate::record::replay::{start_replay, ReplayRequest, ReplaySource};
use crate::record::Reason;
use crate::server::Shared;

const INVALID_ARGS: i64 = -300;
const FAILED: i64 = -1;
const NOT_FOUND: i64 = -500;

/// The calls answered here.
const CALLS: [&str; 7] = [
    "startRecord",
    "stopRecord",
    "isRecording",
    "getMp4RecordFile",
    "getMP4RecordFile",
    "deleteRecordDirectory",
    "loadMP4File",
];

/// Whether `/index/api/{name}` is a record call answered here.
pub fn is_zlm(name: &str) -> bool {
    CALLS.contains(&name)
}

/// Whether the record call only reads.
pub fn is_read_only(name: &str) -> bool {
    matches!(
        name,
        "isRecording" | "getMp4RecordFile" | "getMP4RecordFile"
    )
}

fn answer(body: Value) -> Reply {
    reply_json(StatusCode::OK, &body)
}

fn invalid(msg: &str) -> Reply {
    answer(json!({ "code": INVALID_ARGS, "msg": msg }))
}

fn failed(msg: &str) -> Reply {
    answer(json!({ "code": FAILED, "msg": msg }))
}

fn unanswered(e: &Unanswered) -> Reply {
    failed(e.message())
}

/// Answers one record call (`name` is one of [`is_zlm`]).
pub async fn handle(shared: &Arc<Shared>, name: &str, query: &str) -> Reply {
    let arg = |k: &str| query_param(query, k).filter(|v| !v.is_empty());
    let key = match (arg("app"), arg("stream")) {
        (Some(app), Some(stream)) => match StreamKey::parse(app, stream) {
            Ok(key) => key,
            Err(e) => return invalid(&e.to_string()),
        },
        _ => return invalid("app and stream are required"),
    };
    match name {
        "startRecord" | "stopRecord" | "isRecording" => {
            match arg("type").as_deref() {
                Some("1") => {}
                Some("0") => {
                    return answer(json!({
                        "code": FAILED,
                        "result": false,
                        "status": false,
                        "msg": "HLS recording (type=0) is not supported: strom records MP4 (type=1)",
                    }))
                }
                _ => return invalid("type is required: 1 (mp4)"),
            }
            record(shared, name, &key)
        }
        "getMp4RecordFile" | "getMP4RecordFile" => {
            list_files(shared, &key, &arg("period").unwrap_or_default()).await
        }
        "deleteRecordDirectory" => {
            let Some(period) = arg("period") else {
                return invalid("period (YYYY-MM-DD) is required");
            };
            delete(shared, key, period, arg("name")).await
        }
        _ => load(shared, key, arg("file_path"), arg("file_repeat")).await,
    }
}

fn record(shared: &Shared, name: &str, key: &StreamKey) -> Reply {
    let recordings = &shared.recordings;
    match name {
        "isRecording" => answer(json!({ "code": 0, "status": recordings.is_recording(key) })),
        "stopRecord" => {
            let stopped = recordings.stop(key);
            if stopped {
                tracing::info!(stream = %key, "recording stopped through the ZLMediaKit API");
            }
            answer(json!({
                "code": if stopped { 0 } else { FAILED },
                "result": stopped,
                "msg": if stopped { "success" } else { "stop record failed: not recording" },
            }))
        }
        _ if recordings.is_recording(key) => {
            answer(json!({ "code": 0, "result": true, "msg": "success" }))
        }
        _ => match recordings.start(key, Reason::Api) {
            Ok(()) => {
                tracing::info!(stream = %key, "recording started through the ZLMediaKit API");
                answer(json!({ "code": 0, "result": true, "msg": "success" }))
            }
            Err(crate::record::RecordError::NotLive) => answer(json!({
                "code": NOT_FOUND,
                "result": false,
                "msg": "can not find the stream",
            })),
            Err(e) => answer(json!({
                "code": FAILED,
                "result": false,
                "msg": format!("start record failed: {e}"),
            })),
        },
    }
}

/// `YYYY-MM-DD` exactly (a real date): a day folder's name.
fn is_day(period: &str) -> bool {
    period.len() == 10
        && period.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        })
        && parse_time(period).is_some()
}

/// A prefix of a day folder's name (`2026`, `2026-12`, …), or nothing.
fn is_day_prefix(period: &str) -> bool {
    period.len() < 10 && period.bytes().all(|b| b.is_ascii_digit() || b == b'-')
}

/// The stream's folder as an absolute path (what ZLMediaKit's `rootPath`
/// shows).
fn absolute_stream_dir(shared: &Shared, key: &StreamKey) -> Option<PathBuf> {
    let dir = stream_dir(shared.recordings.root(), key)?;
    Some(std::path::absolute(&dir).unwrap_or(dir))
}

fn shown(dir: &Path) -> String {
    format!("{}/", dir.display())
}

async fn list_files(shared: &Shared, key: &StreamKey, period: &str) -> Reply {
    let day = is_day(period);
    if !day && !is_day_prefix(period) {
        return invalid("period: YYYY-MM-DD for the day's files, YYYY-MM for the month's days");
    }
    let Some(stream_dir) = absolute_stream_dir(shared, key) else {
        return invalid("this stream's name cannot be a directory name");
    };
    let dir = if day {
        stream_dir.join(period)
    } else {
        stream_dir
    };
    let (scan, prefix) = (dir.clone(), period.to_string());
    let listed = off_loop(move || {
        let mut names = Vec::new();
        // A folder that does not exist lists nothing, as in ZLMediaKit.
        for entry in std::fs::read_dir(&scan).into_iter().flatten().flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let wanted = if day {
                !is_dir && name.ends_with(".mp4") && !name.starts_with('.')
            } else {
                is_dir && is_day(&name) && name.starts_with(&prefix)
            };
            if wanted {
                names.push(name);
            }
        }
        names.sort();
        names
    })
    .await;
    match listed {
        Ok(paths) => answer(json!({ "code": 0, "data": {
            "rootPath": shown(&dir),
            "paths": paths,
        }})),
        Err(e) => unanswered(&e),
    }
}

async fn delete(
    shared: &Arc<Shared>,
    key: StreamKey,
    period: String,
    name: Option<String>,
) -> Reply {
    if !is_day(&period) {
        return invalid("period must be a day: YYYY-MM-DD");
    }
    if let Some(n) = &name {
        if !safe_component(n) || !n.ends_with(".mp4") {
            return invalid("name must be a recording's file name (HH-MM-SS.mp4) in that day");
        }
    }
    let Some(stream_dir) = absolute_stream_dir(shared, &key) else {
        return invalid("this stream's name cannot be a directory name");
    };
    let dir = stream_dir.join(&period);
    let shown_path = match &name {
        Some(n) => dir.join(n).display().to_string(),
        None => shown(&dir),
    };
    // The files being written: never deleted.
    let writing: HashSet<String> = shared
        .recordings
        .status()
        .into_iter()
        .filter(|s| s.key == key)
        .filter_map(|s| s.file)
        .collect();
    let shared = shared.clone();
    let outcome =
        off_loop(move || delete_files(&shared, &key, &dir, &period, name, &writing)).await;
    match outcome {
        Ok(Ok(deleted)) => answer(json!({ "code": 0, "path": shown_path, "deleted": deleted })),
        Ok(Err(msg)) => answer(json!({ "code": FAILED, "path": shown_path, "msg": msg })),
        Err(e) => unanswered(&e),
    }
}

/// Deletes the closed recordings of `dir` (one day of `key`), or the one
/// called `name`, their indexes and their catalogue rows; the folder too
/// once empty. The number of files deleted.
fn delete_files(
    shared: &Shared,
    key: &StreamKey,
    dir: &Path,
    period: &str,
    name: Option<String>,
    writing: &HashSet<String>,
) -> Result<usize, String> {
    let stream = stream_name(key);
    let day_ms = parse_time(period).ok_or("bad period")?;
    let catalogue = shared.recordings.catalogue().map_err(|e| e.to_string())?;
    let rows = catalogue
        .list(&stream, day_ms, day_ms + 86_400_000)
        .map_err(|e| e.to_string())?;
    let relative = |file: &str| format!("{}/{}/{period}/{file}", key.app, key.stream);
    let single = name.is_some();
    let names: Vec<String> = match name {
        Some(n) => vec![n],
        None => std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".mp4") && !n.starts_with('.'))
            .collect(),
    };
    let mut victims = Vec::new();
    for n in names {
        let rel = relative(&n);
        if single && !dir.join(&n).is_file() {
            return Err(format!("{rel}: no such recording"));
        }
        let open = rows.iter().any(|(_, f)| f.path == rel && f.open);
        if open || writing.contains(&rel) {
            if single {
                return Err(format!("{rel} is being recorded; stop the recording first"));
            }
            continue; // the day's other files go
        }
        victims.push((n, rel));
    }
    let keys: Vec<(String, u64)> = rows
        .iter()
        .filter(|(_, f)| victims.iter().any(|(_, rel)| *rel == f.path))
        .map(|(start, _)| (stream.clone(), *start))
        .collect();
    // Rows first: a listing never shows a file that is gone.
    catalogue.remove(&keys).map_err(|e| e.to_string())?;
    let mut deleted = 0;
    for (n, rel) in &victims {
        let path = dir.join(n);
        match std::fs::remove_file(&path) {
            Ok(()) => deleted += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{rel}: {e}")),
        }
        let _ = std::fs::remove_file(index_path(&path));
    }
    // Only once empty (a file being written stays, and so does its folder).
    let _ = std::fs::remove_dir(dir);
    tracing::info!(stream = %key, period, deleted, "recordings deleted through the ZLMediaKit API");
    Ok(deleted)
}

async fn load(
    shared: &Arc<Shared>,
    key: StreamKey,
    file_path: Option<String>,
    file_repeat: Option<String>,
) -> Reply {
    let Some(file_path) = file_path else {
        return invalid("file_path is required");
    };
    let Some(relative) = inside_root(shared.recordings.root(), &file_path) else {
        return invalid("file_path must name a recording inside record.dir");
    };
    let repeat = matches!(file_repeat.as_deref(), Some("1" | "true"));
    let req = ReplayRequest {
        key: key.clone(),
        source: ReplaySource::File(relative.clone()),
        repeat,
    };
    match start_replay(shared, req).await {
        Ok(replay) => {
            tracing::info!(stream = %key, file = %relative.display(), repeat, "recording replayed through the ZLMediaKit API");
            answer(json!({ "code": 0, "data": { "duration_ms": replay.duration_ms } }))
        }
        Err(e) => failed(&format!("loadMP4File: {e}")),
    }
}

/// `file_path` as a path relative to `root`, when it names something
/// inside it: relative (to `root`) or absolute under `root`, each
/// component a [`safe_component`] (so no `..`, no hidden names).
fn inside_root(root: &Path, file_path: &str) -> Option<PathBuf> {
    if !file_path.ends_with(".mp4") {
        return None;
    }
    let relative = if file_path.starts_with('/') {
        let root = std::path::absolute(root).ok()?;
        let root = root.to_str()?.trim_end_matches('/');
        file_path.strip_prefix(root)?.strip_prefix('/')?
    } else {
        file_path
    };
    let parts: Vec<&str> = relative.split('/').collect();
    parts
        .iter()
        .all(|p| safe_component(p))
        .then(|| parts.iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_record_directory() {
        let root = Path::new("/srv/record");
        let ok = inside_root(root, "live/cam/2026-12-06/10-00-00.mp4");
        assert_eq!(ok, Some(PathBuf::from("live/cam/2026-12-06/10-00-00.mp4")));
        assert_eq!(
            inside_root(root, "/srv/record/live/cam/2026-12-06/10-00-00.mp4"),
            ok
        );
        for bad in [
            "",
            "../etc/passwd.mp4",
            "live/../../x.mp4",
            "/etc/x.mp4",
            "/srv/record/../x.mp4",
            "/srv/recordings/x.mp4",
            "live/cam/.10-00-00.mp4.idx",
            "live/cam/2026-12-06/.hidden.mp4",
            "live/cam/2026-12-06/10-00-00.txt",
            "live//cam/./x.mp4",
            "live\\..\\x.mp4",
        ] {
            assert_eq!(inside_root(root, bad), None, "{bad:?} accepted");
        }
    }

    #[test]
    fn periods_are_days_or_their_prefixes() {
        assert!(is_day("2026-12-06"));
        assert!(!is_day("2026-12-6x") && !is_day("2026-13-06") && !is_day("../../etc"));
        assert!(is_day_prefix("2026-12") && is_day_prefix("") && is_day_prefix("2026"));
        assert!(!is_day_prefix("2026/..") && !is_day_prefix("x"));
    }
}
