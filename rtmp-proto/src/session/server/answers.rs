//! The application's answers to [`ServerEvent`](super::ServerEvent)
//! requests: mechanism here, policy in the server.

use bytes::Bytes;

use super::commands::error_status;
use super::{Active, ConnectState, Pending, RequestId, ServerSession};
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

    /// Accepts the connect: Window Acknowledgement Size, Set Peer Bandwidth,
    /// Set Chunk Size, then `_result` NetConnection.Connect.Success (the
    /// order nginx-rtmp and FMS use).
    pub fn accept_connect(&mut self, req: RequestId) {
        let Some(Pending::Connect {
            transaction_id,
            object_encoding,
        }) = self.take(req)
        else {
            return;
        };
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

    /// Refuses the connect with `_error` NetConnection.Connect.Rejected.
    /// The session is then closed: flush the answer and close.
    pub fn reject_connect(&mut self, req: RequestId, description: &str) {
        let Some(Pending::Connect { transaction_id, .. }) = self.take(req) else {
            return;
        };
        self.connect = ConnectState::Rejected;
        self.closed = true;
        self.parked.clear();
        self.parked_bytes = 0;
        let _ = self.reply(Response::connect_rejected(transaction_id, description));
    }

    /// Accepts the publish: Stream Begin, then onStatus
    /// NetStream.Publish.Start. Media on the stream becomes
    /// [`ServerEvent::Media`](super::ServerEvent::Media).
    pub fn accept_publish(&mut self, req: RequestId) {
        let Some(Pending::Publish { stream_id, name }) = self.take(req) else {
            return;
        };
        self.publishing = Some(Active {
            stream_id,
            accepted: true,
        });
        self.lift_limits();
        self.out
            .user_control(UserControl::StreamBegin { stream_id });
        let st = Status::new(StatusCode::PublishStart, format!("{name} is now published"));
        self.status(stream_id, &st);
        self.resume();
    }

    /// Refuses the publish with an error onStatus (e.g.
    /// [`StatusCode::PublishBadName`] for a name already published).
    pub fn reject_publish(&mut self, req: RequestId, code: StatusCode, description: &str) {
        let Some(Pending::Publish { stream_id, .. }) = self.take(req) else {
            return;
        };
        self.publishing = None;
        self.status(stream_id, &error_status(code, description));
        self.resume();
    }

    /// Accepts the play: Stream Begin, onStatus NetStream.Play.Reset (when
    /// the client asked for a reset), NetStream.Play.Start, then
    /// `|RtmpSampleAccess` (as nginx-rtmp sends them). Then send metadata
    /// and media with [`send_shared`](Self::send_shared) or
    /// [`send_media`](Self::send_media).
    pub fn accept_play(&mut self, req: RequestId) {
        let Some(Pending::Play { stream_id, reset }) = self.take(req) else {
            return;
        };
        self.playing = Some(Active {
            stream_id,
            accepted: true,
        });
        self.lift_limits();
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

    /// Refuses the play with an error onStatus (e.g.
    /// [`StatusCode::PlayStreamNotFound`]).
    pub fn reject_play(&mut self, req: RequestId, code: StatusCode, description: &str) {
        let Some(Pending::Play { stream_id, .. }) = self.take(req) else {
            return;
        };
        self.playing = None;
        self.status(stream_id, &error_status(code, description));
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
