//! Reassembly of PSI sections from transport packet payloads (ISO/IEC
//! 13818-1 2.4.4.2): a `pointer_field` in packets with
//! payload_unit_start_indicator set, sections spanning packets, several
//! sections per packet, 0xFF stuffing after the last one. Bounded by the
//! largest section a PAT or PMT may have.

use crate::ts::section::{section_total_len, MAX_SECTION};

/// Collects the sections of one PID.
#[derive(Debug, Default)]
pub(crate) struct SectionAssembler {
    buf: Vec<u8>,
}

impl SectionAssembler {
    /// Forgets a partial section (after a continuity error).
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
    }

    /// Feeds one packet's payload; complete sections are appended to `out`.
    pub(crate) fn push(&mut self, unit_start: bool, payload: &[u8], out: &mut Vec<Vec<u8>>) {
        if !unit_start {
            if !self.buf.is_empty() {
                self.buf.extend_from_slice(payload);
                self.drain(out);
            }
            return;
        }
        let Some((&pointer, rest)) = payload.split_first() else {
            self.reset();
            return;
        };
        // 2.4.4.2: pointer_field counts the bytes before the first new
        // section; they end the section in progress.
        let Some((tail, new)) = rest.split_at_checked(usize::from(pointer)) else {
            self.reset();
            return;
        };
        if !self.buf.is_empty() {
            self.buf.extend_from_slice(tail);
            self.drain(out);
        }
        self.buf.clear();
        self.buf.extend_from_slice(new);
        self.drain(out);
    }

    /// Moves complete sections out of the buffer; stops at stuffing, at an
    /// impossible length, or when more bytes are needed.
    fn drain(&mut self, out: &mut Vec<Vec<u8>>) {
        loop {
            match self.buf.first() {
                None => return,
                // A table_id of 0xFF is stuffing up to the end of the packet.
                Some(0xFF) => return self.buf.clear(),
                Some(_) => {}
            }
            let Some(total) = section_total_len(&self.buf) else {
                return;
            };
            if total > MAX_SECTION {
                return self.buf.clear();
            }
            if self.buf.len() < total {
                return;
            }
            out.push(self.buf.drain(..total).collect());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_across_and_within_packets() {
        let section: Vec<u8> = [0x00, 0xB0, 0x05, 1, 2, 3, 4, 5].to_vec();
        let mut a = SectionAssembler::default();
        let mut out = Vec::new();
        // Starts in one packet, ends in the next.
        a.push(true, &[0, 0x00, 0xB0, 0x05, 1], &mut out);
        assert!(out.is_empty());
        a.push(false, &[2, 3, 4, 5, 0xFF, 0xFF], &mut out);
        assert_eq!(out, std::slice::from_ref(&section));
        // Pointer field: the end of one section, then two more and stuffing.
        out.clear();
        a.push(true, &[0, 0x00, 0xB0, 0x05, 1, 2], &mut out);
        let mut p = vec![3, 3, 4, 5];
        p.extend_from_slice(&section);
        p.extend_from_slice(&section);
        p.push(0xFF);
        a.push(true, &p, &mut out);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|s| *s == section));
        // Pointer past the payload, empty payload, continuation without a start.
        out.clear();
        a.push(true, &[200, 1, 2], &mut out);
        a.push(true, &[], &mut out);
        a.push(false, &section, &mut out);
        assert!(out.is_empty());
    }
}
