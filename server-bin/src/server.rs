//! Wiring: binds the listeners, starts the media workers and the control
//! plane, and runs the graceful shutdown.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stream_core::Hub;
use tokio::sync::watch;

use crate::config::Config;
use crate::runtime::{ControlPlane, Watchdog, WorkerPool};
use crate::session::SessionTable;

/// Accept queue length asked of the kernel for every listener (it caps it
/// at `net.core.somaxconn`, 4096 on current kernels).
const LISTEN_BACKLOG: i32 = 4096;

/// State every part of the server shares.
#[derive(Debug)]
pub struct Shared {
    /// The effective configuration.
    pub config: Arc<Config>,
    /// stream-core's registry and fan-out.
    pub hub: Hub,
    /// Live media sessions.
    pub sessions: Arc<SessionTable>,
    /// The media workers.
    pub pool: Arc<WorkerPool>,
    /// Measures the media workers.
    pub watchdog: Watchdog,
    /// When the server started.
    pub started: Instant,
    /// Test-only endpoints are served (debug builds started with `--test-hooks`).
    pub test_hooks: bool,
    /// Webhooks and static tokens.
    pub hooks: Arc<crate::hooks::Hooks>,
    /// Counters for `/metrics` that no other component keeps.
    pub counters: crate::counters::Counters,
    /// The TS packagers feeding HLS and HTTP-TS.
    pub feeds: crate::ts_feed::Feeds,
    /// The fMP4 packagers feeding HLS with fMP4 segments and LL-HLS.
    pub cmaf_feeds: crate::cmaf_feed::CmafFeeds,
    /// Turns true when shutdown begins: sessions that no stream end reaches
    /// (HLS keep-alive connections) close on it.
    pub stopping: watch::Receiver<bool>,
    /// RTSP's UDP port pairs (`None`: UDP transport off).
    pub udp_ports: Option<Arc<crate::rtsp::udp::UdpPorts>>,
    /// Caps on sessions, pending and control connections, per address and in total.
    pub admission: Arc<crate::admission::Admission>,
    /// Streams pulled from upstreams (`[[proxy]]`).
    pub relays: crate::relay::Relays,
    /// Streams pushed to targets (`[[push]]`).
    pub pushes: crate::relay::push::Pushes,
    /// Streams recorded to disk (`[record]`).
    pub recordings: crate::record::Recordings,
    /// This node's part of the cluster (`None`: no `[cluster]` endpoints).
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// WebRTC's shared socket and routes (`None`: `webrtc.enabled` off, or
    /// in-process tests that set none).
    pub webrtc: Option<Arc<crate::webrtc::WebRtc>>,
    /// Recording downloads and replays in progress, under their caps.
    pub playback: crate::record::slots::PlaybackSlots,
}

/// Options that are not configuration (they come from the command line only).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Serve the test-only endpoints; ignored in release builds.
    pub test_hooks: bool,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not bind its address.
    #[error("cannot listen on {addr} for {what}: {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A runtime thread could not start.
    #[error("cannot start a runtime thread: {0}")]
    Runtime(#[from] std::io::Error),
    /// `hls.dir` cannot be created or its writer thread started.
    #[error("hls.dir: {0}")]
    HlsDir(std::io::Error),
    /// `[cluster]` cannot be set up.
    #[error("cluster: {0}")]
    Cluster(String),
    /// `[webrtc]` cannot be set up.
    #[error("webrtc: {0}")]
    WebRtc(String),
}

/// The three listening sockets, bound before the server runs: `main`
/// binds the configured addresses, tests bind port 0 and read the ports
/// back, with no race for a free port.
#[derive(Debug)]
pub struct Listeners {
    /// HTTP: API, health, metrics, HTTP-FLV, HTTP-TS, HLS.
    pub http: TcpListener,
    /// RTMP.
    pub rtmp: TcpListener,
    /// RTSP.
    pub rtsp: TcpListener,
    /// WebRTC's UDP port (`None`: `webrtc.enabled` off).
    pub webrtc: Option<std::net::UdpSocket>,
    /// ICE-TCP on the same port number (`None`: off or taken).
    pub webrtc_tcp: Option<std::net::TcpListener>,
}

impl Listeners {
    /// Binds `server.bind` at the configured ports (0: any free port).
    ///
    /// # Errors
    /// [`ServerError::Bind`] naming the listener and address that failed.
    pub fn bind(config: &Config) -> Result<Listeners, ServerError> {
        let bind = |what: &'static str, port: u16| {
            let addr = SocketAddr::new(config.server.bind, port);
            let listener = TcpListener::bind(addr).map_err(|source| ServerError::Bind {
                what,
                addr,
                source,
            })?;
            listener
                .set_nonblocking(true)
                .map_err(|source| ServerError::Bind { what, addr, source })?;
            // std listens with a backlog of 128: a few hundred clients
            // reconnecting as fast as they are refused overflow it, and the
            // kernel then drops every address's SYNs, a health probe's
            // included. Linux lets a second listen() enlarge the queue
            // (capped by somaxconn).
            if let Err(e) = rustix::net::listen(&listener, LISTEN_BACKLOG) {
                tracing::warn!(error = %e, listener = what, "cannot enlarge the accept queue");
            }
            Ok::<_, ServerError>(listener)
        };
        let udp = match config.webrtc.enabled {
            false => None,
            true => {
                let addr = SocketAddr::new(config.server.bind, config.webrtc.port);
                Some(
                    crate::webrtc::bind(config.server.bind, &config.webrtc).map_err(|source| {
                        ServerError::Bind {
                            what: "webrtc",
                            addr,
                            source,
                        }
                    })?,
                )
            }
        };
        let tcp = udp
            .as_ref()
            .and_then(|u| crate::webrtc::bind_tcp(config.server.bind, u, &config.webrtc));
        Ok(Listeners {
            http: bind("http", config.http.port)?,
            rtmp: bind("rtmp", config.rtmp.port)?,
            rtsp: bind("rtsp", config.rtsp.port)?,
            webrtc: udp,
            webrtc_tcp: tcp,
        })
    }
}

impl Shared {
    /// Builds the shared state around started workers. Spawns nothing: the
    /// caller starts the background tasks (see [`run`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Arc<Config>,
        pool: Arc<WorkerPool>,
        watchdog: Watchdog,
        hooks: Arc<crate::hooks::Hooks>,
        admission: Arc<crate::admission::Admission>,
        stopping: watch::Receiver<bool>,
        test_hooks: bool,
    ) -> Result<Shared, ServerError> {
        Ok(Shared {
            admission,
            stopping,
            recordings: crate::record::Recordings::new(&config.record, hooks.clone()),
            hooks,
            counters: Default::default(),
            hub: Hub::new(config.hub()),
            sessions: Arc::new(SessionTable::default()),
            pool,
            watchdog,
            started: Instant::now(),
            test_hooks: test_hooks && cfg!(debug_assertions),
            feeds: crate::ts_feed::Feeds::new(&config.hls.dir).map_err(ServerError::HlsDir)?,
            cmaf_feeds: crate::cmaf_feed::CmafFeeds::default(),
            udp_ports: config
                .rtsp
                .udp_ports()
                .ok()
                .flatten()
                .map(|(a, b)| Arc::new(crate::rtsp::udp::UdpPorts::new(config.server.bind, a, b))),
            relays: crate::relay::Relays::new(&config),
            pushes: crate::relay::push::Pushes::new(&config),
            cluster: crate::cluster::Cluster::new(&config)
                .map_err(|e| ServerError::Cluster(e.to_string()))?,
            webrtc: None,
            playback: Default::default(),
            config,
        })
    }

    /// Starts one supervisor per proxy, spread over the media workers.
    pub fn start_relays(self: &Arc<Self>, dial: Arc<dyn crate::relay::Dial>) {
        self.relays.start(self, dial, None);
    }

    /// Starts the supervisors on `runtime` (in-process tests: their own,
    /// under a paused clock, with a dialer of in-process pipes).
    pub fn start_relays_on(
        self: &Arc<Self>,
        runtime: &tokio::runtime::Handle,
        dial: Arc<dyn crate::relay::Dial>,
    ) {
        self.relays.start(self, dial, Some(runtime.clone()));
    }

    /// Shared state for sessions run without listeners, on the caller's
    /// runtime: in-process tests (under a paused clock, over
    /// `tokio::io::duplex`) and embedders that accept connections
    /// themselves. One idle media worker, no hook delivery, no watchdog
    /// task. Sending `true` on the returned sender and calling
    /// `hub.shutdown()` is the server's shutdown.
    ///
    /// # Errors
    /// As [`run`]: a worker thread or `hls.dir` that cannot be set up.
    pub fn standalone(config: Config) -> Result<(Arc<Shared>, watch::Sender<bool>), ServerError> {
        let config = Arc::new(config);
        let pool = Arc::new(WorkerPool::start(1)?);
        let watchdog = Watchdog::new(
            pool.clone(),
            Duration::from_millis(config.server.watchdog_stall_ms),
        );
        let (hooks, _deliveries) = crate::hooks::Hooks::new(
            config.hook.clone(),
            config.auth.clone(),
            config.server.id.clone(),
        );
        let admission = crate::admission::start(&config);
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared::new(
            config, pool, watchdog, hooks, admission, stop_rx, false,
        )?);
        shared.recordings.attach(&shared);
        Ok((shared, stop_tx))
    }

    /// The drive loop's limits from the configuration.
    pub fn drive_limits(&self) -> crate::drive::Limits {
        crate::drive::Limits {
            write_stall: Duration::from_millis(self.config.server.write_stall_ms),
            linger: crate::io::LINGER,
        }
    }
}

/// Runs strom on already bound `listeners` until the future made by
/// `shutdown` resolves, then shuts down gracefully within
/// `server.shutdown_grace_secs`.
///
/// `shutdown` is called first thing, inside the main thread's runtime, so
/// signal handlers are in place before any listener accepts.
pub fn run<F>(
    listeners: Listeners,
    config: Config,
    options: RunOptions,
    shutdown: impl FnOnce() -> F,
) -> Result<(), ServerError>
where
    F: Future<Output = ()>,
{
    // The main thread only waits for the signal, on a small runtime of its own.
    let signal_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let shutdown = {
        let _entered = signal_rt.enter();
        shutdown()
    };
    let mut config = config;
    // Port 0 in the configuration: other nodes need the bound ones.
    if config.cluster.advertise.is_empty() {
        if let Ok(a) = listeners.rtmp.local_addr() {
            config.cluster.advertise = format!("127.0.0.1:{}", a.port());
        }
    }
    if config.cluster.advertise_http.is_empty() {
        if let Ok(a) = listeners.http.local_addr() {
            config.cluster.advertise_http = format!("127.0.0.1:{}", a.port());
        }
    }
    let config = Arc::new(config);
    // Before the sessions open descriptors: raise the limit, derive the caps.
    let admission = crate::admission::start(&config);
    let Listeners {
        http: http_listener,
        rtmp: rtmp_listener,
        rtsp: rtsp_listener,
        webrtc: webrtc_socket,
        webrtc_tcp,
    } = listeners;

    let workers = match config.server.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n,
    };
    let pool = Arc::new(WorkerPool::start(workers)?);
    let control = ControlPlane::start()?;
    let watchdog = Watchdog::new(
        pool.clone(),
        Duration::from_millis(config.server.watchdog_stall_ms),
    );
    let (hooks, notifications) = crate::hooks::Hooks::new(
        config.hook.clone(),
        config.auth.clone(),
        config.server.id.clone(),
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shared = Shared::new(
        config.clone(),
        pool.clone(),
        watchdog.clone(),
        hooks.clone(),
        admission,
        stop_rx.clone(),
        options.test_hooks,
    )?;
    if let Some(socket) = webrtc_socket {
        let webrtc =
            crate::webrtc::WebRtc::new(&socket, webrtc_tcp.as_ref(), config.webrtc.clone())
                .map_err(ServerError::WebRtc)?;
        crate::webrtc::udp::start(webrtc.clone(), socket, &pool.pick().handle, stop_rx.clone());
        shared.webrtc = Some(webrtc);
    }
    let shared = Arc::new(shared);
    if let (Some(webrtc), Some(tcp)) = (shared.webrtc.clone(), webrtc_tcp) {
        crate::webrtc::tcp::start(tcp, shared.clone(), webrtc);
    }

    shared.recordings.attach(&shared);
    control.handle().spawn(watchdog.run());
    control.handle().spawn(crate::record::watch(shared.clone()));
    if !config.hls.on_demand {
        control
            .handle()
            .spawn(crate::ts_feed::package_every_stream(shared.clone()));
    }
    control.handle().spawn(crate::hooks::run_events(
        hooks.clone(),
        shared.hub.clone(),
        notifications,
    ));
    {
        let stats_source = shared.clone();
        control
            .handle()
            .spawn(crate::hooks::run_keepalive(hooks.clone(), move || {
                crate::http::statistics(&stats_source)
            }));
    }
    if let Ok(config_json) = serde_json::to_value(crate::http::redacted_config(&config)) {
        hooks.notify(crate::hooks::Notification::server_started(config_json));
    }
    let dial = Arc::new(crate::relay::TcpDial {
        send_buffer: shared.config.server.socket_send_buffer,
    });
    shared.start_relays(dial.clone());
    shared.pushes.start(&shared, dial, None);
    if let Some(cluster) = &shared.cluster {
        control
            .handle()
            .spawn(crate::cluster::run(cluster.clone(), shared.clone()));
    }
    let http_addr = spawn_listener(&control, http_listener, "http", {
        let (shared, stop) = (shared.clone(), stop_rx.clone());
        move |l| crate::http::serve(l, shared, stop)
    });
    let rtmp_addr = spawn_listener(&control, rtmp_listener, "rtmp", {
        let (shared, stop) = (shared.clone(), stop_rx.clone());
        move |l| crate::rtmp::listen(l, shared, stop)
    });
    let rtsp_addr = spawn_listener(&control, rtsp_listener, "rtsp", {
        let (shared, stop) = (shared.clone(), stop_rx.clone());
        move |l| crate::rtsp::listen(l, shared, stop)
    });
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        http = %http_addr,
        rtmp = %rtmp_addr,
        rtsp = %rtsp_addr,
        workers,
        test_hooks = shared.test_hooks,
        "strom started"
    );

    signal_rt.block_on(shutdown);

    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: no longer accepting"
    );
    let _ = stop_tx.send(true);
    shared.hub.shutdown();
    let deadline = Instant::now() + grace;
    while !shared.sessions.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = shared.sessions.len();
    if left > 0 {
        tracing::warn!(
            sessions = left,
            "grace period over: dropping the sessions still open"
        );
    }
    shared.recordings.flush(
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(2)),
    );
    control.stop();
    drop(shared);
    // Tasks that hold the shared state (an ended HLS feed's retention) see
    // `stopping` and end within moments; give them that, not the grace.
    let released = Instant::now() + Duration::from_millis(500);
    while Arc::strong_count(&pool) > 1 && Instant::now() < released {
        std::thread::sleep(Duration::from_millis(10));
    }
    match Arc::try_unwrap(pool) {
        Ok(pool) => pool.stop(),
        Err(_) => tracing::warn!("media workers still referenced at exit; leaving them to the OS"),
    }
    tracing::info!("strom stopped");
    Ok(())
}

/// Runs an accept loop for `listener` on the control plane; returns the
/// bound address for the log.
fn spawn_listener<F, Fut>(
    control: &ControlPlane,
    listener: TcpListener,
    name: &'static str,
    serve: F,
) -> String
where
    F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    control.handle().spawn(async move {
        match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => serve(l).await,
            Err(e) => {
                tracing::error!(error = %e, listener = name, "listener could not be registered")
            }
        }
    });
    addr
}

/// Registers SIGTERM and SIGINT handlers at once (call inside a runtime)
/// and returns a future that resolves when either arrives.
pub fn termination_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM received"),
                        _ = int.recv() => tracing::info!("SIGINT received"),
                    }
                }
                (term, int) => {
                    let e = term.err().or(int.err());
                    tracing::warn!(error = ?e, "cannot watch SIGTERM/SIGINT; falling back to Ctrl-C");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
