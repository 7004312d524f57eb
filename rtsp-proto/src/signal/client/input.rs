//! Input of [`ClientSession`]: framing the server's bytes into responses, requests and
//! interleaved data, copying ([`ClientSession::handle_input`]) or zero-copy
//! ([`ClientSession::handle_input_bytes`]). A head trickled in is searched for its end
//! once per byte, and bounded by the limits while incomplete.

use std::time::Instant;

use bytes::Bytes;

use super::{ClientError, ClientEvent, ClientSession, ClientState};
use crate::signal::error::ParseError;
use crate::signal::framing::{next_frame, Frame, InputBuf, INTERLEAVED_MAGIC};
use crate::signal::message::Message;

impl ClientSession {
    /// Feeds bytes read from the connection at `now` (copied into the session's buffer;
    /// [`handle_input_bytes`](Self::handle_input_bytes) avoids the copy).
    ///
    /// Time first: a deadline passed by `now` applies before the input (which is then
    /// dropped with [`ClientError::Closed`] if it closed the session).
    ///
    /// # Errors
    /// The server broke the protocol (also queued as [`ClientEvent::Error`]) or the
    /// session is closed; the caller closes the connection after sending what
    /// [`poll_transmit`](Self::poll_transmit) still holds.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) -> Result<(), ClientError> {
        self.before_input(now)?;
        self.inbuf.extend_from_slice(data);
        let mut buf = std::mem::take(&mut self.inbuf);
        let result = self.process_input(&mut buf, now);
        self.inbuf = buf;
        self.after_input(result)
    }

    /// Like [`handle_input`](Self::handle_input), taking ownership (pass
    /// `read_buf.split().freeze()`): when the session holds no partial input,
    /// [`ClientEvent::Interleaved`] payloads are slices of `data`; only an incomplete
    /// tail is copied into the session's buffer.
    ///
    /// # Errors
    /// As [`handle_input`](Self::handle_input).
    pub fn handle_input_bytes(&mut self, data: Bytes, now: Instant) -> Result<(), ClientError> {
        if !self.inbuf.is_empty() {
            return self.handle_input(&data, now);
        }
        self.before_input(now)?;
        let mut data = data;
        let result = self.process_input(&mut data, now);
        if result.is_ok() {
            self.inbuf.extend_from_slice(&data);
        }
        self.after_input(result)
    }

    fn before_input(&mut self, now: Instant) -> Result<(), ClientError> {
        self.handle_timeout(now);
        if self.state == ClientState::Closed {
            return Err(ClientError::Closed);
        }
        Ok(())
    }

    fn after_input(&mut self, result: Result<(), ClientError>) -> Result<(), ClientError> {
        if let Err(e) = &result {
            self.finish(ClientEvent::Error(e.clone()));
        }
        result
    }

    fn process_input(&mut self, buf: &mut impl InputBuf, now: Instant) -> Result<(), ClientError> {
        while self.state != ClientState::Closed {
            let blank = buf
                .bytes()
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if blank > 0 {
                let _ = buf.take(blank);
                self.need = 0;
                self.scanned = 0;
            }
            let bytes = buf.bytes();
            if bytes.is_empty() || bytes.len() < self.need {
                return Ok(());
            }
            if bytes.first() != Some(&INTERLEAVED_MAGIC) && !self.head_complete(bytes)? {
                return Ok(());
            }
            let frame = match next_frame(bytes, &self.config.limits) {
                Ok(Ok(f)) => f,
                Ok(Err(need)) => {
                    self.need = need;
                    return Ok(());
                }
                Err(e) => return Err(ClientError::Framing(e)),
            };
            self.need = 0;
            self.scanned = 0;
            let unit = buf.take(frame.consumed());
            match frame {
                Frame::Interleaved { channel, .. } => {
                    if self.is_rtp_channel(channel) {
                        self.last_media = self.last_media.max(now);
                    }
                    self.events.push_back(ClientEvent::Interleaved {
                        channel,
                        data: unit.slice(4..),
                    });
                }
                Frame::Message(f) => match f.parsed {
                    Ok((Message::Response(mut resp), body)) => {
                        resp.body = unit.slice(body);
                        self.on_response(resp, now)?;
                    }
                    Ok((Message::Request(req), _)) => self.answer_server_request(&req),
                    Err((e, _)) => return Err(ClientError::Framing(e)),
                },
            }
        }
        Ok(())
    }

    /// Whether `buf` holds a complete head (an empty line after the start line), looking
    /// only at bytes not searched before. A head over the limits' worth of lines is an
    /// error before it completes.
    fn head_complete(&mut self, buf: &[u8]) -> Result<bool, ClientError> {
        let from = self.scanned.saturating_sub(3);
        let tail = buf.get(from..).unwrap_or_default();
        let found =
            tail.windows(2).any(|w| w == b"\n\n") || tail.windows(3).any(|w| w == b"\n\r\n");
        if found {
            return Ok(true);
        }
        self.scanned = buf.len();
        let limits = &self.config.limits;
        let max_head = (limits.max_headers + 1).saturating_mul(limits.max_line + 2);
        if buf.len() > max_head {
            return Err(ClientError::Framing(ParseError::TooLarge {
                what: "response head",
                limit: max_head,
                got: buf.len(),
            }));
        }
        Ok(false)
    }
}
