//! Request bodies: each builder returns the gateway path to POST to and the
//! JSON body. Keys and values are base64, int64s decimal strings, as the
//! gateway's protobuf-JSON mapping wants.

use serde_json::{json, Value};

use crate::int::b64;
use crate::MAX_KVS;

/// A request: the path to POST and its JSON body.
pub type Request = (&'static str, Vec<u8>);

fn body(value: Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// `/v3/lease/grant`: a lease of `ttl_secs` seconds.
pub fn grant(ttl_secs: i64) -> Request {
    (
        "/v3/lease/grant",
        body(json!({ "TTL": ttl_secs.to_string() })),
    )
}

/// `/v3/lease/keepalive`: one refresh of lease `id`.
pub fn keep_alive(id: i64) -> Request {
    ("/v3/lease/keepalive", body(json!({ "ID": id.to_string() })))
}

/// `/v3/lease/revoke`: revokes lease `id` (its keys are deleted).
pub fn revoke(id: i64) -> Request {
    ("/v3/lease/revoke", body(json!({ "ID": id.to_string() })))
}

/// `/v3/kv/range` of the single key `key`.
pub fn range(key: &[u8]) -> Request {
    ("/v3/kv/range", body(json!({ "key": b64(key) })))
}

/// `/v3/kv/range` of every key starting with `prefix`, at most
/// [`MAX_KVS`] of them (the answer says `more` when there were more).
pub fn range_prefix(prefix: &[u8]) -> Request {
    (
        "/v3/kv/range",
        body(json!({
            "key": b64(prefix),
            "range_end": b64(&prefix_end(prefix)),
            "limit": MAX_KVS.to_string(),
        })),
    )
}

/// `/v3/kv/put` of `key` = `value`, attached to `lease` (0: none).
pub fn put(key: &[u8], value: &[u8], lease: i64) -> Request {
    ("/v3/kv/put", body(put_op(key, value, lease)))
}

/// `/v3/kv/compaction` up to `revision` (physical: waits until done).
pub fn compact(revision: i64) -> Request {
    (
        "/v3/kv/compaction",
        body(json!({ "revision": revision.to_string(), "physical": true })),
    )
}

fn put_op(key: &[u8], value: &[u8], lease: i64) -> Value {
    let mut op = json!({ "key": b64(key), "value": b64(value) });
    if lease != 0 {
        op["lease"] = Value::String(lease.to_string());
    }
    op
}

/// A txn comparing `target` (`"CREATE"`, `"MOD"`) of `key` to `revision`
/// (`field` is the comparison's value field), running `success` when it
/// holds and `failure` otherwise.
fn txn(
    key: &[u8],
    target: &str,
    field: &str,
    revision: i64,
    success: Value,
    failure: Value,
) -> Request {
    let mut compare = json!({ "key": b64(key), "target": target, "result": "EQUAL" });
    compare[field] = Value::String(revision.to_string());
    (
        "/v3/kv/txn",
        body(json!({ "compare": [compare], "success": success, "failure": failure })),
    )
}

/// Create-if-absent: if `key` does not exist (create_revision == 0), put
/// `value` on `lease`; otherwise read the key (its holder). Read the answer
/// with [`crate::Txn::into_created`].
pub fn create(key: &[u8], value: &[u8], lease: i64) -> Request {
    txn(
        key,
        "CREATE",
        "create_revision",
        0,
        json!([{ "request_put": put_op(key, value, lease) }]),
        json!([{ "request_range": { "key": b64(key) } }]),
    )
}

/// Deletes `key` only if its create_revision is `create_revision` (the
/// epoch of a create-if-absent): the answer's `succeeded` says whether.
pub fn delete_if(key: &[u8], create_revision: i64) -> Request {
    txn(
        key,
        "CREATE",
        "create_revision",
        create_revision,
        json!([{ "request_delete_range": { "key": b64(key) } }]),
        json!([]),
    )
}

/// Deletes `key` only if its mod_revision is `mod_revision`.
pub fn delete_if_mod(key: &[u8], mod_revision: i64) -> Request {
    txn(
        key,
        "MOD",
        "mod_revision",
        mod_revision,
        json!([{ "request_delete_range": { "key": b64(key) } }]),
        json!([]),
    )
}

/// `/v3/watch` of every key under `prefix`, from `start_revision` (events
/// with mod_revision ≥ it; 0: from now), without previous values, and with
/// etcd's periodic progress notifications (empty event batches that tell a
/// quiet watch from a dead one).
pub fn watch(prefix: &[u8], start_revision: i64) -> Request {
    (
        "/v3/watch",
        body(json!({ "create_request": {
            "key": b64(prefix),
            "range_end": b64(&prefix_end(prefix)),
            "start_revision": start_revision.to_string(),
            "progress_notify": true,
            "prev_kv": false,
        }})),
    )
}

/// The range end covering every key that starts with `prefix`: the prefix
/// with its last byte below 0xff incremented (and what follows dropped);
/// `[0]` (every key) when there is no such byte.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}
