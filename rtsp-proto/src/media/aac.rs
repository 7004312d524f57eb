//! MPEG-4 audio over RTP, `mpeg4-generic` (RFC 3640): the AU header section (§3.2.1), one or
//! several access units per packet (§3.2.2), and an access unit fragmented over several
//! packets (§3.2.3). Defaults are AAC-hbr (§3.3.6: sizeLength 13, indexLength 3,
//! indexDeltaLength 3).
//!
//! Not supported: interleaving (a non-zero AU-Index or AU-Index-delta), and the optional
//! AU-header fields (CTS, DTS, RAP, stream state) and auxiliary section, which the SDP
//! `fmtp` would announce with their own length parameters.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::parts::{to_packets, PartsBuilder, PayloadParts};
use codec::bits::{BitReader, BitWriter};
use nom::bytes::complete::take;
use nom::number::complete::be_u16;

use super::au::{SeqTracker, SeqVerdict};
use super::h264::check_mtu;
use super::{MediaError, RtpPacket};

/// The `fmtp` parameters of an `mpeg4-generic` stream that shape its AU headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AacConfig {
    /// `sizelength`: bits of AU-size (1..=16).
    pub size_length: u8,
    /// `indexlength`: bits of AU-Index, in the first AU header (0..=8).
    pub index_length: u8,
    /// `indexdeltalength`: bits of AU-Index-delta, in the following ones (0..=8).
    pub index_delta_length: u8,
    /// Samples per access unit, to step timestamps: 1024 for AAC-LC.
    pub frame_duration: u32,
}

impl AacConfig {
    /// AAC-hbr (RFC 3640 §3.3.6): 13, 3, 3; 1024 samples per frame.
    pub const fn hbr() -> Self {
        Self {
            size_length: 13,
            index_length: 3,
            index_delta_length: 3,
            frame_duration: 1024,
        }
    }

    /// AAC-lbr (RFC 3640 §3.3.5): 6, 2, 2; 1024 samples per frame.
    pub const fn lbr() -> Self {
        Self {
            size_length: 6,
            index_length: 2,
            index_delta_length: 2,
            frame_duration: 1024,
        }
    }

    fn check(&self) -> Result<(), MediaError> {
        if !(1..=16).contains(&self.size_length)
            || self.index_length > 8
            || self.index_delta_length > 8
        {
            return Err(MediaError::Misuse(
                "AAC sizelength must be 1..=16, index lengths 0..=8",
            ));
        }
        Ok(())
    }

    /// Largest access unit the AU-size field can describe.
    pub fn max_au_size(&self) -> usize {
        (1usize << self.size_length.min(16)) - 1
    }

    fn header_bits(&self, first: bool) -> usize {
        let index = if first {
            self.index_length
        } else {
            self.index_delta_length
        };
        usize::from(self.size_length) + usize::from(index)
    }
}

impl Default for AacConfig {
    fn default() -> Self {
        Self::hbr()
    }
}

/// One AAC access unit (raw, without ADTS header).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AacFrame {
    /// RTP timestamp in the audio sample rate.
    pub timestamp: u32,
    /// The access unit.
    pub data: Bytes,
}

/// Counters an [`AacDepacketizer`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AacStats {
    /// Packets pushed.
    pub packets: u64,
    /// Packets missing according to sequence numbers.
    pub lost_packets: u64,
    /// Duplicate or late packets ignored.
    pub late_packets: u64,
    /// Packets whose payload was malformed or unsupported.
    pub malformed_packets: u64,
    /// Frames handed out.
    pub frames: u64,
    /// Fragmented frames dropped because a fragment was lost or inconsistent.
    pub dropped_frames: u64,
}

/// Reads an AU header field of `bits` bits, if present and at most 16 bits
/// wide (RFC 3640 §3.2.1; wider sizes are refused as truncated headers).
fn read_field(reader: &mut BitReader<'_>, bits: u8) -> Option<u16> {
    let v = reader.bits(u32::from(bits)).ok()?;
    u16::try_from(v).ok()
}

#[derive(Debug)]
struct Fragment {
    timestamp: u32,
    /// Started right after a loss: it may be a middle fragment taken for a first one.
    after_gap: bool,
    size: usize,
    buf: BytesMut,
}

/// Extracts AAC access units from `mpeg4-generic` RTP packets.
///
/// Push packets in sequence order, pop frames. Frame `i` of a packet is stamped
/// `timestamp + i * frame_duration`. A fragmented access unit is joined from its packets; if
/// one of them is lost, that access unit is dropped.
#[derive(Debug, Default)]
pub struct AacDepacketizer {
    config: AacConfig,
    seq: SeqTracker,
    fragment: Option<Fragment>,
    ready: VecDeque<AacFrame>,
    stats: AacStats,
}

impl AacDepacketizer {
    /// A depacketizer for the given `fmtp` parameters.
    pub fn new(config: AacConfig) -> Result<Self, MediaError> {
        config.check()?;
        Ok(Self {
            config,
            ..Self::default()
        })
    }

    /// The next frame, oldest first.
    pub fn pop(&mut self) -> Option<AacFrame> {
        self.ready.pop_front()
    }

    /// Counters since creation.
    pub fn stats(&self) -> AacStats {
        self.stats
    }

    /// Takes one packet. An error reports a malformed or unsupported payload; the
    /// depacketizer stays usable.
    pub fn push(&mut self, pkt: &RtpPacket) -> Result<(), MediaError> {
        self.stats.packets += 1;
        let gap = match self.seq.check(pkt.sequence) {
            SeqVerdict::Late => {
                self.stats.late_packets += 1;
                return Ok(());
            }
            SeqVerdict::Gap(n) => {
                self.stats.lost_packets += n;
                self.drop_fragment();
                true
            }
            SeqVerdict::InOrder => false,
        };
        let result = self.payload(pkt, gap);
        if result.is_err() {
            self.stats.malformed_packets += 1;
            self.drop_fragment();
        }
        result
    }

    fn drop_fragment(&mut self) {
        if self.fragment.take().is_some() {
            self.stats.dropped_frames += 1;
        }
    }

    fn emit(&mut self, timestamp: u32, data: Bytes) {
        self.stats.frames += 1;
        self.ready.push_back(AacFrame { timestamp, data });
    }

    fn payload(&mut self, pkt: &RtpPacket, gap: bool) -> Result<(), MediaError> {
        let payload: &[u8] = &pkt.payload;
        // RFC 3640 §3.2.1: AU-headers-length, 16 bits, counts the bits of the AU headers.
        let (rest, header_bits) =
            be_u16(payload).map_err(|_: nom::Err<nom::error::Error<&[u8]>>| {
                MediaError::truncated("AU-headers-length", 0)
            })?;
        let header_bits = usize::from(header_bits);
        let (data, headers) = take(header_bits.div_ceil(8))(rest).map_err(
            |_: nom::Err<nom::error::Error<&[u8]>>| MediaError::truncated("AU headers", 2),
        )?;
        let mut reader = BitReader::new(headers, "AU header");
        let mut sizes = Vec::new();
        while header_bits - reader.position() >= self.config.header_bits(sizes.is_empty()) {
            let first = sizes.is_empty();
            let size = read_field(&mut reader, self.config.size_length);
            let index_bits = if first {
                self.config.index_length
            } else {
                self.config.index_delta_length
            };
            let index = read_field(&mut reader, index_bits);
            let (Some(size), Some(index)) = (size, index) else {
                return Err(MediaError::truncated("AU header", 2));
            };
            if index != 0 {
                return Err(MediaError::Unsupported {
                    what: "AU header",
                    detail: "interleaving: non-zero AU-Index or AU-Index-delta (RFC 3640 §3.2.1.1)",
                });
            }
            sizes.push(usize::from(size));
        }
        if header_bits != reader.position() {
            return Err(MediaError::invalid(
                "AU-headers-length",
                0,
                "RFC 3640 §3.2.1: must be a whole number of AU headers",
            ));
        }
        let Some(&first) = sizes.first() else {
            return Err(MediaError::invalid(
                "AU-headers-length",
                0,
                "RFC 3640 §3.2.1: at least one AU header",
            ));
        };
        let data_offset = 2 + headers.len();

        if let Some(frag) = &mut self.fragment {
            // RFC 3640 §3.2.3: continuation fragments carry the same timestamp and one AU
            // header with the size of the whole access unit.
            if frag.timestamp == pkt.timestamp && sizes.len() == 1 && first == frag.size {
                frag.buf.extend_from_slice(data);
                if frag.buf.len() > frag.size {
                    self.drop_fragment();
                    return Err(MediaError::invalid(
                        "AAC fragment",
                        data_offset,
                        "RFC 3640 §3.2.3: fragments exceed the AU-size",
                    ));
                }
                if frag.buf.len() == frag.size {
                    if let Some(f) = self.fragment.take() {
                        self.emit(f.timestamp, f.buf.freeze());
                    }
                } else if pkt.marker {
                    let after_gap = frag.after_gap;
                    self.drop_fragment();
                    if after_gap {
                        // The "first" fragment was a middle one whose start was lost.
                        return Ok(());
                    }
                    return Err(MediaError::invalid(
                        "AAC fragment",
                        data_offset,
                        "RFC 3640 §3.2.3: the marker bit is set on the last fragment only",
                    ));
                }
                return Ok(());
            }
            // Not a continuation: the fragmented access unit never completed.
            self.drop_fragment();
        }

        if sizes.len() == 1 && first > data.len() {
            // RFC 3640 §3.2.3: the first fragment of an access unit that spans packets.
            if pkt.marker && gap {
                // The last fragment of an access unit whose start was lost (counted as lost
                // packets already).
                return Ok(());
            }
            if pkt.marker || data.is_empty() {
                return Err(MediaError::invalid(
                    "AAC fragment",
                    data_offset,
                    "RFC 3640 §3.2.3: a first fragment has data and no marker bit",
                ));
            }
            let mut buf = BytesMut::with_capacity(first);
            buf.extend_from_slice(data);
            self.fragment = Some(Fragment {
                timestamp: pkt.timestamp,
                after_gap: gap,
                size: first,
                buf,
            });
            return Ok(());
        }
        let total: usize = sizes.iter().sum();
        if total > data.len() {
            return Err(MediaError::truncated("AAC access units", pkt.payload.len()));
        }
        let mut offset = data_offset;
        let mut timestamp = pkt.timestamp;
        for size in sizes {
            let frame = pkt.payload.slice(offset..offset + size);
            self.emit(timestamp, frame);
            offset += size;
            timestamp = timestamp.wrapping_add(self.config.frame_duration);
        }
        Ok(())
    }
}

/// Puts AAC access units into `mpeg4-generic` RTP packets (RFC 3640).
///
/// Consecutive frames share a packet while they fit the MTU; a frame larger than one packet
/// is fragmented (§3.2.3). Every packet ending with a whole access unit carries the marker
/// bit (RFC 3640 §3.2.1: the M bit marks the final fragment of an access unit or a packet of
/// complete access units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacPacketizer {
    /// Largest RTP packet, header included (64..=65535).
    pub mtu: usize,
    /// Payload type of the packets.
    pub payload_type: u8,
    /// SSRC of the packets.
    pub ssrc: u32,
    /// Sequence number of the next packet.
    pub sequence: u16,
    /// The AU header layout and the frame duration.
    pub config: AacConfig,
    /// Most frames in one packet (1 sends one frame per packet).
    pub max_frames_per_packet: usize,
}

impl AacPacketizer {
    /// An AAC-hbr packetizer that puts several frames in a packet when they fit.
    pub fn new(mtu: usize, payload_type: u8, ssrc: u32, sequence: u16) -> Self {
        Self {
            mtu,
            payload_type,
            ssrc,
            sequence,
            config: AacConfig::hbr(),
            max_frames_per_packet: 8,
        }
    }

    fn headers_len(&self, n: usize) -> usize {
        let bits = self.config.header_bits(true) + (n - 1) * self.config.header_bits(false);
        2 + bits.div_ceil(8)
    }

    /// One packet's AU-headers-length and AU headers for frames of `sizes`.
    fn au_headers(&self, sizes: &[usize], out: &mut PartsBuilder) {
        let mut w = BitWriter::new();
        for (k, &size) in sizes.iter().enumerate() {
            w.put(u32::from(size as u16), u32::from(self.config.size_length));
            let index = if k == 0 {
                self.config.index_length
            } else {
                self.config.index_delta_length
            };
            w.put(0, u32::from(index));
        }
        let bits = w.len_bits();
        out.head(&(bits as u16).to_be_bytes());
        out.head(&w.finish());
    }

    /// Packetizes consecutive frames; frame `i` is at `timestamp + i * frame_duration`.
    pub fn packetize(
        &mut self,
        frames: &[Bytes],
        timestamp: u32,
    ) -> Result<Vec<RtpPacket>, MediaError> {
        let parts = self.packetize_parts(frames)?;
        Ok(to_packets(
            parts,
            self.payload_type,
            self.ssrc,
            &mut self.sequence,
            timestamp,
        ))
    }

    /// [`packetize`](Self::packetize) without RTP headers and without
    /// copying: each packet's payload as its AU headers beside slices of
    /// `frames`, with its timestamp offset from the first frame.
    /// Concatenated, the parts are the payloads `packetize` returns;
    /// sequence numbers are not advanced.
    pub fn packetize_parts(&self, frames: &[Bytes]) -> Result<Vec<PayloadParts>, MediaError> {
        let budget = check_mtu(self.mtu)?;
        self.config.check()?;
        let max = self.config.max_au_size();
        if frames.iter().any(|f| f.is_empty() || f.len() > max) {
            return Err(MediaError::Misuse(
                "AAC frames must be 1..=2^sizelength-1 bytes",
            ));
        }
        let per_packet = self.max_frames_per_packet.max(1);
        let duration = self.config.frame_duration;
        let mut out = PartsBuilder::default();
        let mut i = 0;
        while let Some(frame) = frames.get(i) {
            let ts = duration.wrapping_mul(i as u32);
            let single = self.headers_len(1);
            if single + frame.len() > budget {
                // RFC 3640 §3.2.3: one AU header with the whole size in every fragment.
                let chunk = budget - single;
                let count = frame.len().div_ceil(chunk);
                for k in 0..count {
                    self.au_headers(&[frame.len()], &mut out);
                    out.data(frame.slice(k * chunk..((k + 1) * chunk).min(frame.len())));
                    out.end(k + 1 == count, ts);
                }
                i += 1;
                continue;
            }
            let mut end = i + 1;
            let mut data_len = frame.len();
            while let Some(next) = frames.get(end) {
                let n = end - i + 1;
                if n > per_packet || self.headers_len(n) + data_len + next.len() > budget {
                    break;
                }
                data_len += next.len();
                end += 1;
            }
            let group = frames.get(i..end).unwrap_or_default();
            let sizes: Vec<usize> = group.iter().map(|f| f.len()).collect();
            self.au_headers(&sizes, &mut out);
            for f in group {
                out.data(f.clone());
            }
            out.end(true, ts);
            i = end;
        }
        Ok(out.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pkt(seq: u16, ts: u32, marker: bool, payload: Vec<u8>) -> RtpPacket {
        RtpPacket::new(97, seq, ts, 1, marker, Bytes::from(payload))
    }

    #[test]
    fn two_frames_in_one_packet() {
        // AU-headers-length 32 bits: sizes 3 and 2 (13 bits each) with zero indexes.
        let mut d = AacDepacketizer::new(AacConfig::hbr()).unwrap();
        let payload = vec![0x00, 0x20, 0x00, 0x18, 0x00, 0x10, 1, 2, 3, 4, 5];
        d.push(&pkt(1, 1000, true, payload)).unwrap();
        assert_eq!(
            d.pop().unwrap(),
            AacFrame {
                timestamp: 1000,
                data: Bytes::from_static(&[1, 2, 3])
            }
        );
        assert_eq!(
            d.pop().unwrap(),
            AacFrame {
                timestamp: 2024,
                data: Bytes::from_static(&[4, 5])
            }
        );
        assert_eq!(d.pop(), None);
    }

    #[test]
    fn fragmented_frame_and_loss() {
        let mut d = AacDepacketizer::new(AacConfig::hbr()).unwrap();
        // Size 5 (0x0028 = 5 << 3) over two packets.
        d.push(&pkt(1, 0, false, vec![0, 16, 0, 0x28, 1, 2, 3]))
            .unwrap();
        assert_eq!(d.pop(), None);
        d.push(&pkt(2, 0, true, vec![0, 16, 0, 0x28, 4, 5]))
            .unwrap();
        assert_eq!(d.pop().unwrap().data, Bytes::from_static(&[1, 2, 3, 4, 5]));
        // The same with the first fragment's successor lost.
        d.push(&pkt(3, 1024, false, vec![0, 16, 0, 0x28, 1, 2]))
            .unwrap();
        d.push(&pkt(5, 1024, true, vec![0, 16, 0, 0x28, 4, 5]))
            .unwrap();
        assert_eq!(d.pop(), None);
        assert_eq!(d.stats().dropped_frames, 1);
        assert_eq!(d.stats().malformed_packets, 0);
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 16, 0],
            vec![0, 0],
            vec![0, 15, 0, 0x28, 1],
            vec![0, 16, 0, 0x29, 1, 2, 3, 4, 5], // AU-Index 1
            vec![0, 32, 0, 0x28, 0, 0x28, 1],    // sizes beyond the data
            vec![0, 16, 0, 0x28, 1],             // first fragment with marker
            vec![0, 16, 0, 0x28],                // first fragment without data
        ];
        for (k, case) in cases.into_iter().enumerate() {
            let mut d = AacDepacketizer::new(AacConfig::hbr()).unwrap();
            assert!(
                d.push(&pkt(k as u16, 0, true, case.clone())).is_err(),
                "{case:?}"
            );
            assert_eq!(d.pop(), None);
        }
    }

    #[test]
    fn packetizer_layout() {
        let mut p = AacPacketizer::new(100, 97, 1, 0);
        let frames = [
            Bytes::from(vec![1; 40]),
            Bytes::from(vec![2; 40]),
            Bytes::from(vec![3; 200]),
        ];
        let pkts = p.packetize(&frames, 0).unwrap();
        // Two frames together (2 + 4 + 80 <= 88), then 200 bytes in 3 fragments of 84.
        assert_eq!(pkts.len(), 4);
        assert_eq!(pkts[0].payload[..6], [0, 32, 0x01, 0x40, 0x01, 0x40]);
        assert_eq!((pkts[1].timestamp, pkts[1].marker), (2048, false));
        assert!(pkts[3].marker);
        assert!(p.packetize(&[Bytes::new()], 0).is_err());
        assert!(p.packetize(&[Bytes::from(vec![0; 8192])], 0).is_err());
    }

    #[test]
    fn lbr_layout_round_trips() {
        let mut p = AacPacketizer::new(200, 97, 1, 0);
        p.config = AacConfig::lbr();
        let frames = [
            Bytes::from(vec![7; 10]),
            Bytes::from(vec![8; 63]),
            Bytes::from(vec![9; 1]),
        ];
        let mut d = AacDepacketizer::new(AacConfig::lbr()).unwrap();
        for pkt in p.packetize(&frames, 5).unwrap() {
            d.push(&pkt).unwrap();
        }
        for (k, f) in frames.iter().enumerate() {
            assert_eq!(
                d.pop().unwrap(),
                AacFrame {
                    timestamp: 5 + 1024 * k as u32,
                    data: f.clone()
                }
            );
        }
    }

    fn arb_frames() -> impl Strategy<Value = Vec<Bytes>> {
        proptest::collection::vec(
            (1usize..8192, any::<u8>()).prop_map(|(n, b)| Bytes::from(vec![b; n])),
            1..12,
        )
    }

    proptest! {
        #[test]
        fn packetize_depacketize_round_trips(
            frames in arb_frames(),
            mtu in 200usize..1500,
            per_packet in 1usize..6,
            ts in any::<u32>(),
        ) {
            let mut p = AacPacketizer::new(mtu, 97, 1, 65530);
            p.max_frames_per_packet = per_packet;
            let mut d = AacDepacketizer::new(AacConfig::hbr()).unwrap();
            for pkt in p.packetize(&frames, ts).unwrap() {
                prop_assert!(pkt.to_bytes().len() <= mtu);
                d.push(&RtpPacket::parse(&pkt.to_bytes()).unwrap()).unwrap();
            }
            for (k, f) in frames.iter().enumerate() {
                let got = d.pop().unwrap();
                prop_assert_eq!(got.timestamp, ts.wrapping_add(1024 * k as u32));
                prop_assert_eq!(&got.data, f);
            }
            prop_assert_eq!(d.pop(), None);
        }

        #[test]
        fn loss_never_yields_a_damaged_frame(
            frames in arb_frames(),
            mtu in 200usize..1500,
            drop in proptest::collection::vec(any::<bool>(), 1..64),
        ) {
            let mut p = AacPacketizer::new(mtu, 97, 1, 0);
            let mut d = AacDepacketizer::new(AacConfig::hbr()).unwrap();
            let pkts = p.packetize(&frames, 0).unwrap();
            for (k, pkt) in pkts.iter().enumerate() {
                if k == 0 || !drop[k % drop.len()] {
                    let _ = d.push(pkt);
                }
            }
            while let Some(got) = d.pop() {
                let k = (got.timestamp / 1024) as usize;
                prop_assert_eq!(Some(&got.data), frames.get(k));
            }
        }

        #[test]
        fn arbitrary_payloads_never_panic(
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            marker in any::<bool>(),
        ) {
            let mut d = AacDepacketizer::new(AacConfig::hbr()).unwrap();
            let _ = d.push(&pkt(0, 0, marker, payload.clone()));
            let _ = d.push(&pkt(1, 0, marker, payload));
        }
    }
}
