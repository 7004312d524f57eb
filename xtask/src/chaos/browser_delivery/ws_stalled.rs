//! Scenario 28, ws-stalled-viewers: WebSocket viewers that stop reading.
//!
//! From [`ATTACKER`]: first viewers that break the protocol after the
//! upgrade (garbage with reserved bits, a reserved opcode, an unmasked
//! frame, a frame over the 64 KiB limit) on WS-FLV, WS-TS and WS-fMP4, each
//! closed with its close code (1002, 1009) and counted as `protocol-error`;
//! then more WS viewers with tiny receive buffers than
//! `server.max_sessions_per_ip` lets in, which complete the upgrade and
//! never read again. Those above the cap are answered 503 at once; the
//! others are dropped by `server.write_stall_ms` (counted `write-stall`).
//! Meanwhile an HTTP-FLV and a WS-FLV viewer from 127.0.0.1 keep the full
//! frame rate and the probe's `/healthz` stays fast; afterwards the sessions,
//! descriptors and tasks are back to the baseline.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use ws_proto::{encode_client_frame, Opcode};

use super::super::attack::{check_recovered, Base, ATTACKER};
use super::super::clients::{closed_within, Ffmpeg, Rng};
use super::super::server::WRITE_STALL_MS;
use super::super::webrtc::flv;
use super::super::{check_fps, wait_for, wait_live, Ctx};
use super::ws::WsConn;
use super::{metric_sum, quantile_ms, sessions_of, MAX_SESSIONS_PER_IP};

/// The stalled viewers' kernel receive buffer (the kernel doubles it).
const RCVBUF: usize = 4096;
/// How late after `write_stall_ms` (counted from the last upgrade) the
/// stalled viewers may still be there: the server's send buffer
/// (`server.socket_send_buffer`, 64 KiB in the suite) and the viewer's
/// window fill at the stream's rate before the stall clock starts.
const SLACK_MS: u64 = 6000;
/// A refusal over the cap must come within this.
const REFUSAL_MS: u64 = 500;
/// The three WebSocket outputs.
const SUFFIXES: &[&str] = &["live.flv", "live.ts", "live.mp4"];
/// The sessions' end reasons in `strom_sessions_closed_total`.
const CLOSED: &str = "strom_sessions_closed_total";

/// A way to break the protocol: its name, its bytes, the close code due.
type Breaker = (&'static str, fn(&mut Rng) -> Vec<u8>, u16);

const BREAKERS: &[Breaker] = &[
    ("reserved bits", reserved_bits, 1002),
    ("reserved opcode", reserved_opcode, 1002),
    ("unmasked", unmasked, 1002),
    ("oversized", oversized, 1009),
];

/// Garbage: FIN, RSV1-3 and binary, then random bytes.
fn reserved_bits(rng: &mut Rng) -> Vec<u8> {
    let mut v = vec![0xf2];
    v.extend(rng.bytes(64));
    v
}

/// A masked frame with reserved opcode 0x3.
fn reserved_opcode(rng: &mut Rng) -> Vec<u8> {
    let mut v = encode_client_frame(Opcode::Binary, true, &rng.bytes(16), [1, 2, 3, 4]);
    v[0] = 0x83;
    v
}

/// A client text frame without the mask bit.
fn unmasked(_: &mut Rng) -> Vec<u8> {
    let mut v = vec![0x81, 5];
    v.extend_from_slice(b"hello");
    v
}

/// A masked binary frame announcing 1 MiB (the limit is 64 KiB), and its start.
fn oversized(rng: &mut Rng) -> Vec<u8> {
    let mut v = vec![0x82, 0x80 | 127];
    v.extend_from_slice(&(1u64 << 20).to_be_bytes());
    v.extend_from_slice(&[9, 8, 7, 6]);
    v.extend(rng.bytes(1024));
    v
}

/// Scenario 28.
pub fn ws_stalled_viewers(ctx: &mut Ctx) -> Result<(), String> {
    let name = "wsstall";
    let (http, rtmp) = (ctx.server.http, ctx.server.rtmp);
    let (n_stalled, rounds, window) = ctx.profile.pick((40, 2, 8), (150, 10, 20));
    let _publisher = Ffmpeg::publish(rtmp, name)?;
    wait_live(ctx.server, name, Duration::from_secs(10))?;
    let healthy = [flv::start(http, name), super::ws::flv_player(http, name)];
    wait_for(Duration::from_secs(5), || {
        healthy.iter().all(|p| p.frames() > 0)
    })
    .ok_or_else(|| {
        format!(
            "healthy viewers saw no frame within 5 s: {:?}",
            healthy.iter().map(|p| p.stats()).collect::<Vec<_>>()
        )
    })?;
    let base = Base::take(ctx)?;
    let attacker = ATTACKER.to_string();
    let mut rng = Rng::new(28 ^ u64::from(std::process::id()));

    // Protocol breakers, one after another.
    let errors0 = metric_sum(ctx.server, CLOSED, "reason=\"protocol-error\"").unwrap_or(0.0);
    let mut broken = 0usize;
    let mut close_took = Vec::new();
    for _ in 0..rounds {
        for (what, bytes, code) in BREAKERS {
            for suffix in SUFFIXES {
                let path = format!("/live/{name}.{suffix}");
                let r = break_protocol(http, &path, bytes(&mut rng), *code);
                match r {
                    Ok(took) => close_took.push(took),
                    Err(e) => ctx.check(false, format!("{what} on {suffix}: {e}")),
                }
                broken += 1;
            }
        }
    }
    let errors = |ctx: &Ctx| {
        metric_sum(ctx.server, CLOSED, "reason=\"protocol-error\"").unwrap_or(0.0) - errors0
    };
    let counted = wait_for(Duration::from_secs(3), || errors(ctx) >= broken as f64);
    let counted_n = errors(ctx);
    ctx.check(
        counted.is_some() && counted_n == broken as f64,
        format!("{broken} protocol breakers, {counted_n} sessions closed as protocol-error"),
    );
    ctx.check(
        wait_for(Duration::from_secs(3), || {
            sessions_of(http, &attacker) == Some(0)
        })
        .is_some(),
        "the protocol breakers' sessions are still listed",
    );

    // Stalled viewers above the per-address cap.
    let stalls0 = metric_sum(ctx.server, CLOSED, "reason=\"write-stall\"").unwrap_or(0.0);
    let frames0: Vec<u64> = healthy.iter().map(|p| p.frames()).collect();
    let started = Instant::now();
    let mut stalled: Vec<TcpStream> = Vec::new();
    let mut refusals = Vec::new();
    let mut other = Vec::new();
    for i in 0..n_stalled {
        let path = format!("/live/{name}.{}", SUFFIXES[i % SUFFIXES.len()]);
        let t = Instant::now();
        match WsConn::open(ATTACKER, http, &path, Some(RCVBUF), Duration::from_secs(3)) {
            Ok((c, 101)) => stalled.push(c.sock),
            Ok((_, 503)) => refusals.push(t.elapsed()),
            Ok((_, s)) => other.push(format!("status {s}")),
            Err(e) => other.push(e),
        }
    }
    let upgraded = started.elapsed();
    let admitted = stalled.len();
    ctx.check(
        admitted == MAX_SESSIONS_PER_IP && refusals.len() == n_stalled - admitted,
        format!(
            "{n_stalled} stalled viewers: {admitted} upgraded, {} refused 503 (cap {MAX_SESSIONS_PER_IP}); others: {other:?}",
            refusals.len()
        ),
    );
    let refusal_max = quantile_ms(&refusals, 1.0);
    ctx.check(
        refusal_max <= REFUSAL_MS as f64,
        format!("a refusal over the cap took {refusal_max:.0} ms > {REFUSAL_MS} ms"),
    );
    // The healthy viewers over the window, while the stalled ones are dropped.
    let limit = Duration::from_millis(WRITE_STALL_MS + SLACK_MS);
    let mut dropped = None;
    let mut healthz_max = Duration::ZERO;
    let w = Instant::now();
    while w.elapsed() < Duration::from_secs(window)
        || (dropped.is_none() && w.elapsed() < limit + Duration::from_secs(5))
    {
        let t = Instant::now();
        let _ = ctx.server.get("/healthz");
        healthz_max = healthz_max.max(t.elapsed());
        if dropped.is_none() && sessions_of(http, &attacker) == Some(0) {
            dropped = Some(w.elapsed());
        }
        if w.elapsed() >= Duration::from_secs(window) && dropped.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let secs = w.elapsed().as_secs_f64();
    let rates: Vec<f64> = healthy
        .iter()
        .zip(frames0)
        .map(|(p, f)| (p.frames() - f) as f64 / secs)
        .collect();
    let min = check_fps(
        ctx,
        "HTTP-FLV and WS-FLV viewers beside stalled ones",
        &rates,
    );
    for p in &healthy {
        let s = p.stats();
        ctx.check(
            s.error.is_none() && !s.closed && s.ts_regressions == 0,
            format!("healthy viewer hurt: {s:?}"),
        );
    }
    match dropped {
        Some(d) => ctx.check(
            d <= limit,
            format!(
                "the stalled viewers lasted {} ms after the last upgrade > write_stall_ms {WRITE_STALL_MS} + {SLACK_MS}",
                d.as_millis()
            ),
        ),
        None => ctx.check(
            false,
            format!(
                "stalled viewers still listed {} s after the last upgrade: {:?}",
                w.elapsed().as_secs(),
                sessions_of(http, &attacker)
            ),
        ),
    }
    let stalls = metric_sum(ctx.server, CLOSED, "reason=\"write-stall\"").unwrap_or(0.0) - stalls0;
    let lagged = metric_sum(ctx.server, CLOSED, "reason=\"lagged\"").unwrap_or(0.0);
    ctx.check(
        stalls >= admitted as f64,
        format!(
            "{admitted} stalled viewers, {stalls} sessions closed as write-stall ({lagged} lagged)"
        ),
    );
    let mut closed = 0;
    for s in &mut stalled {
        closed += usize::from(closed_within(s, Duration::from_secs(2)));
    }
    ctx.check(
        closed == admitted,
        format!("{closed} of {admitted} stalled sockets closed by the server"),
    );
    drop(stalled);
    drop(healthy);
    let recovered = check_recovered(ctx, &base, Duration::from_secs(5));
    ctx.figure(format!(
        "{broken} protocol breakers (reserved bits/opcode, unmasked, 1 MiB frame on WS-FLV/TS/fMP4) closed 1002/1009 in p50 {:.1} ms max {:.1} ms, {counted_n} counted protocol-error",
        quantile_ms(&close_took, 0.5),
        quantile_ms(&close_took, 1.0)
    ));
    ctx.figure(format!(
        "{n_stalled} stalled WS viewers from {ATTACKER} (rcvbuf {RCVBUF}) upgraded in {} ms: {admitted} in (cap {MAX_SESSIONS_PER_IP}), {} refused 503 in max {refusal_max:.1} ms; all dropped {} ms after the last upgrade (write_stall_ms {WRITE_STALL_MS}), {stalls} write-stall",
        upgraded.as_millis(),
        refusals.len(),
        dropped.map_or("—".into(), |d| d.as_millis().to_string())
    ));
    ctx.figure(format!(
        "HTTP-FLV + WS-FLV viewers min {min:.1} fps over {secs:.1} s, /healthz max {:.1} ms",
        healthz_max.as_secs_f64() * 1000.0
    ));
    ctx.figure(recovered);
    Ok(())
}

/// One WebSocket viewer from [`ATTACKER`] that sends `bytes` after the
/// upgrade: it must get a close frame with `code` and the socket's end;
/// how long after the send.
fn break_protocol(http: u16, path: &str, bytes: Vec<u8>, code: u16) -> Result<Duration, String> {
    let (mut conn, status) = WsConn::open(ATTACKER, http, path, None, Duration::from_secs(3))?;
    if status != 101 {
        return Err(format!("upgrade answered {status}"));
    }
    let t = Instant::now();
    conn.send(&bytes)?;
    let seen = conn.until_closed(Duration::from_secs(3));
    let took = t.elapsed();
    if seen.code != Some(code) || !seen.eof {
        return Err(format!(
            "closed with {seen:?}, not close {code} and the end"
        ));
    }
    Ok(took)
}
