//! Frames and tracks into fragmented MP4 (the `fmp4` crate) for the fMP4
//! outputs: HTTP-/WebSocket-fMP4 (`.live.mp4`) take one `moof`+`mdat` per
//! frame from the frame's wire cache ([`super::WIRE_MP4`]), built once per
//! stream; HLS with fMP4 segments packages the same track descriptions.
//!
//! Timescales: video 90 kHz (what MP4 players expect and what RTP video
//! uses), audio its sample rate, so a sample's duration is exact (1024 for
//! AAC, 960 for 20 ms of Opus). fMP4 track ids are stream-core's plus one
//! (MP4 track ids start at 1).

use bytes::Bytes;
use fmp4::{CodecConfig, Sample, TrackConfig, TrackRun};
use stream_core::{Codec, Frame, Track};

/// Video timescale of every fMP4 output.
pub const VIDEO_TIMESCALE: u32 = 90_000;
/// Opus always runs at 48 kHz in MP4 (`dOps`).
const OPUS_RATE: u32 = 48_000;
/// Opus decoder delay when the publisher did not say (libopus' default).
const OPUS_PRE_SKIP: u16 = 312;

/// Why a track cannot be carried in fragmented MP4.
pub fn not_carried(track: &Track) -> Option<&'static str> {
    match track.codec {
        Codec::H264 | Codec::H265 | Codec::Av1 | Codec::Aac | Codec::Opus => {
            if track.config.is_empty() && track.codec != Codec::Opus {
                Some("no decoder configuration yet")
            } else {
                None
            }
        }
        Codec::G711A | Codec::G711U => Some("G.711 has no fragmented-MP4 mapping browsers play"),
        Codec::Mp3 => Some("MP3 is not carried in fMP4 outputs"),
    }
}

/// The fMP4 description of `track`, `None` when fMP4 cannot carry it
/// (see [`not_carried`]).
pub fn track_config(track: &Track) -> Option<TrackConfig> {
    if not_carried(track).is_some() {
        return None;
    }
    let (width, height) = picture_size(track);
    let video = |codec| TrackConfig {
        id: u32::from(track.id) + 1,
        timescale: VIDEO_TIMESCALE,
        codec,
        width,
        height,
        channels: 0,
        sample_rate: 0,
    };
    let audio = |codec, rate: u32, channels: u16| TrackConfig {
        id: u32::from(track.id) + 1,
        timescale: rate,
        codec,
        width: 0,
        height: 0,
        channels,
        sample_rate: rate,
    };
    let config = track.config.clone();
    Some(match track.codec {
        Codec::H264 => video(CodecConfig::Avc { avcc: config }),
        Codec::H265 => video(CodecConfig::Hevc { hvcc: config }),
        Codec::Av1 => video(CodecConfig::Av1 { av1c: config }),
        Codec::Aac => {
            let asc = codec::aac::AudioSpecificConfig::parse(&config).ok();
            let rate = track
                .sample_rate
                .or(asc.map(|a| a.sample_rate))
                .filter(|&r| r > 0)?;
            let channels = track
                .channels
                .map(u16::from)
                .or(asc.map(|a| u16::from(a.channel_configuration)))
                .filter(|&c| c > 0)
                .unwrap_or(2);
            audio(CodecConfig::Aac { asc: config }, rate, channels)
        }
        Codec::Opus => audio(
            CodecConfig::Opus {
                pre_skip: OPUS_PRE_SKIP,
            },
            OPUS_RATE,
            track.channels.map_or(2, u16::from),
        ),
        Codec::G711A | Codec::G711U | Codec::Mp3 => return None,
    })
}

/// Picture size from the track, or from its parameter sets when the ingest
/// did not fill it in.
fn picture_size(track: &Track) -> (u32, u32) {
    if let (Some(w), Some(h)) = (track.width, track.height) {
        return (w, h);
    }
    let parsed = match track.codec {
        Codec::H264 => codec::avc::AvcDecoderConfigurationRecord::decode(&track.config)
            .ok()
            .and_then(|r| r.sps.first().cloned())
            .and_then(|sps| codec::avc::AvcSps::parse(&sps).ok())
            .map(|s| (s.width, s.height)),
        Codec::H265 => codec::hevc::HevcDecoderConfigurationRecord::decode(&track.config)
            .ok()
            .and_then(|r| r.nalus_of_type(33).next().cloned())
            .and_then(|sps| codec::hevc::HevcSps::parse(&sps).ok())
            .map(|s| (s.width, s.height)),
        _ => None,
    };
    parsed.unwrap_or((0, 0))
}

/// `us` microseconds in `timescale` ticks (floor; negative times clamp to 0).
pub fn ticks(us: i64, timescale: u32) -> u64 {
    let us = u64::try_from(us).unwrap_or(0);
    ((u128::from(us) * u128::from(timescale)) / 1_000_000) as u64
}

/// A frame's sample duration when nothing better is known: one frame at
/// 25 fps, 1024 AAC samples, 20 ms of Opus.
pub fn default_duration(config: &TrackConfig) -> u32 {
    match config.codec {
        CodecConfig::Aac { .. } => 1024,
        CodecConfig::Opus { .. } => 960,
        _ => config.timescale / 25,
    }
}

/// The sample of `frame` in `config`'s timescale, lasting `duration` ticks.
pub fn sample(config: &TrackConfig, frame: &Frame, duration: u32) -> Sample {
    let dts = ticks(frame.dts_us, config.timescale);
    let pts = ticks(frame.pts_us, config.timescale);
    let cts = i64::try_from(pts)
        .unwrap_or(i64::MAX)
        .saturating_sub(i64::try_from(dts).unwrap_or(i64::MAX));
    Sample {
        duration,
        cts_offset: cts.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
        keyframe: frame.keyframe || !frame_is_video(config),
        data: frame.payload.clone(),
    }
}

fn frame_is_video(config: &TrackConfig) -> bool {
    matches!(
        config.codec,
        CodecConfig::Avc { .. } | CodecConfig::Hevc { .. } | CodecConfig::Av1 { .. }
    )
}

/// One frame as its own fragment (`moof` + `mdat`), as wire parts: the
/// boxes' headers, then the frame's payload (a slice of it, not a copy).
/// `duration` is the frame's length in `config`'s timescale. The `mfhd`
/// sequence number is the frame's decode time in milliseconds: the same for
/// every viewer (the form is shared) and increasing along each track;
/// players (MSE, ffmpeg) do not interpret it.
pub fn frame_fragment(
    config: &TrackConfig,
    frame: &Frame,
    duration: u32,
) -> Result<stream_core::WireParts, fmp4::Fmp4Error> {
    let run = TrackRun {
        track_id: config.id,
        base_decode_time: ticks(frame.dts_us, config.timescale),
        samples: vec![sample(config, frame, duration)],
    };
    let sequence = (ticks(frame.dts_us, 1000) & u64::from(u32::MAX)) as u32;
    let fragment = fmp4::fragment(sequence, std::slice::from_ref(&run))?;
    Ok(stream_core::WireParts::from_parts(
        std::iter::once(fragment.header).chain(fragment.payload),
    ))
}

/// The init segment for the tracks fMP4 carries, with the configurations
/// used (in `tracks` order); `None` when it carries none of them.
pub fn init(tracks: &[Track]) -> Option<(Bytes, Vec<(stream_core::TrackId, TrackConfig)>)> {
    let configs: Vec<_> = tracks
        .iter()
        .filter_map(|t| track_config(t).map(|c| (t.id, c)))
        .collect();
    if configs.is_empty() {
        return None;
    }
    let list: Vec<TrackConfig> = configs.iter().map(|(_, c)| c.clone()).collect();
    match fmp4::init_segment(&list) {
        Ok(init) => Some((init, configs)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot build an fMP4 init segment");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timescales_and_ids_follow_the_codec() {
        let mut aac = Track::new(1, Codec::Aac, 44_100);
        aac.config = Bytes::from_static(&[0x12, 0x10]); // AAC-LC 44.1 kHz stereo
        let c = track_config(&aac).expect("aac");
        assert_eq!((c.id, c.timescale, c.channels), (2, 44_100, 2));
        assert_eq!(default_duration(&c), 1024);
        let opus = track_config(&Track::new(0, Codec::Opus, 48_000)).expect("opus");
        assert_eq!((opus.id, opus.timescale, opus.channels), (1, 48_000, 2));
        assert!(track_config(&Track::new(0, Codec::G711A, 8000)).is_none());
        assert!(not_carried(&Track::new(0, Codec::Mp3, 44_100)).is_some());
        // Video without its configuration yet is not carried.
        assert!(track_config(&Track::new(0, Codec::H264, 90_000)).is_none());
    }

    #[test]
    fn samples_carry_composition_offsets_in_the_track_timescale() {
        let mut v = Track::new(0, Codec::Av1, 1000);
        v.config = Bytes::from_static(&[0x81, 0x08, 0x0c, 0x00]);
        v.width = Some(640);
        v.height = Some(360);
        let c = track_config(&v).expect("av1");
        assert_eq!((c.width, c.height, c.timescale), (640, 360, 90_000));
        let f = Frame::new(0, 1_000_000, 1_080_000, true, Bytes::from_static(b"obu"));
        let s = sample(&c, &f, 3600);
        assert_eq!((s.cts_offset, s.keyframe, s.duration), (7200, true, 3600));
        assert_eq!(ticks(-5, 90_000), 0);
        assert_eq!(ticks(40_000, 90_000), 3600);
    }
}
