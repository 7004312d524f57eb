use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::signal::error::ParseError;

/// ffmpeg 5.1's ANNOUNCE body (testdata/ffmpeg-5.1_rtsp_record_tcp).
const FFMPEG_ANNOUNCE: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
a=tool:libavformat LIBAVFORMAT_VERSION\r\nm=video 0 RTP/AVP 96\r\nb=AS:200\r\na=rtpmap:96 H264/90000\r\n\
a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z0LADdoFB+wEQAAAAwBAAAAMo8UKqA==,aM48gA==; profile-level-id=42C00D\r\n\
a=control:streamid=0\r\nm=audio 0 RTP/AVP 97\r\nb=AS:32\r\na=rtpmap:97 MPEG4-GENERIC/44100/1\r\n\
a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=120856E500\r\n\
a=control:streamid=1\r\n";

#[test]
fn ffmpeg_announce() {
    let sdp = Sdp::parse(FFMPEG_ANNOUNCE.as_bytes()).unwrap();
    assert_eq!(sdp.session_name, "No Name");
    assert_eq!(
        sdp.attribute("tool"),
        Some("libavformat LIBAVFORMAT_VERSION")
    );
    assert_eq!(sdp.media.len(), 2);
    let infos: Vec<MediaInfo> = sdp.media_infos().into_iter().map(Result::unwrap).collect();
    let v = &infos[0];
    assert_eq!(
        (v.kind, v.payload_type, v.clock_rate, v.channels),
        (MediaKind::Video, 96, 90000, 0)
    );
    assert_eq!(v.control.as_deref(), Some("streamid=0"));
    assert_eq!(v.bandwidth_kbps, Some(200));
    let SdpCodec::H264 {
        sps,
        pps,
        packetization_mode,
    } = &v.codec
    else {
        panic!("{v:?}")
    };
    assert_eq!(*packetization_mode, 1);
    assert_eq!(sps.len(), 1);
    assert_eq!(sps[0][..4], [0x67, 0x42, 0xc0, 0x0d]);
    assert_eq!(pps[0][..], [0x68, 0xce, 0x3c, 0x80]);
    let a = &infos[1];
    assert_eq!(
        (a.kind, a.payload_type, a.clock_rate, a.channels),
        (MediaKind::Audio, 97, 44100, 1)
    );
    assert_eq!(
        a.codec,
        SdpCodec::Aac {
            config: Bytes::from_static(&[0x12, 0x08, 0x56, 0xe5, 0x00]),
            size_length: 13,
            index_length: 3,
            index_delta_length: 3
        }
    );
    // Writing keeps every line.
    let again = Sdp::parse(sdp.to_text().as_bytes()).unwrap();
    assert_eq!(again, sdp);
}

#[test]
fn describe_answer_like_zlm() {
    let sdp = Sdp::parse(FFMPEG_ANNOUNCE.as_bytes()).unwrap();
    let infos: Vec<MediaInfo> = sdp.media_infos().into_iter().map(Result::unwrap).collect();
    let text = describe_sdp(&infos, &DescribeOptions::default()).to_text();
    assert!(text.contains("a=control:*\r\n"));
    assert!(text.contains("a=rtpmap:96 H264/90000\r\n"));
    assert!(text.contains(
        "a=fmtp:96 packetization-mode=1; profile-level-id=42C00D; sprop-parameter-sets=Z0LADdoFB+wEQAAAAwBAAAAMo8UKqA==,aM48gA==\r\n"
    ));
    assert!(text.contains("a=control:trackID=1\r\n"));
    assert!(text.contains("a=rtpmap:97 mpeg4-generic/44100/1\r\n"));
    assert!(text.contains("config=120856e500\r\n"));
}

#[test]
fn h265_and_g711() {
    let text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\n\
m=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\n\
a=fmtp:96 sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwBdlZgJ; sprop-sps=QgEBAWAAAAMAkAAAAwAAAwBdoAKAgC0WWVmkkyvAQAAAAwBAAAAGQg==; sprop-pps=RAHBcrRiQA==\r\n\
m=audio 0 RTP/AVP 8\r\na=control:track2\r\nm=audio 0 RTP/AVP 0\r\n";
    let sdp = Sdp::parse(text.as_bytes()).unwrap();
    let infos = sdp.media_infos();
    let Ok(MediaInfo {
        codec: SdpCodec::H265 { vps, sps, pps },
        ..
    }) = &infos[0]
    else {
        panic!("{infos:?}")
    };
    assert_eq!(
        (vps[0][0] >> 1, sps[0][0] >> 1, pps[0][0] >> 1),
        (32, 33, 34)
    );
    let Ok(pcma) = &infos[1] else { panic!() };
    assert_eq!(
        (&pcma.codec, pcma.clock_rate, pcma.control.as_deref()),
        (&SdpCodec::Pcma, 8000, Some("track2"))
    );
    assert!(matches!(
        &infos[2],
        Ok(MediaInfo {
            codec: SdpCodec::Pcmu,
            ..
        })
    ));
}

#[test]
fn unsupported_and_malformed() {
    let latm = "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nm=audio 0 RTP/AVP 98\r\na=rtpmap:98 MP4A-LATM/44100/2\r\na=fmtp:98 cpresent=0;config=400024203fc0\r\n";
    let sdp = Sdp::parse(latm.as_bytes()).unwrap();
    let err = sdp.media_infos().remove(0).unwrap_err();
    assert!(
        matches!(&err, ParseError::Unsupported { what: "codec", detail } if detail.contains("MP4A-LATM")),
        "{err}"
    );
    assert!(Sdp::parse(b"o=- 0 0 IN IP4 0.0.0.0\r\n").is_err(), "no v=");
    assert!(Sdp::parse(b"v=0\r\nthis is not sdp\r\n").is_err());
    assert!(Sdp::parse(b"v=0\r\nm=video x RTP/AVP 96\r\n").is_err());
    let many = format!("v=0\r\n{}", "m=video 0 RTP/AVP 96\r\n".repeat(17));
    assert!(matches!(
        Sdp::parse(many.as_bytes()),
        Err(ParseError::TooLarge { .. })
    ));
    assert!(matches!(
        Sdp::parse(&vec![b'a'; 70_000]),
        Err(ParseError::TooLarge { .. })
    ));
    let no_cfg = "v=0\r\nm=audio 0 RTP/AVP 97\r\na=rtpmap:97 mpeg4-generic/44100/2\r\na=fmtp:97 mode=AAC-hbr;sizelength=13;indexlength=3\r\n";
    assert!(Sdp::parse(no_cfg.as_bytes())
        .unwrap()
        .media_infos()
        .remove(0)
        .is_err());
}

fn attr() -> impl Strategy<Value = Attribute> {
    ("[a-z][a-z-]{0,10}", proptest::option::of("[ -~]{0,30}"))
        .prop_map(|(name, value)| Attribute { name, value })
}

fn media() -> impl Strategy<Value = Media> {
    (
        prop_oneof![Just("video".to_string()), Just("audio".to_string())],
        any::<u16>(),
        proptest::option::of(1u16..8),
        prop::collection::vec("[0-9]{1,3}", 1..4),
        proptest::option::of("IN IP4 [0-9.]{1,15}"),
        prop::collection::vec("AS:[0-9]{1,5}", 0..2),
        prop::collection::vec(attr(), 0..6),
    )
        .prop_map(
            |(kind, port, port_count, formats, connection, bandwidth, attributes)| Media {
                kind,
                port,
                port_count,
                proto: "RTP/AVP".into(),
                formats,
                info: None,
                connection,
                bandwidth,
                attributes,
                extra: Vec::new(),
            },
        )
}

fn sdp() -> impl Strategy<Value = Sdp> {
    (
        "[ -~]{0,40}",
        "[ -~]{0,40}",
        prop::collection::vec(attr(), 0..5),
        prop::collection::vec(media(), 0..5),
        prop::collection::vec((prop_oneof![Just('u'), Just('e')], "[ -~]{0,20}"), 0..2),
    )
        .prop_map(|(origin, session_name, attributes, media, extra)| Sdp {
            version: 0,
            origin,
            session_name,
            info: None,
            connection: Some("IN IP4 0.0.0.0".into()),
            bandwidth: Vec::new(),
            timing: vec!["0 0".into()],
            attributes,
            extra,
            media,
        })
}

fn media_info() -> impl Strategy<Value = MediaInfo> {
    let nal = |t: u8| {
        prop::collection::vec(any::<u8>(), 3..40).prop_map(move |mut v| {
            v[0] = (v[0] & 0xe0) | t;
            Bytes::from(v)
        })
    };
    let hnal = |t: u8| {
        prop::collection::vec(any::<u8>(), 2..40).prop_map(move |mut v| {
            v[0] = t << 1;
            Bytes::from(v)
        })
    };
    let video = prop_oneof![
        (
            prop::collection::vec(nal(7), 0..2),
            prop::collection::vec(nal(8), 0..2),
            0u8..3
        )
            .prop_map(|(sps, pps, packetization_mode)| SdpCodec::H264 {
                sps,
                pps,
                packetization_mode
            }),
        (
            prop::collection::vec(hnal(32), 0..2),
            prop::collection::vec(hnal(33), 0..2),
            prop::collection::vec(hnal(34), 0..2)
        )
            .prop_map(|(vps, sps, pps)| SdpCodec::H265 { vps, sps, pps }),
    ];
    let audio = prop_oneof![
        (
            prop::collection::vec(any::<u8>(), 2..8),
            1u8..17,
            0u8..5,
            0u8..5
        )
            .prop_map(|(c, s, i, d)| SdpCodec::Aac {
                config: Bytes::from(c),
                size_length: s,
                index_length: i,
                index_delta_length: d
            }),
        Just(SdpCodec::Pcma),
        Just(SdpCodec::Pcmu),
    ];
    prop_oneof![
        (video, 96u8..128, proptest::option::of(1u32..100_000)).prop_map(|(codec, pt, bw)| {
            MediaInfo {
                kind: MediaKind::Video,
                payload_type: pt,
                codec,
                clock_rate: 90000,
                channels: 0,
                control: None,
                bandwidth_kbps: bw,
            }
        }),
        (audio, 96u8..128, 1u32..200_000, 1u16..9).prop_map(|(codec, pt, rate, ch)| MediaInfo {
            kind: MediaKind::Audio,
            payload_type: pt,
            codec,
            clock_rate: rate,
            channels: ch,
            control: None,
            bandwidth_kbps: None,
        }),
    ]
}

proptest! {
    #[test]
    fn sdp_round_trip(s in sdp()) {
        prop_assert_eq!(Sdp::parse(s.to_text().as_bytes()).unwrap(), s);
    }

    /// MediaInfo → DESCRIBE SDP → text → parse → MediaInfo.
    #[test]
    fn media_info_round_trip(mut infos in prop::collection::vec(media_info(), 0..5)) {
        let text = describe_sdp(&infos, &DescribeOptions::default()).to_text();
        let back: Vec<MediaInfo> = Sdp::parse(text.as_bytes()).unwrap().media_infos().into_iter().map(Result::unwrap).collect();
        for (i, m) in infos.iter_mut().enumerate() {
            m.control = Some(format!("trackID={i}"));
        }
        prop_assert_eq!(back, infos);
    }

    #[test]
    fn never_panics(s in "(v=0\r\n)?([a-z]=[ -~]{0,30}\r\n){0,12}") {
        if let Ok(sdp) = Sdp::parse(s.as_bytes()) {
            let _ = sdp.media_infos();
        }
    }
}
