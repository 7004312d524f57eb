//! Answers captured from etcd 3.4.23's gateway, and hand-made edge cases.

use proptest::prelude::*;
use serde_json::Value;

use crate::request;
use crate::*;

const GRANT: &[u8] = br#"{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"1","raft_term":"2"},"ID":"4111120480265894405","TTL":"5"}"#;
const KEEPALIVE_GONE: &[u8] = br#"{"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"1","raft_term":"2"},"ID":"123"}}"#;
const LEASE_NOT_FOUND: &[u8] = br#"{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}"#;
const RANGE: &[u8] = br#"{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"2","raft_term":"2"},"kvs":[{"key":"L2EveA==","create_revision":"2","mod_revision":"2","version":"1","value":"aGk="}],"count":"1"}"#;
const TXN_HELD: &[u8] = br#"{"header":{"cluster_id":"1","member_id":"2","revision":"2","raft_term":"2"},"responses":[{"response_range":{"header":{"revision":"2"},"kvs":[{"key":"L2EveA==","create_revision":"2","mod_revision":"2","version":"1","value":"aGk=","lease":"99"}],"count":"1"}}]}"#;
const COMPACTED: &[u8] = br#"{"error":"etcdserver: mvcc: required revision has been compacted","message":"etcdserver: mvcc: required revision has been compacted","code":11}"#;

/// A watch stream as etcd sends it: created, a put, a delete, a progress
/// notification, a compaction cancel.
const STREAM: &[u8] = b"{\"result\":{\"header\":{\"cluster_id\":\"1\",\"member_id\":\"2\",\"revision\":\"2\",\"raft_term\":\"2\"},\"created\":true}}\n\
{\"result\":{\"header\":{\"revision\":\"3\"},\"events\":[{\"kv\":{\"key\":\"L2EveA==\",\"create_revision\":\"3\",\"mod_revision\":\"3\",\"version\":\"1\",\"value\":\"aGk=\",\"lease\":\"7\"}}]}}\n\
{\"result\":{\"header\":{\"revision\":\"4\"},\"events\":[{\"type\":\"DELETE\",\"kv\":{\"key\":\"L2EveA==\",\"mod_revision\":\"4\"}}]}}\n\
{\"result\":{\"header\":{\"revision\":\"9\"}}}\n\
{\"result\":{\"header\":{\"raft_term\":\"2\"},\"canceled\":true,\"compact_revision\":\"2\"}}\n";

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

fn decode_all(chunks: &[&[u8]]) -> Result<Vec<WatchMessage>, Error> {
    let mut d = WatchDecoder::new();
    let mut out = Vec::new();
    for c in chunks {
        d.feed(c, &mut out)?;
    }
    Ok(out)
}

#[test]
fn grant_keepalive_and_lease_errors() {
    let g = Grant::parse(GRANT).unwrap();
    assert_eq!((g.id, g.ttl), (4111120480265894405, 5));
    let k = KeepAlive::parse(KEEPALIVE_GONE).unwrap();
    assert_eq!(k, KeepAlive { id: 123, ttl: 0 });
    assert!(k.is_gone());
    let alive = KeepAlive::parse(b"{\"result\":{\"ID\":\"5\",\"TTL\":\"4\"}}\n").unwrap();
    assert!(!alive.is_gone());
    assert_eq!(alive.ttl, 4);
    let err = parse_header(LEASE_NOT_FOUND).unwrap_err();
    assert_eq!(err.server_kind(), Some(ServerErrorKind::LeaseNotFound));
    let Error::Server(e) = err else { panic!() };
    assert_eq!(e.code, 5);
    assert!(e.message.contains("lease not found"));
    assert!(
        Grant::parse(br#"{"header":{}}"#).is_err(),
        "a grant without id"
    );
}

#[test]
fn ints_as_strings_numbers_or_absent() {
    let h =
        parse_header(br#"{"header":{"revision":12,"member_id":"18446744073709551615"}}"#).unwrap();
    assert_eq!(h.revision, 12);
    assert_eq!(h.member_id, u64::MAX);
    assert_eq!(h.raft_term, 0);
    let h = parse_header(br#"{"header":{"revision":null}}"#).unwrap();
    assert_eq!(h.revision, 0);
    for bad in [
        &br#"{"header":{"revision":"x"}}"#[..],
        br#"{"header":{"revision":"99999999999999999999"}}"#,
        br#"{"header":{"revision":"1111111111111111111111111"}}"#,
        br#"{"header":{"revision":1.5}}"#,
        br#"{"header":{"member_id":"-1"}}"#,
        b"[]",
        b"not json",
        br#"{}"#,
    ] {
        assert!(
            matches!(parse_header(bad), Err(Error::Malformed(_))),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn server_errors_are_classified() {
    let kind = |msg: &str, code: i32| {
        let body = serde_json::json!({"error": msg, "message": msg, "code": code}).to_string();
        parse_header(body.as_bytes())
            .unwrap_err()
            .server_kind()
            .unwrap()
    };
    assert_eq!(
        kind("etcdserver: too many requests", 14),
        ServerErrorKind::TooManyRequests
    );
    assert_eq!(
        kind("etcdserver: request timed out", 14),
        ServerErrorKind::Timeout
    );
    assert_eq!(kind("etcdserver: no leader", 14), ServerErrorKind::NoLeader);
    assert_eq!(kind("etcdserver: key not found", 3), ServerErrorKind::Other);
    assert!(ServerErrorKind::NoLeader.is_transient());
    assert!(!ServerErrorKind::LeaseNotFound.is_transient());
    assert_eq!(
        Range::parse(COMPACTED).unwrap_err().server_kind(),
        Some(ServerErrorKind::Compacted)
    );
    // Long messages are cut.
    let long = "é".repeat(5000);
    let body = serde_json::json!({"error": long, "message": long, "code": 2}).to_string();
    let Err(Error::Server(e)) = parse_header(body.as_bytes()) else {
        panic!()
    };
    assert!(e.message.len() <= 1024);
}

#[test]
fn range_and_txn() {
    let r = Range::parse(RANGE).unwrap();
    assert_eq!(r.header.revision, 2);
    assert!(!r.more);
    assert_eq!(r.kvs.len(), 1);
    let kv = &r.kvs[0];
    assert_eq!(kv.key_str(), Some("/a/x"));
    assert_eq!(kv.value, b"hi");
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version, kv.lease),
        (2, 2, 1, 0)
    );
    assert!(
        Range::parse(br#"{"header":{"revision":"3"},"more":true}"#)
            .unwrap()
            .more
    );
    assert!(Range::parse(br#"{"header":{"revision":"3"}}"#)
        .unwrap()
        .kvs
        .is_empty());

    let held = Txn::parse(TXN_HELD).unwrap();
    assert!(!held.succeeded);
    let Created::Held(kv) = held.into_created().unwrap() else {
        panic!()
    };
    assert_eq!((kv.lease, kv.create_revision), (99, 2));
    let won = Txn::parse(br#"{"header":{"revision":"8"},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"8"}}}]}"#).unwrap();
    assert_eq!(won.into_created().unwrap(), Created::Won { revision: 8 });
    // A failed create must name the holder.
    let odd = Txn::parse(br#"{"header":{"revision":"8"}}"#).unwrap();
    assert!(odd.into_created().is_err());
}

#[test]
fn limits_on_keys_values_and_counts() {
    let big_key =
        serde_json::json!({"kvs": [{"key": crate::int::b64(&vec![b'k'; MAX_KEY_LEN + 1])}]});
    assert!(matches!(
        Range::parse(big_key.to_string().as_bytes()),
        Err(Error::TooLarge { what: "key", .. })
    ));
    let ok_key = serde_json::json!({"kvs": [{"key": crate::int::b64(&vec![b'k'; MAX_KEY_LEN])}]});
    assert!(Range::parse(ok_key.to_string().as_bytes()).is_ok());
    let big_value = serde_json::json!({"kvs": [{"key": "YQ==", "value": crate::int::b64(&vec![0; MAX_VALUE_LEN + 1])}]});
    assert!(matches!(
        Range::parse(big_value.to_string().as_bytes()),
        Err(Error::TooLarge { what: "value", .. })
    ));
    let many: Vec<Value> = (0..=MAX_KVS)
        .map(|_| serde_json::json!({"key": "YQ=="}))
        .collect();
    let body = serde_json::json!({ "kvs": many }).to_string();
    assert!(matches!(
        Range::parse(body.as_bytes()),
        Err(Error::TooLarge { what: "kvs", .. })
    ));
    assert!(matches!(
        Range::parse(br#"{"kvs":[{"key":"!!!"}]}"#),
        Err(Error::Malformed(_))
    ));
}

#[test]
fn request_bodies() {
    let (path, body) = request::grant(5);
    assert_eq!(
        (path, json(&body)),
        ("/v3/lease/grant", serde_json::json!({"TTL": "5"}))
    );
    let (path, body) = request::keep_alive(-3);
    assert_eq!(
        (path, json(&body)),
        ("/v3/lease/keepalive", serde_json::json!({"ID": "-3"}))
    );
    assert_eq!(request::revoke(9).0, "/v3/lease/revoke");
    let (path, body) = request::range(b"/a/x");
    assert_eq!(
        (path, json(&body)),
        ("/v3/kv/range", serde_json::json!({"key": "L2EveA=="}))
    );
    let (_, body) = request::range_prefix(b"/a/");
    let v = json(&body);
    assert_eq!(v["range_end"], crate::int::b64(b"/a0"));
    assert_eq!(v["limit"], MAX_KVS.to_string());
    let (path, body) = request::put(b"k", b"v", 0);
    assert_eq!(
        (path, json(&body)),
        (
            "/v3/kv/put",
            serde_json::json!({"key": "aw==", "value": "dg=="})
        )
    );
    assert_eq!(json(&request::put(b"k", b"v", 7).1)["lease"], "7");

    let (path, body) = request::create(b"k", b"v", 7);
    assert_eq!(path, "/v3/kv/txn");
    assert_eq!(
        json(&body),
        serde_json::json!({
            "compare": [{"key": "aw==", "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
            "success": [{"request_put": {"key": "aw==", "value": "dg==", "lease": "7"}}],
            "failure": [{"request_range": {"key": "aw=="}}],
        })
    );
    let v = json(&request::delete_if(b"k", 12).1);
    assert_eq!(
        v["compare"],
        serde_json::json!([{"key": "aw==", "target": "CREATE", "result": "EQUAL", "create_revision": "12"}])
    );
    assert_eq!(
        v["success"],
        serde_json::json!([{"request_delete_range": {"key": "aw=="}}])
    );
    let v = json(&request::delete_if_mod(b"k", 13).1);
    assert_eq!(v["compare"][0]["target"], "MOD");
    assert_eq!(v["compare"][0]["mod_revision"], "13");

    let (path, body) = request::watch(b"/a/", 5);
    assert_eq!(path, "/v3/watch");
    let c = &json(&body)["create_request"];
    assert_eq!(c["key"], "L2Ev");
    assert_eq!(c["range_end"], crate::int::b64(b"/a0"));
    assert_eq!(c["start_revision"], "5");
    assert_eq!(c["progress_notify"], true);
    assert_eq!(c["prev_kv"], false);
    assert_eq!(json(&request::compact(4).1)["revision"], "4");
}

#[test]
fn prefix_ends() {
    assert_eq!(request::prefix_end(b"abc"), b"abd");
    assert_eq!(request::prefix_end(b"a\xff"), b"b");
    assert_eq!(request::prefix_end(b"\xff\xff"), b"\0");
    assert_eq!(request::prefix_end(b""), b"\0");
}

fn expected_stream() -> Vec<WatchMessage> {
    let kv = |value: &[u8], create: i64, modr: i64, version: i64, lease: i64| Kv {
        key: b"/a/x".to_vec(),
        value: value.to_vec(),
        create_revision: create,
        mod_revision: modr,
        version,
        lease,
    };
    let header = |revision| Header {
        revision,
        ..Header::default()
    };
    vec![
        WatchMessage::Created { watch_id: 0 },
        WatchMessage::Events {
            header: header(3),
            events: vec![Event {
                kind: EventKind::Put,
                kv: kv(b"hi", 3, 3, 1, 7),
            }],
        },
        WatchMessage::Events {
            header: header(4),
            events: vec![Event {
                kind: EventKind::Delete,
                kv: kv(b"", 0, 4, 0, 0),
            }],
        },
        WatchMessage::Events {
            header: header(9),
            events: vec![],
        },
        WatchMessage::Compacted {
            compact_revision: 2,
        },
    ]
}

#[test]
fn watch_stream_whole_and_byte_by_byte() {
    assert_eq!(decode_all(&[STREAM]).unwrap(), expected_stream());
    let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
    assert_eq!(decode_all(&bytes).unwrap(), expected_stream());
    let crlf = String::from_utf8_lossy(STREAM).replace('\n', "\r\n\n");
    assert_eq!(decode_all(&[crlf.as_bytes()]).unwrap(), expected_stream());
}

#[test]
fn watch_cancel_and_error_lines() {
    let canceled = br#"{"result":{"canceled":true,"cancel_reason":"permission denied"}}"#;
    assert_eq!(
        WatchMessage::parse(canceled).unwrap(),
        WatchMessage::Canceled {
            reason: "permission denied".into()
        }
    );
    let err = br#"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}"#;
    assert_eq!(
        WatchMessage::parse(err).unwrap_err().server_kind(),
        Some(ServerErrorKind::NoLeader)
    );
    assert!(WatchMessage::parse(br#"{"result":{"events":[{"type":"BOGUS","kv":{}}]}}"#).is_err());
    assert!(WatchMessage::parse(br#"{"result":{"events":[{"type":"PUT"}]}}"#).is_err());
    assert!(WatchMessage::parse(br#"{"header":{}}"#).is_err());
    // Messages before a bad line are delivered.
    let mut d = WatchDecoder::new();
    let mut out = Vec::new();
    let mut stream = STREAM[..STREAM.iter().position(|&b| b == b'\n').unwrap() + 1].to_vec();
    stream.extend_from_slice(b"garbage\n");
    assert!(d.feed(&stream, &mut out).is_err());
    assert_eq!(out, [WatchMessage::Created { watch_id: 0 }]);
}

#[test]
fn watch_line_limit_holds_across_splits() {
    let mut d = WatchDecoder::with_max_line(10);
    let mut out = Vec::new();
    d.feed(b"0123456789", &mut out).unwrap();
    assert_eq!(d.buffered(), 10);
    assert!(matches!(
        d.feed(b"a", &mut out),
        Err(Error::TooLarge {
            what: "watch line",
            ..
        })
    ));
    let mut d = WatchDecoder::with_max_line(10);
    assert!(
        d.feed(b"{\"result\":{}}\n", &mut out).is_err(),
        "a whole line too long"
    );
    let mut d = WatchDecoder::with_max_line(16);
    d.feed(b"{\"result\":{}}\n{\"resu", &mut out).unwrap();
    assert_eq!(d.buffered(), 6);
    assert!(d.feed(b"lt\":{\"x\":1}}}\n", &mut out).is_err());
}

proptest! {
    #[test]
    fn decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2048), cut in 1usize..64) {
        let mut d = WatchDecoder::with_max_line(512);
        let mut out = Vec::new();
        for chunk in data.chunks(cut) {
            if d.feed(chunk, &mut out).is_err() {
                break;
            }
            prop_assert!(d.buffered() <= 512);
        }
    }

    #[test]
    fn any_split_decodes_the_same(cuts in proptest::collection::vec(0..STREAM.len(), 0..12)) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut at = 0;
        for c in cuts {
            chunks.push(&STREAM[at..c]);
            at = c;
        }
        chunks.push(&STREAM[at..]);
        prop_assert_eq!(decode_all(&chunks).unwrap(), expected_stream());
    }

    #[test]
    fn answers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Range::parse(&data);
        let _ = Txn::parse(&data);
        let _ = Grant::parse(&data);
        let _ = KeepAlive::parse(&data);
        let _ = parse_header(&data);
        let _ = WatchMessage::parse(&data);
    }

    #[test]
    fn keys_and_values_round_trip(key in proptest::collection::vec(any::<u8>(), 1..64), value in proptest::collection::vec(any::<u8>(), 0..256), lease in any::<i64>()) {
        let put = json(&request::put(&key, &value, lease).1);
        let kv = serde_json::json!({"kvs": [put]}).to_string();
        let r = Range::parse(kv.as_bytes()).unwrap();
        prop_assert_eq!(&r.kvs[0].key, &key);
        prop_assert_eq!(&r.kvs[0].value, &value);
        prop_assert_eq!(r.kvs[0].lease, lease);
    }
}
