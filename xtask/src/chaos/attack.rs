//! What the flood scenarios (11 and up) share: attacker sockets bound to
//! [`ATTACKER`] (healthy clients and the probe stay on 127.0.0.1, so
//! per-address caps can tell them apart), the xtask's own descriptor limit,
//! a herd of idle sockets reopened whenever the server closes one, what the
//! attacker got, a legitimate publisher and player during the attack, and
//! the return to the baseline afterwards.

use std::io::{ErrorKind, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::clients::{Ffmpeg, Player};
use super::{check_fps, measure_fps, wait_for, wait_live, Ctx, Listener};

/// The source address of every attacker.
pub const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// How fast a herd reopens what the server closed, per listener (a bound
/// on the attacker's loop, not on the attack: far above what any cap lets in).
pub const REOPEN_PER_SEC: f64 = 2000.0;

thread_local! {
    /// The source address of connections this thread opens through
    /// [`super::server::connect_local`] (None: 127.0.0.1).
    static SOURCE: std::cell::Cell<Option<Ipv4Addr>> = const { std::cell::Cell::new(None) };
}

/// Makes every connection this thread opens with the suite's clients
/// ([`super::server::connect_local`]: raw sockets, RTMP and RTSP clients)
/// come from `src` (an attacker thread of the older scenarios).
pub fn set_thread_source(src: Option<Ipv4Addr>) {
    SOURCE.with(|s| s.set(src));
}

/// The source address set for this thread, if any.
pub fn thread_source() -> Option<Ipv4Addr> {
    SOURCE.with(|s| s.get())
}

/// Attacker address number `i` of a spread (127.0.0.10, .11, …, wrapping
/// after 200): for scenarios whose many hostile connections test deadlines
/// and parsers, kept under the per-address caps so they are not all refused.
pub fn spread_source(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 10 + (i % 200) as u8)
}

/// A TCP socket bound to `src` (port chosen by the kernel), closing
/// with RST when dropped (no TIME_WAIT left behind to eat the ports of the
/// next scenario), connecting to `127.0.0.1:port`: in progress when
/// `nonblocking`, else within `timeout`.
fn attacker_socket(
    src: Ipv4Addr,
    port: u16,
    nonblocking: bool,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_linger(Some(Duration::ZERO))?;
    bind_address_no_port(&s)?;
    s.bind(&SockAddr::from(SocketAddrV4::new(src, 0)))?;
    let to = SockAddr::from(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    if nonblocking {
        s.set_nonblocking(true)?;
        match s.connect(&to) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
    } else {
        s.connect_timeout(&to, timeout)?;
    }
    Ok(s.into())
}

/// `IP_BIND_ADDRESS_NO_PORT` (Linux): the port is chosen at connect, by
/// the whole 4-tuple, instead of at bind among ports free for every
/// destination; a bind to port 0 scans the ports in use and slows down as
/// thousands are held (15,000 took over 10 s without it).
#[allow(unsafe_code)]
fn bind_address_no_port(s: &Socket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor we own, and a c_int option value of
    // the size passed.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A blocking connection from [`ATTACKER`] to the server's `port`.
pub fn connect(port: u16, timeout: Duration) -> Result<TcpStream, String> {
    connect_from(ATTACKER, port, timeout)
}

/// A blocking connection from `src` to the server's `port`.
pub fn connect_from(src: Ipv4Addr, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    attacker_socket(src, port, false, timeout).map_err(|e| format!("connect from {src}: {e}"))
}

/// A non-blocking connection from [`ATTACKER`], still being established.
pub fn connect_nb(port: u16) -> std::io::Result<TcpStream> {
    connect_nb_from(ATTACKER, port)
}

/// [`connect_nb`] from `src`.
pub fn connect_nb_from(src: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    attacker_socket(src, port, true, Duration::ZERO)
}

/// Raises this process's soft descriptor limit to its hard limit (an
/// attacker holding thousands of sockets needs it), and both to `need` when
/// the hard limit is below it and the process may (root); an error naming
/// the limit otherwise.
#[allow(unsafe_code)]
pub fn raise_fd_limit(need: u64) -> Result<u64, String> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit we own and pass by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return Err(format!(
            "getrlimit(RLIMIT_NOFILE): {}",
            std::io::Error::last_os_error()
        ));
    }
    if rl.rlim_cur < rl.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: rl.rlim_max,
            rlim_max: rl.rlim_max,
        };
        // SAFETY: setrlimit reads the rlimit we own; soft up to hard needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(format!(
                "cannot raise the xtask's soft fd limit {} to its hard limit {}: {}",
                rl.rlim_cur,
                rl.rlim_max,
                std::io::Error::last_os_error()
            ));
        }
        rl = raised;
    }
    if rl.rlim_cur < need {
        // Above the hard limit only with CAP_SYS_RESOURCE (root, as in CI).
        let raised = libc::rlimit {
            rlim_cur: need,
            rlim_max: need,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Ok(need);
        }
        return Err(format!(
            "the attacker needs {need} file descriptors but the xtask's hard limit is {} \
             (raise it: `ulimit -Hn {need}` as root, or LimitNOFILE= for a service)",
            rl.rlim_max
        ));
    }
    Ok(rl.rlim_cur)
}

/// What an attacker's connections got from the server.
#[derive(Default, Clone, Debug)]
pub struct Outcome {
    /// Connections opened (first ones and reopened).
    pub opened: u64,
    /// Refused with the protocol's answer (an HTTP or RTSP status ≥ 400,
    /// an RTMP `_error`/rejection) before the close.
    pub refused: u64,
    /// How long after opening each refusal came, ms.
    pub refused_ms: Vec<u64>,
    /// Closed without an answer: after how long, ms.
    pub closed_ms: Vec<u64>,
    /// Still open when the attack ended.
    pub open: u64,
    /// Of those, never established (sitting in the kernel's SYN retries:
    /// the accept queue was full).
    pub unestablished: u64,
    /// Connects that failed at once (no port, refused).
    pub connect_errors: u64,
}

impl Outcome {
    /// Adds another outcome's counts.
    pub fn add(&mut self, o: &Outcome) {
        self.opened += o.opened;
        self.refused += o.refused;
        self.refused_ms.extend_from_slice(&o.refused_ms);
        self.closed_ms.extend_from_slice(&o.closed_ms);
        self.open += o.open;
        self.unestablished += o.unestablished;
        self.connect_errors += o.connect_errors;
    }

    /// Median time to a close without answer, ms (0 without any).
    pub fn closed_median_ms(&self) -> u64 {
        median(&self.closed_ms)
    }

    /// Records the end of a connection opened at `since`: refused with an
    /// answer, or closed without one.
    pub fn ended(&mut self, refused: bool, since: Instant) {
        let ms = since.elapsed().as_millis() as u64;
        if refused {
            self.refused += 1;
            self.refused_ms.push(ms);
        } else {
            self.closed_ms.push(ms);
        }
    }

    /// One line: `opened N: refused with an answer R / closed C after M ms median / still open O`.
    pub fn describe(&self) -> String {
        let unest = if self.unestablished > 0 {
            format!(" ({} never established)", self.unestablished)
        } else {
            String::new()
        };
        let errs = if self.connect_errors > 0 {
            format!(", {} connects failed", self.connect_errors)
        } else {
            String::new()
        };
        format!(
            "opened {}: refused with a protocol answer {} (after {} ms median) / closed {} after {} ms median / still open {}{unest}{errs}",
            self.opened,
            self.refused,
            median(&self.refused_ms),
            self.closed_ms.len(),
            self.closed_median_ms(),
            self.open
        )
    }
}

/// The median of `v` (0 when empty).
pub fn median(v: &[u64]) -> u64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Whether the first bytes the server sent on a connection are a refusal:
/// an HTTP or RTSP status line with a 4xx/5xx code.
pub fn is_refusal(first: &[u8]) -> bool {
    let text = String::from_utf8_lossy(first.get(..first.len().min(32)).unwrap_or_default());
    let mut words = text.split_whitespace();
    let proto = words.next().unwrap_or_default();
    let code: u16 = words.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    (proto.starts_with("HTTP/") || proto.starts_with("RTSP/")) && code >= 400
}

/// One listener's share of a herd: `count` idle sockets to `port` (they
/// send nothing at all).
pub struct Target {
    /// The listener attacked.
    pub listener: Listener,
    /// Its port.
    pub port: u16,
    /// Sockets held open.
    pub count: usize,
    /// Where the sockets come from.
    pub source: Source,
}

/// The source addresses of a herd's sockets.
#[derive(Clone, Copy, Debug)]
pub enum Source {
    /// All from [`ATTACKER`].
    Attacker,
    /// Socket `j` from [`spread_source`]`(first + j / per)`: `per` sockets
    /// per address, under the per-address caps, so only the global ones
    /// (sessions, pending, descriptors) can stop them.
    Spread {
        /// The first address's number.
        first: usize,
        /// Sockets per address.
        per: usize,
    },
}

impl Source {
    /// The address of socket `j`.
    fn of(self, j: usize) -> Ipv4Addr {
        match self {
            Source::Attacker => ATTACKER,
            Source::Spread { first, per } => spread_source(first + j / per.max(1)),
        }
    }
}

/// Idle sockets held open against one or more listeners from [`ATTACKER`],
/// reopened as soon as the server closes them, on their own thread.
pub struct Herd {
    stop: Arc<AtomicBool>,
    opened: Arc<AtomicUsize>,
    handle: Option<JoinHandle<Vec<(Listener, Outcome)>>>,
}

struct Conn {
    sock: Option<TcpStream>,
    since: Instant,
    first: Vec<u8>,
}

impl Herd {
    /// Starts opening every target's sockets.
    pub fn start(targets: Vec<Target>) -> Herd {
        let stop = Arc::new(AtomicBool::new(false));
        let opened = Arc::new(AtomicUsize::new(0));
        let (s, o) = (stop.clone(), opened.clone());
        let handle = std::thread::spawn(move || herd_loop(&targets, &s, &o));
        Herd {
            stop,
            opened,
            handle: Some(handle),
        }
    }

    /// Sockets opened so far (first openings and reopenings).
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::Relaxed)
    }

    /// Ends the attack (every socket reset) and returns what each listener's
    /// sockets got.
    pub fn finish(mut self) -> Vec<(Listener, Outcome)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Herd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn herd_loop(
    targets: &[Target],
    stop: &AtomicBool,
    opened: &AtomicUsize,
) -> Vec<(Listener, Outcome)> {
    let mut outcomes: Vec<Outcome> = targets.iter().map(|_| Outcome::default()).collect();
    let mut conns: Vec<Vec<Conn>> = targets
        .iter()
        .map(|t| {
            (0..t.count)
                .map(|_| Conn {
                    sock: None,
                    since: Instant::now(),
                    first: Vec::new(),
                })
                .collect()
        })
        .collect();
    // The first opening is not rate-limited (that is the flood); reopening is.
    let mut budget: Vec<f64> = targets.iter().map(|t| t.count as f64).collect();
    let mut last = Instant::now();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let dt = last.elapsed().as_secs_f64();
        last = Instant::now();
        for (((t, cs), out), budget) in targets
            .iter()
            .zip(conns.iter_mut())
            .zip(outcomes.iter_mut())
            .zip(budget.iter_mut())
        {
            *budget = (*budget + dt * REOPEN_PER_SEC).min(t.count as f64);
            for (j, c) in cs.iter_mut().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Some(sock) = c.sock.as_mut() else {
                    if *budget < 1.0 {
                        continue;
                    }
                    *budget -= 1.0;
                    match connect_nb_from(t.source.of(j), t.port) {
                        Ok(s) => {
                            out.opened += 1;
                            opened.fetch_add(1, Ordering::Relaxed);
                            *c = Conn {
                                sock: Some(s),
                                since: Instant::now(),
                                first: Vec::new(),
                            };
                        }
                        Err(_) => out.connect_errors += 1,
                    }
                    continue;
                };
                let ended = match sock.read(&mut buf) {
                    Ok(0) => true,
                    Ok(n) => {
                        if c.first.len() < 64 {
                            c.first
                                .extend_from_slice(buf.get(..n.min(64)).unwrap_or_default());
                        }
                        false
                    }
                    Err(e)
                        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::NotConnected) =>
                    {
                        false
                    }
                    Err(_) => true,
                };
                if ended {
                    out.ended(is_refusal(&c.first), c.since);
                    c.sock = None;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for (cs, out) in conns.iter().zip(outcomes.iter_mut()) {
        for sock in cs.iter().filter_map(|c| c.sock.as_ref()) {
            out.open += 1;
            if sock.peer_addr().is_err() {
                out.unestablished += 1;
            }
        }
    }
    targets.iter().map(|t| t.listener).zip(outcomes).collect()
}

/// The server's state before an attack, to come back to.
pub struct Base {
    /// Open descriptors.
    pub fds: usize,
    /// RSS, KiB.
    pub rss: u64,
    /// Sessions (`/healthz`).
    pub sessions: u64,
    /// Tasks on the media workers.
    pub tasks: u64,
}

impl Base {
    /// Reads the server's state now.
    pub fn take(ctx: &Ctx) -> Result<Base, String> {
        Ok(Base {
            fds: ctx.server.fds(),
            rss: ctx.server.rss_kib(),
            sessions: ctx.server.sessions()?,
            tasks: ctx.server.tasks(),
        })
    }
}

/// After the attack: sessions, descriptors and tasks back to the baseline
/// within `within` (the suite's 3 s deadlines plus slack), RSS within 32 MiB
/// of it; the figure `sessions a→b, fds a→b, tasks a→b, rss a→b MiB (back in N ms)`.
pub fn check_recovered(ctx: &mut Ctx, base: &Base, within: Duration) -> String {
    let t = Instant::now();
    let (mut sessions, mut fds, mut tasks) = (u64::MAX, usize::MAX, u64::MAX);
    let back = wait_for(within, || {
        sessions = ctx.server.sessions().unwrap_or(u64::MAX);
        fds = ctx.server.fds();
        tasks = ctx.server.tasks();
        sessions <= base.sessions && fds <= base.fds + 2 && tasks <= base.tasks
    });
    let took = t.elapsed();
    let rss = ctx.server.rss_kib();
    ctx.check(
        back.is_some(),
        format!(
            "not back to the baseline {} s after the attack: sessions {}→{sessions}, fds {}→{fds}, tasks {}→{tasks}",
            within.as_secs(),
            base.sessions,
            base.fds,
            base.tasks
        ),
    );
    ctx.check(
        rss < base.rss + 32 * 1024,
        format!(
            "memory {}→{} MiB after the attack",
            base.rss / 1024,
            rss / 1024
        ),
    );
    format!(
        "after: sessions {}→{sessions}, fds {}→{fds}, tasks {}→{tasks}, rss {}→{} MiB ({} in {} ms)",
        base.sessions,
        base.fds,
        base.tasks,
        base.rss / 1024,
        rss / 1024,
        if back.is_some() { "back" } else { "NOT back" },
        took.as_millis()
    )
}

/// During an attack: a new ffmpeg publisher of `live/<stream>` and a new
/// RTMP player of it, both from 127.0.0.1, must go live and keep 90 % of
/// 25 fps over `secs`. Failures are recorded, never returned, so the attack
/// is always ended and measured. The figure: `healthy publisher live in N ms, player min F fps`.
pub fn healthy_during(ctx: &mut Ctx, stream: &str, secs: f64) -> String {
    let t = Instant::now();
    let publisher = match Ffmpeg::publish(ctx.server.rtmp, stream) {
        Ok(p) => p,
        Err(e) => {
            ctx.check(false, format!("healthy publisher: {e}"));
            return "healthy publisher did not start".into();
        }
    };
    if let Err(e) = wait_live(ctx.server, stream, Duration::from_secs(10)) {
        ctx.check(false, format!("healthy publisher during the attack: {e}"));
        return format!("healthy publisher NOT live within 10 s ({stream})");
    }
    let live = t.elapsed();
    let player = Player::start(ctx.server.rtmp, stream);
    let started = wait_for(Duration::from_secs(5), || player.frames() > 0);
    ctx.check(
        started.is_some(),
        format!(
            "healthy player saw no frame within 5 s: {:?}",
            player.stats()
        ),
    );
    let rates = measure_fps(std::slice::from_ref(&player), secs);
    let min = check_fps(ctx, "healthy player during the attack", &rates);
    let s = player.stats();
    ctx.check(
        s.error.is_none() && !s.closed,
        format!("healthy player hurt: {s:?}"),
    );
    drop(player);
    drop(publisher);
    format!(
        "healthy publisher live in {} ms, its player {min:.1} fps",
        live.as_millis()
    )
}

/// What [`during`] saw while the attack was held.
pub struct During {
    /// The healthy publisher's and player's figure ([`healthy_during`]).
    pub healthy: String,
    /// Most descriptors the server held.
    pub peak_fds: usize,
    /// Most sessions `/healthz` reported (0 when it never answered).
    pub peak_sessions: u64,
    /// What the server counted as refused, by listener and cap.
    pub refusals: String,
}

/// The server's own count of refused connections, from
/// `strom_connections_refused_total{listener,reason}` in `/metrics`:
/// `listener/reason N, …` (nonzero only), `none`, or `no metric` on a
/// server without it.
pub fn server_refusals(ctx: &Ctx) -> String {
    match ctx.server.get("/metrics") {
        Ok((200, text)) => refusals_in(&text),
        _ => "no /metrics".into(),
    }
}

/// [`server_refusals`] from the text of `/metrics`.
fn refusals_in(text: &str) -> String {
    let mut found = false;
    let counts: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("strom_connections_refused_total{"))
        .filter_map(|l| {
            found = true;
            let (labels, value) = l.split_once("} ")?;
            let value: f64 = value.trim().parse().ok()?;
            let label = |name: &str| {
                labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix("=\""))
                    .map(|v| v.trim_end_matches('"').to_string())
                    .unwrap_or_default()
            };
            (value > 0.0).then(|| format!("{}/{} {value}", label("listener"), label("reason")))
        })
        .collect();
    match (found, counts.is_empty()) {
        (false, _) => "no metric".into(),
        (true, true) => "none".into(),
        (true, false) => counts.join(", "),
    }
}

/// Holds an attack started at `started` until `window` has passed: a
/// legitimate publisher and player of `live/<stream>` meanwhile
/// ([`healthy_during`], measured over `healthy_secs`), the server's
/// descriptors and sessions sampled; fails if the server died.
pub fn during(
    ctx: &mut Ctx,
    started: Instant,
    window: Duration,
    stream: &str,
    healthy_secs: f64,
) -> During {
    let healthy = healthy_during(ctx, stream, healthy_secs);
    let (mut peak_fds, mut peak_sessions) = (ctx.server.fds(), 0);
    loop {
        peak_fds = peak_fds.max(ctx.server.fds());
        peak_sessions = peak_sessions.max(ctx.server.sessions().unwrap_or(0));
        if started.elapsed() >= window {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let gone = ctx.server.is_gone();
    ctx.check(!gone, "strom died during the attack");
    During {
        healthy,
        peak_fds,
        peak_sessions,
        refusals: server_refusals(ctx),
    }
}

/// Waits until the herd has opened `n` sockets (up to `within`); how long it took.
pub fn wait_opened(herd: &Herd, n: usize, within: Duration) -> Option<Duration> {
    wait_for(within, || herd.opened() >= n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_error_status_lines() {
        assert!(is_refusal(b"HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(is_refusal(b"RTSP/1.0 503 Service Unavailable\r\n"));
        assert!(is_refusal(b"HTTP/1.0 404 Not Found\r\n"));
        assert!(!is_refusal(b"HTTP/1.1 200 OK\r\n"));
        assert!(!is_refusal(b"\x03\x00\x00"));
        assert!(!is_refusal(b""));
    }

    #[test]
    fn refusals_from_metrics() {
        let text = "# TYPE strom_connections_refused_total counter\n\
            strom_connections_refused_total{listener=\"http\",reason=\"max_connections_per_ip\"} 12\n\
            strom_connections_refused_total{listener=\"rtmp\",reason=\"max_pending_per_ip\"} 0\n";
        assert_eq!(refusals_in(text), "http/max_connections_per_ip 12");
        assert_eq!(refusals_in("strom_up 1\n"), "no metric");
    }

    #[test]
    fn outcome_median_and_line() {
        let o = Outcome {
            opened: 5,
            refused: 2,
            closed_ms: vec![30, 10, 20],
            open: 1,
            ..Outcome::default()
        };
        assert_eq!(o.closed_median_ms(), 20);
        assert!(o.describe().contains("refused with a protocol answer 2"));
    }
}
