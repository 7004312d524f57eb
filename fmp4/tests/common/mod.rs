//! Helpers shared by the integration tests: tracks of every codec and a
//! demuxer driver.
#![allow(dead_code)]

use bytes::Bytes;
use fmp4::{CodecConfig, Demuxer, Event, Fmp4Error, TrackConfig};

/// A video track.
pub fn video(id: u32, codec: CodecConfig) -> TrackConfig {
    TrackConfig {
        id,
        timescale: 90_000,
        codec,
        width: 1280,
        height: 720,
        channels: 0,
        sample_rate: 0,
    }
}

/// An audio track.
pub fn audio(id: u32, codec: CodecConfig, sample_rate: u32) -> TrackConfig {
    TrackConfig {
        id,
        timescale: sample_rate,
        codec,
        width: 0,
        height: 0,
        channels: 2,
        sample_rate,
    }
}

/// One track of each codec, ids 1..=5.
pub fn all_codecs() -> Vec<TrackConfig> {
    vec![
        video(
            1,
            CodecConfig::Avc {
                avcc: Bytes::from_static(&[
                    1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 2, 0x67, 0x64, 1, 0, 2, 0x68, 0xee,
                ]),
            },
        ),
        video(
            2,
            CodecConfig::Hevc {
                hvcc: Bytes::from_static(&[
                    1, 1, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5d, 0xf0, 0, 0xfc, 0xfd, 0xf8,
                    0xf8, 0, 0, 0x0f, 0,
                ]),
            },
        ),
        video(
            3,
            CodecConfig::Av1 {
                av1c: Bytes::from_static(&[0x81, 0x08, 0x0c, 0x00]),
            },
        ),
        audio(
            4,
            CodecConfig::Aac {
                asc: Bytes::from_static(&[0x11, 0x90]),
            },
            48_000,
        ),
        audio(5, CodecConfig::Opus { pre_skip: 312 }, 48_000),
    ]
}

/// Feeds `data` in pieces of `piece` bytes and collects every event, or
/// the first error.
pub fn demux(data: &[u8], piece: usize) -> Result<Vec<Event>, Fmp4Error> {
    let mut d = Demuxer::new();
    let mut events = Vec::new();
    for chunk in data.chunks(piece.max(1)) {
        d.push(chunk);
        while let Some(e) = d.next_event()? {
            events.push(e);
        }
    }
    Ok(events)
}
