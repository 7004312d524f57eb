//! The pushes of a running server: those of `[[push]]` and those added
//! through the API (kept in `state.dir/pushes.json` so they survive a
//! restart), each with the switch that stops its supervisor.

use std::sync::{Arc, Mutex};

use stream_core::StreamKey;
use tokio::sync::watch;

use super::{Push, PushStatus};
use crate::config::PushConfig;
use crate::relay::launch::Launcher;
use crate::relay::store::Store;
use crate::relay::{Dial, Origin, PullUrl};
use crate::server::Shared;
use crate::session::lock;

/// The file of the pushes added through the API, under `state.dir`.
const FILE: &str = "pushes.json";

/// Why a push cannot be added or removed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The stream name, URL or transport cannot be used.
    #[error("bad push: {0}")]
    Invalid(String),
    /// The same stream is pushed to the same URL already.
    #[error("{0} is already pushed to this URL")]
    Exists(StreamKey),
    /// No push of this id.
    #[error("no push {0}")]
    NotFound(String),
    /// Declared in the configuration file.
    #[error("push {0} is declared in the configuration file; remove it there")]
    Declared(String),
    /// The list could not be saved: nothing changed.
    #[error("the push list cannot be saved: {0}")]
    Store(std::io::Error),
}

struct Entry {
    push: Arc<Push>,
    config: PushConfig,
    origin: Origin,
    stop: watch::Sender<bool>,
}

/// Every push of the server.
#[derive(Default)]
pub struct Pushes {
    entries: Mutex<Vec<Entry>>,
    launcher: Mutex<Option<Launcher>>,
    store: Option<Store>,
}

impl std::fmt::Debug for Pushes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pushes")
            .field("pushes", &lock(&self.entries).len())
            .finish()
    }
}

impl Pushes {
    /// The pushes of `[[push]]` (validated with the configuration) and
    /// those kept under `state.dir`.
    pub fn new(config: &crate::config::Config) -> Pushes {
        let (store, kept) = match config.state.dir.as_str() {
            "" => (None, Vec::new()),
            dir => {
                let (store, kept) = Store::open_file::<PushConfig>(dir, FILE);
                (Some(store), kept)
            }
        };
        let pushes = Pushes {
            store,
            ..Pushes::default()
        };
        for (p, origin) in config
            .push
            .iter()
            .map(|p| (p, Origin::Config))
            .chain(kept.iter().map(|p| (p, Origin::Api)))
        {
            if let Err(e) = pushes.insert(p.clone(), origin) {
                tracing::error!(stream = %format!("{}/{}", p.app, p.stream), error = %e, "push not started");
            }
        }
        pushes
    }

    /// Starts every supervisor, and those of pushes added later, with
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
            launch(&launcher, &e.push, e.stop.subscribe());
        }
        *slot = Some(launcher);
    }

    /// Adds a push through the API: checked, saved, then started.
    ///
    /// # Errors
    /// [`PushError`]: a bad name, URL or transport, the same push already,
    /// or a list that cannot be saved.
    pub fn add(&self, config: PushConfig) -> Result<PushStatus, PushError> {
        let (key, id) = self.insert(config, Origin::Api)?;
        if let Err(e) = self.save() {
            self.forget(&key, &id);
            return Err(PushError::Store(e));
        }
        let launcher = lock(&self.launcher);
        let entries = lock(&self.entries);
        let Some(e) = entries
            .iter()
            .find(|e| e.push.key == key && e.push.id == id)
        else {
            return Err(PushError::NotFound(id));
        };
        if let Some(l) = launcher.as_ref() {
            launch(l, &e.push, e.stop.subscribe());
        }
        tracing::info!(stream = %e.push.key, target = %e.push.url, "push added through the API");
        Ok(e.push.status(e.origin))
    }

    /// Removes a push added through the API: its supervisor stops and its
    /// connection to the target closes (the source stream is not touched).
    ///
    /// # Errors
    /// [`PushError::NotFound`], [`PushError::Declared`] or [`PushError::Store`].
    pub fn remove(&self, key: &StreamKey, id: &str) -> Result<(), PushError> {
        let origin = lock(&self.entries)
            .iter()
            .find(|e| &e.push.key == key && e.push.id == id)
            .map(|e| e.origin);
        match origin {
            None => return Err(PushError::NotFound(format!("{key}/{id}"))),
            Some(Origin::Api) => {}
            Some(_) => return Err(PushError::Declared(format!("{key}/{id}"))),
        }
        let entry = self.forget(key, id);
        if let Err(e) = self.save() {
            if let Some(entry) = entry {
                lock(&self.entries).push(entry);
            }
            return Err(PushError::Store(e));
        }
        if let Some(entry) = entry {
            let _ = entry.stop.send(true);
        }
        tracing::info!(stream = %key, push = id, "push removed through the API");
        Ok(())
    }

    /// Every push's figures.
    pub fn list(&self) -> Vec<PushStatus> {
        lock(&self.entries)
            .iter()
            .map(|e| e.push.status(e.origin))
            .collect()
    }

    /// One push's figures.
    pub fn get(&self, key: &StreamKey, id: &str) -> Option<PushStatus> {
        lock(&self.entries)
            .iter()
            .find(|e| &e.push.key == key && e.push.id == id)
            .map(|e| e.push.status(e.origin))
    }

    /// Checks and lists a push; returns its source and id.
    fn insert(&self, config: PushConfig, origin: Origin) -> Result<(StreamKey, String), PushError> {
        crate::config::check_push(&config)
            .map_err(|(field, why)| PushError::Invalid(format!("{field}: {why}")))?;
        let key = StreamKey::parse(config.app.clone(), config.stream.clone())
            .map_err(|e| PushError::Invalid(e.to_string()))?;
        let url = PullUrl::parse(&config.url).map_err(|e| PushError::Invalid(e.to_string()))?;
        let push = Arc::new(Push::new(key.clone(), url));
        let id = push.id.clone();
        let mut entries = lock(&self.entries);
        if entries.iter().any(|e| e.push.key == key && e.push.id == id) {
            return Err(PushError::Exists(key));
        }
        let (stop, _) = watch::channel(false);
        entries.push(Entry {
            push,
            config,
            origin,
            stop,
        });
        Ok((key, id))
    }

    fn forget(&self, key: &StreamKey, id: &str) -> Option<Entry> {
        let mut entries = lock(&self.entries);
        let at = entries
            .iter()
            .position(|e| &e.push.key == key && e.push.id == id && e.origin == Origin::Api)?;
        Some(entries.remove(at))
    }

    /// Writes the API's pushes (those of the configuration stay there).
    fn save(&self) -> std::io::Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let kept: Vec<PushConfig> = lock(&self.entries)
            .iter()
            .filter(|e| e.origin == Origin::Api)
            .map(|e| e.config.clone())
            .collect();
        store.save(&kept)
    }
}

/// Starts `push`'s supervisor.
fn launch(launcher: &Launcher, push: &Arc<Push>, stop: watch::Receiver<bool>) {
    let span = tracing::info_span!("push", stream = %push.key, target = %push.url);
    let push = push.clone();
    launcher.spawn(span, |shared, dial| {
        super::supervise(shared, push, dial, stop)
    });
}
