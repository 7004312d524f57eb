//! Typed answers of the unary calls, parsed from the gateway's JSON bodies.
//! Every parser first looks for an error answer ([`crate::ServerError`]);
//! fields etcd leaves out (zero, false, empty) are zero, false, empty.

use serde::Deserialize;

use crate::error::server_error;
use crate::{int, Error, MAX_KEY_LEN, MAX_KVS, MAX_VALUE_LEN};

/// The header of every answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Header {
    /// The store's revision when the request was served.
    #[serde(default, deserialize_with = "int::i64")]
    pub revision: i64,
    /// The member that answered.
    #[serde(default, deserialize_with = "int::u64")]
    pub member_id: u64,
    /// Its raft term.
    #[serde(default, deserialize_with = "int::u64")]
    pub raft_term: u64,
}

/// A key and its value, with etcd's bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kv {
    /// The key's bytes (at most [`MAX_KEY_LEN`]).
    pub key: Vec<u8>,
    /// The value's bytes (at most [`MAX_VALUE_LEN`]; empty in delete events).
    pub value: Vec<u8>,
    /// The revision that created the key (since its last deletion).
    pub create_revision: i64,
    /// The revision of its last change.
    pub mod_revision: i64,
    /// How many times it was changed since creation (1 when created).
    pub version: i64,
    /// The lease it is attached to, 0 if none.
    pub lease: i64,
}

impl Kv {
    /// The key as text, if it is UTF-8.
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }
}

/// A [`Kv`] as it is on the wire (base64 bytes, string integers).
#[derive(Deserialize)]
pub(crate) struct WireKv {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default, deserialize_with = "int::i64")]
    create_revision: i64,
    #[serde(default, deserialize_with = "int::i64")]
    mod_revision: i64,
    #[serde(default, deserialize_with = "int::i64")]
    version: i64,
    #[serde(default, deserialize_with = "int::i64")]
    lease: i64,
}

impl WireKv {
    pub(crate) fn decode(self) -> Result<Kv, Error> {
        Ok(Kv {
            key: int::bytes(&self.key, MAX_KEY_LEN, "key")?,
            value: int::bytes(&self.value, MAX_VALUE_LEN, "value")?,
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
            lease: self.lease,
        })
    }
}

/// Decodes wire kvs, at most `MAX_KVS` of them.
pub(crate) fn decode_kvs(kvs: Vec<WireKv>) -> Result<Vec<Kv>, Error> {
    if kvs.len() > MAX_KVS {
        return Err(Error::TooLarge {
            what: "kvs",
            len: kvs.len(),
            limit: MAX_KVS,
        });
    }
    kvs.into_iter().map(WireKv::decode).collect()
}

/// `/v3/lease/grant`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The new lease's id (never 0).
    pub id: i64,
    /// Its time to live, seconds, as granted.
    pub ttl: i64,
}

/// `/v3/lease/keepalive`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// The lease's id.
    pub id: i64,
    /// Its remaining time to live, seconds; 0 (or less) when the lease is
    /// gone (expired or revoked): etcd then leaves the field out.
    pub ttl: i64,
}

impl KeepAlive {
    /// Whether the lease no longer exists.
    pub fn is_gone(&self) -> bool {
        self.ttl <= 0
    }
}

/// `/v3/kv/range`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Range {
    /// The header (its revision is the store's at the read).
    pub header: Header,
    /// The keys found, in key order.
    pub kvs: Vec<Kv>,
    /// More keys matched than the request's limit: `kvs` is incomplete.
    pub more: bool,
}

/// `/v3/kv/txn`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    /// The header (after a successful write, the write's revision).
    pub header: Header,
    /// Whether the comparisons held (the success branch ran).
    pub succeeded: bool,
    /// The keys read by the range operations of the branch that ran (for
    /// [`crate::request::create`]: the current holder on failure).
    pub kvs: Vec<Kv>,
}

/// The outcome of a create-if-absent transaction ([`crate::request::create`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The key was absent and is now created; `revision` is its
    /// create_revision (the transaction's revision).
    Won {
        /// The new key's create_revision.
        revision: i64,
    },
    /// The key exists: its current holder.
    Held(Kv),
}

impl Txn {
    /// Reads the answer of a [`crate::request::create`] transaction.
    pub fn into_created(self) -> Result<Created, Error> {
        if self.succeeded {
            return Ok(Created::Won {
                revision: self.header.revision,
            });
        }
        self.kvs
            .into_iter()
            .next()
            .map(Created::Held)
            .ok_or_else(|| Error::Malformed("failed create without the holder's key".into()))
    }
}

/// Parses `body` as JSON and turns an error answer into [`Error::Server`].
fn json(body: &[u8]) -> Result<serde_json::Value, Error> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| Error::Malformed(format!("not JSON: {e}")))?;
    if !value.is_object() {
        return Err(Error::Malformed("not a JSON object".into()));
    }
    match server_error(&value) {
        Some(e) => Err(Error::Server(e)),
        None => Ok(value),
    }
}

fn typed<'a, T: Deserialize<'a>>(value: &'a serde_json::Value, what: &str) -> Result<T, Error> {
    T::deserialize(value).map_err(|e| Error::Malformed(format!("{what}: {e}")))
}

#[derive(Deserialize)]
struct HeaderOnly {
    #[serde(default)]
    header: Option<Header>,
}

/// The header of an answer that carries nothing else of use (put,
/// deleterange, revoke, compaction).
pub fn parse_header(body: &[u8]) -> Result<Header, Error> {
    let value = json(body)?;
    let h: HeaderOnly = typed(&value, "answer")?;
    h.header
        .ok_or_else(|| Error::Malformed("answer without a header".into()))
}

#[derive(Deserialize)]
struct WireGrant {
    #[serde(default, rename = "ID", deserialize_with = "int::i64")]
    id: i64,
    #[serde(default, rename = "TTL", deserialize_with = "int::i64")]
    ttl: i64,
    #[serde(default)]
    error: String,
}

impl Grant {
    /// Parses a `/v3/lease/grant` answer.
    pub fn parse(body: &[u8]) -> Result<Grant, Error> {
        let value = json(body)?;
        let g: WireGrant = typed(&value, "grant")?;
        if g.id == 0 {
            return Err(Error::Malformed(format!(
                "grant without a lease id {}",
                g.error
            )));
        }
        Ok(Grant {
            id: g.id,
            ttl: g.ttl,
        })
    }
}

#[derive(Deserialize)]
struct WireKeepAlive {
    #[serde(default, rename = "ID", deserialize_with = "int::i64")]
    id: i64,
    #[serde(default, rename = "TTL", deserialize_with = "int::i64")]
    ttl: i64,
}

impl KeepAlive {
    /// Parses a `/v3/lease/keepalive` answer: a stream with one message
    /// (`{"result":{…}}`, optionally followed by a newline), or the bare
    /// message.
    pub fn parse(body: &[u8]) -> Result<KeepAlive, Error> {
        let value = json(first_line(body))?;
        let inner = match value.get("result") {
            Some(result) => {
                if let Some(e) = server_error(result) {
                    return Err(Error::Server(e));
                }
                result
            }
            None => &value,
        };
        let k: WireKeepAlive = typed(inner, "keepalive")?;
        Ok(KeepAlive {
            id: k.id,
            ttl: k.ttl,
        })
    }
}

/// The first non-empty line of a streamed answer.
fn first_line(body: &[u8]) -> &[u8] {
    body.split(|&b| b == b'\n')
        .find(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
        .unwrap_or(body)
}

#[derive(Deserialize)]
struct WireRange {
    #[serde(default)]
    header: Header,
    #[serde(default)]
    kvs: Vec<WireKv>,
    #[serde(default, deserialize_with = "int::bool")]
    more: bool,
}

impl Range {
    /// Parses a `/v3/kv/range` answer.
    pub fn parse(body: &[u8]) -> Result<Range, Error> {
        let value = json(body)?;
        let r: WireRange = typed(&value, "range")?;
        Ok(Range {
            header: r.header,
            kvs: decode_kvs(r.kvs)?,
            more: r.more,
        })
    }
}

#[derive(Deserialize)]
struct WireTxn {
    #[serde(default)]
    header: Header,
    #[serde(default, deserialize_with = "int::bool")]
    succeeded: bool,
    #[serde(default)]
    responses: Vec<WireOp>,
}

#[derive(Deserialize)]
struct WireOp {
    #[serde(default)]
    response_range: Option<WireRange>,
}

impl Txn {
    /// Parses a `/v3/kv/txn` answer.
    pub fn parse(body: &[u8]) -> Result<Txn, Error> {
        let value = json(body)?;
        let t: WireTxn = typed(&value, "txn")?;
        let mut kvs = Vec::new();
        for range in t.responses.into_iter().filter_map(|op| op.response_range) {
            if kvs.len() + range.kvs.len() > MAX_KVS {
                return Err(Error::TooLarge {
                    what: "kvs",
                    len: kvs.len() + range.kvs.len(),
                    limit: MAX_KVS,
                });
            }
            kvs.extend(decode_kvs(range.kvs)?);
        }
        Ok(Txn {
            header: t.header,
            succeeded: t.succeeded,
            kvs,
        })
    }
}
