//! An access unit in the Annex-B byte stream format (ITU-T H.264 Annex B,
//! H.265 Annex B): start codes, an access unit delimiter first (required in
//! MPEG-TS: ISO/IEC 13818-1 2.14.1 for AVC and 2.17 for HEVC) and the
//! parameter sets before every keyframe so that each segment decodes alone.
//!
//! The access unit is described as a list of slices (start codes, the
//! delimiter, the caller's NAL units) so the muxer copies each NAL unit once,
//! straight into the transport packets.

use bytes::Bytes;

use crate::ts::muxer::VideoCodec;

/// The 4-byte start code written before every NAL unit.
pub const START_CODE: &[u8] = &[0, 0, 0, 1];
/// H.264 AUD (nal_unit_type 9), primary_pic_type 7 ("any slice type"),
/// then the RBSP stop bit (H.264 7.3.2.4).
pub const H264_AUD: &[u8] = &[0x09, 0xF0];
/// H.265 AUD (nal_unit_type 35, layer 0, TemporalId 0 + 1), pic_type 2
/// ("I, P or B"), then the RBSP stop bit (H.265 7.3.2.5).
pub const H265_AUD: &[u8] = &[0x46, 0x01, 0x50];

/// Most bytes of parameter sets repeated before one keyframe, 4 bytes of
/// framing (start code or length prefix) counted per set. Real
/// configurations need well under 1 KiB (x264: ~40 bytes of SPS+PPS; HEVC
/// with VUI: a few hundred); 8 KiB leaves room for unusual encoders while a
/// publisher's 64 KiB configuration cannot turn every keyframe into 64 KiB
/// more for every player (RTSP players still get every set in the SDP).
pub const MAX_REPEATED_PARAMETER_BYTES: usize = 8 * 1024;

/// The parameter sets of the track's configuration to repeat before a
/// keyframe whose NAL units are `nalus`, in configuration order: each
/// distinct set once, none of a NAL type the access unit already carries
/// (the encoder sends those in-band and knows best), empty ones skipped,
/// and no more than [`MAX_REPEATED_PARAMETER_BYTES`] in all (sets that would
/// cross the budget are left out). Shared by the TS muxer and RTP egress.
pub fn parameter_sets_to_repeat<'a, N: AsRef<[u8]>>(
    codec: VideoCodec,
    nalus: &[N],
    parameter_sets: &'a [Bytes],
) -> Vec<&'a Bytes> {
    let carried: Vec<u8> = nalus
        .iter()
        .map(AsRef::as_ref)
        .filter(|n| codec.is_parameter_set(n))
        .filter_map(|n| codec.nal_type(n))
        .collect();
    let mut out: Vec<&Bytes> = Vec::new();
    let mut budget = MAX_REPEATED_PARAMETER_BYTES;
    for ps in parameter_sets {
        let Some(t) = codec.nal_type(ps) else {
            continue;
        };
        if carried.contains(&t) || out.contains(&ps) {
            continue;
        }
        let Some(left) = budget.checked_sub(ps.len() + START_CODE.len()) else {
            continue;
        };
        budget = left;
        out.push(ps);
    }
    out
}

/// The slices making up the Annex-B form of one access unit, in order: the
/// AUD (the AU's own when it has one, else a generated one), on keyframes
/// the parameter sets [`parameter_sets_to_repeat`] selects, then the other
/// NAL units. Empty NAL units are skipped: a start code followed by nothing is
/// not a NAL unit.
pub fn access_unit_pieces<'a>(
    codec: VideoCodec,
    keyframe: bool,
    nalus: &'a [Bytes],
    parameter_sets: &'a [Bytes],
) -> Vec<&'a [u8]> {
    let mut pieces = Vec::with_capacity(2 * (nalus.len() + parameter_sets.len() + 1));
    let own_aud = nalus.iter().position(|n| codec.is_aud(n));
    pieces.push(START_CODE);
    pieces.push(match (own_aud.and_then(|i| nalus.get(i)), codec) {
        (Some(aud), _) => aud,
        (None, VideoCodec::H264) => H264_AUD,
        (None, VideoCodec::H265) => H265_AUD,
    });
    if keyframe {
        for ps in parameter_sets_to_repeat(codec, nalus, parameter_sets) {
            pieces.push(START_CODE);
            pieces.push(ps);
        }
    }
    for (i, nal) in nalus.iter().enumerate() {
        if Some(i) != own_aud && !nal.is_empty() {
            pieces.push(START_CODE);
            pieces.push(nal);
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use codec::nalu::split_annexb_slices as split_annexb;

    fn flat(pieces: &[&[u8]]) -> Vec<u8> {
        pieces.concat()
    }

    #[test]
    fn keyframe_gets_aud_and_parameter_sets() {
        let sps = Bytes::from_static(&[0x67, 0x42]);
        let pps = Bytes::from_static(&[0x68, 0xCE]);
        let idr = Bytes::from_static(&[0x65, 0x88, 0x84]);
        let ps = [sps, pps];
        let au = flat(&access_unit_pieces(
            VideoCodec::H264,
            true,
            std::slice::from_ref(&idr),
            &ps,
        ));
        assert_eq!(
            au,
            [
                0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xCE, 0, 0, 0, 1,
                0x65, 0x88, 0x84
            ]
        );
        assert_eq!(
            split_annexb(&au),
            [
                &[0x09, 0xF0][..],
                &[0x67, 0x42],
                &[0x68, 0xCE],
                &[0x65, 0x88, 0x84]
            ]
        );
        // Not a keyframe: no parameter sets.
        let p = Bytes::from_static(&[0x41, 0x9A]);
        let au = flat(&access_unit_pieces(VideoCodec::H264, false, &[p], &ps));
        assert_eq!(au, [0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x41, 0x9A]);
    }

    #[test]
    fn repeated_parameter_sets_are_distinct_missing_and_bounded() {
        let sps = Bytes::from_static(&[0x67, 0x42]);
        let pps = Bytes::from_static(&[0x68, 0xCE]);
        let idr = Bytes::from_static(&[0x65, 0x88]);
        // Duplicates once; a type the AU carries (its own PPS) not at all.
        let config = [sps.clone(), sps.clone(), pps.clone(), pps.clone()];
        let own_pps = Bytes::from_static(&[0x68, 0x01]);
        let picked = parameter_sets_to_repeat(VideoCodec::H264, &[own_pps, idr.clone()], &config);
        assert_eq!(picked, [&sps]);
        // 64 distinct 1 KiB SPS: only what fits in the budget, in order.
        let big: Vec<Bytes> = (0..64u8)
            .map(|i| {
                let mut v = vec![0x67, i];
                v.resize(1024, i);
                Bytes::from(v)
            })
            .collect();
        let picked = parameter_sets_to_repeat(VideoCodec::H264, &[idr], &big);
        let bytes: usize = picked.iter().map(|p| p.len() + 4).sum();
        assert!(bytes <= MAX_REPEATED_PARAMETER_BYTES, "{bytes}");
        assert_eq!(picked.len(), MAX_REPEATED_PARAMETER_BYTES / 1028);
        assert_eq!(picked[0], &big[0]);
    }

    #[test]
    fn own_aud_and_parameter_sets_are_kept_not_doubled() {
        let aud = Bytes::from_static(&[0x46, 0x01, 0x10]);
        let vps = Bytes::from_static(&[0x40, 0x01]);
        let idr = Bytes::from_static(&[0x26, 0x01, 0xAF]);
        // The configuration's VPS is not repeated (the AU carries one).
        let other_ps = [Bytes::from_static(&[0x40, 0x01, 0x0C])];
        let nalus = [vps.clone(), aud.clone(), idr.clone(), Bytes::new()];
        let au = flat(&access_unit_pieces(
            VideoCodec::H265,
            true,
            &nalus,
            &other_ps,
        ));
        assert_eq!(
            au,
            [0, 0, 0, 1, 0x46, 0x01, 0x10, 0, 0, 0, 1, 0x40, 0x01, 0, 0, 0, 1, 0x26, 0x01, 0xAF]
        );
        let au = flat(&access_unit_pieces(VideoCodec::H265, false, &[], &other_ps));
        assert_eq!(au, [0, 0, 0, 1, 0x46, 0x01, 0x50]);
    }
}
