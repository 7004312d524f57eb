//! The fan-out path copies no media per player: a frame is encoded once per
//! stream and format into parts that share its payload, and each player adds
//! only its own small headers (HTTP chunk lines, RTP and interleave headers).
//!
//! A counting global allocator (per thread, so the harness's other threads do
//! not count) measures what fanning one 200 KB keyframe and one AAC frame out
//! to 1 and to 1,000 players allocates, over RTMP, HTTP-FLV (HTTP/1.1 and
//! 1.0) and interleaved RTSP. What each extra player allocates must stay
//! within its own headers (16 bytes a packet for RTSP) and its queue's room
//! for the frame's part handles (given back once flushed), so the
//! allocations for 1,000 players are those for one plus a few small ones
//! per player, never a copy of the frame per player.

#![allow(unsafe_code)] // the counting allocator

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use stream_core::{Codec, Frame, Track};
use strom::http_media::framing::Framing;
use strom::io::Outbox;
use strom::media::rtp_egress::{interleave, rtp_tracks, RtpSender, RtpTrack};
use strom::media::{flv_egress, to_rtmp_ms, WIRE_FLV, WIRE_RTMP, WIRE_RTP};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Stats {
    allocs: usize,
    bytes: usize,
    large: usize,
}

thread_local! {
    static STATS: Cell<Stats> = const { Cell::new(Stats { allocs: 0, bytes: 0, large: 0 }) };
}

fn note(size: usize) {
    let _ = STATS.try_with(|s| {
        let mut v = s.get();
        v.allocs += 1;
        v.bytes += size;
        if size >= 1024 {
            v.large += size;
        }
        s.set(v);
    });
}

struct Counting;

// SAFETY: forwards every call to the system allocator unchanged; the
// counting touches only a const-initialised thread-local `Cell`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn measure(f: impl FnOnce()) -> Stats {
    let before = STATS.with(Cell::get);
    f();
    let after = STATS.with(Cell::get);
    Stats {
        allocs: after.allocs - before.allocs,
        bytes: after.bytes - before.bytes,
        large: after.large - before.large,
    }
}

const KEYFRAME: usize = 200_000;

#[derive(Clone, Copy, Debug)]
enum Proto {
    Rtmp,
    Flv(Body),
    Rtsp,
}

/// HTTP-FLV's body framings (HTTP/1.1, HTTP/1.0, WebSocket).
#[derive(Clone, Copy, Debug)]
enum Body {
    Chunked,
    Bare,
    WebSocket,
}

fn framing(body: Body) -> Framing {
    match body {
        Body::Chunked => Framing::Chunked,
        Body::Bare => Framing::CloseDelimited,
        Body::WebSocket => {
            let mut up = ws_proto::UpgradeRequest::default();
            up.header("Upgrade", "websocket");
            up.header("Connection", "Upgrade");
            up.header("Sec-WebSocket-Version", "13");
            up.header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
            Framing::WebSocket(up.accept().expect("a valid handshake"))
        }
    }
}

struct Player {
    out: Outbox,
    /// HTTP-FLV's framing, chosen once per connection as the server does.
    framing: Framing,
    senders: Vec<RtpSender>,
}

struct Setup {
    tracks: Vec<Track>,
    rtp: Vec<RtpTrack>,
}

fn setup() -> Setup {
    let sps = Bytes::from_static(&[0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9]);
    let pps = Bytes::from_static(&[0x68, 0xeb, 0xe3, 0xcb]);
    let mut video = Track::new(0, Codec::H264, 1000);
    video.config =
        flv_mux::avc::AvcDecoderConfigurationRecord::from_parameter_sets(vec![sps], vec![pps])
            .and_then(|r| r.to_bytes())
            .expect("avcC");
    let mut audio = Track::new(1, Codec::Aac, 44_100);
    audio.config = Bytes::from_static(&[0x12, 0x10]);
    audio.sample_rate = Some(44_100);
    audio.channels = Some(2);
    let tracks = vec![video, audio];
    let rtp = rtp_tracks(&tracks);
    assert_eq!(rtp.len(), 2);
    Setup { tracks, rtp }
}

/// A keyframe (SPS, PPS and a large IDR slice) and an AAC frame at `at_ms`.
fn frames(at_ms: i64) -> Vec<Arc<Frame>> {
    let mut video = BytesMut::new();
    for nal in [
        &[0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9][..],
        &[0x68, 0xeb, 0xe3, 0xcb],
    ] {
        video.put_u32(nal.len() as u32);
        video.put_slice(nal);
    }
    video.put_u32(KEYFRAME as u32);
    video.put_u8(0x65);
    video.put_bytes(0x5a, KEYFRAME - 1);
    let us = at_ms * 1000;
    vec![
        Arc::new(Frame::new(0, us, us, true, video.freeze())),
        Arc::new(Frame::new(1, us, us, true, Bytes::from(vec![0x21u8; 400]))),
    ]
}

/// What every player's driver does with a frame (rtmp/play.rs,
/// http_media/flv.rs, rtsp/play.rs).
fn send(proto: Proto, s: &Setup, p: &mut Player, frame: &Frame) {
    let Some(track) = s.tracks.iter().find(|t| t.id == frame.track) else {
        return;
    };
    let ts = to_rtmp_ms(frame.dts_us);
    match proto {
        Proto::Rtmp => {
            let form = frame.wire.get_or_init(WIRE_RTMP, || {
                flv_egress::rtmp_message(track, frame, ts, 1, 4096)
            });
            p.out.push_shared(form.parts());
        }
        Proto::Flv(_) => {
            let form = frame
                .wire
                .get_or_init(WIRE_FLV, || flv_egress::frame_tag(track, frame, ts));
            p.framing.push_parts(&mut p.out, &form);
        }
        Proto::Rtsp => {
            let i = usize::from(frame.track);
            let (Some(rtp), Some(sender)) = (s.rtp.get(i), p.senders.get_mut(i)) else {
                return;
            };
            let form = frame
                .wire
                .get_or_init(WIRE_RTP, || rtp.payloads(frame, 1400));
            interleave(&mut p.out, 2 * i as u8, sender, frame.pts_us, &form);
        }
    }
}

fn drain(rt: &tokio::runtime::Runtime, players: &mut [Player]) {
    rt.block_on(async {
        for p in players.iter_mut() {
            p.out
                .flush(&mut tokio::io::sink(), Duration::from_secs(1))
                .await
                .expect("sink");
        }
    });
}

/// Allocations of fanning one keyframe and one audio frame out to `n`
/// players, after a warm-up frame (so the players' queues have their
/// steady-state capacity, as they do after the first GOP).
fn fan_out(proto: Proto, n: usize) -> (Stats, usize) {
    let s = setup();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut players: Vec<Player> = (0..n)
        .map(|k| Player {
            out: Outbox::default(),
            framing: match proto {
                Proto::Flv(body) => framing(body),
                _ => Framing::Chunked,
            },
            senders: s
                .rtp
                .iter()
                .map(|t| RtpSender::new(t, k as u64 * 7919))
                .collect(),
        })
        .collect();
    for frame in frames(0) {
        for p in players.iter_mut() {
            send(proto, &s, p, &frame);
        }
    }
    drain(&rt, &mut players);
    let live = frames(40);
    let stats = measure(|| {
        for frame in &live {
            for p in players.iter_mut() {
                send(proto, &s, p, frame);
            }
        }
    });
    let queued = players.first().map_or(0, |p| p.out.len());
    drain(&rt, &mut players);
    (stats, queued)
}

#[test]
fn fan_out_allocations_do_not_grow_with_the_player_count() {
    let payload = KEYFRAME + 4 + 6 + 4 + 4 + 4 + 400;
    for proto in [
        Proto::Rtmp,
        Proto::Flv(Body::Chunked),
        Proto::Flv(Body::Bare),
        Proto::Flv(Body::WebSocket),
        Proto::Rtsp,
    ] {
        let (one, queued) = fan_out(proto, 1);
        let (many, _) = fan_out(proto, 1000);
        // Each player queues the whole frame (plus its wire framing) ...
        assert!(queued >= payload - 16, "{proto:?}: {queued} queued");
        let per_player = (many.bytes - one.bytes) / 999;
        let per_player_allocs = (many.allocs - one.allocs) as f64 / 999.0;
        // ... yet no player copies it: each allocates only its own headers,
        // RTP and interleave headers (16 bytes a packet, ~145 packets, in one
        // reservation) for RTSP, and the room its queue needs for the frame's
        // part handles (32 bytes a part: a header and a slice per 4 KiB RTMP
        // chunk, three parts per RTP packet). The queue gives that room back
        // once flushed, so an idle player holds none of it; growing by
        // doubling allocates under four times the handles in all. HTTP-FLV's
        // chunk lines and WebSocket frame headers fit the connection's scratch buffer.
        let handles = |parts: usize| 4 * 32 * parts;
        let (bound, allocs) = match proto {
            Proto::Rtsp => {
                let packets = payload / 1000 + 8;
                (16 * packets + 512 + handles(3 * packets), 8.0)
            }
            _ => (handles(2 * (payload / 4096 + 8)), 4.0),
        };
        assert!(
            per_player <= bound && per_player * 4 < payload,
            "{proto:?}: {per_player} bytes a player (bound {bound}) for a {payload}-byte frame"
        );
        assert!(
            per_player_allocs <= allocs,
            "{proto:?}: {per_player_allocs} allocations a player"
        );
        println!(
            "{proto:?}: 1 player {one:?}; 1000 players {many:?}; per extra player \
             {per_player} B in {per_player_allocs:.2} allocations; frame {payload} B"
        );
    }
}
