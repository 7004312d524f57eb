//! Byte-vector tests of the demuxer: resync, continuity errors, CRC
//! errors, limits, garbage.

use bytes::Bytes;

use super::*;
use crate::ts::muxer::{
    AudioCodec, MuxInput, MuxerConfig, TsMuxer, VideoCodec, AUDIO_PID, VIDEO_PID,
};

fn av_muxer() -> TsMuxer {
    TsMuxer::new(MuxerConfig {
        video: Some(VideoCodec::H264),
        audio: Some(AudioCodec::Aac {
            config: Bytes::from_static(&[0x12, 0x10]),
        }),
    })
}

fn audio(m: &mut TsMuxer, pts: u64, len: usize, tables: bool) -> Bytes {
    let data = Bytes::from(vec![0x5A; len]);
    m.mux(MuxInput::Audio { pts, data: &data }, tables).unwrap()
}

fn video(m: &mut TsMuxer, dts: u64, len: usize, tables: bool) -> Bytes {
    let nalus = [Bytes::from(vec![0x65; len])];
    let ps = [
        Bytes::from_static(&[0x67, 1]),
        Bytes::from_static(&[0x68, 2]),
    ];
    m.mux(
        MuxInput::Video {
            pts: dts + 3000,
            dts,
            keyframe: true,
            nalus: &nalus,
            parameter_sets: &ps,
        },
        tables,
    )
    .unwrap()
}

#[test]
fn reads_program_and_frames() {
    let mut m = av_muxer();
    let mut ts = Vec::new();
    ts.extend_from_slice(&video(&mut m, 1000, 5000, true));
    ts.extend_from_slice(&audio(&mut m, 1100, 300, false));
    let mut d = TsDemuxer::new();
    let frames = d.push(&ts).unwrap();
    let program = d.program().unwrap().clone();
    assert_eq!(program.pmt_pid, 0x1000);
    assert_eq!(program.pcr_pid, VIDEO_PID);
    assert_eq!(
        program.streams,
        [
            StreamInfo {
                pid: VIDEO_PID,
                stream_type: 0x1B
            },
            StreamInfo {
                pid: AUDIO_PID,
                stream_type: 0x0F
            }
        ]
    );
    // The bounded audio PES completes at once; the video one at its end.
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].pid, AUDIO_PID);
    assert_eq!((frames[0].pts, frames[0].dts), (Some(1100), None));
    assert_eq!(frames[0].data.len(), 307);
    let rest = d.flush();
    assert_eq!(rest.len(), 1);
    assert_eq!((rest[0].pts, rest[0].dts), (Some(4000), Some(1000)));
    assert!(rest[0].random_access);
    assert_eq!(rest[0].data.len(), 6 + 6 + 6 + 4 + 5000);
    assert_eq!((d.cc_errors(), d.crc_errors(), d.dropped_pes()), (0, 0, 0));
}

#[test]
fn byte_by_byte_and_garbage_between_packets() {
    let mut m = av_muxer();
    let mut ts = b"garbage\x47\x47 before".to_vec();
    ts.extend_from_slice(&m.tables());
    ts.extend_from_slice(&audio(&mut m, 0, 100, false));
    ts.extend_from_slice(&[0x00, 0x12, 0x47]);
    ts.extend_from_slice(&audio(&mut m, 1920, 200, false));
    ts.extend_from_slice(&[0x47, 0x00, 0x47]);
    ts.extend_from_slice(&audio(&mut m, 3840, 300, false));
    ts.extend_from_slice(&audio(&mut m, 5760, 400, false));
    // Byte by byte: once in sync, a sync byte where the packet grid
    // predicts one is trusted, so garbage starting with 0x47 costs the
    // frame it overlaps.
    let mut d = TsDemuxer::new();
    let mut frames = Vec::new();
    for b in &ts {
        frames.extend(d.push(std::slice::from_ref(b)).unwrap());
    }
    frames.extend(d.flush());
    let sizes: Vec<usize> = frames.iter().map(|f| f.data.len()).collect();
    assert_eq!(sizes, [107, 207, 407]);
    assert_eq!(d.sync_losses(), 2);
    // In one piece: the same.
    let mut d = TsDemuxer::new();
    let mut frames = d.push(&ts).unwrap();
    frames.extend(d.flush());
    let sizes: Vec<usize> = frames.iter().map(|f| f.data.len()).collect();
    assert_eq!(sizes, [107, 207, 407]);
    assert_eq!(d.sync_losses(), 2);
    // The lost packet shows as a continuity gap.
    assert_eq!(d.cc_errors(), 1);
}

#[test]
fn continuity_gap_drops_the_pes_and_counts() {
    let mut m = av_muxer();
    let mut ts = m.tables().to_vec();
    let big = audio(&mut m, 0, 1000, false);
    ts.extend_from_slice(&big[..PACKET_SIZE]); // first packet only: gap follows
    ts.extend_from_slice(&audio(&mut m, 1920, 10, false));
    let mut d = TsDemuxer::new();
    let mut frames = d.push(&ts).unwrap();
    frames.extend(d.flush());
    assert_eq!(d.cc_errors(), 1);
    assert_eq!(d.dropped_pes(), 1);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].pts, Some(1920));
}

#[test]
fn duplicate_packet_is_ignored() {
    let mut m = av_muxer();
    let mut ts = m.tables().to_vec();
    let a = audio(&mut m, 0, 10, false);
    ts.extend_from_slice(&a);
    ts.extend_from_slice(&a);
    let mut d = TsDemuxer::new();
    let mut frames = d.push(&ts).unwrap();
    frames.extend(d.flush());
    assert_eq!((frames.len(), d.cc_errors()), (1, 0));
}

#[test]
fn bad_crc_pmt_is_refused() {
    let mut m = av_muxer();
    let mut ts = m.tables().to_vec();
    ts[PACKET_SIZE + 20] ^= 0x01; // inside the PMT section
    ts.extend_from_slice(&audio(&mut m, 0, 10, false));
    let mut d = TsDemuxer::new();
    let frames = d.push(&ts).unwrap();
    assert!(frames.is_empty());
    assert!(d.program().is_none());
    assert_eq!(d.crc_errors(), 1);
}

#[test]
fn oversized_pes_is_refused_and_later_frames_survive() {
    let mut m = av_muxer();
    let mut ts = m.tables().to_vec();
    // An unbounded video PES of 17 MiB.
    ts.extend_from_slice(&video(&mut m, 0, 17 << 20, false));
    let tail = audio(&mut m, 10, 10, false);
    let mut d = TsDemuxer::new();
    let err = d.push(&ts).unwrap_err();
    assert!(matches!(err, DemuxError::TooLarge { .. }));
    assert_eq!(d.dropped_pes(), 1);
    let frames = d.push(&tail).unwrap();
    assert_eq!(frames.len(), 1);
    assert!(d.flush().is_empty());
}

#[test]
fn hostile_headers_do_not_panic() {
    let mut d = TsDemuxer::new();
    let mut p = [0xFFu8; PACKET_SIZE];
    p[0] = SYNC_BYTE;
    // Adaptation field length 183 with no payload; then 255.
    p[3] = 0x30;
    p[4] = 183;
    let mut ts = p.to_vec();
    p[4] = 255;
    ts.extend_from_slice(&p);
    // A PAT with a pointer field past the packet.
    let mut q = [0u8; PACKET_SIZE];
    q[..5].copy_from_slice(&[0x47, 0x40, 0x00, 0x10, 250]);
    ts.extend_from_slice(&q);
    // A PAT whose section_length claims 4095.
    q[..8].copy_from_slice(&[0x47, 0x40, 0x00, 0x11, 0x00, 0x00, 0xBF, 0xFF]);
    ts.extend_from_slice(&q);
    assert!(d.push(&ts).unwrap().is_empty());
    assert!(d.flush().is_empty());
}
