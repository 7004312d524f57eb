//! The ZLMediaKit-compatible API answers requests copied from ZLMediaKit's
//! API documentation with the documented shapes.

mod common;

use std::time::{Duration, Instant};

use common::media::{finish, play, publish};
use common::{json, Strom};

#[test]
fn zlmediakit_requests_get_zlmediakit_shapes() {
    let strom = Strom::start(
        "zlm",
        &[],
        &[("STROM_API__SECRET", "035c73f7-bb6b-4889-a715-d9eb2d1925cc")],
    );
    let rtmp = format!("rtmp://127.0.0.1:{}/live/test", strom.rtmp_port);
    let publisher = publish(&rtmp, 12);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !strom.get("/api/v1/streams/live/test").1.contains("AAC") {
        assert!(Instant::now() < deadline, "stream never got its tracks");
        std::thread::sleep(Duration::from_millis(100));
    }
    let player = play(
        &format!("http://127.0.0.1:{}/live/test.live.flv", strom.http_port),
        None,
    );
    std::thread::sleep(Duration::from_millis(800));
    let secret = "secret=035c73f7-bb6b-4889-a715-d9eb2d1925cc";

    let v = json(
        &strom
            .get(&format!("/index/api/getMediaList?{secret}&schema=rtmp"))
            .1,
    );
    assert_eq!(v["code"], 0, "{v}");
    let media = &v["data"][0];
    assert_eq!(
        (
            media["app"].as_str(),
            media["stream"].as_str(),
            media["schema"].as_str()
        ),
        (Some("live"), Some("test"), Some("rtmp"))
    );
    assert_eq!(media["vhost"], "__defaultVhost__");
    assert!(
        media["readerCount"].as_u64().is_some() && media["aliveSecond"].as_u64().is_some(),
        "{media}"
    );
    let tracks = media["tracks"].as_array().expect("tracks");
    assert!(
        tracks.iter().any(|t| t["codec_id_name"] == "H264"
            && t["codec_type"] == 0
            && t["width"] == 320
            && t["height"] == 240),
        "{media}"
    );
    assert!(
        tracks.iter().any(|t| t["codec_id_name"] == "mpeg4-generic"
            && t["codec_type"] == 1
            && t["sample_rate"] == 44100),
        "{media}"
    );
    assert_eq!(media["originSock"]["peer_ip"], "127.0.0.1");

    let online = format!(
        "/index/api/isMediaOnline?{secret}&schema=rtmp&vhost=__defaultVhost__&app=live&stream=test"
    );
    assert_eq!(json(&strom.get(&online).1)["online"], true);
    let offline = format!(
        "/index/api/isMediaOnline?{secret}&schema=rtmp&vhost=__defaultVhost__&app=live&stream=nope"
    );
    assert_eq!(json(&strom.get(&offline).1)["online"], false);
    let info = json(&strom.get(&format!("/index/api/getMediaInfo?{secret}&schema=rtmp&vhost=__defaultVhost__&app=live&stream=test")).1);
    assert_eq!(
        (info["code"].as_i64(), info["online"].as_bool()),
        (Some(0), Some(true)),
        "{info}"
    );
    assert_eq!(
        json(&strom.get(&format!("/index/api/getMediaInfo?{secret}")).1)["code"],
        -300
    );

    let sessions = json(&strom.get(&format!("/index/api/getAllSession?{secret}")).1);
    let list = sessions["data"].as_array().expect("sessions");
    assert_eq!(list.len(), 2, "{sessions}");
    assert!(list
        .iter()
        .all(|s| s["peer_ip"] == "127.0.0.1" && s["id"].is_string() && s["typeid"].is_string()));
    let player_id = list
        .iter()
        .find(|s| s["typeid"] == "mediakit::HttpSession")
        .and_then(|s| s["id"].as_str())
        .expect("player session")
        .to_string();
    let kicked = json(
        &strom
            .get(&format!("/index/api/kick_session?{secret}&id={player_id}"))
            .1,
    );
    assert_eq!(kicked["code"], 0, "{kicked}");
    let _ = finish(player, Duration::from_secs(10));

    let config = json(&strom.get(&format!("/index/api/getServerConfig?{secret}")).1);
    assert_eq!(config["data"][0]["rtmp.port"], strom.rtmp_port.to_string());
    assert_eq!(config["data"][0]["api.secret"], "<redacted>");
    let version = json(&strom.get(&format!("/index/api/version?{secret}")).1);
    assert_eq!(version["code"], 0);
    assert!(version["data"]["buildTime"].is_string());
    let stats = json(&strom.get(&format!("/index/api/getStatistic?{secret}")).1);
    assert_eq!(stats["data"]["MediaSource"], 1, "{stats}");

    let closed = json(&strom.get(&format!("/index/api/close_streams?{secret}&schema=rtmp&vhost=__defaultVhost__&app=live&stream=test&force=1")).1);
    assert_eq!(
        (
            closed["count_hit"].as_u64(),
            closed["count_closed"].as_u64()
        ),
        (Some(1), Some(1)),
        "{closed}"
    );
    let _ = finish(publisher, Duration::from_secs(10));

    let unknown = json(&strom.get(&format!("/index/api/getThreadsLoad?{secret}")).1);
    assert_eq!(unknown["code"], -1);
}

#[test]
fn untrusted_addresses_need_the_secret() {
    // Only 127.0.0.1 is trusted; the client connects from 127.0.0.2.
    let strom = Strom::start(
        "untrusted",
        &[],
        &[
            ("STROM_API__TRUSTED_NETWORKS", "[\"127.0.0.1/32\"]"),
            ("STROM_API__SECRET", "s3"),
        ],
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let port = strom.http_port;
    let get = |path: String| {
        rt.block_on(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            let mut s = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
            let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        })
    };
    assert!(get("/api/v1/streams".into()).starts_with("HTTP/1.1 403"));
    assert!(get("/api/v1/streams?secret=s3".into()).starts_with("HTTP/1.1 200"));
    assert!(get("/index/api/getMediaList".into()).contains("\"code\":-100"));
    assert!(get("/index/api/getMediaList?secret=s3".into()).contains("\"code\":0"));
    // From the trusted address no secret is needed.
    assert_eq!(strom.get("/api/v1/streams").0, 200);
}
