//! Multi-threaded stress on the real clock: many short publish / subscribe / resume / abort /
//! drop cycles on the same few keys, then a leak check (DESIGN rules 1 and 2).

use std::time::Duration;

use stream_core::{Hub, HubConfig, Publisher};

use crate::common::*;

const KEYS: [&str; 3] = ["a", "b", "c"];
const WORKERS: u64 = 4;
const CYCLES: u64 = 1500;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic per worker, no dependency.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn feed(p: &mut Publisher, n: i64, base: i64) {
    p.set_tracks(av_tracks());
    for i in 0..n {
        let _ = p.push(vframe(base + i * 40, i == 0, 64));
        let _ = p.push(aframe(base + i * 40 + 5));
    }
}

/// What the cycles did, to prove the stress exercised every path.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    cycles: u64,
    published: u64,
    resumed: u64,
    rejected: u64,
    aborted: u64,
    subscribed: u64,
    closed: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.cycles += o.cycles;
        self.published += o.published;
        self.resumed += o.resumed;
        self.rejected += o.rejected;
        self.aborted += o.aborted;
        self.subscribed += o.subscribed;
        self.closed += o.closed;
    }
}

fn count_publish(t: &mut Tally, r: &Result<Publisher, stream_core::PublishError>) {
    match r {
        Ok(p) => {
            t.published += 1;
            t.resumed += u64::from(p.resumed());
        }
        Err(_) => t.rejected += 1,
    }
}

async fn worker(hub: Hub, seed: u64) -> Tally {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut t = Tally::default();
    for c in 0..CYCLES {
        let k = key(KEYS[(rng.next() % 3) as usize]);
        let id = seed * 1_000_000 + c;
        match rng.next() % 6 {
            0 | 1 => {
                let r = hub.publish(k, peer(id));
                count_publish(&mut t, &r);
                if let Ok(mut p) = r {
                    feed(&mut p, 5, (c as i64) * 1000);
                    tokio::task::yield_now().await;
                }
            }
            2 => {
                let r = hub.publish(k, peer(id));
                count_publish(&mut t, &r);
                if let Ok(mut p) = r {
                    feed(&mut p, 2, 0);
                    let task = tokio::spawn(async move {
                        let r = p.closed().await;
                        drop(p);
                        r
                    });
                    tokio::task::yield_now().await;
                    task.abort();
                    t.aborted += u64::from(task.await.is_err());
                }
            }
            3 | 4 => {
                let sub =
                    tokio::time::timeout(Duration::from_millis(20), hub.subscribe(&k, peer(id)));
                if let Ok(Ok(mut s)) = sub.await {
                    t.subscribed += 1;
                    for _ in 0..3 {
                        let _ = tokio::time::timeout(Duration::from_millis(1), s.recv()).await;
                    }
                }
            }
            _ => {
                if rng.next().is_multiple_of(4) {
                    t.closed += u64::from(hub.close_stream(&k));
                } else {
                    let _ = hub.streams();
                    let _ = hub.stats();
                }
            }
        }
        t.cycles += 1;
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cycles_on_the_same_keys_leave_an_empty_hub() {
    let hub = Hub::new(HubConfig {
        continue_push: Duration::from_millis(5),
        max_stream_wait: Duration::from_millis(3),
        publisher_idle_timeout: Duration::from_millis(20),
        stream_none_reader_delay: Duration::from_millis(5),
        close_on_no_reader: true,
        subscriber_queue_frames: 8,
        max_lag: Duration::from_millis(200),
        ..HubConfig::default()
    });
    let start = std::time::Instant::now();
    let tasks: Vec<_> = (0..WORKERS)
        .map(|w| tokio::spawn(worker(hub.clone(), w + 1)))
        .collect();
    let mut tally = Tally::default();
    for t in tasks {
        tally += tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("a worker hung: a lock or wait without deadline")
            .expect("a worker panicked");
    }
    assert_eq!(tally.cycles, WORKERS * CYCLES);
    assert!(
        tally.published > 0
            && tally.resumed > 0
            && tally.rejected > 0
            && tally.aborted > 0
            && tally.subscribed > 0
            && tally.closed > 0,
        "every path exercised: {tally:?}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while !hub.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "entries left behind: {:?}",
            hub.streams()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = hub.stats();
    assert_eq!(
        (stats.streams, stats.publishers, stats.subscribers),
        (0, 0, 0)
    );
    assert!(stats.frames_in > 0);
    let elapsed = start.elapsed();
    eprintln!("{tally:?} in {elapsed:?}");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}
