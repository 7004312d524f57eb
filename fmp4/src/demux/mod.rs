//! The demuxer: top-level boxes split from a byte stream; `moov` read into
//! tracks, `moof` + `mdat` into runs. Everything else is skipped.
//!
//! Nesting is bounded by construction: only the fixed box paths of an init
//! segment and a fragment are descended (at most 9 levels), never an
//! arbitrary tree.

pub(crate) mod boxes;
mod moof;
mod moov;

use crate::{Event, Fmp4Error};
use bytes::{Buf, Bytes, BytesMut};
use moov::TrackDefaults;

/// Reads fragmented MP4 from a byte stream fed in arbitrary pieces
/// (an HTTP body, WebSocket messages, a file). Bounded: a box larger than
/// [`Demuxer::MAX_BOX`] is an error, never an allocation.
#[derive(Debug, Default)]
pub struct Demuxer {
    buf: BytesMut,
    /// Bytes of a skipped box still to drop as they arrive.
    skip: u64,
    /// The last init segment's `trex` defaults (one per track).
    tracks: Vec<TrackDefaults>,
    /// A `moof` waiting for its `mdat`: its body, and the bytes from its
    /// start to the end of the last box read after it.
    moof: Option<(Bytes, u64)>,
    /// The first error: the stream is out of step after it.
    failed: Option<Fmp4Error>,
}

impl Demuxer {
    /// Largest box accepted (64 MiB).
    pub const MAX_BOX: u64 = 64 << 20;

    /// A demuxer with nothing read.
    pub fn new() -> Demuxer {
        Demuxer::default()
    }

    /// Appends input.
    pub fn push(&mut self, data: &[u8]) {
        let dropped = self.skip.min(data.len() as u64) as usize;
        self.skip -= dropped as u64;
        self.buf.extend_from_slice(&data[dropped..]);
    }

    /// The next complete init segment or fragment; `Ok(None)` when more
    /// input is needed. Boxes other than those (`styp`, `sidx`, `free`, ...)
    /// are skipped.
    ///
    /// # Errors
    /// A malformed or oversized box, or a codec this crate does not read.
    /// After an error the stream is out of step: every later call returns
    /// the same error.
    pub fn next_event(&mut self) -> Result<Option<Event>, Fmp4Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.next_inner();
        if let Err(e) = &result {
            self.failed = Some(e.clone());
            self.buf = BytesMut::new();
        }
        result
    }

    fn next_inner(&mut self) -> Result<Option<Event>, Fmp4Error> {
        loop {
            let Some(h) = boxes::header(&self.buf)? else {
                return Ok(None);
            };
            let name = boxes::fourcc_str(&h.fourcc);
            let size = h.size.ok_or_else(|| {
                Fmp4Error::Unsupported(format!("top-level box {name} running to the end"))
            })?;
            if size > Demuxer::MAX_BOX {
                return Err(Fmp4Error::Limit(format!(
                    "box {name} of {size} bytes, at most {}",
                    Demuxer::MAX_BOX
                )));
            }
            let wanted = matches!(&h.fourcc, b"moov" | b"moof" | b"mdat");
            if !wanted {
                self.note_skipped(size);
                if (self.buf.len() as u64) < size {
                    self.skip = size - self.buf.len() as u64;
                    self.buf.clear();
                    return Ok(None);
                }
                self.buf.advance(size as usize);
                continue;
            }
            if (self.buf.len() as u64) < size {
                self.buf.reserve(size as usize - self.buf.len());
                return Ok(None);
            }
            let whole = self.buf.split_to(size as usize).freeze();
            let body = whole.slice(h.header_len..);
            match &h.fourcc {
                b"moov" => {
                    let (tracks, defaults) = moov::parse(&body)?;
                    self.tracks = defaults;
                    self.moof = None;
                    return Ok(Some(Event::Init(tracks)));
                }
                b"moof" => {
                    if self.moof.is_some() {
                        return Err(Fmp4Error::Malformed("moof without mdat".into()));
                    }
                    self.moof = Some((body, size));
                }
                _ => {
                    let Some((moof, before)) = self.moof.take() else {
                        continue; // an mdat of no fragment we read
                    };
                    let mdat = moof::Mdat {
                        body,
                        start: before + h.header_len as u64,
                    };
                    let (sequence, runs) = moof::parse(&moof, &mdat, &self.tracks)?;
                    return Ok(Some(Event::Fragment { sequence, runs }));
                }
            }
        }
    }

    /// A skipped box between a `moof` and its `mdat` moves the `mdat` on.
    fn note_skipped(&mut self, size: u64) {
        if let Some((_, before)) = &mut self.moof {
            *before += size;
        }
    }
}
