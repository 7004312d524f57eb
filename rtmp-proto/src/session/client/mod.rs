//! [`ClientSession`]: the client side of one RTMP connection, sans-IO, for
//! tests, benchmarks and relays.
//!
//! It does what ffmpeg does: handshake, Set Chunk Size, connect, then
//! (publish) releaseStream, FCPublish, createStream, publish — or (play)
//! createStream, play, Set Buffer Length. It answers pings, acknowledges
//! the server's window (and, publishing, asks the server to acknowledge
//! with the same window), and follows the server's Set Chunk Size.
//!
//! Time is part of the contract, as on the server side: the session takes
//! `now` with its input, reports its next deadline through
//! [`ClientSession::poll_timeout`] and closes with [`ClientEvent::TimedOut`]
//! when [`ClientSession::handle_timeout`] finds one passed (the rules:
//! [`ClientTimeouts`]).

mod deadlines;
mod receive;
mod types;

pub use types::{ClientConfig, ClientEvent, ClientMode, ClientTimeout, ClientTimeouts};

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::outbox::Outbox;
use super::{metadata, MediaKind, CSID_DATA};
use crate::chunk::ChunkDecoder;
use crate::command::Command;
use crate::error::{Error, Misuse};
use crate::handshake::{ClientHandshake, HandshakeStatus};
use crate::message::{AckTracker, Message, MessageType};
use deadlines::Deadlines;

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
///
/// Drive it like [`ServerSession`](super::ServerSession): after
/// [`handle_input`](Self::handle_input) and
/// [`handle_timeout`](Self::handle_timeout), drain
/// [`poll_event`](Self::poll_event) and
/// [`poll_transmit`](Self::poll_transmit); sleep no later than
/// [`poll_timeout`](Self::poll_timeout).
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
    deadlines: Deadlines,
    /// The latest `now` the session was given.
    last_now: Instant,
}

impl ClientSession {
    /// A session with C0 and C1 already queued for sending, created at
    /// `now` (the response deadline counts from here).
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        let mut handshake = ClientHandshake::new(config.handshake, config.digest);
        let mut out = Outbox::default();
        if let Some(c0c1) = handshake.poll_transmit() {
            out.raw(c0c1);
        }
        ClientSession {
            deadlines: Deadlines::new(now, config.timeouts),
            last_now: now,
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

    /// Bytes read from the socket at `now`.
    ///
    /// It first calls [`handle_timeout`](Self::handle_timeout)`(now)`: input
    /// that arrives after a deadline passed does not revive the session.
    ///
    /// # Errors
    /// A fatal protocol error or a passed deadline
    /// ([`Error::ClientTimedOut`]); the same error repeats on later calls.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) -> Result<(), Error> {
        self.handle_timeout(now);
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

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Bytes to write, in order; drain until `None`.
    /// Bytes taken here count as sent for the acknowledgement deadline.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let b = self.out.poll()?;
        self.deadlines.sent(b.len());
        Some(b)
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
        self.send_media_parts(kind, timestamp, &[], &payload)
    }

    /// [`send_media`](Self::send_media) of the body `header` + `payload`
    /// (an FLV tag-body header and a frame), chunked as parts without
    /// copying `payload` ([`encode_media_parts`](super::encode_media_parts):
    /// a full fmt 0 header, then fmt 3 continuations; the audio and video
    /// chunk streams carry nothing else, so no header compression state is
    /// shared with the session's own messages).
    ///
    /// # Errors
    /// As [`send_media`](Self::send_media).
    pub fn send_media_parts(
        &mut self,
        kind: MediaKind,
        timestamp: u32,
        header: &[u8],
        payload: &Bytes,
    ) -> Result<(), Error> {
        let stream_id = self.publishing_stream()?;
        let len = header.len() + payload.len();
        if len > 0xff_ffff {
            return Err(Misuse::PayloadTooLong(len).into());
        }
        let chunk = self.out.chunk_size();
        for p in super::encode_media_parts(kind, stream_id, timestamp, header, payload, chunk) {
            self.out.raw(p);
        }
        Ok(())
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
    use crate::command::{Response, Status, StatusCode};
    use crate::handshake::{HandshakeParams, PACKET_SIZE};
    use crate::ChunkEncoder;
    use bytes::BytesMut;

    fn session(mode: ClientMode) -> ClientSession {
        let mut c = ClientSession::new(
            ClientConfig {
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
                timeouts: ClientTimeouts::default(),
            },
            Instant::now(),
        );
        let c0c1 = c.poll_transmit().unwrap();
        assert_eq!(c0c1.len(), 1 + PACKET_SIZE);
        // A simple S0/S1/S2 (S2 echoing C1).
        let mut s = vec![3u8];
        s.extend_from_slice(&[0u8; PACKET_SIZE]);
        s.extend_from_slice(&c0c1[1..]);
        c.handle_input(&s, c.last_now).unwrap();
        while c.poll_transmit().is_some() {}
        c
    }

    fn feed(c: &mut ClientSession, enc: &mut ChunkEncoder, r: Response) {
        let mut out = BytesMut::new();
        enc.encode(&crate::command::command_message(3, 0, r.encode()), &mut out)
            .unwrap();
        c.handle_input(&out, c.last_now).unwrap();
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
