//! The receive path of [`ClientSession`]: what the server sends, and the
//! commands the client answers with.

use super::{ClientEvent, ClientMode, ClientSession, Phase, BUFFER_MS, CONNECT_TID};
use crate::command::{
    Command, Connect, Play, Publish, PublishType, Response, ResponseKind, Status, StatusCode,
    StatusLevel, StreamName,
};
use crate::error::{Error, Violation};
use crate::message::{
    split_aggregate, Message, MessageType, ProtocolControl, UserControl, AGGREGATE_MAX_SUB_MESSAGES,
};
use crate::session::{metadata, stream_id_from_f64, MediaKind};

impl ClientSession {
    pub(super) fn start_connect(&mut self) -> Result<(), Error> {
        let size = self.config.chunk_size.clamp(1, 0x7fff_ffff);
        self.out.control(ProtocolControl::SetChunkSize(size));
        let mut c = Connect::new(self.config.app.as_str(), self.config.tc_url.as_str());
        c.transaction_id = CONNECT_TID;
        c.flash_ver = Some("FMLE/3.0 (compatible; strom)".into());
        self.out.command(0, c.encode())?;
        self.phase = Phase::Connecting;
        Ok(())
    }

    fn tid(&mut self) -> f64 {
        let t = self.next_tid;
        self.next_tid += 1.0;
        t
    }

    pub(super) fn on_message(&mut self, m: Message) -> Result<(), Error> {
        match m.message_type() {
            MessageType::WindowAckSize => {
                if let Some(ProtocolControl::WindowAckSize(w)) =
                    ProtocolControl::decode(m.type_id, &m.payload)?
                {
                    self.acks.set_window(w);
                }
            }
            MessageType::Acknowledgement => {
                if let Some(ProtocolControl::Acknowledgement { sequence }) =
                    ProtocolControl::decode(m.type_id, &m.payload)?
                {
                    self.deadlines.acknowledged(sequence, self.last_now);
                }
            }
            MessageType::UserControl => match UserControl::decode(&m.payload)? {
                UserControl::PingRequest { timestamp } => {
                    self.out
                        .user_control(UserControl::PingResponse { timestamp });
                }
                UserControl::StreamEof { .. } => self.events.push_back(ClientEvent::StreamEof),
                _ => {}
            },
            MessageType::CommandAmf0 | MessageType::CommandAmf3 => {
                let cmd = Command::decode_message(&m)?;
                self.on_command(cmd)?;
            }
            MessageType::Audio | MessageType::Video => {
                if let Some(kind) = MediaKind::from_type_id(m.type_id) {
                    if self.phase == Phase::Active && self.config.mode == ClientMode::Play {
                        self.deadlines.media(self.last_now);
                    }
                    self.events.push_back(ClientEvent::Media {
                        kind,
                        timestamp: m.timestamp,
                        payload: m.payload,
                    });
                }
            }
            MessageType::DataAmf0 => {
                if let Some(body) = metadata::metadata_for_players(&m.payload) {
                    self.events.push_back(ClientEvent::Metadata { body });
                }
            }
            MessageType::Aggregate => {
                for sub in split_aggregate(&m, AGGREGATE_MAX_SUB_MESSAGES)? {
                    if sub.message_type() != MessageType::Aggregate {
                        self.on_message(sub)?;
                    }
                }
            }
            // Set Chunk Size and Abort are applied by the decoder; the rest
            // (peer bandwidth, shared objects) need nothing.
            _ => {}
        }
        Ok(())
    }

    fn on_command(&mut self, cmd: Command) -> Result<(), Error> {
        match cmd {
            Command::Response(r) => self.on_response(r),
            Command::OnStatus { status, .. } => {
                self.on_status(status);
                Ok(())
            }
            // onBWDone, onFCPublish, …: nothing to do.
            _ => Ok(()),
        }
    }

    fn on_response(&mut self, r: Response) -> Result<(), Error> {
        if r.kind == ResponseKind::Error {
            let ours = match self.phase {
                Phase::Connecting => r.transaction_id == CONNECT_TID,
                Phase::CreatingStream => r.transaction_id == self.create_tid,
                _ => false,
            };
            if ours {
                self.reject(r.status());
            }
            // Errors for releaseStream / FCPublish are historical noise
            // (ffmpeg ignores them too).
            return Ok(());
        }
        if self.phase == Phase::Connecting && r.transaction_id == CONNECT_TID {
            self.events.push_back(ClientEvent::Connected);
            let name = self.config.stream.clone();
            if self.config.mode == ClientMode::Publish {
                // Spec 5.4.4: the sender of Window Acknowledgement Size is
                // the one acknowledged. A server that asked us for
                // acknowledgements gets the same window back (as librtmp
                // echoes it), so it acknowledges what we publish and the
                // acknowledgement deadline can watch it.
                if let Some(w) = self.acks.window().filter(|_| self.watches_acks()) {
                    self.out.control(ProtocolControl::WindowAckSize(w));
                    self.deadlines.window(w);
                }
                for cmd in [
                    Command::ReleaseStream(self.stream_name(&name)),
                    Command::FcPublish(self.stream_name(&name)),
                ] {
                    self.out.command(0, cmd.encode())?;
                }
            }
            self.create_tid = self.tid();
            let cmd = Command::CreateStream {
                transaction_id: self.create_tid,
            };
            self.out.command(0, cmd.encode())?;
            self.phase = Phase::CreatingStream;
        } else if self.phase == Phase::CreatingStream && r.transaction_id == self.create_tid {
            let id = r.stream_id().and_then(stream_id_from_f64).ok_or_else(|| {
                Error::from(Violation::Command {
                    name: "_result".into(),
                    reason: "createStream answer without a stream id",
                })
            })?;
            self.stream_id = Some(id);
            self.phase = Phase::Starting;
            let name = self.config.stream.clone();
            match self.config.mode {
                ClientMode::Publish => {
                    let p = Publish {
                        transaction_id: self.tid(),
                        stream_name: name,
                        publish_type: PublishType::Live,
                    };
                    self.out.command(id, p.encode())?;
                }
                ClientMode::Play => {
                    let mut p = Play::new(name);
                    p.transaction_id = self.tid();
                    p.start = Some(-2.0);
                    self.out.command(id, p.encode())?;
                    self.out.user_control(UserControl::SetBufferLength {
                        stream_id: id,
                        buffer_ms: BUFFER_MS,
                    });
                }
            }
        }
        Ok(())
    }

    pub(super) fn stream_name(&mut self, name: &str) -> StreamName {
        StreamName {
            transaction_id: self.tid(),
            stream_name: name.to_owned(),
        }
    }

    fn reject(&mut self, status: Option<Status>) {
        let (code, description) = status
            .map(|s| (s.code.as_str().to_owned(), s.description))
            .unwrap_or_default();
        self.phase = Phase::Closed;
        self.events
            .push_back(ClientEvent::Rejected { code, description });
    }

    fn on_status(&mut self, s: Status) {
        match (&s.code, self.phase) {
            (StatusCode::PublishStart, Phase::Starting) => {
                self.phase = Phase::Active;
                self.deadlines.publishing(self.last_now);
                self.events.push_back(ClientEvent::Publishing);
            }
            (StatusCode::PlayStart, Phase::Starting) => {
                self.phase = Phase::Active;
                self.deadlines.media(self.last_now);
                self.events.push_back(ClientEvent::Playing);
            }
            (StatusCode::PlayUnpublishNotify, _) => {
                self.events.push_back(ClientEvent::UnpublishNotify)
            }
            (_, Phase::Starting) if s.level == StatusLevel::Error => self.reject(Some(s)),
            _ => self.events.push_back(ClientEvent::Status {
                code: s.code.as_str().to_owned(),
                description: s.description,
            }),
        }
    }
}
