//! The publisher: an FLV file sent over RTMP in real time, looped, with
//! every video frame's send time logged ([`SendLog`](crate::SendLog)).

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use flv_mux::{FlvEvent, FlvReader, FlvTag, TagType};
use rtmp_proto::session::MediaKind;
use rtmp_proto::{ClientConfig, ClientEvent, ClientMode, ClientSession, HandshakeParams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Args, Ctx};

/// An RTMP client session for `args.stream` (publish) or what the players
/// play.
pub fn client(args: &Args, mode: ClientMode, seed: u8) -> ClientSession {
    let path = match mode {
        ClientMode::Play => args.play_stream(),
        _ => &args.stream,
    };
    client_for(args, args.rtmp_port, path, mode, seed)
}

/// An RTMP client session for `path` (`app/stream`).
fn client_for(args: &Args, port: u16, path: &str, mode: ClientMode, seed: u8) -> ClientSession {
    let (app, stream) = path.rsplit_once('/').unwrap_or(("live", path));
    ClientSession::new(
        ClientConfig {
            app: app.into(),
            tc_url: format!("rtmp://{}:{port}/{app}", args.host),
            stream: stream.into(),
            mode,
            chunk_size: 4096,
            handshake: HandshakeParams {
                epoch: 0,
                seed: [seed; 32],
            },
            digest: false,
            timeouts: rtmp_proto::ClientTimeouts::NONE,
        },
        Instant::now(),
    )
}

/// Writes everything the session has to send.
pub async fn flush(session: &mut ClientSession, sock: &mut TcpStream) -> std::io::Result<()> {
    while let Some(b) = session.poll_transmit() {
        sock.write_all(&b).await?;
    }
    Ok(())
}

/// Composition time of an AVC video tag body (FLV spec E.4.3.1: SI24 after
/// the AVCPacketType), 0 for anything else.
fn composition_time(data: &[u8]) -> i32 {
    match data {
        [first, _, a, b, c, ..] if first & 0x0F == 7 => {
            let v = i32::from(*a) << 16 | i32::from(*b) << 8 | i32::from(*c);
            (v << 8) >> 8 // sign-extend 24 bits
        }
        _ => 0,
    }
}

/// The tags of an FLV file, read once and shared by every publisher (their
/// payloads are `Bytes`).
pub fn read_tags(file: &str) -> Result<Vec<FlvTag>, String> {
    let data = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
    let mut reader = FlvReader::new();
    reader.push(&data);
    let mut tags: Vec<FlvTag> = Vec::new();
    while let Some(ev) = reader.poll().map_err(|e| e.to_string())? {
        if let FlvEvent::Tag(t) = ev {
            tags.push(t);
        }
    }
    Ok(tags)
}

/// Publishes `tags` to `path` (`app/stream`) in real time, looped, until
/// the window ends; with `log`, every video frame's send time goes to the
/// send log (one publisher per run logs).
pub async fn run(ctx: &Ctx, tags: &[FlvTag], path: &str, log: bool) -> Result<(), String> {
    let args = &ctx.args;
    let last_ts = tags.iter().map(|t| t.timestamp).max().unwrap_or(0);
    let port = args.publish_port.unwrap_or(args.rtmp_port);
    let mut sock = TcpStream::connect((args.host.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    let _ = sock.set_nodelay(true);
    let mut session = client_for(args, port, path, ClientMode::Publish, 1);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    // Handshake, connect, publish.
    loop {
        flush(&mut session, &mut sock)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(ev) = session.poll_event() {
            match ev {
                ClientEvent::Publishing => break,
                ClientEvent::Rejected { description, .. } => return Err(description),
                _ => continue,
            }
        }
        if sock.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("server closed".into());
        }
        session
            .handle_input(&buf.split(), Instant::now())
            .map_err(|e| e.to_string())?;
    }
    let start = Instant::now();
    let mut offset: u32 = 0;
    let mut first_loop = true;
    while !ctx.window.stopped() {
        for tag in tags {
            let is_header = tag.data.get(1) == Some(&0);
            if !first_loop && (tag.tag_type == TagType::Script || is_header) {
                continue; // sequence headers and metadata once
            }
            let ts = tag.timestamp + offset;
            let due = start + Duration::from_millis(u64::from(ts));
            // Read what the server sends (acks, pings) while waiting.
            loop {
                let now = Instant::now();
                if now >= due {
                    break;
                }
                tokio::select! {
                    r = sock.read_buf(&mut buf) => {
                        if r.map_err(|e| e.to_string())? == 0 { return Err("server closed".into()); }
                        session.handle_input(&buf.split(), Instant::now()).map_err(|e| e.to_string())?;
                    }
                    _ = tokio::time::sleep_until(due.into()) => {}
                }
            }
            let payload: Bytes = tag.data.clone();
            let sent = match tag.tag_type {
                TagType::Video => {
                    let r = session.send_media(MediaKind::Video, ts, payload);
                    if log && !is_header {
                        let pts = ts.wrapping_add_signed(composition_time(&tag.data));
                        let keyframe = tag.data.first().is_some_and(|b| b >> 4 == 1);
                        ctx.log.record(ts, pts, keyframe);
                    }
                    r
                }
                TagType::Audio => session.send_media(MediaKind::Audio, ts, payload),
                _ => session.send_metadata(payload),
            };
            sent.map_err(|e| e.to_string())?;
            flush(&mut session, &mut sock)
                .await
                .map_err(|e| e.to_string())?;
        }
        offset += last_ts + 40;
        first_loop = false;
    }
    session.close();
    let _ = flush(&mut session, &mut sock).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::composition_time;

    #[test]
    fn composition_time_is_signed_24_bit() {
        assert_eq!(composition_time(&[0x17, 1, 0, 0, 80]), 80);
        assert_eq!(composition_time(&[0x27, 1, 0xFF, 0xFF, 0xB0]), -80);
        assert_eq!(composition_time(&[0x2C, 1, 0, 0, 80]), 0); // not AVC
        assert_eq!(composition_time(&[0x17, 1]), 0);
    }
}
