//! SDP: parsing arbitrary bytes never panics; what parses is within the crate's limits
//! (`MAX_SDP_LEN`, `MAX_MEDIA`, parameter sets no longer than the text they came from).
//! Round trips: the text writer is lossless (`parse(to_text(sdp)) == sdp`), and every
//! typed `MediaInfo`, re-rendered as a DESCRIBE answer by `describe_sdp`, parses back to
//! the same `MediaInfo` — except the two fields that writer sets by design: `control`
//! (always `trackID=N`, RFC 2326 §C.1.1) and an audio `channels` of 0 (written as 1,
//! since an rtpmap with 0 channels means nothing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtsp_proto::signal::sdp::{MAX_MEDIA, MAX_SDP_LEN};
use rtsp_proto::signal::{describe_sdp, DescribeOptions, MediaInfo, MediaKind, Sdp, SdpCodec};

/// At most this many parameter sets per `sprop-*` value (`fmtp::MAX_PARAMETER_SETS`,
/// crate-private).
const MAX_PARAMETER_SETS: usize = 16;

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = Sdp::parse(data) else {
        return;
    };
    assert!(data.len() <= MAX_SDP_LEN);
    assert!(sdp.media.len() <= MAX_MEDIA);
    // The writer turns LF into CRLF and adds missing o=/s= lines, so its text can be longer
    // than the input; only a text within the parser's size limit can parse back.
    let text = sdp.to_text();
    if text.len() <= MAX_SDP_LEN {
        assert_eq!(Sdp::parse(text.as_bytes()).as_ref(), Ok(&sdp));
    }

    let infos: Vec<MediaInfo> = sdp.media_infos().into_iter().flatten().collect();
    for info in &infos {
        bounded(info, data.len());
    }
    let described = describe_sdp(&infos, &DescribeOptions::default());
    let text = described.to_text();
    if text.len() > MAX_SDP_LEN {
        return;
    }
    let back = Sdp::parse(text.as_bytes()).expect("describe_sdp's text parses");
    assert_eq!(back, described);
    let expected: Vec<_> = infos
        .into_iter()
        .enumerate()
        .map(|(i, mut m)| {
            m.control = Some(format!("trackID={i}"));
            if m.kind == MediaKind::Audio {
                m.channels = m.channels.max(1);
            }
            Ok(m)
        })
        .collect();
    assert_eq!(back.media_infos(), expected);
});

/// Decoded parameter sets and configs come from base64 or hex text of the input, so each
/// is shorter than the input; there are at most `MAX_PARAMETER_SETS` per list.
fn bounded(info: &MediaInfo, input_len: usize) {
    assert!(info.payload_type < 128);
    assert!(info.clock_rate > 0);
    let lists: Vec<&Vec<bytes::Bytes>> = match &info.codec {
        SdpCodec::H264 {
            sps,
            pps,
            packetization_mode,
        } => {
            assert!(*packetization_mode <= 2);
            assert!(sps.len() + pps.len() <= MAX_PARAMETER_SETS);
            vec![sps, pps]
        }
        SdpCodec::H265 { vps, sps, pps } => vec![vps, sps, pps],
        SdpCodec::Aac {
            config,
            size_length,
            index_length,
            index_delta_length,
        } => {
            assert!(config.len() >= 2 && config.len() <= input_len / 2);
            assert!(*size_length <= 32 && *index_length <= 32 && *index_delta_length <= 32);
            Vec::new()
        }
        _ => Vec::new(),
    };
    for list in lists {
        assert!(list.len() <= MAX_PARAMETER_SETS);
        assert!(list.iter().all(|s| !s.is_empty() && s.len() < input_len));
    }
}
