//! Scenario 10: a hook server that accepts and never answers. Only the
//! sessions that wait on it are delayed (by `hook.timeout_ms`, then
//! `hook.on_failure` decides); players already watching and the API go on.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::clients::{Ffmpeg, Player};
use super::{check_fps, measure_fps, wait_for, wait_live, Ctx};

/// The hook deadline the scenario's server runs with.
const HOOK_TIMEOUT_MS: u64 = 1500;

/// Accepts hook calls and holds them open, silent, until dropped.
pub struct HangingHookServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HangingHookServer {
    /// Listens on a free loopback port.
    pub fn start() -> Result<HangingHookServer, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            // Bounded: at most this many calls are held at once.
            let mut held: Vec<TcpStream> = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) if held.len() < 2000 => held.push(conn),
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(HangingHookServer {
            port,
            stop,
            thread: Some(thread),
        })
    }

    /// The settings that point strom's `on_play` hook here.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "STROM_HOOK__ON_PLAY".into(),
                format!("http://127.0.0.1:{}/index/hook/on_play", self.port),
            ),
            ("STROM_HOOK__TIMEOUT_MS".into(), HOOK_TIMEOUT_MS.to_string()),
            ("STROM_HOOK__ON_FAILURE".into(), "allow".into()),
        ]
    }
}

impl Drop for HangingHookServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Scenario 10: players already watching keep full frame rate and the probe
/// stays fast while new players wait on a hook server that never answers;
/// each newcomer is admitted once `hook.timeout_ms` passes (`on_failure = allow`).
pub fn hanging_hook(ctx: &mut Ctx) -> Result<(), String> {
    let rtmp = ctx.server.rtmp;
    let _publisher = Ffmpeg::publish(rtmp, "hang")?;
    wait_live(ctx.server, "hang", Duration::from_secs(10))?;
    // Even the first players wait on the hook; let them through first.
    let watching: Vec<Player> = (0..ctx.profile.pick(3, 10))
        .map(|_| Player::start(rtmp, "hang"))
        .collect();
    let admitted = wait_for(Duration::from_secs(8), || {
        watching.iter().all(|p| p.frames() > 0)
    });
    ctx.check(
        admitted.is_some(),
        "the first players never got past the hook",
    );

    let t = Instant::now();
    let waiting: Vec<Player> = (0..ctx.profile.pick(10, 50))
        .map(|_| Player::start(rtmp, "hang"))
        .collect();
    // While the newcomers hang on the hook, the players already watching go on.
    let rates = measure_fps(&watching, 1.2);
    let min = check_fps(ctx, "players beside the hanging hook", &rates);
    let all_in = wait_for(Duration::from_secs(10), || {
        waiting.iter().all(|p| p.frames() > 0)
    });
    let took = t.elapsed();
    ctx.check(
        all_in.is_some(),
        format!(
            "{} of {} newcomers admitted after the hook deadline",
            waiting.iter().filter(|p| p.frames() > 0).count(),
            waiting.len()
        ),
    );
    ctx.check(
        took >= Duration::from_millis(HOOK_TIMEOUT_MS),
        format!(
            "newcomers got in after {} ms, before the hook deadline",
            took.as_millis()
        ),
    );
    ctx.figure(format!(
        "{} plays waited on a hook that never answers, all admitted {} ms after asking (hook.timeout_ms {HOOK_TIMEOUT_MS}, on_failure allow); players already watching min {min:.1} fps",
        waiting.len(),
        took.as_millis()
    ));
    Ok(())
}
