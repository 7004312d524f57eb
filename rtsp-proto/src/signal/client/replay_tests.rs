//! Replays of recorded sessions (`../testdata/README.md`): the server's half of real
//! ffmpeg and GStreamer sessions against ZLMediaKit is fed to a [`ClientSession`], whose
//! requests must match the recorded client's in method, order and track URL; and
//! arbitrary server bytes never panic the client.

use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::signal::framing::{read_incoming, Incoming};

const FFMPEG_PLAY_S: &[u8] =
    include_bytes!("../testdata/ffmpeg-5.1_rtsp_play_tcp.server-to-client.bin");
const FFMPEG_PLAY_C: &[u8] =
    include_bytes!("../testdata/ffmpeg-5.1_rtsp_play_tcp.client-to-server.bin");
const FFMPEG_RECORD_S: &[u8] =
    include_bytes!("../testdata/ffmpeg-5.1_rtsp_record_tcp.server-to-client.bin");
const FFMPEG_RECORD_C: &[u8] =
    include_bytes!("../testdata/ffmpeg-5.1_rtsp_record_tcp.client-to-server.bin");
const GST_PLAY_S: &[u8] =
    include_bytes!("../testdata/gstreamer-1.22_rtspsrc_play_tcp.server-to-client.bin");
const GST_PLAY_C: &[u8] =
    include_bytes!("../testdata/gstreamer-1.22_rtspsrc_play_tcp.client-to-server.bin");

/// The units of a capture with their bytes.
fn units(mut raw: &[u8]) -> Vec<(Incoming, &[u8])> {
    let mut out = Vec::new();
    while let Some((u, n)) = read_incoming(raw, &Limits::default()).unwrap() {
        out.push((u, &raw[..n]));
        raw = &raw[n..];
    }
    assert!(raw.is_empty());
    out
}

fn requests(raw: &[u8]) -> Vec<Request> {
    units(raw)
        .into_iter()
        .filter_map(|(u, _)| match u {
            Incoming::Request(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// Feeds the server's units in order; when the server answers a CSeq the client has not
/// sent (the recorded client's TEARDOWN or PAUSE), the client closes first. Returns the
/// client's requests and events.
fn replay(mut c: ClientSession, server: &[u8], t0: Instant) -> (Vec<Request>, Vec<ClientEvent>) {
    let mut sent: Vec<Request> = Vec::new();
    let mut events = Vec::new();
    drain(&mut c, &mut sent, &mut events);
    for (i, (unit, bytes)) in units(server).into_iter().enumerate() {
        let now = t0 + Duration::from_millis(i as u64);
        if let Incoming::Response(r) = &unit {
            if r.headers.cseq() > sent.last().and_then(|q| q.headers.cseq()) {
                c.close(now);
                drain(&mut c, &mut sent, &mut events);
            }
        }
        if c.state() == ClientState::Closed {
            break;
        }
        // Alternate the copying and the zero-copy input paths.
        if i % 2 == 0 {
            c.handle_input(bytes, now).unwrap();
        } else {
            c.handle_input_bytes(Bytes::copy_from_slice(bytes), now)
                .unwrap();
        }
        drain(&mut c, &mut sent, &mut events);
        if c.state() == ClientState::Recording {
            assert!(c.send_interleaved(0, Bytes::from_static(b"\x80\x60rtp")));
            while c.poll_transmit().is_some() {}
        }
    }
    (sent, events)
}

fn drain(c: &mut ClientSession, sent: &mut Vec<Request>, events: &mut Vec<ClientEvent>) {
    let mut out = Vec::new();
    while let Some(b) = c.poll_transmit() {
        out.extend_from_slice(&b);
    }
    sent.extend(requests(&out));
    while let Some(e) = c.poll_event() {
        events.push(e);
    }
}

fn methods(rs: &[Request]) -> Vec<&str> {
    rs.iter().map(|r| r.method.as_str()).collect()
}

fn setups(rs: &[Request]) -> Vec<(String, Option<(u8, u8)>)> {
    rs.iter()
        .filter(|r| r.method == Method::Setup)
        .map(|r| {
            let t = Transport::parse(r.headers.get("Transport").unwrap()).unwrap();
            (r.uri.clone(), t.interleaved)
        })
        .collect()
}

fn check_play(server: &[u8], client: &[u8]) {
    let original = requests(client);
    let url = original
        .iter()
        .find(|r| r.method == Method::Describe)
        .unwrap()
        .uri
        .clone();
    let t0 = Instant::now();
    let c = ClientSession::new(ClientConfig::play(url), t0).unwrap();
    let (sent, events) = replay(c, server, t0);
    let expected: Vec<&str> = methods(&original)
        .into_iter()
        .filter(|m| *m != "PAUSE")
        .collect();
    assert_eq!(methods(&sent), expected);
    assert_eq!(setups(&sent), setups(&original));
    let Some(ClientEvent::Playing {
        rtp_info: Some(info),
    }) = events
        .iter()
        .find(|e| matches!(e, ClientEvent::Playing { .. }))
    else {
        panic!("{events:?}")
    };
    assert_eq!(info.0.len(), 2);
    let media = events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Interleaved { .. }))
        .count();
    assert!(media > 50, "{media}");
    assert_eq!(events.last(), Some(&ClientEvent::Closed));
    // The Session id of the DESCRIBE answer is carried from the first SETUP on.
    let id = sent[2].headers.session_id().unwrap();
    assert_eq!(Some(id), original[2].headers.session_id());
}

#[test]
fn ffmpeg_play_server_replay() {
    check_play(FFMPEG_PLAY_S, FFMPEG_PLAY_C);
}

#[test]
fn gstreamer_play_server_replay() {
    check_play(GST_PLAY_S, GST_PLAY_C);
}

#[test]
fn ffmpeg_record_server_replay() {
    let original = requests(FFMPEG_RECORD_C);
    let announce = original
        .iter()
        .find(|r| r.method == Method::Announce)
        .unwrap();
    let sdp = Sdp::parse(&announce.body).unwrap();
    let t0 = Instant::now();
    let c = ClientSession::new(ClientConfig::record(announce.uri.clone(), sdp), t0).unwrap();
    let (sent, events) = replay(c, FFMPEG_RECORD_S, t0);
    assert_eq!(methods(&sent), methods(&original));
    assert_eq!(setups(&sent), setups(&original));
    assert!(events.contains(&ClientEvent::Recording));
    assert_eq!(events.last(), Some(&ClientEvent::Closed));
}

/// A client that has sent its OPTIONS and reads `data` in the given pieces.
fn feed_arbitrary(prefix: &[u8], data: &[u8], cuts: &[usize], zero_copy: bool) {
    let t0 = Instant::now();
    let mut c = ClientSession::new(ClientConfig::play("rtsp://h/live/cam"), t0).unwrap();
    let mut stream = prefix.to_vec();
    stream.extend_from_slice(data);
    let mut prev = 0;
    for (i, &cut) in cuts.iter().chain([&stream.len()]).enumerate() {
        let cut = cut.clamp(prev, stream.len());
        let now = t0 + Duration::from_millis(300 * i as u64);
        let piece = &stream[prev..cut];
        prev = cut;
        let r = if zero_copy {
            c.handle_input_bytes(Bytes::copy_from_slice(piece), now)
        } else {
            c.handle_input(piece, now)
        };
        while c.poll_event().is_some() {}
        while c.poll_transmit().is_some() {}
        assert_eq!(c.poll_timeout().is_some(), c.state() != ClientState::Closed);
        if let Some(at) = c.poll_timeout() {
            assert!(at > now);
        }
        if r.is_err() {
            assert_eq!(c.state(), ClientState::Closed);
            return;
        }
        assert!(c.inbuf.len() < 300_000);
    }
}

/// The answers of the ffmpeg capture, without media: a prefix that leads the client to
/// PLAY, so arbitrary bytes after it hit every state.
fn answers(upto: usize) -> Vec<u8> {
    units(FFMPEG_PLAY_S)
        .into_iter()
        .filter(|(u, _)| matches!(u, Incoming::Response(_)))
        .take(upto)
        .flat_map(|(_, b)| b.to_vec())
        .collect()
}

proptest! {
    #[test]
    fn arbitrary_server_bytes_never_panic(
        upto in 0usize..6,
        data in prop::collection::vec(any::<u8>(), 0..2000),
        cuts in prop::collection::vec(0usize..3000, 0..8),
        zero_copy in any::<bool>(),
    ) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        feed_arbitrary(&answers(upto), &data, &cuts, zero_copy);
    }

    #[test]
    fn responses_with_mangled_bytes_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cuts in prop::collection::vec(0usize..3000, 0..8),
    ) {
        let mut stream = answers(5);
        for (at, b) in flips {
            let i = at.index(stream.len());
            stream[i] = b;
        }
        let mut cuts = cuts;
        cuts.sort_unstable();
        feed_arbitrary(&[], &stream, &cuts, true);
    }
}
