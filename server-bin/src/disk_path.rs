//! Where a stream's files go on disk: the one rule that turns publisher-
//! chosen names into path components, for HLS on disk (`ts_feed::disk`)
//! and recordings (`record`) alike.
//!
//! Stream names are already checked by `stream_core::check_name` (no empty,
//! `.` or `..` segment, no control or invisible characters); a directory
//! name is held to a stricter rule still, so that no name a publisher can
//! choose escapes the root, hides a file (a leading `.` is how strom names
//! its own sidecars and its catalogue) or carries bytes a file system or a
//! shell treats specially.

use std::path::{Path, PathBuf};
use stream_core::StreamKey;

/// Whether `part` may be one path component under a root strom writes:
/// 1 to [`stream_core::MAX_NAME_LEN`] bytes of ASCII letters, digits and
/// `-_.~@+=`, not starting with `.`.
pub fn safe_component(part: &str) -> bool {
    !part.is_empty()
        && !part.starts_with('.')
        && part.len() <= stream_core::MAX_NAME_LEN
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~@+=".contains(&b))
}

/// The directory of a stream's files under `root` (`root/app…/stream`, an
/// app's `/` making subdirectories), `None` when a part of its name is not a
/// [`safe_component`].
pub fn stream_dir(root: &Path, key: &StreamKey) -> Option<PathBuf> {
    let mut dir = root.to_path_buf();
    for part in key.app.split('/').chain([key.stream.as_str()]) {
        if !safe_component(part) {
            return None;
        }
        dir.push(part);
    }
    Some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_directories_under_the_root() {
        let root = Path::new("/r");
        assert_eq!(
            stream_dir(root, &StreamKey::new("live", "cam-1")),
            Some("/r/live/cam-1".into())
        );
        assert_eq!(
            stream_dir(root, &StreamKey::new("a/b", "s=1.x")),
            Some("/r/a/b/s=1.x".into())
        );
        let longest = "y".repeat(stream_core::MAX_NAME_LEN);
        assert!(stream_dir(root, &StreamKey::new("live", longest)).is_some());
    }

    #[test]
    fn unsafe_names_get_no_directory() {
        let root = Path::new("/r");
        let long = "y".repeat(stream_core::MAX_NAME_LEN + 1);
        for (app, stream) in [
            ("live", ".."),
            ("..", "x"),
            ("live", "."),
            ("live", ".hidden"),
            ("a/../b", "x"),
            ("a//b", "x"),
            ("live", "a b"),
            ("live", ""),
            ("l\\x", "s"),
            ("live", "a/b\0"),
            ("live", "é"),
            ("live", long.as_str()),
        ] {
            assert_eq!(
                stream_dir(root, &StreamKey::new(app, stream)),
                None,
                "{app}/{stream}"
            );
        }
    }
}
