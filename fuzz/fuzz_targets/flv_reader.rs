//! FLV stream reader: arbitrary bytes, pushed in two pieces, never panic and
//! every tag body it yields goes through the body parsers without panicking.
#![no_main]

use bytes::Bytes;
use flv_mux::{AudioTag, FlvEvent, FlvReader, ScriptData, TagType, VideoTag};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut reader = FlvReader::new();
    reader.push(&data[..split]);
    reader.push(&data[split..]);
    for _ in 0..10_000 {
        match reader.poll() {
            Ok(Some(FlvEvent::Tag(tag))) => {
                let body: &Bytes = &tag.data;
                match tag.tag_type {
                    TagType::Audio => drop(AudioTag::decode(body)),
                    TagType::Video => drop(VideoTag::decode(body)),
                    TagType::Script => drop(ScriptData::decode(body)),
                    _ => {}
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
});
