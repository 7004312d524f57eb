//! The `/v3/watch` stream: one JSON object per line,
//! `{"result":{"header":…,"created":true?,"events":[…]?,"canceled":true?,"compact_revision":"N"?}}`
//! (or `{"error":{…}}` when the stream fails), cut anywhere by the
//! transport. [`WatchDecoder`] reassembles the lines, within
//! [`MAX_LINE`](crate::MAX_LINE) bytes each, and types them.

use serde::Deserialize;

use crate::error::server_error;
use crate::response::{decode_kvs, WireKv};
use crate::{int, Error, Header, Kv, MAX_EVENTS, MAX_LINE};

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created or changed.
    Put,
    /// The key was deleted (or its lease expired); the event's kv has the
    /// key and the deletion's mod_revision only.
    Delete,
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// The key after the change.
    pub kv: Kv,
}

/// One message of a watch stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchMessage {
    /// The watch exists now.
    Created {
        /// Its id on the stream.
        watch_id: i64,
    },
    /// Changes, in revision order; empty for a progress notification
    /// (the header's revision says how far the store got).
    Events {
        /// The header (the store's revision when sent).
        header: Header,
        /// The changes.
        events: Vec<Event>,
    },
    /// The watch's start revision was compacted: it is canceled, and no
    /// event older than `compact_revision` can be had any more.
    Compacted {
        /// The oldest revision still available.
        compact_revision: i64,
    },
    /// The server canceled the watch.
    Canceled {
        /// Why, if it said.
        reason: String,
    },
}

#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    result: Option<WireResult>,
}

#[derive(Deserialize)]
struct WireResult {
    #[serde(default)]
    header: Header,
    #[serde(default, deserialize_with = "int::i64")]
    watch_id: i64,
    #[serde(default, deserialize_with = "int::bool")]
    created: bool,
    #[serde(default, deserialize_with = "int::bool")]
    canceled: bool,
    #[serde(default, deserialize_with = "int::i64")]
    compact_revision: i64,
    #[serde(default)]
    cancel_reason: String,
    #[serde(default)]
    events: Vec<WireEvent>,
}

#[derive(Deserialize)]
struct WireEvent {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    kv: Option<WireKv>,
}

/// The longest cancel reason kept.
const MAX_REASON: usize = 1024;

impl WatchMessage {
    /// Parses one line of the stream (without its newline).
    pub fn parse(line: &[u8]) -> Result<WatchMessage, Error> {
        let value: serde_json::Value = serde_json::from_slice(line)
            .map_err(|e| Error::Malformed(format!("watch line not JSON: {e}")))?;
        if let Some(e) = server_error(&value) {
            return Err(Error::Server(e));
        }
        let line =
            Line::deserialize(&value).map_err(|e| Error::Malformed(format!("watch line: {e}")))?;
        let r = line
            .result
            .ok_or_else(|| Error::Malformed("watch line without a result".into()))?;
        if r.compact_revision != 0 {
            return Ok(WatchMessage::Compacted {
                compact_revision: r.compact_revision,
            });
        }
        if r.canceled {
            let mut reason = r.cancel_reason;
            if reason.len() > MAX_REASON {
                let mut cut = MAX_REASON;
                while !reason.is_char_boundary(cut) {
                    cut -= 1;
                }
                reason.truncate(cut);
            }
            return Ok(WatchMessage::Canceled { reason });
        }
        if r.created {
            return Ok(WatchMessage::Created {
                watch_id: r.watch_id,
            });
        }
        if r.events.len() > MAX_EVENTS {
            return Err(Error::TooLarge {
                what: "watch events",
                len: r.events.len(),
                limit: MAX_EVENTS,
            });
        }
        let mut kinds = Vec::with_capacity(r.events.len());
        let mut kvs = Vec::with_capacity(r.events.len());
        for e in r.events {
            kinds.push(match e.kind.as_deref() {
                None | Some("PUT") => EventKind::Put,
                Some("DELETE") => EventKind::Delete,
                Some(other) => {
                    return Err(Error::Malformed(format!("unknown event type {other:.20}")))
                }
            });
            kvs.push(e.kv.ok_or_else(|| Error::Malformed("watch event without kv".into()))?);
        }
        let events = kinds
            .into_iter()
            .zip(decode_kvs(kvs)?)
            .map(|(kind, kv)| Event { kind, kv })
            .collect();
        Ok(WatchMessage::Events {
            header: r.header,
            events,
        })
    }
}

/// Reassembles a watch stream's lines from the transport's chunks (cut
/// anywhere) and parses them. It holds at most one incomplete line, of at
/// most its line limit: a longer line is an error, not a bigger buffer.
/// After an error the stream is unusable; drop the decoder.
#[derive(Debug)]
pub struct WatchDecoder {
    /// The incomplete last line.
    partial: Vec<u8>,
    max_line: usize,
}

impl Default for WatchDecoder {
    fn default() -> Self {
        WatchDecoder::new()
    }
}

impl WatchDecoder {
    /// A decoder with the default line limit, [`MAX_LINE`].
    pub fn new() -> WatchDecoder {
        WatchDecoder::with_max_line(MAX_LINE)
    }

    /// A decoder refusing lines longer than `max_line` bytes.
    pub fn with_max_line(max_line: usize) -> WatchDecoder {
        WatchDecoder {
            partial: Vec::new(),
            max_line,
        }
    }

    /// Bytes of an incomplete line held.
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    /// Feeds the next chunk: every message completed by it is appended to
    /// `out`, in order (those before a bad line too). Blank lines are
    /// skipped; `\r\n` ends a line like `\n`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<WatchMessage>) -> Result<(), Error> {
        if !self.partial.is_empty() {
            let Some(nl) = chunk.iter().position(|&b| b == b'\n') else {
                self.check(self.partial.len() + chunk.len())?;
                self.partial.extend_from_slice(chunk);
                return Ok(());
            };
            self.check(self.partial.len() + nl)?;
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(&chunk[..nl]);
            chunk = &chunk[nl + 1..];
            self.line(&line, out)?;
        }
        while let Some(nl) = chunk.iter().position(|&b| b == b'\n') {
            self.check(nl)?;
            self.line(&chunk[..nl], out)?;
            chunk = &chunk[nl + 1..];
        }
        self.check(chunk.len())?;
        self.partial.extend_from_slice(chunk);
        Ok(())
    }

    fn check(&self, len: usize) -> Result<(), Error> {
        if len > self.max_line {
            return Err(Error::TooLarge {
                what: "watch line",
                len,
                limit: self.max_line,
            });
        }
        Ok(())
    }

    fn line(&self, line: &[u8], out: &mut Vec<WatchMessage>) -> Result<(), Error> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        out.push(WatchMessage::parse(line)?);
        Ok(())
    }
}
