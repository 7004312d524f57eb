//! What the recording's unit tests share: track configurations and
//! scratch directories that go away with the test.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use fmp4::{CodecConfig, TrackConfig};

/// An H.264 track (id 1, 90 kHz) of `width` × `height`.
pub(crate) fn video(width: u32, height: u32) -> TrackConfig {
    TrackConfig {
        id: 1,
        timescale: 90_000,
        codec: CodecConfig::Avc {
            avcc: Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff, 0xe0, 0]),
        },
        width,
        height,
        channels: 0,
        sample_rate: 0,
    }
}

/// A stereo 48 kHz AAC track (id 2).
pub(crate) fn audio() -> TrackConfig {
    TrackConfig {
        id: 2,
        timescale: 48_000,
        codec: CodecConfig::Aac {
            asc: Bytes::from_static(&[0x11, 0x90]),
        },
        width: 0,
        height: 0,
        channels: 2,
        sample_rate: 48_000,
    }
}

/// An empty directory of this process for one test, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// `strom-{kind}-{pid}-{name}` under the system's temporary directory.
    pub(crate) fn new(kind: &str, name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("strom-{kind}-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        TempDir(dir)
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
