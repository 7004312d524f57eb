//! The catalogue of recordings: one row per file in an embedded database
//! (redb, `{record.dir}/.catalogue.redb`), so listing a month of a stream
//! reads that month's rows and nothing else, however long the server ran.
//!
//! Why redb: pure Rust (the README's `cargo run` needs no C toolchain for
//! SQLite), ACID with copy-on-write pages (a `kill -9` leaves the last
//! committed state), and range scans on a composite key are what listing
//! needs. The files stay the truth: a lost or unreadable catalogue is
//! rebuilt from them (`record/recover.rs`).
//!
//! Tables: `files` keyed (`"app/stream"`, start unix ms) → [`FileEntry`]
//! as JSON; `by_time` keyed (start unix ms, `"app/stream"`) → nothing, for
//! retention's oldest-first walk across streams.
//!
//! Every call does disk IO: call it from a writer thread, a retention
//! thread or `spawn_blocking`, never on a media worker or the control
//! plane's event loop.

use std::path::Path;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

const FILES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("files");
const BY_TIME: TableDefinition<(u64, &str), ()> = TableDefinition::new("by_time");

/// Longest a file can span: `record.segment_secs` is at most a day and a
/// file ends at the first keyframe after it; a listing looks this far back
/// for files that started before its range.
pub const MAX_FILE_MS: u64 = 26 * 3600 * 1000;

/// One recorded file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// End of the recorded media, unix ms (the start while nothing is written).
    pub end_ms: u64,
    /// Bytes of the file (what is complete: init and whole fragments).
    pub bytes: u64,
    /// Path relative to `record.dir` (`app/stream/YYYY-MM-DD/HH-MM-SS.mp4`).
    pub path: String,
    /// Still being written (true after a crash until recovery closed it).
    pub open: bool,
    /// Codecs, `"h264+aac"`.
    pub tracks: String,
    /// Fragments in the file.
    pub fragments: u64,
}

/// A row: the stream (`"app/stream"`), the file's start (unix ms), the rest.
pub type Row = (String, u64, FileEntry);

/// Why the catalogue failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The database (open, transaction, table, storage, commit).
    #[error("catalogue: {0}")]
    Db(#[from] redb::Error),
    /// A row that does not decode (written by another version).
    #[error("catalogue row: {0}")]
    Row(#[from] serde_json::Error),
}

fn err<E: Into<redb::Error>>(e: E) -> CatalogueError {
    CatalogueError::Db(e.into())
}

/// The catalogue (cheap to share: `Arc` it).
#[derive(Debug)]
pub struct Catalogue {
    db: Database,
}

impl Catalogue {
    /// Opens (or creates) the catalogue at `path`.
    ///
    /// # Errors
    /// The file cannot be opened or is not a catalogue (the caller moves it
    /// aside and rebuilds).
    pub fn open(path: &Path) -> Result<Catalogue, CatalogueError> {
        let db = Database::create(path).map_err(err)?;
        let tx = db.begin_write().map_err(err)?;
        tx.open_table(FILES).map_err(err)?;
        tx.open_table(BY_TIME).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Catalogue { db })
    }

    /// Inserts or replaces rows in one transaction. `durable`: synced to
    /// disk before returning (file opened or closed); otherwise the next
    /// durable commit carries it (progress of an open file, which recovery
    /// can rebuild anyway).
    ///
    /// # Errors
    /// The database failed; nothing of the batch was written.
    pub fn upsert(&self, rows: &[Row], durable: bool) -> Result<(), CatalogueError> {
        let mut tx = self.db.begin_write().map_err(err)?;
        if !durable {
            tx.set_durability(Durability::None).map_err(err)?;
        }
        {
            let mut files = tx.open_table(FILES).map_err(err)?;
            let mut by_time = tx.open_table(BY_TIME).map_err(err)?;
            for (stream, start, entry) in rows {
                let value = serde_json::to_vec(entry)?;
                files
                    .insert((stream.as_str(), *start), value.as_slice())
                    .map_err(err)?;
                by_time.insert((*start, stream.as_str()), ()).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Removes rows (durably); absent rows are ignored.
    ///
    /// # Errors
    /// The database failed; nothing was removed.
    pub fn remove(&self, keys: &[(String, u64)]) -> Result<(), CatalogueError> {
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut files = tx.open_table(FILES).map_err(err)?;
            let mut by_time = tx.open_table(BY_TIME).map_err(err)?;
            for (stream, start) in keys {
                files.remove((stream.as_str(), *start)).map_err(err)?;
                by_time.remove((*start, stream.as_str())).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// One row.
    ///
    /// # Errors
    /// The database failed or the row does not decode.
    pub fn get(&self, stream: &str, start_ms: u64) -> Result<Option<FileEntry>, CatalogueError> {
        let tx = self.db.begin_read().map_err(err)?;
        let files = tx.open_table(FILES).map_err(err)?;
        match files.get((stream, start_ms)).map_err(err)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
            None => Ok(None),
        }
    }

    /// The files of `stream` (`"app/stream"`) that overlap
    /// `[from_ms, to_ms)`, oldest first.
    ///
    /// # Errors
    /// The database failed or a row does not decode.
    pub fn list(
        &self,
        stream: &str,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<Vec<(u64, FileEntry)>, CatalogueError> {
        let tx = self.db.begin_read().map_err(err)?;
        let files = tx.open_table(FILES).map_err(err)?;
        let mut out = Vec::new();
        let lo = (stream, from_ms.saturating_sub(MAX_FILE_MS));
        for row in files.range(lo..(stream, to_ms)).map_err(err)? {
            let (k, v) = row.map_err(err)?;
            let entry: FileEntry = serde_json::from_slice(v.value())?;
            if entry.end_ms >= from_ms || entry.open {
                out.push((k.value().1, entry));
            }
        }
        Ok(out)
    }

    /// The `n` oldest files of every stream.
    ///
    /// # Errors
    /// The database failed or a row does not decode.
    pub fn oldest(&self, n: usize) -> Result<Vec<Row>, CatalogueError> {
        let tx = self.db.begin_read().map_err(err)?;
        let by_time = tx.open_table(BY_TIME).map_err(err)?;
        let files = tx.open_table(FILES).map_err(err)?;
        let mut out = Vec::new();
        for row in by_time.iter().map_err(err)?.take(n) {
            let (k, _) = row.map_err(err)?;
            let (start, stream) = k.value();
            if let Some(v) = files.get((stream, start)).map_err(err)? {
                out.push((
                    stream.to_string(),
                    start,
                    serde_json::from_slice(v.value())?,
                ));
            }
        }
        Ok(out)
    }

    /// Every row (recovery, retention's total; O(rows)).
    ///
    /// # Errors
    /// The database failed or a row does not decode.
    pub fn all(&self) -> Result<Vec<Row>, CatalogueError> {
        let tx = self.db.begin_read().map_err(err)?;
        let files = tx.open_table(FILES).map_err(err)?;
        let mut out = Vec::new();
        for row in files.iter().map_err(err)? {
            let (k, v) = row.map_err(err)?;
            let (stream, start) = k.value();
            out.push((
                stream.to_string(),
                start,
                serde_json::from_slice(v.value())?,
            ));
        }
        Ok(out)
    }

    /// Bytes of every recorded file.
    ///
    /// # Errors
    /// As [`Catalogue::all`].
    pub fn total_bytes(&self) -> Result<u64, CatalogueError> {
        Ok(self.all()?.iter().map(|r| r.2.bytes).sum())
    }

    /// Rows still marked open (after a crash: to be repaired).
    ///
    /// # Errors
    /// As [`Catalogue::all`].
    pub fn open_files(&self) -> Result<Vec<Row>, CatalogueError> {
        Ok(self.all()?.into_iter().filter(|r| r.2.open).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(end_ms: u64, path: &str) -> FileEntry {
        FileEntry {
            end_ms,
            bytes: 1000,
            path: path.into(),
            open: false,
            tracks: "h264+aac".into(),
            fragments: 10,
        }
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("strom-cat-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(".catalogue.redb")
    }

    #[test]
    fn lists_the_files_overlapping_a_range_of_one_stream() {
        let path = temp("list");
        let cat = Catalogue::open(&path).unwrap();
        let h = 3_600_000u64;
        let rows: Vec<Row> = (0..48)
            .flat_map(|i| {
                ["live/a", "live/b"].map(|s| (s.to_string(), i * h, entry(i * h + h - 1, s)))
            })
            .collect();
        cat.upsert(&rows, true).unwrap();
        let got = cat.list("live/a", 10 * h + 5, 12 * h).unwrap();
        let starts: Vec<u64> = got.iter().map(|r| r.0).collect();
        assert_eq!(starts, vec![10 * h, 11 * h]);
        assert!(got.iter().all(|r| r.1.path == "live/a"));
        assert!(cat.list("live/c", 0, u64::MAX).unwrap().is_empty());
        assert!(cat.list("live/a", 100 * h, 101 * h).unwrap().is_empty());

        let oldest = cat.oldest(3).unwrap();
        assert_eq!(oldest.len(), 3);
        assert_eq!((oldest[0].1, oldest[1].1, oldest[2].1), (0, 0, h));
        assert_eq!(cat.total_bytes().unwrap(), 96 * 1000);

        cat.remove(&[("live/a".into(), 0), ("live/b".into(), 0)])
            .unwrap();
        assert_eq!(cat.oldest(1).unwrap()[0].1, h);
        assert_eq!(cat.get("live/a", 0).unwrap(), None);
        assert_eq!(
            cat.get("live/a", h).unwrap().map(|e| e.end_ms),
            Some(2 * h - 1)
        );
        drop(cat);

        // Reopened, open rows are what recovery repairs.
        let cat = Catalogue::open(&path).unwrap();
        let mut open = entry(5, "live/a/x.mp4");
        open.open = true;
        cat.upsert(&[("live/a".into(), 1, open.clone())], false)
            .unwrap();
        assert_eq!(cat.open_files().unwrap(), vec![("live/a".into(), 1, open)]);
    }

    #[test]
    fn garbage_is_not_a_catalogue() {
        let path = temp("garbage");
        std::fs::write(&path, b"not a database at all, just bytes").unwrap();
        assert!(Catalogue::open(&path).is_err());
    }
}
