//! The demuxer reads a transport stream written by ffmpeg (see
//! `data/ffmpeg-h264-aac-1s.txt`), whole and in odd-sized chunks.

use hls_seg::es::adts::AdtsConfig;
use hls_seg::{DemuxedFrame, StreamInfo, TsDemuxer};

const FIXTURE: &[u8] = include_bytes!("data/ffmpeg-h264-aac-1s.ts");

fn demux(chunk: usize) -> (Vec<DemuxedFrame>, TsDemuxer) {
    let mut d = TsDemuxer::new();
    let mut frames = Vec::new();
    for c in FIXTURE.chunks(chunk) {
        frames.extend(d.push(c).unwrap());
    }
    frames.extend(d.flush());
    (frames, d)
}

#[test]
fn reads_ffmpeg_output() {
    for chunk in [FIXTURE.len(), 188, 1000, 7] {
        let (frames, d) = demux(chunk);
        let program = d.program().unwrap();
        assert_eq!(
            (program.program_number, program.pmt_pid, program.pcr_pid),
            (1, 0x1000, 0x100)
        );
        assert_eq!(
            program.streams,
            [
                StreamInfo {
                    pid: 0x100,
                    stream_type: 0x1B
                },
                StreamInfo {
                    pid: 0x101,
                    stream_type: 0x0F
                }
            ]
        );
        assert_eq!((d.cc_errors(), d.crc_errors(), d.dropped_pes()), (0, 0, 0));

        let video: Vec<_> = frames.iter().filter(|f| f.pid == 0x100).collect();
        assert_eq!(video.len(), 25);
        assert_eq!((video[0].pts, video[0].dts), (Some(133_200), Some(126_000)));
        assert!(video[0].random_access);
        assert!(video
            .iter()
            .all(|f| f.data.starts_with(&[0, 0, 0, 1, 0x09])));

        let mut adts_frames = 0;
        for f in frames.iter().filter(|f| f.pid == 0x101) {
            let mut rest = &f.data[..];
            while !rest.is_empty() {
                let (config, len) = AdtsConfig::decode(rest).unwrap();
                assert_eq!(
                    (config.profile, config.sampling_index, config.channels),
                    (1, 3, 1)
                );
                rest = &rest[len..];
                adts_frames += 1;
            }
        }
        assert_eq!(adts_frames, 48);
    }
}
