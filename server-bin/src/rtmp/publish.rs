//! The publishing side of an RTMP session: arbitration through stream-core,
//! then media from the protocol machine into the stream.

use bytes::Bytes;
use rtmp_proto::command::StatusCode;
use rtmp_proto::session::MediaKind;
use rtmp_proto::Decision as Answer;
use rtmp_proto::RequestId;
use stream_core::{PublishError, Publisher, PushError, StreamKey};

use super::driver::Conn;
use crate::cluster::Refused;
use crate::counters::PublishOutcome;
use crate::drive::End;
use crate::hooks::{Access, Decision};
use crate::media::flv_ingest::{FlvIngest, Ingested};

/// A connection that publishes a stream.
pub(super) struct Publishing {
    /// The ownership guard: dropping it (on any exit) releases the stream.
    pub publisher: Publisher,
    ingest: FlvIngest,
}

impl Conn {
    /// Answers a publish request: asks the `on_publish` hook (or the static
    /// token), then stream-core; refused with `NetStream.Publish.BadName` while
    /// another publisher is live.
    pub(super) async fn publish(
        &mut self,
        req: RequestId,
        name: String,
        query: Option<String>,
    ) -> Result<(), End> {
        let app = self.app.clone().unwrap_or_default();
        let key = match StreamKey::parse(app, name) {
            Ok(key) => key,
            Err(e) => {
                let why = format!("bad stream name: {e}");
                tracing::warn!(reason = %why, "publish refused");
                self.rtmp
                    .respond(req, Answer::reject(StatusCode::PublishBadName, why.clone()));
                return Err(End::Refused(why));
            }
        };
        if self.publishing.is_some() || self.playing.is_some() {
            self.rtmp.respond(
                req,
                Answer::reject(
                    StatusCode::PublishBadName,
                    "this connection already publishes or plays",
                ),
            );
            return Err(End::Refused("second publish on one connection".into()));
        }
        let access = Access::new(&key, query.as_deref(), &self.info);
        if let Decision::Deny(why) = self.shared.hooks.on_publish(&access).await {
            tracing::warn!(stream = %key, reason = %why, "publish denied");
            self.shared.counters.publish(PublishOutcome::Denied);
            self.rtmp.respond(
                req,
                Answer::reject(
                    StatusCode::Other("NetStream.Publish.Unauthorized".into()),
                    why.clone(),
                ),
            );
            return Err(End::Refused(why));
        }
        let published = crate::cluster::publish(&self.shared, &key, self.info.peer_info()).await;
        match published {
            Ok(publisher) => {
                tracing::info!(stream = %key, query = crate::http::url::redact_query(query.as_deref().unwrap_or("")), resumed = publisher.resumed(), "publishing");
                self.info.set_stream(key, query);
                self.shared.counters.publish(if publisher.resumed() {
                    PublishOutcome::Resumed
                } else {
                    PublishOutcome::Accepted
                });
                // The idle clock starts at the session's last `now`: bring it
                // to the accept, past the hook's and the hub's time.
                self.rtmp.handle_timeout(crate::drive::now());
                self.rtmp.respond(req, Answer::Accept);
                self.publishing = Some(Publishing {
                    publisher,
                    ingest: FlvIngest::default(),
                });
                Ok(())
            }
            Err(e) => {
                let (code, why) = match &e {
                    Refused::Cluster(why) => (StatusCode::PublishBadName, why.clone()),
                    Refused::Hub(PublishError::AlreadyPublishing { current, since, .. }) => (
                        StatusCode::PublishBadName,
                        format!(
                            "stream {key} is already being published (session {} over {} from {}, for {} s)",
                            current.session_id,
                            current.protocol.name(),
                            current.peer.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
                            since.elapsed().map(|d| d.as_secs()).unwrap_or(0),
                        ),
                    ),
                    Refused::Hub(other) => (StatusCode::Other("NetStream.Publish.Rejected".into()), other.to_string()),
                };
                tracing::warn!(stream = %key, reason = %why, "publish refused");
                self.shared.counters.publish(PublishOutcome::Conflict);
                self.rtmp.respond(req, Answer::reject(code, why.clone()));
                Err(End::Refused(why))
            }
        }
    }

    /// One media message from the publisher.
    pub(super) fn media(
        &mut self,
        kind: MediaKind,
        timestamp: u32,
        payload: &Bytes,
    ) -> Result<(), End> {
        let Some(p) = self.publishing.as_mut() else {
            return Ok(()); // the protocol machine only reports media on an accepted stream
        };
        push_flv(&mut p.ingest, &mut p.publisher, kind, timestamp, payload)
    }
}

/// One FLV audio or video tag body into a stream: new tracks announced,
/// frames pushed. Shared by RTMP publishers and RTMP pull relays.
pub(crate) fn push_flv(
    ingest: &mut FlvIngest,
    publisher: &mut Publisher,
    kind: MediaKind,
    timestamp: u32,
    payload: &Bytes,
) -> Result<(), End> {
    let ingested = match kind {
        MediaKind::Video => ingest.video(timestamp, payload)?,
        MediaKind::Audio => ingest.audio(timestamp, payload)?,
    };
    match ingested {
        Ingested::Tracks(tracks) => publisher.set_tracks(tracks),
        Ingested::Frame(frame) => match publisher.push(frame) {
            Ok(()) => {}
            Err(PushError::Closed(reason)) => return Err(End::PublisherClosed(reason)),
            Err(e) => tracing::debug!(error = %e, "frame not accepted"),
        },
        Ingested::Skip => {}
    }
    Ok(())
}
