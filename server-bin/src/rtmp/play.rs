//! The playing side of an RTMP session: a stream-core subscriber whose
//! frames are sent as RTMP chunks, encoded once per stream and shared.

use std::sync::Arc;

use rtmp_proto::command::StatusCode;
use rtmp_proto::session::MediaKind;
use rtmp_proto::Decision as Answer;
use rtmp_proto::RequestId;
use stream_core::{EndReason, StreamKey, Subscriber, SubscriberEvent, Track};

use super::driver::Conn;
use crate::drive::End;
use crate::hooks::{Access, Decision, Notification};
use crate::media::{flv_egress, to_rtmp_ms, WIRE_RTMP};

/// The message stream id every player gets from its first createStream; the
/// shared chunk bytes carry it, so players on another id are encoded apart.
const SHARED_STREAM_ID: u32 = 1;

/// A connection that plays a stream.
pub(super) struct Playing {
    pub subscriber: Subscriber,
    stream_id: u32,
    tracks: Arc<[Track]>,
    last_ts: u32,
}

impl Conn {
    /// Answers a play request: waits (bounded by `max_stream_wait_ms`) for the
    /// stream, then starts the player or refuses with `StreamNotFound`.
    pub(super) async fn play(
        &mut self,
        req: RequestId,
        stream_id: u32,
        name: String,
        query: Option<String>,
    ) -> Result<(), End> {
        let app = self.app.clone().unwrap_or_default();
        let key = match StreamKey::parse(app, name) {
            Ok(key) => key,
            Err(e) => {
                let why = format!("bad stream name: {e}");
                tracing::warn!(reason = %why, "play refused");
                self.rtmp.respond(
                    req,
                    Answer::reject(StatusCode::PlayStreamNotFound, why.clone()),
                );
                return Err(End::Refused(why));
            }
        };
        if self.publishing.is_some() || self.playing.is_some() {
            self.rtmp.respond(
                req,
                Answer::reject(
                    StatusCode::PlayStreamNotFound,
                    "this connection already publishes or plays",
                ),
            );
            return Err(End::Refused("second play on one connection".into()));
        }
        let access = Access::new(&key, query.as_deref(), &self.info);
        // Another node's edge (its query carries the epoch it holds) is
        // checked by epoch, and signature under a cluster secret, instead of
        // the viewers' hooks.
        let node = match crate::cluster::serve_edge(&self.shared, &key, query.as_deref()) {
            Ok(node) => node,
            Err(why) => {
                tracing::info!(stream = %key, reason = %why, "cluster pull refused");
                self.rtmp.respond(
                    req,
                    Answer::reject(StatusCode::PlayStreamNotFound, why.clone()),
                );
                return Err(End::Refused(why));
            }
        };
        if !node {
            if let Decision::Deny(why) = self.shared.hooks.on_play(&access).await {
                tracing::warn!(stream = %key, reason = %why, "play denied");
                self.rtmp.respond(
                    req,
                    Answer::reject(
                        StatusCode::Other("NetStream.Play.Unauthorized".into()),
                        why.clone(),
                    ),
                );
                return Err(End::Refused(why));
            }
        }
        if self.shared.hub.stream(&key).is_none() {
            self.shared.hooks.notify(Notification::not_found(&access));
        }
        self.info.set_stream(key.clone(), query.clone());
        match crate::waiting::subscribe(&self.shared, &key, self.info.peer_info()).await {
            Ok(subscriber) => {
                tracing::info!(stream = %key, "playing");
                self.rtmp.respond(req, Answer::Accept);
                self.playing = Some(Playing {
                    subscriber,
                    stream_id,
                    tracks: Arc::from(Vec::new()),
                    last_ts: 0,
                });
                Ok(())
            }
            Err(e) => {
                let why = e.to_string();
                tracing::info!(stream = %key, reason = %why, "play refused");
                self.rtmp.respond(
                    req,
                    Answer::reject(StatusCode::PlayStreamNotFound, why.clone()),
                );
                Err(End::Refused(why))
            }
        }
    }

    /// One event from the subscriber, plus whatever else is already queued,
    /// so a burst (the GOP at start) goes out in few vectored writes.
    pub(super) fn play_event(
        &mut self,
        first: Result<SubscriberEvent, EndReason>,
    ) -> Result<(), End> {
        let mut next = Some(first);
        let mut budget = 64;
        while let Some(event) = next.take() {
            self.play_one(event)?;
            budget -= 1;
            if budget > 0 {
                next = self.playing.as_mut().and_then(|p| p.subscriber.try_recv());
            }
        }
        Ok(())
    }

    /// Collects further events until `window` has passed (no-op when zero).
    pub(super) async fn merge_play_events(
        &mut self,
        window: std::time::Duration,
    ) -> Result<(), End> {
        if window.is_zero() {
            return Ok(());
        }
        let until = tokio::time::Instant::now() + window;
        loop {
            let Some(p) = self.playing.as_mut() else {
                return Ok(());
            };
            match tokio::time::timeout_at(until, p.subscriber.recv()).await {
                Ok(event) => self.play_event(event)?,
                Err(_) => return Ok(()),
            }
        }
    }

    fn play_one(&mut self, event: Result<SubscriberEvent, EndReason>) -> Result<(), End> {
        let Some(p) = self.playing.as_mut() else {
            return Ok(());
        };
        match event {
            Ok(SubscriberEvent::Tracks(tracks)) => {
                if let Some(change) = crate::media::codec_change(&p.tracks, &tracks) {
                    self.rtmp.notify_unpublished(p.stream_id);
                    return Err(End::CodecChanged(change));
                }
                self.rtmp
                    .send_metadata(p.stream_id, flv_egress::metadata(&tracks));
                for track in tracks.iter() {
                    if let Some(body) = flv_egress::sequence_header(track) {
                        let kind = media_kind(track);
                        self.rtmp.send_media_parts(
                            p.stream_id,
                            kind,
                            p.last_ts,
                            &body.header,
                            &body.payload,
                        );
                    }
                }
                p.tracks = tracks;
            }
            Ok(SubscriberEvent::Frame(frame)) => {
                let Some(track) = p.tracks.iter().find(|t| t.id == frame.track) else {
                    return Ok(());
                };
                let kind = media_kind(track);
                let ts = to_rtmp_ms(frame.dts_us);
                p.last_ts = ts;
                if p.stream_id == SHARED_STREAM_ID {
                    // The message is chunked once per stream, by the first
                    // player to need it, as parts: chunk headers between
                    // slices of the payload, never a copy of it. The others
                    // only clone the parts' `Bytes`.
                    let chunk_size = self.rtmp.out_chunk_size();
                    let form = frame.wire.get_or_init(WIRE_RTMP, || {
                        flv_egress::rtmp_message(track, &frame, ts, SHARED_STREAM_ID, chunk_size)
                    });
                    self.rtmp.send_shared_parts(form.parts());
                } else if let Some(body) = flv_egress::frame_body(track, &frame) {
                    self.rtmp
                        .send_media_parts(p.stream_id, kind, ts, &body.header, &body.payload);
                }
            }
            Err(reason) => {
                if matches!(
                    reason,
                    EndReason::StreamEnded | EndReason::Closed | EndReason::Shutdown
                ) {
                    self.rtmp.notify_unpublished(p.stream_id);
                }
                return Err(End::PlayEnded(reason));
            }
        }
        Ok(())
    }
}

fn media_kind(track: &Track) -> MediaKind {
    if track.codec.is_video() {
        MediaKind::Video
    } else {
        MediaKind::Audio
    }
}
