//! Property: random interleavings of publish / push / drop / subscribe / close / time never
//! leave a stream Live without exactly one live guard, nor a guard active on a stream that
//! is not Live (DESIGN rule 1), and everything is released at the end.

use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use stream_core::{ConflictPolicy, Hub, HubConfig, Publisher, StreamState, Subscriber};

use crate::common::*;

const KEYS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum Op {
    Publish(usize),
    Push(usize),
    DropPub(usize),
    Subscribe(usize),
    Recv(usize),
    DropSub(usize),
    Close(usize),
    Sleep(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..KEYS.len()).prop_map(Op::Publish),
        4 => any::<usize>().prop_map(Op::Push),
        2 => any::<usize>().prop_map(Op::DropPub),
        2 => (0..KEYS.len()).prop_map(Op::Subscribe),
        2 => any::<usize>().prop_map(Op::Recv),
        1 => any::<usize>().prop_map(Op::DropSub),
        1 => (0..KEYS.len()).prop_map(Op::Close),
        2 => (0u64..3_000).prop_map(Op::Sleep),
    ]
}

fn check(hub: &Hub, pubs: &[(Publisher, u64)]) {
    for name in KEYS {
        let k = key(name);
        // Snapshot first: it applies due timers, which may end a publisher.
        let snap = hub.stream(&k);
        let active: Vec<u64> = pubs
            .iter()
            .filter(|(p, _)| p.key() == &k && p.is_active())
            .map(|(_, id)| *id)
            .collect();
        assert!(active.len() <= 1, "{name}: two active guards {active:?}");
        let live = snap.as_ref().is_some_and(|s| s.state == StreamState::Live);
        assert_eq!(
            live,
            active.len() == 1,
            "{name}: live={live} active={active:?}"
        );
        let owner = snap.and_then(|s| s.publisher).map(|p| p.session_id);
        assert_eq!(owner, active.first().copied(), "{name}");
    }
}

async fn run(kick: bool, ops: Vec<Op>) {
    let hub = Hub::new(HubConfig {
        continue_push: Duration::from_secs(1),
        max_stream_wait: Duration::from_millis(200),
        publisher_idle_timeout: Duration::from_secs(2),
        stream_none_reader_delay: Duration::from_millis(1500),
        close_on_no_reader: true,
        subscriber_queue_frames: 16,
        max_lag: Duration::from_secs(1),
        publish_conflict: if kick {
            ConflictPolicy::Kick
        } else {
            ConflictPolicy::Reject
        },
        ..HubConfig::default()
    });
    let mut pubs: Vec<(Publisher, u64)> = Vec::new();
    let mut subs: Vec<Subscriber> = Vec::new();
    let mut next_id = 1u64;
    let mut dts = 0i64;
    for op in ops {
        match op {
            Op::Publish(k) => {
                next_id += 1;
                if let Ok(mut p) = hub.publish(key(KEYS[k]), peer(next_id)) {
                    p.set_tracks(video_only());
                    pubs.push((p, next_id));
                }
            }
            Op::Push(i) if !pubs.is_empty() => {
                let n = pubs.len();
                let (p, _) = &mut pubs[i % n];
                for _ in 0..3 {
                    dts += 40;
                    let _ = p.push(vframe(dts, dts % 400 == 0, 100));
                }
            }
            Op::DropPub(i) if !pubs.is_empty() => {
                let n = pubs.len();
                drop(pubs.swap_remove(i % n));
            }
            Op::Subscribe(k) => {
                next_id += 1;
                if let Ok(s) = hub.subscribe(&key(KEYS[k]), peer(next_id)).await {
                    subs.push(s);
                }
            }
            Op::Recv(i) if !subs.is_empty() => {
                let n = subs.len();
                drain(&mut subs[i % n]);
            }
            Op::DropSub(i) if !subs.is_empty() => {
                let n = subs.len();
                drop(subs.swap_remove(i % n));
            }
            Op::Close(k) => {
                hub.close_stream(&key(KEYS[k]));
            }
            Op::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            _ => {}
        }
        check(&hub, &pubs);
    }
    drop(pubs);
    drop(subs);
    tokio::time::sleep(Duration::from_secs(2)).await;
    settle().await;
    assert!(hub.is_empty(), "leftover entries: {:?}", hub.streams());
    let stats = hub.stats();
    assert_eq!(
        (stats.publishers, stats.subscribers, stats.streams),
        (0, 0, 0)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_interleavings_never_leave_a_published_stream_without_a_live_guard(
        kick in any::<bool>(),
        ops in vec(op(), 1..60),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(run(kick, ops));
    }
}
