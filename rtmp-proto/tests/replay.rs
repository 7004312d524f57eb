//! Replays real recorded sessions (see `fixtures/README.md`) through the
//! handshake and the chunk decoder.

use std::collections::HashMap;

use flv_mux::amf0::{decode_all, Amf0Value};
use rtmp_proto::command::{Command, DataMessage, PublishType, StatusCode};
use rtmp_proto::handshake::{
    ClientHandshake, HandshakeKind, HandshakeParams, HandshakeStatus, ServerHandshake,
};
use rtmp_proto::{ChunkDecoder, Message};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

const PARAMS: HandshakeParams = HandshakeParams {
    epoch: 0,
    seed: [42; 32],
};

/// Feeds `input` in 1000-byte reads through `handshake` then the decoder.
fn replay(
    input: &[u8],
    mut handshake: impl FnMut(&[u8]) -> (HandshakeStatus, bytes::Bytes),
) -> Vec<Message> {
    let mut dec = ChunkDecoder::new(Default::default());
    let mut done = false;
    let mut out = Vec::new();
    for read in input.chunks(1000) {
        if done {
            dec.push(read);
        } else {
            let (status, leftover) = handshake(read);
            if status == HandshakeStatus::Done {
                done = true;
                dec.push(&leftover);
            }
        }
        while let Some(m) = dec.poll_message().expect("decoder error") {
            out.push(m);
        }
    }
    assert!(done, "handshake never completed");
    assert_eq!(dec.pending_len(), 0, "trailing bytes left undecoded");
    out
}

fn replay_server(name: &str) -> (Option<HandshakeKind>, Vec<Message>) {
    let mut hs = ServerHandshake::new(PARAMS);
    let msgs = replay(&fixture(name), |read| {
        let status = hs.handle_input(read).expect("handshake error");
        (status, hs.take_leftover())
    });
    (hs.kind(), msgs)
}

/// Command or data message name (first AMF0 value).
fn name(m: &Message) -> Option<String> {
    if m.type_id != 20 && m.type_id != 18 {
        return None;
    }
    let values = decode_all(&m.payload).expect("AMF0 body");
    values
        .first()
        .and_then(Amf0Value::as_str)
        .map(str::to_owned)
}

fn check_media(msgs: &[Message]) -> usize {
    let mut last: HashMap<u8, u32> = HashMap::new();
    let mut count = 0;
    for m in msgs.iter().filter(|m| m.type_id == 8 || m.type_id == 9) {
        if let Some(&prev) = last.get(&m.type_id) {
            assert!(
                m.timestamp >= prev,
                "type {} went back: {prev} -> {}",
                m.type_id,
                m.timestamp
            );
        }
        last.insert(m.type_id, m.timestamp);
        assert!(!m.payload.is_empty());
        count += 1;
    }
    assert!(
        last.contains_key(&8) && last.contains_key(&9),
        "audio and video"
    );
    count
}

/// Names of the command and data messages, consecutive repeats folded.
fn names(msgs: &[Message]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in msgs.iter().filter_map(name) {
        if out.last() != Some(&n) {
            out.push(n);
        }
    }
    out
}

/// Type ids of the non-media messages, in order.
fn control_types(msgs: &[Message]) -> Vec<u8> {
    msgs.iter()
        .map(|m| m.type_id)
        .filter(|t| !matches!(t, 8 | 9 | 18 | 20))
        .collect()
}

/// Every command and data message decodes as a typed value.
fn typed(msgs: &[Message]) -> (Vec<Command>, Vec<DataMessage>) {
    let commands = msgs
        .iter()
        .filter(|m| m.type_id == 20)
        .map(|m| Command::decode_message(m).expect("command"))
        .collect();
    let data = msgs
        .iter()
        .filter(|m| m.type_id == 18)
        .map(|m| DataMessage::decode(&m.payload).expect("data message"))
        .collect();
    (commands, data)
}

/// The publisher's connect and publish, typed.
fn check_publisher_commands(msgs: &[Message], stream: &str) {
    let (commands, data) = typed(msgs);
    let Some(Command::Connect(c)) = commands.first() else {
        panic!("first command is not connect")
    };
    assert_eq!(c.app, "live");
    assert!(c
        .tc_url
        .as_deref()
        .is_some_and(|u| u.starts_with("rtmp://127.0.0.1")));
    let publish = commands.iter().find_map(|c| match c {
        Command::Publish(p) => Some(p),
        _ => None,
    });
    let publish = publish.expect("publish");
    assert_eq!(
        (publish.name(), &publish.publish_type),
        (stream, &PublishType::Live)
    );
    assert!(matches!(
        commands.last(),
        Some(Command::DeleteStream { .. })
    ));
    assert!(data
        .iter()
        .all(|d| matches!(d, DataMessage::SetDataFrame { .. })));
    let meta = data
        .first()
        .and_then(DataMessage::metadata)
        .expect("metadata");
    assert_eq!(meta.get("width").and_then(|v| v.as_f64()), Some(320.0));
}

#[test]
fn ffmpeg_publish() {
    let (kind, msgs) = replay_server("ffmpeg-5.1_publish.client-to-server.bin");
    assert!(
        matches!(kind, Some(HandshakeKind::Digest(_))),
        "ffmpeg sends a digest C1"
    );
    assert_eq!(msgs[0].type_id, 20);
    assert_eq!(
        names(&msgs),
        [
            "connect",
            "releaseStream",
            "FCPublish",
            "createStream",
            "publish",
            "@setDataFrame",
            "FCUnpublish",
            "deleteStream"
        ]
    );
    // ffmpeg sends Set Chunk Size (4096) right after connect; the decoder
    // must have honoured it to get this far.
    assert_eq!(control_types(&msgs), [1]);
    let publish = msgs.iter().find(|m| name(m).as_deref() == Some("publish"));
    assert_eq!(publish.map(|m| m.stream_id), Some(1));
    assert_eq!(check_media(&msgs), 209);
    check_publisher_commands(&msgs, "cap");
}

#[test]
fn gstreamer_publish() {
    let (kind, msgs) = replay_server("gstreamer-1.22_rtmp2sink_publish.client-to-server.bin");
    assert_eq!(kind, Some(HandshakeKind::Simple));
    assert_eq!(msgs[0].type_id, 20);
    assert_eq!(
        names(&msgs),
        [
            "connect",
            "releaseStream",
            "FCPublish",
            "createStream",
            "publish",
            "@setDataFrame",
            "FCUnpublish",
            "deleteStream"
        ]
    );
    // Window Acknowledgement Size, then Set Chunk Size after publish.
    assert_eq!(control_types(&msgs), [5, 1]);
    assert_eq!(check_media(&msgs), 209);
    check_publisher_commands(&msgs, "gstcap");
}

#[test]
fn librtmp_play() {
    let mut hs = ClientHandshake::new(PARAMS, false);
    let msgs = replay(
        &fixture("librtmp-2.4_rtmpdump_play.server-to-client.bin"),
        |read| {
            let status = hs.handle_input(read).expect("handshake error");
            (status, hs.take_leftover())
        },
    );
    assert_eq!(hs.kind(), Some(HandshakeKind::Simple));
    assert_eq!(
        names(&msgs),
        ["_result", "onStatus", "|RtmpSampleAccess", "onMetaData"]
    );
    // Window Ack Size, Set Peer Bandwidth, Set Chunk Size, then two
    // User Control messages (Stream Begin, Stream Is Recorded/EOF).
    assert_eq!(control_types(&msgs), [5, 6, 1, 4, 4]);
    assert_eq!(check_media(&msgs), 243);
    let (commands, data) = typed(&msgs);
    let Some(Command::Response(connect)) = commands.first() else {
        panic!("first command is not _result")
    };
    assert_eq!(
        connect.status().map(|s| s.code),
        Some(StatusCode::ConnectSuccess)
    );
    let Some(Command::Response(create)) = commands.get(1) else {
        panic!("second command is not _result")
    };
    assert_eq!(create.stream_id(), Some(1.0));
    let codes: Vec<_> = commands
        .iter()
        .filter_map(|c| match c {
            Command::OnStatus { status, .. } => Some(status.code.clone()),
            _ => None,
        })
        .collect();
    assert!(codes.contains(&StatusCode::PlayStart), "{codes:?}");
    assert!(matches!(
        data.first(),
        Some(DataMessage::SampleAccess { .. })
    ));
    assert!(matches!(data.get(1), Some(DataMessage::OnMetaData { .. })));
}

/// The digest constants and positions agree with real peers: nginx-rtmp's
/// S1 in the ffmpeg capture carries a valid server digest, and its S2 is
/// signed from ffmpeg's C1 digest. Our server's S2 for the same C1 verifies
/// the same way.
#[test]
fn digest_interop_with_ffmpeg_and_nginx() {
    use rtmp_proto::handshake::digest::{self, FMS_KEY, FMS_KEY_TEXT_LEN, FP_KEY, FP_KEY_TEXT_LEN};
    let packet =
        |bytes: &[u8], at: usize| -> [u8; 1536] { bytes[at..at + 1536].try_into().unwrap() };
    let c2s = fixture("ffmpeg-5.1_publish.client-to-server.bin");
    let s2c = fixture("ffmpeg-5.1_publish.server-to-client.bin");
    let c1 = packet(&c2s, 1);
    let (_, c1_digest) = digest::find(&c1, &FP_KEY[..FP_KEY_TEXT_LEN]).expect("ffmpeg C1 digest");
    let s1 = packet(&s2c, 1);
    let s2 = packet(&s2c, 1537);
    let (_, s1_digest) = digest::find(&s1, &FMS_KEY[..FMS_KEY_TEXT_LEN]).expect("nginx S1 digest");
    assert!(digest::verify_reply(&s2, &FMS_KEY, &c1_digest), "nginx S2");
    // A publishing ffmpeg does not sign C2: it echoes S1 (ffmpeg signs C2
    // only when playing). This is why the server does not require a signed C2.
    let c2 = packet(&c2s, 1537);
    assert_eq!(c2, s1);
    assert!(!digest::verify_reply(&c2, &FP_KEY, &s1_digest));

    let mut hs = ServerHandshake::new(PARAMS);
    hs.handle_input(&c2s[..1537]).unwrap();
    let ours = hs.poll_transmit().unwrap();
    let our_s1 = packet(&ours, 1);
    assert!(digest::find(&our_s1, &FMS_KEY[..FMS_KEY_TEXT_LEN]).is_some());
    assert!(digest::verify_reply(
        &packet(&ours, 1537),
        &FMS_KEY,
        &c1_digest
    ));
}

/// ffmpeg playing: its commands as a server sees them.
#[test]
fn ffmpeg_play_client_side() {
    let (kind, msgs) = replay_server("ffmpeg-5.1_play.client-to-server.bin");
    assert!(matches!(kind, Some(HandshakeKind::Digest(_))));
    let (commands, _) = typed(&msgs);
    let names: Vec<_> = commands.iter().map(Command::name).collect();
    assert_eq!(
        names,
        [
            "connect",
            "createStream",
            "getStreamLength",
            "play",
            "deleteStream"
        ]
    );
    let Some(Command::Play(play)) = commands.get(3) else {
        panic!("no play")
    };
    assert_eq!(play.name(), "cap2");
    // ffmpeg's -rtmp_live default "any" sends start -2000 (ms-scaled -2).
    assert_eq!(play.start, Some(-2000.0));
    // ffmpeg sends Set Chunk Size and Set Buffer Length (User Control).
    assert!(control_types(&msgs).contains(&4));
}

/// nginx answering ffmpeg's play, fed to our client handshake (simple mode:
/// nginx's digest S1 is then simply echoed) and decoder.
#[test]
fn ffmpeg_play_server_side() {
    let mut hs = ClientHandshake::new(PARAMS, false);
    let msgs = replay(&fixture("ffmpeg-5.1_play.server-to-client.bin"), |read| {
        let status = hs.handle_input(read).expect("handshake error");
        (status, hs.take_leftover())
    });
    assert_eq!(
        names(&msgs),
        ["_result", "onStatus", "|RtmpSampleAccess", "onMetaData"]
    );
    assert_eq!(control_types(&msgs), [5, 6, 1, 4, 4]);
    assert_eq!(check_media(&msgs), 190);
}
