//! A transport stream demuxer: enough to read back what the muxer writes,
//! and robust to garbage (it backs the `ts_demux` fuzz target).
//!
//! Fed arbitrary chunks, it finds packets by their sync byte (confirmed by
//! the next packet's), follows the PAT to the first program's PMT (both
//! CRC-checked), and reassembles the PES packets of that program's
//! elementary streams into [`DemuxedFrame`]s. Broken input is counted, not
//! fatal: continuity-counter gaps ([`TsDemuxer::cc_errors`]), bad CRCs,
//! unusable PES packets. Memory is bounded: at most [`MAX_STREAMS`]
//! streams, each buffering at most one PES of at most [`MAX_PES`] bytes.

mod pes;
mod psi;

use bytes::Bytes;

pub use self::pes::MAX_PES;
use self::pes::{Ended, PesAssembler};
use self::psi::SectionAssembler;
use crate::error::DemuxError;
use crate::ts::adaptation::AdaptationField;
use crate::ts::packet::{TsHeader, NULL_PID, PACKET_SIZE, SYNC_BYTE};
use crate::ts::pat::{Pat, PAT_PID};
use crate::ts::pmt::Pmt;

/// Most elementary streams followed in a program; further PMT entries are
/// ignored.
pub const MAX_STREAMS: usize = 16;

/// One elementary stream of the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamInfo {
    /// `elementary_PID`.
    pub pid: u16,
    /// `stream_type` (Table 2-34).
    pub stream_type: u8,
}

/// The program found through the PAT and PMT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramInfo {
    /// `program_number`.
    pub program_number: u16,
    /// PID of the PMT.
    pub pmt_pid: u16,
    /// `PCR_PID`.
    pub pcr_pid: u16,
    /// The elementary streams, in PMT order (at most [`MAX_STREAMS`]).
    pub streams: Vec<StreamInfo>,
}

/// One PES packet's payload: an access unit as the muxer wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemuxedFrame {
    /// The PID it came on.
    pub pid: u16,
    /// The stream's `stream_type`.
    pub stream_type: u8,
    /// PTS, 33 bits.
    pub pts: Option<u64>,
    /// DTS, 33 bits; `None` when not written (equal to the PTS).
    pub dts: Option<u64>,
    /// The random_access_indicator of the packet the PES started in.
    pub random_access: bool,
    /// The PES payload.
    pub data: Bytes,
}

/// The result of looking for a packet boundary.
enum Sync {
    /// A sync byte at this offset, confirmed by the next packet's.
    Found(usize),
    /// A candidate at this offset that cannot be confirmed yet.
    Wait(usize),
    /// No candidate.
    None,
}

fn find_sync(data: &[u8], at_end: bool) -> Sync {
    for (i, &b) in data.iter().enumerate() {
        if b != SYNC_BYTE {
            continue;
        }
        match data.get(i + PACKET_SIZE) {
            Some(&SYNC_BYTE) => return Sync::Found(i),
            Some(_) => {}
            // At the end of input a lone last packet is accepted as is.
            None if at_end && data.len() - i >= PACKET_SIZE => return Sync::Found(i),
            None => return Sync::Wait(i),
        }
    }
    Sync::None
}

/// The MPEG-TS demuxer. See the [module documentation](self).
#[derive(Debug)]
pub struct TsDemuxer {
    buf: Vec<u8>,
    synced: bool,
    /// `(program_number, PMT PID)` from the PAT.
    pmt: Option<(u16, u16)>,
    program: Option<ProgramInfo>,
    pat_sections: SectionAssembler,
    pmt_sections: SectionAssembler,
    streams: Vec<PesAssembler>,
    /// Last continuity_counter per PID; 0xFF = none yet.
    last_cc: Vec<u8>,
    cc_errors: u64,
    crc_errors: u64,
    sync_losses: u64,
    dropped_pes: u64,
    ready: Vec<DemuxedFrame>,
    error: Option<DemuxError>,
    sections: Vec<Vec<u8>>,
    ended: Vec<Ended>,
}

impl Default for TsDemuxer {
    fn default() -> Self {
        Self::new()
    }
}

impl TsDemuxer {
    /// A demuxer that has seen nothing yet.
    pub fn new() -> Self {
        TsDemuxer {
            buf: Vec::new(),
            synced: false,
            pmt: None,
            program: None,
            pat_sections: SectionAssembler::default(),
            pmt_sections: SectionAssembler::default(),
            streams: Vec::new(),
            last_cc: vec![0xFF; 0x2000],
            cc_errors: 0,
            crc_errors: 0,
            sync_losses: 0,
            dropped_pes: 0,
            ready: Vec::new(),
            error: None,
            sections: Vec::new(),
            ended: Vec::new(),
        }
    }

    /// The program, once its PMT has been read.
    pub fn program(&self) -> Option<&ProgramInfo> {
        self.program.as_ref()
    }

    /// Packets whose continuity_counter was not the previous one's plus one
    /// (ISO/IEC 13818-1 2.4.3.3), outside a signalled discontinuity.
    pub fn cc_errors(&self) -> u64 {
        self.cc_errors
    }

    /// PAT or PMT sections dropped for a bad CRC_32.
    pub fn crc_errors(&self) -> u64 {
        self.crc_errors
    }

    /// Times the packet grid was lost and searched for again.
    pub fn sync_losses(&self) -> u64 {
        self.sync_losses
    }

    /// PES packets dropped: bad header, cut short by a continuity error or
    /// the end of input, or over [`MAX_PES`].
    pub fn dropped_pes(&self) -> u64 {
        self.dropped_pes
    }

    /// Feeds bytes; returns the frames completed by them.
    ///
    /// Broken input is skipped and counted. The one error is a PES over
    /// [`MAX_PES`] (dropped): the rest of `data` is still processed, and the
    /// frames completed meanwhile are returned by the next call.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<DemuxedFrame>, DemuxError> {
        self.buf.extend_from_slice(data);
        self.process(false);
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(std::mem::take(&mut self.ready)),
        }
    }

    /// End of input: processes a last packet that could not be confirmed
    /// and ends the PES packets in progress (an unbounded video PES is
    /// complete only now).
    pub fn flush(&mut self) -> Vec<DemuxedFrame> {
        self.process(true);
        self.buf.clear();
        self.error = None;
        for i in 0..self.streams.len() {
            if let Some(ended) = self.streams.get_mut(i).and_then(|s| s.finish()) {
                self.ended.push(ended);
            }
        }
        self.collect_ended();
        std::mem::take(&mut self.ready)
    }

    fn process(&mut self, at_end: bool) {
        let mut pos = 0;
        loop {
            let rest = self.buf.get(pos..).unwrap_or_default();
            if !self.synced {
                match find_sync(rest, at_end) {
                    Sync::Found(off) => {
                        pos += off;
                        self.synced = true;
                    }
                    Sync::Wait(off) => {
                        pos += off;
                        break;
                    }
                    Sync::None => {
                        pos = self.buf.len();
                        break;
                    }
                }
            }
            let Some(packet) = self
                .buf
                .get(pos..pos + PACKET_SIZE)
                .and_then(|p| <[u8; PACKET_SIZE]>::try_from(p).ok())
            else {
                break;
            };
            // Once in sync the packet grid is trusted: a sync byte where
            // it predicts one is taken (garbage that happens to start with
            // 0x47 costs the packet it overlaps).
            if packet[0] != SYNC_BYTE {
                self.synced = false;
                self.sync_losses += 1;
                pos += 1;
                continue;
            }
            self.packet(&packet);
            pos += PACKET_SIZE;
        }
        self.buf.drain(..pos.min(self.buf.len()));
        self.collect_ended();
    }

    fn collect_ended(&mut self) {
        for ended in self.ended.drain(..) {
            match ended {
                Ended::Frame(f) => self.ready.push(f),
                Ended::Dropped => self.dropped_pes += 1,
            }
        }
    }

    /// One 188-byte packet.
    fn packet(&mut self, packet: &[u8; PACKET_SIZE]) {
        let Ok((rest, h)) = TsHeader::decode(packet) else {
            return;
        };
        // 2.4.3.3: the transport_error_indicator marks an uncorrectable
        // packet; its fields cannot be trusted.
        if h.transport_error || h.pid == NULL_PID {
            return;
        }
        let (payload, af) = if h.has_adaptation {
            match AdaptationField::decode(rest) {
                Ok(v) => v,
                Err(_) => return,
            }
        } else {
            (rest, AdaptationField::default())
        };
        if h.has_payload {
            // 2.4.3.3: the counter increments per packet with payload; a
            // packet may be sent twice (same counter, dropped here); a gap
            // outside a signalled discontinuity is an error.
            let idx = usize::from(h.pid);
            let last = self.last_cc.get(idx).copied().unwrap_or(0xFF);
            if last != 0xFF && !af.discontinuity {
                if h.continuity_counter == last {
                    return;
                }
                if h.continuity_counter != (last + 1) & 0xF {
                    self.cc_errors += 1;
                    self.lost(h.pid);
                }
            }
            if let Some(slot) = self.last_cc.get_mut(idx) {
                *slot = h.continuity_counter;
            }
        }
        // Scrambled payloads are opaque.
        if !h.has_payload || h.scrambling != 0 {
            return;
        }
        if h.pid == PAT_PID {
            self.pat_sections
                .push(h.payload_unit_start, payload, &mut self.sections);
            for section in std::mem::take(&mut self.sections) {
                self.on_pat(&section);
            }
        } else if Some(h.pid) == self.pmt.map(|(_, pid)| pid) {
            self.pmt_sections
                .push(h.payload_unit_start, payload, &mut self.sections);
            for section in std::mem::take(&mut self.sections) {
                self.on_pmt(&section);
            }
        } else if let Some(stream) = self.streams.iter_mut().find(|s| s.pid() == h.pid) {
            if let Err(e) = stream.push(
                h.payload_unit_start,
                af.random_access,
                payload,
                &mut self.ended,
            ) {
                self.dropped_pes += 1;
                self.error.get_or_insert(e);
            }
        }
    }

    /// A continuity error on `pid`: what was being assembled is lost.
    fn lost(&mut self, pid: u16) {
        if pid == PAT_PID {
            self.pat_sections.reset();
        } else if Some(pid) == self.pmt.map(|(_, p)| p) {
            self.pmt_sections.reset();
        } else if let Some(stream) = self.streams.iter_mut().find(|s| s.pid() == pid) {
            if stream.abort() {
                self.dropped_pes += 1;
            }
        }
    }

    fn on_pat(&mut self, section: &[u8]) {
        let pat = match Pat::decode(section) {
            Ok(pat) => pat,
            Err(DemuxError::BadCrc { .. }) => return self.crc_errors += 1,
            Err(_) => return,
        };
        // Program 0 names the network PID, not a program (2.4.4.3).
        let Some(first) = pat.programs.iter().find(|p| p.program_number != 0) else {
            return;
        };
        let pmt = Some((first.program_number, first.pid));
        if self.pmt != pmt {
            self.pmt = pmt;
            self.program = None;
            self.pmt_sections.reset();
        }
    }

    fn on_pmt(&mut self, section: &[u8]) {
        let pmt = match Pmt::decode(section) {
            Ok(pmt) => pmt,
            Err(DemuxError::BadCrc { .. }) => return self.crc_errors += 1,
            Err(_) => return,
        };
        let Some((program_number, pmt_pid)) = self.pmt else {
            return;
        };
        if pmt.program_number != program_number {
            return;
        }
        let mut streams: Vec<StreamInfo> = Vec::with_capacity(pmt.streams.len().min(MAX_STREAMS));
        for s in &pmt.streams {
            let usable = s.pid != PAT_PID && s.pid != pmt_pid && s.pid != NULL_PID;
            if usable && !streams.iter().any(|o| o.pid == s.pid) && streams.len() < MAX_STREAMS {
                streams.push(StreamInfo {
                    pid: s.pid,
                    stream_type: s.stream_type,
                });
            }
        }
        // Keep the assemblers of streams that stay (a repeated PMT must not
        // cut the PES in progress).
        let mut old = std::mem::take(&mut self.streams);
        for s in &streams {
            let assembler = match old.iter().position(|a| a.pid() == s.pid) {
                Some(i) => {
                    let mut a = old.swap_remove(i);
                    a.set_stream_type(s.stream_type);
                    a
                }
                None => PesAssembler::new(s.pid, s.stream_type),
            };
            self.streams.push(assembler);
        }
        self.program = Some(ProgramInfo {
            program_number,
            pmt_pid,
            pcr_pid: pmt.pcr_pid,
            streams,
        });
    }
}

#[cfg(test)]
mod tests;
