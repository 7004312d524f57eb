//! Replays the RTP of real RTSP sessions (see `testdata/README.md`) through the parsers and
//! depacketizers.

use bytes::Bytes;

use super::rtcp::{parse_compound, RtcpPacket};
use super::{AacConfig, AacDepacketizer, H264Depacketizer, RtpPacket};

/// Splits one direction of a recorded RTSP connection into its `$` frames (RFC 2326 §10.12),
/// skipping the RTSP messages between them. Test-only: the real framer lives in `signal`.
fn interleaved(data: &'static [u8]) -> Vec<(u8, Bytes)> {
    let data = Bytes::from_static(data);
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'$' {
            let channel = data[i + 1];
            let len = usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]]));
            out.push((channel, data.slice(i + 4..i + 4 + len)));
            i += 4 + len;
        } else {
            let head_end = data[i..]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("RTSP head")
                + i
                + 4;
            let head = std::str::from_utf8(&data[i..head_end]).expect("RTSP head text");
            let body = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            i = head_end + body;
        }
    }
    out
}

struct Replay {
    access_units: usize,
    keyframes: usize,
    audio_frames: usize,
    sender_reports: usize,
}

fn replay(data: &'static [u8]) -> Replay {
    let mut video = H264Depacketizer::new();
    let mut audio = AacDepacketizer::new(AacConfig::hbr()).unwrap();
    let mut r = Replay {
        access_units: 0,
        keyframes: 0,
        audio_frames: 0,
        sender_reports: 0,
    };
    let mut last_video_ts = None;
    let mut last_audio_ts = None;
    for (channel, frame) in interleaved(data) {
        match channel {
            0 => {
                let pkt = RtpPacket::parse(&frame).unwrap();
                assert_eq!(pkt.payload_type, 96);
                assert_eq!(pkt.to_bytes(), frame, "RTP re-serializes byte for byte");
                video.push(&pkt).unwrap();
                while let Some(au) = video.pop() {
                    if let Some(prev) = last_video_ts {
                        assert_eq!(au.timestamp.wrapping_sub(prev), 3600, "25 fps at 90 kHz");
                    }
                    last_video_ts = Some(au.timestamp);
                    r.access_units += 1;
                    if au.keyframe {
                        r.keyframes += 1;
                        assert!(au.nalus.iter().any(|n| n[0] & 0x1f == 5));
                    }
                    assert!(au.nalus.iter().all(|n| !n.is_empty()));
                }
            }
            2 => {
                let pkt = RtpPacket::parse(&frame).unwrap();
                assert_eq!(pkt.payload_type, 97);
                audio.push(&pkt).unwrap();
                while let Some(f) = audio.pop() {
                    if let Some(prev) = last_audio_ts {
                        // 1024 samples per frame; ZLMediaKit restamps from milliseconds, so
                        // its steps jitter by a few samples.
                        let step = f.timestamp.wrapping_sub(prev);
                        assert!((980..=1070).contains(&step), "audio step {step}");
                    }
                    last_audio_ts = Some(f.timestamp);
                    assert!(!f.data.is_empty());
                    r.audio_frames += 1;
                }
            }
            1 | 3 => {
                for p in parse_compound(&frame).unwrap() {
                    if let RtcpPacket::SenderReport(_) = p {
                        r.sender_reports += 1;
                    }
                }
            }
            other => panic!("unexpected channel {other}"),
        }
    }
    assert_eq!(video.stats().lost_packets, 0);
    assert_eq!(video.stats().dropped_access_units, 0);
    assert_eq!(audio.stats().dropped_frames, 0);
    r
}

#[test]
fn ffmpeg_record() {
    let r = replay(include_bytes!(
        "testdata/ffmpeg-5.1_rtsp_record_tcp.client-to-server.bin"
    ));
    assert_eq!(
        (
            r.access_units,
            r.keyframes,
            r.audio_frames,
            r.sender_reports
        ),
        (75, 3, 125, 2)
    );
}

#[test]
fn zlmediakit_to_ffmpeg_play() {
    let r = replay(include_bytes!(
        "testdata/ffmpeg-5.1_rtsp_play_tcp.server-to-client.bin"
    ));
    assert_eq!(
        (
            r.access_units,
            r.keyframes,
            r.audio_frames,
            r.sender_reports
        ),
        (80, 4, 137, 2)
    );
}

#[test]
fn zlmediakit_to_gstreamer_play() {
    let r = replay(include_bytes!(
        "testdata/gstreamer-1.22_rtspsrc_play_tcp.server-to-client.bin"
    ));
    assert_eq!(
        (
            r.access_units,
            r.keyframes,
            r.audio_frames,
            r.sender_reports
        ),
        (113, 5, 195, 2)
    );
}
