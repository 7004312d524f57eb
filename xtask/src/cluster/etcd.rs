//! A real 3-member etcd cluster on free loopback ports with temporary data
//! directories, and a small client of etcd's JSON gateway (std::net,
//! HTTP/1.1): health, the current revision, one key, and the whole history
//! of a prefix (a watch from revision 1) for the "never two owners at once"
//! check ([`check_owners`]).

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

use super::http::{head, request, write_request, Dechunk};

/// How long a member (or the cluster) may take to answer `/health`.
const HEALTHY_WITHIN: Duration = Duration::from_secs(20);

/// One member: its name, ports and process.
struct Member {
    name: String,
    client: u16,
    peer: u16,
    child: Option<Child>,
}

/// A running 3-member etcd cluster; every member is killed and the data
/// directories removed when dropped.
pub struct Etcd {
    members: Vec<Member>,
    token: String,
    dir: PathBuf,
    logs: PathBuf,
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Makes sure `etcd` runs: installs Debian's etcd-server and etcd-client
/// when missing and allowed, else fails saying how.
fn ensure_etcd() -> Result<(), String> {
    crate::tools::ensure_etcd()
}

impl Etcd {
    /// Starts three members (`m0`..`m2`) with a cluster token unique to this
    /// run and waits (bounded) until every one reports healthy.
    pub fn start(logs: PathBuf) -> Result<Etcd, String> {
        ensure_etcd()?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let token = format!("strom-xtask-{}-{nanos}", std::process::id());
        let dir = std::env::temp_dir().join(&token);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut members = Vec::new();
        for i in 0..3 {
            members.push(Member {
                name: format!("m{i}"),
                client: free_port()?,
                peer: free_port()?,
                child: None,
            });
        }
        let mut etcd = Etcd {
            members,
            token,
            dir,
            logs,
        };
        for i in 0..3 {
            etcd.spawn(i)?;
        }
        etcd.wait_healthy(&[0, 1, 2], HEALTHY_WITHIN)?;
        Ok(etcd)
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn spawn(&mut self, i: usize) -> Result<(), String> {
        let initial = self.initial_cluster();
        let data = self.dir.join(format!("m{i}"));
        let log = self.logs.join(format!("etcd-m{i}.log"));
        let file = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let m = self.members.get_mut(i).ok_or("no such etcd member")?;
        let client = format!("http://127.0.0.1:{}", m.client);
        let peer = format!("http://127.0.0.1:{}", m.peer);
        let child = Command::new("etcd")
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &initial])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", &self.token])
            .stdin(Stdio::null())
            .stdout(file.try_clone().map_err(|e| e.to_string())?)
            .stderr(file)
            .spawn()
            .map_err(|e| format!("cannot run etcd (apt-get install -y etcd-server): {e}"))?;
        m.child = Some(child);
        Ok(())
    }

    /// The client URLs of every member (`http://127.0.0.1:PORT`).
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("http://127.0.0.1:{}", m.client))
            .collect()
    }

    /// Whether member `i` answers `/health` with `"health":"true"`.
    pub fn healthy(&self, i: usize) -> bool {
        let Some(m) = self.members.get(i) else {
            return false;
        };
        match request(m.client, "GET", "/health", "", Duration::from_secs(2)) {
            Ok((200, body)) => serde_json::from_slice::<Value>(&body)
                .is_ok_and(|v| v["health"] == "true" || v["health"] == true),
            _ => false,
        }
    }

    fn wait_healthy(&mut self, which: &[usize], within: Duration) -> Result<Duration, String> {
        let t = Instant::now();
        loop {
            if which.iter().all(|i| self.healthy(*i)) {
                return Ok(t.elapsed());
            }
            for i in which {
                let gone = self
                    .members
                    .get_mut(*i)
                    .and_then(|m| m.child.as_mut())
                    .is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))));
                if gone {
                    return Err(format!(
                        "etcd m{i} exited at start (log {})",
                        self.logs.join(format!("etcd-m{i}.log")).display()
                    ));
                }
            }
            if t.elapsed() > within {
                return Err(format!(
                    "etcd not healthy within {} s (logs in {})",
                    within.as_secs(),
                    self.logs.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILLs member `i` and waits for it to be gone.
    pub fn kill(&mut self, i: usize) -> Result<(), String> {
        let m = self.members.get_mut(i).ok_or("no such etcd member")?;
        if let Some(mut c) = m.child.take() {
            c.kill().map_err(|e| format!("kill etcd m{i}: {e}"))?;
            let _ = c.wait();
        }
        Ok(())
    }

    /// Starts member `i` again on its ports and data directory; the time
    /// until the whole cluster is healthy again.
    pub fn restart(&mut self, i: usize) -> Result<Duration, String> {
        self.kill(i)?;
        let t = Instant::now();
        self.spawn(i)?;
        self.wait_healthy(&[0, 1, 2], HEALTHY_WITHIN)?;
        Ok(t.elapsed())
    }

    /// Starts every stopped member again; the time until all are healthy.
    pub fn restart_all(&mut self) -> Result<Duration, String> {
        let t = Instant::now();
        for i in 0..self.members.len() {
            if self.members.get(i).is_some_and(|m| m.child.is_none()) {
                self.spawn(i)?;
            }
        }
        self.wait_healthy(&[0, 1, 2], HEALTHY_WITHIN)?;
        Ok(t.elapsed())
    }

    /// The member that leads (from `/v3/maintenance/status`), if one answers so.
    pub fn leader(&self) -> Option<usize> {
        self.members.iter().position(|m| {
            m.child.is_some()
                && request(
                    m.client,
                    "POST",
                    "/v3/maintenance/status",
                    "{}",
                    Duration::from_secs(2),
                )
                .ok()
                .and_then(|(_, b)| serde_json::from_slice::<Value>(&b).ok())
                .is_some_and(|v| v["leader"].is_string() && v["leader"] == v["header"]["member_id"])
        })
    }

    /// SIGKILLs every member.
    pub fn stop_all(&mut self) {
        for i in 0..self.members.len() {
            let _ = self.kill(i);
        }
    }

    /// The client port of a running member.
    fn live_port(&self) -> Result<u16, String> {
        self.members
            .iter()
            .find(|m| m.child.is_some())
            .map(|m| m.client)
            .ok_or_else(|| "no etcd member runs".to_string())
    }

    /// `POST path` with a JSON body to a running member; the JSON answer.
    fn call(&self, path: &str, body: &Value) -> Result<Value, String> {
        let mut last = String::new();
        for m in self.members.iter().filter(|m| m.child.is_some()) {
            match request(
                m.client,
                "POST",
                path,
                &body.to_string(),
                Duration::from_secs(3),
            ) {
                Ok((200, b)) => {
                    return serde_json::from_slice(&b).map_err(|e| format!("{path}: {e}"));
                }
                Ok((s, b)) => last = format!("{path}: {s} {}", String::from_utf8_lossy(&b)),
                Err(e) => last = e,
            }
        }
        Err(format!("etcd {path}: {last}"))
    }

    /// The store's current revision.
    pub fn revision(&self) -> Result<i64, String> {
        let v = self.call("/v3/kv/range", &json!({ "key": B64.encode("\0") }))?;
        int(&v["header"]["revision"]).ok_or_else(|| format!("no revision in {v}"))
    }

    /// The value of `key` as JSON and its create revision, if it exists.
    pub fn get(&self, key: &str) -> Result<Option<(Value, i64)>, String> {
        let v = self.call("/v3/kv/range", &json!({ "key": B64.encode(key) }))?;
        let Some(kv) = v["kvs"].as_array().and_then(|a| a.first()) else {
            return Ok(None);
        };
        let value = kv["value"]
            .as_str()
            .and_then(|s| B64.decode(s).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        Ok(Some((value, int(&kv["create_revision"]).unwrap_or(0))))
    }

    /// Every event on keys under `prefix` from revision 1 to the current
    /// one, in revision order: a watch of the whole key space read until an
    /// event at the current revision arrived (every revision changes some
    /// key), or `within` passed (an error).
    pub fn history(&self, prefix: &str, within: Duration) -> Result<Vec<Event>, String> {
        let until = self.revision()?;
        // Revision 1 is the empty store: nothing happened yet.
        if until < 2 {
            return Ok(Vec::new());
        }
        let port = self.live_port()?;
        let body = json!({ "create_request": {
            "key": B64.encode("\0"), "range_end": B64.encode("\0"), "start_revision": "1"
        }});
        let lines = watch(port, &body.to_string(), until, within)?;
        let mut events = Vec::new();
        for line in lines {
            let r = &line["result"];
            if let Some(c) = int(&r["compact_revision"]).filter(|c| *c > 0) {
                return Err(format!("etcd history compacted up to revision {c}"));
            }
            for e in r["events"].as_array().into_iter().flatten() {
                let kv = &e["kv"];
                let key = kv["key"]
                    .as_str()
                    .and_then(|k| B64.decode(k).ok())
                    .map(|k| String::from_utf8_lossy(&k).into_owned())
                    .unwrap_or_default();
                let Some(key) = key.strip_prefix(prefix) else {
                    continue;
                };
                let value: Option<Value> = kv["value"]
                    .as_str()
                    .and_then(|s| B64.decode(s).ok())
                    .and_then(|b| serde_json::from_slice(&b).ok());
                events.push(Event {
                    key: key.to_string(),
                    delete: e["type"] == "DELETE",
                    version: int(&kv["version"]).unwrap_or(0),
                    revision: int(&kv["mod_revision"]).unwrap_or(0),
                    node: value.and_then(|v| v["node"].as_str().map(str::to_string)),
                });
            }
        }
        Ok(events)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop_all();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An int64 of the gateway: a JSON string (or a number); absent is `None`.
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// One change of a key under the watched prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The key without the prefix (`live/s1`).
    pub key: String,
    /// A delete (else a put).
    pub delete: bool,
    /// The key's version after a put (1: created).
    pub version: i64,
    /// The revision of the change.
    pub revision: i64,
    /// The record's `node` after a put.
    pub node: Option<String>,
}

/// What the ownership history shows.
#[derive(Debug, Default, PartialEq)]
pub struct Owners {
    /// Claims (creates) seen.
    pub claims: usize,
    /// Releases (deletes) seen.
    pub releases: usize,
    /// Keys that had a claim.
    pub keys: usize,
    /// Each break of the rule, with its revision.
    pub violations: Vec<String>,
}

/// Checks "never two owners at once": per key, events alternate a create
/// (version 1) and a delete, and no put changes the record's `node` while
/// the key lives.
pub fn check_owners(events: &[Event]) -> Owners {
    let mut out = Owners::default();
    let mut live: std::collections::BTreeMap<&str, Option<&str>> = Default::default();
    for e in events {
        let slot = live.entry(e.key.as_str()).or_insert(None);
        let at = format!("{} at revision {}", e.key, e.revision);
        match (e.delete, &slot) {
            (true, None) => out
                .violations
                .push(format!("{at}: delete of a key not live")),
            (true, Some(_)) => {
                out.releases += 1;
                *slot = None;
            }
            (false, None) if e.version == 1 => {
                out.claims += 1;
                *slot = Some(e.node.as_deref().unwrap_or(""));
            }
            (false, None) => out
                .violations
                .push(format!("{at}: put of version {} with no create", e.version)),
            (false, Some(owner)) if e.version == 1 => out.violations.push(format!(
                "{at}: created again while owned by {owner:?} (two owners)"
            )),
            (false, Some(owner)) => {
                let node = e.node.as_deref().unwrap_or("");
                if node != *owner {
                    out.violations.push(format!(
                        "{at}: owner changed from {owner:?} to {node:?} while the key lived"
                    ));
                }
            }
        }
    }
    out.keys = live.len();
    out
}

/// `POST /v3/watch` with `body`; every JSON line read until an event at
/// revision `until` or later arrived.
fn watch(port: u16, body: &str, until: i64, within: Duration) -> Result<Vec<Value>, String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("watch: connect: {e}"))?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    write_request(&mut sock, "POST", "/v3/watch", body)?;
    let deadline = Instant::now() + within;
    let (mut raw, mut buf) = (Vec::new(), vec![0u8; 64 * 1024]);
    let mut start = None;
    let (mut dechunk, mut text, mut lines) = (Dechunk::default(), Vec::new(), Vec::new());
    let mut reached = 0;
    while reached < until {
        if Instant::now() > deadline {
            return Err(format!(
                "watch: history read up to revision {reached} of {until} in {} s",
                within.as_secs()
            ));
        }
        let n = match sock.read(&mut buf) {
            Ok(0) => return Err(format!("watch: closed at revision {reached} of {until}")),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => return Err(format!("watch: {e}")),
        };
        let got = buf.get(..n).unwrap_or_default();
        let fresh = match start {
            Some(_) => dechunk.feed(got),
            None => {
                raw.extend_from_slice(got);
                let Some((status, chunked, at)) = head(&raw) else {
                    continue;
                };
                if status != 200 || !chunked {
                    return Err(format!("watch: status {status}, chunked {chunked}"));
                }
                start = Some(at);
                dechunk.feed(raw.get(at..).unwrap_or_default())
            }
        };
        text.extend_from_slice(&fresh);
        while let Some(nl) = text.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = text.drain(..=nl).collect();
            let Ok(v) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            if v["result"]["canceled"] == true || v.get("error").is_some() {
                return Err(format!("watch ended: {v}"));
            }
            for e in v["result"]["events"].as_array().into_iter().flatten() {
                reached = reached.max(int(&e["kv"]["mod_revision"]).unwrap_or(0));
            }
            lines.push(v);
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, version: i64, revision: i64, node: &str) -> Event {
        Event {
            key: key.into(),
            delete: false,
            version,
            revision,
            node: Some(node.into()),
        }
    }

    fn del(key: &str, revision: i64) -> Event {
        Event {
            key: key.into(),
            delete: true,
            version: 0,
            revision,
            node: None,
        }
    }

    #[test]
    fn alternating_claims_and_releases_are_one_owner_at_a_time() {
        let h = [
            put("live/a", 1, 2, "a"),
            put("live/b", 1, 3, "b"),
            put("live/a", 2, 4, "a"),
            del("live/a", 5),
            put("live/a", 1, 6, "c"),
        ];
        let o = check_owners(&h);
        assert!(o.violations.is_empty(), "{:?}", o.violations);
        assert_eq!((o.claims, o.releases, o.keys), (3, 1, 2));
    }

    #[test]
    fn an_owner_change_while_the_key_lives_is_a_violation() {
        let o = check_owners(&[put("live/a", 1, 2, "a"), put("live/a", 2, 3, "b")]);
        assert_eq!(o.violations.len(), 1, "{:?}", o.violations);
        assert!(o.violations[0].contains("owner changed"));
        let o = check_owners(&[put("live/a", 1, 2, "a"), put("live/a", 1, 3, "b")]);
        assert!(o.violations[0].contains("two owners"), "{:?}", o.violations);
        let o = check_owners(&[del("live/a", 2)]);
        assert_eq!(o.violations.len(), 1);
    }

    /// A real cluster: healthy, a leader, the history of a prefix with
    /// claims and releases in order, and a killed member (even the leader)
    /// that changes nothing and comes back.
    #[test]
    fn a_real_cluster_keeps_its_history_through_a_member_death() {
        let logs = std::env::temp_dir().join(format!("strom-etcd-test-{}", std::process::id()));
        std::fs::create_dir_all(&logs).unwrap();
        let mut etcd = Etcd::start(logs.clone()).unwrap();
        let put = |etcd: &Etcd, key: &str, node: &str| {
            let value = json!({ "node": node }).to_string();
            etcd.call(
                "/v3/kv/put",
                &json!({ "key": B64.encode(key), "value": B64.encode(value) }),
            )
            .unwrap();
        };
        let del = |etcd: &Etcd, key: &str| {
            etcd.call("/v3/kv/deleterange", &json!({ "key": B64.encode(key) }))
                .unwrap();
        };
        put(&etcd, "/t/streams/live/a", "a");
        put(&etcd, "/t/nodes/a", "a");
        put(&etcd, "/t/streams/live/a", "a");
        let leader = etcd.leader().expect("a leader");
        etcd.kill(leader).unwrap();
        del(&etcd, "/t/streams/live/a");
        put(&etcd, "/t/streams/live/a", "b");
        assert_eq!(
            etcd.get("/t/streams/live/a").unwrap().unwrap().0["node"],
            "b"
        );
        etcd.restart(leader).unwrap();
        let h = etcd
            .history("/t/streams/", Duration::from_secs(10))
            .unwrap();
        let kinds: Vec<(bool, i64)> = h.iter().map(|e| (e.delete, e.version)).collect();
        assert_eq!(
            kinds,
            [(false, 1), (false, 2), (true, 0), (false, 1)],
            "{h:?}"
        );
        assert_eq!(h[0].key, "live/a");
        let o = check_owners(&h);
        assert!(o.violations.is_empty(), "{:?}", o.violations);
        assert_eq!((o.claims, o.releases), (2, 1));
        put(&etcd, "/t/streams/live/a", "c");
        let h = etcd
            .history("/t/streams/", Duration::from_secs(10))
            .unwrap();
        assert_eq!(check_owners(&h).violations.len(), 1);
        etcd.stop_all();
        assert!(!etcd.healthy(0));
        drop(etcd);
        let _ = std::fs::remove_dir_all(&logs);
    }
}
