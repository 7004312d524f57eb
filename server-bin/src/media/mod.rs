//! Adapters between wire media forms and stream-core's canonical frames.
//!
//! Ingest converts what a publisher sends into [`stream_core::Track`]s and
//! [`stream_core::Frame`]s; egress converts them back for players. Egress
//! results that are the same for every player are cached on the frame
//! ([`stream_core::WireCache`]) in the slots below, so each frame is encoded
//! once per stream and output format, as parts ([`stream_core::WireParts`])
//! that share the frame's payload instead of copying it.

pub mod carriage;
mod clock;
pub mod flv_egress;
pub mod flv_ingest;
pub mod fmp4_egress;
pub mod fmp4_tracks;
pub mod rtp_egress;
pub mod rtp_ingest;

pub use clock::{to_rtmp_ms, MsClock};

use stream_core::Track;

/// How the stream's codecs changed between `old` and `new` tracks (a video
/// or an audio codec replaced by another, e.g. when an upstream or a
/// resumed publisher comes back with other settings), as text for the
/// player's end reason; `None` when every kind kept its codec (new
/// parameters of the same codec, or a track added or gone, are not a
/// change players must restart for).
pub fn codec_change(old: &[Track], new: &[Track]) -> Option<String> {
    let of_kind = |tracks: &[Track], video: bool| {
        tracks
            .iter()
            .find(|t| t.codec.is_video() == video)
            .map(|t| t.codec)
    };
    [(true, "video"), (false, "audio")]
        .into_iter()
        .find_map(
            |(video, kind)| match (of_kind(old, video), of_kind(new, video)) {
                (Some(was), Some(now)) if was != now => {
                    Some(format!("{kind} {} → {}", was.name(), now.name()))
                }
                _ => None,
            },
        )
}

/// Wire-cache slot: RTMP chunks at the server's outgoing chunk size.
pub const WIRE_RTMP: usize = 0;
/// Wire-cache slot: a complete FLV tag (HTTP-FLV; HTTP/1.1 players add
/// their chunk framing beside it).
pub const WIRE_FLV: usize = 1;
/// Wire-cache slot: the frame's RTP payloads at `rtsp.mtu`, one unit per
/// packet, without RTP headers (RTSP players add their own; see
/// [`rtp_egress`]).
pub const WIRE_RTP: usize = 2;
/// Wire-cache slot: the frame as one fMP4 fragment (`moof` + `mdat` header
/// beside the payload; see [`fmp4_egress::frame_fragment`]).
pub const WIRE_MP4: usize = 3;

#[cfg(test)]
mod tests {
    use super::codec_change;
    use stream_core::{Codec, Track};

    #[test]
    fn a_codec_replaced_is_a_change_new_parameters_or_tracks_are_not() {
        let h264 = Track::new(0, Codec::H264, 90_000);
        let h265 = Track::new(0, Codec::H265, 90_000);
        let aac = Track::new(1, Codec::Aac, 44_100);
        let mp3 = Track::new(1, Codec::Mp3, 44_100);
        assert_eq!(
            codec_change(&[h264.clone(), aac.clone()], &[h265.clone(), aac.clone()]).as_deref(),
            Some("video H264 → H265")
        );
        assert_eq!(
            codec_change(&[h264.clone(), aac.clone()], &[h264.clone(), mp3]).as_deref(),
            Some("audio AAC → MP3")
        );
        let mut wider = h264.clone();
        wider.width = Some(1920);
        assert_eq!(
            codec_change(std::slice::from_ref(&h264), &[wider, aac.clone()]),
            None
        );
        assert_eq!(codec_change(&[h264.clone(), aac], &[h264]), None);
        assert_eq!(codec_change(&[], &[h265]), None);
    }
}
