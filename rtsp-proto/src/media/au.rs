//! Access-unit assembly shared by the H.264 and H.265 depacketizers: sequence checks,
//! access-unit boundaries (marker bit or timestamp change), fragment reassembly, limits, and
//! the rule that an access unit touched by a loss is dropped whole, never emitted damaged.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::{MediaError, RtpPacket};

/// One access unit (a coded picture): the NAL units that share an RTP timestamp, each
/// without start code or length prefix.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessUnit {
    /// RTP timestamp (90 kHz for video).
    pub timestamp: u32,
    /// The NAL units in decoding order.
    pub nalus: Vec<Bytes>,
    /// A random-access point: an IDR NAL (H.264) or an IRAP NAL (H.265) is present.
    pub keyframe: bool,
}

/// Bounds a depacketizer keeps so that a peer cannot grow memory without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepacketizerLimits {
    /// Largest access unit, summed over its NAL units (default 8 MiB).
    pub max_au_bytes: usize,
    /// Most NAL units in one access unit (default 1024).
    pub max_nalus: usize,
    /// Most complete access units held until [`pop`](super::H264Depacketizer::pop)
    /// (default 16); beyond it the oldest is dropped.
    pub max_ready: usize,
}

impl Default for DepacketizerLimits {
    fn default() -> Self {
        Self {
            max_au_bytes: 8 << 20,
            max_nalus: 1024,
            max_ready: 16,
        }
    }
}

/// Counters a depacketizer keeps, for metrics and for deciding to ask for a keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DepacketizerStats {
    /// Packets pushed.
    pub packets: u64,
    /// Packets missing according to sequence numbers.
    pub lost_packets: u64,
    /// Duplicate or late (out-of-order) packets ignored.
    pub late_packets: u64,
    /// Packets whose payload was malformed or unsupported.
    pub malformed_packets: u64,
    /// Access units completed and handed out.
    pub access_units: u64,
    /// Access units dropped (loss, malformed payload, limit exceeded, queue full).
    pub dropped_access_units: u64,
}

/// What the sequence number of a new packet says (RFC 3550 §A.1 logic, simplified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeqVerdict {
    /// The next packet, or the first one.
    InOrder,
    /// Packets are missing before this one (or the source jumped).
    Gap(u64),
    /// A duplicate or a packet older than the last one: ignore it.
    Late,
}

/// How far backwards a sequence number may go and still be called late rather than a
/// restart of the source.
const MAX_MISORDER: u16 = 100;

/// Tracks the highest sequence number seen.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SeqTracker {
    last: Option<u16>,
}

impl SeqTracker {
    pub(crate) fn check(&mut self, seq: u16) -> SeqVerdict {
        let Some(last) = self.last else {
            self.last = Some(seq);
            return SeqVerdict::InOrder;
        };
        let delta = seq.wrapping_sub(last);
        if delta == 1 {
            self.last = Some(seq);
            SeqVerdict::InOrder
        } else if delta != 0 && delta < 0x8000 {
            self.last = Some(seq);
            SeqVerdict::Gap(u64::from(delta - 1))
        } else if delta == 0 || last.wrapping_sub(seq) <= MAX_MISORDER {
            SeqVerdict::Late
        } else {
            // A large backwards jump: the source restarted; resynchronise on it.
            self.last = Some(seq);
            SeqVerdict::Gap(0)
        }
    }
}

#[derive(Debug)]
struct Pending {
    timestamp: u32,
    nalus: Vec<Bytes>,
    bytes: usize,
    keyframe: bool,
    corrupt: bool,
}

/// The codec-independent half of a video depacketizer.
#[derive(Debug, Default)]
pub(crate) struct AuAssembler {
    pub(crate) limits: DepacketizerLimits,
    pub(crate) stats: DepacketizerStats,
    seq: SeqTracker,
    current: Option<Pending>,
    /// A fragmented NAL being reassembled, and whether it is a random-access NAL.
    fragment: Option<(BytesMut, bool)>,
    ready: VecDeque<AccessUnit>,
}

impl AuAssembler {
    pub(crate) fn new(limits: DepacketizerLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// One packet through [`begin`](Self::begin), the codec's payload parser and
    /// [`end`](Self::end): a payload error is counted and drops the access unit it
    /// belonged to; the assembler stays usable.
    pub(crate) fn push(
        &mut self,
        pkt: &RtpPacket,
        payload: impl FnOnce(&mut Self, &Bytes) -> Result<(), MediaError>,
    ) -> Result<(), MediaError> {
        if !self.begin(pkt) {
            return Ok(());
        }
        let result = payload(self, &pkt.payload);
        if result.is_err() {
            self.stats.malformed_packets += 1;
            self.corrupt();
        }
        self.end(pkt.marker);
        result
    }

    /// Starts a packet. Returns false when the packet must be ignored (duplicate or late).
    pub(crate) fn begin(&mut self, pkt: &RtpPacket) -> bool {
        self.stats.packets += 1;
        let gap = match self.seq.check(pkt.sequence) {
            SeqVerdict::Late => {
                self.stats.late_packets += 1;
                return false;
            }
            SeqVerdict::InOrder => false,
            SeqVerdict::Gap(n) => {
                self.stats.lost_packets += n;
                true
            }
        };
        if gap {
            // The missing packets may be the tail of the access unit in progress...
            self.corrupt();
        }
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.timestamp != pkt.timestamp)
        {
            // RFC 6184 §5.1 / RFC 7798 §4.1: all packets of an access unit share one
            // timestamp, so a new timestamp ends the previous one even without a marker.
            self.finish();
        }
        let current = self.current.get_or_insert_with(|| Pending {
            timestamp: pkt.timestamp,
            nalus: Vec::new(),
            bytes: 0,
            keyframe: false,
            corrupt: false,
        });
        // ...or the head of this one.
        current.corrupt |= gap;
        true
    }

    /// Ends a packet: the marker bit ends the access unit (RFC 6184 §5.1, RFC 7798 §4.1).
    pub(crate) fn end(&mut self, marker: bool) {
        if marker {
            self.finish();
        }
    }

    /// Marks the access unit in progress as damaged; it will be dropped.
    pub(crate) fn corrupt(&mut self) {
        self.fragment = None;
        if let Some(c) = &mut self.current {
            if !c.corrupt {
                c.corrupt = true;
                c.nalus = Vec::new();
            }
        }
    }

    fn is_corrupt(&self) -> bool {
        self.current.as_ref().is_none_or(|c| c.corrupt)
    }

    /// Adds a complete NAL unit to the access unit in progress.
    pub(crate) fn push_nal(&mut self, nal: Bytes, keyframe: bool) -> Result<(), MediaError> {
        if self.fragment.is_some() {
            // A fragmented NAL never got its end fragment.
            self.corrupt();
        }
        let limits = self.limits;
        let Some(c) = self.current.as_mut().filter(|c| !c.corrupt) else {
            return Ok(());
        };
        if c.nalus.len() >= limits.max_nalus {
            let size = c.nalus.len() + 1;
            self.corrupt();
            return Err(MediaError::TooLarge {
                what: "NAL units in one access unit",
                size,
                limit: limits.max_nalus,
            });
        }
        if c.bytes + nal.len() > limits.max_au_bytes {
            let size = c.bytes + nal.len();
            self.corrupt();
            return Err(MediaError::TooLarge {
                what: "access unit",
                size,
                limit: limits.max_au_bytes,
            });
        }
        c.bytes += nal.len();
        c.keyframe |= keyframe;
        c.nalus.push(nal);
        Ok(())
    }

    /// Starts a fragmented NAL unit whose reconstructed header is `header`.
    pub(crate) fn fragment_start(&mut self, header: &[u8], keyframe: bool) {
        if self.fragment.is_some() {
            // The previous fragmented NAL lost its end.
            self.corrupt();
        }
        if !self.is_corrupt() {
            let mut buf = BytesMut::with_capacity(header.len() + 1500);
            buf.extend_from_slice(header);
            self.fragment = Some((buf, keyframe));
        }
    }

    /// Appends to the fragmented NAL unit; `last` completes it.
    pub(crate) fn fragment_data(&mut self, data: &[u8], last: bool) -> Result<(), MediaError> {
        let Some((buf, _)) = &mut self.fragment else {
            // A middle or end fragment without its start: the start was lost or the
            // access unit is already damaged.
            self.corrupt();
            return Ok(());
        };
        let au_bytes = self.current.as_ref().map_or(0, |c| c.bytes);
        let size = au_bytes + buf.len() + data.len();
        if size > self.limits.max_au_bytes {
            self.corrupt();
            return Err(MediaError::TooLarge {
                what: "access unit",
                size,
                limit: self.limits.max_au_bytes,
            });
        }
        buf.extend_from_slice(data);
        if last {
            if let Some((buf, keyframe)) = self.fragment.take() {
                return self.push_nal(buf.freeze(), keyframe);
            }
        }
        Ok(())
    }

    /// Ends the access unit in progress: queues it if whole, drops it if damaged.
    pub(crate) fn finish(&mut self) {
        if self.fragment.take().is_some() {
            self.corrupt();
        }
        let Some(c) = self.current.take() else {
            return;
        };
        if c.corrupt {
            self.stats.dropped_access_units += 1;
            return;
        }
        if c.nalus.is_empty() {
            return;
        }
        if self.ready.len() >= self.limits.max_ready.max(1) {
            self.ready.pop_front();
            self.stats.dropped_access_units += 1;
        }
        self.stats.access_units += 1;
        self.ready.push_back(AccessUnit {
            timestamp: c.timestamp,
            nalus: c.nalus,
            keyframe: c.keyframe,
        });
    }

    pub(crate) fn pop(&mut self) -> Option<AccessUnit> {
        self.ready.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_tracker_sees_gaps_wrap_and_restarts() {
        let mut t = SeqTracker::default();
        assert_eq!(t.check(65534), SeqVerdict::InOrder);
        assert_eq!(t.check(65535), SeqVerdict::InOrder);
        assert_eq!(t.check(0), SeqVerdict::InOrder);
        assert_eq!(t.check(3), SeqVerdict::Gap(2));
        assert_eq!(t.check(3), SeqVerdict::Late);
        assert_eq!(t.check(1), SeqVerdict::Late);
        assert_eq!(t.check(30000), SeqVerdict::Gap(29996));
        assert_eq!(t.check(1000), SeqVerdict::Gap(0));
        assert_eq!(t.check(1001), SeqVerdict::InOrder);
    }
}
