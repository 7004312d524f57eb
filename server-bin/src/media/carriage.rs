//! Which output carries which codec: the one place that knows, per output,
//! which tracks of a stream its viewers get, and why the others are left out
//! ("no silent drops").
//!
//! The answers are derived from what each egress does: the TS and RTP
//! egresses are asked directly ([`TsTracks::from_tracks`],
//! [`rtp_tracks`]), fMP4 by its own [`fmp4_egress::not_carried`], FLV/RTMP
//! carry every codec (legacy or enhanced-RTMP tags, [`super::flv_egress`]),
//! WebRTC follows `webrtc::egress` (H.264; Opus, G.711, AAC transcoded to
//! Opus). The unit tests pin each output against its egress.
//!
//! Users of this module: the stream's API entry (`not_carried`), each
//! viewer's log line at its start, the `X-Strom-Not-Carried` response header
//! of HTTP-TS and HLS, and the refusals (HTTP 415, RTSP 415) when no track at
//! all can be carried.

use stream_core::{Codec, Track, TrackId};

use super::{fmp4_egress, rtp_egress::rtp_tracks};
use crate::ts_feed::TsTracks;

/// An output format, as far as codecs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    /// RTMP players.
    Rtmp,
    /// FLV over HTTP or WebSocket (`.live.flv`).
    Flv,
    /// MPEG-TS: HTTP-/WebSocket-TS (`.live.ts`) and HLS with TS segments.
    Ts,
    /// Fragmented MP4: HTTP-/WebSocket-fMP4 (`.live.mp4`) and HLS with fMP4
    /// segments.
    Fmp4,
    /// RTSP players (RTP).
    Rtsp,
    /// WebRTC viewers (WHEP).
    WebRtc,
}

impl Output {
    /// Every output.
    pub const ALL: [Output; 6] = [
        Output::Rtmp,
        Output::Flv,
        Output::Ts,
        Output::Fmp4,
        Output::Rtsp,
        Output::WebRtc,
    ];

    /// The names of the viewer-facing outputs of this format, as the API's
    /// `not_carried` keys (WebSocket variants send the same bytes as their
    /// HTTP twin and share its name).
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Output::Rtmp => &["rtmp"],
            Output::Flv => &["http_flv"],
            Output::Ts => &["http_ts", "hls"],
            Output::Fmp4 => &["http_mp4", "hls_fmp4"],
            Output::Rtsp => &["rtsp"],
            Output::WebRtc => &["webrtc"],
        }
    }
}

/// Settings that change what an output carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// `webrtc.transcode_aac`: AAC reaches WebRTC viewers as Opus.
    pub webrtc_transcodes_aac: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            webrtc_transcodes_aac: true,
        }
    }
}

impl Rules {
    /// The rules of a configuration.
    pub fn of(config: &crate::config::Config) -> Rules {
        Rules {
            webrtc_transcodes_aac: config.webrtc.transcode_aac,
        }
    }
}

/// A track an output leaves out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The track's id.
    pub track: TrackId,
    /// Its codec.
    pub codec: Codec,
    /// Why the output cannot carry it.
    pub reason: &'static str,
}

impl Dropped {
    /// `AV1 (video): <reason>`.
    pub fn describe(&self) -> String {
        let kind = if self.codec.is_video() {
            "video"
        } else {
            "audio"
        };
        format!("{} ({kind}): {}", self.codec.name(), self.reason)
    }
}

/// Why `output` cannot carry `track` (with the default [`Rules`]); `None`
/// when it does.
pub fn not_carried(output: Output, track: &Track) -> Option<&'static str> {
    Rules::default().not_carried(output, track)
}

impl Rules {
    /// Why `output` cannot carry `track`; `None` when it does.
    pub fn not_carried(&self, output: Output, track: &Track) -> Option<&'static str> {
        match output {
            // Legacy FLV tags (H.264, AAC, MP3, G.711) or enhanced RTMP
            // (H.265, AV1, Opus): every codec strom knows has a tag.
            Output::Rtmp | Output::Flv => None,
            Output::Ts => {
                if !TsTracks::from_tracks(std::slice::from_ref(track)).is_empty() {
                    return None;
                }
                Some(match track.codec {
                    Codec::Av1 => "MPEG-TS as strom writes it has no AV1 mapping",
                    Codec::Opus => "MPEG-TS as strom writes it has no Opus mapping",
                    Codec::G711A | Codec::G711U => {
                        "MPEG-TS as strom writes it has no G.711 mapping"
                    }
                    _ => "not carried in MPEG-TS",
                })
            }
            Output::Fmp4 => fmp4_egress::not_carried(track),
            Output::Rtsp => {
                if !rtp_tracks(std::slice::from_ref(track)).is_empty() {
                    return None;
                }
                Some(match track.codec {
                    Codec::Av1 => "strom has no RTP payload format for AV1",
                    Codec::Opus => "strom has no RTP payload format for Opus",
                    Codec::Mp3 => "strom has no RTP payload format for MP3",
                    _ => "no usable decoder configuration for RTP",
                })
            }
            Output::WebRtc => match track.codec {
                Codec::H264 | Codec::Opus | Codec::G711A | Codec::G711U => None,
                Codec::Aac if self.webrtc_transcodes_aac => None,
                Codec::Aac => {
                    Some("AAC is sent to browsers only transcoded (webrtc.transcode_aac is off)")
                }
                Codec::H265 | Codec::Av1 => Some("browsers get H.264 video only over WebRTC"),
                Codec::Mp3 => Some("MP3 is not sent over WebRTC (Opus, G.711 or AAC as Opus)"),
            },
        }
    }

    /// The tracks of `tracks` that `output` leaves out, in order: those of a
    /// codec it cannot carry, and for MPEG-TS every video or audio track
    /// after the first it carries (one of each per TS).
    pub fn dropped(&self, output: Output, tracks: &[Track]) -> Vec<Dropped> {
        let mut out = Vec::new();
        let (mut video, mut audio) = (false, false);
        for t in tracks {
            let reason = self.not_carried(output, t).or_else(|| {
                if output != Output::Ts {
                    return None;
                }
                let seen = if t.codec.is_video() {
                    &mut video
                } else {
                    &mut audio
                };
                let again = *seen;
                *seen = true;
                again.then_some("MPEG-TS as strom writes it carries one video and one audio track")
            });
            if let Some(reason) = reason {
                out.push(Dropped {
                    track: t.id,
                    codec: t.codec,
                    reason,
                });
            }
        }
        out
    }
}

/// True when `tracks` were announced and `dropped` is every one of them: the
/// viewer would get nothing (HTTP and RTSP answer 415).
pub fn none_carried(tracks: &[Track], dropped: &[Dropped]) -> bool {
    !tracks.is_empty() && dropped.len() >= tracks.len()
}

/// The dropped tracks as one line: `AV1 (video): <reason>; …` (the
/// `X-Strom-Not-Carried` header and the 415 message).
pub fn summary(dropped: &[Dropped]) -> String {
    dropped
        .iter()
        .map(Dropped::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Logs each dropped track for a viewer of `output` (name as in logs:
/// "rtsp", "hls", …); callers do it once per viewer. The stream is named
/// when given (session spans name it too).
pub fn warn_viewer(output: &str, stream: Option<&stream_core::StreamKey>, dropped: &[Dropped]) {
    let stream = stream.map(ToString::to_string).unwrap_or_default();
    for d in dropped {
        tracing::warn!(
            stream,
            output,
            track = d.track,
            codec = d.codec.name(),
            reason = d.reason,
            "track not carried to this viewer: {}",
            d.describe()
        );
    }
}

/// A dropped track as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DroppedView {
    /// The track's id.
    pub track: TrackId,
    /// Its codec's name.
    pub codec: &'static str,
    /// Why it is not carried.
    pub reason: &'static str,
}

/// The stream's `not_carried` API entry: per viewer-facing output name
/// ([`Output::names`]) that leaves something out, the tracks left out.
/// Outputs that carry every track are not listed (`{}` when all do).
pub fn api_view(
    rules: &Rules,
    tracks: &[Track],
) -> std::collections::BTreeMap<&'static str, Vec<DroppedView>> {
    let mut out = std::collections::BTreeMap::new();
    for output in Output::ALL {
        let dropped: Vec<DroppedView> = rules
            .dropped(output, tracks)
            .into_iter()
            .map(|d| DroppedView {
                track: d.track,
                codec: d.codec.name(),
                reason: d.reason,
            })
            .collect();
        if dropped.is_empty() {
            continue;
        }
        for name in output.names() {
            out.insert(*name, dropped.clone());
        }
    }
    out
}

/// The message of a refusal because nothing can be carried.
pub fn refusal(output: &str, dropped: &[Dropped]) -> String {
    format!(
        "no track of this stream can be carried over {output}: {}",
        summary(dropped)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// One track of every codec, with a decoder configuration the egresses
    /// accept (an H.264/H.265 record with parameter sets, an AAC ASC).
    fn every_codec() -> Vec<Track> {
        let mut h264 = Track::new(0, Codec::H264, 90_000);
        h264.config = Bytes::from_static(&[
            1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xc0, 0x1e, 1, 0, 2, 0x68, 0xce,
        ]);
        let mut h265 = Track::new(1, Codec::H265, 90_000);
        h265.config = hevc_record();
        let mut av1 = Track::new(2, Codec::Av1, 90_000);
        av1.config = Bytes::from_static(&[0x81, 0x08, 0x0c, 0x00]);
        let mut aac = Track::new(3, Codec::Aac, 44_100);
        aac.config = Bytes::from_static(&[0x12, 0x10]);
        let mut opus = Track::new(4, Codec::Opus, 48_000);
        opus.channels = Some(2);
        let g711a = Track::new(5, Codec::G711A, 8000);
        let g711u = Track::new(6, Codec::G711U, 8000);
        let mp3 = Track::new(7, Codec::Mp3, 44_100);
        vec![h264, h265, av1, aac, opus, g711a, g711u, mp3]
    }

    /// An `hvcC` with one VPS, SPS and PPS (their contents do not matter
    /// to the egresses' choice).
    fn hevc_record() -> Bytes {
        let mut r = vec![1u8, 0x01, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 93];
        r.extend_from_slice(&[0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 3]);
        for (t, nal) in [
            (32u8, [0x40u8, 0x01, 0x0c]),
            (33, [0x42, 0x01, 0x01]),
            (34, [0x44, 0x01, 0xc0]),
        ] {
            r.extend_from_slice(&[0x80 | t, 0, 1, 0, 3]);
            r.extend_from_slice(&nal);
        }
        Bytes::from(r)
    }

    /// The codecs `output` carries out of [`every_codec`].
    fn carried(rules: Rules, output: Output) -> Vec<Codec> {
        every_codec()
            .iter()
            .filter(|t| rules.not_carried(output, t).is_none())
            .map(|t| t.codec)
            .collect()
    }

    use Codec::*;

    #[test]
    fn rtmp_and_flv_carry_every_codec() {
        for output in [Output::Rtmp, Output::Flv] {
            assert_eq!(
                carried(Rules::default(), output),
                [H264, H265, Av1, Aac, Opus, G711A, G711U, Mp3]
            );
        }
        // Every one has a tag the FLV egress builds.
        for t in every_codec() {
            let frame = stream_core::Frame::new(t.id, 0, 0, true, Bytes::from_static(b"x"));
            assert!(!super::super::flv_egress::frame_tag(&t, &frame, 0).is_empty());
        }
    }

    #[test]
    fn ts_carries_h264_h265_aac_mp3() {
        assert_eq!(
            carried(Rules::default(), Output::Ts),
            [H264, H265, Aac, Mp3]
        );
        let av1 = &every_codec()[2];
        assert_eq!(
            not_carried(Output::Ts, av1),
            Some("MPEG-TS as strom writes it has no AV1 mapping")
        );
    }

    #[test]
    fn ts_carries_one_video_and_one_audio_track() {
        let tracks = every_codec();
        let dropped = Rules::default().dropped(Output::Ts, &tracks);
        let ids: Vec<_> = dropped.iter().map(|d| d.track).collect();
        // H.265 after H.264, MP3 after AAC; AV1, Opus, G.711 by codec.
        assert_eq!(ids, [1, 2, 4, 5, 6, 7]);
        // What the TS egress picks is exactly the rest.
        let ts = TsTracks::from_tracks(&tracks);
        assert!(ts.is_video_track(0));
        assert!(matches!(
            ts.muxer_config().audio,
            Some(hls_seg::AudioCodec::Aac { .. })
        ));
    }

    #[test]
    fn fmp4_carries_what_its_egress_says() {
        assert_eq!(
            carried(Rules::default(), Output::Fmp4),
            [H264, H265, Av1, Aac, Opus]
        );
        for t in every_codec() {
            assert_eq!(not_carried(Output::Fmp4, &t), fmp4_egress::not_carried(&t));
        }
    }

    #[test]
    fn rtsp_carries_h264_h265_aac_g711() {
        assert_eq!(
            carried(Rules::default(), Output::Rtsp),
            [H264, H265, Aac, G711A, G711U]
        );
        // The same set the RTP egress describes.
        let described: Vec<_> = rtp_tracks(&every_codec())
            .iter()
            .map(|t| t.codec())
            .collect();
        assert_eq!(described, [H264, H265, Aac, G711A, G711U]);
        // An H.264 track without its record yet is not described either.
        assert!(not_carried(Output::Rtsp, &Track::new(0, H264, 90_000)).is_some());
    }

    #[test]
    fn webrtc_carries_h264_opus_g711_and_aac_when_transcoded() {
        assert_eq!(
            carried(Rules::default(), Output::WebRtc),
            [H264, Aac, Opus, G711A, G711U]
        );
        let off = Rules {
            webrtc_transcodes_aac: false,
        };
        assert_eq!(carried(off, Output::WebRtc), [H264, Opus, G711A, G711U]);
    }

    #[test]
    fn none_carried_only_when_every_announced_track_is_dropped() {
        let tracks = every_codec();
        let av1_only = &tracks[2..3];
        let dropped = Rules::default().dropped(Output::Ts, av1_only);
        assert!(none_carried(av1_only, &dropped));
        assert_eq!(
            summary(&dropped),
            "AV1 (video): MPEG-TS as strom writes it has no AV1 mapping"
        );
        let av1_aac = &tracks[2..4];
        let dropped = Rules::default().dropped(Output::Ts, av1_aac);
        assert!(!none_carried(av1_aac, &dropped));
        // Nothing announced yet: nothing to refuse.
        assert!(!none_carried(&[], &[]));
    }

    #[test]
    fn the_api_lists_av1_under_every_output_that_drops_it() {
        let tracks = &every_codec()[2..4]; // AV1 + AAC
        let view = api_view(&Rules::default(), tracks);
        let keys: Vec<_> = view.keys().copied().collect();
        assert_eq!(keys, ["hls", "http_ts", "rtsp", "webrtc"]);
        let json = serde_json::to_string(&view["hls"]).unwrap();
        assert_eq!(
            json,
            r#"[{"track":2,"codec":"AV1","reason":"MPEG-TS as strom writes it has no AV1 mapping"}]"#
        );
    }

    #[test]
    fn reasons_fit_in_an_http_header() {
        for output in Output::ALL {
            for d in Rules::default().dropped(output, &every_codec()) {
                assert!(d.describe().bytes().all(|b| (0x20..0x7f).contains(&b)));
            }
        }
    }
}
