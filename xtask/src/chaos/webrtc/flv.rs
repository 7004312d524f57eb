//! An HTTP-FLV player for the chaos [`Player`]: `GET /live/<stream>.live.flv`
//! over HTTP/1.0 (close-delimited, no chunks) on the HTTP port, FLV tags counted and their video timestamps checked.

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::super::clients::{PlayStats, Player};

/// Starts playing `live/<stream>` over HTTP-FLV from the HTTP `port`.
pub fn start(port: u16, stream: &str) -> Player {
    Player::spawn(port, stream, play_loop)
}

/// Largest FLV tag accepted (a frame of the test streams is far smaller).
const MAX_TAG: usize = 4 << 20;

fn play_loop(
    port: u16,
    stream: &str,
    stop: &AtomicBool,
    stats: &Mutex<PlayStats>,
) -> Result<(), String> {
    let lock = || stats.lock().unwrap_or_else(|e| e.into_inner());
    let mut sock = super::super::server::connect_local(port, Duration::from_secs(5))?;
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    write!(
        sock,
        "GET /live/{stream}.live.flv HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut data: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    // Where the FLV body starts (after the HTTP head and the 13-byte FLV
    // header), then where the next tag starts.
    let mut at: Option<usize> = None;
    while !stop.load(Ordering::Relaxed) {
        match sock.read(&mut buf) {
            Ok(0) => {
                lock().closed = true;
                return Ok(());
            }
            Ok(n) => data.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => {
                lock().closed = true;
                return Err(format!("read: {e}"));
            }
        }
        if at.is_none() {
            let Some(head) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let status = String::from_utf8_lossy(data.get(..head).unwrap_or_default())
                .split_whitespace()
                .nth(1)
                .map(String::from);
            if status.as_deref() != Some("200") {
                return Err(format!("HTTP-FLV answered {status:?}"));
            }
            // HTTP/1.0: the body is the FLV itself, closed at the end.
            at = Some(head + 4 + 13);
            lock().playing = true;
        }
        let mut pos = at.unwrap_or(0);
        while let Some(h) = data.get(pos..pos + 11) {
            let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
            if size > MAX_TAG {
                return Err(format!("FLV tag of {size} bytes"));
            }
            let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
            let Some(body) = data.get(pos + 11..pos + 11 + size + 4) else {
                break;
            };
            // Video, AVC NALUs (not the sequence header).
            if h[0] == 9 && body.get(1) == Some(&1) {
                let mut g = lock();
                g.video_frames += 1;
                if g.last_ts.is_some_and(|t| ts < t) {
                    g.ts_regressions += 1;
                }
                g.last_ts = Some(ts);
            }
            pos += 11 + size + 4;
        }
        data.drain(..pos.min(data.len()));
        at = Some(0);
    }
    Ok(())
}
