//! Every liveness rule of the server, in-process under a paused clock
//! (issue 13): the real drivers (`strom::rtmp::serve`, `strom::rtsp::serve`)
//! on `tokio::io::duplex` pipes, with the clients as peers. Deadlines of
//! 15 s and more pass in virtual time, so each test runs in milliseconds
//! and the times asserted are exact, not "within a few seconds". The tests
//! against the real binary with ffmpeg (`rtmp_interop`, `deadlines`, …)
//! remain the proof that real clients see the same thing.

mod bounds;
#[path = "../common/flv_bodies.rs"]
mod flv_bodies;
mod harness;
mod hls_pull;
mod push;
mod relay;
mod rtmp;
mod rtsp;
