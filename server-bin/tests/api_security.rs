//! The API and the hooks as levers against the server: secrets shown or
//! logged, destructive calls from another site's page, DNS rebinding, and a
//! hook client pushed into overload. Each test drives the real binary.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::media::{finish, publish, require, stop};
use common::{json, scratch_dir, wait_until, Strom};

/// One request with an explicit `Host` and extra headers; status and body.
fn request(
    strom: &Strom,
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", strom.http_port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {raw:?}; log:\n{}", strom.log()));
    (status, body.to_string())
}

/// Writes `toml` to a configuration file of its own and returns the flag
/// pair that loads it.
fn config_file(name: &str, toml: &str) -> (PathBuf, String) {
    let dir = scratch_dir(&format!("{name}-config"));
    let path = dir.join("strom.toml");
    std::fs::write(&path, toml).unwrap();
    let arg = path.to_string_lossy().into_owned();
    (dir, arg)
}

/// A hook server on a loopback port. `hang`: accepts and never answers
/// (counting connections); otherwise answers `{"code":0}` and records bodies.
struct HookServer {
    port: u16,
    accepted: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl HookServer {
    fn start(hang: bool) -> HookServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (count, record) = (accepted.clone(), bodies.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().take(200) {
                let Ok(mut conn) = conn else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let record = record.clone();
                std::thread::spawn(move || {
                    if hang {
                        std::thread::sleep(Duration::from_secs(60));
                        return;
                    }
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut raw = Vec::new();
                    let mut buf = [0u8; 64 * 1024];
                    // Read until the body named by Content-Length is complete.
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        raw.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&raw);
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let len = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if body.len() >= len {
                                break;
                            }
                        }
                    }
                    record
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&raw).into_owned());
                    let answer = r#"{"code":0}"#;
                    let _ = write!(
                        conn,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                });
            }
        });
        HookServer {
            port,
            accepted,
            bodies,
        }
    }

    fn url(&self, hook: &str) -> String {
        format!("http://127.0.0.1:{}/index/hook/{hook}", self.port)
    }
}

#[test]
fn secrets_are_redacted_wherever_the_configuration_or_a_session_is_shown_or_logged() {
    require("ffmpeg");
    let hooks = HookServer::start(false);
    let (_dir, config) = config_file(
        "secrets",
        &format!(
            r#"
[api]
secret = "api-S3CRET"
[auth.publish_tokens]
live = "tok-S3CRET"
[auth.play_tokens]
other = "play-S3CRET"
[rtsp.auth.cam]
user = "camuser"
password = "rtsp-S3CRET"
[hook]
on_server_started = "{}"
"#,
            hooks.url("on_server_started")
        ),
    );
    let strom = Strom::start("api-secrets", &["--config", &config], &[]);

    let (status, server) = strom.get("/api/v1/server");
    assert_eq!(status, 200, "{server}");
    assert!(
        server.contains("camuser"),
        "the configuration is shown: {server}"
    );
    assert!(!server.contains("S3CRET"), "/api/v1/server leaks: {server}");
    let (_, flat) = strom.get("/index/api/getServerConfig");
    assert!(flat.contains("rtsp.auth.cam.password"), "{flat}");
    assert!(!flat.contains("S3CRET"), "getServerConfig leaks: {flat}");
    assert!(
        wait_until(Duration::from_secs(10), || !hooks
            .bodies
            .lock()
            .unwrap()
            .is_empty())
        .is_some(),
        "on_server_started never called"
    );
    let started = hooks.bodies.lock().unwrap().join("\n");
    assert!(started.contains("camuser"), "{started}");
    assert!(
        !started.contains("S3CRET"),
        "on_server_started leaks: {started}"
    );

    // A publisher gives its token in the query: sessions show the key, not the value.
    let url = format!(
        "rtmp://127.0.0.1:{}/live/sec?token=tok-S3CRET&quality=hd",
        strom.rtmp_port
    );
    let publisher = publish(&url, 30);
    strom.wait_live("sec", Duration::from_secs(15));
    let (_, sessions) = strom.get("/api/v1/sessions");
    assert!(
        sessions.contains("token=<redacted>&quality=hd"),
        "{sessions}"
    );
    assert!(
        !sessions.contains("S3CRET"),
        "/api/v1/sessions leaks: {sessions}"
    );
    let (_, zlm_sessions) = strom.get("/index/api/getAllSession");
    assert!(!zlm_sessions.contains("S3CRET"), "{zlm_sessions}");
    let log = strom.wait_for_log(&["publishing"], Duration::from_secs(5));
    assert!(log.contains("token=<redacted>"), "{log}");
    assert!(!log.contains("S3CRET"), "the log leaks:\n{log}");
    stop(publisher);
}

#[test]
fn the_secret_can_be_refused_in_the_query() {
    let toml = |in_query: bool| {
        format!("[api]\nsecret = \"k3y\"\ntrusted_networks = []\nsecret_in_query = {in_query}\n")
    };
    let (_d1, default) = config_file("query-on", &toml(true));
    let strom = Strom::start("api-query-on", &["--config", &default], &[]);
    assert_eq!(strom.get("/api/v1/streams?secret=k3y").0, 200);
    drop(strom);

    let (_d2, headers_only) = config_file("query-off", &toml(false));
    let strom = Strom::start("api-query-off", &["--config", &headers_only], &[]);
    assert_eq!(strom.get("/api/v1/streams?secret=k3y").0, 403);
    let zlm = json(&strom.get("/index/api/getMediaList?secret=k3y").1);
    assert_eq!(zlm["code"], -100, "{zlm}");
    assert_eq!(
        strom
            .request("GET", "/api/v1/streams", &[("X-Strom-Secret", "k3y")])
            .0,
        200
    );
    assert_eq!(
        strom
            .request(
                "GET",
                "/index/api/getMediaList",
                &[("Authorization", "Bearer k3y")]
            )
            .0,
        200
    );
}

#[test]
fn destructive_calls_from_another_sites_page_are_refused() {
    require("ffmpeg");
    let (_dir, config) = config_file(
        "origins",
        "[api]\nallowed_origins = [\"https://dash.example\"]\n",
    );
    let strom = Strom::start("api-origins", &["--config", &config], &[]);
    let host = format!("127.0.0.1:{}", strom.http_port);
    let publisher = publish(
        &format!("rtmp://127.0.0.1:{}/live/target", strom.rtmp_port),
        60,
    );
    strom.wait_live("target", Duration::from_secs(15));
    let live = || strom.get("/api/v1/streams/live/target").0 == 200;

    let close = "/index/api/close_streams?app=live&stream=target";
    for header in [
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Site", "same-site"),
        ("Origin", "http://evil.example"),
        ("Origin", "null"),
        ("Referer", "http://evil.example/page.html"),
    ] {
        let (status, body) = request(&strom, "GET", close, &host, &[header]);
        assert_eq!(status, 403, "{header:?}: {body}");
        assert_eq!(json(&body)["code"], -100, "{body}");
        for call in [
            "/index/api/close_stream?app=live&stream=target",
            "/index/api/kick_sessions",
            "/index/api/kick_session?id=1",
            "/index/api/setServerConfig?api.secret=x",
        ] {
            assert_eq!(
                request(&strom, "GET", call, &host, &[header]).0,
                403,
                "{call}"
            );
        }
        let (status, body) = request(
            &strom,
            "DELETE",
            "/api/v1/streams/live/target",
            &host,
            &[header],
        );
        assert_eq!(status, 403, "{body}");
        assert_eq!(json(&body)["error"]["code"], "cross_site", "{body}");
        let (status, _) = request(
            &strom,
            "DELETE",
            "/api/v1/sessions?peer=127.0.0.1",
            &host,
            &[header],
        );
        assert_eq!(status, 403);
        assert!(live(), "{header:?} closed the stream");
    }
    // Reads are not refused (the browser keeps their answers from the page anyway).
    let (status, body) = request(
        &strom,
        "GET",
        "/index/api/getMediaList",
        &host,
        &[("Sec-Fetch-Site", "cross-site")],
    );
    assert_eq!(
        (status, json(&body)["code"].as_i64()),
        (200, Some(0)),
        "{body}"
    );
    // The same origin, tools that send no such header and a listed origin pass.
    let same = format!("http://{host}");
    let (status, _) = request(
        &strom,
        "DELETE",
        "/api/v1/streams/live/nosuch",
        &host,
        &[("Origin", &same), ("Sec-Fetch-Site", "same-origin")],
    );
    assert_eq!(status, 404, "same origin passes the check");
    assert_eq!(
        strom
            .request("DELETE", "/api/v1/streams/live/nosuch", &[])
            .0,
        404
    );
    let (status, body) = request(
        &strom,
        "GET",
        close,
        &host,
        &[
            ("Origin", "https://dash.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["count_closed"], 1, "{body}");
    let _ = finish(publisher, Duration::from_secs(15));
}

#[test]
fn a_host_that_names_another_site_gets_421_unless_listed_or_a_secret_is_given() {
    let (_dir, config) = config_file(
        "hosts",
        "[api]\nsecret = \"k3y\"\n[http]\nhostnames = [\"media.example\"]\n",
    );
    let strom = Strom::start("api-hosts", &["--config", &config], &[]);
    let port = strom.http_port;
    for path in ["/api/v1/server", "/index/api/getServerConfig", "/metrics"] {
        for host in [
            "evil.example",
            &format!("evil.example:{port}"),
            "127.0.0.1.nip.io",
        ] {
            let (status, body) = request(&strom, "GET", path, host, &[]);
            assert_eq!(status, 421, "{path} under Host {host}: {body}");
            assert!(!body.contains("k3y") && !body.contains("rtmp"), "{body}");
        }
        for host in [
            format!("127.0.0.1:{port}"),
            "127.0.0.1".to_string(),
            format!("[::1]:{port}"),
            format!("localhost:{port}"),
            "media.example".to_string(),
            format!("MEDIA.example:{port}"),
        ] {
            assert_eq!(
                request(&strom, "GET", path, &host, &[]).0,
                200,
                "{path} {host}"
            );
        }
        let with_secret = request(
            &strom,
            "GET",
            path,
            "evil.example",
            &[("X-Strom-Secret", "k3y")],
        );
        assert_eq!(
            with_secret.0, 200,
            "a caller with the secret is not a browser"
        );
    }
    assert_eq!(
        request(&strom, "GET", "/healthz", "evil.example", &[]).0,
        200
    );
    strom.wait_for_log(&["DNS rebinding"], Duration::from_secs(5));
}

/// strom asking a hook server that never answers about every publish
/// (`on_failure = allow`, `timeout_ms` and the extra `[hook]` settings given),
/// with one publisher already waiting on its decision. Returns strom, the
/// hook server and the waiting publisher.
fn one_publish_waiting_on_a_hung_hook(
    name: &str,
    timeout_ms: &str,
    extra: &[(&str, &str)],
) -> (Strom, HookServer, std::process::Child) {
    require("ffmpeg");
    let hang = HookServer::start(true);
    let url = hang.url("on_publish");
    let mut env = vec![
        ("STROM_HOOK__ON_PUBLISH", url.as_str()),
        ("STROM_HOOK__ON_FAILURE", "allow"),
        ("STROM_HOOK__TIMEOUT_MS", timeout_ms),
    ];
    env.extend_from_slice(extra);
    let strom = Strom::start(name, &[], &env);
    let first = publish(&rtmp(&strom, "first"), 30);
    assert!(
        wait_until(Duration::from_secs(10), || hang
            .accepted
            .load(Ordering::SeqCst)
            == 1)
        .is_some(),
        "the first publish never called the hook"
    );
    (strom, hang, first)
}

fn rtmp(strom: &Strom, name: &str) -> String {
    format!("rtmp://127.0.0.1:{}/live/{name}", strom.rtmp_port)
}

#[test]
fn a_hook_client_in_overload_denies_even_when_failures_allow() {
    // One slot; the first publish holds it for the whole deadline (the hook
    // server never answers) and is then let through by on_failure = allow.
    // The second waits for a slot at most half the deadline: overload, denied.
    let (strom, hang, first) = one_publish_waiting_on_a_hung_hook(
        "hooks-overload",
        "8000",
        &[
            ("STROM_HOOK__MAX_CONCURRENT", "1"),
            ("STROM_HOOK__MAX_PENDING_PER_IP", "0"),
        ],
    );
    let second = finish(publish(&rtmp(&strom, "second"), 3), Duration::from_secs(30));
    assert!(
        !second.success,
        "an overloaded hook client let a publisher in"
    );
    strom.wait_for_log(&["hook client overloaded"], Duration::from_secs(5));
    let metrics = strom.get("/metrics").1;
    assert!(
        metrics.contains("strom_hook_calls_total{hook=\"on_publish\",outcome=\"overloaded\"} 1"),
        "{metrics}"
    );
    assert_eq!(
        hang.accepted.load(Ordering::SeqCst),
        1,
        "the overloaded call never reached the hook server"
    );
    strom.wait_live("first", Duration::from_secs(20));
    stop(first);
}

#[test]
fn an_address_with_too_many_pending_decisions_is_denied_at_once() {
    let (strom, _hang, first) = one_publish_waiting_on_a_hung_hook(
        "hooks-per-ip",
        "10000",
        &[("STROM_HOOK__MAX_PENDING_PER_IP", "1")],
    );
    // Refused long before the first decision's 10 s deadline.
    let second = finish(publish(&rtmp(&strom, "second"), 3), Duration::from_secs(15));
    assert!(!second.success, "{}", second.stderr);
    strom.wait_for_log(&["hook.max_pending_per_ip"], Duration::from_secs(5));
    let metrics = strom.get("/metrics").1;
    assert!(
        metrics.contains("strom_hook_calls_total{hook=\"on_publish\",outcome=\"peer_limit\"} 1"),
        "{metrics}"
    );
    stop(first);
}
