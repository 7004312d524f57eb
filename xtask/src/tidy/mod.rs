//! `cargo xtask tidy`: the codebase's own rules, checked as a test
//! (rust-analyzer's idea). Fast: it reads `cargo metadata --no-deps` and the
//! source text, and builds nothing.
//!
//! - **dependencies**: codec crates ([`CODEC_CRATES`]) depend on neither
//!   tokio nor stream-core nor server-bin; stream-core on no codec crate
//!   and not on server-bin (normal and build dependencies).
//! - **file-length**: no `.rs` file of a workspace crate or of `fuzz/` over
//!   [`source::MAX_LINES`] lines.
//! - **unwrap**: no `unwrap`/`expect` in the `src/` of a library crate
//!   ([`LIBRARY_CRATES`]) outside test code (`tests.rs`, `*_tests.rs`,
//!   modules declared under `#[cfg(test)]`, `#[cfg(test)]` items), unless
//!   the line says `// tidy: allow(unwrap) <reason>`.
//! - **missing-docs**: every library crate's root has
//!   `#![deny(missing_docs)]` (or `warn`, which clippy's `-D warnings` makes
//!   an error): every public item documented.
//!
//! Each violation is printed as `path:line: rule: detail`.

mod deps;
mod source;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Codec crates: sans-IO, reusable alone (rule **dependencies**). A new
/// codec crate is added here.
pub const CODEC_CRATES: &[&str] = &[
    "codec",
    "rtmp-proto",
    "rtsp-proto",
    "flv-mux",
    "hls-seg",
    "etcd-json",
    "audio-transcode",
    "fmp4",
    "ws-proto",
];

/// The media model crate.
pub const CORE_CRATE: &str = "stream-core";

/// The server crate (library and `strom` binary).
pub const SERVER_CRATE: &str = "server-bin";

/// Library crates: no `unwrap`/`expect` outside tests, public items documented.
pub const LIBRARY_CRATES: &[&str] = &[
    "codec",
    "rtmp-proto",
    "rtsp-proto",
    "flv-mux",
    "hls-seg",
    "etcd-json",
    "audio-transcode",
    "fmp4",
    "ws-proto",
    "stream-core",
    "server-bin",
];

/// Folders outside the workspace members whose sources are checked too.
const EXTRA_DIRS: &[&str] = &["fuzz"];

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The file, relative to the workspace root, `/`-separated.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// The rule's name.
    pub rule: &'static str,
    /// What is wrong and what to do.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.path, self.line, self.rule, self.detail
        )
    }
}

/// What a run checked and found.
pub struct Report {
    /// Every violation, sorted by path and line.
    pub violations: Vec<Violation>,
    /// Source files read.
    pub files: usize,
}

/// Checks the workspace that `cargo metadata` finds from the current folder.
pub fn run() -> Result<Report, String> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let json = String::from_utf8_lossy(&out.stdout);
    let root = serde_json::from_str::<serde_json::Value>(&json)
        .ok()
        .and_then(|m| m["workspace_root"].as_str().map(PathBuf::from))
        .ok_or("cargo metadata output: no workspace_root")?;
    let packages = deps::parse_metadata(&json)?;

    let mut violations = deps::check_deps(&packages, &root, |p| std::fs::read_to_string(p).ok());
    let mut dirs: Vec<(PathBuf, Option<&deps::Package>)> = packages
        .iter()
        .filter_map(|p| Some((p.manifest.parent()?.to_path_buf(), Some(p))))
        .collect();
    dirs.extend(EXTRA_DIRS.iter().map(|d| (root.join(d), None)));
    let mut files = 0;
    for (dir, package) in dirs {
        let sources = rust_files(&dir)?;
        files += sources.len();
        let library = package.filter(|p| LIBRARY_CRATES.contains(&p.name.as_str()));
        let texts = sources
            .into_iter()
            .map(|f| {
                let text =
                    std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
                Ok((f, text))
            })
            .collect::<Result<Vec<_>, String>>()?;
        for (file, text) in &texts {
            violations.extend(source::check_length(&relative(&root, file), text));
        }
        if library.is_some() {
            violations.extend(check_library(&root, &dir, &texts));
        }
    }
    violations.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
    Ok(Report { violations, files })
}

/// The library-crate rules on the sources of the crate at `dir`.
fn check_library(root: &Path, dir: &Path, texts: &[(PathBuf, String)]) -> Vec<Violation> {
    let src = dir.join("src");
    let test_modules: BTreeSet<PathBuf> = texts
        .iter()
        .flat_map(|(f, text)| source::test_modules(f, text))
        .collect();
    let is_test = |f: &Path| {
        let rel = relative(root, f);
        source::is_test_path(&rel)
            || test_modules
                .iter()
                .any(|m| f == m || (m.extension().is_none() && f.starts_with(m)))
    };
    let mut out = Vec::new();
    for (file, text) in texts {
        if !file.starts_with(&src) || is_test(file) {
            continue;
        }
        out.extend(source::check_unwrap(&relative(root, file), text));
    }
    let lib = src.join("lib.rs");
    match texts.iter().find(|(f, _)| *f == lib) {
        Some((_, text)) => out.extend(source::check_docs_lint(&relative(root, &lib), text)),
        None => out.push(Violation {
            path: relative(root, dir),
            line: 1,
            rule: "missing-docs",
            detail: "a library crate without src/lib.rs".into(),
        }),
    }
    out
}

/// Every `.rs` file under `dir`, skipping `target/` and hidden folders, sorted.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| format!("{}: {e}", d.display()))?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    todo.push(path);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `path` relative to `root`, `/`-separated (as shown in a violation).
fn relative(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) => rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(files: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
        files
            .iter()
            .map(|(f, t)| (Path::new("/w").join(f), t.to_string()))
            .collect()
    }

    #[test]
    fn library_rules_skip_test_files_and_declared_test_modules() {
        let files = texts(&[
            ("c/src/lib.rs", "#![deny(missing_docs)]\nmod media;\n"),
            (
                "c/src/media/mod.rs",
                "#[cfg(test)]\nmod fixtures;\nfn f() { a.unwrap() }\n",
            ),
            ("c/src/media/fixtures.rs", "fn g() { b.unwrap() }\n"),
            ("c/src/media/fixtures/deep.rs", "fn g() { b.unwrap() }\n"),
            ("c/src/media/fixtures_more.rs", "fn g() { b.unwrap() }\n"),
            ("c/src/sdp/tests.rs", "fn h() { c.unwrap() }\n"),
            ("c/tests/it.rs", "fn i() { d.unwrap() }\n"),
            ("c/examples/e.rs", "fn j() { e.unwrap() }\n"),
        ]);
        let found: Vec<String> = check_library(Path::new("/w"), Path::new("/w/c"), &files)
            .iter()
            .map(|v| format!("{}:{}: {}", v.path, v.line, v.rule))
            .collect();
        assert_eq!(
            found,
            [
                "c/src/media/mod.rs:3: unwrap",
                "c/src/media/fixtures_more.rs:1: unwrap"
            ]
        );
    }

    #[test]
    fn a_library_root_without_the_docs_lint_is_reported() {
        let files = texts(&[("c/src/lib.rs", "//! C.\n")]);
        let found = check_library(Path::new("/w"), Path::new("/w/c"), &files);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].to_string().split(": ").nth(1),
            Some("missing-docs")
        );
    }

    #[test]
    fn paths_are_shown_relative_to_the_root() {
        assert_eq!(relative(Path::new("/w"), Path::new("/w/a/b.rs")), "a/b.rs");
        assert_eq!(relative(Path::new("/w"), Path::new("/x/b.rs")), "/x/b.rs");
    }
}
