//! Scenario 15, big-config: a publisher whose AVC sequence header is about
//! 2 MB (an avcC of many large SPS and PPS), then 25 keyframes a second,
//! with RTSP and HLS players on its stream. Codec configuration is capped
//! (64 KiB): strom must refuse that publisher, or else send players no more
//! than the cap's worth of parameter sets per keyframe.

use std::collections::HashSet;
use std::io::{ErrorKind, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtmp_proto::session::MediaKind;
use rtmp_proto::ClientMode;

use super::attack::{self, check_recovered, during, median, Base};
use super::clients::{clip, flush, rtmp_connect_on, FPS};
use super::rtsp::{Msg, RtspPlay};
use super::server::http_get_raw;
use super::{wait_for, wait_live, Ctx};

/// The attacker's stream.
const STREAM: &str = "bigcfg";
/// The codec configuration cap the server promises.
const CONFIG_CAP: usize = 64 * 1024;

/// What the attack is built from: the clip's own avcC fields and its first keyframe.
struct ClipParts {
    /// avcC profile, compatibility and level bytes.
    profile: Vec<u8>,
    /// The clip's SPS.
    sps: Vec<u8>,
    /// The clip's PPS.
    pps: Vec<u8>,
    /// The first keyframe's FLV tag body.
    key: Bytes,
}

/// SPS and PPS of the clip's own sequence header, and its first keyframe.
fn clip_parts() -> Result<ClipParts, String> {
    let tags = clip()?;
    let video = |seq: bool| {
        tags.iter().find(|(k, _, b)| {
            *k == MediaKind::Video && b.get(1) == Some(&u8::from(!seq)) && b.first() == Some(&0x17)
        })
    };
    let seq = video(true).ok_or("the clip has no AVC sequence header")?;
    let key = video(false).ok_or("the clip has no keyframe")?;
    // FLV AVC tag: 5 bytes, then avcC (ISO 14496-15 §5.3.3.1).
    let avcc = seq.2.get(5..).ok_or("short sequence header")?;
    let profile = avcc.get(1..4).ok_or("short avcC")?.to_vec();
    let sps_len = usize::from(u16::from_be_bytes([avcc[6], avcc[7]]));
    let sps = avcc.get(8..8 + sps_len).ok_or("short avcC SPS")?.to_vec();
    let at = 8 + sps_len;
    let pps_len = usize::from(u16::from_be_bytes([
        *avcc.get(at + 1).ok_or("short avcC")?,
        *avcc.get(at + 2).ok_or("short avcC")?,
    ]));
    let pps = avcc
        .get(at + 3..at + 3 + pps_len)
        .ok_or("short avcC PPS")?
        .to_vec();
    Ok(ClipParts {
        profile,
        sps,
        pps,
        key: key.2.clone(),
    })
}

/// An FLV AVC sequence header of about 2 MB: the real SPS and PPS first,
/// then 30 SPS of 32 KiB and 254 PPS of 4 KiB (the real ones padded with
/// non-zero bytes, so no start code appears in Annex B output).
fn big_sequence_header(profile: &[u8], sps: &[u8], pps: &[u8]) -> Bytes {
    let mut b = vec![0x17, 0, 0, 0, 0, 1];
    b.extend_from_slice(profile);
    b.push(0xff);
    b.push(0xe0 | 31);
    let padded = |nal: &[u8], len: usize| {
        let mut v = nal.to_vec();
        v.resize(len.max(nal.len()), 0xaa);
        v
    };
    for i in 0..31 {
        let nal = if i == 0 {
            sps.to_vec()
        } else {
            padded(sps, 32 * 1024)
        };
        b.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        b.extend_from_slice(&nal);
    }
    b.push(255);
    for i in 0..255 {
        let nal = if i == 0 {
            pps.to_vec()
        } else {
            padded(pps, 4 * 1024)
        };
        b.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        b.extend_from_slice(&nal);
    }
    Bytes::from(b)
}

/// What the big publisher got.
#[derive(Default, Debug)]
struct Published {
    /// Publish attempts.
    attempts: u64,
    /// Refused at `publish` (before any media).
    rejected: u64,
    /// Closed by the server after the sequence header: ms after it.
    closed_ms: Vec<u64>,
    /// Keyframes sent in all.
    keyframes: u64,
    /// Still publishing when the attack ended.
    open_at_end: bool,
}

/// How soon after its sequence header a refused publish must be closed.
const REFUSAL_WINDOW: Duration = Duration::from_secs(3);

/// Publishes `STREAM` from 127.0.0.2: the big sequence header, then
/// keyframes at 25 a second; publishes again when closed, until `stop`.
fn publish_loop(
    port: u16,
    config: &Bytes,
    key: &Bytes,
    stop: &AtomicBool,
    keyframes: &AtomicU64,
) -> Published {
    let mut p = Published::default();
    while !stop.load(Ordering::Relaxed) {
        p.attempts += 1;
        let session = attack::connect(port, Duration::from_secs(3)).and_then(|s| {
            rtmp_connect_on(s, port, STREAM, ClientMode::Publish, Duration::from_secs(5))
        });
        let (mut sock, mut session) = match session {
            Ok(x) => x,
            Err(_) => {
                p.rejected += 1;
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        let _ = sock.set_write_timeout(Some(Duration::from_secs(3)));
        let _ = sock.set_read_timeout(Some(Duration::from_millis(1)));
        let sent_at = Instant::now();
        let mut closed = session
            .send_media(MediaKind::Video, 0, config.clone())
            .map_err(|e| e.to_string())
            .and_then(|()| flush(&mut sock, &mut session))
            .is_err();
        let mut buf = vec![0u8; 16 * 1024];
        let mut ts = 0u32;
        while !closed && !stop.load(Ordering::Relaxed) {
            let tick = Instant::now();
            ts += 40;
            closed = session
                .send_media(MediaKind::Video, ts, key.clone())
                .map_err(|e| e.to_string())
                .and_then(|()| flush(&mut sock, &mut session))
                .is_err();
            if !closed {
                p.keyframes += 1;
                keyframes.fetch_add(1, Ordering::Relaxed);
            }
            match sock.read(&mut buf) {
                Ok(0) => closed = true,
                Ok(n) => {
                    closed = session
                        .handle_input(buf.get(..n).unwrap_or_default(), Instant::now())
                        .is_err();
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => closed = true,
            }
            std::thread::sleep(Duration::from_secs_f64(1.0 / FPS).saturating_sub(tick.elapsed()));
        }
        // Stopped while the server may still be reading the header of this
        // attempt: its verdict is the server's close within the refusal
        // window (3 s after the header), not the moment the attack ended.
        while !closed && sent_at.elapsed() < REFUSAL_WINDOW {
            match sock.read(&mut buf) {
                Ok(0) => closed = true,
                Ok(n) => {
                    closed = session
                        .handle_input(buf.get(..n).unwrap_or_default(), Instant::now())
                        .is_err();
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => closed = true,
            }
        }
        if closed {
            p.closed_ms.push(sent_at.elapsed().as_millis() as u64);
            std::thread::sleep(Duration::from_millis(200));
        } else {
            p.open_at_end = true;
        }
    }
    p
}

/// An RTSP player of `STREAM` from 127.0.0.1 counting the bytes of its
/// video channel until `stop`, playing again whenever refused or ended (the
/// stream may come and go with the publisher); `Err` with the last refusal
/// when it never played.
fn rtsp_bytes(port: u16, stop: &AtomicBool) -> Result<u64, String> {
    let (mut bytes, mut played, mut last) = (0, false, String::new());
    while !stop.load(Ordering::Relaxed) {
        let mut p = match RtspPlay::start(port, STREAM, false, Duration::from_secs(5)) {
            Ok(p) => p,
            Err(e) => {
                last = e;
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        played = true;
        while !stop.load(Ordering::Relaxed) {
            match p.conn.next_msg(Instant::now() + Duration::from_millis(100)) {
                Ok(Some(Msg::Frame(ch, data))) if Some(ch) == p.video_channel => {
                    bytes += data.len() as u64;
                }
                Ok(_) => {}
                Err(e) => {
                    last = format!("ended: {e}");
                    break;
                }
            }
        }
    }
    if played {
        Ok(bytes)
    } else {
        Err(last)
    }
}

/// An HLS player of `STREAM`: fetches the playlist each second and every new
/// segment once, until `stop`; segment bytes and seconds, or `Err` with the
/// last refusal when no segment came.
fn hls_bytes(port: u16, stop: &AtomicBool) -> Result<(u64, f64), String> {
    let mut seen = HashSet::new();
    let (mut bytes, mut secs, mut last) = (0u64, 0f64, String::new());
    let path = format!("/live/{STREAM}/hls.m3u8");
    while !stop.load(Ordering::Relaxed) {
        match http_get_raw(port, &path) {
            Ok((200, body)) => {
                let text = String::from_utf8_lossy(&body).to_string();
                let mut dur = 0.0;
                for line in text.lines() {
                    if let Some(d) = line.strip_prefix("#EXTINF:") {
                        dur = d
                            .split(',')
                            .next()
                            .and_then(|d| d.parse().ok())
                            .unwrap_or(0.0);
                    } else if !line.starts_with('#')
                        && !line.is_empty()
                        && seen.insert(line.to_string())
                    {
                        let seg = format!("/live/{STREAM}/{line}");
                        if let Ok((200, b)) = http_get_raw(port, &seg) {
                            bytes += b.len() as u64;
                            secs += dur;
                        }
                    }
                }
            }
            Ok((status, _)) => last = format!("playlist answered {status}"),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
    if secs > 0.0 {
        Ok((bytes, secs))
    } else {
        Err(last)
    }
}

/// Scenario 15: the big publisher from 127.0.0.2 with RTSP and HLS players
/// attached; refused, or its players' bytes per keyframe bounded by the
/// configuration cap; the probe stays fast, a new publisher and player
/// work, everything is released afterwards.
pub fn big_config(ctx: &mut Ctx) -> Result<(), String> {
    let window = Duration::from_secs(ctx.profile.pick(12, 30));
    let healthy_secs = ctx.profile.pick(3.0, 10.0);
    let ClipParts {
        profile,
        sps,
        pps,
        key,
    } = clip_parts()?;
    let config = big_sequence_header(&profile, &sps, &pps);
    let base = Base::take(ctx)?;
    let stop = Arc::new(AtomicBool::new(false));
    let keyframes = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let (rtmp, rtsp, http) = (ctx.server.rtmp, ctx.server.rtsp, ctx.server.http);
    let publisher = {
        let (stop, keyframes, config, key) =
            (stop.clone(), keyframes.clone(), config.clone(), key.clone());
        std::thread::spawn(move || publish_loop(rtmp, &config, &key, &stop, &keyframes))
    };
    // Players join once the stream is live, if it ever is.
    let live = wait_live(ctx.server, STREAM, Duration::from_secs(5)).is_ok()
        && wait_for(Duration::from_secs(3), || {
            keyframes.load(Ordering::Relaxed) > 0
        })
        .is_some();
    let players_stop = Arc::new(AtomicBool::new(false));
    let k0 = keyframes.load(Ordering::Relaxed);
    let rtsp_player = {
        let s = players_stop.clone();
        std::thread::spawn(move || rtsp_bytes(rtsp, &s))
    };
    let hls_player = {
        let s = players_stop.clone();
        std::thread::spawn(move || hls_bytes(http, &s))
    };
    let held = during(ctx, started, window, "bigcfg-healthy", healthy_secs);
    players_stop.store(true, Ordering::Relaxed);
    let k1 = keyframes.load(Ordering::Relaxed);
    let rtsp_got = rtsp_player.join().map_err(|_| "RTSP player panicked")?;
    let hls_got = hls_player.join().map_err(|_| "HLS player panicked")?;
    stop.store(true, Ordering::Relaxed);
    let published = publisher.join().map_err(|_| "publisher panicked")?;
    // An HLS feed asked for is kept 10 s after its stream ends (for players
    // fetching the ENDLIST), as in churn: 15 s to come back.
    let after = check_recovered(ctx, &base, Duration::from_secs(15));

    // Refused: every publish that got its sequence header out was closed
    // within 3 s of it, and none was still publishing at the end.
    let mut closed = published.closed_ms.clone();
    closed.sort_unstable();
    let refused = !published.open_at_end
        && closed
            .iter()
            .all(|&ms| ms <= REFUSAL_WINDOW.as_millis() as u64)
        && (published.rejected + closed.len() as u64) > 0;
    // Bounded: what a player gets per keyframe sent stays within the cap's
    // worth of parameter sets plus the frame and its packaging overhead.
    let bound = (key.len() + CONFIG_CAP) as f64 * 1.2;
    let sent = k1.saturating_sub(k0).max(1) as f64;
    let rtsp_per_key = rtsp_got.as_ref().ok().map(|b| *b as f64 / sent);
    let hls_per_key = hls_got
        .as_ref()
        .ok()
        .filter(|(_, secs)| *secs > 0.0)
        .map(|(b, secs)| *b as f64 / (secs * FPS));
    let bounded =
        rtsp_per_key.is_some_and(|b| b <= bound) && hls_per_key.is_none_or(|b| b <= bound);
    ctx.check(
        refused || bounded,
        format!(
            "a {} KiB codec configuration was neither refused (closes {closed:?} ms after it, rejected {}, still publishing {}) nor bounded: RTSP {rtsp_got:?} bytes ({rtsp_per_key:.0?} per keyframe), HLS {hls_got:?} ({hls_per_key:.0?} per keyframe), bound {bound:.0}",
            config.len() / 1024,
            published.rejected,
            published.open_at_end
        ),
    );
    let verdict = if refused {
        format!(
            "REFUSED: {} attempts, {} rejected at publish, {} closed {} ms median after the sequence header",
            published.attempts,
            published.rejected,
            closed.len(),
            median(&closed)
        )
    } else if bounded {
        "ACCEPTED, output bounded".to_string()
    } else {
        "ACCEPTED and AMPLIFIED".to_string()
    };
    let per_key = |v: Option<f64>| v.map_or("-".into(), |b| format!("{:.0} KiB", b / 1024.0));
    ctx.figure(format!(
        "{} KiB AVC sequence header from 127.0.0.2 (live: {live}), {} keyframes of {} KiB at 25/s: {verdict}; RTSP player {} ({} per keyframe), HLS player {} ({} per keyframe; bound {:.0} KiB); server peak fds {}, sessions {}; server counted refusals: {}; {}; {after}",
        config.len() / 1024,
        published.keyframes,
        key.len() / 1024,
        rtsp_got.as_ref().map_or_else(|e| format!("refused/ended: {e}"), |b| format!("{} KiB", b / 1024)),
        per_key(rtsp_per_key),
        hls_got.as_ref().map_or_else(|e| format!("refused/ended: {e}"), |(b, s)| format!("{} KiB over {s:.1} s", b / 1024)),
        per_key(hls_per_key),
        bound / 1024.0,
        held.peak_fds,
        held.peak_sessions,
        held.refusals,
        held.healthy
    ));
    Ok(())
}
