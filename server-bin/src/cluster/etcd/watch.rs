//! A watch: one streaming `/v3/watch` answer on its own connection, cut
//! into messages by [`etcd_json::WatchDecoder`]. The connection is driven
//! only while [`Watch::next`] runs; dropping the watch closes it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;

use etcd_json::{WatchDecoder, WatchMessage};

use super::http::{self, Driver, Endpoint};
use super::{EtcdError, Event};

/// How long a watch may stay silent by default: etcd sends a progress
/// notification every 10 minutes on a quiet watch (its default
/// `--experimental-watch-progress-notify-interval`), so anything shorter
/// needs a shorter interval on the server.
pub const DEFAULT_WATCH_IDLE: Duration = Duration::from_secs(15 * 60);

/// A live watch of a prefix.
pub struct Watch {
    /// Kept so the connection stays up while the answer streams.
    _sender: SendRequest<Full<Bytes>>,
    driver: Pin<Box<Driver>>,
    driver_done: bool,
    body: Incoming,
    decoder: WatchDecoder,
    /// Decoded, not yet handed out (one chunk's worth at most).
    pending: VecDeque<WatchMessage>,
    /// A decoding error met after the pending messages.
    failed: Option<EtcdError>,
    /// The stream broke: every later call fails.
    ended: bool,
    idle: Duration,
    /// When the last bytes arrived: the idle limit runs from here, so a
    /// `next` canceled and called again does not restart it.
    last_heard: Instant,
    url: String,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("endpoint", &self.url)
            .field("idle", &self.idle)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl Watch {
    /// Opens the watch on `ep` and waits for etcd's confirmation (the
    /// caller bounds the time).
    pub(super) async fn open(
        ep: &Endpoint,
        path: &'static str,
        body: Bytes,
    ) -> Result<Watch, EtcdError> {
        let (sender, driver, response) = http::start(ep, path, body).await?;
        let status = response.status();
        let mut watch = Watch {
            _sender: sender,
            driver: Box::pin(driver),
            driver_done: false,
            body: response.into_body(),
            decoder: WatchDecoder::new(),
            pending: VecDeque::new(),
            failed: None,
            ended: false,
            idle: DEFAULT_WATCH_IDLE,
            last_heard: Instant::now(),
            url: ep.url.clone(),
        };
        if !status.is_success() {
            let mut text = Vec::new();
            while text.len() < etcd_json::MAX_LINE {
                match watch.chunk().await {
                    Ok(Some(c)) => text.extend_from_slice(&c),
                    _ => break,
                }
            }
            return Err(http::error_answer(status.as_u16(), &text));
        }
        // Anything before the confirmation is handed out by `next`, in order.
        let mut early = Vec::new();
        loop {
            let m = watch.message().await?;
            if let Some(e) = watch.ending(&m) {
                return Err(e);
            }
            if let WatchMessage::Created { .. } = m {
                for m in early.into_iter().rev() {
                    watch.pending.push_front(m);
                }
                return Ok(watch);
            }
            early.push(m);
            if early.len() > 16 {
                return Err(EtcdError::Protocol(format!(
                    "{}: watch not confirmed",
                    watch.url
                )));
            }
        }
    }

    /// Sets how long the watch may stay silent (no event, no progress
    /// notification) before [`Watch::next`] fails.
    pub fn set_idle(&mut self, idle: Duration) {
        self.idle = idle;
    }

    /// The next batch of events, in revision order. Err on a broken stream
    /// ([`EtcdError::Broken`]: ended, silent past the idle limit, canceled;
    /// the caller re-lists / re-watches from its last revision + 1);
    /// [`EtcdError::Compacted`] when the start revision was compacted.
    /// Progress notifications are consumed here (they only keep the watch
    /// from being idle). Cancel-safe: dropping the future loses nothing and
    /// keeps the idle limit running.
    pub async fn next(&mut self) -> Result<Vec<Event>, EtcdError> {
        if self.ended {
            return Err(EtcdError::Broken(format!("{}: the watch ended", self.url)));
        }
        let result = self.next_events().await;
        if result.is_err() {
            self.ended = true;
        }
        result
    }

    async fn next_events(&mut self) -> Result<Vec<Event>, EtcdError> {
        loop {
            let m = self.message().await?;
            if let Some(e) = self.ending(&m) {
                return Err(e);
            }
            if let WatchMessage::Events { events, .. } = m {
                if !events.is_empty() {
                    return Ok(events);
                }
            }
            // Progress notifications (empty batches) only keep the watch
            // from being idle.
        }
    }

    /// The error a message that ends the watch stands for.
    fn ending(&self, m: &WatchMessage) -> Option<EtcdError> {
        match m {
            WatchMessage::Compacted { compact_revision } => {
                Some(EtcdError::Compacted(*compact_revision))
            }
            WatchMessage::Canceled { reason } => Some(EtcdError::Broken(format!(
                "{}: canceled by etcd: {reason}",
                self.url
            ))),
            WatchMessage::Created { .. } | WatchMessage::Events { .. } => None,
        }
    }

    /// The next message, within the idle limit between chunks.
    async fn message(&mut self) -> Result<WatchMessage, EtcdError> {
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Ok(m);
            }
            if let Some(e) = self.failed.take() {
                return Err(e);
            }
            let chunk = tokio::time::timeout_at(self.last_heard + self.idle, self.chunk())
                .await
                .map_err(|_| {
                    EtcdError::Broken(format!("{}: silent for {:?}", self.url, self.idle))
                })??
                .ok_or_else(|| EtcdError::Broken(format!("{}: the stream ended", self.url)))?;
            self.last_heard = Instant::now();
            let mut out = Vec::new();
            if let Err(e) = self.decoder.feed(&chunk, &mut out) {
                self.failed = Some(EtcdError::from(e));
            }
            self.pending.extend(out);
        }
    }

    /// The next data chunk of the answer, `None` at its end; the connection
    /// is driven meanwhile.
    async fn chunk(&mut self) -> Result<Option<Bytes>, EtcdError> {
        loop {
            tokio::select! {
                frame = self.body.frame() => match frame {
                    None => return Ok(None),
                    Some(Err(e)) => {
                        return Err(EtcdError::Broken(format!("{}: {e}", self.url)))
                    }
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            return Ok(Some(data));
                        }
                    }
                },
                done = &mut self.driver, if !self.driver_done => {
                    self.driver_done = true;
                    if let Err(e) = done {
                        return Err(EtcdError::Broken(format!("{}: {e}", self.url)));
                    }
                }
            }
        }
    }
}
