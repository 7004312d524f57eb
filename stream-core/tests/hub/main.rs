//! Behaviour tests of the hub, one per rule, on tokio's paused clock unless stated.
//! (One test binary with modules keeps link time down on a 2-core machine.)

mod arbitration;
mod common;
mod fanout;
mod lifecycle;
mod props;
mod stress;
mod subscribe;
