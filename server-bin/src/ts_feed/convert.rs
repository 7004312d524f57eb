//! stream-core tracks and frames → the TS muxer's input.
//!
//! Video arrives as 4-byte length-prefixed NAL units with the parameter sets
//! in the track's decoder configuration record; the muxer wants bare NAL
//! units (it writes Annex-B start codes, the access unit delimiter and the
//! parameter sets before each keyframe). Audio arrives as raw AAC access
//! units or MP3 frames; the muxer adds ADTS headers from the track's
//! AudioSpecificConfig. The NAL units are slices of the frame payload: no
//! media byte is copied here, the muxer copies once into TS packets.

use bytes::Bytes;
use codec::avc::AvcDecoderConfigurationRecord;
use codec::hevc::HevcDecoderConfigurationRecord;
use hls_seg::{AudioCodec, MuxInput, MuxerConfig, VideoCodec};
use stream_core::{Codec, Frame, Track, TrackId};

/// The tracks a stream's TS carries (one video and one audio at most) and
/// what the muxer needs to know about them.
#[derive(Debug, Clone, Default)]
pub struct TsTracks {
    video: Option<(TrackId, VideoCodec, Vec<Bytes>)>,
    audio: Option<(TrackId, AudioCodec)>,
}

/// Offset added to stream timestamps so that early negative ones (B-frame
/// composition offsets at the start) stay positive on the 33-bit TS clock.
const TS_BASE_US: i64 = 10_000_000;

/// Stream microseconds → 90 kHz TS ticks.
pub fn ticks_90k(us: i64) -> u64 {
    let us = us.saturating_add(TS_BASE_US).max(0);
    // 90 000 / 1 000 000 = 9 / 100; i128 avoids overflow for absurd inputs.
    ((us as i128 * 9) / 100) as u64
}

impl TsTracks {
    /// Picks the tracks TS can carry: H.264 or H.265 video, AAC or MP3 audio.
    /// Tracks of other codecs are left out (logged by the caller).
    pub fn from_tracks(tracks: &[Track]) -> TsTracks {
        let mut out = TsTracks::default();
        for track in tracks {
            match track.codec {
                Codec::H264 if out.video.is_none() => {
                    let sets = AvcDecoderConfigurationRecord::decode(&track.config)
                        .map(|r| r.sps.into_iter().chain(r.pps).collect())
                        .unwrap_or_default();
                    out.video = Some((track.id, VideoCodec::H264, sets));
                }
                Codec::H265 if out.video.is_none() => {
                    let sets = HevcDecoderConfigurationRecord::decode(&track.config)
                        .map(|r| {
                            // VPS (32), SPS (33), PPS (34), in decoding order.
                            [32u8, 33, 34]
                                .iter()
                                .flat_map(|t| r.nalus_of_type(*t).cloned().collect::<Vec<_>>())
                                .collect()
                        })
                        .unwrap_or_default();
                    out.video = Some((track.id, VideoCodec::H265, sets));
                }
                Codec::Aac if out.audio.is_none() => {
                    out.audio = Some((
                        track.id,
                        AudioCodec::Aac {
                            config: track.config.clone(),
                        },
                    ));
                }
                Codec::Mp3 if out.audio.is_none() => {
                    out.audio = Some((track.id, AudioCodec::Mp3));
                }
                _ => {}
            }
        }
        out
    }

    /// True when nothing TS can carry was announced.
    pub fn is_empty(&self) -> bool {
        self.video.is_none() && self.audio.is_none()
    }

    /// True when the stream has video (segments are cut at keyframes).
    pub fn has_video(&self) -> bool {
        self.video.is_some()
    }

    /// True when `id` is the carried video track.
    pub fn is_video_track(&self, id: TrackId) -> bool {
        matches!(&self.video, Some((v, _, _)) if *v == id)
    }

    /// The muxer configuration for these tracks.
    pub fn muxer_config(&self) -> MuxerConfig {
        MuxerConfig {
            video: self.video.as_ref().map(|(_, codec, _)| *codec),
            audio: self.audio.as_ref().map(|(_, codec)| codec.clone()),
        }
    }

    /// Hands `frame` to `mux` as muxer input, if it belongs to a carried
    /// track and its payload is well formed.
    pub fn with_input<R>(&self, frame: &Frame, mux: impl FnOnce(MuxInput<'_>) -> R) -> Option<R> {
        if let Some((id, _, sets)) = &self.video {
            if *id == frame.track {
                let nalus = codec::nalu::split_length_prefixed(&frame.payload, 4).ok()?;
                return Some(mux(MuxInput::Video {
                    pts: ticks_90k(frame.pts_us),
                    dts: ticks_90k(frame.dts_us),
                    keyframe: frame.keyframe,
                    nalus: &nalus,
                    parameter_sets: sets,
                }));
            }
        }
        match &self.audio {
            Some((id, _)) if *id == frame.track => Some(mux(MuxInput::Audio {
                pts: ticks_90k(frame.pts_us),
                data: &frame.payload,
            })),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_offset_and_scaled() {
        assert_eq!(ticks_90k(0), 900_000);
        assert_eq!(ticks_90k(1_000_000), 990_000);
        assert_eq!(ticks_90k(-20_000_000), 0);
    }

    #[test]
    fn picks_one_video_and_one_audio_track() {
        let mut aac = Track::new(1, Codec::Aac, 1000);
        aac.config = Bytes::from_static(&[0x12, 0x10]);
        let tracks = [
            Track::new(0, Codec::H264, 1000),
            aac,
            Track::new(2, Codec::Opus, 48000),
        ];
        let ts = TsTracks::from_tracks(&tracks);
        assert!(ts.has_video());
        let cfg = ts.muxer_config();
        assert!(matches!(cfg.video, Some(VideoCodec::H264)));
        assert!(matches!(cfg.audio, Some(AudioCodec::Aac { .. })));
        assert!(TsTracks::from_tracks(&[Track::new(0, Codec::Opus, 48000)]).is_empty());
    }

    #[test]
    fn frames_of_other_tracks_are_not_muxed() {
        let ts = TsTracks::from_tracks(&[Track::new(1, Codec::Mp3, 1000)]);
        let frame = Frame::new(0, 0, 0, true, Bytes::from_static(b"abc"));
        assert!(ts.with_input(&frame, |_| ()).is_none());
        let frame = Frame::new(1, 0, 0, true, Bytes::from_static(b"abc"));
        assert!(ts.with_input(&frame, |_| ()).is_some());
    }
}
