//! HTTP-TS players, and the video PES scanner HLS shares.
//!
//! A frame is counted when its PES starts: a transport packet on the video
//! PID (0x100, strom's muxer) with payload_unit_start_indicator set
//! (ISO/IEC 13818-1 2.4.3.2); its PES header gives the DTS (or the PTS when
//! no DTS is written, 2.4.3.7) and its adaptation field the
//! random_access_indicator (2.4.3.5). Packets are parsed with hls-seg's
//! header decoders; the payloads are not reassembled.

use std::sync::Mutex;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use hls_seg::ts::adaptation::AdaptationField;
use hls_seg::ts::packet::{TsHeader, PACKET_SIZE, SYNC_BYTE};
use hls_seg::ts::pes::PesHeader;
use tokio::io::AsyncReadExt;

use crate::rebase::Relative;
use crate::{count_bytes, count_relative, Ctx, PlayerStats};

/// The video PID of strom's TS muxer.
pub const VIDEO_PID: u16 = 0x100;

/// The start of one video PES.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoStart {
    /// DTS, or the PTS when the DTS is not written (90 kHz, 33 bits).
    pub dts: u64,
    /// The random_access_indicator of its first packet.
    pub random_access: bool,
}

/// Finds video PES starts in a stream of transport packets.
#[derive(Debug, Default)]
pub struct VideoScanner {
    rest: BytesMut,
    /// Times the packet grid was lost (bytes skipped to the next sync byte).
    pub sync_losses: u64,
}

impl VideoScanner {
    /// Feeds bytes; the PES starts they complete go to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<VideoStart>) {
        self.rest.extend_from_slice(data);
        while self.rest.len() >= PACKET_SIZE {
            if self.rest.first() != Some(&SYNC_BYTE) {
                self.sync_losses += 1;
                let skip = self
                    .rest
                    .iter()
                    .position(|&b| b == SYNC_BYTE)
                    .unwrap_or(self.rest.len());
                self.rest.advance(skip);
                continue;
            }
            let packet = self.rest.split_to(PACKET_SIZE);
            if let Some(start) = video_start(&packet) {
                out.push(start);
            }
        }
    }
}

fn video_start(packet: &[u8]) -> Option<VideoStart> {
    let (rest, header) = TsHeader::decode(packet).ok()?;
    if header.pid != VIDEO_PID || !header.payload_unit_start || !header.has_payload {
        return None;
    }
    let (payload, random_access) = if header.has_adaptation {
        let (rest, af) = AdaptationField::decode(rest).ok()?;
        (rest, af.random_access)
    } else {
        (rest, false)
    };
    let (_, pes) = PesHeader::decode(payload).ok()?;
    Some(VideoStart {
        dts: pes.dts.or(pes.pts)?,
        random_access,
    })
}

pub async fn player(ctx: &Ctx, stats: &Mutex<PlayerStats>) -> Result<(), String> {
    let started = Instant::now();
    let (mut sock, mut buf) = crate::http_stream(ctx, stats, ".live.ts", "HTTP-TS").await?;
    let mut scanner = VideoScanner::default();
    let mut clock = Relative::mpeg_ts();
    let mut starts = Vec::new();
    loop {
        scanner.push(&buf, &mut starts);
        buf.clear();
        for s in starts.drain(..) {
            let offset = clock.offset(s.dts, s.random_access);
            count_relative(offset, started, ctx, stats);
        }
        let n = sock.read_buf(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!(
                "server closed ({} sync losses)",
                scanner.sync_losses
            ));
        }
        count_bytes(n, ctx, stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use hls_seg::{MuxInput, MuxerConfig, TsMuxer, VideoCodec};

    #[test]
    fn finds_every_video_pes_at_any_split() {
        let mut mux = TsMuxer::new(MuxerConfig {
            video: Some(VideoCodec::H264),
            audio: None,
        });
        let sps_pps = [
            Bytes::from_static(&[0x67, 0x42, 0xC0, 0x1E]),
            Bytes::from_static(&[0x68, 0xCE, 0x3C, 0x80]),
        ];
        let big = Bytes::from(vec![0x65; 1000]);
        let mut stream = Vec::new();
        for i in 0..10u64 {
            let keyframe = i % 5 == 0;
            let nalus = [big.clone()];
            let ts = mux
                .mux(
                    MuxInput::Video {
                        pts: 3600 * i + 7200,
                        dts: 3600 * i,
                        keyframe,
                        nalus: &nalus,
                        parameter_sets: &sps_pps,
                    },
                    keyframe,
                )
                .expect("mux");
            stream.extend_from_slice(&ts);
        }
        for split in [1, 187, 188, 1000] {
            let mut scanner = VideoScanner::default();
            let mut out = Vec::new();
            for piece in stream.chunks(split) {
                scanner.push(piece, &mut out);
            }
            assert_eq!(out.len(), 10, "split {split}");
            for (i, s) in out.iter().enumerate() {
                assert_eq!(s.dts, 3600 * i as u64);
                assert_eq!(s.random_access, i % 5 == 0);
            }
            assert_eq!(scanner.sync_losses, 0);
        }
    }
}
