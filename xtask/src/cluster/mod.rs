//! `cargo xtask cluster [--long] [SCENARIO]`: strom's cluster on real parts
//! (issue 16). Each scenario starts a real 3-member etcd ([`etcd`]:
//! loopback ports, temporary data directories) and three release strom
//! nodes `a`, `b`, `c` sharing it (`[cluster]` with `lease_secs` =
//! [`LEASE_SECS`]), drives ffmpeg and purpose-built publishers and players,
//! and prints one result line with its figures:
//!
//! 1. `every-protocol`: publish on A, play on B and C over RTMP, RTSP,
//!    HTTP-FLV, HTTP-TS and HLS; first-frame times on an edge ([`play`]);
//! 2. `failover`: kill -9 the owner, republish on B: players on C get media
//!    again within 5 s, none disconnected, timestamps monotonic ([`failover`]);
//! 3. `half-dead`: SIGSTOP the owner: a newcomer on B is accepted within
//!    `lease_secs` + 1 s; after SIGCONT A no longer owns it ([`failover`]);
//! 4. `etcd-member-killed`: the etcd leader killed: nothing changes ([`store`]);
//! 5. `etcd-down`: all of etcd stopped: every stream keeps playing,
//!    `/healthz` 200 reporting the store down ([`store`]);
//! 6. `churn`: random publish/kill/republish cycles over 20 names and 3
//!    nodes: never two owners at once (from etcd's history), one upstream
//!    per stream per node, nothing left held ([`churn`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub mod churn;
pub mod clients;
pub mod etcd;
pub mod failover;
pub mod http;
pub mod play;
pub mod store;

use crate::chaos::server::{chaos_dir, Launch, Server};
use crate::chaos::Profile;
use etcd::Etcd;

/// `cluster.lease_secs` of every node: short, so failover is quick.
pub const LEASE_SECS: u64 = 2;
/// `stream.continue_push_ms` of every node: players wait this long for the
/// stream's publisher (or an edge's upstream) to come back.
pub const CONTINUE_PUSH_MS: u64 = 8000;
/// `relay.idle_close_secs`: an edge's upstream closes this long after its last player.
pub const IDLE_CLOSE_SECS: u64 = 2;
/// `cluster.prefix`.
pub const PREFIX: &str = "/strom";
/// Node names, in order.
pub const NAMES: [&str; 3] = ["a", "b", "c"];

/// What a scenario works with and reports into.
pub struct Ctx<'a> {
    /// The etcd cluster.
    pub etcd: Etcd,
    /// Nodes a, b, c.
    pub nodes: Vec<Server>,
    /// Counts and durations.
    pub profile: &'a Profile,
    figures: Vec<String>,
    failures: Vec<String>,
}

impl Ctx<'_> {
    /// Adds a figure to the result line.
    pub fn figure(&mut self, f: impl Into<String>) {
        self.figures.push(f.into());
    }

    /// Records a failure unless `ok`.
    pub fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.failures.push(what.into());
        }
    }

    /// Node `i` (0 = a).
    pub fn node(&self, i: usize) -> &Server {
        &self.nodes[i % self.nodes.len()]
    }

    /// The etcd record of `live/<stream>`: owner node and epoch.
    pub fn owner(&self, stream: &str) -> Result<Option<(String, i64)>, String> {
        Ok(self
            .etcd
            .get(&format!("{PREFIX}/streams/live/{stream}"))?
            .map(|(v, epoch)| (v["node"].as_str().unwrap_or("").to_string(), epoch)))
    }

    /// Waits until etcd names `node` the owner of `live/<stream>`; how long it took.
    pub fn wait_owner(&self, stream: &str, node: &str, within: Duration) -> Option<Duration> {
        crate::chaos::wait_for(within, || {
            self.owner(stream)
                .ok()
                .flatten()
                .is_some_and(|(n, _)| n == node)
        })
    }
}

/// A scenario: setup errors are returned, assertion failures recorded in the [`Ctx`].
type ScenarioFn = fn(&mut Ctx) -> Result<(), String>;

const SCENARIOS: &[(u8, &str, ScenarioFn)] = &[
    (1, "every-protocol", play::every_protocol),
    (2, "failover", failover::failover),
    (3, "half-dead", failover::half_dead),
    (4, "etcd-member-killed", store::member_killed),
    (5, "etcd-down", store::etcd_down),
    (6, "churn", churn::churn),
];

/// Runs the scenarios (or one); the summary line or what failed.
pub fn run(long: bool, only: Option<&str>) -> Result<String, String> {
    crate::tools::ensure_media_tools()?;
    crate::tools::ensure_etcd()?;
    crate::chaos::run_suite(long, only, SCENARIOS, run_one)
}

/// The `STROM_*` settings of node `i` in a cluster on `endpoints`.
fn node_env(i: usize, rtmp: u16, endpoints: &[String], state: &str) -> Vec<(String, String)> {
    let list = endpoints
        .iter()
        .map(|e| format!("\"{e}\""))
        .collect::<Vec<_>>()
        .join(",");
    // Distinct RTP/RTCP ranges: the three nodes run in one process group.
    let udp = 30_000 + (std::process::id() % 50) as usize * 300 + i * 100;
    [
        ("STROM_CLUSTER__ENDPOINTS", format!("[{list}]")),
        ("STROM_CLUSTER__NODE", NAMES[i].to_string()),
        ("STROM_CLUSTER__ADVERTISE", format!("127.0.0.1:{rtmp}")),
        ("STROM_CLUSTER__LEASE_SECS", LEASE_SECS.to_string()),
        ("STROM_CLUSTER__PREFIX", PREFIX.to_string()),
        ("STROM_CLUSTER__REQUEST_MS", "500".to_string()),
        ("STROM_RELAY__IDLE_CLOSE_SECS", IDLE_CLOSE_SECS.to_string()),
        ("STROM_RELAY__RETRY_MIN_MS", "200".to_string()),
        ("STROM_RELAY__CONNECT_SECS", "2".to_string()),
        ("STROM_RELAY__NO_MEDIA_SECS", "3".to_string()),
        (
            "STROM_STREAM__CONTINUE_PUSH_MS",
            CONTINUE_PUSH_MS.to_string(),
        ),
        ("STROM_STATE__DIR", state.to_string()),
        ("STROM_RTSP__UDP_PORT_RANGE", format!("{udp}-{}", udp + 99)),
        ("STROM_LOG__LEVEL", "info".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Starts etcd and the three nodes for scenario `tag`.
fn start(tag: &str) -> Result<(Etcd, Vec<Server>), String> {
    let dir = chaos_dir()?.join("cluster");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let etcd = Etcd::start(dir.clone())?;
    let endpoints = etcd.endpoints();
    let mut nodes = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let ports = (free_port()?, free_port()?, free_port()?);
        let state = dir.join(format!("state-{tag}-{name}"));
        let _ = std::fs::remove_dir_all(&state);
        let launch = Launch {
            extra: node_env(i, ports.1, &endpoints, &state.to_string_lossy()),
            ports: Some(ports),
            ..Launch::default()
        };
        let node = Server::launch(&format!("cluster-{tag}-{name}"), launch)
            .map_err(|e| format!("node {name}: {e}"))?;
        nodes.push(node);
    }
    Ok((etcd, nodes))
}

fn run_one(n: u8, name: &str, f: ScenarioFn, profile: &Profile) -> bool {
    let (etcd, nodes) = match start(&format!("{n}-{name}")) {
        Ok(x) => x,
        Err(e) => {
            println!("cluster {n} {name}: FAIL the cluster did not start: {e}");
            return false;
        }
    };
    let mut ctx = Ctx {
        etcd,
        nodes,
        profile,
        figures: Vec::new(),
        failures: Vec::new(),
    };
    let t = Instant::now();
    if let Err(e) = f(&mut ctx) {
        ctx.failures.push(e);
    }
    let passed =
        crate::chaos::print_result("cluster", n, name, &ctx.figures, &ctx.failures, t.elapsed());
    if !passed {
        for (i, node) in ctx.nodes.iter().enumerate() {
            println!("  node {} log tail:\n  {}", NAMES[i], node.log_tail());
        }
    }
    passed
}

/// Upstreams (RTMP sessions whose peer is another node's RTMP port, of
/// `ports`) per stream on `node`, from `/api/v1/sessions`.
pub fn upstreams(node: &Server, ports: &[u16]) -> Result<BTreeMap<String, usize>, String> {
    let v = node.json("/api/v1/sessions")?;
    let mut out = BTreeMap::new();
    for s in v["sessions"].as_array().into_iter().flatten() {
        let port = s["peer"]
            .as_str()
            .and_then(|p| p.rsplit_once(':'))
            .and_then(|(_, p)| p.parse::<u16>().ok());
        if s["protocol"] == "rtmp" && port.is_some_and(|p| p != node.rtmp && ports.contains(&p)) {
            let key = s["stream"].as_str().unwrap_or("?").to_string();
            *out.entry(key).or_insert(0) += 1;
        }
    }
    Ok(out)
}

/// The first JSON field named `field` anywhere in `v` (depth first).
pub fn find_field<'v>(v: &'v serde_json::Value, field: &str) -> Option<&'v serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m
            .get(field)
            .or_else(|| m.values().find_map(|x| find_field(x, field))),
        serde_json::Value::Array(a) => a.iter().find_map(|x| find_field(x, field)),
        _ => None,
    }
}

/// A short pause between steps of a scenario, so media flows (never used to
/// wait for a state: those are polled with a deadline).
pub fn settle(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}
