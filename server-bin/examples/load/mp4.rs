//! HTTP-fMP4 players: the body is read through the `fmp4` crate's demuxer;
//! a frame is counted when the fragment holding a video sample is complete,
//! and its `tfdt` (90 kHz, strom's video timescale) times it.

use std::sync::Mutex;
use std::time::Instant;

use fmp4::{CodecConfig, Demuxer, Event};
use tokio::io::AsyncReadExt;

use crate::rebase::Relative;
use crate::{count_bytes, count_relative, Ctx, PlayerStats};

fn is_video(codec: &CodecConfig) -> bool {
    matches!(
        codec,
        CodecConfig::Avc { .. } | CodecConfig::Hevc { .. } | CodecConfig::Av1 { .. }
    )
}

pub async fn player(ctx: &Ctx, stats: &Mutex<PlayerStats>) -> Result<(), String> {
    let started = Instant::now();
    let (mut sock, mut buf) = crate::http_stream(ctx, stats, ".live.mp4", "HTTP-fMP4").await?;
    let mut demux = Demuxer::new();
    let mut video_track = None;
    // tfdt is 64-bit; a bench run stays far below the 33-bit wrap.
    let mut clock = Relative::mpeg_ts();
    loop {
        demux.push(&buf);
        buf.clear();
        while let Some(event) = demux.next_event().map_err(|e| e.to_string())? {
            match event {
                Event::Init(tracks) => {
                    video_track = tracks.iter().find(|t| is_video(&t.codec)).map(|t| t.id);
                }
                Event::Fragment { runs, .. } => {
                    for run in runs.iter().filter(|r| Some(r.track_id) == video_track) {
                        let mut dts = run.base_decode_time;
                        for sample in &run.samples {
                            let offset = clock.offset(dts, sample.keyframe);
                            count_relative(offset, started, ctx, stats);
                            dts += u64::from(sample.duration);
                        }
                    }
                }
            }
        }
        let n = sock.read_buf(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("server closed".into());
        }
        count_bytes(n, ctx, stats);
    }
}
