//! The application's answers to [`ServerEvent`](super::ServerEvent)
//! requests: mechanism here, policy in the server.

use bytes::Bytes;

use super::commands::error_status;
use super::{Active, ConnectState, Decision, Pending, RequestId, ServerSession};
use crate::command::{DataMessage, Response, Status, StatusCode};
use crate::message::{PeerBandwidthLimit, ProtocolControl, UserControl};
use crate::session::shared::{encode_media, MediaChannel};

impl ServerSession {
    /// Takes the pending request if `req` names it.
    fn take(&mut self, req: RequestId) -> Option<Pending> {
        match &self.pending {
            Some((r, _)) if *r == req => self.pending.take().map(|(_, p)| p),
            _ => None,
        }
    }

    /// Answers the request `req` (from [`ServerEvent::ConnectRequested`],
    /// [`ServerEvent::PublishRequested`] or [`ServerEvent::PlayRequested`]).
    /// A stale id (already answered, or from before the session closed) is
    /// ignored. Then drain [`poll_event`](Self::poll_event) and
    /// [`poll_transmit`](Self::poll_transmit): held-back messages are
    /// processed now.
    ///
    /// - connect, [`Decision::Accept`]: Window Acknowledgement Size, Set Peer
    ///   Bandwidth, Set Chunk Size, then `_result`
    ///   NetConnection.Connect.Success (the order nginx-rtmp and FMS use).
    /// - connect, [`Decision::Reject`]: `_error`
    ///   NetConnection.Connect.Rejected with the description (the code is
    ///   ignored); the session is then closed: flush the answer and close.
    /// - publish, accept: Stream Begin, then onStatus
    ///   NetStream.Publish.Start. Media on the stream becomes
    ///   [`ServerEvent::Media`]; the publisher-idle deadline starts, from the
    ///   last `now` the session was given (respond takes no clock).
    /// - play, accept: Stream Begin, onStatus NetStream.Play.Reset (when the
    ///   client asked for a reset), NetStream.Play.Start, then
    ///   `|RtmpSampleAccess` (as nginx-rtmp sends them). Then send metadata
    ///   and media with [`send_shared`](Self::send_shared) or
    ///   [`send_media`](Self::send_media).
    /// - publish or play, reject: an error onStatus with the code (e.g.
    ///   [`StatusCode::PublishBadName`] for a name already published,
    ///   [`StatusCode::PlayStreamNotFound`]); the connection stays open.
    ///
    /// [`ServerEvent::ConnectRequested`]: super::ServerEvent::ConnectRequested
    /// [`ServerEvent::PublishRequested`]: super::ServerEvent::PublishRequested
    /// [`ServerEvent::PlayRequested`]: super::ServerEvent::PlayRequested
    /// [`ServerEvent::Media`]: super::ServerEvent::Media
    pub fn respond(&mut self, req: RequestId, decision: Decision) {
        let Some(pending) = self.take(req) else {
            return;
        };
        match (pending, decision) {
            (
                Pending::Connect {
                    transaction_id,
                    object_encoding,
                },
                Decision::Accept,
            ) => self.accept_connect(transaction_id, object_encoding),
            (Pending::Connect { transaction_id, .. }, Decision::Reject { description, .. }) => {
                self.reject_connect(transaction_id, &description)
            }
            (Pending::Publish { stream_id, name }, Decision::Accept) => {
                self.accept_publish(stream_id, &name)
            }
            (Pending::Play { stream_id, reset }, Decision::Accept) => {
                self.accept_play(stream_id, reset)
            }
            (Pending::Publish { stream_id, .. }, Decision::Reject { code, description }) => {
                self.publishing = None;
                self.status(stream_id, &error_status(code, &description));
                self.resume();
            }
            (Pending::Play { stream_id, .. }, Decision::Reject { code, description }) => {
                self.playing = None;
                self.status(stream_id, &error_status(code, &description));
                self.resume();
            }
        }
    }

    fn accept_connect(&mut self, transaction_id: f64, object_encoding: f64) {
        self.connect = ConnectState::Accepted;
        self.out
            .control(ProtocolControl::WindowAckSize(self.config.window_ack_size));
        self.out.control(ProtocolControl::SetPeerBandwidth {
            size: self.config.peer_bandwidth,
            limit: PeerBandwidthLimit::Dynamic,
        });
        // The encoder switches to the new size as it writes this (and clamps
        // it to 1..=0xFFFFFF, the range 5.4.1 allows).
        let size = self.config.chunk_size.clamp(1, 0x7fff_ffff);
        self.out.control(ProtocolControl::SetChunkSize(size));
        let r = Response::connect_success(transaction_id, object_encoding);
        if let Err(e) = self.reply(r) {
            self.fail(e);
        }
        self.resume();
    }

    fn reject_connect(&mut self, transaction_id: f64, description: &str) {
        self.connect = ConnectState::Rejected;
        self.closed = true;
        self.parked.clear();
        self.parked_bytes = 0;
        let _ = self.reply(Response::connect_rejected(transaction_id, description));
    }

    fn accept_publish(&mut self, stream_id: u32, name: &str) {
        self.publishing = Some(Active {
            stream_id,
            accepted: true,
        });
        self.lift_limits();
        self.deadlines
            .publish_accepted(self.last_now, &self.config.timeouts);
        self.out
            .user_control(UserControl::StreamBegin { stream_id });
        let st = Status::new(StatusCode::PublishStart, format!("{name} is now published"));
        self.status(stream_id, &st);
        self.resume();
    }

    fn accept_play(&mut self, stream_id: u32, reset: bool) {
        self.playing = Some(Active {
            stream_id,
            accepted: true,
        });
        self.lift_limits();
        self.deadlines.play_accepted();
        self.out
            .user_control(UserControl::StreamBegin { stream_id });
        if reset {
            self.status(stream_id, &Status::from_code(StatusCode::PlayReset));
        }
        self.status(stream_id, &Status::from_code(StatusCode::PlayStart));
        let access = DataMessage::SampleAccess {
            audio: true,
            video: true,
        }
        .encode();
        let b = encode_media(
            MediaChannel::Data,
            stream_id,
            0,
            &access,
            self.out_chunk_size(),
        );
        self.out.raw(b);
        self.resume();
    }

    /// Tells a player the stream ended: onStatus
    /// NetStream.Play.UnpublishNotify, then Stream EOF. The play stays
    /// active (a new publisher may resume it).
    pub fn notify_unpublished(&mut self, stream_id: u32) {
        let st = Status::from_code(StatusCode::PlayUnpublishNotify);
        self.status(stream_id, &st);
        self.out.user_control(UserControl::StreamEof { stream_id });
    }

    fn status(&mut self, stream_id: u32, st: &Status) {
        let body: Bytes = st.on_status_body();
        if let Err(e) = self.out.command(stream_id, body) {
            self.fail(e);
        }
    }
}
