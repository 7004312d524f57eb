//! Reassembly of PES packets from transport packet payloads (ISO/IEC
//! 13818-1 2.4.3.6): a PES starts in a packet with
//! payload_unit_start_indicator set and ends when `PES_packet_length` bytes
//! are in, or, when that length is 0 (unbounded video), at the next start
//! on the PID. Bounded by [`MAX_PES`].

use bytes::BytesMut;

use super::DemuxedFrame;
use crate::error::DemuxError;
use crate::ts::pes::PesHeader;

/// Largest PES accepted (header included); a longer one is dropped.
pub const MAX_PES: usize = 16 << 20;

/// What became of a PES that ended.
#[derive(Debug)]
pub(crate) enum Ended {
    /// A frame.
    Frame(DemuxedFrame),
    /// A PES that could not be used (bad header, cut short).
    Dropped,
}

/// Collects the PES packets of one PID.
#[derive(Debug)]
pub(crate) struct PesAssembler {
    pid: u16,
    stream_type: u8,
    buf: BytesMut,
    active: bool,
    random_access: bool,
}

impl PesAssembler {
    pub(crate) fn new(pid: u16, stream_type: u8) -> Self {
        PesAssembler {
            pid,
            stream_type,
            buf: BytesMut::new(),
            active: false,
            random_access: false,
        }
    }

    pub(crate) fn pid(&self) -> u16 {
        self.pid
    }

    pub(crate) fn set_stream_type(&mut self, stream_type: u8) {
        self.stream_type = stream_type;
    }

    /// `6 + PES_packet_length` once known and non-zero.
    fn expected_len(&self) -> Option<usize> {
        let len = u16::from_be_bytes([*self.buf.get(4)?, *self.buf.get(5)?]);
        (len != 0).then_some(6 + usize::from(len))
    }

    /// Forgets the PES in progress (after a continuity error); says
    /// whether there was one.
    pub(crate) fn abort(&mut self) -> bool {
        let was = self.active;
        self.active = false;
        self.buf.clear();
        was
    }

    /// Ends the PES in progress (at a new start, or at the end of input).
    pub(crate) fn finish(&mut self) -> Option<Ended> {
        if !self.active {
            return None;
        }
        self.active = false;
        let buf = self.buf.split().freeze();
        let Ok((rest, header)) = PesHeader::decode(&buf) else {
            return Some(Ended::Dropped);
        };
        let start = buf.len() - rest.len();
        let end = match header.packet_length {
            0 => buf.len(),
            n => 6 + usize::from(n),
        };
        if end > buf.len() || start > end {
            // Cut short: the stream ended or lost packets before the end.
            return Some(Ended::Dropped);
        }
        Some(Ended::Frame(DemuxedFrame {
            pid: self.pid,
            stream_type: self.stream_type,
            pts: header.pts,
            dts: header.dts,
            random_access: self.random_access,
            data: buf.slice(start..end),
        }))
    }

    /// Feeds one packet's payload. The PES that ended (the previous one
    /// at a new start, and this one once `PES_packet_length` bytes are in)
    /// go to `out`. An error when the PES in progress passes [`MAX_PES`]
    /// (it is dropped).
    pub(crate) fn push(
        &mut self,
        unit_start: bool,
        random_access: bool,
        payload: &[u8],
        out: &mut Vec<Ended>,
    ) -> Result<(), DemuxError> {
        if unit_start {
            out.extend(self.finish());
            self.active = true;
            self.random_access = random_access;
        } else if !self.active {
            // The start was lost; wait for the next one.
            return Ok(());
        }
        if self.buf.len() + payload.len() > MAX_PES {
            let size = (self.buf.len() + payload.len()) as u64;
            self.abort();
            return Err(DemuxError::TooLarge {
                what: "PES packet",
                size,
                limit: MAX_PES as u64,
            });
        }
        self.buf.extend_from_slice(payload);
        if let Some(expected) = self.expected_len() {
            if self.buf.len() >= expected {
                out.extend(self.finish());
            }
        }
        Ok(())
    }
}
