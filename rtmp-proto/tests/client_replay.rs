//! Replays nginx-rtmp's side of real sessions (see `fixtures/README.md`)
//! into a ClientSession: the transaction ids our client uses match those
//! of the recorded clients, so nginx's answers drive it through the whole
//! session.

mod common;

use std::collections::HashMap;

use common::*;
use rtmp_proto::command::DataMessage;
use rtmp_proto::{ClientEvent, ClientMode, ClientSession, MediaKind};

fn replay(name: &str, mode: ClientMode) -> (Vec<ClientEvent>, ClientSession) {
    let mut config = client_config(mode, "cap2");
    // nginx signed S2 with the recorded client's C1, not ours: the simple
    // handshake does not check it.
    config.digest = false;
    let mut c = ClientSession::new(config, t0());
    let mut events = Vec::new();
    for read in fixture(name).chunks(1000) {
        c.handle_input(read, t0())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        while let Some(e) = c.poll_event() {
            events.push(e);
        }
        while c.poll_transmit().is_some() {}
    }
    (events, c)
}

fn check_play(name: &str, media_count: usize) {
    let (events, c) = replay(name, ClientMode::Play);
    assert_eq!(events[..2], [ClientEvent::Connected, ClientEvent::Playing]);
    assert_eq!(c.stream_id(), Some(1));
    let mut last: HashMap<MediaKind, u32> = HashMap::new();
    let mut media = 0;
    let mut metadata = 0;
    let mut tail = Vec::new();
    for e in &events[2..] {
        match e {
            ClientEvent::Media {
                kind, timestamp, ..
            } => {
                let prev = last.insert(*kind, *timestamp).unwrap_or(0);
                assert!(*timestamp >= prev);
                media += 1;
            }
            ClientEvent::Metadata { body } => {
                assert!(matches!(
                    DataMessage::decode(body).unwrap(),
                    DataMessage::OnMetaData { .. }
                ));
                metadata += 1;
            }
            other => tail.push(other.clone()),
        }
    }
    assert_eq!(media, media_count);
    assert_eq!(metadata, 1);
    // nginx ends the recording with Stream EOF as the last message.
    assert_eq!(tail, [ClientEvent::StreamEof]);
    assert_eq!(events.last(), Some(&ClientEvent::StreamEof));
}

#[test]
fn plays_from_nginx_as_rtmpdump_did() {
    check_play("librtmp-2.4_rtmpdump_play.server-to-client.bin", 243);
}

#[test]
fn plays_from_nginx_as_ffmpeg_did() {
    check_play("ffmpeg-5.1_play.server-to-client.bin", 190);
}

#[test]
fn publishes_to_nginx_as_ffmpeg_did() {
    let (events, c) = replay(
        "ffmpeg-5.1_publish.server-to-client.bin",
        ClientMode::Publish,
    );
    assert_eq!(
        events,
        [
            ClientEvent::Connected,
            ClientEvent::Publishing,
            ClientEvent::Status {
                code: "NetStream.Unpublish.Success".into(),
                description: "Stop publishing".into()
            }
        ]
    );
    assert!(!c.is_closed());
}
