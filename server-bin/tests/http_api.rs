//! The control plane as an operator's tools see it: the streams API, its
//! errors, metrics, and who may call them.

mod common;

use common::{json, Strom};

#[test]
fn streams_api_lists_and_reports_missing_streams() {
    let strom = Strom::start("api", &[], &[]);
    let (status, body) = strom.get("/api/v1/streams");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["streams"], serde_json::json!([]));

    let (status, body) = strom.get("/api/v1/streams/live/nothing");
    assert_eq!(status, 404);
    assert_eq!(json(&body)["error"]["code"], "stream_not_found");

    let (status, body) = strom.request("DELETE", "/api/v1/streams/live/nothing", &[]);
    assert_eq!(status, 404);
    assert!(json(&body)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("live/nothing"));

    let (status, body) = strom.request("POST", "/api/v1/streams", &[]);
    assert_eq!(status, 405);
    assert_eq!(json(&body)["error"]["code"], "method_not_allowed");

    let (status, body) = strom.get("/api/v1/nope");
    assert_eq!(status, 404);
    assert_eq!(json(&body)["error"]["code"], "not_found");
}

#[test]
fn metrics_are_prometheus_text() {
    let strom = Strom::start("metrics", &[], &[]);
    let (status, body) = strom.get("/metrics");
    assert_eq!(status, 200);
    for family in [
        "strom_streams 0",
        "strom_subscribers 0",
        "strom_bytes_in_total 0",
        "strom_bytes_out_total 0",
        "strom_subscriber_drops_total 0",
        "# TYPE strom_worker_lag_seconds gauge",
        "strom_worker_stalled{worker=\"media-0\"} 0",
        "# TYPE strom_worker_tasks gauge",
        "strom_worker_tasks{worker=\"media-0\"} ",
    ] {
        assert!(body.contains(family), "missing {family:?} in\n{body}");
    }
}

#[test]
fn untrusted_callers_need_the_secret() {
    // Nobody is trusted, so the loopback test client counts as remote.
    let no_secret = Strom::start("auth-none", &[], &[("STROM_API__TRUSTED_NETWORKS", "[]")]);
    let (status, body) = no_secret.get("/api/v1/streams");
    assert_eq!(status, 403);
    assert_eq!(json(&body)["error"]["code"], "forbidden");
    assert_eq!(no_secret.get("/metrics").0, 403);
    assert_eq!(
        no_secret.get("/healthz").0,
        200,
        "health stays open to probes"
    );
    assert!(
        no_secret.log().contains("API call refused"),
        "{}",
        no_secret.log()
    );

    let with_secret = Strom::start(
        "auth-secret",
        &[],
        &[
            ("STROM_API__TRUSTED_NETWORKS", "[]"),
            ("STROM_API__SECRET", "letmein"),
        ],
    );
    assert_eq!(with_secret.get("/api/v1/streams").0, 403);
    assert_eq!(with_secret.get("/api/v1/streams?secret=wrong").0, 403);
    assert_eq!(with_secret.get("/api/v1/streams?secret=letmein").0, 200);
    let bearer = [("Authorization", "Bearer letmein")];
    assert_eq!(
        with_secret.request("GET", "/api/v1/streams", &bearer).0,
        200
    );
}

#[test]
fn server_endpoint_redacts_the_secret_and_sessions_start_empty() {
    let strom = Strom::start("server-info", &[], &[("STROM_API__SECRET", "hunter2")]);
    let (status, body) = strom.get("/api/v1/server");
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["config"]["api"]["secret"], "<redacted>");
    assert!(!body.contains("hunter2"), "{body}");
    assert_eq!(v["statistics"]["streams"], 0);
    assert_eq!(v["config"]["rtmp"]["port"], strom.rtmp_port);

    assert_eq!(
        json(&strom.get("/api/v1/sessions").1)["sessions"],
        serde_json::json!([])
    );
    let (status, body) = strom.request("DELETE", "/api/v1/sessions/42", &[]);
    assert_eq!(
        (status, json(&body)["error"]["code"].as_str()),
        (404, Some("session_not_found"))
    );
    let (status, _) = strom.request("DELETE", "/api/v1/sessions?peer=nonsense", &[]);
    assert_eq!(status, 400);
    let (status, body) = strom.request("DELETE", "/api/v1/sessions?peer=10.1.2.3", &[]);
    assert_eq!((status, json(&body)["kicked"].as_u64()), (200, Some(0)));
}
