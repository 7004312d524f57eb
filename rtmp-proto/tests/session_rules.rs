//! The server session's ordering rules and quirks, driven by a scripted
//! client sending hand-made messages.

mod common;

use bytes::Bytes;
use common::*;
use flv_mux::amf0::Amf0Value;
use rtmp_proto::command::{
    command_message, Command, Connect, GenericCommand, Play, Publish, PublishType, ResponseKind,
    StatusCode, StatusLevel,
};
use rtmp_proto::error::Violation;
use rtmp_proto::message::build_aggregate;
use rtmp_proto::session::server::{MAX_PARKED_MESSAGES, MAX_STREAMS};
use rtmp_proto::{Decision, Error, MediaKind, Message, ServerEvent};

fn publish(name: &str) -> Command {
    Command::Publish(Publish {
        transaction_id: 5.0,
        stream_name: name.into(),
        publish_type: PublishType::Live,
    })
}

fn media(kind: MediaKind, stream_id: u32, timestamp: u32, payload: &'static [u8]) -> Message {
    Message {
        csid: if kind == MediaKind::Audio { 4 } else { 6 },
        timestamp,
        type_id: kind.type_id(),
        stream_id,
        payload: Bytes::from_static(payload),
    }
}

fn statuses(cmds: &[(u32, Command)]) -> Vec<(u32, StatusLevel, String)> {
    cmds.iter()
        .filter_map(|(sid, c)| match c {
            Command::OnStatus { status, .. } => {
                Some((*sid, status.level.clone(), status.code.as_str().to_owned()))
            }
            _ => None,
        })
        .collect()
}

fn responses(cmds: &[(u32, Command)]) -> Vec<(ResponseKind, f64)> {
    cmds.iter()
        .filter_map(|(_, c)| match c {
            Command::Response(r) => Some((r.kind, r.transaction_id)),
            _ => None,
        })
        .collect()
}

fn is_out_of_order(r: Result<(), Error>) -> bool {
    matches!(r, Err(Error::Violation(Violation::OutOfOrder { .. })))
}

#[test]
fn commands_before_connect_are_fatal_and_stay_fatal() {
    let mut raw = Raw::new(Policy::AcceptAll);
    let create = Command::CreateStream {
        transaction_id: 2.0,
    };
    assert!(is_out_of_order(raw.send(0, &create)));
    assert!(raw.server.is_closed());
    // The error repeats; nothing more is processed.
    assert!(is_out_of_order(
        raw.server.handle_input(&[1, 2, 3], raw.now)
    ));
}

#[test]
fn second_connect_is_fatal() {
    let mut raw = Raw::new(Policy::AcceptAll);
    raw.connect_and_create();
    let c = Command::Connect(Connect::new("live", "rtmp://h/live"));
    assert!(is_out_of_order(raw.send(0, &c)));
}

#[test]
fn publish_on_a_stream_never_created_is_fatal() {
    let mut raw = Raw::new(Policy::AcceptAll);
    raw.connect_and_create();
    assert!(is_out_of_order(raw.send(7, &publish("cam"))));
}

#[test]
fn second_publish_or_play_on_a_connection_is_refused() {
    let mut raw = Raw::new(Policy::AcceptAll);
    raw.connect_and_create();
    raw.send(1, &publish("cam")).unwrap();
    raw.send(
        0,
        &Command::CreateStream {
            transaction_id: 6.0,
        },
    )
    .unwrap();
    raw.answers();
    raw.send(1, &publish("cam")).unwrap();
    raw.send(2, &Command::Play(Play::new("other"))).unwrap();
    let cmds = raw.answer_commands();
    assert_eq!(
        statuses(&cmds),
        [
            (1, StatusLevel::Error, "NetStream.Publish.BadName".into()),
            (2, StatusLevel::Error, "NetStream.Play.Failed".into()),
        ]
    );
    // Still publishing the first.
    assert_eq!(raw.server.publish_stream_id(), Some(1));
    assert!(!raw.server.is_closed());
}

#[test]
fn media_outside_an_accepted_publish_is_dropped_and_counted() {
    let mut raw = Raw::new(Policy::AcceptAll);
    raw.connect_and_create();
    raw.send_msg(&media(MediaKind::Video, 1, 0, b"early"))
        .unwrap();
    raw.send(1, &publish("cam")).unwrap();
    raw.send_msg(&media(MediaKind::Video, 1, 40, b"ok"))
        .unwrap();
    raw.send_msg(&media(MediaKind::Audio, 2, 40, b"wrong stream"))
        .unwrap();
    let media: Vec<_> = raw
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, ServerEvent::Media { .. }))
        .collect();
    assert_eq!(
        media,
        [ServerEvent::Media {
            stream_id: 1,
            kind: MediaKind::Video,
            timestamp: 40,
            payload: Bytes::from_static(b"ok")
        }]
    );
    assert_eq!(raw.server.ignored_messages(), 2);
}

#[test]
fn unknown_commands_get_error_unless_transaction_id_is_zero() {
    let mut raw = Raw::new(Policy::AcceptAll);
    raw.connect_and_create();
    raw.answers();
    let unknown = |tid| {
        Command::Unknown(GenericCommand {
            name: "setPeerInfo".into(),
            transaction_id: tid,
            command_object: Amf0Value::Null,
            args: vec![Amf0Value::string("x")],
        })
    };
    raw.send(0, &unknown(0.0)).unwrap();
    raw.send(0, &unknown(9.0)).unwrap();
    let fc_subscribe = Command::Unknown(GenericCommand {
        name: "FCSubscribe".into(),
        transaction_id: 10.0,
        command_object: Amf0Value::Null,
        args: vec![Amf0Value::string("cam")],
    });
    raw.send(0, &fc_subscribe).unwrap();
    let cmds = raw.answer_commands();
    assert_eq!(responses(&cmds), [(ResponseKind::Error, 9.0)]);
    assert!(!raw.server.is_closed());
}

#[test]
fn messages_wait_while_the_application_decides() {
    let mut raw = Raw::new(Policy::Defer);
    raw.connect_and_create(); // createStream arrives before the answer
    let ev = raw.take_events();
    let [ServerEvent::ConnectRequested { req, .. }] = ev.as_slice() else {
        panic!("{ev:?}");
    };
    assert!(raw.answers().is_empty());
    raw.server.respond(*req, Decision::Accept);
    assert_eq!(
        responses(&raw.answer_commands()),
        [(ResponseKind::Result, 1.0), (ResponseKind::Result, 2.0)]
    );
    // A client that does not wait for Publish.Start.
    raw.send(1, &publish("cam")).unwrap();
    raw.send_msg(&media(MediaKind::Video, 1, 0, b"key"))
        .unwrap();
    raw.send_msg(&media(MediaKind::Video, 1, 40, b"p")).unwrap();
    let ev = raw.take_events();
    let [ServerEvent::PublishRequested { req, .. }] = ev.as_slice() else {
        panic!("{ev:?}");
    };
    raw.server.respond(*req, Decision::Accept);
    let ts: Vec<u32> = raw
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            ServerEvent::Media { timestamp, .. } => Some(timestamp),
            _ => None,
        })
        .collect();
    assert_eq!(ts, [0, 40]);
    assert_eq!(
        statuses(&raw.answer_commands()),
        [(1, StatusLevel::Status, "NetStream.Publish.Start".into())]
    );
    // A stale id does nothing.
    raw.server.respond(*req, Decision::Accept);
    assert!(raw.answers().is_empty());
}

#[test]
fn held_back_messages_are_bounded() {
    let mut raw = Raw::new(Policy::Defer);
    raw.connect_and_create();
    let mut last = Ok(());
    for _ in 0..MAX_PARKED_MESSAGES {
        last = raw.send(
            0,
            &Command::CheckBw {
                transaction_id: 0.0,
            },
        );
        if last.is_err() {
            break;
        }
    }
    assert!(matches!(
        last,
        Err(Error::Violation(Violation::TooManyParked { .. }))
    ));
}

#[test]
fn rejected_publish_frees_the_connection_for_another() {
    let mut raw = Raw::new(Policy::Defer);
    raw.connect_and_create();
    let Some(ServerEvent::ConnectRequested { req, .. }) = raw.take_events().pop() else {
        panic!()
    };
    raw.server.respond(req, Decision::Accept);
    raw.send(1, &publish("taken")).unwrap();
    let Some(ServerEvent::PublishRequested { req, .. }) = raw.take_events().pop() else {
        panic!()
    };
    raw.server.respond(
        req,
        Decision::reject(StatusCode::PublishBadName, "Already publishing"),
    );
    raw.answers();
    raw.send(1, &publish("free")).unwrap();
    assert!(matches!(
        raw.take_events().as_slice(),
        [ServerEvent::PublishRequested { name, .. }] if name == "free"
    ));
}

#[test]
fn aggregates_become_media_events() {
    let mut raw = Raw::new(Policy::AcceptAll);
    raw.connect_and_create();
    raw.send(1, &publish("cam")).unwrap();
    raw.take_events();
    let parts = [
        media(MediaKind::Video, 1, 1000, b"v1"),
        media(MediaKind::Audio, 1, 1010, b"a1"),
        media(MediaKind::Video, 1, 1040, b"v2"),
    ];
    let mut agg = build_aggregate(7, 1, &parts).unwrap();
    agg.timestamp = 5000; // the aggregate's own timestamp re-bases the parts
    raw.send_msg(&agg).unwrap();
    let got: Vec<(MediaKind, u32, Bytes)> = raw
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            ServerEvent::Media {
                kind,
                timestamp,
                payload,
                ..
            } => Some((kind, timestamp, payload)),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        [
            (MediaKind::Video, 5000, Bytes::from_static(b"v1")),
            (MediaKind::Audio, 5010, Bytes::from_static(b"a1")),
            (MediaKind::Video, 5040, Bytes::from_static(b"v2")),
        ]
    );
}

#[test]
fn amf3_command_messages_are_understood() {
    let mut raw = Raw::new(Policy::AcceptAll);
    let mut payload = vec![0u8];
    payload.extend_from_slice(
        &Command::Connect(Connect::new("live?token=t", "rtmp://h/live")).encode(),
    );
    let mut m = command_message(3, 0, Bytes::from(payload));
    m.type_id = 17;
    raw.send_msg(&m).unwrap();
    assert!(matches!(
        raw.take_events().as_slice(),
        [ServerEvent::ConnectRequested { app, query: Some(q), .. }] if app == "live" && q == "token=t"
    ));
}

#[test]
fn query_comes_from_tc_url_when_app_has_none() {
    let mut raw = Raw::new(Policy::AcceptAll);
    let c = Command::Connect(Connect::new("live", "rtmp://h/live?key=k"));
    raw.send(0, &c).unwrap();
    assert!(matches!(
        raw.take_events().as_slice(),
        [ServerEvent::ConnectRequested { query: Some(q), .. }] if q == "key=k"
    ));
}

#[test]
fn pause_and_receive_flags_reach_the_application() {
    let mut raw = Raw::new(Policy::AcceptAll);
    raw.connect_and_create();
    raw.send(1, &Command::Play(Play::new("cam"))).unwrap();
    raw.answers();
    let pause = Command::Pause {
        transaction_id: 0.0,
        pause: true,
        milliseconds: 1200.0,
    };
    raw.send(1, &pause).unwrap();
    let ra = Command::ReceiveAudio {
        transaction_id: 0.0,
        enabled: false,
    };
    raw.send(1, &ra).unwrap();
    assert!(raw.take_events().contains(&ServerEvent::Paused {
        stream_id: 1,
        paused: true
    }));
    assert_eq!(
        statuses(&raw.answer_commands()),
        [(1, StatusLevel::Status, "NetStream.Pause.Notify".into())]
    );
    assert!(!raw.server.receives_audio());
    raw.server
        .send_media(1, MediaKind::Audio, 0, Bytes::from_static(b"a"));
    assert_eq!(raw.server.queued_bytes(), 0, "audio was turned off");
    raw.server
        .send_media(1, MediaKind::Video, 0, Bytes::from_static(b"v"));
    assert!(raw.server.queued_bytes() > 0);
}

#[test]
fn create_stream_is_bounded() {
    let mut raw = Raw::new(Policy::AcceptAll);
    raw.connect_and_create();
    for tid in 0..MAX_STREAMS {
        raw.send(
            0,
            &Command::CreateStream {
                transaction_id: 10.0 + tid as f64,
            },
        )
        .unwrap();
    }
    let r = responses(&raw.answer_commands());
    assert_eq!(r.len(), 1 + 1 + MAX_STREAMS);
    assert_eq!(
        r.iter().filter(|(k, _)| *k == ResponseKind::Error).count(),
        1
    );
}

#[test]
fn set_chunk_size_from_the_client_is_honoured() {
    let mut raw = Raw::new(Policy::AcceptAll);
    raw.connect_and_create();
    raw.send(1, &publish("cam")).unwrap();
    raw.send_msg(&rtmp_proto::message::ProtocolControl::SetChunkSize(4096).to_message())
        .unwrap();
    let big = Message {
        csid: 6,
        timestamp: 0,
        type_id: 9,
        stream_id: 1,
        payload: Bytes::from(vec![0x17; 10_000]),
    };
    raw.send_msg(&big).unwrap();
    assert!(raw
        .take_events()
        .iter()
        .any(|e| matches!(e, ServerEvent::Media { payload, .. } if payload.len() == 10_000)));
}

#[test]
fn commands_inside_aggregates_are_dropped() {
    let mut raw = Raw::new(Policy::AcceptAll);
    raw.connect_and_create();
    raw.send(1, &publish("cam")).unwrap();
    raw.take_events();
    let sneaky = command_message(3, 1, Command::Play(Play::new("x")).encode());
    let parts = [media(MediaKind::Audio, 1, 0, b"a"), sneaky];
    raw.send_msg(&build_aggregate(7, 1, &parts).unwrap())
        .unwrap();
    let ev = raw.take_events();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(matches!(ev[0], ServerEvent::Media { .. }));
    assert_eq!(raw.server.ignored_messages(), 1);
}
