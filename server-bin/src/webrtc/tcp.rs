//! ICE-TCP (RFC 6544) on the UDP port's number, for networks that block UDP:
//! strom offers a passive TCP candidate beside the UDP one; a browser that
//! cannot reach UDP connects and frames every packet with a 16-bit length
//! (RFC 4571).
//!
//! A connection is admitted like any (`server.max_sessions`, per address and
//! in total; evictable while it has named no peer), must send a STUN binding
//! request with a ufrag strom gave within `webrtc.connect_timeout_ms`, and
//! is then the peer's: its frames go into the peer's queue, the peer's TCP
//! sends come back through a bounded queue written with the write stall
//! deadline. It ends with the peer, or when either side closes.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use str0m::net::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::{Datagram, Route, WebRtc};
use crate::server::Shared;
use crate::session::lock;

/// Largest frame taken (media packets stay under the path MTU).
const MAX_FRAME: usize = 2048;
/// Frames waiting to be written to one connection at most.
const QUEUE: usize = 256;

/// Accepts ICE-TCP connections on `listener` until shutdown.
pub fn start(listener: std::net::TcpListener, shared: Arc<Shared>, webrtc: Arc<WebRtc>) {
    let worker = shared.pool.pick().handle.clone();
    let mut stopping = shared.stopping.clone();
    worker.spawn(async move {
        let Ok(listener) = TcpListener::from_std(listener) else {
            return tracing::warn!("webrtc: ICE-TCP listener unusable");
        };
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stopping.wait_for(|s| *s) => return,
            };
            let (stream, from) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(error = %e, "webrtc: ICE-TCP accept failed");
                    // Out of descriptors, say: let them come back.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let Ok(ticket) = shared.admission.admit_session("webrtc", from.ip()) else {
                continue; // dropped: closed at once
            };
            let _ = stream.set_nodelay(true);
            let (shared, webrtc) = (shared.clone(), webrtc.clone());
            tokio::spawn(async move {
                let eviction = ticket.eviction();
                tokio::select! {
                    () = serve(stream, from, &shared, &webrtc, &ticket) => {}
                    () = eviction.evicted() => {}
                }
            });
        }
    });
}

async fn serve(
    stream: TcpStream,
    from: SocketAddr,
    shared: &Shared,
    webrtc: &Arc<WebRtc>,
    ticket: &crate::admission::Ticket,
) {
    let (mut rd, wr) = stream.into_split();
    let connect = Duration::from_millis(webrtc.config.connect_timeout_ms);
    let first = match tokio::time::timeout(connect, read_frame(&mut rd)).await {
        Ok(Ok(Some(f))) => f,
        _ => return,
    };
    let Some(route) = webrtc.route_stun(&first) else {
        webrtc
            .counters
            .datagrams_unrouted
            .fetch_add(1, Ordering::Relaxed);
        return;
    };
    ticket.identified();
    let (tx, rx) = mpsc::channel(QUEUE);
    let _link = Link::new(webrtc, from, tx);
    let stall = Duration::from_millis(shared.config.server.write_stall_ms);
    let idle = Duration::from_millis(webrtc.config.peer_timeout_ms);
    tokio::select! {
        () = read_loop(rd, from, first, route, idle, webrtc) => {}
        () = write_loop(wr, rx, stall) => {}
    }
}

/// Frames in, into the peer's queue, until the peer or the connection ends.
async fn read_loop(
    mut rd: OwnedReadHalf,
    from: SocketAddr,
    first: Bytes,
    route: Route,
    idle: Duration,
    webrtc: &WebRtc,
) {
    let mut frame = Some(first);
    loop {
        if let Some(data) = frame.take() {
            webrtc.counters.datagrams_in.fetch_add(1, Ordering::Relaxed);
            let d = Datagram {
                from,
                data,
                proto: Protocol::Tcp,
            };
            match route.tx.try_send(d) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    webrtc
                        .counters
                        .datagrams_dropped
                        .fetch_add(1, Ordering::Relaxed);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
        match tokio::time::timeout(idle, read_frame(&mut rd)).await {
            Ok(Ok(Some(f))) => frame = Some(f),
            _ => return,
        }
    }
}

/// The peer's TCP sends out, each with its length, until its queue closes.
async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Bytes>, stall: Duration) {
    let mut buf = BytesMut::new();
    while let Some(first) = rx.recv().await {
        buf.clear();
        let mut next = Some(first);
        while let Some(data) = next {
            buf.put_u16(data.len() as u16);
            buf.put_slice(&data);
            next = rx.try_recv().ok();
        }
        match tokio::time::timeout(stall, wr.write_all(&buf)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
}

/// One RFC 4571 frame; `None` at the peer's close.
async fn read_frame(rd: &mut OwnedReadHalf) -> std::io::Result<Option<Bytes>> {
    let mut len = [0u8; 2];
    match rd.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = usize::from(u16::from_be_bytes(len));
    if len == 0 || len > MAX_FRAME {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    let mut data = vec![0u8; len];
    rd.read_exact(&mut data).await?;
    Ok(Some(Bytes::from(data)))
}

/// A connection the peers send their TCP packets through, by the remote
/// address str0m names; removed when the connection ends.
struct Link {
    webrtc: Arc<WebRtc>,
    from: SocketAddr,
}

impl Link {
    fn new(webrtc: &Arc<WebRtc>, from: SocketAddr, tx: mpsc::Sender<Bytes>) -> Link {
        lock(&webrtc.links).insert(from, tx);
        Link {
            webrtc: webrtc.clone(),
            from,
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        lock(&self.webrtc.links).remove(&self.from);
    }
}
