//! The proxies of a running server: those of `[[proxy]]` and those added
//! through the API (kept in the [store](super::store) so they survive a
//! restart), each with the switch that stops its supervisor.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use stream_core::StreamKey;
use tokio::sync::watch;

use super::launch::Launcher;
use super::store::Store;
use super::{Dial, Proxy, PullUrl, Status};
use crate::config::ProxyConfig;
use crate::server::Shared;
use crate::session::lock;

/// Where a proxy was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `[[proxy]]` in the configuration: changed there, not through the API.
    Config,
    /// Added through the API; kept under `state.dir`.
    Api,
    /// Made from a `[[proxy]]` stream pattern when a player asked; removed
    /// when it goes idle.
    Pattern,
    /// A cluster edge: made when a player asked for a stream another node
    /// owns; follows the owner; removed when it goes idle.
    Cluster,
}

/// Why a proxy cannot be added or removed.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The app or stream name is not valid.
    #[error("bad stream name: {0}")]
    Name(String),
    /// The URL cannot be pulled.
    #[error(transparent)]
    Url(#[from] super::UrlError),
    /// Another proxy pulls this name.
    #[error("{0} is already pulled by a proxy")]
    Pulled(StreamKey),
    /// A publisher holds this name.
    #[error("{0} is being published; a proxy cannot take its name")]
    Published(StreamKey),
    /// No proxy of this name.
    #[error("no proxy pulls {0}")]
    NotFound(StreamKey),
    /// Declared in the configuration file.
    #[error("{0} is declared in the configuration file; remove it there")]
    Declared(StreamKey),
    /// The list could not be saved: nothing changed.
    #[error("the proxy list cannot be saved: {0}")]
    Store(std::io::Error),
}

struct Entry {
    proxy: Arc<Proxy>,
    config: ProxyConfig,
    origin: Origin,
    stop: watch::Sender<bool>,
    /// The address whose player made it from a pattern.
    made_for: Option<IpAddr>,
}

/// A `[[proxy]]` whose stream is a pattern.
struct Pattern {
    regex: regex::Regex,
    config: ProxyConfig,
}

impl Pattern {
    /// The proxy for `key`, if it matches: `$1`, `${name}` … expanded in the URL.
    fn instantiate(&self, key: &StreamKey) -> Option<ProxyConfig> {
        if key.app != self.config.app {
            return None;
        }
        let caps = self.regex.captures(&key.stream)?;
        let mut url = String::new();
        caps.expand(&self.config.url, &mut url);
        Some(ProxyConfig {
            stream: key.stream.clone(),
            url,
            on_demand: true,
            ..self.config.clone()
        })
    }
}

/// Every proxy of the server.
#[derive(Default)]
pub struct Relays {
    entries: Mutex<Vec<Entry>>,
    launcher: Mutex<Option<Launcher>>,
    store: Option<Store>,
    patterns: Vec<Pattern>,
    max_pattern_proxies: usize,
    max_pattern_proxies_per_ip: usize,
}

impl std::fmt::Debug for Relays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relays")
            .field("proxies", &lock(&self.entries).len())
            .finish()
    }
}

impl Relays {
    /// The proxies of `[[proxy]]` (validated with the configuration) and
    /// those kept under `state.dir`.
    pub fn new(config: &crate::config::Config) -> Relays {
        let (store, kept) = match config.state.dir.as_str() {
            "" => (None, Vec::new()),
            dir => {
                let (store, kept) = Store::open(dir);
                (Some(store), kept)
            }
        };
        let patterns = config
            .proxy
            .iter()
            .filter_map(|p| {
                let pattern = p.stream.strip_prefix('~')?;
                let regex = crate::config::stream_pattern(pattern).ok()?;
                Some(Pattern {
                    regex,
                    config: p.clone(),
                })
            })
            .collect();
        let relays = Relays {
            store,
            patterns,
            max_pattern_proxies: config.relay.max_pattern_proxies,
            max_pattern_proxies_per_ip: config.relay.max_pattern_proxies_per_ip,
            ..Relays::default()
        };
        for p in config.proxy.iter().filter(|p| !p.stream.starts_with('~')) {
            if let Err(e) = relays.insert(p.clone(), Origin::Config) {
                tracing::error!(stream = %format!("{}/{}", p.app, p.stream), error = %e, "[[proxy]] not started");
            }
        }
        for p in kept {
            if let Err(e) = relays.insert(p.clone(), Origin::Api) {
                tracing::warn!(stream = %format!("{}/{}", p.app, p.stream), error = %e, "kept proxy not started");
            }
        }
        relays
    }

    /// Starts every supervisor, and those of proxies added later, with
    /// `dial` on `runtime` (`None`: spread over the media workers).
    pub fn start(
        &self,
        shared: &Arc<Shared>,
        dial: Arc<dyn Dial>,
        runtime: Option<tokio::runtime::Handle>,
    ) {
        let launcher = Launcher::new(shared, dial, runtime);
        // Lock order everywhere: launcher, then entries.
        let mut slot = lock(&self.launcher);
        for e in lock(&self.entries).iter() {
            launch(&launcher, &e.proxy, e.stop.subscribe());
        }
        *slot = Some(launcher);
    }

    /// Adds a proxy through the API: checked, saved, then started.
    ///
    /// # Errors
    /// [`AddError`]: a bad name or URL, a name pulled or published
    /// already, or a list that cannot be saved.
    pub fn add(&self, shared: &Shared, config: ProxyConfig) -> Result<Status, AddError> {
        let key = StreamKey::parse(config.app.clone(), config.stream.clone())
            .map_err(|e| AddError::Name(e.to_string()))?;
        if shared
            .hub
            .stream(&key)
            .is_some_and(|s| s.publisher.is_some())
            && !self.pulls(&key)
        {
            return Err(AddError::Published(key));
        }
        self.insert(config, Origin::Api)?;
        if let Err(e) = self.save() {
            self.forget(&key);
            return Err(AddError::Store(e));
        }
        let launcher = lock(&self.launcher);
        let entries = lock(&self.entries);
        let Some(e) = entries.iter().find(|e| e.proxy.key == key) else {
            return Err(AddError::NotFound(key));
        };
        if let Some(l) = launcher.as_ref() {
            launch(l, &e.proxy, e.stop.subscribe());
        }
        tracing::info!(stream = %key, upstream = %e.proxy.url(), "proxy added through the API");
        Ok(e.proxy.status(e.origin))
    }

    /// Removes a proxy added through the API: its supervisor stops and the
    /// name is free at once (the stream ends, its players are told).
    ///
    /// # Errors
    /// [`AddError::NotFound`], [`AddError::Declared`] or [`AddError::Store`].
    pub fn remove(&self, shared: &Shared, key: &StreamKey) -> Result<(), AddError> {
        match self.origin(key) {
            None => return Err(AddError::NotFound(key.clone())),
            Some(Origin::Config | Origin::Pattern | Origin::Cluster) => {
                return Err(AddError::Declared(key.clone()))
            }
            Some(Origin::Api) => {}
        }
        let entry = self.forget(key);
        if let Err(e) = self.save() {
            if let Some(entry) = entry {
                lock(&self.entries).push(entry);
            }
            return Err(AddError::Store(e));
        }
        if let Some(entry) = entry {
            let _ = entry.stop.send(true);
        }
        shared.hub.close_stream(key);
        tracing::info!(stream = %key, "proxy removed through the API");
        Ok(())
    }

    /// Every proxy's figures.
    pub fn list(&self) -> Vec<Status> {
        lock(&self.entries)
            .iter()
            .map(|e| e.proxy.status(e.origin))
            .collect()
    }

    /// One proxy's figures.
    pub fn get(&self, key: &StreamKey) -> Option<Status> {
        lock(&self.entries)
            .iter()
            .find(|e| &e.proxy.key == key)
            .map(|e| e.proxy.status(e.origin))
    }

    /// A player (from `ip`) asks for `key`: wakes its on-demand proxy, or
    /// makes one from the first `[[proxy]]` pattern that matches, within
    /// `relay.max_pattern_proxies` in total and
    /// `relay.max_pattern_proxies_per_ip` for `ip`. `true` when a proxy
    /// pulls `key` (the player may wait for it).
    pub fn demand(&self, key: &StreamKey, ip: Option<IpAddr>) -> bool {
        let launcher = lock(&self.launcher);
        let mut entries = lock(&self.entries);
        if let Some(e) = entries.iter().find(|e| &e.proxy.key == key) {
            e.proxy.demand();
            return true;
        }
        let Some(config) = self.patterns.iter().find_map(|p| p.instantiate(key)) else {
            return false;
        };
        let made = entries.iter().filter(|e| e.origin == Origin::Pattern);
        let (total, for_ip) = made.fold((0, 0), |(t, i), e| {
            (t + 1, i + usize::from(ip.is_some() && e.made_for == ip))
        });
        if total >= self.max_pattern_proxies {
            tracing::warn!(stream = %key, max = self.max_pattern_proxies, "relay.max_pattern_proxies reached: not pulled");
            return false;
        }
        if for_ip >= self.max_pattern_proxies_per_ip {
            tracing::warn!(stream = %key, ip = ?ip, max = self.max_pattern_proxies_per_ip, "relay.max_pattern_proxies_per_ip reached: not pulled");
            return false;
        }
        let Ok(url) = PullUrl::parse(&config.url) else {
            tracing::warn!(stream = %key, "the pattern's URL does not parse for this name");
            return false;
        };
        let proxy = Arc::new(Proxy::new(key.clone(), url, true, config.rtsp_transport));
        let (stop, _) = watch::channel(false);
        if let Some(l) = launcher.as_ref() {
            launch(l, &proxy, stop.subscribe());
        }
        proxy.demand();
        tracing::info!(stream = %key, upstream = %proxy.url(), "proxy made from a pattern");
        entries.push(Entry {
            proxy,
            config,
            origin: Origin::Pattern,
            stop,
            made_for: ip,
        });
        true
    }

    /// A player (from `ip`) asks for `key`, which the cluster directory
    /// says another node owns: an edge proxy pulls it from `url` (made
    /// now, within `relay.max_pattern_proxies` in total, or woken). `false`
    /// when the cap refuses it or a non-edge proxy pulls `key` (it wins).
    pub fn demand_edge(&self, key: &StreamKey, url: PullUrl, ip: Option<IpAddr>) -> bool {
        let launcher = lock(&self.launcher);
        let mut entries = lock(&self.entries);
        if let Some(e) = entries.iter().find(|e| &e.proxy.key == key) {
            e.proxy.demand();
            return e.origin == Origin::Cluster;
        }
        let edges = entries
            .iter()
            .filter(|e| e.origin == Origin::Cluster)
            .count();
        if edges >= self.max_pattern_proxies {
            tracing::warn!(stream = %key, max = self.max_pattern_proxies, "relay.max_pattern_proxies reached: cluster edge not made");
            return false;
        }
        let mut proxy = Proxy::new(key.clone(), url, true, crate::config::RtspTransport::Tcp);
        proxy.edge = true;
        let proxy = Arc::new(proxy);
        let (stop, _) = watch::channel(false);
        if let Some(l) = launcher.as_ref() {
            launch(l, &proxy, stop.subscribe());
        }
        proxy.demand();
        tracing::info!(stream = %key, upstream = %proxy.url(), "cluster edge: pulling from the owner");
        entries.push(Entry {
            config: ProxyConfig {
                app: key.app.to_string(),
                stream: key.stream.to_string(),
                url: proxy.url().to_string(),
                on_demand: true,
                rtsp_transport: crate::config::RtspTransport::Tcp,
            },
            proxy,
            origin: Origin::Cluster,
            stop,
            made_for: ip,
        });
        true
    }

    /// Stops this node's cluster edge of `key`, if it runs one (a local
    /// publisher now owns the name); whether it did.
    pub fn end_edge(&self, key: &StreamKey) -> bool {
        let mut entries = lock(&self.entries);
        let Some(at) = entries
            .iter()
            .position(|e| &e.proxy.key == key && e.origin == Origin::Cluster)
        else {
            return false;
        };
        let _ = entries.remove(at).stop.send(true);
        true
    }

    /// The cluster edge of `key`, if this node runs one.
    pub fn edge(&self, key: &StreamKey) -> Option<Arc<Proxy>> {
        lock(&self.entries)
            .iter()
            .find(|e| &e.proxy.key == key && e.origin == Origin::Cluster)
            .map(|e| e.proxy.clone())
    }

    /// An idle proxy made from a pattern leaves the list (its supervisor
    /// then ends); `false` for every other proxy.
    pub(crate) fn retire(&self, proxy: &Arc<Proxy>) -> bool {
        let mut entries = lock(&self.entries);
        match entries.iter().position(|e| Arc::ptr_eq(&e.proxy, proxy)) {
            Some(at) if matches!(entries[at].origin, Origin::Pattern | Origin::Cluster) => {
                entries.remove(at);
                true
            }
            _ => false,
        }
    }

    /// Whether a proxy pulls `key`.
    pub fn pulls(&self, key: &StreamKey) -> bool {
        lock(&self.entries).iter().any(|e| &e.proxy.key == key)
    }

    fn origin(&self, key: &StreamKey) -> Option<Origin> {
        lock(&self.entries)
            .iter()
            .find(|e| &e.proxy.key == key)
            .map(|e| e.origin)
    }

    fn insert(&self, config: ProxyConfig, origin: Origin) -> Result<(), AddError> {
        let key = StreamKey::parse(config.app.clone(), config.stream.clone())
            .map_err(|e| AddError::Name(e.to_string()))?;
        let url = PullUrl::parse(&config.url)?;
        let mut entries = lock(&self.entries);
        if entries.iter().any(|e| e.proxy.key == key) {
            return Err(AddError::Pulled(key));
        }
        let (stop, _) = watch::channel(false);
        entries.push(Entry {
            proxy: Arc::new(Proxy::new(
                key,
                url,
                config.on_demand,
                config.rtsp_transport,
            )),
            config,
            origin,
            stop,
            made_for: None,
        });
        Ok(())
    }

    fn forget(&self, key: &StreamKey) -> Option<Entry> {
        let mut entries = lock(&self.entries);
        let at = entries.iter().position(|e| &e.proxy.key == key)?;
        Some(entries.remove(at))
    }

    /// Writes the API's proxies (those of the configuration stay there).
    fn save(&self) -> std::io::Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let kept: Vec<ProxyConfig> = lock(&self.entries)
            .iter()
            .filter(|e| e.origin == Origin::Api)
            .map(|e| e.config.clone())
            .collect();
        store.save(&kept)
    }
}

/// Starts `proxy`'s supervisor.
fn launch(launcher: &Launcher, proxy: &Arc<Proxy>, stop: watch::Receiver<bool>) {
    let span = tracing::info_span!("relay", proxy = %proxy.key);
    let proxy = proxy.clone();
    launcher.spawn(span, |shared, dial| {
        super::supervise(shared, proxy, dial, stop)
    });
}
