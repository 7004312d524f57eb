//! What a connection holds: its [`Ticket`], released on drop, and the
//! [`Eviction`] that ends it early.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use super::counts::{add, sub, Counts};
use super::{Admission, Reason};
use crate::session::lock;

/// Tells a pending connection that it was evicted to make room for a
/// newcomer; its task ends the connection.
#[derive(Debug, Default)]
pub struct Eviction {
    fired: AtomicBool,
    /// The connection was identified first: it can no longer be evicted.
    settled: AtomicBool,
    notify: Notify,
}

impl Eviction {
    /// Resolves once the connection is evicted. Cancel-safe; one waiter.
    pub async fn evicted(&self) {
        while !self.fired.load(Ordering::Acquire) {
            self.notify.notified().await;
        }
    }

    pub(super) fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        // notify_one keeps a permit if the task is not waiting right now.
        self.notify.notify_one();
    }

    pub(super) fn is_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// The connection named its stream before any eviction: [`evicted`]
    /// will never resolve, so its task may stop polling it.
    ///
    /// [`evicted`]: Self::evicted
    pub fn is_settled(&self) -> bool {
        self.settled.load(Ordering::Acquire)
    }
}

/// What a connection holds of the caps; dropping it releases everything.
#[derive(Debug)]
pub struct Ticket {
    pub(super) admission: Arc<Admission>,
    pub(super) ip: IpAddr,
    pub(super) listener: &'static str,
    pub(super) session: bool,
    pub(super) control: bool,
    pub(super) pending: AtomicBool,
    pub(super) id: u64,
    pub(super) eviction: Arc<Eviction>,
}

impl Ticket {
    /// The peer address counted.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The connection said who it is (named its stream): it stops counting
    /// against the pending budgets. Idempotent.
    pub fn identified(&self) {
        if self.pending.swap(false, Ordering::AcqRel) {
            let mut c = lock(&self.admission.counts);
            self.release_pending(&mut c);
            c.mark_proven(self.ip, Instant::now());
        }
    }

    /// Resolves when the connection was evicted while pending (see
    /// [`Admission`]); its task should end the connection.
    pub fn eviction(&self) -> Arc<Eviction> {
        self.eviction.clone()
    }

    fn release_pending(&self, c: &mut Counts) {
        sub(c, self.ip, |h| h.pending -= 1);
        if self.eviction.is_fired() {
            c.evicting -= 1;
        } else {
            // Under the books' lock, like every eviction: once forgotten
            // here, this ticket can no longer be chosen.
            c.forget_pending(self.ip, self.id);
            self.eviction.settled.store(true, Ordering::Release);
        }
    }

    /// A classified HTTP connection for media becomes a session (still
    /// pending until its request head is read).
    pub fn into_session(mut self) -> Result<Ticket, Reason> {
        let adm = self.admission.clone();
        let mut c = lock(&adm.counts);
        adm.check_session(&c, self.ip)
            .inspect_err(|r| adm.count_refusal(self.listener, *r))?;
        add(&mut c, self.ip, |h| h.sessions += 1);
        self.session = true;
        Ok(self)
    }

    /// A classified HTTP connection for the control plane: no longer
    /// pending, counted as a control connection. `privileged` requests
    /// (`/healthz`, `/metrics`, API calls from trusted networks) may use the
    /// reserve.
    pub fn into_control(mut self, privileged: bool) -> Result<Ticket, Reason> {
        let adm = self.admission.clone();
        {
            let mut c = lock(&adm.counts);
            adm.check_control(&c, self.ip, privileged)
                .inspect_err(|r| adm.count_refusal(self.listener, *r))?;
            add(&mut c, self.ip, |h| h.control += 1);
            self.control = true;
        }
        self.identified();
        Ok(self)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let pending = self.pending.load(Ordering::Acquire);
        let (session, control) = (self.session, self.control);
        let mut c = lock(&self.admission.counts);
        if pending {
            self.release_pending(&mut c);
        }
        sub(&mut c, self.ip, |h| {
            h.sessions -= usize::from(session);
            h.control -= usize::from(control);
        });
    }
}
