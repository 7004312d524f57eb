//! Audio for WebRTC, transcoded once per stream on threads of its own (never
//! on a media worker), through bounded queues.
//!
//! - AAC → Opus for viewers ([`WebRtc::opus_feed`]): the first WebRTC viewer
//!   of an AAC stream starts one transcode: a hub subscriber (a task) hands
//!   the AAC frames to a thread that decodes and encodes, whose Opus packets
//!   every viewer of the stream receives from one broadcast. It ends when
//!   its last viewer left or the stream ended; at most
//!   `webrtc.max_transcodes` run (beyond, viewers play without sound).
//! - Opus → AAC for a WHIP publisher ([`OpusToAacThread`]): the publisher's
//!   Opus becomes the stream's AAC, which every other output can carry.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use audio_transcode::{AacFrame, AacToOpus, OpusPacket, OpusToAac};
use bytes::Bytes;
use stream_core::{PeerInfo, StreamKey, SubscriberEvent, Track};
use tokio::sync::broadcast;

use super::WebRtc;
use crate::server::Shared;
use crate::session::lock;

/// Frames waiting for a transcode thread at most (~5 s of AAC).
const QUEUE: usize = 256;
/// Opus packets a slow viewer may fall behind before it skips (~1.3 s).
const FEED_CAPACITY: usize = 64;
/// Opus for viewers: a voice and music quality browsers decode cheaply.
const OPUS_BITRATE: u32 = 96_000;
/// AAC of a WHIP publisher's audio.
const AAC_BITRATE: u32 = 128_000;

/// A stream's Opus, shared by its viewers.
pub(super) type OpusFeed = broadcast::Receiver<Arc<OpusPacket>>;

impl WebRtc {
    /// `key`'s AAC audio (`track`) as Opus: the running transcode's feed, or
    /// a new one. `None`: transcoding is off, at its cap, or the AAC is of a
    /// kind the decoder refuses (HE-AAC, more than two channels).
    pub(super) fn opus_feed(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        key: &StreamKey,
        track: &Track,
    ) -> Option<OpusFeed> {
        if !self.config.transcode_aac {
            return None;
        }
        let mut running = lock(&self.transcodes);
        if let Some((config, tx)) = running.get(key) {
            if *config == track.config {
                return Some(tx.subscribe());
            }
        }
        if running.len() >= self.config.max_transcodes {
            tracing::warn!(stream = %key, "webrtc: AAC not transcoded (webrtc.max_transcodes reached): no sound");
            return None;
        }
        let transcoder = match AacToOpus::new(&track.config, OPUS_BITRATE) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(stream = %key, error = %e, "webrtc: AAC cannot be transcoded: no sound");
                return None;
            }
        };
        let (tx, rx) = broadcast::channel(FEED_CAPACITY);
        running.insert(key.clone(), (track.config.clone(), tx.clone()));
        drop(running);
        let (in_tx, in_rx) = sync_channel(QUEUE);
        let out = tx.clone();
        let spawned = std::thread::Builder::new()
            .name("transcode".into())
            .spawn(move || aac_to_opus(transcoder, in_rx, out));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "webrtc: no transcode thread");
            lock(&self.transcodes).remove(key);
            return None;
        }
        let webrtc = self.clone();
        let (shared, key, track_id) = (shared.clone(), key.clone(), track.id);
        shared.pool.pick().handle.clone().spawn(async move {
            feed(&shared, &webrtc, &key, track_id, in_tx, &tx).await;
            let mut running = lock(&webrtc.transcodes);
            if running.get(&key).is_some_and(|(_, t)| t.same_channel(&tx)) {
                running.remove(&key);
            }
        });
        self.counters.transcodes.fetch_add(1, Ordering::Relaxed);
        Some(rx)
    }
}

/// The hub side of a transcode: the stream's AAC frames to the thread,
/// until nobody listens or the stream ends.
async fn feed(
    shared: &Shared,
    webrtc: &WebRtc,
    key: &StreamKey,
    track: stream_core::TrackId,
    to_thread: SyncSender<(Bytes, i64)>,
    tx: &broadcast::Sender<Arc<OpusPacket>>,
) {
    let Ok(mut sub) = shared.hub.subscribe(key, PeerInfo::internal(0)).await else {
        return;
    };
    while tx.receiver_count() > 0 {
        match sub.recv().await {
            Ok(SubscriberEvent::Frame(f)) if f.track == track => {
                match to_thread.try_send((f.payload.clone(), f.pts_us)) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        webrtc
                            .counters
                            .transcode_dropped
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
            // New tracks may carry another configuration: viewers ask again.
            Ok(SubscriberEvent::Tracks(_)) => {}
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

fn aac_to_opus(
    mut t: AacToOpus,
    input: Receiver<(Bytes, i64)>,
    out: broadcast::Sender<Arc<OpusPacket>>,
) {
    while let Ok((frame, pts)) = input.recv() {
        if let Err(e) = t.push(&frame, pts) {
            tracing::debug!(error = %e, "webrtc: AAC frame not transcoded");
        }
        while let Some(p) = t.pop() {
            // No receiver left: the feed task ends on its next frame.
            let _ = out.send(Arc::new(p));
        }
    }
}

/// A WHIP publisher's Opus → AAC on a thread of its own: packets in,
/// frames out, both bounded; the thread ends with this handle.
pub(super) struct OpusToAacThread {
    to: SyncSender<(Bytes, i64)>,
    from: Receiver<AacFrame>,
    /// The AAC's AudioSpecificConfig (48 kHz stereo AAC-LC).
    pub config: Bytes,
}

impl OpusToAacThread {
    pub(super) fn start() -> Result<OpusToAacThread, String> {
        let mut t = OpusToAac::new(AAC_BITRATE).map_err(|e| e.to_string())?;
        let config = t.audio_specific_config();
        let (to, input) = sync_channel::<(Bytes, i64)>(QUEUE);
        let (out, from) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("transcode".into())
            .spawn(move || {
                while let Ok((packet, pts)) = input.recv() {
                    if let Err(e) = t.push(&packet, pts) {
                        tracing::debug!(error = %e, "whip: Opus packet not transcoded");
                    }
                    while let Some(f) = t.pop() {
                        if out.try_send(f).is_err() {
                            break;
                        }
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(OpusToAacThread { to, from, config })
    }

    /// Hands one Opus packet over; `false` when the queue is full (dropped).
    pub(super) fn push(&self, packet: Bytes, pts_us: i64) -> bool {
        self.to.try_send((packet, pts_us)).is_ok()
    }

    /// An AAC frame ready, if any.
    pub(super) fn pop(&self) -> Option<AacFrame> {
        self.from.try_recv().ok()
    }
}
