//! Property tests for the FLV layer: round trips at any sizes and split
//! points, and "never panics" on arbitrary bytes for every parser.

use bytes::Bytes;
use flv_mux::{
    AudioTag, FlvEvent, FlvHeader, FlvReader, FlvTag, FlvWriter, FourCc, ScriptData, TagType,
    VideoTag,
};
use proptest::prelude::*;

fn tag() -> impl Strategy<Value = FlvTag> {
    (
        prop::sample::select(vec![8u8, 9, 18, 3]),
        any::<u32>(),
        0u32..0x0100_0000,
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(t, ts, sid, data)| FlvTag {
            tag_type: TagType::from_u8(t),
            timestamp: ts,
            stream_id: sid,
            data: Bytes::from(data),
        })
}

fn drain(r: &mut FlvReader, out: &mut Vec<FlvEvent>) -> Result<(), flv_mux::FlvError> {
    while let Some(e) = r.poll()? {
        out.push(e);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn writer_reader_round_trip(
        audio in any::<bool>(),
        video in any::<bool>(),
        tags in prop::collection::vec(tag(), 0..8),
        piece in 1usize..64,
    ) {
        let header = FlvHeader::new(audio, video);
        let mut w = FlvWriter::new();
        w.write_header(&header);
        for t in &tags {
            w.write_tag(t).unwrap();
        }
        let bytes = w.take();
        let mut r = FlvReader::new().strict_previous_tag_size(true);
        let mut events = Vec::new();
        for p in bytes.chunks(piece) {
            r.push(p);
            drain(&mut r, &mut events).unwrap();
        }
        prop_assert_eq!(r.buffered(), 0);
        let mut expected = vec![FlvEvent::Header(header)];
        expected.extend(tags.into_iter().map(FlvEvent::Tag));
        prop_assert_eq!(events, expected);
    }

    #[test]
    fn reader_never_panics(
        prefix in any::<bool>(),
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        piece in 1usize..100,
    ) {
        let mut r = FlvReader::new().with_max_tag_size(256);
        if prefix {
            r.push(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00");
        }
        let mut events = Vec::new();
        for p in bytes.chunks(piece) {
            r.push(p);
            if drain(&mut r, &mut events).is_err() {
                break;
            }
        }
    }

    #[test]
    fn audio_video_script_never_panic_and_re_encode(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let b = Bytes::from(bytes);
        if let Ok(a) = AudioTag::decode(&b) {
            let again = AudioTag::decode(&a.to_bytes().unwrap()).unwrap();
            prop_assert_eq!(again, a);
        }
        if let Ok(v) = VideoTag::decode(&b) {
            let again = VideoTag::decode(&v.to_bytes().unwrap()).unwrap();
            prop_assert_eq!(again, v);
        }
        let _ = ScriptData::decode(&b);
    }

    /// Bodies built from typed values survive encode → decode.
    #[test]
    fn typed_video_round_trip(
        key in any::<bool>(),
        cts in -(1i32 << 23)..(1i32 << 23),
        fourcc in prop::sample::select(vec![FourCc::HVC1, FourCc::AVC1, FourCc::AV01, FourCc::VP09]),
        enhanced in any::<bool>(),
        data in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let data = Bytes::from(data);
        let tag = if enhanced {
            let cts = if fourcc.has_composition_time() { cts } else { 0 };
            VideoTag::Enhanced {
                frame_type: if key { flv_mux::FrameType::Key } else { flv_mux::FrameType::Inter },
                packet_type: flv_mux::VideoPacketType::CodedFrames,
                fourcc,
                composition_time: cts,
                data,
            }
        } else {
            VideoTag::avc_nalus(key, cts, data)
        };
        let bytes = tag.to_bytes().unwrap();
        prop_assert_eq!(VideoTag::decode(&bytes).unwrap(), tag);
    }
}
