//! `/api/v1/recordings`: starting, stopping and listing recordings (the
//! control plane's part; the `…/get` download runs on a media worker, see
//! `http_media::recording_get`), and ZLMediaKit's record calls
//! (`zlm`).
//!
//! - `GET /api/v1/recordings`: every recording in progress (app, stream,
//!   reason, since, file, bytes, fragments, dropped).
//! - `POST /api/v1/recordings/{app}/{stream}`: records the live stream
//!   (201) until it ends or is stopped. 404 when it is not live (to record
//!   a stream from its every publish, name it in `record.streams` or answer
//!   `enable_mp4` to `on_publish`), 409 when already recorded, 400 for a
//!   name that cannot be a directory, 503 while the disk is full.
//! - `DELETE /api/v1/recordings/{app}/{stream}`: stops it (the file is
//!   closed); 404 when it was not recorded.
//! - `POST /api/v1/recordings/{app}/{stream}/replay?start=&duration=`
//!   (`&as=app/name`, `&repeat=1`): the recorded range replayed as a live
//!   stream (default name `{stream}_replay`), 201 with what was planned;
//!   404 nothing recorded, 409 the name is published, 503 at
//!   `record.max_replays`.
//! - `GET /api/v1/recordings/{app}/{stream}?start=&end=`: what is recorded
//!   between `start` and `end` (unix seconds or RFC 3339 UTC; default: the
//!   last 24 hours; at most [`MAX_RANGE_MS`]): the continuous `spans` (files
//!   merged when less than `spans::MAX_GAP_MS` apart with the same tracks)
//!   and the `files`, each with the URL of a `get` of its range.
//!
//! The catalogue is read on the blocking pool, at most [`MAX_READS`] at a
//! time and under [`READ_DEADLINE`]: a slow disk costs an answer, never the
//! control plane's event loop.

mod spans;
mod zlm;

pub use zlm::{handle as zlm, is_read_only as is_zlm_read_only, is_zlm};

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use stream_core::StreamKey;
use tokio::sync::Semaphore;

use super::api::method_not_allowed;
use super::reply::{error, json, Reply};
use super::url::query_param;
use crate::record::catalogue::{Catalogue, CatalogueError, FileEntry};
use crate::record::layout::{parse_time, stream_name, Utc};
use crate::record::replay::{start_replay, ReplayRequest, ReplaySource};
use crate::record::{Reason, RecordError};
use crate::server::Shared;

/// Catalogue and directory reads running at once at most; more get 503.
pub const MAX_READS: usize = 4;
/// A catalogue or directory read that takes longer is answered 503 (it
/// finishes on the blocking pool, holding its slot of [`MAX_READS`]).
pub const READ_DEADLINE: Duration = Duration::from_secs(5);
/// The widest range one listing covers.
pub const MAX_RANGE_MS: u64 = 366 * 24 * 3600 * 1000;
/// The range listed when none is given.
pub const DEFAULT_RANGE_MS: u64 = 24 * 3600 * 1000;

static READS: Semaphore = Semaphore::const_new(MAX_READS);

/// Why a blocking read gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Unanswered {
    /// [`MAX_READS`] reads are running.
    Busy,
    /// It took longer than [`READ_DEADLINE`].
    Late,
    /// It panicked.
    Failed,
}

impl Unanswered {
    fn message(&self) -> &'static str {
        match self {
            Unanswered::Busy => "too many recording reads at once; retry",
            Unanswered::Late => "the recordings' disk did not answer in time",
            Unanswered::Failed => "the recordings' read failed",
        }
    }

    fn reply(&self) -> Reply {
        let status = match self {
            Unanswered::Failed => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        error(status, "recordings_unavailable", self.message())
    }
}

/// Runs `read` (disk IO) on the blocking pool under [`READ_DEADLINE`],
/// [`MAX_READS`] at a time.
pub(super) async fn off_loop<T, F>(read: F) -> Result<T, Unanswered>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let permit = READS.try_acquire().map_err(|_| Unanswered::Busy)?;
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        read()
    });
    match tokio::time::timeout(READ_DEADLINE, task).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(_)) => Err(Unanswered::Failed),
        Err(_) => Err(Unanswered::Late),
    }
}

/// `/api/v1/recordings…`; `rest` is the path after `recordings`.
pub async fn strom(
    shared: &Arc<Shared>,
    method: &Method,
    rest: &[&str],
    query: Option<&str>,
) -> Reply {
    let query = query.unwrap_or("");
    match (method, rest) {
        (&Method::GET, []) => json(
            StatusCode::OK,
            &json!({ "recordings": shared.recordings.status() }),
        ),
        (_, []) => method_not_allowed("GET"),
        (m, [app, stream]) => {
            let Ok(key) = StreamKey::parse(*app, *stream) else {
                return error(StatusCode::BAD_REQUEST, "bad_name", "not a stream name");
            };
            match *m {
                Method::GET | Method::HEAD => list(shared, key, query).await,
                Method::POST => start(shared, &key),
                Method::DELETE => {
                    if shared.recordings.stop(&key) {
                        tracing::info!(stream = %key, "recording stopped through the API");
                        json(StatusCode::OK, &json!({ "stopped": 1 }))
                    } else {
                        error(
                            StatusCode::NOT_FOUND,
                            "not_recording",
                            &format!("{key} is not being recorded"),
                        )
                    }
                }
                _ => method_not_allowed("GET, POST, DELETE"),
            }
        }
        (&Method::POST, [app, stream, "replay"]) => match StreamKey::parse(*app, *stream) {
            Ok(key) => replay(shared, key, query).await,
            Err(_) => error(StatusCode::BAD_REQUEST, "bad_name", "not a stream name"),
        },
        (_, [_, _, "replay"]) => method_not_allowed("POST"),
        _ => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such recordings path",
        ),
    }
}

/// `POST …/{app}/{stream}/replay?start=&duration=[&as=app/name][&repeat=1]`:
/// the recorded range published as the live stream `as` (default
/// `{app}/{stream}_replay`), playable over every protocol while it runs.
async fn replay(shared: &Arc<Shared>, stream: StreamKey, query: &str) -> Reply {
    let bad = |why: &str| error(StatusCode::BAD_REQUEST, "bad_request", why);
    let Some(start_ms) = query_param(query, "start").and_then(|v| parse_time(&v)) else {
        return bad("start=: give unix seconds or an RFC 3339 UTC time");
    };
    let duration_ms = match query_param(query, "duration").map(|v| v.parse::<f64>()) {
        Some(Ok(d)) if d > 0.0 && d <= (MAX_RANGE_MS / 1000) as f64 => (d * 1000.0) as u64,
        _ => return bad("duration=: seconds, more than 0"),
    };
    let target = match query_param(query, "as") {
        Some(name) => match name.split_once('/').map(|(a, s)| StreamKey::parse(a, s)) {
            Some(Ok(key)) => key,
            _ => return bad("as=: app/stream of the live stream to publish"),
        },
        None => match StreamKey::parse(&stream.app, format!("{}_replay", stream.stream)) {
            Ok(key) => key,
            Err(_) => return bad("the stream's name is too long for a replay name; give as="),
        },
    };
    let repeat = matches!(query_param(query, "repeat").as_deref(), Some("1" | "true"));
    let req = ReplayRequest {
        key: target,
        source: ReplaySource::Range {
            stream,
            start_ms,
            duration_ms,
        },
        repeat,
    };
    match start_replay(shared, req).await {
        Ok(info) => json(
            StatusCode::CREATED,
            &json!({ "replay": {
                "app": info.key.app,
                "stream": info.key.stream,
                "start_ms": info.start_ms,
                "duration_ms": info.duration_ms,
                "files": info.files,
                "track_change_ms": info.track_change_ms,
                "repeat": repeat,
            } }),
        ),
        Err(e) => record_error(&e),
    }
}

fn start(shared: &Shared, key: &StreamKey) -> Reply {
    if shared.recordings.is_recording(key) {
        return error(
            StatusCode::CONFLICT,
            "already_recording",
            &format!("{key} is already being recorded"),
        );
    }
    match shared.recordings.start(key, Reason::Api) {
        Ok(()) => {
            tracing::info!(stream = %key, "recording started through the API");
            json(
                StatusCode::CREATED,
                &json!({ "recording": { "app": key.app, "stream": key.stream, "reason": Reason::Api } }),
            )
        }
        Err(e) => record_error(&e),
    }
}

/// The reply to a recording that could not start.
pub(super) fn record_error(e: &RecordError) -> Reply {
    let (status, code) = match e {
        RecordError::BadName => (StatusCode::BAD_REQUEST, "bad_name"),
        RecordError::NotLive => (StatusCode::NOT_FOUND, "stream_not_found"),
        RecordError::DiskFull => (StatusCode::SERVICE_UNAVAILABLE, "disk_full"),
        RecordError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        RecordError::NothingRecorded => (StatusCode::NOT_FOUND, "nothing_recorded"),
        RecordError::NameTaken(_) => (StatusCode::CONFLICT, "stream_exists"),
        RecordError::Catalogue(_) | RecordError::Io(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "record_failed")
        }
    };
    error(status, code, &e.to_string())
}

/// `[from, to)` in unix ms from `start` and `end` (default: the last
/// [`DEFAULT_RANGE_MS`] before `now_ms`, or that long after `start`).
fn range(query: &str, now_ms: u64) -> Result<(u64, u64), String> {
    let time = |name: &str| match query_param(query, name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse_time(&v).map(Some).ok_or_else(|| {
            format!(
                "{name}={v:?}: give unix seconds or an RFC 3339 UTC time (2026-12-06T10:00:00Z)"
            )
        }),
    };
    let (start, end) = (time("start")?, time("end")?);
    let (from, to) = match (start, end) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s.saturating_add(DEFAULT_RANGE_MS)),
        (None, Some(e)) => (e.saturating_sub(DEFAULT_RANGE_MS), e),
        (None, None) => (now_ms.saturating_sub(DEFAULT_RANGE_MS), now_ms),
    };
    if to <= from {
        return Err("end must be after start".into());
    }
    if to - from > MAX_RANGE_MS {
        return Err(format!(
            "at most {} days per listing",
            MAX_RANGE_MS / 86_400_000
        ));
    }
    Ok((from, to))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn list(shared: &Arc<Shared>, key: StreamKey, query: &str) -> Reply {
    let (from, to) = match range(query, now_ms()) {
        Ok(r) => r,
        Err(msg) => return error(StatusCode::BAD_REQUEST, "bad_range", &msg),
    };
    let shared = shared.clone();
    let read = move || -> Result<Value, String> {
        let catalogue = shared.recordings.catalogue().map_err(|e| e.to_string())?;
        listing(catalogue, &key, from, to).map_err(|e| e.to_string())
    };
    match off_loop(read).await {
        Ok(Ok(view)) => json(StatusCode::OK, &view),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "recordings listing failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "catalogue_failed", &e)
        }
        Err(e) => e.reply(),
    }
}

/// The listing of `key` over `[from_ms, to_ms)` from the catalogue: the
/// spans (clipped to the range) and the files overlapping it, each with
/// the URL of a `get` of its range. Reads the disk: never call it on an
/// event loop.
///
/// # Errors
/// The catalogue failed.
pub fn listing(
    catalogue: &Catalogue,
    key: &StreamKey,
    from_ms: u64,
    to_ms: u64,
) -> Result<Value, CatalogueError> {
    let files = catalogue.list(&stream_name(key), from_ms, to_ms)?;
    let merged = spans::merge(files.iter().map(|(start, f)| spans::Piece {
        start_ms: *start,
        end_ms: f.end_ms,
        bytes: f.bytes,
        tracks: &f.tracks,
    }));
    let spans: Vec<Value> = spans::clip(merged, from_ms, to_ms)
        .into_iter()
        .map(|s| {
            json!({
                "start": Utc::from_ms(s.start_ms).rfc3339(),
                "end": Utc::from_ms(s.end_ms).rfc3339(),
                "start_ms": s.start_ms,
                "end_ms": s.end_ms,
                "duration_secs": (s.end_ms - s.start_ms) as f64 / 1000.0,
                "bytes": s.bytes,
                "files": s.files,
                "tracks": s.tracks,
                "url": get_url(key, s.start_ms, s.end_ms),
            })
        })
        .collect();
    let files: Vec<Value> = files
        .iter()
        .map(|(start, f)| file_view(key, *start, f))
        .collect();
    Ok(json!({
        "app": key.app,
        "stream": key.stream,
        "start": Utc::from_ms(from_ms).rfc3339(),
        "end": Utc::from_ms(to_ms).rfc3339(),
        "spans": spans,
        "files": files,
    }))
}

fn file_view(key: &StreamKey, start_ms: u64, f: &FileEntry) -> Value {
    json!({
        "start": Utc::from_ms(start_ms).rfc3339(),
        "end": Utc::from_ms(f.end_ms).rfc3339(),
        "start_ms": start_ms,
        "end_ms": f.end_ms,
        "bytes": f.bytes,
        "path": f.path,
        "tracks": f.tracks,
        "fragments": f.fragments,
        "open": f.open,
        "url": get_url(key, start_ms, f.end_ms),
    })
}

/// The `get` of `[start_ms, end_ms]`, in whole seconds covering it.
fn get_url(key: &StreamKey, start_ms: u64, end_ms: u64) -> String {
    let start = start_ms / 1000;
    let duration = end_ms.saturating_sub(start * 1000).div_ceil(1000).max(1);
    format!(
        "/api/v1/recordings/{}/{}/get?start={start}&duration={duration}&format=mp4",
        key.app, key.stream
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_765_015_205_000; // 2025-12-06T10:00:05Z

    #[test]
    fn ranges_take_unix_seconds_or_rfc3339_and_default_to_a_day() {
        assert_eq!(range("", NOW), Ok((NOW - DEFAULT_RANGE_MS, NOW)));
        assert_eq!(
            range("start=1765015205&end=2025-12-06T11:00:05Z", NOW),
            Ok((NOW, NOW + 3_600_000))
        );
        assert_eq!(
            range("start=2025-12-06T10:00:05.5Z", NOW),
            Ok((NOW + 500, NOW + 500 + DEFAULT_RANGE_MS))
        );
        assert_eq!(
            range("end=1765015205", NOW),
            Ok((NOW - DEFAULT_RANGE_MS, NOW))
        );
        // Percent-encoded, as a browser sends it.
        assert_eq!(
            range("start=2025-12-06T10%3A00%3A05Z&end=1765015206", NOW),
            Ok((NOW, NOW + 1000))
        );
        for bad in [
            "start=yesterday",
            "start=2025-12-06T10:00:05+02:00",
            "start=1765015205&end=1765015205",
            "start=1765015205&end=1765015204",
            "start=0&end=1765015205",
            "end=-3",
        ] {
            assert!(range(bad, NOW).is_err(), "{bad} accepted");
        }
    }

    /// Above [`MAX_READS`] reads at once every further one is refused at
    /// once; a read past [`READ_DEADLINE`] is answered 503 but keeps its
    /// slot until it really ends; every slot comes back. The only test in
    /// this process that takes the static `READS`.
    #[tokio::test(start_paused = true)]
    async fn catalogue_reads_above_the_cap_are_refused_at_once() {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = Arc::new(std::sync::Mutex::new(wait));
        let stuck: Vec<_> = (0..MAX_READS)
            .map(|_| {
                let wait = wait.clone();
                tokio::spawn(off_loop(move || {
                    // A disk that does not answer: bounded in real time.
                    let w = wait.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = w.recv_timeout(std::time::Duration::from_secs(30));
                }))
            })
            .collect();
        while READS.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let t0 = tokio::time::Instant::now();
        for _ in 0..100 {
            assert_eq!(off_loop(|| 1).await, Err(Unanswered::Busy));
        }
        assert_eq!(t0.elapsed(), Duration::ZERO, "a refusal waited");
        // The paused clock does not run by itself while blocking tasks are
        // out: move it past the deadline.
        tokio::time::advance(READ_DEADLINE + Duration::from_millis(1)).await;
        for s in stuck {
            assert_eq!(s.await.unwrap(), Err(Unanswered::Late));
        }
        assert!(t0.elapsed() >= READ_DEADLINE);
        // Answered late, still reading: the slots stay taken.
        assert_eq!(off_loop(|| 1).await, Err(Unanswered::Busy));
        for _ in 0..MAX_READS {
            release.send(()).unwrap();
        }
        let back = std::time::Instant::now();
        while READS.available_permits() < MAX_READS {
            assert!(back.elapsed() < std::time::Duration::from_secs(10));
            std::thread::sleep(std::time::Duration::from_millis(1));
            tokio::task::yield_now().await;
        }
        assert_eq!(off_loop(|| 7).await, Ok(7));
    }

    #[test]
    fn get_urls_cover_the_range_in_whole_seconds() {
        let key = StreamKey::new("live", "cam");
        assert_eq!(
            get_url(&key, 1_000_500, 1_003_200),
            "/api/v1/recordings/live/cam/get?start=1000&duration=4&format=mp4"
        );
        assert_eq!(
            get_url(&key, 5_000, 5_000),
            "/api/v1/recordings/live/cam/get?start=5&duration=1&format=mp4"
        );
    }
}
