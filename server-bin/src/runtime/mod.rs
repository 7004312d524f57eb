//! Where strom's work runs: the media workers (one event loop per thread),
//! the watchdog that measures them, and the control-plane thread.

pub mod control;
pub mod watchdog;
pub mod workers;

pub use control::ControlPlane;
pub use watchdog::{Watchdog, WorkerHealth};
pub use workers::{Worker, WorkerPool};
