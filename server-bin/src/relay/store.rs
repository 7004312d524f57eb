//! The proxies and pushes added through the API, kept under `state.dir` so
//! they survive a restart (`proxies.json`, `pushes.json`: one [`Store`] per
//! list).
//!
//! Crash-safe by write-then-rename: the new list is written to a temporary
//! file, synced, and renamed over the old one (atomic on POSIX), then the
//! directory is synced; a `kill -9` at any point leaves the old list or the
//! new one, never a mix. A file that cannot be read is moved aside
//! (`<file>.unreadable-<unix seconds>`), logged as an error and
//! counted (`strom_state_unreadable_total`), and the server starts without it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::ProxyConfig;

/// Files moved aside because they could not be read, since start.
pub static UNREADABLE: AtomicU64 = AtomicU64::new(0);

/// The proxies' file.
const PROXIES: &str = "proxies.json";

/// One kept list: a file under `state.dir`.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    file: &'static str,
}

impl Store {
    /// Opens `dir` (created on the first save) and reads the kept proxies.
    pub fn open(dir: &str) -> (Store, Vec<ProxyConfig>) {
        Store::open_file(dir, PROXIES)
    }

    /// Opens the list kept in `dir/file` and reads it.
    pub fn open_file<T: serde::de::DeserializeOwned>(
        dir: &str,
        file: &'static str,
    ) -> (Store, Vec<T>) {
        let store = Store {
            dir: PathBuf::from(dir),
            file,
        };
        let kept = store.load();
        (store, kept)
    }

    fn path(&self) -> PathBuf {
        self.dir.join(self.file)
    }

    fn load<T: serde::de::DeserializeOwned>(&self) -> Vec<T> {
        let path = self.path();
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "kept list cannot be read; starting without it");
                UNREADABLE.fetch_add(1, Ordering::Relaxed);
                return Vec::new();
            }
        };
        match serde_json::from_slice::<Vec<T>>(&text) {
            Ok(list) => list,
            Err(e) => {
                let aside = self
                    .dir
                    .join(format!("{}.unreadable-{}", self.file, unix_secs()));
                let moved = std::fs::rename(&path, &aside);
                tracing::error!(path = %path.display(), error = %e, moved_to = %aside.display(), moved = moved.is_ok(), "kept list is unreadable: moved aside, starting without it");
                UNREADABLE.fetch_add(1, Ordering::Relaxed);
                Vec::new()
            }
        }
    }

    /// Replaces the kept list, atomically.
    ///
    /// # Errors
    /// The directory, the temporary file, the sync or the rename failed;
    /// the old list is then intact.
    pub fn save<T: serde::Serialize>(&self, list: &[T]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!("{}.tmp", self.file));
        let body = serde_json::to_vec_pretty(list).map_err(std::io::Error::other)?;
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.path())?;
        sync_dir(&self.dir);
        Ok(())
    }
}

/// Makes the rename durable (best effort: not every filesystem allows it).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(stream: &str) -> ProxyConfig {
        ProxyConfig {
            app: "live".into(),
            stream: stream.into(),
            url: format!("rtmp://10.0.0.5/live/{stream}"),
            on_demand: false,
            rtsp_transport: Default::default(),
        }
    }

    fn dir(name: &str) -> String {
        let d = std::env::temp_dir().join(format!("strom-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d.to_string_lossy().into_owned()
    }

    #[test]
    fn a_saved_list_is_read_back() {
        let d = dir("roundtrip");
        let (store, kept) = Store::open(&d);
        assert!(kept.is_empty());
        store.save(&[proxy("a"), proxy("b")]).unwrap();
        store.save(&[proxy("b")]).unwrap();
        assert_eq!(Store::open(&d).1, vec![proxy("b")]);
        // No temporary file is left behind.
        assert!(!Path::new(&d).join("proxies.json.tmp").exists());
    }

    #[test]
    fn an_interrupted_save_leaves_the_old_list() {
        let d = dir("interrupted");
        let (store, _) = Store::open(&d);
        store.save(&[proxy("a")]).unwrap();
        // A crash after writing part of the temporary file, before the rename.
        std::fs::write(Path::new(&d).join("proxies.json.tmp"), b"[{\"app\": \"li").unwrap();
        assert_eq!(Store::open(&d).1, vec![proxy("a")]);
    }

    #[test]
    fn an_unreadable_list_is_moved_aside_and_counted() {
        let d = dir("broken");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(Path::new(&d).join("proxies.json"), b"not json").unwrap();
        let before = UNREADABLE.load(Ordering::Relaxed);
        let (store, kept) = Store::open(&d);
        assert!(kept.is_empty());
        assert!(UNREADABLE.load(Ordering::Relaxed) > before);
        let aside = std::fs::read_dir(&d)
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("proxies.json.unreadable-")
            });
        assert!(aside, "moved aside");
        // And the server can keep a new list.
        store.save(&[proxy("c")]).unwrap();
        assert_eq!(Store::open(&d).1, vec![proxy("c")]);
    }
}
