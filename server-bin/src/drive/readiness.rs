//! Which of a loop's quiet waits were woken since they were last polled.
//!
//! A player's loop turns once per frame, and almost every turn is for its
//! subscriber. Polling the other waits on every turn costs a readiness check
//! (and, for a socket, a lock in tokio's IO driver) each time, although
//! players send almost nothing and are almost never kicked. So each quiet
//! wait is polled with a [`Branch`] waker of its own: the wait is polled again
//! only after that waker fired (or after it was ready, since a reader that
//! returned data may have more without a new wake-up). Both rules are the
//! `Future`/`AsyncRead` contract: a `Pending` poll wakes the waker it was
//! given once it can make progress.
//!
//! A branch's waker records that it fired, then wakes the loop's task
//! through the waker [`Readiness::register`] last saw.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// The loop's task waker, shared by its branches.
#[derive(Default)]
struct Parent(Mutex<Option<Waker>>);

impl Parent {
    fn get(&self) -> Option<Waker> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, waker: Waker) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker);
    }
}

/// The loop's side: keeps the branches' way back to the task current.
pub(crate) struct Readiness {
    parent: Arc<Parent>,
    /// The waker `parent` holds, to skip the lock when it did not change
    /// (on one runtime a task's waker is the same on every poll).
    seen: Option<Waker>,
}

impl Readiness {
    /// No branch yet, no task.
    pub(crate) fn new() -> Readiness {
        Readiness {
            parent: Arc::default(),
            seen: None,
        }
    }

    /// A branch whose first poll is due.
    pub(crate) fn branch(&self) -> Branch {
        let state = Arc::new(BranchState {
            fired: AtomicBool::new(true),
            parent: self.parent.clone(),
        });
        Branch {
            waker: Waker::from(state.clone()),
            state,
        }
    }

    /// Records the task polling the loop now; call first on every poll,
    /// before any branch is looked at, so a branch firing after its check
    /// wakes this task.
    pub(crate) fn register(&mut self, cx: &Context<'_>) {
        if self.seen.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            return;
        }
        self.parent.set(cx.waker().clone());
        self.seen = Some(cx.waker().clone());
    }
}

/// One quiet wait of the loop (the socket's read side, the API kick).
pub(crate) struct Branch {
    state: Arc<BranchState>,
    waker: Waker,
}

impl Branch {
    /// Polls the wait through `poll` if its waker fired since it was last
    /// pending (or it has never been polled, or was ready last time);
    /// `Pending` without polling otherwise.
    pub(crate) fn poll<T>(&self, poll: impl FnOnce(&mut Context<'_>) -> Poll<T>) -> Poll<T> {
        if !self.state.fired.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let result = poll(&mut Context::from_waker(&self.waker));
        if result.is_ready() {
            // Ready may leave more behind (a reader's buffered bytes) with
            // no new wake-up for it: poll again next time.
            self.state.fired.store(true, Ordering::Release);
        }
        result
    }
}

struct BranchState {
    fired: AtomicBool,
    parent: Arc<Parent>,
}

impl Wake for BranchState {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Flag first: the task checks it after registering its waker, so
        // either it sees the flag or this sees its waker.
        self.fired.store(true, Ordering::Release);
        // Woken outside the lock.
        if let Some(task) = self.parent.get() {
            task.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_branch_is_polled_again_only_after_its_waker_fired_or_it_was_ready() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let task = Waker::from(count.clone());
        let cx = Context::from_waker(&task);
        let mut readiness = Readiness::new();
        let branch = readiness.branch();
        readiness.register(&cx);

        // First poll: due. It stays pending, keeping the branch's waker.
        let mut kept = None;
        let polled = branch.poll(|cx| {
            kept = Some(cx.waker().clone());
            Poll::<()>::Pending
        });
        assert!(polled.is_pending());
        // Not woken: not polled.
        assert!(branch
            .poll(|_| -> Poll<()> { panic!("polled") })
            .is_pending());
        // Woken: the task is woken and the branch polled again.
        kept.take().unwrap().wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(branch.poll(|_| Poll::Ready(7)), Poll::Ready(7));
        // Ready last time: polled again without a wake-up.
        assert_eq!(branch.poll(|_| Poll::Ready(8)), Poll::Ready(8));
    }

    #[test]
    fn a_new_task_waker_replaces_the_old_one() {
        let first = Arc::new(Count(AtomicUsize::new(0)));
        let second = Arc::new(Count(AtomicUsize::new(0)));
        let mut readiness = Readiness::new();
        let branch = readiness.branch();
        readiness.register(&Context::from_waker(&Waker::from(first.clone())));
        readiness.register(&Context::from_waker(&Waker::from(second.clone())));
        let mut kept = None;
        let _ = branch.poll(|cx| {
            kept = Some(cx.waker().clone());
            Poll::<()>::Pending
        });
        kept.unwrap().wake_by_ref();
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
    }
}
