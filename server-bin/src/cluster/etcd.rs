//! strom's etcd v3 client: the calls the cluster needs, over etcd's JSON
//! gRPC gateway (request bodies and answers are [`etcd_json`]'s) with
//! hyper's low-level HTTP/1.1 client.
//!
//! - **Failover**: each call tries the endpoint that answered last first,
//!   then the others in order; each attempt is bounded by the request
//!   deadline, the whole call by twice that. An endpoint that refuses, times
//!   out, or answers "no leader"/"request timed out"/"too many requests" is
//!   passed over; any other answer ends the call.
//! - **At least once**: a write whose attempt timed out may have been
//!   applied by that member before the next one is tried. [`Etcd::create`]
//!   may then report [`Created::Held`] by a kv on the caller's own lease (it
//!   won the first time), and [`Etcd::delete_if`] `false` for a key its
//!   first attempt deleted.
//! - **Bounded**: a fresh connection per unary call (dropped with the call),
//!   answers read up to [`etcd_json::MAX_BODY`], every size checked by
//!   `etcd_json`; a [`Watch`] holds one connection and fails when silent for
//!   longer than its idle limit.

mod http;
mod watch;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_json::{request, ServerError, ServerErrorKind};
pub use etcd_json::{Created, Event, EventKind, Kv};

use self::http::Endpoint;
pub use self::watch::{Watch, DEFAULT_WATCH_IDLE};

/// A granted lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Its id.
    pub id: i64,
    /// Its time to live as granted, seconds.
    pub ttl: i64,
}

/// Why an etcd call failed.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// The endpoint list or the deadline is unusable.
    #[error("etcd configuration: {0}")]
    Config(String),
    /// No endpoint answered within the deadlines (connection refused,
    /// timed out, reset before an answer), each one's reason listed.
    #[error("etcd unreachable: {0}")]
    Unreachable(String),
    /// etcd answered an error (gRPC status `code`).
    #[error("etcd error {code}: {message}")]
    Server {
        /// gRPC status code (14: unavailable, …).
        code: i32,
        /// etcd's message.
        message: String,
    },
    /// An HTTP error status without an etcd error in the body.
    #[error("etcd answered HTTP {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The watch's start revision was compacted; the oldest revision
    /// still available is this one: re-list, then watch from the list's
    /// revision + 1.
    #[error("etcd revision compacted (oldest available {0})")]
    Compacted(i64),
    /// The lease does not exist (expired or revoked).
    #[error("etcd lease not found (expired or revoked)")]
    LeaseGone,
    /// A watch stream ended, went silent past its idle limit, or was
    /// canceled by etcd: re-list and watch again.
    #[error("etcd watch broken: {0}")]
    Broken(String),
    /// The answer is not what etcd sends (bad JSON, over a limit).
    #[error("etcd protocol: {0}")]
    Protocol(String),
}

impl EtcdError {
    /// Whether the store is unavailable rather than saying no: no endpoint
    /// answered, or the member that did has no leader, timed out the
    /// request or is rate limiting.
    pub fn is_unreachable(&self) -> bool {
        match self {
            EtcdError::Unreachable(_) => true,
            EtcdError::Server { code, message } => server_kind(*code, message).is_transient(),
            _ => false,
        }
    }

    /// Whether another endpoint may do better.
    fn try_elsewhere(&self) -> bool {
        self.is_unreachable()
    }
}

fn server_kind(code: i32, message: &str) -> ServerErrorKind {
    ServerError {
        code,
        message: message.to_string(),
    }
    .kind()
}

impl From<etcd_json::Error> for EtcdError {
    fn from(e: etcd_json::Error) -> Self {
        match e {
            etcd_json::Error::Server(s) => s.into(),
            other => EtcdError::Protocol(other.to_string()),
        }
    }
}

impl From<ServerError> for EtcdError {
    fn from(s: ServerError) -> Self {
        match s.kind() {
            ServerErrorKind::LeaseNotFound => EtcdError::LeaseGone,
            _ => EtcdError::Server {
                code: s.code,
                message: s.message,
            },
        }
    }
}

/// An etcd client: the endpoints, the request deadline, and which endpoint
/// answered last. Cheap to clone (clones share the last-good endpoint).
#[derive(Debug, Clone)]
pub struct Etcd {
    endpoints: Arc<[Endpoint]>,
    request: Duration,
    last_good: Arc<AtomicUsize>,
}

impl Etcd {
    /// `endpoints`: "http://host:port" URLs (parse errors →
    /// [`EtcdError::Config`]); each call tries the last good endpoint first,
    /// then the others, each attempt bounded by `request`; the whole call
    /// by a total deadline of 2×`request`.
    pub fn new(endpoints: &[String], request: Duration) -> Result<Etcd, EtcdError> {
        if endpoints.is_empty() {
            return Err(EtcdError::Config("no etcd endpoint".into()));
        }
        if request.is_zero() {
            return Err(EtcdError::Config(
                "the etcd request deadline is zero".into(),
            ));
        }
        let endpoints = endpoints
            .iter()
            .map(|u| Endpoint::parse(u).map_err(EtcdError::Config))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Etcd {
            endpoints: endpoints.into(),
            request,
            last_good: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The per-attempt deadline.
    pub fn request_deadline(&self) -> Duration {
        self.request
    }

    /// Grants a lease of `ttl_secs` seconds.
    pub async fn grant(&self, ttl_secs: u64) -> Result<Lease, EtcdError> {
        let ttl = i64::try_from(ttl_secs)
            .map_err(|_| EtcdError::Config(format!("lease ttl {ttl_secs} s out of range")))?;
        let g = etcd_json::Grant::parse(&self.unary(request::grant(ttl)).await?)?;
        Ok(Lease {
            id: g.id,
            ttl: g.ttl,
        })
    }

    /// Refreshes `lease`: its remaining ttl, seconds. Ok(ttl) with ttl <= 0
    /// when the lease is gone.
    pub async fn keep_alive(&self, lease: i64) -> Result<i64, EtcdError> {
        match self.unary(request::keep_alive(lease)).await {
            Ok(body) => match etcd_json::KeepAlive::parse(&body) {
                Ok(k) => Ok(k.ttl),
                Err(e) => match EtcdError::from(e) {
                    EtcdError::LeaseGone => Ok(0),
                    other => Err(other),
                },
            },
            Err(EtcdError::LeaseGone) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Revokes `lease` (its keys are deleted). A lease already gone is not
    /// an error.
    pub async fn revoke(&self, lease: i64) -> Result<(), EtcdError> {
        match self.unary(request::revoke(lease)).await {
            Ok(body) => match etcd_json::parse_header(&body).map_err(EtcdError::from) {
                Ok(_) | Err(EtcdError::LeaseGone) => Ok(()),
                Err(e) => Err(e),
            },
            Err(EtcdError::LeaseGone) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Puts `key` = `value` on `lease` (0: none); the store's revision
    /// after the put.
    pub async fn put(&self, key: &str, value: &[u8], lease: i64) -> Result<i64, EtcdError> {
        let body = self
            .unary(request::put(key.as_bytes(), value, lease))
            .await?;
        Ok(etcd_json::parse_header(&body)?.revision)
    }

    /// Create-if-absent on `lease`: Won{revision} (= the new key's
    /// create_revision) or Held(Kv) (the current holder; after a retried
    /// attempt possibly on `lease` itself).
    pub async fn create(&self, key: &str, value: &[u8], lease: i64) -> Result<Created, EtcdError> {
        let body = self
            .unary(request::create(key.as_bytes(), value, lease))
            .await?;
        Ok(etcd_json::Txn::parse(&body)?.into_created()?)
    }

    /// Deletes `key` only if its create_revision is `epoch`; whether it did.
    pub async fn delete_if(&self, key: &str, epoch: i64) -> Result<bool, EtcdError> {
        let body = self
            .unary(request::delete_if(key.as_bytes(), epoch))
            .await?;
        Ok(etcd_json::Txn::parse(&body)?.succeeded)
    }

    /// Deletes `key` only if its mod_revision is `mod_revision`; whether it
    /// did.
    pub async fn delete_if_modified_at(
        &self,
        key: &str,
        mod_revision: i64,
    ) -> Result<bool, EtcdError> {
        let body = self
            .unary(request::delete_if_mod(key.as_bytes(), mod_revision))
            .await?;
        Ok(etcd_json::Txn::parse(&body)?.succeeded)
    }

    /// The kv at `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<Kv>, EtcdError> {
        let body = self.unary(request::range(key.as_bytes())).await?;
        Ok(etcd_json::Range::parse(&body)?.kvs.into_iter().next())
    }

    /// Every key under prefix and the store's revision at that read (more
    /// than [`etcd_json::MAX_KVS`] keys is an error).
    pub async fn list(&self, prefix: &str) -> Result<(Vec<Kv>, i64), EtcdError> {
        let body = self.unary(request::range_prefix(prefix.as_bytes())).await?;
        let range = etcd_json::Range::parse(&body)?;
        if range.more {
            return Err(EtcdError::Protocol(format!(
                "more than {} keys under {prefix}",
                etcd_json::MAX_KVS
            )));
        }
        Ok((range.kvs, range.header.revision))
    }

    /// Compacts the store's history up to `revision` (operators and tests).
    pub async fn compact(&self, revision: i64) -> Result<(), EtcdError> {
        let body = self.unary(request::compact(revision)).await?;
        etcd_json::parse_header(&body)?;
        Ok(())
    }

    /// A watch of `prefix` from `start_revision` (events with
    /// mod_revision ≥ it), created with progress notifications; it fails when silent
    /// for [`DEFAULT_WATCH_IDLE`] unless [`Watch::set_idle`] says otherwise.
    /// Returns once etcd confirmed the watch.
    pub async fn watch(&self, prefix: &str, start_revision: i64) -> Result<Watch, EtcdError> {
        let (path, body) = request::watch(prefix.as_bytes(), start_revision);
        let body = bytes::Bytes::from(body);
        self.each_endpoint(|ep| Watch::open(ep, path, body.clone()))
            .await
    }

    /// One unary call: the body of a 200 answer.
    async fn unary(&self, (path, body): request::Request) -> Result<bytes::Bytes, EtcdError> {
        let body = bytes::Bytes::from(body);
        self.each_endpoint(|ep| http::post(ep, path, body.clone()))
            .await
    }

    /// Runs `attempt` on the endpoints, last good first, until one answers
    /// something other than "unavailable", within the deadlines.
    async fn each_endpoint<'a, T, F, Fut>(&'a self, mut attempt: F) -> Result<T, EtcdError>
    where
        F: FnMut(&'a Endpoint) -> Fut,
        Fut: Future<Output = Result<T, EtcdError>>,
    {
        let started = Instant::now();
        let total = self.request.saturating_mul(2);
        let n = self.endpoints.len();
        let first = self.last_good.load(Ordering::Relaxed) % n;
        let mut failures = Vec::new();
        let mut server = None;
        for k in 0..n {
            let i = (first + k) % n;
            let ep = &self.endpoints[i];
            let budget = total.saturating_sub(started.elapsed()).min(self.request);
            if budget.is_zero() {
                failures.push(format!(
                    "{}: not tried (call deadline {total:?} passed)",
                    ep.url
                ));
                break;
            }
            match tokio::time::timeout(budget, attempt(ep)).await {
                Ok(Ok(v)) => {
                    self.last_good.store(i, Ordering::Relaxed);
                    return Ok(v);
                }
                Ok(Err(e)) if e.try_elsewhere() => {
                    tracing::debug!(endpoint = %ep.url, error = %e, "etcd: trying the next endpoint");
                    failures.push(format!("{}: {e}", ep.url));
                    if matches!(e, EtcdError::Server { .. }) {
                        server = Some(e);
                    }
                }
                Ok(Err(e)) => {
                    // It answered: the endpoint works, the request failed.
                    self.last_good.store(i, Ordering::Relaxed);
                    return Err(e);
                }
                Err(_) => {
                    tracing::debug!(endpoint = %ep.url, "etcd: no answer within {budget:?}; trying the next endpoint");
                    failures.push(format!("{}: no answer within {budget:?}", ep.url));
                }
            }
        }
        Err(server.unwrap_or_else(|| EtcdError::Unreachable(failures.join("; "))))
    }
}
