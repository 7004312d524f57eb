//! A stream pulled over HLS (another server's `…m3u8`): the playlist
//! reloaded as RFC 8216 §6.3.4 says (hls-seg's [`Follower`]), each new
//! segment fetched, demuxed (hls-seg's TS demuxer) and its H.264 and AAC
//! published like an RTMP publisher's (`rtmp::push_flv`), in real time.
//!
//! - **Variant**: a master playlist is followed to its highest-`BANDWIDTH`
//!   variant (strom carries one rendition and does not transcode).
//! - **Start**: three segments before the live edge (§6.3.3), so the first
//!   player gets a keyframe at once and the pull has a segment in hand
//!   while the next is fetched; an ended playlist (`EXT-X-ENDLIST`) plays
//!   from its start, then the pull ends (and the supervisor starts again).
//! - **Pacing**: frames are pushed when their time comes on the clock (a
//!   segment's frames are not dumped at once): the hub's subscriber queues
//!   and lag rules are made for a live publisher, and a burst of a whole
//!   segment would be a jerk to every player and a fake "behind" to the lag
//!   check. Frames already late (the fetch took time) go at once; a pull
//!   more than [`MAX_LATE`] behind its clock re-anchors it instead of
//!   bursting further.
//! - **Deadlines**: each GET (dial, answer, body) within
//!   `relay.connect_secs`; playlists at most 1 MiB and [`m3u8::Limits`],
//!   segments at most [`MAX_SEGMENT_BYTES`]; no frame pushed for
//!   `relay.no_media_secs` (a playlist that stopped growing, segments with
//!   no usable media) ends the pull; an error status (401, 404, …) ends the
//!   attempt with the status in the proxy's `last_error`. The supervisor
//!   retries with its backoff.
//! - **Not supported**: https (no TLS in strom; refused when the proxy is
//!   added), redirects, encrypted segments, fMP4 segments, H.265.

pub(crate) mod fetch;
mod ts;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hls_seg::m3u8::{self, FollowConfig, Follower, Playlist};
use stream_core::Publisher;
use tokio::time::Instant;

use self::fetch::{FetchError, Fetcher};
use self::ts::TsToFlv;
use super::dial::Dialed;
use super::{Dial, Proxy, PullUrl};
use crate::drive::End;
use crate::media::flv_ingest::FlvIngest;
use crate::server::Shared;
use crate::session::SessionInfo;

/// Largest segment fetched.
pub(crate) const MAX_SEGMENT_BYTES: usize = 32 << 20;
/// A pull this far behind its pacing clock re-anchors it.
pub(crate) const MAX_LATE: Duration = Duration::from_secs(2);

/// The pull's state between awaits.
struct Pull<'a> {
    shared: &'a Shared,
    info: &'a Arc<SessionInfo>,
    proxy: &'a Arc<Proxy>,
    fetcher: Fetcher<'a>,
    ts: TsToFlv,
    flv: FlvIngest,
    publisher: Option<Publisher>,
    /// The clock instant of a stream time (ms): frames are pushed at
    /// `anchor.0 + (ms - anchor.1)`.
    anchor: Option<(Instant, i64)>,
    /// The last frame pushed (or the start).
    last_media: Instant,
    no_media: Duration,
}

/// Pulls `proxy`'s HLS upstream until it ends; `dialed` reaches the
/// playlist's host, later connections come from `dial`.
pub(crate) async fn pull(
    shared: &Shared,
    info: &Arc<SessionInfo>,
    proxy: &Arc<Proxy>,
    dial: &dyn Dial,
    dialed: Dialed,
) -> End {
    let relay = &shared.config.relay;
    let mut pull = Pull {
        shared,
        info,
        proxy,
        fetcher: Fetcher::new(
            dial,
            Duration::from_secs(relay.connect_secs),
            &proxy.url(),
            dialed,
        ),
        ts: TsToFlv::default(),
        flv: FlvIngest::default(),
        publisher: None,
        anchor: None,
        last_media: Instant::now(),
        no_media: Duration::from_secs(relay.no_media_secs),
    };
    pull.run().await
}

impl Pull<'_> {
    async fn run(&mut self) -> End {
        let mut url = self.proxy.url();
        let mut base = url.raw.clone();
        let limits = m3u8::Limits::default();
        // The first load: a master playlist leads to one variant.
        let mut loaded_at = Instant::now();
        let mut playlist = match self.load(&url, &limits).await {
            Ok(Playlist::Media(m)) => m,
            Ok(Playlist::Master(master)) => {
                let Some(variant) = master.pick() else {
                    return End::Refused("upstream: master playlist without variants".into());
                };
                base = m3u8::resolve(&base, &variant.uri);
                url = match parse_url(&base) {
                    Ok(u) => u,
                    Err(end) => return end,
                };
                tracing::info!(variant = %url, bandwidth = variant.bandwidth, "hls upstream: variant chosen");
                loaded_at = Instant::now();
                match self.load(&url, &limits).await {
                    Ok(Playlist::Media(m)) => m,
                    Ok(Playlist::Master(_)) => {
                        return End::Refused("upstream: a variant is a master playlist".into())
                    }
                    Err(end) => return end,
                }
            }
            Err(end) => return end,
        };
        let mut follower = Follower::new(FollowConfig::default());
        let mut load_began = loaded_at;
        loop {
            let update = follower.update(&playlist, load_began.into_std());
            if update.reset || update.skipped > 0 {
                tracing::info!(
                    skipped = update.skipped,
                    reset = update.reset,
                    "hls upstream: discontinuity"
                );
            }
            while let Some(segment) = follower.next_segment() {
                if let Err(end) = self.segment(&base, segment).await {
                    return end;
                }
            }
            if follower.finished() {
                tracing::info!(stream = %self.proxy.key, "hls upstream: the playlist ended");
                return End::PeerClosed;
            }
            let reload = follower
                .reload_at()
                .map_or_else(Instant::now, Instant::from_std);
            let stale = self.last_media + self.no_media;
            if stale <= reload {
                // Nothing new will be pushed before the no-media deadline.
                if let Err(end) = guard(&self.publisher, tokio::time::sleep_until(stale)).await {
                    return end;
                }
                return End::Timeout("upstream media");
            }
            if let Err(end) = guard(&self.publisher, tokio::time::sleep_until(reload)).await {
                return end;
            }
            load_began = Instant::now();
            playlist = match self.load(&url, &limits).await {
                Ok(Playlist::Media(m)) => m,
                Ok(Playlist::Master(_)) => {
                    return End::Refused(
                        "upstream: the media playlist became a master playlist".into(),
                    )
                }
                Err(end) => return end,
            };
        }
    }

    /// GETs and parses a playlist.
    async fn load(&mut self, url: &PullUrl, limits: &m3u8::Limits) -> Result<Playlist, End> {
        let text = self.get(url, limits.max_bytes, "playlist").await?;
        m3u8::parse(&text, limits).map_err(|e| End::Refused(format!("upstream playlist: {e}")))
    }

    /// One GET, the publisher's close and the byte count around it.
    async fn get(&mut self, url: &PullUrl, limit: usize, what: &str) -> Result<bytes::Bytes, End> {
        let body = guard(&self.publisher, self.fetcher.get(url, limit)).await?;
        let body = body.map_err(|e| fetch_end(e, what))?;
        self.info
            .bytes_in
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok(body)
    }

    /// Fetches one segment and pushes its frames, paced.
    async fn segment(&mut self, base: &str, segment: m3u8::SegmentToFetch) -> Result<(), End> {
        let url = parse_url(&m3u8::resolve(base, &segment.uri))?;
        let data = self.get(&url, MAX_SEGMENT_BYTES, "segment").await?;
        if segment.discontinuity {
            self.anchor = None;
        }
        let tags = self.ts.segment(&data, segment.discontinuity);
        tracing::trace!(
            sequence = segment.sequence,
            bytes = data.len(),
            tags = tags.len(),
            "hls segment"
        );
        for tag in tags {
            let now = Instant::now();
            let at = match self.anchor {
                Some((clock, ms)) => {
                    clock + Duration::from_millis(tag.ms.saturating_sub(ms).max(0) as u64)
                }
                None => now,
            };
            if self.anchor.is_none() || at + MAX_LATE < now {
                self.anchor = Some((now, tag.ms));
            } else if at > now {
                guard(&self.publisher, tokio::time::sleep_until(at)).await?;
            }
            self.push(&tag)?;
        }
        Ok(())
    }

    fn push(&mut self, tag: &ts::Tag) -> Result<(), End> {
        self.last_media = Instant::now();
        if self.publisher.is_none() {
            self.publisher = Some(super::http_flv::claim(self.shared, self.info, self.proxy)?);
        }
        let Some(publisher) = self.publisher.as_mut() else {
            return Ok(());
        };
        let ms = tag.ms.rem_euclid(1 << 32) as u32;
        crate::rtmp::push_flv(&mut self.flv, publisher, tag.kind, ms, &tag.body)
    }
}

/// Runs `fut` unless the server closes the publisher first.
async fn guard<T>(
    publisher: &Option<Publisher>,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, End> {
    let closed = async {
        match publisher {
            Some(p) => p.closed().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = fut => Ok(r),
        reason = closed => Err(End::PublisherClosed(reason)),
    }
}

/// How a failed GET ends the pull.
fn fetch_end(e: FetchError, what: &str) -> End {
    match e {
        FetchError::Timeout => End::Timeout("upstream response"),
        FetchError::Status(status) => End::Refused(format!("upstream {what}: HTTP {status}")),
        other => End::Refused(format!("upstream {what}: {other}")),
    }
}

/// A playlist or segment URL (http only).
fn parse_url(url: &str) -> Result<PullUrl, End> {
    PullUrl::parse(url).map_err(|e| End::Refused(format!("upstream URI: {e}")))
}
