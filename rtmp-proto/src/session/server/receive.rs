//! The receive path: protocol control handled at once, everything else
//! held back while a request is pending, then dispatched.

use super::{Active, ConnectState, ServerEvent, ServerSession, MAX_PARKED_MESSAGES};
use crate::command::Command;
use crate::error::{Error, Violation};
use crate::message::{
    split_aggregate, Message, MessageType, ProtocolControl, UserControl, AGGREGATE_MAX_SUB_MESSAGES,
};
use crate::session::{metadata, MediaKind};

impl ServerSession {
    pub(super) fn on_message(&mut self, m: Message) -> Result<(), Error> {
        match m.message_type() {
            // Applied by the decoder already (5.4.1, 5.4.2).
            MessageType::SetChunkSize | MessageType::Abort => {}
            MessageType::Acknowledgement => {}
            MessageType::WindowAckSize => {
                if let Some(ProtocolControl::WindowAckSize(w)) =
                    ProtocolControl::decode(m.type_id, &m.payload)?
                {
                    self.acks.set_window(w);
                }
            }
            // The client limiting our output: strom's output is paced by
            // the socket, so it is only validated.
            MessageType::SetPeerBandwidth => {
                ProtocolControl::decode(m.type_id, &m.payload)?;
            }
            MessageType::UserControl => {
                // 7.1.7: "the server sends a ping request … the client
                // responds"; clients ping servers too (FMS compatibility).
                if let UserControl::PingRequest { timestamp } = UserControl::decode(&m.payload)? {
                    self.out
                        .user_control(UserControl::PingResponse { timestamp });
                }
            }
            MessageType::CommandAmf0
            | MessageType::CommandAmf3
            | MessageType::DataAmf0
            | MessageType::DataAmf3
            | MessageType::Audio
            | MessageType::Video
            | MessageType::Aggregate => return self.park_or_dispatch(m),
            _ => self.ignored += 1,
        }
        Ok(())
    }

    fn park_or_dispatch(&mut self, m: Message) -> Result<(), Error> {
        if self.pending.is_none() && self.parked.is_empty() {
            return self.dispatch(m);
        }
        if self.parked.len() >= MAX_PARKED_MESSAGES {
            return Err(Violation::TooManyParked {
                max: MAX_PARKED_MESSAGES,
            }
            .into());
        }
        self.parked_bytes += m.payload.len();
        let limit = self.parked_limit();
        if self.parked_bytes > limit {
            return Err(Violation::TooManyParked { max: limit }.into());
        }
        self.parked.push_back(m);
        Ok(())
    }

    /// Processes held-back messages after a decision, until the next
    /// request (or the end). An error here is stored and returned by the
    /// next [`handle_input`](Self::handle_input).
    pub(super) fn resume(&mut self) {
        while self.pending.is_none() && self.failed.is_none() {
            let Some(m) = self.parked.pop_front() else {
                break;
            };
            self.parked_bytes -= m.payload.len();
            if let Err(e) = self.dispatch(m) {
                self.fail(e);
            }
        }
    }

    fn dispatch(&mut self, m: Message) -> Result<(), Error> {
        if self.connect == ConnectState::Rejected {
            self.ignored += 1;
            return Ok(());
        }
        match m.message_type() {
            MessageType::CommandAmf0 | MessageType::CommandAmf3 => {
                let cmd = Command::decode_message(&m)?;
                self.on_command(m.stream_id, cmd)
            }
            MessageType::Aggregate => {
                for sub in split_aggregate(&m, AGGREGATE_MAX_SUB_MESSAGES)? {
                    // 7.1.6: an aggregate carries audio, video and data
                    // (FLV tags). Commands or nested aggregates there would
                    // slip past the ordering rules: dropped.
                    match sub.message_type() {
                        MessageType::Audio | MessageType::Video | MessageType::DataAmf0 => {
                            self.dispatch(sub)?
                        }
                        _ => self.ignored += 1,
                    }
                }
                Ok(())
            }
            MessageType::Audio | MessageType::Video => {
                match (
                    MediaKind::from_type_id(m.type_id),
                    self.is_publishing(m.stream_id),
                ) {
                    (Some(kind), true) => {
                        self.deadlines.media(self.last_now, &self.config.timeouts);
                        self.events.push_back(ServerEvent::Media {
                            stream_id: m.stream_id,
                            kind,
                            timestamp: m.timestamp,
                            payload: m.payload,
                        })
                    }
                    _ => self.ignored += 1,
                }
                Ok(())
            }
            MessageType::DataAmf0 | MessageType::DataAmf3 => {
                let mut body = m.payload.clone();
                // Type 15 bodies start with a format byte; 0 means AMF0
                // follows (as with type 17 commands).
                if m.message_type() == MessageType::DataAmf3 {
                    body = match body.first() {
                        Some(0) => body.slice(1..),
                        _ => {
                            self.ignored += 1;
                            return Ok(());
                        }
                    };
                }
                match metadata::metadata_for_players(&body) {
                    Some(body) if self.is_publishing(m.stream_id) => {
                        self.events.push_back(ServerEvent::Metadata {
                            stream_id: m.stream_id,
                            body,
                        })
                    }
                    _ => self.ignored += 1,
                }
                Ok(())
            }
            _ => {
                self.ignored += 1;
                Ok(())
            }
        }
    }

    fn is_publishing(&self, stream_id: u32) -> bool {
        self.publishing
            == Some(Active {
                stream_id,
                accepted: true,
            })
    }
}
