//! [`ClientSession`]: the client side of one RTMP connection, sans-IO, for
//! tests, benchmarks and relays.
//!
//! It does what ffmpeg does: handshake, Set Chunk Size, connect, then
//! (publish) releaseStream, FCPublish, createStream, publish — or (play)
//! createStream, play, Set Buffer Length. It answers pings, acknowledges
//! the server's window, and follows the server's Set Chunk Size.

use std::collections::VecDeque;

use bytes::Bytes;

use super::outbox::Outbox;
use super::{metadata, stream_id_from_f64, MediaKind, CSID_AUDIO, CSID_DATA, CSID_VIDEO};
use crate::chunk::ChunkDecoder;
use crate::command::{
    Command, Connect, Play, Publish, PublishType, Response, ResponseKind, Status, StatusCode,
    StatusLevel, StreamName,
};
use crate::error::{Error, Misuse, Violation};
use crate::handshake::{ClientHandshake, HandshakeParams, HandshakeStatus};
use crate::message::{
    split_aggregate, AckTracker, Message, MessageType, ProtocolControl, UserControl,
    AGGREGATE_MAX_SUB_MESSAGES,
};

/// Publish or play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMode {
    /// Send media.
    Publish,
    /// Receive media.
    Play,
}

/// Settings of a [`ClientSession`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Application (`live` in `rtmp://host/live/stream`).
    pub app: String,
    /// The tcUrl (`rtmp://host/live`).
    pub tc_url: String,
    /// Stream name, may include `?query`.
    pub stream: String,
    /// Publish or play.
    pub mode: ClientMode,
    /// Outgoing chunk size, announced right after the handshake.
    pub chunk_size: u32,
    /// Handshake randomness.
    pub handshake: HandshakeParams,
    /// Use the digest ("complex") handshake, as ffmpeg does.
    pub digest: bool,
}

/// What happened on a [`ClientSession`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// connect was accepted.
    Connected,
    /// onStatus NetStream.Publish.Start: media may be sent.
    Publishing,
    /// onStatus NetStream.Play.Start: media will come.
    Playing,
    /// The server refused connect, createStream, publish or play.
    Rejected {
        /// Status code, e.g. `NetStream.Publish.BadName`.
        code: String,
        /// The server's description.
        description: String,
    },
    /// Any other onStatus.
    Status {
        /// Status code.
        code: String,
        /// The server's description.
        description: String,
    },
    /// An audio or video message.
    Media {
        /// Audio or video.
        kind: MediaKind,
        /// Timestamp in milliseconds.
        timestamp: u32,
        /// The FLV tag body.
        payload: Bytes,
    },
    /// An `onMetaData` data body (`@setDataFrame` stripped if present).
    Metadata {
        /// `"onMetaData", {…}` in AMF0.
        body: Bytes,
    },
    /// User control Stream EOF.
    StreamEof,
    /// onStatus NetStream.Play.UnpublishNotify.
    UnpublishNotify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshake,
    Connecting,
    CreatingStream,
    Starting,
    Active,
    Closed,
}

/// Transaction id of connect (7.2.1.1: "always set to 1").
const CONNECT_TID: f64 = 1.0;
/// Buffer length a player announces (librtmp's default is 36 000 ms; ffmpeg
/// sends 3000).
const BUFFER_MS: u32 = 3000;

/// The client side of one RTMP connection.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    handshake: Option<ClientHandshake>,
    decoder: ChunkDecoder,
    acks: AckTracker,
    out: Outbox,
    events: VecDeque<ClientEvent>,
    phase: Phase,
    next_tid: f64,
    create_tid: f64,
    stream_id: Option<u32>,
    failed: Option<Error>,
}

impl ClientSession {
    /// A session with C0 and C1 already queued for sending.
    pub fn new(config: ClientConfig) -> Self {
        let mut handshake = ClientHandshake::new(config.handshake, config.digest);
        let mut out = Outbox::default();
        if let Some(c0c1) = handshake.poll_transmit() {
            out.raw(c0c1);
        }
        ClientSession {
            config,
            handshake: Some(handshake),
            decoder: ChunkDecoder::new(Default::default()),
            acks: AckTracker::new(),
            out,
            events: VecDeque::new(),
            phase: Phase::Handshake,
            next_tid: CONNECT_TID + 1.0,
            create_tid: 0.0,
            stream_id: None,
            failed: None,
        }
    }

    /// Bytes read from the socket.
    ///
    /// # Errors
    /// A fatal protocol error; the same error repeats on later calls.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.input(data);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn input(&mut self, data: &[u8]) -> Result<(), Error> {
        if let Some(ack) = self.acks.on_bytes(data.len()) {
            self.out.control(ack);
        }
        if let Some(hs) = &mut self.handshake {
            let status = hs.handle_input(data)?;
            if let Some(t) = hs.poll_transmit() {
                self.out.raw(t);
            }
            if status != HandshakeStatus::Done {
                return Ok(());
            }
            let leftover = hs.take_leftover();
            self.handshake = None;
            self.decoder.push_bytes(leftover);
            self.start_connect()?;
        } else {
            self.decoder.push(data);
        }
        while let Some(m) = self.decoder.poll_message()? {
            self.on_message(m)?;
        }
        Ok(())
    }

    fn start_connect(&mut self) -> Result<(), Error> {
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

    fn on_message(&mut self, m: Message) -> Result<(), Error> {
        match m.message_type() {
            MessageType::WindowAckSize => {
                if let Some(ProtocolControl::WindowAckSize(w)) =
                    ProtocolControl::decode(m.type_id, &m.payload)?
                {
                    self.acks.set_window(w);
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
            // (acknowledgements, peer bandwidth, shared objects) need nothing.
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

    fn stream_name(&mut self, name: &str) -> StreamName {
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
                self.events.push_back(ClientEvent::Publishing);
            }
            (StatusCode::PlayStart, Phase::Starting) => {
                self.phase = Phase::Active;
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

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Bytes to write, in order; drain until `None`.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.poll()
    }

    fn publishing_stream(&self) -> Result<u32, Error> {
        match (self.phase, self.config.mode, self.stream_id) {
            (Phase::Active, ClientMode::Publish, Some(id)) => Ok(id),
            _ => Err(Misuse::SessionState("not publishing").into()),
        }
    }

    /// Sends one audio or video message (an FLV tag body).
    ///
    /// # Errors
    /// Not publishing yet ([`Misuse::SessionState`]) or a payload over
    /// 16 MiB − 1 ([`Misuse::PayloadTooLong`]).
    pub fn send_media(
        &mut self,
        kind: MediaKind,
        timestamp: u32,
        payload: Bytes,
    ) -> Result<(), Error> {
        let stream_id = self.publishing_stream()?;
        let csid = match kind {
            MediaKind::Audio => CSID_AUDIO,
            MediaKind::Video => CSID_VIDEO,
        };
        self.out.send(&Message {
            csid,
            timestamp,
            type_id: kind.type_id(),
            stream_id,
            payload,
        })
    }

    /// Sends `@setDataFrame` with an `onMetaData` body (`"onMetaData", {…}`,
    /// as [`ServerEvent::Metadata`](super::ServerEvent::Metadata) carries).
    ///
    /// # Errors
    /// As [`send_media`](Self::send_media).
    pub fn send_metadata(&mut self, body: Bytes) -> Result<(), Error> {
        let stream_id = self.publishing_stream()?;
        self.out.send(&Message {
            csid: CSID_DATA,
            timestamp: 0,
            type_id: MessageType::DataAmf0.into(),
            stream_id,
            payload: metadata::set_data_frame(&body),
        })
    }

    /// Ends the session politely: FCUnpublish and deleteStream when
    /// publishing, closeStream and deleteStream when playing. Flush
    /// [`poll_transmit`](Self::poll_transmit), then close the socket.
    pub fn close(&mut self) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        let Some(id) = self.stream_id else {
            return;
        };
        let name = self.config.stream.clone();
        let mut cmds = Vec::new();
        match self.config.mode {
            ClientMode::Publish => {
                cmds.push((0, Command::FcUnpublish(self.stream_name(&name))));
            }
            ClientMode::Play => cmds.push((
                id,
                Command::CloseStream {
                    transaction_id: 0.0,
                },
            )),
        }
        cmds.push((
            0,
            Command::DeleteStream {
                transaction_id: 0.0,
                stream_id: Some(f64::from(id)),
            },
        ));
        for (sid, c) in cmds {
            let _ = self.out.command(sid, c.encode());
        }
    }

    /// The message stream createStream gave, once known.
    pub fn stream_id(&self) -> Option<u32> {
        self.stream_id
    }

    /// Bytes received on the connection, handshake included.
    pub fn bytes_received(&self) -> u64 {
        self.acks.received()
    }

    /// Whether the session ended: rejected, closed, or a fatal error.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed || self.failed.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::PACKET_SIZE;
    use crate::ChunkEncoder;
    use bytes::BytesMut;

    fn session(mode: ClientMode) -> ClientSession {
        let mut c = ClientSession::new(ClientConfig {
            app: "live".into(),
            tc_url: "rtmp://h/live".into(),
            stream: "s".into(),
            mode,
            chunk_size: 4096,
            handshake: HandshakeParams {
                epoch: 0,
                seed: [9; 32],
            },
            digest: false,
        });
        let c0c1 = c.poll_transmit().unwrap();
        assert_eq!(c0c1.len(), 1 + PACKET_SIZE);
        // A simple S0/S1/S2 (S2 echoing C1).
        let mut s = vec![3u8];
        s.extend_from_slice(&[0u8; PACKET_SIZE]);
        s.extend_from_slice(&c0c1[1..]);
        c.handle_input(&s).unwrap();
        while c.poll_transmit().is_some() {}
        c
    }

    fn feed(c: &mut ClientSession, enc: &mut ChunkEncoder, r: Response) {
        let mut out = BytesMut::new();
        enc.encode(&crate::command::command_message(3, 0, r.encode()), &mut out)
            .unwrap();
        c.handle_input(&out).unwrap();
    }

    #[test]
    fn only_errors_for_our_pending_transaction_reject() {
        let mut c = session(ClientMode::Play);
        let mut enc = ChunkEncoder::new();
        let st = Status::new(StatusCode::Other("NetConnection.Call.Failed".into()), "x");
        // An `_error` for some other transaction while connecting: ignored.
        feed(&mut c, &mut enc, Response::error(0.0, &st));
        assert_eq!(c.poll_event(), None);
        feed(&mut c, &mut enc, Response::connect_success(1.0, 0.0));
        assert_eq!(c.poll_event(), Some(ClientEvent::Connected));
        // createStream was transaction 2 (play mode).
        feed(&mut c, &mut enc, Response::error(2.0, &st));
        assert_eq!(
            c.poll_event(),
            Some(ClientEvent::Rejected {
                code: "NetConnection.Call.Failed".into(),
                description: "x".into()
            })
        );
        assert!(c.is_closed());
    }

    #[test]
    fn media_before_publishing_is_misuse() {
        let mut c = session(ClientMode::Publish);
        assert_eq!(
            c.send_media(MediaKind::Video, 0, Bytes::from_static(b"v")),
            Err(Misuse::SessionState("not publishing").into())
        );
        assert!(c.send_metadata(Bytes::new()).is_err());
        assert_eq!(c.stream_id(), None);
    }
}
