//! Property tests: sessions never panic on arbitrary input, and a scripted
//! client doing arbitrary things in arbitrary order never breaks the
//! server's invariants.

mod common;

use bytes::Bytes;
use common::*;
use flv_mux::amf0::Amf0Value;
use proptest::prelude::*;
use rtmp_proto::command::{
    Command, Connect, GenericCommand, Play, Publish, PublishType, StatusCode,
};
use rtmp_proto::handshake::PACKET_SIZE;
use rtmp_proto::{
    ClientMode, ClientSession, Decision, Message, ServerConfig, ServerEvent, ServerSession,
};

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// Feeds `data` to a fresh server in two reads, draining everything.
fn feed_server(data: &[u8], split: usize) {
    let mut s = ServerSession::new(ServerConfig::default(), t0());
    let split = split.min(data.len());
    for (i, part) in [&data[..split], &data[split..]].into_iter().enumerate() {
        // Both entry points: borrowed, then owned.
        let _ = if i == 0 {
            s.handle_input(part, t0())
        } else {
            s.handle_input_bytes(Bytes::copy_from_slice(part), t0())
        };
        while let Some(e) = s.poll_event() {
            apply_policy(&mut s, Policy::AcceptAll, &e);
        }
        while s.poll_transmit().is_some() {}
    }
}

/// One step of a scripted client.
#[derive(Debug, Clone)]
enum Op {
    Connect,
    Create,
    Publish(u32),
    Play(u32),
    Delete(u32),
    Close(u32),
    FcUnpublish,
    Media(u32, u8, u32),
    Unknown(f64),
    Answer(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Connect),
        Just(Op::Create),
        (0u32..3).prop_map(Op::Publish),
        (0u32..3).prop_map(Op::Play),
        (0u32..3).prop_map(Op::Delete),
        (0u32..3).prop_map(Op::Close),
        Just(Op::FcUnpublish),
        (
            0u32..3,
            prop_oneof![Just(8u8), Just(9), Just(18), Just(22)],
            any::<u32>()
        )
            .prop_map(|(s, t, ts)| Op::Media(s, t, ts)),
        prop_oneof![Just(0.0), Just(3.0)].prop_map(Op::Unknown),
        any::<bool>().prop_map(Op::Answer),
    ]
}

fn command(op: &Op) -> Option<(u32, Command)> {
    Some(match *op {
        Op::Connect => (0, Command::Connect(Connect::new("live", "rtmp://h/live"))),
        Op::Create => (
            0,
            Command::CreateStream {
                transaction_id: 2.0,
            },
        ),
        Op::Publish(s) => (
            s,
            Command::Publish(Publish {
                transaction_id: 0.0,
                stream_name: "cam".into(),
                publish_type: PublishType::Live,
            }),
        ),
        Op::Play(s) => (s, Command::Play(Play::new("cam"))),
        Op::Delete(s) => (
            0,
            Command::DeleteStream {
                transaction_id: 0.0,
                stream_id: Some(f64::from(s)),
            },
        ),
        Op::Close(s) => (
            s,
            Command::CloseStream {
                transaction_id: 0.0,
            },
        ),
        Op::FcUnpublish => (
            0,
            Command::FcUnpublish(rtmp_proto::command::StreamName {
                transaction_id: 0.0,
                stream_name: "cam".into(),
            }),
        ),
        Op::Unknown(tid) => (
            0,
            Command::Unknown(GenericCommand {
                name: "whatever".into(),
                transaction_id: tid,
                command_object: Amf0Value::Null,
                args: vec![],
            }),
        ),
        Op::Media(..) | Op::Answer(_) => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn server_never_panics_on_arbitrary_bytes(data in bytes(4000), split in 0usize..4000) {
        feed_server(&data, split);
    }

    #[test]
    fn server_never_panics_on_arbitrary_chunks_after_a_handshake(
        data in bytes(3000),
        split in 0usize..3000,
    ) {
        // A valid simple C0/C1/C2, then garbage as chunks.
        let mut input = vec![3u8];
        input.resize(1 + 2 * PACKET_SIZE, 0);
        input.extend_from_slice(&data);
        feed_server(&input, 1 + 2 * PACKET_SIZE + split);
    }

    #[test]
    fn client_never_panics_on_arbitrary_bytes(
        data in bytes(3000),
        split in 0usize..3000,
        play in any::<bool>(),
    ) {
        let mode = if play { ClientMode::Play } else { ClientMode::Publish };
        let mut c = ClientSession::new(client_config(mode, "cam"), t0());
        // A plausible S0/S1/S2 so the garbage reaches the chunk layer.
        let mut input = vec![3u8];
        input.resize(1 + 2 * PACKET_SIZE, 0);
        input.extend_from_slice(&data);
        let split = (1 + 2 * PACKET_SIZE + split).min(input.len());
        for part in [&input[..split], &input[split..]] {
            let _ = c.handle_input(part, t0());
            while c.poll_event().is_some() {}
            while c.poll_transmit().is_some() {}
        }
        let _ = c.send_media(rtmp_proto::MediaKind::Audio, 0, Bytes::from_static(b"a"));
        c.close();
        let mut c = ClientSession::new(client_config(mode, "cam"), t0());
        let _ = c.handle_input(&data, t0());
    }

    #[test]
    fn scripted_clients_keep_the_server_consistent(ops in proptest::collection::vec(op(), 0..40)) {
        let mut raw = Raw::new(Policy::Defer);
        let mut published_on = None;
        for op in &ops {
            let r = match op {
                Op::Answer(accept) => {
                    let pending = raw.events.iter().rev().find_map(|e| match e {
                        ServerEvent::ConnectRequested { req, .. } => Some((*req, true)),
                        ServerEvent::PublishRequested { req, .. }
                        | ServerEvent::PlayRequested { req, .. } => Some((*req, false)),
                        _ => None,
                    });
                    match pending {
                        Some((req, _)) if *accept => raw.server.respond(req, Decision::Accept),
                        // Connects are only accepted here (a refused connect
                        // closes the session; session_pair covers it).
                        Some((req, false)) => raw.server.respond(
                            req,
                            Decision::reject(StatusCode::PublishBadName, "no"),
                        ),
                        _ => {}
                    }
                    raw.pump();
                    Ok(())
                }
                Op::Media(s, t, ts) => raw.send_msg(&Message {
                    csid: 6,
                    timestamp: *ts,
                    type_id: *t,
                    stream_id: *s,
                    payload: Bytes::from_static(&[0x17, 1, 0, 0, 0]),
                }),
                other => {
                    let (sid, cmd) = command(other).expect("a command op");
                    raw.send(sid, &cmd)
                }
            };
            if r.is_err() {
                prop_assert!(raw.server.is_closed());
                prop_assert!(raw.server.handle_input(&[], raw.now).is_err());
                break;
            }
            if let Some(id) = raw.server.publish_stream_id() {
                published_on = Some(id);
            }
            // Whatever happened, the server's output still decodes.
            raw.answers();
        }
        // Media events only ever on a stream that was accepted for publish.
        for e in &raw.events {
            if let ServerEvent::Media { stream_id, .. } = e {
                prop_assert_eq!(Some(*stream_id), published_on);
            }
        }
        let both = raw.server.publish_stream_id().is_some() && raw.server.play_stream_id().is_some();
        prop_assert!(!both, "publishing and playing on one connection");
    }
}
