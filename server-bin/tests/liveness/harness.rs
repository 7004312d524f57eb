//! The server in-process: `Shared::standalone` plus sessions served over
//! `tokio::io::duplex`, clients that are rtmp-proto's own client session or
//! hand-written RTSP. Everything runs on the test's runtime, so under
//! `start_paused` every deadline passes in virtual time: a test that waits
//! 15 s of deadlines runs in milliseconds.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtmp_proto::session::MediaKind;
use rtmp_proto::{ClientConfig, ClientEvent, ClientMode, ClientSession, HandshakeParams};
use stream_core::Protocol;
use strom::config::Config;

pub use crate::flv_bodies::{avc_keyframe, avc_sequence_header, big_keyframe};
use strom::drive::End;
use strom::server::Shared;
use strom::session::SessionInfo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Bytes a duplex pipe holds in each direction: about a socket buffer.
pub const PIPE: usize = 64 * 1024;

/// The server's state and its shutdown switch.
pub struct Server {
    pub shared: Arc<Shared>,
    pub stop: watch::Sender<bool>,
}

impl Server {
    /// A server on the default configuration, changed by `edit`.
    pub fn start(edit: impl FnOnce(&mut Config)) -> Server {
        let mut config = Config::default();
        edit(&mut config);
        let (shared, stop) = Shared::standalone(config).expect("standalone server");
        Server { shared, stop }
    }

    /// The server's shutdown: no more accepting, players told the stream ended.
    pub fn shut_down(&self) {
        let _ = self.stop.send(true);
        self.shared.hub.shutdown();
    }

    /// Opens a connection served by `protocol`'s driver; returns the
    /// client's end and the session task, which yields how it ended.
    pub fn connect(&self, protocol: Protocol) -> Connection {
        static PORT: AtomicU16 = AtomicU16::new(40_000);
        let peer = SocketAddr::from(([127, 0, 0, 1], PORT.fetch_add(1, Ordering::Relaxed)));
        let (client, server) = tokio::io::duplex(PIPE);
        let guard = self.shared.sessions.register(protocol, peer);
        let info = guard.info().clone();
        let (rd, wr) = tokio::io::split(server);
        let shared = self.shared.clone();
        let task = match protocol {
            Protocol::Rtsp => tokio::spawn(strom::rtsp::serve(rd, wr, shared, guard)),
            _ => tokio::spawn(strom::rtmp::serve(rd, wr, shared, guard)),
        };
        Connection {
            io: client,
            task,
            info,
            opened: Instant::now(),
        }
    }
}

/// One connection from the client's side.
pub struct Connection {
    pub io: DuplexStream,
    pub task: JoinHandle<End>,
    pub info: Arc<SessionInfo>,
    pub opened: Instant,
}

impl Connection {
    /// Waits for the session to end; returns how, and the virtual time it
    /// lived.
    pub async fn ended(self) -> (End, Duration) {
        let Connection {
            io, task, opened, ..
        } = self;
        // Keep the client's end open: the session must end on its own.
        let end = task.await.expect("session task");
        let lived = opened.elapsed();
        drop(io);
        (end, lived)
    }
}

/// An RTMP client (rtmp-proto's own client session) on a connection.
pub struct RtmpPeer {
    pub session: ClientSession,
    pub conn: Connection,
    buf: Vec<u8>,
}

impl RtmpPeer {
    /// Connects and starts the handshake for `mode` on `live/{stream}`.
    pub fn new(server: &Server, stream: &str, mode: ClientMode) -> RtmpPeer {
        let config = ClientConfig {
            app: "live".into(),
            tc_url: "rtmp://127.0.0.1/live".into(),
            stream: stream.into(),
            mode,
            chunk_size: 4096,
            handshake: HandshakeParams {
                epoch: 0,
                seed: [7; 32],
            },
            digest: false,
            timeouts: rtmp_proto::ClientTimeouts::NONE,
        };
        RtmpPeer {
            session: ClientSession::new(config, now()),
            conn: server.connect(Protocol::Rtmp),
            buf: vec![0; PIPE],
        }
    }

    /// Connects, publishes and sends a sequence header and a keyframe.
    pub async fn publisher(server: &Server, stream: &str) -> RtmpPeer {
        let mut p = RtmpPeer::new(server, stream, ClientMode::Publish);
        let started = p.until(|e| matches!(e, ClientEvent::Publishing)).await;
        assert!(started.is_some(), "publish of {stream} refused or closed");
        p.send_video(0, avc_sequence_header()).await;
        p.send_video(0, avc_keyframe()).await;
        p
    }

    /// Connects and plays until Play.Start.
    pub async fn player(server: &Server, stream: &str) -> RtmpPeer {
        let mut p = RtmpPeer::new(server, stream, ClientMode::Play);
        let started = p.until(|e| matches!(e, ClientEvent::Playing)).await;
        assert!(started.is_some(), "play of {stream} refused or closed");
        p
    }

    /// Writes what the client session queued.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        while let Some(b) = self.session.poll_transmit() {
            self.conn.io.write_all(&b).await?;
        }
        Ok(())
    }

    /// Sends one video message.
    pub async fn send_video(&mut self, timestamp: u32, payload: Bytes) {
        self.session
            .send_media(MediaKind::Video, timestamp, payload)
            .expect("publishing");
        let _ = self.flush().await;
    }

    /// Sends one audio message.
    pub async fn send_audio(&mut self, timestamp: u32, payload: Bytes) {
        self.session
            .send_media(MediaKind::Audio, timestamp, payload)
            .expect("publishing");
        let _ = self.flush().await;
    }

    /// The next event; `None` once the server closed the connection.
    pub async fn next_event(&mut self) -> Option<ClientEvent> {
        loop {
            if let Some(e) = self.session.poll_event() {
                return Some(e);
            }
            self.flush().await.ok()?;
            let n = self.conn.io.read(&mut self.buf).await.ok()?;
            if n == 0 {
                return None;
            }
            self.session.handle_input(&self.buf[..n], now()).ok()?;
        }
    }

    /// Reads events until one matches (returned) or the connection closes
    /// (`None`).
    pub async fn until(&mut self, want: impl Fn(&ClientEvent) -> bool) -> Option<ClientEvent> {
        while let Some(e) = self.next_event().await {
            if want(&e) {
                return Some(e);
            }
        }
        None
    }
}

/// The current virtual time, as the sessions see it.
pub fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Writes `text` as one RTSP request.
pub async fn rtsp_send(conn: &mut Connection, text: &str) {
    let _ = conn.io.write_all(text.as_bytes()).await;
}

/// Reads one RTSP response head (up to the blank line) and any body.
pub async fn rtsp_response(conn: &mut Connection) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.io.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let len = text
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    conn.io.read_exact(&mut body).await.ok()?;
    Some(text + &String::from_utf8_lossy(&body))
}
