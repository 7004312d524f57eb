//! The demultiplexer: one task reads the shared UDP socket and hands each
//! datagram to its peer's bounded queue. It never waits on a peer: a full
//! queue drops the datagram, as the network would.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc::error::TrySendError;

use super::{Datagram, WebRtc};

/// Largest datagram read (RTP stays under the path MTU; bigger is junk).
const MAX_DATAGRAM: usize = 2048;

/// Starts the reader of `socket` on `worker`; it ends when `stopping` turns.
pub fn start(
    webrtc: Arc<WebRtc>,
    socket: std::net::UdpSocket,
    worker: &tokio::runtime::Handle,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    worker.spawn(async move {
        let socket = match tokio::net::UdpSocket::from_std(socket) {
            Ok(s) => s,
            Err(e) => return tracing::error!(error = %e, "webrtc: cannot read the UDP socket"),
        };
        tokio::select! {
            () = read(&webrtc, &socket) => {}
            _ = stopping.wait_for(|s| *s) => {}
        }
    });
}

async fn read(webrtc: &WebRtc, socket: &tokio::net::UdpSocket) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            // ICMP port unreachable of an earlier send, and the like.
            Err(e) => {
                tracing::debug!(error = %e, "webrtc: udp receive error");
                continue;
            }
        };
        webrtc.counters.datagrams_in.fetch_add(1, Ordering::Relaxed);
        let data = &buf[..n];
        let Some(route) = webrtc.route(from, data) else {
            webrtc
                .counters
                .datagrams_unrouted
                .fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let datagram = Datagram {
            from,
            data: Bytes::copy_from_slice(data),
            proto: str0m::net::Protocol::Udp,
        };
        match route.tx.try_send(datagram) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                webrtc
                    .counters
                    .datagrams_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
            // The peer is ending; its routes go with its guard.
            Err(TrySendError::Closed(_)) => {}
        }
    }
}
