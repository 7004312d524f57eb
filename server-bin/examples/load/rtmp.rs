//! RTMP and HTTP-FLV players: they see the publisher's own FLV timestamps,
//! so latency is looked up directly.

use std::sync::Mutex;
use std::time::Instant;

use bytes::BytesMut;
use flv_mux::{FlvEvent, FlvReader, TagType};
use rtmp_proto::session::MediaKind;
use rtmp_proto::{ClientEvent, ClientMode};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::publisher::{client, flush};
use crate::{connected, count_bytes, count_video, Ctx, PlayerStats};

pub async fn rtmp_player(ctx: &Ctx, stats: &Mutex<PlayerStats>) -> Result<(), String> {
    let args = &ctx.args;
    let started = Instant::now();
    let mut sock = TcpStream::connect((args.host.as_str(), args.rtmp_port))
        .await
        .map_err(|e| e.to_string())?;
    let _ = sock.set_nodelay(true);
    connected(stats);
    let mut session = client(args, ClientMode::Play, 2);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        flush(&mut session, &mut sock)
            .await
            .map_err(|e| e.to_string())?;
        while let Some(ev) = session.poll_event() {
            if let ClientEvent::Media {
                kind,
                timestamp,
                payload,
            } = ev
            {
                count_bytes(payload.len(), ctx, stats);
                if kind == MediaKind::Video && payload.get(1) == Some(&1) {
                    count_video(timestamp, started, ctx, stats);
                }
            }
        }
        let n = sock.read_buf(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("server closed".into());
        }
        session
            .handle_input(&buf.split(), Instant::now())
            .map_err(|e| e.to_string())?;
    }
}

pub async fn flv_player(ctx: &Ctx, stats: &Mutex<PlayerStats>) -> Result<(), String> {
    let started = Instant::now();
    let (mut sock, mut buf) = crate::http_stream(ctx, stats, ".live.flv", "HTTP-FLV").await?;
    let mut reader = FlvReader::new();
    loop {
        reader.push(&buf.split());
        while let Some(ev) = reader.poll().map_err(|e| e.to_string())? {
            if let FlvEvent::Tag(t) = ev {
                if t.tag_type == TagType::Video && t.data.get(1) == Some(&1) {
                    count_video(t.timestamp, started, ctx, stats);
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
