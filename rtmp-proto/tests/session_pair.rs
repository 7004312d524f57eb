//! A ClientSession and a ServerSession talking over in-memory pipes, with a
//! test policy answering the server's requests.

mod common;

use bytes::Bytes;
use common::*;
use flv_mux::amf0::Amf0Value;
use rtmp_proto::command::{Command, DataMessage, PublishType, StatusCode};
use rtmp_proto::message::{ProtocolControl, UserControl};
use rtmp_proto::{
    encode_media, ClientEvent, ClientMode, Decision, MediaChannel, MediaKind, Message,
    ServerConfig, ServerEvent,
};

fn on_meta_data() -> Bytes {
    DataMessage::OnMetaData {
        metadata: Amf0Value::ecma_array([
            ("width", Amf0Value::Number(320.0)),
            ("height", Amf0Value::Number(240.0)),
        ]),
    }
    .encode()
}

/// Media of assorted sizes: below, at and above both chunk sizes, and
/// timestamps crossing the extended-timestamp threshold.
fn frames() -> Vec<(MediaKind, u32, Bytes)> {
    let mut v = Vec::new();
    let sizes = [1usize, 2, 999, 1000, 1001, 4095, 4096, 4097, 20_000];
    for (i, &len) in sizes.iter().enumerate() {
        let kind = if i % 2 == 0 {
            MediaKind::Video
        } else {
            MediaKind::Audio
        };
        let payload: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
        v.push((kind, i as u32 * 40, Bytes::from(payload)));
    }
    for (i, ts) in [0x00ff_fffe_u32, 0x00ff_ffff, 0x0100_0000, 0x0100_0028]
        .into_iter()
        .enumerate()
    {
        v.push((MediaKind::Video, ts, Bytes::from(vec![i as u8; 5000])));
    }
    v
}

fn publishing_pair(policy: Policy) -> Pair {
    let mut p = Pair::new(
        client_config(ClientMode::Publish, "cam?key=abc"),
        ServerConfig::default(),
        policy,
    );
    p.drive();
    p
}

#[test]
fn publish_reaches_the_server_with_exact_payloads() {
    let mut p = publishing_pair(Policy::AcceptAll);
    assert_eq!(
        p.take_client_events(),
        vec![ClientEvent::Connected, ClientEvent::Publishing]
    );
    let ev = p.take_server_events();
    assert_eq!(ev[0], ServerEvent::HandshakeDone { digest: true });
    assert!(matches!(
        &ev[1],
        ServerEvent::ConnectRequested { app, tc_url: Some(t), query: None, .. }
            if app == "live" && t == "rtmp://127.0.0.1/live"
    ));
    assert!(matches!(
        &ev[2],
        ServerEvent::PublishRequested { stream_id: 1, name, query: Some(q), kind: PublishType::Live, .. }
            if name == "cam" && q == "key=abc"
    ));
    assert_eq!(ev.len(), 3);

    p.client.send_metadata(on_meta_data()).unwrap();
    for (kind, ts, payload) in frames() {
        p.client.send_media(kind, ts, payload).unwrap();
    }
    p.drive();
    let mut expect = vec![ServerEvent::Metadata {
        stream_id: 1,
        body: on_meta_data(),
    }];
    expect.extend(
        frames()
            .into_iter()
            .map(|(kind, timestamp, payload)| ServerEvent::Media {
                stream_id: 1,
                kind,
                timestamp,
                payload,
            }),
    );
    assert_eq!(p.take_server_events(), expect);
    assert_eq!(p.server.publish_stream_id(), Some(1));

    p.client.close();
    p.drive();
    assert_eq!(
        p.take_server_events(),
        vec![
            ServerEvent::Unpublished { stream_id: 1 },
            ServerEvent::Closed
        ]
    );
    assert!(p.server.is_closed());
    assert!(p.client.is_closed());
    // The server's answers, as a client decoder reads them.
    let names: Vec<String> = commands(&transcript(&p.s2c, S_HANDSHAKE))
        .iter()
        .map(|(_, c)| c.name().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "_result",     // connect
            "_result",     // releaseStream
            "onFCPublish", // FCPublish
            "_result",     // FCPublish
            "_result",     // createStream
            "onStatus",    // Publish.Start
            "onStatus",    // Unpublish.Success
            "_result",     // FCUnpublish
        ]
    );
}

#[test]
fn play_receives_shared_and_session_encoded_media() {
    let mut p = Pair::new(
        client_config(ClientMode::Play, "cam"),
        ServerConfig::default(),
        Policy::AcceptAll,
    );
    p.drive();
    assert_eq!(
        p.take_client_events(),
        vec![ClientEvent::Connected, ClientEvent::Playing]
    );
    assert!(matches!(
        p.take_server_events().last(),
        Some(ServerEvent::PlayRequested { stream_id: 1, name, query: None, start, duration, reset: false, .. })
            if name == "cam" && *start == -2.0 && *duration == -1.0
    ));
    let sid = p.server.play_stream_id().unwrap();
    let size = p.server.out_chunk_size();
    assert_eq!(size, 4096);

    p.server.send_metadata(sid, on_meta_data());
    let mut expect = vec![ClientEvent::Metadata {
        body: on_meta_data(),
    }];
    for (i, (kind, ts, payload)) in frames().into_iter().enumerate() {
        if i % 2 == 0 {
            // Fan-out path: encoded once, queued unchanged.
            p.server
                .send_shared(encode_media(kind, sid, ts, &payload, size));
        } else {
            // Session path: must produce the very same bytes.
            p.drive();
            p.server.send_media(sid, kind, ts, payload.clone());
            let mut sent = Vec::new();
            while let Some(b) = p.server.poll_transmit() {
                sent.extend_from_slice(&b);
            }
            assert_eq!(sent, encode_media(kind, sid, ts, &payload, size));
            p.s2c.extend_from_slice(&sent);
            p.client.handle_input(&sent, p.now).unwrap();
        }
        expect.push(ClientEvent::Media {
            kind,
            timestamp: ts,
            payload,
        });
    }
    p.drive();
    assert_eq!(p.take_client_events(), expect);

    // The fan-out path copies nothing: the queued Bytes is the shared one.
    let shared = encode_media(MediaKind::Audio, sid, 9000, &[0xaf, 1, 2], size);
    p.server.send_shared(shared.clone());
    let queued = p.server.poll_transmit().unwrap();
    assert_eq!(queued.as_ptr(), shared.as_ptr());
    p.client.handle_input(&queued, p.now).unwrap();
    p.s2c.extend_from_slice(&queued);
    p.drive();
    p.take_client_events();

    p.server.notify_unpublished(sid);
    p.drive();
    assert_eq!(
        p.take_client_events(),
        vec![ClientEvent::UnpublishNotify, ClientEvent::StreamEof]
    );

    p.client.close();
    p.drive();
    assert_eq!(
        p.take_server_events(),
        vec![
            ServerEvent::PlayStopped { stream_id: 1 },
            ServerEvent::Closed
        ]
    );
    // What a player saw after play: Stream Begin, Play.Start, then
    // |RtmpSampleAccess on the data chunk stream.
    let msgs = transcript(&p.s2c, S_HANDSHAKE);
    let statuses: Vec<String> = commands(&msgs)
        .into_iter()
        .filter_map(|(_, c)| match c {
            Command::OnStatus { status, .. } => Some(status.code.as_str().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        ["NetStream.Play.Start", "NetStream.Play.UnpublishNotify"]
    );
    assert!(msgs.iter().any(|m| m.type_id == 18
        && m.csid == MediaChannel::Data.csid()
        && DataMessage::decode(&m.payload).unwrap()
            == DataMessage::SampleAccess {
                audio: true,
                video: true
            }));
}

#[test]
fn rejected_publish_gives_bad_name() {
    let mut p = publishing_pair(Policy::RejectPublish);
    assert_eq!(
        p.take_client_events(),
        vec![
            ClientEvent::Connected,
            ClientEvent::Rejected {
                code: "NetStream.Publish.BadName".into(),
                description: "Already publishing".into()
            }
        ]
    );
    assert!(p.client.is_closed());
    assert_eq!(p.server.publish_stream_id(), None);
    assert!(p
        .client
        .send_media(MediaKind::Audio, 0, Bytes::from_static(b"x"))
        .is_err());
}

#[test]
fn rejected_play_gives_stream_not_found() {
    let mut p = Pair::new(
        client_config(ClientMode::Play, "nope"),
        ServerConfig::default(),
        Policy::RejectPlay,
    );
    p.drive();
    assert_eq!(
        p.take_client_events(),
        vec![
            ClientEvent::Connected,
            ClientEvent::Rejected {
                code: "NetStream.Play.StreamNotFound".into(),
                description: "No such stream".into()
            }
        ]
    );
    assert_eq!(p.server.play_stream_id(), None);
}

#[test]
fn rejected_connect_closes_the_server_session() {
    let mut p = Pair::new(
        client_config(ClientMode::Play, "cam"),
        ServerConfig::default(),
        Policy::Defer,
    );
    p.drive();
    let req = p
        .take_server_events()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::ConnectRequested { req, .. } => Some(req),
            _ => None,
        })
        .unwrap();
    // The code is ignored for a connect: always Connect.Rejected.
    p.server
        .respond(req, Decision::reject(StatusCode::PublishBadName, "bad app"));
    assert!(p.server.is_closed());
    p.drive();
    assert_eq!(
        p.take_client_events(),
        vec![ClientEvent::Rejected {
            code: "NetConnection.Connect.Rejected".into(),
            description: "bad app".into()
        }]
    );
}

#[test]
fn pings_are_answered_both_ways() {
    let mut p = publishing_pair(Policy::AcceptAll);
    p.inject_to_server(&UserControl::PingRequest { timestamp: 1234 }.to_message(0));
    p.inject_to_client(&UserControl::PingRequest { timestamp: 5678 }.to_message(0));
    p.drive();
    let pong = |bytes: &[u8], hs| {
        transcript(bytes, hs)
            .iter()
            .filter(|m| m.type_id == 4)
            .filter_map(|m| match UserControl::decode(&m.payload).unwrap() {
                UserControl::PingResponse { timestamp } => Some(timestamp),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(pong(&p.s2c, S_HANDSHAKE), [1234]);
    assert_eq!(pong(&p.c2s, C_HANDSHAKE), [5678]);
}

#[test]
fn acknowledgements_follow_the_windows() {
    // The server's window (sent on accepting connect) makes the client ack.
    let config = ServerConfig {
        window_ack_size: 5000,
        ..ServerConfig::default()
    };
    let mut p = Pair::new(
        client_config(ClientMode::Play, "cam"),
        config,
        Policy::AcceptAll,
    );
    p.drive();
    // And a window from the client makes the server ack.
    p.inject_to_server(&ProtocolControl::WindowAckSize(4000).to_message());
    for i in 0..10u32 {
        p.server
            .send_media(1, MediaKind::Video, i * 40, Bytes::from(vec![0; 1500]));
        // Shared object messages (type 19), which the server ignores, to
        // make it cross its window.
        for _ in 0..10 {
            p.inject_to_server(&Message {
                csid: 10,
                timestamp: 0,
                type_id: 19,
                stream_id: 0,
                payload: Bytes::from(vec![0; 100]),
            });
        }
        p.drive();
    }
    let acks = |bytes: &[u8], hs| {
        transcript(bytes, hs)
            .iter()
            .filter_map(
                |m| match ProtocolControl::decode(m.type_id, &m.payload).unwrap() {
                    Some(ProtocolControl::Acknowledgement { sequence }) => Some(sequence),
                    _ => None,
                },
            )
            .collect::<Vec<_>>()
    };
    let from_client = acks(&p.c2s, C_HANDSHAKE);
    assert!(from_client.len() >= 2, "client acks: {from_client:?}");
    assert!(from_client.windows(2).all(|w| w[1] - w[0] >= 5000));
    assert!(u64::from(*from_client.last().unwrap()) <= p.client.bytes_received());
    let from_server = acks(&p.s2c, S_HANDSHAKE);
    assert!(!from_server.is_empty(), "server never acked");
    assert!(from_server.windows(2).all(|w| w[1] - w[0] >= 4000));
    assert_eq!(p.server.bytes_received(), p.c2s.len() as u64);
    assert_eq!(p.server.ignored_messages(), 100);
}

#[test]
fn owned_input_gives_zero_copy_media() {
    let mut p = publishing_pair(Policy::AcceptAll);
    p.take_server_events();
    p.client
        .send_media(MediaKind::Video, 40, Bytes::from(vec![0x17; 500]))
        .unwrap();
    let mut wire = Vec::new();
    while let Some(b) = p.client.poll_transmit() {
        wire.extend_from_slice(&b);
    }
    let wire = Bytes::from(wire);
    let (start, len) = (wire.as_ptr() as usize, wire.len());
    // Unique, so the session can take the buffer over.
    p.server.handle_input_bytes(wire, p.now).unwrap();
    let Some(ServerEvent::Media { payload, .. }) = p.server.poll_event() else {
        panic!("no media")
    };
    assert_eq!(payload.len(), 500);
    let at = payload.as_ptr() as usize;
    assert!(at >= start && at < start + len, "payload was copied");
}
