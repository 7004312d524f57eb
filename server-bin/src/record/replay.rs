//! TEMPORARY shim (branch `api` only, dropped at merge): the signature the
//! API calls; helper "play" implements replay.

use std::path::Path;
use std::sync::Arc;

use stream_core::StreamKey;

use super::RecordError;
use crate::server::Shared;

/// A replay that started.
#[derive(Debug, Clone)]
pub struct Replay {
    /// Duration of what is replayed (one pass), ms.
    pub duration_ms: u64,
}

/// Replays `file` (relative to `record.dir`) as the live stream `key`,
/// looping when `repeat`.
///
/// # Errors
/// Not implemented in the shim.
pub fn start_replay(
    _shared: &Arc<Shared>,
    _key: StreamKey,
    _file: &Path,
    _repeat: bool,
) -> Result<Replay, RecordError> {
    Err(RecordError::NothingRecorded)
}
