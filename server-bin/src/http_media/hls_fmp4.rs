//! HLS with fMP4 segments and Low-Latency HLS, served from the stream's
//! [`crate::cmaf_feed`]: `GET /app/stream/hls.fmp4.m3u8` (with
//! `_HLS_msn`/`_HLS_part`: a blocking reload, RFC 8216bis §6.2.5.2),
//! `fmp4/init.mp4`, `fmp4/{msn}.m4s` and `fmp4/{msn}.{part}.m4s` (the
//! preload-hinted part blocks until it is complete, §6.2.6).
//!
//! Connections, hooks and deadlines are [`super::hls`]'s; this module
//! answers one request. A blocked request holds a place in
//! [`crate::cmaf_feed::CmafFeeds::blocked`] (`hls.max_blocked_requests`,
//! `hls.max_blocked_requests_per_ip`: 503 at once above them) and waits at
//! most three target durations, then gets 503.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hls_seg::cmaf::{Blocking, CmafPackager, PartState};
use hyper::header::{HeaderValue, CACHE_CONTROL};
use hyper::StatusCode;
use stream_core::{PeerInfo, StreamKey};

use super::request::Fmp4Target;
use crate::cmaf_feed::{self, CmafFeed};
use crate::http::reply::{self, Reply};
use crate::media::carriage::Output;
use crate::server::Shared;
use crate::ts_feed::demand::Packaged;
use crate::waiting::{Limits, WaitError};

/// Answers one fMP4-HLS request of a stream this node packages.
pub(super) async fn answer(
    shared: &Arc<Shared>,
    who: PeerInfo,
    key: &StreamKey,
    target: Fmp4Target,
    query: Option<&str>,
    logged: &super::not_carried::Logged,
) -> Reply {
    let not_found = |what: &str| reply::error(StatusCode::NOT_FOUND, "not_found", what);
    let ip = who.peer.map(|p| p.ip());
    match target {
        Fmp4Target::Playlist => {
            let blocking = match blocking_query(query) {
                Ok(b) => b,
                Err(why) => return reply::error(StatusCode::BAD_REQUEST, "bad_request", why),
            };
            let pulled = crate::waiting::await_pulled(shared, key, who);
            if let Err(why @ (WaitError::Refused(_) | WaitError::StoreDown(_))) = pulled.await {
                return busy(&why.to_string());
            }
            let told = match super::not_carried::playlist(shared, key, Output::Fmp4, logged) {
                Ok(told) => told,
                Err(refused) => return *refused,
            };
            let tell = |reply| super::not_carried::tell(reply, told.clone());
            let Some(feed) = cmaf_feed::ensure(shared, key) else {
                return not_found("stream not found");
            };
            feed.touch();
            let Some((msn, part)) = blocking else {
                // The first request waits for a first segment (players
                // other than LL ones need one), as for TS.
                let wait = Duration::from_millis(shared.config.hls.first_segment_wait_ms);
                let deadline = tokio::time::Instant::now() + wait;
                let first = |p: &CmafPackager| {
                    (p.segments().next().is_some() || p.is_finished()).then(|| p.playlist())
                };
                return match feed.wait_for(deadline, first).await {
                    Some(text) => tell(playlist_reply(shared, text, false)),
                    None => not_found("no segment yet"),
                };
            };
            let check = |p: &CmafPackager| match p.blocking_state(msn, part) {
                Blocking::Ready => Some(Ok(p.playlist())),
                Blocking::TooFar => Some(Err(())),
                Blocking::Wait => None,
            };
            match held(shared, &feed, ip, check).await {
                Ok(Ok(text)) => tell(playlist_reply(shared, text, true)),
                Ok(Err(())) => reply::error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "_HLS_msn/_HLS_part too far beyond the live edge",
                ),
                Err(reply) => reply,
            }
        }
        Fmp4Target::Init => {
            let Some(feed) = touched(shared, key) else {
                return not_found("stream not packaged");
            };
            match feed.with(CmafPackager::init) {
                Some(init) => media_reply(init, "no-cache"),
                None => not_found("no init segment yet"),
            }
        }
        Fmp4Target::Segment(msn) => {
            let Some(feed) = touched(shared, key) else {
                return not_found("stream not packaged");
            };
            match feed.with(|p| p.segment(msn)).flatten() {
                Some(data) => media_reply(data, "public, max-age=3600"),
                None => not_found("segment not held"),
            }
        }
        Fmp4Target::Part(msn, idx) => {
            let Some(feed) = touched(shared, key) else {
                return not_found("stream not packaged");
            };
            let check = |p: &CmafPackager| match p.part_state(msn, idx) {
                PartState::Ready(data) => Some(Some(data)),
                PartState::Unknown => Some(None),
                PartState::Pending => None,
            };
            match held(shared, &feed, ip, check).await {
                Ok(Some(data)) => media_reply(data, "public, max-age=3600"),
                Ok(None) => not_found("part not held"),
                Err(reply) => reply,
            }
        }
    }
}

/// The running feed of `key`, noted as asked for.
fn touched(shared: &Shared, key: &StreamKey) -> Option<Arc<CmafFeed>> {
    let feed = shared.cmaf_feeds.map.get(key)?;
    feed.touch();
    Some(feed)
}

/// `check`'s answer now, or after waiting for it with a place among the
/// blocked requests (503 at once without one) for at most three target
/// durations (then 503).
async fn held<T>(
    shared: &Shared,
    feed: &CmafFeed,
    ip: Option<IpAddr>,
    mut check: impl FnMut(&CmafPackager) -> Option<T>,
) -> Result<T, Reply> {
    if let Some(answer) = feed.with(&mut check).flatten() {
        return Ok(answer);
    }
    let cfg = &shared.config.hls;
    let limits = Limits {
        total: cfg.max_blocked_requests,
        per_ip: cfg.max_blocked_requests_per_ip,
    };
    let _place = match shared.cmaf_feeds.blocked.enter(ip, limits) {
        Ok(place) => place,
        Err(refused) => {
            let why = match refused {
                crate::waiting::Refused::Total(n) => {
                    format!("{n} requests are blocked already (hls.max_blocked_requests)")
                }
                crate::waiting::Refused::PerIp(n) => format!(
                    "{n} requests from this address are blocked already \
                     (hls.max_blocked_requests_per_ip)"
                ),
            };
            tracing::debug!(stream = %feed.key(), reason = %why, "blocking request refused");
            return Err(busy(&why));
        }
    };
    let deadline = tokio::time::Instant::now() + feed.block_limit(cfg.segment_secs);
    feed.wait_for(deadline, check)
        .await
        .ok_or_else(|| busy("not ready within three target durations"))
}

fn busy(why: &str) -> Reply {
    reply::error(StatusCode::SERVICE_UNAVAILABLE, "busy", why)
}

/// `_HLS_msn` and `_HLS_part` of a playlist request: `None` without them;
/// an error for a part without a segment number or a number that is not one.
fn blocking_query(query: Option<&str>) -> Result<Option<(u64, Option<u64>)>, &'static str> {
    let (mut msn, mut part) = (None, None);
    for pair in query.unwrap_or("").split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "_HLS_msn" => &mut msn,
            "_HLS_part" => &mut part,
            _ => continue,
        };
        let n = value
            .parse::<u64>()
            .map_err(|_| "_HLS_msn and _HLS_part must be decimal integers")?;
        slot.get_or_insert(n);
    }
    match (msn, part) {
        (None, Some(_)) => Err("_HLS_part without _HLS_msn"),
        (None, None) => Ok(None),
        (Some(msn), part) => Ok(Some((msn, part))),
    }
}

/// A playlist answer: cacheable as the TS playlist is (half a target
/// duration, at least a second); a blocking reload's answer for a second.
fn playlist_reply(shared: &Shared, text: String, blocking: bool) -> Reply {
    let mut r = reply::with_type(
        StatusCode::OK,
        "application/vnd.apple.mpegurl",
        Bytes::from(text),
    );
    let max_age = if blocking {
        1
    } else {
        super::hls::playlist_max_age(shared).as_secs()
    };
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        r.headers_mut().insert(CACHE_CONTROL, v);
    }
    r
}

/// An init segment, segment or part. Segment and part URIs name one
/// content for good (numbers start from the clock); the init segment's
/// does not (a new packager after a codec change serves another one).
fn media_reply(data: Bytes, cache: &'static str) -> Reply {
    let mut r = reply::with_type(StatusCode::OK, "video/mp4", data);
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_query_parameters() {
        assert_eq!(blocking_query(None), Ok(None));
        assert_eq!(blocking_query(Some("token=x")), Ok(None));
        assert_eq!(blocking_query(Some("_HLS_msn=7")), Ok(Some((7, None))));
        assert_eq!(
            blocking_query(Some("a=1&_HLS_msn=7&_HLS_part=2&_HLS_skip=YES")),
            Ok(Some((7, Some(2))))
        );
        assert!(blocking_query(Some("_HLS_part=2")).is_err());
        assert!(blocking_query(Some("_HLS_msn=x")).is_err());
        assert!(blocking_query(Some("_HLS_msn=-1")).is_err());
    }
}
