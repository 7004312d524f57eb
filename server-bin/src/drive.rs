//! The one drive loop every connection-oriented protocol runs on.
//!
//! A protocol session is a sans-IO machine that owns its deadlines
//! (`poll_timeout` / `handle_timeout`); a [`Driven`] adapter wraps it with
//! the server's policy (stream-core, hooks, media conversion). This module
//! is the only place that moves bytes between a socket and a session:
//!
//! ```text
//!   loop {
//!       adapter.on_events()      answer requests, publish, subscribe …
//!       flush                    vectored, bounded by server.write_stall_ms
//!       wait for the first of {
//!           kick from the API     -> End::Kicked
//!           sleep until adapter.poll_timeout() -> adapter.handle_timeout(now)
//!           read (bounded buffer) -> adapter.input(bytes, now)
//!           adapter.wake()        -> adapter.on_wake()   subscriber frames, publisher closed, UDP
//!       }
//!   }
//! ```
//!
//! The wait is one `poll_fn`, not a `select!`: a player turns once per
//! frame and nearly every turn is its subscriber's, so the socket's read
//! side and the kick are polled only after their own wakers fired
//! (`Readiness`) instead of on every turn; the deadline is checked before
//! the IO, and the read and `wake` take turns going first, so no branch can
//! starve another.
//!
//! Every way out is one [`End`]; [`serve`] logs it, counts it and, when the
//! server chose to close, lingers so the peer reads the last words.
//!
//! Time comes from `tokio::time::Instant`, converted to `std` for the
//! sessions: under a paused test clock the whole loop runs in virtual time.

mod readiness;

use std::future::Future;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use stream_core::{CloseReason, EndReason};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::io::{Outbox, WriteError};
use crate::session::{SessionGuard, SessionInfo};
pub(crate) use readiness::Readiness;

/// The current time for a session: virtual under a paused test clock.
pub fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// How a session ended. One enum for every protocol: its
/// [`name`](End::name) is the `reason` label of `strom_sessions_closed_total`.
#[derive(Debug, thiserror::Error)]
pub enum End {
    /// The peer closed the connection or said it was done.
    #[error("peer closed")]
    PeerClosed,
    /// A deadline of the session passed (handshake, publisher keep-alive,
    /// session timeout).
    #[error("{0} deadline passed")]
    Timeout(&'static str),
    /// The peer broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(Box<dyn std::error::Error + Send + Sync>),
    /// Reading the socket failed.
    #[error("read failed: {0}")]
    Read(std::io::Error),
    /// Writing failed, or the peer accepted nothing for the stall limit.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The request was refused (already publishing, stream not found, denied).
    #[error("refused: {0}")]
    Refused(String),
    /// The server told the publisher to go (taken over, closed, shutdown).
    #[error("publisher closed by the server: {0}")]
    PublisherClosed(CloseReason),
    /// The stream ended for this player.
    #[error("stream ended for the player: {0}")]
    PlayEnded(EndReason),
    /// The stream's codecs changed under the player (an upstream or a
    /// resumed publisher came back with another codec): it must play again.
    #[error("the stream's codec changed ({0}): play again")]
    CodecChanged(String),
    /// Closed through the API.
    #[error("kicked through the API")]
    Kicked,
    /// The publisher sent media strom cannot use.
    #[error("bad media: {0}")]
    Media(#[from] crate::media::flv_ingest::IngestError),
}

impl From<rtmp_proto::Error> for End {
    fn from(e: rtmp_proto::Error) -> Self {
        End::Protocol(Box::new(e))
    }
}

impl From<rtsp_proto::signal::SessionError> for End {
    fn from(e: rtsp_proto::signal::SessionError) -> Self {
        End::Protocol(Box::new(e))
    }
}

impl End {
    /// Short name, the `reason` label of `strom_sessions_closed_total`.
    pub fn name(&self) -> &'static str {
        match self {
            End::PeerClosed => "peer-closed",
            End::Timeout(_) => "timeout",
            End::Protocol(_) => "protocol-error",
            End::Read(_) => "read-error",
            End::Write(WriteError::Stalled(_)) => "write-stall",
            End::Write(_) => "write-error",
            End::Refused(_) => "refused",
            End::PublisherClosed(CloseReason::TakenOver) => "taken-over",
            End::PublisherClosed(_) => "closed-by-server",
            End::PlayEnded(EndReason::Lagged) => "lagged",
            End::CodecChanged(_) => "codec-changed",
            End::PlayEnded(_) => "stream-ended",
            End::Kicked => "kicked",
            End::Media(_) => "bad-media",
        }
    }

    /// Whether the peer is gone or the socket broken: nothing more can be
    /// said, so no lingering.
    fn socket_gone(&self) -> bool {
        matches!(self, End::PeerClosed | End::Read(_) | End::Write(_))
    }

    /// An ordinary ending, logged at info (the others at warn).
    fn ordinary(&self) -> bool {
        matches!(
            self,
            End::PeerClosed | End::PlayEnded(EndReason::StreamEnded)
        )
    }
}

/// A protocol session with the server's policy around it: what the drive
/// loop runs. Implemented by the RTMP and RTSP connections, and by every
/// future protocol (relay clients, WebRTC signalling over TCP).
///
/// Every method but [`wake`](Driven::wake) is called with no other borrow
/// alive; `wake` must be cancel-safe (it is raced against the socket and
/// the timer, and dropped when they win).
pub trait Driven {
    /// What [`wake`](Driven::wake) reports.
    type Wake;

    /// Bytes read from the peer (owned: payloads may stay slices of them).
    fn input(&mut self, bytes: bytes::Bytes, now: std::time::Instant) -> Result<(), End>;

    /// Handles what the session reported: answers its requests (which may
    /// wait for hooks or a stream, each bounded), feeds media in. An `Err`
    /// ends the connection after a last flush.
    fn on_events(&mut self) -> impl Future<Output = Result<(), End>> + Send;

    /// Moves the bytes the session (and the adapter) want to send into the
    /// outbox the loop flushes.
    fn transmit(&mut self) -> &mut Outbox;

    /// The earliest deadline of the session and of the adapter's own timers.
    fn poll_timeout(&self) -> Option<std::time::Instant>;

    /// Called when `poll_timeout` passed; a passed session deadline shows
    /// as an event that [`on_events`](Driven::on_events) turns into
    /// [`End::Timeout`].
    fn handle_timeout(&mut self, now: std::time::Instant);

    /// Waits for something other than the socket: a subscriber's frames, the
    /// publisher being closed, a UDP datagram. Pending forever if none
    /// applies. Must be cancel-safe.
    fn wake(&mut self) -> impl Future<Output = Self::Wake> + Send;

    /// Handles what [`wake`](Driven::wake) returned.
    fn on_wake(&mut self, wake: Self::Wake) -> impl Future<Output = Result<(), End>> + Send;

    /// How much the next read may return: small while a connection only
    /// talks, large once it publishes (the buffer is per connection).
    fn read_size(&self) -> usize;
}

/// Server-side limits of the loop.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A peer that accepts no bytes for this long is closed.
    pub write_stall: Duration,
    /// How long a server-initiated close waits for the peer to read.
    pub linger: Duration,
}

/// Runs one connection to its end, then logs and counts how it ended.
pub async fn serve<D, R, W>(
    mut session: D,
    mut rd: R,
    mut wr: W,
    limits: Limits,
    mut guard: SessionGuard,
    protocol: &'static str,
) -> End
where
    D: Driven,
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let end = drive(&mut session, &mut rd, &mut wr, limits, guard.info()).await;
    if !end.socket_gone() {
        crate::io::linger_close(&mut rd, &mut wr, limits.linger).await;
    }
    record_end(&mut guard, &end, protocol);
    drop(session);
    end
}

/// Counts and logs how a session ended (for sessions that end outside
/// [`serve`], such as HTTP pulls run by hyper).
pub fn record_end(guard: &mut SessionGuard, end: &End, protocol: &'static str) {
    guard.set_end_reason(end.name());
    let info = guard.info();
    let bytes_in = info.bytes_in.load(Ordering::Relaxed);
    let bytes_out = info.bytes_out.load(Ordering::Relaxed);
    if end.ordinary() {
        tracing::info!(bytes_in, bytes_out, "{protocol} session ended: {end}");
    } else {
        tracing::warn!(bytes_in, bytes_out, "{protocol} session closed: {end}");
    }
}

/// The loop itself; see the [module docs](self).
async fn drive<D, R, W>(
    s: &mut D,
    rd: &mut R,
    wr: &mut W,
    limits: Limits,
    info: &SessionInfo,
) -> End
where
    D: Driven,
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = BytesMut::with_capacity(s.read_size());
    // Created once: a fresh `Notified` per turn would register and
    // unregister a waiter for every frame sent.
    let kicked = info.kicked();
    tokio::pin!(kicked);
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer);
    // The socket's read side and the kick are polled only when their own
    // wakers fired: most turns are a player's frames.
    let mut ready = Readiness::new();
    let read_due = ready.branch();
    let kick_due = ready.branch();
    // Socket and `wake` take turns going first, so neither starves the other.
    let mut read_first = true;
    // The deadline that fired last: a session that reports it again after
    // handling it would spin the loop, so it is retried a millisecond later.
    let mut fired = None;
    loop {
        if let Err(end) = s.on_events().await {
            // Tell the peer why (Publish.BadName, 454 …) before closing.
            let _ = flush(s, wr, limits, info).await;
            return end;
        }
        if let Err(e) = flush(s, wr, limits, info).await {
            return e.into();
        }
        let mut deadline = s.poll_timeout().map(tokio::time::Instant::from_std);
        if deadline.is_some() && deadline == fired {
            deadline = deadline.map(|d| d + Duration::from_millis(1));
        }
        if let Some(d) = deadline {
            if timer.deadline() != d {
                timer.as_mut().reset(d);
            }
        }
        let turn = {
            let wake = s.wake();
            tokio::pin!(wake);
            std::future::poll_fn(|cx| {
                ready.register(cx);
                if kick_due.poll(|cx| kicked.as_mut().poll(cx)).is_ready() {
                    return Poll::Ready(Turn::Kicked);
                }
                // Deadlines before IO: a peer that keeps the socket busy
                // must not hold off its own timeout.
                if deadline.is_some() && timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Turn::Timer);
                }
                let read = |rd: &mut R, buf: &mut BytesMut| {
                    read_due.poll(|cx| {
                        let read = rd.read_buf(buf);
                        tokio::pin!(read);
                        read.poll(cx)
                    })
                };
                if read_first {
                    if let Poll::Ready(r) = read(rd, &mut buf) {
                        return Poll::Ready(Turn::Read(r));
                    }
                }
                if let Poll::Ready(w) = wake.as_mut().poll(cx) {
                    return Poll::Ready(Turn::Wake(w));
                }
                if !read_first {
                    if let Poll::Ready(r) = read(rd, &mut buf) {
                        return Poll::Ready(Turn::Read(r));
                    }
                }
                Poll::Pending
            })
            .await
        };
        match turn {
            Turn::Read(read) => {
                read_first = false;
                match read {
                    Ok(0) => return End::PeerClosed,
                    Ok(n) => {
                        info.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                        let input = take_input(&mut buf, s.read_size());
                        if let Err(end) = s.input(input, now()) {
                            let _ = flush(s, wr, limits, info).await;
                            return end;
                        }
                    }
                    Err(e) => return End::Read(e),
                }
            }
            Turn::Kicked => return End::Kicked,
            Turn::Wake(wake) => {
                read_first = true;
                if let Err(end) = s.on_wake(wake).await {
                    let _ = flush(s, wr, limits, info).await;
                    return end;
                }
            }
            Turn::Timer => {
                fired = deadline;
                s.handle_timeout(now());
            }
        }
    }
}

/// What ended one wait of the loop.
enum Turn<W> {
    Read(std::io::Result<usize>),
    Kicked,
    Wake(W),
    Timer,
}

/// Writes what the session wants sent.
async fn flush<D, W>(
    s: &mut D,
    wr: &mut W,
    limits: Limits,
    info: &SessionInfo,
) -> Result<(), WriteError>
where
    D: Driven,
    W: AsyncWrite + Unpin,
{
    let out = s.transmit();
    if out.is_empty() {
        return Ok(());
    }
    let n = out.flush(wr, limits.write_stall).await?;
    info.bytes_out.fetch_add(n, Ordering::Relaxed);
    Ok(())
}

/// The bytes read, handed to the session, and `buf` ready for the next read.
///
/// Sessions keep slices of their input without copying (RTP payloads, an
/// RTMP message in one chunk), and a slice keeps its whole allocation
/// alive: a 300-byte audio frame cut from a 64 KiB read buffer pins 64 KiB
/// for as long as the GOP cache holds the frame. So a read that filled less
/// than a quarter of the buffer is copied out into an allocation of its own
/// size and the buffer is reused; a larger one is handed over as it is and
/// a new buffer is made. Pinned memory stays within 4× the data, and a
/// stream of small reads no longer allocates a fresh buffer per read.
fn take_input(buf: &mut BytesMut, read_size: usize) -> Bytes {
    if buf.len().saturating_mul(4) < buf.capacity() {
        let input = Bytes::copy_from_slice(buf);
        buf.clear();
        input
    } else {
        let input = buf.split().freeze();
        buf.reserve(read_size);
        input
    }
}

#[cfg(test)]
mod tests {
    use super::take_input;
    use bytes::{BufMut, BytesMut};

    #[test]
    fn a_small_read_is_copied_out_and_the_buffer_reused() {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let start = buf.as_ptr();
        buf.put_slice(&[7; 300]);
        let input = take_input(&mut buf, 64 * 1024);
        assert_eq!(&input[..], &[7; 300][..]);
        // Its own allocation, not a slice of the read buffer…
        assert!(input.as_ptr() != start);
        // …which is empty and kept for the next read.
        assert!(buf.is_empty() && buf.capacity() >= 64 * 1024 && buf.as_ptr() == start);
    }

    #[test]
    fn a_large_read_is_handed_over_without_a_copy() {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let start = buf.as_ptr();
        buf.put_slice(&[7; 40 * 1024]);
        let input = take_input(&mut buf, 64 * 1024);
        assert_eq!(input.as_ptr(), start);
        assert!(buf.is_empty() && buf.capacity() >= 64 * 1024);
    }
}
