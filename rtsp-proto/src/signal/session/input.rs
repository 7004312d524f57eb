//! Input of [`ServerSession`]: framing the connection's bytes into requests and
//! interleaved data, copying ([`ServerSession::handle_input`]) or zero-copy
//! ([`ServerSession::handle_input_bytes`]).

use std::time::Instant;

use bytes::Bytes;

use super::{Event, HeadScan, ServerSession, MAX_DEFERRED};
use crate::signal::error::{ParseError, SessionError};
use crate::signal::framing::{next_frame, Frame, InputBuf, INTERLEAVED_MAGIC};
use crate::signal::message::Message;

impl ServerSession {
    /// Feeds bytes read from the connection at `now` (copied into the session's buffer;
    /// [`handle_input_bytes`](Self::handle_input_bytes) avoids the copy).
    ///
    /// Time first: if a deadline passed by `now`, the session closes as
    /// [`handle_timeout`](Self::handle_timeout) does (queuing [`Event::TimedOut`]), the
    /// input is dropped and the call returns [`SessionError::Closed`]; a late timer never
    /// lets input arriving after the deadline revive a session.
    ///
    /// # Errors
    /// The caller closes the connection (after sending what
    /// [`poll_transmit`](Self::poll_transmit) still holds); every later call returns
    /// [`SessionError::Closed`].
    pub fn handle_input(&mut self, data: &[u8], now: Instant) -> Result<(), SessionError> {
        self.before_input(now)?;
        self.inbuf.extend_from_slice(data);
        let mut buf = std::mem::take(&mut self.inbuf);
        let result = self.process_input(&mut buf, now);
        self.inbuf = buf;
        self.after_input(result)
    }

    /// Like [`handle_input`](Self::handle_input), taking ownership (pass
    /// `read_buf.split().freeze()`): when the session holds no partial input, units are
    /// cut straight out of `data`, so [`Event::Interleaved`] payloads and request bodies
    /// are slices of it; only an incomplete tail is copied into the session's buffer
    /// (and the next input is then appended to it).
    ///
    /// # Errors
    /// As [`handle_input`](Self::handle_input).
    pub fn handle_input_bytes(&mut self, data: Bytes, now: Instant) -> Result<(), SessionError> {
        if !self.inbuf.is_empty() {
            return self.handle_input(&data, now);
        }
        self.before_input(now)?;
        let mut data = data;
        // The buffer is empty, so the head scan is at its start; its offsets stay valid
        // when the tail moves into the buffer.
        let result = self.process_input(&mut data, now);
        if result.is_ok() {
            self.inbuf.extend_from_slice(&data);
        }
        self.after_input(result)
    }

    fn before_input(&mut self, now: Instant) -> Result<(), SessionError> {
        self.handle_timeout(now);
        if self.closed {
            return Err(SessionError::Closed);
        }
        Ok(())
    }

    fn after_input(&mut self, result: Result<(), SessionError>) -> Result<(), SessionError> {
        if result.is_err() {
            self.closed = true;
        }
        result
    }

    fn process_input(&mut self, buf: &mut impl InputBuf, now: Instant) -> Result<(), SessionError> {
        loop {
            // Stray CR/LF between messages are skipped (HTTP/1.1 §4.1 robustness).
            let blank = buf
                .bytes()
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if blank > 0 {
                let _ = buf.take(blank);
                self.reset_scan();
            }
            let bytes = buf.bytes();
            if bytes.is_empty() || bytes.len() < self.scan.need {
                return Ok(());
            }
            if bytes.first() != Some(&INTERLEAVED_MAGIC) && !self.scan_head(bytes)? {
                return Ok(());
            }
            let frame = match next_frame(bytes, &self.config.limits) {
                Ok(Ok(f)) => f,
                Ok(Err(need)) => {
                    self.scan.need = need;
                    return Ok(());
                }
                Err(e) => return Err(SessionError::Framing(e)),
            };
            self.reset_scan();
            let unit = buf.take(frame.consumed());
            // Any complete unit from the peer keeps the session timeout; only RTP on a
            // set-up channel counts as media (`timers.rs`).
            self.note_peer_unit(now);
            match frame {
                Frame::Interleaved { channel, len } => {
                    if len > self.config.max_interleaved {
                        return Err(SessionError::InterleavedTooLarge {
                            len,
                            limit: self.config.max_interleaved,
                        });
                    }
                    if let Some((_, false)) = self.track_for_channel(channel) {
                        self.note_rtp(now);
                    }
                    self.events.push_back(Event::Interleaved {
                        channel,
                        data: unit.slice(4..),
                    });
                }
                Frame::Message(f) => match f.parsed {
                    Ok((Message::Request(mut req), body)) => {
                        self.malformed_in_row = 0;
                        req.body = unit.slice(body);
                        // Requests are answered in order: while one waits for the caller,
                        // later ones wait too (their state checks depend on its outcome),
                        // but interleaved data keeps flowing.
                        if self.pending.is_empty() && self.deferred.is_empty() {
                            self.handle_request(req);
                        } else if self.deferred.len() >= MAX_DEFERRED {
                            return Err(SessionError::TooManyPipelined {
                                limit: MAX_DEFERRED,
                            });
                        } else {
                            self.deferred.push_back(req);
                        }
                    }
                    Ok((Message::Response(mut resp), body)) => {
                        resp.body = unit.slice(body);
                        self.events.push_back(Event::ClientResponse(resp));
                    }
                    Err((e, cseq)) => {
                        // Answer 400 and go on (RFC 2326 §7.1.1 "400 Bad Request"); a peer
                        // that keeps sending garbage is cut off.
                        self.malformed_in_row += 1;
                        if self.malformed_in_row > self.config.max_malformed {
                            return Err(SessionError::Garbage {
                                count: self.malformed_in_row,
                            });
                        }
                        self.send_status(cseq, 400, &e.to_string());
                    }
                },
            }
        }
    }

    fn reset_scan(&mut self) {
        self.scan = HeadScan::default();
    }

    /// Looks for the empty line ending a message head in the bytes of `buf` not seen yet,
    /// so a head trickled in byte by byte costs linear time, not quadratic. `Ok(false)`:
    /// not yet. Limits as in [`frame_message`](crate::signal::message): line length and
    /// line count.
    fn scan_head(&mut self, buf: &[u8]) -> Result<bool, SessionError> {
        if self.scan.head_complete {
            return Ok(true);
        }
        let limits = self.config.limits;
        while let Some(lf) = buf
            .get(self.scan.from..)
            .and_then(|r| r.iter().position(|&b| b == b'\n'))
        {
            let next = self.scan.from + lf + 1;
            match buf.get(next..) {
                Some([b'\n', ..]) | Some([b'\r', b'\n', ..]) => {
                    self.scan.head_complete = true;
                    return Ok(true);
                }
                // "\r" alone: the line after may be empty; look again with more bytes.
                Some([b'\r']) | Some([]) | None => return Ok(false),
                Some(_) => {}
            }
            self.scan.from = next;
            self.scan.lines += 1;
            if self.scan.lines > limits.max_headers + 1 {
                return Err(SessionError::Framing(ParseError::TooLarge {
                    what: "header count",
                    limit: limits.max_headers,
                    got: self.scan.lines - 1,
                }));
            }
        }
        let open = buf.len() - self.scan.from;
        if open > limits.max_line + 1 {
            return Err(SessionError::Framing(ParseError::TooLarge {
                what: "header line",
                limit: limits.max_line,
                got: open,
            }));
        }
        Ok(false)
    }
}
