//! The control-plane thread: a small runtime of its own for the HTTP API,
//! `/healthz`, `/metrics` and the watchdog, so that no amount of media load
//! and no stuck media task can starve them.

use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// The control-plane runtime and its thread.
#[derive(Debug)]
pub struct ControlPlane {
    handle: Handle,
    thread: JoinHandle<()>,
    stop: oneshot::Sender<()>,
}

impl ControlPlane {
    /// Starts the `control` thread.
    pub fn start() -> std::io::Result<ControlPlane> {
        let runtime = Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(ControlPlane {
            handle,
            thread,
            stop,
        })
    }

    /// Spawn control-plane work here.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Stops the runtime (dropping its tasks) and joins the thread.
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}
