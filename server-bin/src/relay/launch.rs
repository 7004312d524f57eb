//! Where relay supervisors (pulls and pushes) are started once the server
//! runs: on a media worker (or a test's runtime), with the server's dialer.

use std::future::Future;
use std::sync::{Arc, Weak};

use super::Dial;
use crate::server::Shared;

/// Starts supervisors.
pub(crate) struct Launcher {
    shared: Weak<Shared>,
    dial: Arc<dyn Dial>,
    /// `None`: spread over the media workers.
    runtime: Option<tokio::runtime::Handle>,
}

impl Launcher {
    /// Supervisors of `shared` dialling with `dial`, on `runtime` (`None`:
    /// spread over the media workers).
    pub(crate) fn new(
        shared: &Arc<Shared>,
        dial: Arc<dyn Dial>,
        runtime: Option<tokio::runtime::Handle>,
    ) -> Launcher {
        Launcher {
            shared: Arc::downgrade(shared),
            dial,
            runtime,
        }
    }

    /// Spawns the supervisor `make` builds, in `span` (nothing once the
    /// server is gone).
    pub(crate) fn spawn<F>(
        &self,
        span: tracing::Span,
        make: impl FnOnce(Arc<Shared>, Arc<dyn Dial>) -> F,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        use tracing::Instrument;
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let runtime = match &self.runtime {
            Some(r) => r.clone(),
            None => shared.pool.pick().handle.clone(),
        };
        runtime.spawn(make(shared, self.dial.clone()).instrument(span));
    }
}
