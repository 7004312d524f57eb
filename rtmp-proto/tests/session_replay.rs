//! Replays real client captures (see `fixtures/README.md`) into a
//! ServerSession with an accept-all policy, and checks what the
//! application would see and what the server answered.

mod common;

use std::collections::HashMap;

use common::*;
use rtmp_proto::command::{Command, DataMessage, PublishType, ResponseKind, StatusCode};
use rtmp_proto::{MediaKind, ServerConfig, ServerEvent, ServerSession};

struct Replay {
    events: Vec<ServerEvent>,
    answers: Vec<u8>,
    session: ServerSession,
}

/// Feeds `name` in reads of `read` bytes, answering requests as they come.
fn replay(name: &str, read: usize) -> Replay {
    let mut session = ServerSession::new(ServerConfig::default(), t0());
    let mut events = Vec::new();
    let mut answers = Vec::new();
    for piece in fixture(name).chunks(read) {
        session
            .handle_input(piece, t0())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        while let Some(e) = session.poll_event() {
            apply_policy(&mut session, Policy::AcceptAll, &e);
            events.push(e);
        }
        while let Some(b) = session.poll_transmit() {
            answers.extend_from_slice(&b);
        }
    }
    Replay {
        events,
        answers,
        session,
    }
}

/// Events without the media, for sequence checks.
fn control_events(events: &[ServerEvent]) -> Vec<&ServerEvent> {
    events
        .iter()
        .filter(|e| !matches!(e, ServerEvent::Media { .. } | ServerEvent::Metadata { .. }))
        .collect()
}

/// Counts media events and checks timestamps never go back per kind.
fn check_media(events: &[ServerEvent]) -> (usize, usize) {
    let mut last: HashMap<MediaKind, u32> = HashMap::new();
    let mut media = 0;
    let mut metadata = 0;
    for e in events {
        match e {
            ServerEvent::Media {
                stream_id: 1,
                kind,
                timestamp,
                payload,
            } => {
                let prev = last.insert(*kind, *timestamp).unwrap_or(0);
                assert!(
                    *timestamp >= prev,
                    "{kind:?} went back: {prev} -> {timestamp}"
                );
                assert!(!payload.is_empty());
                media += 1;
            }
            ServerEvent::Metadata { stream_id: 1, body } => {
                assert!(matches!(
                    DataMessage::decode(body).unwrap(),
                    DataMessage::OnMetaData { .. }
                ));
                metadata += 1;
            }
            _ => {}
        }
    }
    (media, metadata)
}

fn check_publish(name: &str, stream: &str, digest: bool) -> Replay {
    let r = replay(name, 1000);
    let ctl = control_events(&r.events);
    assert_eq!(ctl[0], &ServerEvent::HandshakeDone { digest });
    assert!(
        matches!(ctl[1], ServerEvent::ConnectRequested { app, query: None, .. } if app == "live"),
        "{:?}",
        ctl[1]
    );
    assert!(
        matches!(ctl[2], ServerEvent::PublishRequested { stream_id: 1, name, query: None, kind: PublishType::Live, .. } if name == stream),
        "{:?}",
        ctl[2]
    );
    assert_eq!(
        &ctl[3..],
        [
            &ServerEvent::Unpublished { stream_id: 1 },
            &ServerEvent::Closed
        ]
    );
    let (media, metadata) = check_media(&r.events);
    assert_eq!(media, 209);
    assert!(metadata >= 1);
    assert_eq!(r.session.ignored_messages(), 0);
    r
}

#[test]
fn ffmpeg_publish() {
    let r = check_publish("ffmpeg-5.1_publish.client-to-server.bin", "cap", true);
    // Our answers, read back by a client-side decoder.
    let cmds = commands(&transcript(&r.answers, S_HANDSHAKE));
    let results: Vec<(f64, Option<f64>)> = cmds
        .iter()
        .filter_map(|(_, c)| match c {
            Command::Response(r) if r.kind == ResponseKind::Result => {
                Some((r.transaction_id, r.stream_id()))
            }
            _ => None,
        })
        .collect();
    // connect (1), releaseStream (2), FCPublish (3), createStream (4) → 1,
    // FCUnpublish (6): ffmpeg's transaction ids.
    assert_eq!(
        results,
        [
            (1.0, None),
            (2.0, None),
            (3.0, None),
            (4.0, Some(1.0)),
            (6.0, None)
        ]
    );
    let connect = cmds.iter().find_map(|(_, c)| match c {
        Command::Response(r) if r.transaction_id == 1.0 => r.status(),
        _ => None,
    });
    assert_eq!(connect.unwrap().code, StatusCode::ConnectSuccess);
    let statuses: Vec<(u32, StatusCode)> = cmds
        .into_iter()
        .filter_map(|(sid, c)| match c {
            Command::OnStatus { status, .. } => Some((sid, status.code)),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (1, StatusCode::PublishStart),
            (1, StatusCode::UnpublishSuccess)
        ]
    );
}

#[test]
fn gstreamer_publish() {
    check_publish(
        "gstreamer-1.22_rtmp2sink_publish.client-to-server.bin",
        "gstcap",
        false,
    );
}

fn check_play(name: &str, digest: bool) -> Replay {
    let r = replay(name, 1000);
    assert_eq!(r.events[0], ServerEvent::HandshakeDone { digest });
    assert!(matches!(&r.events[1], ServerEvent::ConnectRequested { app, .. } if app == "live"));
    assert!(
        matches!(&r.events[2], ServerEvent::PlayRequested { stream_id: 1, name, .. } if name == "cap2"),
        "{:?}",
        r.events[2]
    );
    assert_eq!(
        &r.events[3..],
        [
            ServerEvent::PlayStopped { stream_id: 1 },
            ServerEvent::Closed
        ]
    );
    let statuses: Vec<StatusCode> = commands(&transcript(&r.answers, S_HANDSHAKE))
        .into_iter()
        .filter_map(|(_, c)| match c {
            Command::OnStatus { status, .. } => Some(status.code),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, [StatusCode::PlayStart]);
    r
}

#[test]
fn ffmpeg_play() {
    let r = check_play("ffmpeg-5.1_play.client-to-server.bin", true);
    // ffmpeg asks getStreamLength with a transaction id: it gets a `_result`.
    assert!(matches!(
        &r.events[2],
        ServerEvent::PlayRequested { start, .. } if *start == -2000.0
    ));
}

#[test]
fn librtmp_play() {
    let r = check_play("librtmp-2.4_rtmpdump_play.client-to-server.bin", false);
    // FCSubscribe gets no `_error` (librtmp would log it as an error).
    let errors = commands(&transcript(&r.answers, S_HANDSHAKE))
        .into_iter()
        .filter(|(_, c)| c.name() == "_error")
        .count();
    assert_eq!(errors, 0);
}

#[test]
fn read_sizes_do_not_change_the_events() {
    for name in [
        "ffmpeg-5.1_publish.client-to-server.bin",
        "gstreamer-1.22_rtmp2sink_publish.client-to-server.bin",
        "ffmpeg-5.1_play.client-to-server.bin",
        "librtmp-2.4_rtmpdump_play.client-to-server.bin",
    ] {
        let whole = replay(name, usize::MAX);
        for read in [1, 7, 4096] {
            let r = replay(name, read);
            assert_eq!(r.events, whole.events, "{name} in reads of {read}");
            assert_eq!(r.answers.len(), whole.answers.len(), "{name}");
        }
    }
}
