//! RTSP framing and messages: arbitrary bytes, read unit by unit with `read_incoming`
//! (requests, responses, `$` interleaved frames) under the default and under tight limits,
//! never panic. Each unit uses at least one byte and no more than it was given, one byte
//! less of it is "need more" (truncation is never an error), and `parse_message` agrees
//! with `read_incoming` on messages. Sizes respect the limits: the body is exactly the
//! `Content-Length` and at most `max_body`, at most `max_headers` fields, an interleaved
//! frame is its 4-byte header plus at most 65535 bytes. Each unit, written back
//! (`Request::encode`, `Response::encode`, `encode_interleaved`), reads back as the same
//! unit in exactly the bytes written. (This round trip found that a stray CRLF before a `$`
//! frame made it read as a request head; the regression test is in rtsp-proto's framing.rs.)
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rtsp_proto::signal::{
    encode_interleaved, parse_message, read_incoming, Headers, Incoming, Limits, Message,
};

const TIGHT: Limits = Limits {
    max_line: 64,
    max_headers: 4,
    max_body: 256,
};

fuzz_target!(|data: &[u8]| {
    for limits in [Limits::default(), TIGHT] {
        let mut buf = data;
        while !buf.is_empty() {
            let read = read_incoming(buf, &limits);
            // Both readers skip empty lines first; only `read_incoming` then knows `$` frames.
            let first = buf.iter().find(|&&b| b != b'\r' && b != b'\n');
            if first != Some(&b'$') {
                let parsed = parse_message(buf, &limits).map(|o| o.map(|(m, n)| (incoming(m), n)));
                assert_eq!(parsed, read);
            }
            let Ok(Some((unit, used))) = read else {
                break;
            };
            assert!(used >= 1 && used <= buf.len());
            assert_eq!(read_incoming(&buf[..used - 1], &limits), Ok(None));
            bounded(&unit, used, &limits);
            round_trip(&unit, &limits);
            buf = &buf[used..];
        }
    }
});

fn incoming(m: Message) -> Incoming {
    match m {
        Message::Request(r) => Incoming::Request(r),
        Message::Response(r) => Incoming::Response(r),
    }
}

fn bounded(unit: &Incoming, used: usize, limits: &Limits) {
    let (headers, body) = match unit {
        Incoming::Interleaved { data, .. } => {
            assert!(data.len() <= usize::from(u16::MAX));
            // Empty lines before the frame are skipped, within the line limit.
            let blank = used - (4 + data.len());
            assert!(blank <= limits.max_line);
            return;
        }
        Incoming::Request(r) => {
            assert!(!r.uri.is_empty() && r.uri.len() <= limits.max_line);
            (&r.headers, &r.body)
        }
        Incoming::Response(r) => {
            assert!((100..=999).contains(&r.status));
            (&r.headers, &r.body)
        }
    };
    assert!(body.len() <= limits.max_body);
    let declared = headers.get("Content-Length").map_or(0, |v| {
        v.trim().parse().expect("a read Content-Length is a number")
    });
    assert_eq!(body.len(), declared);
    assert!(headers.len() <= limits.max_headers);
    // Invalid UTF-8 becomes U+FFFD (3 bytes for 1): the text is at most 3× the bytes read.
    let text: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    assert!(text <= 3 * used);
}

/// Header values are trimmed when read, but a folded value (obsolete line folding, RFC 2616
/// §2.2) is `first + " " + continuation`, each trimmed, so an empty first part or
/// continuation leaves a space at the start or end that the writer emits and a re-read
/// trims: compare values trimmed.
fn trimmed(h: &Headers) -> Headers {
    let mut out = Headers::new();
    for (n, v) in h.iter() {
        out.append(n, v.trim());
    }
    out
}

fn round_trip(unit: &Incoming, limits: &Limits) {
    let mut wire = BytesMut::new();
    let expected = match unit {
        Incoming::Request(r) => {
            r.encode(&mut wire);
            let mut r = r.clone();
            r.headers = trimmed(&r.headers);
            Incoming::Request(r)
        }
        Incoming::Response(r) => {
            r.encode(&mut wire);
            let mut r = r.clone();
            r.headers = trimmed(&r.headers);
            Incoming::Response(r)
        }
        Incoming::Interleaved { channel, data } => {
            let header = encode_interleaved(*channel, data).expect("a read frame fits");
            wire.extend_from_slice(&header);
            wire.extend_from_slice(data);
            unit.clone()
        }
    };
    // Folding joins lines, so a written line may be longer than `max_line`; the writer does
    // not apply the reader's limits. Field count and body size are unchanged.
    let relaxed = Limits {
        max_line: wire.len(),
        ..*limits
    };
    let back = read_incoming(&wire, &relaxed);
    assert_eq!(back, Ok(Some((expected, wire.len()))));
}
