//! Bad configuration stops start-up with exit code 2 and a message naming the
//! key and where it came from; `--print-config` shows the effective result.

mod common;

use std::process::Output;

use common::{scratch_dir, strom_command};

fn run(name: &str, file: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Output {
    let dir = scratch_dir(name);
    if let Some(toml) = file {
        std::fs::write(dir.join("strom.toml"), toml).unwrap();
    }
    let out = strom_command(&dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("strom runs");
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn unknown_key_in_file_exits_2_naming_key_and_file() {
    let out = run(
        "unknown-key",
        Some("[rtmp]\nport = 1935\nchunk_sise = 4096\n"),
        &[],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("rtmp.chunk_sise") && err.contains("unknown key"),
        "{err}"
    );
    assert!(err.contains("strom.toml"), "{err}");
}

#[test]
fn non_numeric_port_exits_2_naming_key() {
    let out = run("bad-port", Some("[rtmp]\nport = \"abc\"\n"), &[], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("`rtmp.port`"), "{}", stderr(&out));
}

#[test]
fn bad_environment_value_names_the_variable() {
    let out = run("bad-env", None, &[("STROM_HTTP__PORT", "eighty")], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("`http.port`") && err.contains("STROM_HTTP__PORT"),
        "{err}"
    );
}

#[test]
fn explicit_config_file_must_exist() {
    let out = run(
        "missing-file",
        None,
        &[],
        &["--config", "/nonexistent/strom.toml"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/strom.toml"));
}

#[test]
fn print_config_shows_all_layers_merged() {
    let out = run(
        "print-config",
        Some("[stream]\ncontinue_push_ms = 3000\n"),
        &[("STROM_STREAM__PUBLISH_CONFLICT", "kick")],
        &["--print-config", "--rtmp-port", "19350"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let v: toml::Value = toml::from_str(&text).expect("valid TOML");
    assert_eq!(v["rtmp"]["port"].as_integer(), Some(19350), "flag");
    assert_eq!(v["rtsp"]["port"].as_integer(), Some(8554), "default");
    assert_eq!(v["http"]["port"].as_integer(), Some(8080), "default");
    assert_eq!(v["server"]["bind"].as_str(), Some("0.0.0.0"), "default");
    assert_eq!(
        v["stream"]["continue_push_ms"].as_integer(),
        Some(3000),
        "file"
    );
    assert_eq!(
        v["stream"]["publish_conflict"].as_str(),
        Some("kick"),
        "env"
    );
}
