//! Sessions: every media connection is registered here for its whole life,
//! through a guard that removes it on any exit path (end, error, panic,
//! cancellation). The API lists them and the shutdown waits for them.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use stream_core::{Protocol, StreamKey};
use tokio::sync::Notify;
use tracing::Instrument;

/// Live figures of one session, shared between its task and the table.
#[derive(Debug)]
pub struct SessionInfo {
    /// Unique for the life of the process.
    pub id: u64,
    /// Protocol spoken on the connection.
    pub protocol: Protocol,
    /// Remote address.
    pub peer: SocketAddr,
    /// When the connection was accepted.
    pub since: SystemTime,
    /// Bytes read from the peer.
    pub bytes_in: AtomicU64,
    /// Bytes written to the peer.
    pub bytes_out: AtomicU64,
    stream: Mutex<Option<(StreamKey, Option<String>)>>,
    kicked: AtomicBool,
    kick: Notify,
    /// The session's place under the admission caps, released with the guard.
    ticket: Mutex<Option<crate::admission::Ticket>>,
}

impl SessionInfo {
    /// The stream this session publishes or plays, once known.
    pub fn stream(&self) -> Option<StreamKey> {
        lock(&self.stream).as_ref().map(|(k, _)| k.clone())
    }

    /// The query string the client gave with the stream name (`?token=…`),
    /// kept for authentication hooks and shown by the API.
    pub fn params(&self) -> Option<String> {
        lock(&self.stream).as_ref().and_then(|(_, q)| q.clone())
    }

    /// Records the stream this session publishes or plays, and its query.
    pub fn set_stream(&self, key: StreamKey, query: Option<String>) {
        // Called from the session's task: its span (see [`spawn`]) names the
        // stream from now on, in every line the session logs.
        tracing::Span::current().record("stream", tracing::field::display(&key));
        *lock(&self.stream) = Some((key, query));
        // Naming a stream is saying who it is: no longer a pending connection.
        if let Some(ticket) = lock(&self.ticket).as_ref() {
            ticket.identified();
        }
    }

    /// The peer description stream-core records for this session.
    pub fn peer_info(&self) -> stream_core::PeerInfo {
        stream_core::PeerInfo {
            session_id: self.id,
            protocol: self.protocol,
            peer: Some(self.peer),
        }
    }

    /// Asks the session's driver to close the connection (API kick).
    pub fn kick(&self) {
        self.kicked.store(true, Ordering::Release);
        // notify_one keeps a permit if the driver is not waiting right now.
        self.kick.notify_one();
    }

    /// Resolves once [`kick`](Self::kick) was called. Cancel-safe; drivers
    /// select on it beside their IO.
    pub async fn kicked(&self) {
        while !self.kicked.load(Ordering::Acquire) {
            self.kick.notified().await;
        }
    }
}

/// All live sessions.
#[derive(Debug, Default)]
pub struct SessionTable {
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, Arc<SessionInfo>>>,
    ended: Mutex<Ended>,
}

/// Totals of sessions that have ended, for `/metrics`.
#[derive(Debug, Default, Clone)]
pub struct Ended {
    /// `(protocol, reason)` → sessions closed.
    pub closed: HashMap<(&'static str, &'static str), u64>,
    /// protocol → (bytes in, bytes out) of ended sessions.
    pub bytes: HashMap<&'static str, (u64, u64)>,
}

impl SessionTable {
    /// Registers a new session; it stays listed until the guard drops.
    pub fn register(self: &Arc<Self>, protocol: Protocol, peer: SocketAddr) -> SessionGuard {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let info = Arc::new(SessionInfo {
            id,
            protocol,
            peer,
            since: SystemTime::now(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            stream: Mutex::new(None),
            kicked: AtomicBool::new(false),
            kick: Notify::new(),
            ticket: Mutex::new(None),
        });
        lock(&self.live).insert(id, info.clone());
        SessionGuard {
            table: self.clone(),
            info,
            // Overwritten by drivers; what is left means the task ended
            // without saying why (a panic, or the runtime shutting down).
            reason: "aborted",
        }
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        lock(&self.live).len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of every live session, ordered by id.
    pub fn list(&self) -> Vec<Arc<SessionInfo>> {
        let mut all: Vec<_> = lock(&self.live).values().cloned().collect();
        all.sort_by_key(|s| s.id);
        all
    }

    /// Kicks session `id`; false when there is no such session.
    pub fn kick(&self, id: u64) -> bool {
        let found = lock(&self.live).get(&id).cloned();
        found.map(|s| s.kick()).is_some()
    }

    /// Kicks every session from `ip`; returns how many.
    pub fn kick_peer(&self, ip: IpAddr) -> usize {
        let matching: Vec<_> = lock(&self.live)
            .values()
            .filter(|s| s.peer.ip() == ip)
            .cloned()
            .collect();
        matching.iter().for_each(|s| s.kick());
        matching.len()
    }

    /// Ended-session totals.
    pub fn ended(&self) -> Ended {
        lock(&self.ended).clone()
    }

    /// Bytes in and out per protocol, ended and live sessions together.
    pub fn bytes_by_protocol(&self) -> HashMap<&'static str, (u64, u64)> {
        let mut totals = lock(&self.ended).bytes.clone();
        for s in lock(&self.live).values() {
            let t = totals.entry(s.protocol.name()).or_insert((0, 0));
            t.0 += s.bytes_in.load(Ordering::Relaxed);
            t.1 += s.bytes_out.load(Ordering::Relaxed);
        }
        totals
    }

    /// Live sessions per protocol.
    pub fn count_by_protocol(&self) -> HashMap<&'static str, usize> {
        let mut counts = HashMap::new();
        for s in lock(&self.live).values() {
            *counts.entry(s.protocol.name()).or_insert(0) += 1;
        }
        counts
    }
}

/// Keeps a session listed; dropping it (on any path) removes the session.
#[derive(Debug)]
pub struct SessionGuard {
    table: Arc<SessionTable>,
    info: Arc<SessionInfo>,
    reason: &'static str,
}

impl SessionGuard {
    /// The session's figures.
    pub fn info(&self) -> &Arc<SessionInfo> {
        &self.info
    }

    /// Keeps the connection's admission ticket until the guard drops.
    pub fn hold(&self, ticket: crate::admission::Ticket) {
        *lock(&self.info.ticket) = Some(ticket);
    }

    /// The peer description stream-core records for this session.
    pub fn peer_info(&self) -> stream_core::PeerInfo {
        self.info.peer_info()
    }
}

impl SessionGuard {
    /// Records why the session ends (`peer-closed`, `timeout`, `kicked`, …),
    /// counted by protocol and reason when the guard drops.
    pub fn set_end_reason(&mut self, reason: &'static str) {
        self.reason = reason;
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        lock(&self.table.live).remove(&self.info.id);
        drop(lock(&self.info.ticket).take());
        let protocol = self.info.protocol.name();
        let mut ended = lock(&self.table.ended);
        *ended.closed.entry((protocol, self.reason)).or_insert(0) += 1;
        let bytes = ended.bytes.entry(protocol).or_insert((0, 0));
        bytes.0 += self.info.bytes_in.load(Ordering::Relaxed);
        bytes.1 += self.info.bytes_out.load(Ordering::Relaxed);
    }
}

/// Runs a session on a media worker inside its own tracing span
/// (`session{id, proto, peer, stream}`, the stream recorded once known),
/// when spans at `info` are enabled.
/// `body` owns the session's guard, so the guard lives exactly as long as
/// the task: a panic inside it unwinds through the guard, is logged by the
/// panic hook installed in [`crate::logging`], and ends only this session.
pub fn spawn<F>(worker: &tokio::runtime::Handle, info: &SessionInfo, body: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let span = tracing::info_span!(
        "session",
        id = info.id,
        proto = info.protocol.name(),
        peer = %info.peer,
        stream = tracing::field::Empty,
    );
    // A disabled span (the level filters out `info`) shows in no log line:
    // the task runs without it rather than entering and leaving it on
    // every poll, once per frame for a player.
    if span.is_disabled() {
        worker.spawn(body);
    } else {
        worker.spawn(body.instrument(span));
    }
}

/// Locks `m`, recovering from poisoning (the guarded data stays consistent:
/// every critical section is a few plain assignments).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not wedge the table: the data is a plain map.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn peer() -> SocketAddr {
        "127.0.0.1:5000".parse().unwrap()
    }

    #[test]
    fn guard_removes_on_drop() {
        let table = Arc::new(SessionTable::default());
        let a = table.register(Protocol::Rtmp, peer());
        let b = table.register(Protocol::HttpFlv, peer());
        assert_eq!(table.len(), 2);
        assert_ne!(a.info().id, b.info().id);
        assert_eq!(table.count_by_protocol()["rtmp"], 1);
        drop(a);
        assert_eq!(table.len(), 1);
        drop(b);
        assert!(table.is_empty());
        assert_eq!(table.ended().closed[&("rtmp", "aborted")], 1);
    }

    #[tokio::test]
    async fn kick_reaches_the_driver_whether_or_not_it_is_waiting() {
        let table = Arc::new(SessionTable::default());
        let a = table.register(Protocol::Rtmp, peer());
        let b = table.register(Protocol::HttpFlv, "10.0.0.9:1".parse().unwrap());
        a.info()
            .set_stream(StreamKey::new("live", "s"), Some("token=1".into()));
        assert_eq!(a.info().params().as_deref(), Some("token=1"));
        // Kicked before anyone waits: the permit is kept.
        assert!(table.kick(a.info().id));
        tokio::time::timeout(Duration::from_secs(1), a.info().kicked())
            .await
            .expect("kick seen");
        assert!(!table.kick(999));
        assert_eq!(table.kick_peer("10.0.0.9".parse().unwrap()), 1);
        tokio::time::timeout(Duration::from_secs(1), b.info().kicked())
            .await
            .expect("kick seen");
    }

    #[test]
    fn a_panicking_session_is_removed_and_the_worker_goes_on() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let table = Arc::new(SessionTable::default());
        let doomed = table.register(Protocol::Rtmp, peer());
        spawn(rt.handle(), &doomed.info().clone(), async move {
            let _guard = doomed;
            panic!("boom inside one session")
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let survivor = table.register(Protocol::Rtmp, peer());
        spawn(rt.handle(), &survivor.info().clone(), async move {
            let _guard = survivor;
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send(());
        });
        // Drive the worker until the survivor reports (or a generous deadline).
        let survived =
            rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), rx).await });
        assert!(
            matches!(survived, Ok(Ok(()))),
            "the other session on the same worker ran to its end"
        );
        rt.block_on(tokio::task::yield_now());
        assert!(table.is_empty(), "both sessions deregistered");
    }
}
