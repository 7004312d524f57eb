//! Writing queued `Bytes` to a socket with vectored writes and a stall deadline.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Most buffers handed to one `writev`.
const MAX_IOVECS: usize = 64;

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

/// Bytes waiting to be written, in order.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: VecDeque<Bytes>,
    len: usize,
}

impl Outbox {
    /// Appends a buffer (empty ones are skipped).
    pub fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.queue.push_back(bytes);
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

    /// Writes everything with vectored writes. Fails if a single write makes
    /// no progress for `stall`. Returns the bytes written.
    pub async fn flush<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        stall: Duration,
    ) -> Result<u64, WriteError> {
        let mut written = 0u64;
        while !self.queue.is_empty() {
            let slices: Vec<IoSlice<'_>> = self
                .queue
                .iter()
                .take(MAX_IOVECS)
                .map(|b| IoSlice::new(b))
                .collect();
            let n = match tokio::time::timeout(stall, w.write_vectored(&slices)).await {
                Err(_) => return Err(WriteError::Stalled(stall)),
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok(0)) => return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into()),
                Ok(Ok(n)) => n,
            };
            written += n as u64;
            self.advance(n);
        }
        Ok(written)
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

    #[tokio::test]
    async fn writes_everything_in_order() {
        let mut out = Outbox::default();
        for i in 0..200u8 {
            out.push(Bytes::from(vec![i; 3]));
        }
        out.push(Bytes::new());
        assert_eq!(out.len(), 600);
        let mut sink = Vec::new();
        assert_eq!(
            out.flush(&mut sink, Duration::from_secs(1)).await.unwrap(),
            600
        );
        assert!(out.is_empty());
        assert_eq!(sink.len(), 600);
        assert_eq!(&sink[597..], &[199, 199, 199]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_reads_nothing_stalls() {
        let (mut w, _r) = tokio::io::duplex(16);
        let mut out = Outbox::default();
        out.push(Bytes::from(vec![0u8; 64]));
        let e = out
            .flush(&mut w, Duration::from_millis(500))
            .await
            .unwrap_err();
        assert!(matches!(e, WriteError::Stalled(_)), "{e}");
    }
}
