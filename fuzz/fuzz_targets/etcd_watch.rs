//! etcd's watch stream: decoding arbitrary bytes never panics, never holds
//! more than the line limit, and cutting the input in two gives the same
//! messages as feeding it whole (up to the first error); the unary answer
//! parsers never panic either.
#![no_main]

use etcd_json::{WatchDecoder, WatchMessage};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 4096;

fn decode(chunks: &[&[u8]]) -> (Vec<WatchMessage>, bool) {
    let mut d = WatchDecoder::with_max_line(LIMIT);
    let mut out = Vec::new();
    for c in chunks {
        if d.feed(c, &mut out).is_err() {
            return (out, true);
        }
        assert!(d.buffered() <= LIMIT);
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    let cut = data.first().map_or(0, |&b| b as usize * data.len() / 256);
    let whole = decode(&[data]);
    let split = decode(&[&data[..cut], &data[cut..]]);
    if !whole.1 && !split.1 {
        assert_eq!(whole.0, split.0);
    }
    let _ = etcd_json::Range::parse(data);
    let _ = etcd_json::Txn::parse(data);
    let _ = etcd_json::KeepAlive::parse(data);
    let _ = etcd_json::Grant::parse(data);
});
