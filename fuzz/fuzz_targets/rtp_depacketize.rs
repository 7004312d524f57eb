//! RTP and RTCP: arbitrary bytes, cut into length-prefixed packets, never panic the RTP and
//! RTCP parsers or the H.264, H.265 and AAC depacketizers; parsed RTP re-serializes to bytes
//! that parse back to the same packet, and RTCP is canonical after one write.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use rtsp_proto::media::rtcp::{parse_compound, write_compound};
use rtsp_proto::media::{
    AacConfig, AacDepacketizer, DepacketizerLimits, H264Depacketizer, H265Depacketizer, RtpPacket,
};

fuzz_target!(|data: &[u8]| {
    let limits = DepacketizerLimits::default();
    let mut h264 = H264Depacketizer::with_limits(limits);
    let mut h265 = H265Depacketizer::with_limits(limits);
    let mut aac = AacDepacketizer::new(AacConfig::hbr()).expect("AAC-hbr is valid");
    let data = Bytes::copy_from_slice(data);
    let mut pos = 0;
    while pos + 2 <= data.len() {
        let len = usize::from(u16::from_be_bytes([data[pos], data[pos + 1]]));
        let end = (pos + 2 + len).min(data.len());
        let unit = data.slice(pos + 2..end);
        pos = end;

        if let Ok(packets) = parse_compound(&unit) {
            let mut once = BytesMut::new();
            write_compound(&packets, &mut once);
            let once = once.freeze();
            let again = parse_compound(&once).expect("written RTCP parses");
            let mut twice = BytesMut::new();
            write_compound(&again, &mut twice);
            assert_eq!(once, twice.freeze());
        }

        let Ok(pkt) = RtpPacket::parse(&unit) else {
            continue;
        };
        assert_eq!(RtpPacket::parse(&pkt.to_bytes()).as_ref(), Ok(&pkt));
        let _ = h264.push(&pkt);
        let _ = h265.push(&pkt);
        let _ = aac.push(&pkt);
        while let Some(au) = h264.pop() {
            assert!(au.nalus.iter().map(|n| n.len()).sum::<usize>() <= limits.max_au_bytes);
            assert!(au.nalus.len() <= limits.max_nalus);
        }
        while let Some(au) = h265.pop() {
            assert!(au.nalus.iter().map(|n| n.len()).sum::<usize>() <= limits.max_au_bytes);
        }
        while let Some(frame) = aac.pop() {
            assert!(frame.data.len() <= AacConfig::hbr().max_au_size());
        }
    }
});
