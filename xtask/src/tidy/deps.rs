//! The layering rule: codec crates depend on no runtime, no media model and
//! no server; stream-core depends on no codec crate and no server. Read from
//! `cargo metadata --no-deps` (normal and build dependencies; dev-dependencies
//! are free), each violation pointed at its line in the manifest.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Violation, CODEC_CRATES, CORE_CRATE, SERVER_CRATE};

/// A workspace package and the dependencies that ship with it.
#[derive(Debug, PartialEq)]
pub struct Package {
    /// Package name (`rtmp-proto`).
    pub name: String,
    /// Its `Cargo.toml`.
    pub manifest: PathBuf,
    /// Normal and build dependencies, by package name (a rename resolved).
    pub deps: Vec<Dep>,
}

/// One normal or build dependency.
#[derive(Debug, PartialEq)]
pub struct Dep {
    /// The depended-on package's name.
    pub package: String,
    /// The key in the manifest (the rename, if any).
    pub key: String,
}

/// The workspace packages in `cargo metadata --format-version 1 --no-deps` output.
pub fn parse_metadata(json: &str) -> Result<Vec<Package>, String> {
    let meta: Value =
        serde_json::from_str(json).map_err(|e| format!("cargo metadata output: {e}"))?;
    let packages = meta["packages"]
        .as_array()
        .ok_or("cargo metadata output: no `packages`")?;
    packages
        .iter()
        .map(|p| {
            let name = p["name"].as_str().ok_or("a package without a name")?;
            let manifest = p["manifest_path"]
                .as_str()
                .ok_or("a package without a manifest_path")?;
            let deps = p["dependencies"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .filter_map(|d| {
                    let package = d["name"].as_str()?.to_string();
                    let key = d["rename"].as_str().unwrap_or(&package).to_string();
                    Some(Dep { package, key })
                })
                .collect();
            Ok(Package {
                name: name.to_string(),
                manifest: PathBuf::from(manifest),
                deps,
            })
        })
        .collect()
}

/// The packages `crate_name` must not depend on (normal or build), if it is
/// layered.
fn forbidden_for(crate_name: &str) -> Option<(Vec<&'static str>, &'static str)> {
    if CODEC_CRATES.contains(&crate_name) {
        return Some((
            vec!["tokio", CORE_CRATE, SERVER_CRATE],
            "a codec crate stays sans-IO and reusable alone (no runtime, no media model, no server)",
        ));
    }
    if crate_name == CORE_CRATE {
        let mut banned = CODEC_CRATES.to_vec();
        banned.push(SERVER_CRATE);
        return Some((
            banned,
            "stream-core is the media model: no protocol or codec crate, no server",
        ));
    }
    None
}

/// Every forbidden edge among `packages`; `manifest_text` reads a manifest
/// (to name the line) and `root` shortens the paths shown.
pub fn check_deps(
    packages: &[Package],
    root: &Path,
    manifest_text: impl Fn(&Path) -> Option<String>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for p in packages {
        let Some((banned, why)) = forbidden_for(&p.name) else {
            continue;
        };
        let text = manifest_text(&p.manifest).unwrap_or_default();
        for d in p
            .deps
            .iter()
            .filter(|d| banned.contains(&d.package.as_str()))
        {
            out.push(Violation {
                path: super::relative(root, &p.manifest),
                line: dependency_line(&text, &d.key),
                rule: "dependencies",
                detail: format!("{} depends on {}: {why}", p.name, d.package),
            });
        }
    }
    out
}

/// The 1-based line declaring `key` in a (normal, build or target-specific)
/// dependency table of `manifest`; 1 when not found.
pub fn dependency_line(manifest: &str, key: &str) -> usize {
    let mut in_deps = false;
    for (i, line) in manifest.lines().enumerate() {
        let t = line.trim();
        if let Some(header) = t.strip_prefix('[') {
            let header = header.trim_end_matches(']').trim();
            let (table, sub) = match header.rsplit_once("dependencies") {
                Some((before, after)) => (Some(before), after),
                None => (None, ""),
            };
            let dev = table.is_some_and(|b| b.ends_with("dev-"));
            in_deps = table.is_some() && !dev && sub.is_empty();
            if table.is_some() && !dev && sub.strip_prefix('.') == Some(key) {
                return i + 1; // [dependencies.key]
            }
            continue;
        }
        if in_deps {
            let name = t.split(['=', '.', ' ']).next().unwrap_or_default();
            if name.trim_matches('"') == key {
                return i + 1;
            }
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = r#"{"packages": [
      {"name": "rtmp-proto", "manifest_path": "/w/rtmp-proto/Cargo.toml", "dependencies": [
        {"name": "bytes", "kind": null, "rename": null},
        {"name": "tokio", "kind": "dev", "rename": null},
        {"name": "stream-core", "kind": "build", "rename": "core"}]},
      {"name": "stream-core", "manifest_path": "/w/stream-core/Cargo.toml", "dependencies": [
        {"name": "tokio", "kind": null, "rename": null},
        {"name": "flv-mux", "kind": null, "rename": null}]},
      {"name": "server-bin", "manifest_path": "/w/server-bin/Cargo.toml", "dependencies": [
        {"name": "rtmp-proto", "kind": null, "rename": null}]}
    ], "workspace_root": "/w"}"#;

    const RTMP_MANIFEST: &str = "[package]\nname = \"rtmp-proto\"\n\n[dependencies]\nbytes.workspace = true\n\n[dev-dependencies]\ntokio.workspace = true\n\n[build-dependencies]\ncore = { package = \"stream-core\", path = \"../stream-core\" }\n";

    #[test]
    fn metadata_keeps_normal_and_build_dependencies_only() {
        let packages = parse_metadata(METADATA).unwrap();
        assert_eq!(packages.len(), 3);
        let keys: Vec<_> = packages[0].deps.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["bytes", "core"]);
        assert_eq!(packages[0].deps[1].package, "stream-core");
        assert!(parse_metadata("{}").is_err());
    }

    #[test]
    fn layering_violations_name_the_manifest_line() {
        let packages = parse_metadata(METADATA).unwrap();
        let found = check_deps(&packages, Path::new("/w"), |p| {
            (p == Path::new("/w/rtmp-proto/Cargo.toml")).then(|| RTMP_MANIFEST.to_string())
        });
        let shown: Vec<String> = found
            .iter()
            .map(|v| format!("{}:{}: {}", v.path, v.line, v.rule))
            .collect();
        // rtmp-proto's dev-dependency on tokio is allowed; its build
        // dependency on stream-core is not; stream-core may use tokio but
        // not flv-mux; server-bin may use anything.
        assert_eq!(
            shown,
            [
                "rtmp-proto/Cargo.toml:11: dependencies",
                "stream-core/Cargo.toml:1: dependencies",
            ]
        );
        assert!(found[1].detail.contains("stream-core depends on flv-mux"));
    }

    #[test]
    fn dependency_lines_are_found_in_every_table_shape() {
        let m = "[dependencies]\nbytes = \"1\"\n\n[dev-dependencies]\ntokio = \"1\"\n\n\
                 [target.'cfg(unix)'.dependencies]\ntokio.workspace = true\n\n\
                 [dependencies.nom]\nversion = \"7\"\n";
        assert_eq!(dependency_line(m, "bytes"), 2);
        assert_eq!(dependency_line(m, "tokio"), 8);
        assert_eq!(dependency_line(m, "nom"), 10);
        assert_eq!(dependency_line(m, "serde"), 1);
        assert_eq!(dependency_line("[dev-dependencies.tokio]\n", "tokio"), 1);
    }
}
