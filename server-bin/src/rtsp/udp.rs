//! UDP transport: RTP/RTCP port pairs from `rtsp.udp_port_range`, and the
//! tasks that read them.
//!
//! A pair is held by its session and released when the session ends (the
//! [`UdpPair`] is dropped on every exit path). Reading happens in one small
//! task per socket that forwards datagrams to the session over a bounded
//! channel; when the session ends the channel closes and the tasks return.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::session::lock;

/// Datagrams queued from the UDP readers to their session; more are dropped
/// (UDP media tolerates loss; the session is not allowed to fall behind).
pub const QUEUE: usize = 1024;
/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_536;

/// The configured port range and the pairs in use.
#[derive(Debug)]
pub struct UdpPorts {
    first: u16,
    last: u16,
    bind: IpAddr,
    used: Mutex<(BTreeSet<u16>, u16)>,
}

impl UdpPorts {
    /// Ports `first..=last` on `bind` (pairs start on even ports).
    pub fn new(bind: IpAddr, first: u16, last: u16) -> UdpPorts {
        let first = first + first % 2;
        UdpPorts {
            first,
            last,
            bind,
            used: Mutex::new((BTreeSet::new(), first)),
        }
    }

    /// Binds a free even/odd pair, or `None` when the range is exhausted (the
    /// client is then told to use TCP).
    pub fn allocate(self: &Arc<Self>) -> Option<UdpPair> {
        let pairs = usize::from((self.last - self.first).div_ceil(2));
        for _ in 0..pairs {
            let rtp = {
                let mut used = lock(&self.used);
                let (set, cursor) = &mut *used;
                let mut port = *cursor;
                let mut found = None;
                for _ in 0..pairs {
                    if port.saturating_add(1) > self.last {
                        port = self.first;
                    }
                    if !set.contains(&port) {
                        found = Some(port);
                        break;
                    }
                    port += 2;
                }
                let port = found?;
                set.insert(port);
                *cursor = port.saturating_add(2);
                port
            };
            match bind_pair(self.bind, rtp) {
                Ok((a, b)) => {
                    return Some(UdpPair {
                        rtp: Arc::new(a),
                        rtcp: Arc::new(b),
                        port: rtp,
                        ports: self.clone(),
                    })
                }
                // Taken by another process: keep it marked and try the next.
                Err(e) => tracing::debug!(port = rtp, error = %e, "udp port pair unavailable"),
            }
        }
        None
    }

    fn release(&self, port: u16) {
        lock(&self.used).0.remove(&port);
    }

    /// Pairs in use.
    pub fn in_use(&self) -> usize {
        lock(&self.used).0.len()
    }
}

fn bind_pair(ip: IpAddr, rtp: u16) -> std::io::Result<(UdpSocket, UdpSocket)> {
    let a = std::net::UdpSocket::bind(SocketAddr::new(ip, rtp))?;
    let b = std::net::UdpSocket::bind(SocketAddr::new(ip, rtp + 1))?;
    a.set_nonblocking(true)?;
    b.set_nonblocking(true)?;
    Ok((UdpSocket::from_std(a)?, UdpSocket::from_std(b)?))
}

/// A bound RTP/RTCP pair; the ports return to the range when it is dropped.
#[derive(Debug)]
pub struct UdpPair {
    /// The RTP socket (even port).
    pub rtp: Arc<UdpSocket>,
    /// The RTCP socket (odd port).
    pub rtcp: Arc<UdpSocket>,
    port: u16,
    ports: Arc<UdpPorts>,
}

impl UdpPair {
    /// `(rtp, rtcp)` port numbers, for `server_port=`.
    pub fn ports(&self) -> (u16, u16) {
        (self.port, self.port + 1)
    }
}

impl Drop for UdpPair {
    fn drop(&mut self) {
        self.ports.release(self.port);
    }
}

/// A datagram for the session: which setup it belongs to and whether it
/// came in on the RTCP port.
#[derive(Debug)]
pub struct Datagram {
    /// Index of the SETUP (track) whose pair received it.
    pub setup: usize,
    /// Received on the RTCP port.
    pub rtcp: bool,
    /// The bytes.
    pub data: Bytes,
}

/// Starts the readers of `pair` (only datagrams from `peer`'s address are
/// taken: anyone else's are dropped) forwarding to `tx`. They end when the
/// session drops its receiver.
pub fn spawn_readers(pair: &UdpPair, setup: usize, peer: IpAddr, tx: &mpsc::Sender<Datagram>) {
    for (socket, rtcp) in [(pair.rtp.clone(), false), (pair.rtcp.clone(), true)] {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                let received = tokio::select! {
                    r = socket.recv_from(&mut buf) => r,
                    _ = tx.closed() => return,
                };
                match received {
                    Ok((n, from)) if from.ip() == peer => {
                        let data = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                        // Full: the session is busy; dropping a datagram is what UDP means.
                        let _ = tx.try_send(Datagram { setup, rtcp, data });
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "udp receive failed");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pairs_are_even_odd_and_released_on_drop() {
        let base = 20_000 + (std::process::id() % 10_000) as u16 * 2;
        let ports = Arc::new(UdpPorts::new("127.0.0.1".parse().unwrap(), base, base + 5));
        let a = ports.allocate().expect("first pair");
        let b = ports.allocate().expect("second pair");
        assert_eq!(a.ports().0 % 2, 0);
        assert_eq!(a.ports().1, a.ports().0 + 1);
        assert_ne!(a.ports(), b.ports());
        assert_eq!(ports.in_use(), 2);
        drop(a);
        assert_eq!(ports.in_use(), 1);
        let c = ports.allocate();
        assert!(c.is_some());
    }
}
