//! The accept loop shared by the RTMP and RTSP listeners.
//!
//! Accepting happens on the control-plane runtime (it is cheap and must not
//! depend on any media worker). Every connection is accepted at once, then
//! admitted under the caps ([`crate::admission`]) or refused with its
//! protocol's answer; an admitted socket gets a session guard holding its
//! ticket and is moved to a media worker, where its session runs for its
//! whole life. Running out of descriptors never stalls the loop: the spare
//! descriptor lets it accept and refuse the connection waiting in the backlog.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use stream_core::Protocol;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::admission::fd::{is_exhaustion, Spare, Throttle};
use crate::admission::refuse::{refuse, Refusal};
use crate::admission::{Eviction, Reason};
use crate::server::Shared;
use crate::session::SessionGuard;

/// Accepts connections until `stop` turns true, serving each with `serve`
/// on a media worker.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    protocol: Protocol,
    serve: F,
) where
    F: Fn(TcpStream, Arc<Shared>, SessionGuard) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let name = protocol.name();
    let refusal = match protocol {
        Protocol::Rtsp => Refusal::Rtsp,
        _ => Refusal::Rtmp,
    };
    let mut spare = Spare::new();
    let mut exhausted = Throttle::new(Duration::from_secs(1));
    let mut refused = Throttle::new(Duration::from_secs(1));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) if is_exhaustion(&e) => {
                if let Some(n) = exhausted.hit(Instant::now()) {
                    tracing::warn!(error = %e, occurrences = n, "{name} accept: out of descriptors; refusing with the spare");
                }
                refuse_with_spare(&listener, &mut spare, &shared, name, refusal).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "{name} accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let ticket = match shared.admission.admit_session(name, peer.ip()) {
            Ok(t) => t,
            Err(reason) => {
                if let Some(n) = refused.hit(Instant::now()) {
                    tracing::warn!(%peer, reason = reason.name(), occurrences = n, "{name} connection refused");
                }
                refuse(stream, refusal, reason);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let std_stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot hand a {name} socket to a worker");
                continue;
            }
        };
        crate::io::limit_send_buffer(&std_stream, shared.config.server.socket_send_buffer);
        let eviction = ticket.eviction();
        let guard = shared.sessions.register(protocol, peer);
        guard.hold(ticket);
        let worker = shared.pool.pick();
        let info = guard.info().clone();
        let shared = shared.clone();
        let serve = serve.clone();
        crate::session::spawn(&worker.handle, &info, async move {
            // Registering the socket must happen on the worker's own runtime.
            let stream = match TcpStream::from_std(std_stream) {
                Ok(stream) => stream,
                Err(e) => {
                    return tracing::warn!(error = %e, "cannot register the socket on its worker")
                }
            };
            // Evicted while still pending (it named no stream, so it holds
            // nothing but its socket): dropping the session ends it.
            // Pinned here, not moved into `until_evicted`: a moved future is
            // stored twice in the task (measured: +4 KiB per player).
            let serve = std::pin::pin!(serve(stream, shared, guard));
            if until_evicted(serve, &eviction).await {
                tracing::debug!("evicted before naming a stream");
            }
        });
    }
}

/// Runs `serve` until it ends (`false`) or the connection is evicted while
/// pending (`true`). Once the connection named its stream it can no longer
/// be evicted, and the eviction is not polled again: a player's task turns
/// once per frame, and polling a `Notified` on each turn cost 3 % of
/// strom's user-space instructions (callgrind, 40 RTMP players).
async fn until_evicted(
    mut serve: std::pin::Pin<&mut impl Future<Output = ()>>,
    eviction: &Eviction,
) -> bool {
    let mut evicted = std::pin::pin!(eviction.evicted());
    let mut watching = true;
    std::future::poll_fn(|cx| {
        if serve.as_mut().poll(cx).is_ready() {
            return Poll::Ready(false);
        }
        if watching {
            if eviction.is_settled() {
                watching = false;
            } else if evicted.as_mut().poll(cx).is_ready() {
                return Poll::Ready(true);
            }
        }
        Poll::Pending
    })
    .await
}

/// Out of descriptors: frees the spare, accepts the connection waiting in
/// the backlog and refuses it, then takes the spare back. Without this the
/// listener stays readable and the client hangs until it gives up.
pub async fn refuse_with_spare(
    listener: &TcpListener,
    spare: &mut Spare,
    shared: &Shared,
    name: &'static str,
    refusal: Refusal,
) {
    spare.release();
    // The backlog holds the connection that failed: this accept is immediate.
    let next = tokio::time::timeout(Duration::from_millis(10), listener.accept()).await;
    if let Ok(Ok((stream, _))) = next {
        shared.admission.count_refusal(name, Reason::FdExhausted);
        // No linger: there is no descriptor to spare for one.
        if refusal == Refusal::Http {
            let _ = stream
                .try_write(crate::admission::refuse::http_503(Reason::FdExhausted).as_bytes());
        }
        drop(stream);
    }
    spare.restore();
    // Let sessions end and give their descriptors back before trying again.
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session's future is its largest state (buffers, the session, the
    /// Outbox); the eviction wrapper must hold it by reference, or every
    /// connection's task carries it twice.
    #[test]
    fn the_eviction_wrapper_does_not_hold_the_session_future() {
        let serve = async {
            let buf = [7u8; 4096];
            std::future::pending::<()>().await;
            std::hint::black_box(&buf);
        };
        let serve = std::pin::pin!(serve);
        let eviction = Eviction::default();
        let wrapper = until_evicted(serve, &eviction);
        assert!(std::mem::size_of_val(&wrapper) < 512);
    }

    #[tokio::test]
    async fn an_eviction_ends_a_pending_session_and_a_finished_one_is_not_evicted() {
        let adm = crate::admission::Admission::new(crate::admission::Limits {
            max_sessions: 4,
            max_sessions_per_ip: 4,
            max_pending: 1,
            max_pending_per_ip: 1,
            max_control: 4,
            control_reserve: 1,
            max_control_per_ip: 4,
        });
        let flooder = std::net::IpAddr::from([127, 0, 0, 2]);
        let ticket = adm.admit_pending("http", flooder).unwrap();
        let _ = adm.admit_pending("http", flooder).unwrap_err(); // floods now
        let eviction = ticket.eviction();
        let serve = std::pin::pin!(std::future::pending::<()>());
        let waiting = until_evicted(serve, &eviction);
        let _newcomer = adm
            .admit_pending("http", std::net::IpAddr::from([127, 0, 0, 9]))
            .unwrap();
        assert!(waiting.await, "evicted");
        let done = std::pin::pin!(async {});
        assert!(!until_evicted(done, &eviction).await);
    }
}
