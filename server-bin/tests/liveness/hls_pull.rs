//! HLS upstreams in-process: a fake HTTP server (hyper on duplex pipes,
//! reached through the relay's `Dial`) serving a live playlist and TS
//! segments that hls-seg's packager makes as virtual time passes — live,
//! stalled, or answering an error status.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use flv_mux::avc::AvcDecoderConfigurationRecord;
use flv_mux::VideoTag;
use hls_seg::{AudioCodec, MuxInput, MuxerConfig, Packager, SegmenterConfig, VideoCodec};
use http_body_util::Full;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use rtmp_proto::session::MediaKind;
use rtmp_proto::ClientEvent;
use strom::config::ProxyConfig;
use strom::relay::{Dial, Dialed, PullUrl, State};
use tokio::time::{sleep, Instant};

use crate::harness::{avc_sequence_header, RtmpPeer, Server, PIPE};

/// A live HLS origin: 25 fps H.264 with a keyframe a second and AAC, in
/// 1 s segments, produced up to the virtual clock on every request.
struct Origin {
    packager: Packager,
    params: [Bytes; 2],
    started: Instant,
    frames: u64,
    /// No new frames (the playlist stops growing).
    frozen: bool,
    /// Every request is answered with this status.
    status: Option<StatusCode>,
    /// Requests by path.
    requests: HashMap<String, usize>,
}

impl Origin {
    fn new() -> Origin {
        let body = avc_sequence_header();
        let VideoTag::Avc { data, .. } = VideoTag::decode(&body).expect("avc tag") else {
            panic!("not an AVC sequence header")
        };
        let rec = AvcDecoderConfigurationRecord::decode(&data).expect("avcC");
        Origin {
            packager: Packager::new(
                MuxerConfig {
                    video: Some(VideoCodec::H264),
                    audio: Some(AudioCodec::Aac {
                        config: Bytes::from_static(&[0x11, 0x90]),
                    }),
                },
                SegmenterConfig {
                    target_secs: 1.0,
                    window: 5,
                    retain: 2,
                },
            ),
            params: [rec.sps[0].clone(), rec.pps[0].clone()],
            started: Instant::now(),
            frames: 0,
            frozen: false,
            status: None,
            requests: HashMap::new(),
        }
    }

    /// Frames up to now.
    fn advance(&mut self) {
        let due = self.started.elapsed().as_millis() as u64 / 40;
        while !self.frozen && self.frames <= due {
            let i = self.frames;
            let dts = 900_000 + i * 3600;
            let key = i.is_multiple_of(25);
            let idr = [Bytes::from_static(&[0x65, 0x88, 0x84, 0x00])];
            let p = [Bytes::from_static(&[0x41, 0x9a, 0x02])];
            let video = MuxInput::Video {
                pts: dts,
                dts,
                keyframe: key,
                nalus: if key { &idr } else { &p },
                parameter_sets: &self.params,
            };
            self.packager.push(video).expect("video");
            let aac = Bytes::from_static(&[0x21, 0x10, 0x05]);
            self.packager
                .push(MuxInput::Audio {
                    pts: dts,
                    data: &aac,
                })
                .expect("audio");
            self.frames += 1;
        }
    }

    fn answer(&mut self, path: &str) -> (StatusCode, Bytes) {
        *self.requests.entry(path.to_string()).or_default() += 1;
        if let Some(status) = self.status {
            return (status, Bytes::from_static(b"no"));
        }
        self.advance();
        if path == "/live/cam/hls.m3u8" {
            return (StatusCode::OK, Bytes::from(self.packager.playlist()));
        }
        let segment = path
            .strip_prefix("/live/cam/")
            .and_then(|p| p.strip_suffix(".ts"))
            .and_then(|n| n.parse().ok())
            .and_then(|n| self.packager.segment(n));
        match segment {
            Some(s) => (StatusCode::OK, s.data),
            None => (StatusCode::NOT_FOUND, Bytes::new()),
        }
    }
}

/// Dials the origin: each connection is served by hyper on a duplex pipe.
struct ToOrigin(Arc<Mutex<Origin>>);

impl Dial for ToOrigin {
    fn dial<'a>(
        &'a self,
        _url: &'a PullUrl,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Dialed>> + Send + 'a>>
    {
        Box::pin(async move {
            let (client, server) = tokio::io::duplex(PIPE);
            let origin = self.0.clone();
            let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let (status, body) = origin.lock().expect("origin").answer(req.uri().path());
                let mut response = Response::new(Full::new(body));
                *response.status_mut() = status;
                async move { Ok::<_, Infallible>(response) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(server), service),
            );
            let (rd, wr) = tokio::io::split(client);
            Ok(Dialed {
                rd: Box::new(rd),
                wr: Box::new(wr),
                peer: "127.0.0.1:8080".parse().expect("address"),
            })
        })
    }
}

/// A server pulling `live/cam` from the origin, which has run for 5 s.
async fn pulling() -> (Server, Arc<Mutex<Origin>>) {
    let origin = Arc::new(Mutex::new(Origin::new()));
    sleep(Duration::from_secs(5)).await;
    (pull_from(&origin), origin)
}

/// A server pulling `live/cam` from `origin`.
fn pull_from(origin: &Arc<Mutex<Origin>>) -> Server {
    let server = Server::start(|c| {
        c.state.dir = String::new();
        c.proxy.push(ProxyConfig {
            app: "live".into(),
            stream: "cam".into(),
            url: "http://origin:8080/live/cam/hls.m3u8".into(),
            on_demand: false,
            rtsp_transport: Default::default(),
        });
    });
    server.shared.start_relays_on(
        &tokio::runtime::Handle::current(),
        Arc::new(ToOrigin(origin.clone())),
    );
    server
}

fn status(server: &Server) -> strom::relay::Status {
    server.shared.relays.list().remove(0)
}

#[tokio::test(start_paused = true)]
async fn an_hls_upstream_is_pulled_live_with_monotonic_timestamps() {
    let (server, origin) = pulling().await;
    let mut player = RtmpPeer::player(&server, "cam").await;
    let mut video = Vec::new();
    let mut audio = 0;
    let started = Instant::now();
    while video.len() < 150 {
        match player.next_event().await {
            Some(ClientEvent::Media {
                kind: MediaKind::Video,
                timestamp,
                ..
            }) => video.push(timestamp),
            Some(ClientEvent::Media { .. }) => audio += 1,
            Some(_) => {}
            None => panic!("player ended after {} frames", video.len()),
        }
    }
    assert!(audio > 100, "{audio} audio frames");
    assert!(
        video.windows(2).all(|w| w[1] >= w[0]),
        "timestamps go back: {video:?}"
    );
    // Paced: 150 frames at 25 fps take about 6 s of the clock, less the
    // segments in hand at the start (the live edge is 3 segments back).
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took <= Duration::from_secs(7),
        "{took:?}"
    );
    let s = status(&server);
    assert_eq!((s.state, s.attempts), (State::Live, 1), "{s:?}");
    let sessions = server.shared.sessions.list();
    assert!(
        sessions.iter().any(|i| i.protocol.name() == "hls-pull"),
        "{sessions:?}"
    );
    // Only new segments were fetched, each once; the playlist reloaded
    // about once a second (the target duration), not in a tight loop.
    let origin = origin.lock().expect("origin");
    let reloads = origin.requests["/live/cam/hls.m3u8"];
    assert!((3..=16).contains(&reloads), "{reloads} playlist loads");
    assert!(
        origin
            .requests
            .iter()
            .all(|(p, n)| p.ends_with(".m3u8") || *n == 1),
        "{:?}",
        origin.requests
    );
}

#[tokio::test(start_paused = true)]
async fn a_stalled_hls_playlist_ends_the_pull_at_the_no_media_deadline() {
    let (server, origin) = pulling().await;
    while status(&server).state != State::Live {
        sleep(Duration::from_millis(100)).await;
    }
    // Let the segments in hand drain, then freeze the origin.
    sleep(Duration::from_secs(4)).await;
    origin.lock().expect("origin").frozen = true;
    let frozen = Instant::now();
    while status(&server).state == State::Live {
        sleep(Duration::from_millis(100)).await;
        assert!(frozen.elapsed() < Duration::from_secs(60), "never closed");
    }
    let s = status(&server);
    let no_media = Duration::from_secs(server.shared.config.relay.no_media_secs);
    // The last frame pushed is at most the 3 segments in hand after the
    // freeze.
    assert!(
        frozen.elapsed() >= no_media && frozen.elapsed() <= no_media + Duration::from_secs(4),
        "closed after {:?}",
        frozen.elapsed()
    );
    assert!(
        s.last_error
            .as_deref()
            .unwrap_or("")
            .contains("upstream media"),
        "{s:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_hls_playlist_answering_404_shows_the_status_in_last_error() {
    let origin = Arc::new(Mutex::new(Origin::new()));
    origin.lock().expect("origin").status = Some(StatusCode::NOT_FOUND);
    let server = pull_from(&origin);
    sleep(Duration::from_secs(30)).await;
    let s = status(&server);
    assert_eq!(s.state, State::Backoff, "{s:?}");
    assert!(
        s.last_error.as_deref().unwrap_or("").contains("HTTP 404"),
        "{s:?}"
    );
    // Retried on the backoff, not in a loop.
    assert!((3..=8).contains(&s.attempts), "{} attempts", s.attempts);
}
