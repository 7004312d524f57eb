//! Writing queued `Bytes` to a socket with vectored writes and a stall deadline.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{ErrorKind, IoSlice};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Sets the kernel send buffer of a socket (`server.socket_send_buffer`;
/// 0 leaves the kernel's autotuning). Socket options belong to the socket,
/// not the descriptor, so a duplicate descriptor is enough to set it.
pub fn limit_send_buffer(stream: &std::net::TcpStream, bytes: u32) {
    if bytes == 0 {
        return;
    }
    let set = stream
        .try_clone()
        .and_then(|dup| tokio::net::TcpSocket::from_std_stream(dup).set_send_buffer_size(bytes));
    if let Err(e) = set {
        tracing::debug!(error = %e, "cannot set the socket send buffer");
    }
}

/// Ends a connection the server chose to end, without losing what it just
/// sent: half-closes (FIN after the queued bytes) and reads until the peer
/// closes or `limit` passes. Closing with unread input instead makes the
/// kernel send RST, which can discard the final message (an onStatus, the
/// last chunk) before the player reads it.
pub async fn linger_close<R, W>(rd: &mut R, wr: &mut W, limit: Duration)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let drain = async {
        let _ = wr.shutdown().await;
        let mut sink = [0u8; 1024];
        while let Ok(n) = rd.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(limit, drain).await;
}

/// How long a server-initiated close waits for the peer to read and close.
pub const LINGER: Duration = Duration::from_millis(500);

/// Most buffers handed to one `writev` (Linux allows 1,024). Shared wire
/// forms are parts, not one buffer a frame: an RTMP message is two buffers
/// a chunk, an RTP packet three (its headers, its FU header, its slice), so
/// a 100 KB keyframe is some 50 (RTMP) to 220 (RTSP) buffers.
const MAX_IOVECS: usize = 256;

/// Buffers an emptied queue keeps room for. A GOP replayed to a new player
/// queues hundreds of parts at once; keeping that capacity for the life of
/// the connection would cost every player kilobytes (measured: 17 → 24 KiB
/// per RTMP player at 2,000), while steady playback needs a handful.
const IDLE_QUEUE_CAPACITY: usize = 32;

/// Gives back the room a burst left in an emptied queue (see
/// [`IDLE_QUEUE_CAPACITY`]); costs nothing at steady state.
fn shrink_idle<T>(queue: &mut VecDeque<T>) {
    if queue.capacity() > 2 * IDLE_QUEUE_CAPACITY {
        queue.shrink_to(IDLE_QUEUE_CAPACITY);
    }
}

/// Slices of the small array a flush of a few parts uses (see [`Outbox::flush`]).
const FEW_IOVECS: usize = 16;

/// Points `slices` at the front of `queue`; returns how many are set.
fn gather<'a>(queue: &'a VecDeque<Bytes>, slices: &mut [IoSlice<'a>]) -> usize {
    let mut count = 0;
    for (slot, b) in slices.iter_mut().zip(queue.iter()) {
        *slot = IoSlice::new(b);
        count += 1;
    }
    count
}

/// Why a flush failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The peer accepted no bytes for the stall limit.
    #[error("peer accepted nothing for {0:?}")]
    Stalled(Duration),
    /// The socket failed or was closed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Bytes a connection's scratch buffer reserves at a time for its small
/// headers ([`Outbox::push_copy`]).
const SCRATCH: usize = 256;

/// Bytes waiting to be written, in order.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: VecDeque<Bytes>,
    len: usize,
    /// Where this connection's small headers are written; each is split off
    /// as a `Bytes` view, so one allocation serves many headers.
    scratch: BytesMut,
}

impl Outbox {
    /// Appends a buffer (empty ones are skipped).
    pub fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.queue.push_back(bytes);
        }
    }

    /// Appends shared parts (a frame's cached wire form) without copying:
    /// each is one more buffer of the vectored write.
    pub fn push_shared(&mut self, parts: &[Bytes]) {
        for p in parts {
            self.push(p.clone());
        }
    }

    /// Appends a copy of `small`, a header built for this connection (an
    /// HTTP chunk-size line, RTP and interleave headers). It goes into a
    /// per-connection scratch buffer, so many headers share one allocation.
    pub fn push_copy(&mut self, small: &[u8]) {
        if small.is_empty() {
            return;
        }
        if self.scratch.capacity() < small.len() {
            self.scratch.reserve(SCRATCH.max(small.len()));
        }
        self.scratch.extend_from_slice(small);
        let b = self.scratch.split().freeze();
        self.push(b);
    }

    /// Makes room for `n` bytes of [`push_copy`](Self::push_copy) headers
    /// in one allocation (a frame's worth, before writing them one by one).
    pub fn reserve_copy(&mut self, n: usize) {
        if self.scratch.capacity() < n {
            self.scratch.reserve(SCRATCH.max(n));
        }
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes everything with vectored writes. Fails if the peer accepts
    /// nothing for `stall`. Returns the bytes written.
    ///
    /// The stall timer costs nothing while writes succeed: each write is
    /// tried once first and the timer is set up only when it would block,
    /// so the common case (room in the socket buffer) is one `writev` and
    /// no timer per frame and player.
    pub async fn flush<W>(&mut self, w: &mut W, stall: Duration) -> Result<u64, WriteError>
    where
        W: AsyncWrite + Unpin,
    {
        let mut written = 0u64;
        while !self.queue.is_empty() {
            let queue = &self.queue;
            let mut write = std::pin::pin!(std::future::poll_fn(|cx| {
                // Built per attempt on the stack, not held across an await:
                // 256 slices in every connection's task would cost 4 KiB each.
                // A live frame is a handful of parts: filling 256 slots for
                // it was a quarter of a player's user-space instructions
                // (callgrind, 40 RTMP players), so small queues use a small
                // array.
                if queue.len() <= FEW_IOVECS {
                    let mut slices = [IoSlice::new(&[]); FEW_IOVECS];
                    let count = gather(queue, &mut slices);
                    Pin::new(&mut *w).poll_write_vectored(cx, &slices[..count])
                } else {
                    let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                    let count = gather(queue, &mut slices);
                    Pin::new(&mut *w).poll_write_vectored(cx, &slices[..count])
                }
            }));
            // Tried once without a timer; the stall deadline is armed only
            // if the write would block.
            let attempt =
                match std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await {
                    Poll::Ready(r) => r,
                    Poll::Pending => match tokio::time::timeout(stall, write).await {
                        Ok(r) => r,
                        Err(_) => return Err(WriteError::Stalled(stall)),
                    },
                };
            match attempt {
                Ok(0) => return Err(std::io::Error::from(ErrorKind::WriteZero).into()),
                Ok(n) => {
                    written += n as u64;
                    self.advance(n);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(written)
    }

    /// Everything queued, concatenated, and the queue emptied (tests).
    #[cfg(test)]
    pub fn drain_for_test(&mut self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        for b in self.queue.drain(..) {
            v.extend_from_slice(&b);
        }
        self.len = 0;
        v
    }

    fn advance(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let Some(front) = self.queue.front_mut() else {
                return;
            };
            if n >= front.len() {
                n -= front.len();
                self.queue.pop_front();
                if self.queue.is_empty() {
                    shrink_idle(&mut self.queue);
                }
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    #[tokio::test]
    async fn writes_everything_in_order() {
        let (a, mut b) = pair().await;
        let (_r, mut w) = a.into_split();
        let mut out = Outbox::default();
        for i in 0..200u8 {
            out.push(Bytes::from(vec![i; 3]));
        }
        out.push(Bytes::new());
        assert_eq!(out.len(), 600);
        assert_eq!(
            out.flush(&mut w, Duration::from_secs(1)).await.unwrap(),
            600
        );
        assert!(out.is_empty());
        let mut got = vec![0u8; 600];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[597..], &[199, 199, 199]);
    }

    #[tokio::test]
    async fn shared_parts_and_small_copies_keep_their_order() {
        let (a, mut b) = pair().await;
        let (_r, mut w) = a.into_split();
        let mut out = Outbox::default();
        let shared = [Bytes::from_static(b"abc"), Bytes::from_static(b"de")];
        for i in 0..100u8 {
            out.push_copy(&[b'<', i]);
            out.push_shared(&shared);
            out.push_copy(b"");
        }
        assert_eq!(out.len(), 700);
        out.flush(&mut w, Duration::from_secs(1)).await.unwrap();
        let mut got = vec![0u8; 700];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..14], b"<\0abcde<\x01abcde");
        assert_eq!(&got[693..], b"<\x63abcde");
    }

    #[tokio::test]
    async fn a_peer_that_reads_nothing_stalls() {
        let (a, _b) = pair().await; // `_b` never reads
        let (_r, mut w) = a.into_split();
        let mut out = Outbox::default();
        // Far more than the socket buffers of both ends hold.
        for _ in 0..64 {
            out.push(Bytes::from(vec![0u8; 1 << 20]));
        }
        let e = out
            .flush(&mut w, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(e, WriteError::Stalled(_)), "{e}");
    }
}
