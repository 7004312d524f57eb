//! Limits before a publish or play is accepted: a peer nobody has vouched
//! for cannot make the server hold large messages (ServerConfig::pre_accept).

mod common;

use bytes::Bytes;
use common::*;
use rtmp_proto::command::{Command, Publish, PublishType};
use rtmp_proto::error::Violation;
use rtmp_proto::message::ProtocolControl;
use rtmp_proto::{ChunkDecoderConfig, Error, MediaKind, Message, ServerEvent};

const PRE: ChunkDecoderConfig = ChunkDecoderConfig::PRE_ACCEPT;

/// A bare fmt 0 chunk header on chunk stream `csid`: no payload follows.
fn full_header(csid: u8, len: u32, type_id: u8, stream_id: u32) -> Vec<u8> {
    let mut h = vec![csid & 0x3f, 0, 0, 0];
    h.extend_from_slice(&len.to_be_bytes()[1..]);
    h.push(type_id);
    h.extend_from_slice(&stream_id.to_le_bytes());
    h
}

fn too_long(r: Result<(), Error>) -> Option<(u32, u32)> {
    match r {
        Err(Error::Violation(Violation::MessageTooLong { len, max })) => Some((len, max)),
        _ => None,
    }
}

fn video(stream_id: u32, len: usize) -> Message {
    let mut payload = vec![0x17, 1, 0, 0, 0];
    payload.resize(len, 0xAB);
    Message {
        csid: 6,
        timestamp: 0,
        type_id: MediaKind::Video.type_id(),
        stream_id,
        payload: Bytes::from(payload),
    }
}

fn publish() -> Command {
    Command::Publish(Publish {
        transaction_id: 5.0,
        stream_name: "cam".into(),
        publish_type: PublishType::Live,
    })
}

#[test]
fn a_16_mib_message_header_before_connect_is_refused_at_once() {
    let mut raw = Raw::new(Policy::AcceptAll);
    // 12 header bytes announcing 16 MiB - 1: refused before any payload.
    let r = raw
        .server
        .handle_input(&full_header(3, 0xFF_FFFF, 20, 0), raw.now);
    assert_eq!(too_long(r), Some((0xFF_FFFF, PRE.max_message_len)));
    assert!(raw.server.is_closed());
}

#[test]
fn connect_alone_does_not_lift_the_limits_but_an_accepted_publish_does() {
    let mut raw = Raw::new(Policy::AcceptAll);
    raw.connect_and_create();
    let big = PRE.max_message_len + 1;
    // Connected, stream created, nothing accepted yet: still limited.
    let mut probe = Raw::new(Policy::AcceptAll);
    probe.connect_and_create();
    let r = probe
        .server
        .handle_input(&full_header(6, big, 9, 1), probe.now);
    assert_eq!(too_long(r), Some((big, PRE.max_message_len)));

    // After the publish is accepted, a 1 MiB keyframe is fine.
    raw.send(1, &publish()).unwrap();
    raw.take_events();
    raw.send_msg(&video(1, 1 << 20)).unwrap();
    let media = raw
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, ServerEvent::Media { payload, .. } if payload.len() == 1 << 20))
        .count();
    assert_eq!(media, 1);
}

#[test]
fn partial_messages_before_accept_are_capped_in_total() {
    let mut raw = Raw::new(Policy::AcceptAll);
    // A large chunk size is harmless: buffering is bounded by the limits.
    let size = 60_000;
    raw.send_msg(&ProtocolControl::SetChunkSize(size).to_message())
        .unwrap();
    let payload = vec![0u8; size as usize];
    let mut result = Ok(());
    let mut sent = 0usize;
    for csid in 4..8u8 {
        let mut chunk = full_header(csid, PRE.max_message_len, 9, 0);
        chunk.extend_from_slice(&payload);
        result = raw.server.handle_input(&chunk, raw.now);
        if result.is_err() {
            break;
        }
        sent += payload.len();
    }
    assert!(sent <= PRE.max_buffered_bytes, "{sent}");
    assert_eq!(
        result,
        Err(Error::Violation(Violation::TooMuchBuffered {
            max: PRE.max_buffered_bytes
        }))
    );
}

#[test]
fn few_chunk_streams_before_accept() {
    let mut raw = Raw::new(Policy::AcceptAll);
    let mut result = Ok(());
    for csid in 3..3 + PRE.max_chunk_streams as u8 + 1 {
        let mut chunk = full_header(csid, 1, 9, 0);
        chunk.push(0x17);
        result = raw.server.handle_input(&chunk, raw.now);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(
        result,
        Err(Error::Violation(Violation::TooManyChunkStreams {
            max: PRE.max_chunk_streams
        }))
    );
}

#[test]
fn messages_held_back_during_a_pending_connect_are_capped() {
    let mut raw = Raw::new(Policy::Defer);
    raw.send(
        0,
        &Command::Connect(rtmp_proto::command::Connect::new("live", "rtmp://h/live")),
    )
    .unwrap();
    // Complete 60 KiB messages while the connect is undecided: the third
    // crosses the 128 KiB held back before any accept.
    let results: Vec<_> = (0..3).map(|_| raw.send_msg(&video(0, 60 * 1024))).collect();
    assert!(results[..2].iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        results[2],
        Err(Error::Violation(Violation::TooManyParked {
            max: PRE.max_buffered_bytes
        }))
    );
}
