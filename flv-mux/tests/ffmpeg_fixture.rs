//! Walks a real FLV file written by ffmpeg 5.1 (see
//! `tests/fixtures/ffmpeg_x264_aac_320x240.md`) and re-encodes it.

use bytes::{Bytes, BytesMut};
use flv_mux::aac::AudioSpecificConfig;
use flv_mux::avc::{AvcDecoderConfigurationRecord, AvcSps};
use flv_mux::nalu::{annexb_to_length_prefixed, length_prefixed_to_annexb};
use flv_mux::{
    encode_tag_parts, AudioTag, AvcPacketType, FlvEvent, FlvHeader, FlvReader, FlvTag, FlvWriter,
    ScriptData, TagType, VideoTag,
};

const FIXTURE: &[u8] = include_bytes!("fixtures/ffmpeg_x264_aac_320x240.flv");

/// Reads the whole fixture, pushing it in uneven pieces as a socket would.
fn read_all() -> (FlvHeader, Vec<FlvTag>) {
    let mut reader = FlvReader::new().strict_previous_tag_size(true);
    let mut header = None;
    let mut tags = Vec::new();
    for piece in FIXTURE.chunks(1000) {
        reader.push(piece);
        while let Some(event) = reader.poll().unwrap() {
            match event {
                FlvEvent::Header(h) => {
                    assert!(header.is_none(), "header twice");
                    header = Some(h);
                }
                FlvEvent::Tag(t) => tags.push(t),
            }
        }
    }
    assert_eq!(reader.buffered(), 0, "bytes left over");
    (header.expect("no header"), tags)
}

#[test]
fn header_and_metadata() {
    let (header, tags) = read_all();
    assert_eq!(header, FlvHeader::new(true, true));
    let first = &tags[0];
    assert_eq!(first.tag_type, TagType::Script);
    let script = ScriptData::decode(&first.data).unwrap();
    assert!(!script.set_data_frame);
    let meta = script.metadata().expect("onMetaData");
    assert_eq!(meta.width, Some(320.0));
    assert_eq!(meta.height, Some(240.0));
    assert_eq!(meta.framerate, Some(25.0));
    assert_eq!(meta.videocodecid, Some(7.0));
    assert_eq!(meta.audiocodecid, Some(10.0));
    assert_eq!(meta.audiosamplerate, Some(44_100.0));
    assert_eq!(meta.stereo, Some(false));
    assert_eq!(meta.encoder.as_deref(), Some("Lavf59.27.100"));
    assert!(meta.extra.is_empty());
    // Both the generic and the typed encoders reproduce ffmpeg's bytes.
    assert_eq!(script.encode(), first.data);
    assert_eq!(ScriptData::on_metadata(&meta).encode(), first.data);
}

#[test]
fn avc_sequence_header_gives_320x240() {
    let (_, tags) = read_all();
    let seq = tags
        .iter()
        .filter(|t| t.tag_type == TagType::Video)
        .map(|t| VideoTag::decode(&t.data).unwrap())
        .find(VideoTag::is_sequence_header)
        .expect("AVC sequence header");
    let record = AvcDecoderConfigurationRecord::decode(seq.data()).unwrap();
    assert_eq!(record.nal_length_size, 4);
    let sps = AvcSps::parse(&record.sps[0]).unwrap();
    assert_eq!((sps.width, sps.height), (320, 240));
    assert_eq!(sps.profile_idc, 100);
    assert_eq!(record.to_bytes().unwrap(), seq.data());
}

#[test]
fn aac_sequence_header_gives_44100() {
    let (_, tags) = read_all();
    let seq = tags
        .iter()
        .filter(|t| t.tag_type == TagType::Audio)
        .map(|t| AudioTag::decode(&t.data).unwrap())
        .find(AudioTag::is_sequence_header)
        .expect("AAC sequence header");
    let asc = AudioSpecificConfig::parse(seq.data()).unwrap();
    assert!(
        asc.sample_rate == 44_100 || asc.sample_rate == 48_000,
        "{asc:?}"
    );
    assert_eq!((asc.object_type, asc.channel_configuration), (2, 1));
}

#[test]
fn every_body_parses_and_re_encodes() {
    let (_, tags) = read_all();
    let (mut frames, mut audio, mut keyframes, mut with_cts, mut eos) = (0, 0, 0, 0, 0);
    let mut last_ts = std::collections::HashMap::new();
    for t in &tags {
        // ffmpeg interleaves by DTS except for the closing end-of-sequence
        // tag, so check per tag type.
        let last = last_ts.entry(t.tag_type).or_insert(0);
        assert!(t.timestamp >= *last, "timestamps go backwards");
        *last = t.timestamp;
        match t.tag_type {
            TagType::Video => {
                let v = VideoTag::decode(&t.data).unwrap();
                assert_eq!(v.to_bytes().unwrap(), t.data);
                frames += usize::from(v.is_coded_frame());
                eos += usize::from(matches!(
                    v,
                    VideoTag::Avc {
                        packet_type: AvcPacketType::EndOfSequence,
                        ..
                    }
                ));
                keyframes += usize::from(v.is_keyframe());
                with_cts += usize::from(v.composition_time() != 0);
                if !v.is_sequence_header() {
                    // Length-prefixed -> Annex B -> length-prefixed.
                    let ab = length_prefixed_to_annexb(v.data(), 4).unwrap();
                    assert_eq!(annexb_to_length_prefixed(&ab).unwrap(), v.data());
                }
            }
            TagType::Audio => {
                let a = AudioTag::decode(&t.data).unwrap();
                assert_eq!(a.to_bytes().unwrap(), t.data);
                audio += 1;
            }
            TagType::Script => {}
            other => panic!("unexpected tag type {other:?}"),
        }
    }
    assert_eq!(frames, 25, "one second at 25 fps");
    assert_eq!(eos, 1, "ffmpeg closes with an end of sequence");
    assert_eq!(keyframes, 1, "-g 25 over one second");
    assert!(with_cts > 0, "libx264 B-frames carry composition times");
    assert!(audio > 40, "{audio} audio tags");
    // Zero copy: tags 1 and 2 arrive in the same pushed piece, so their
    // payloads are slices of one buffer, tag 2's starting right after tag
    // 1's PreviousTagSize and tag header. A copying reader would fail this.
    let p0 = tags[1].data.as_ptr() as usize;
    let p1 = tags[2].data.as_ptr() as usize;
    assert_eq!(p1, p0 + tags[1].data.len() + 4 + 11);
}

/// The zero-copy path (body header + shared payload) writes the same bytes.
#[test]
fn zero_copy_parts_reproduce_every_media_tag() {
    let (_, tags) = read_all();
    for t in tags.iter().filter(|t| t.tag_type != TagType::Script) {
        let mut head = BytesMut::new();
        let payload = if t.tag_type == TagType::Video {
            let v = VideoTag::decode(&t.data).unwrap();
            v.encode_header(&mut head).unwrap();
            v.data().clone()
        } else {
            let a = AudioTag::decode(&t.data).unwrap();
            a.encode_header(&mut head).unwrap();
            a.data().clone()
        };
        let parts = encode_tag_parts(t.tag_type, t.timestamp, &head, &payload).unwrap();
        let mut whole = BytesMut::new();
        t.encode(&mut whole).unwrap();
        assert_eq!(parts.concat(), whole.to_vec());
    }
}

#[test]
fn re_encoding_reproduces_the_file_byte_for_byte() {
    let (header, tags) = read_all();
    let mut writer = FlvWriter::new();
    writer.write_header(&header);
    for t in &tags {
        writer.write_tag(t).unwrap();
    }
    let out: Bytes = writer.take();
    assert_eq!(out.len(), FIXTURE.len());
    assert!(out == FIXTURE, "re-encoded file differs");
}
