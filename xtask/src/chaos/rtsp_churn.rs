//! Scenario 7's RTSP cycles: a raw RTSP publisher (TCP interleaved or UDP)
//! sends part of the clip, an RTSP player may join (TCP or UDP) and wait for
//! media, then they end in one of four ways, as the RTMP cycles do.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::clients::Rng;
use super::hostile::Counts;
use super::rtsp::{RtpClip, RtspConn, RtspPlay, RtspPublisher};

/// TEARDOWN (RFC 2326 §10.7), not waiting for the answer.
fn teardown(conn: &mut RtspConn) {
    let url = conn.url.clone();
    let _ = conn.send("TEARDOWN", &url, &[], &[]);
}

/// One RTSP publish/play/abort cycle on `live/c<0..50>`.
pub fn rtsp_cycle(port: u16, media: &RtpClip, rng: &mut Rng, c: &Counts) -> Result<(), String> {
    let stream = format!("c{}", rng.below(50));
    let within = Duration::from_secs(3);
    c.rtsp_cycles.fetch_add(1, Ordering::Relaxed);
    let udp = rng.below(3) == 0;
    let mut publisher = match RtspPublisher::start(port, &stream, media, udp, within) {
        Ok(p) => p,
        // Another worker publishes this stream right now: 406 is the clear refusal.
        Err(e) if e.starts_with("rejected") => {
            c.refused.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        Err(e) => return Err(format!("rtsp publish {stream}: {e}")),
    };
    c.published.fetch_add(1, Ordering::Relaxed);
    c.udp_setups.fetch_add(u64::from(udp), Ordering::Relaxed);
    let n = 10 + rng.below(media.packets.len() as u64 - 10) as usize;
    publisher.send_clip(media, n)?;
    let mut player = None;
    if rng.below(2) == 0 {
        let udp = rng.below(3) == 0;
        match RtspPlay::start(port, &stream, udp, within) {
            Ok(mut p) => {
                c.played.fetch_add(1, Ordering::Relaxed);
                c.udp_setups.fetch_add(u64::from(udp), Ordering::Relaxed);
                if p.saw_media(Duration::from_millis(500)) {
                    c.frames_seen.fetch_add(1, Ordering::Relaxed);
                }
                player = Some(p);
            }
            // The stream may already be gone (publisher and stream ended):
            // 404 is a clear answer too.
            Err(e) if e.starts_with("rejected") => {}
            Err(e) => return Err(format!("rtsp play {stream}: {e}")),
        }
    }
    match rng.below(4) {
        // Everyone vanishes without a word.
        0 => {
            c.abrupt.fetch_add(1, Ordering::Relaxed);
        }
        // The publisher dies in the middle of an interleaved frame.
        1 => {
            c.abrupt.fetch_add(1, Ordering::Relaxed);
            let _ = std::io::Write::write_all(
                &mut publisher.conn.sock,
                &[b'$', 0, 0x05, 0xdc, 0x80, 0x60, 0, 1],
            );
        }
        // The player leaves first, then the publisher politely.
        2 => {
            if let Some(mut p) = player.take() {
                teardown(&mut p.conn);
            }
            teardown(&mut publisher.conn);
        }
        // Both politely, the publisher first.
        _ => {
            teardown(&mut publisher.conn);
            if let Some(mut p) = player.take() {
                teardown(&mut p.conn);
            }
        }
    }
    Ok(())
}
