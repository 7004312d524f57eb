//! The admission rules, on [`Admission`] directly.

use super::*;

fn limits() -> Limits {
    Limits {
        max_sessions: 4,
        max_sessions_per_ip: 3,
        max_pending: 3,
        max_pending_per_ip: 2,
        max_control: 4,
        control_reserve: 2,
        max_control_per_ip: 3,
    }
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

#[test]
fn pending_is_capped_per_address_and_in_total() {
    let adm = Admission::new(Limits {
        max_pending_per_ip: 3,
        ..limits()
    });
    let a1 = adm.admit_session("rtmp", ip(2)).unwrap();
    let _a2 = adm.admit_pending("http", ip(2)).unwrap();
    let _b1 = adm.admit_pending("http", ip(3)).unwrap();
    // Full, and nobody else holds as much as 127.0.0.2: refused.
    assert_eq!(
        adm.admit_pending("http", ip(2)).unwrap_err(),
        Reason::MaxPending
    );
    // Naming a stream frees the pending slot but keeps the session.
    a1.identified();
    a1.identified();
    let _a3 = adm.admit_session("rtmp", ip(2)).unwrap();
    assert_eq!(
        adm.admit_session("rtmp", ip(2)).unwrap_err(),
        Reason::MaxPending
    );
    assert_eq!(adm.usage().sessions, 2);
    assert_eq!(adm.usage().pending, 3);
    let refused: u64 = adm.refusals().iter().map(|r| r.2).sum();
    assert_eq!(refused, 2);
}

#[test]
fn a_full_pending_budget_evicts_a_flooding_address_oldest_first() {
    let adm = Admission::new(limits());
    let first = adm.admit_pending("http", ip(2)).unwrap();
    let second = adm.admit_session("rtmp", ip(2)).unwrap();
    let other = adm.admit_pending("http", ip(3)).unwrap();
    // Full; 127.0.0.2 asks for a third while holding two: refused, and
    // over its own budget it now counts as flooding.
    assert_eq!(
        adm.admit_pending("http", ip(2)).unwrap_err(),
        Reason::MaxPendingPerIp
    );
    // A quiet address gets in by evicting the flooder's oldest.
    let probe = adm.admit_pending("http", ip(9)).unwrap();
    assert!(first.eviction.is_fired());
    assert!(!second.eviction.is_fired() && !other.eviction.is_fired());
    assert_eq!(
        adm.usage().pending,
        4,
        "the evicted one counts until it is gone"
    );
    drop(first);
    assert_eq!(adm.usage().pending, 3);
    // The flooder cannot evict, whatever it holds.
    assert_eq!(
        adm.admit_pending("http", ip(2)).unwrap_err(),
        Reason::MaxPending
    );
    // 127.0.0.8 takes the flooder's last one; the quiet 127.0.0.3 and .9
    // are not touched while a flooder holds anything.
    let again = adm.admit_pending("http", ip(8)).unwrap();
    assert!(second.eviction.is_fired());
    assert!(!other.eviction.is_fired() && !probe.eviction.is_fired());
    drop(second);
    // No flooder holds anything now: a newcomer evicts the oldest pending
    // connection of all (127.0.0.3's), and 127.0.0.3 counts as flooding.
    let newcomer = adm.admit_pending("http", ip(10)).unwrap();
    assert!(other.eviction.is_fired());
    assert!(!probe.eviction.is_fired() && !again.eviction.is_fired());
    drop(other);
    assert_eq!(
        adm.admit_pending("http", ip(3)).unwrap_err(),
        Reason::MaxPending
    );
    let counted = |reason| {
        adm.refusals()
            .iter()
            .filter(|r| r.1 == reason)
            .map(|r| r.2)
            .sum::<u64>()
    };
    assert_eq!(counted(Reason::Evicted), 3);
    // Identification and drops keep the books straight.
    probe.identified();
    drop((probe, again, newcomer));
    let u = adm.usage();
    assert_eq!((u.sessions, u.pending, u.addresses), (0, 0, 0));
    assert!(lock(&adm.counts).order.is_empty());
    assert_eq!(lock(&adm.counts).evicting, 0);
}

#[test]
fn a_newcomer_holding_two_pending_does_not_evict() {
    let adm = Admission::new(Limits {
        max_pending_per_ip: 4,
        ..limits()
    });
    let a = adm.admit_pending("http", ip(2)).unwrap();
    let _b = adm.admit_pending("http", ip(2)).unwrap();
    let _c = adm.admit_pending("http", ip(3)).unwrap();
    // Full. Holding one, 127.0.0.3 may still evict (a client opening its
    // next connection before its last is released): the oldest goes.
    let _d = adm.admit_pending("http", ip(3)).unwrap();
    assert!(a.eviction.is_fired());
    drop(a);
    // Holding two, it may not.
    assert_eq!(
        adm.admit_pending("http", ip(3)).unwrap_err(),
        Reason::MaxPending
    );
}

/// The spread flood of chaos 17, replayed on the books: 90 fresh addresses
/// at once reopening 15 idle connections each, evicted connections taking
/// a while to go, and a health probe asking between rounds. The probe gets
/// in every time, and the pending connections stay within their bound.
#[test]
fn a_spread_flood_never_locks_out_a_probe() {
    let limits = Limits {
        max_pending: 120,
        max_pending_per_ip: 16,
        ..limits()
    };
    let adm = Admission::new(limits);
    let probe_ip = IpAddr::from([127, 0, 0, 1]);
    let flood_ip = |i: usize| IpAddr::from([127, 0, 1, i as u8]);
    let mut held: Vec<Vec<Ticket>> = (0..90).map(|_| Vec::new()).collect();
    // Evicted tickets linger for `LAG` rounds before their task drops them.
    const LAG: usize = 3;
    let mut lingering: std::collections::VecDeque<Vec<Ticket>> = Default::default();
    // The probe has answered before the flood: its address is proven.
    drop(
        adm.admit_pending("http", probe_ip)
            .unwrap()
            .into_control(true),
    );
    let (mut probe_refused, mut max_evicting, mut max_pending) = (0, 0, 0);
    for round in 0..200 {
        for (i, tickets) in held.iter_mut().enumerate() {
            while tickets.len() < 15 {
                match adm.admit_pending("http", flood_ip(i)) {
                    Ok(t) => tickets.push(t),
                    Err(_) => break,
                }
            }
        }
        // The probe asks once a round.
        match adm.admit_pending("http", probe_ip) {
            Ok(t) => drop(t.into_control(true)),
            Err(_) => probe_refused += 1,
        }
        // Evicted connections go after a lag; every tenth round the
        // oldest idle ones time out.
        let mut gone = Vec::new();
        for tickets in &mut held {
            let (evicted, kept): (Vec<_>, Vec<_>) =
                tickets.drain(..).partition(|t| t.eviction.is_fired());
            *tickets = kept;
            gone.extend(evicted);
            if round % 10 == 9 && !tickets.is_empty() {
                gone.push(tickets.remove(0));
            }
        }
        lingering.push_back(gone);
        let c = lock(&adm.counts);
        max_evicting = max_evicting.max(c.evicting);
        max_pending = max_pending.max(c.total.pending);
        drop(c);
        if lingering.len() > LAG {
            lingering.pop_front();
        }
    }
    assert_eq!(probe_refused, 0, "the probe was refused");
    assert!(max_evicting <= 120, "{max_evicting} evictions in flight");
    assert!(max_pending <= 240, "{max_pending} pending at most");
}

#[tokio::test]
async fn an_evicted_ticket_wakes_its_task() {
    let adm = Admission::new(limits());
    let victim = adm.admit_pending("http", ip(2)).unwrap();
    let _b = adm.admit_pending("http", ip(2)).unwrap();
    let _c = adm.admit_pending("http", ip(3)).unwrap();
    let _ = adm.admit_pending("http", ip(2)).unwrap_err(); // flooding now
    let eviction = victim.eviction();
    let waiter = tokio::spawn(async move { eviction.evicted().await });
    tokio::task::yield_now().await;
    let _probe = adm.admit_pending("http", ip(9)).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
        .await
        .expect("woken")
        .unwrap();
}

#[test]
fn sessions_are_capped_per_address_and_in_total() {
    let adm = Admission::new(limits());
    let mut held = Vec::new();
    for _ in 0..3 {
        let t = adm.admit_session("rtsp", ip(2)).unwrap();
        t.identified();
        held.push(t);
    }
    assert_eq!(
        adm.admit_session("rtsp", ip(2)).unwrap_err(),
        Reason::MaxSessionsPerIp
    );
    let t = adm.admit_pending("http", ip(3)).unwrap();
    let t = t.into_session().unwrap();
    assert_eq!(
        adm.admit_pending("http", ip(5))
            .unwrap()
            .into_session()
            .unwrap_err(),
        Reason::MaxSessions
    );
    drop(t);
    drop(held);
    let u = adm.usage();
    assert_eq!(
        (u.sessions, u.pending, u.control, u.addresses),
        (0, 0, 0, 0)
    );
}

#[test]
fn the_control_reserve_is_kept_for_privileged_requests() {
    let adm = Admission::new(limits());
    let c1 = adm.admit_pending("http", ip(2)).unwrap();
    let c1 = c1.into_control(false).unwrap();
    let c2 = adm
        .admit_pending("http", ip(3))
        .unwrap()
        .into_control(false)
        .unwrap();
    // Two of four are reserved: an unprivileged third is refused …
    assert_eq!(
        adm.admit_pending("http", ip(4))
            .unwrap()
            .into_control(false)
            .unwrap_err(),
        Reason::MaxControl
    );
    // … while /healthz still gets in.
    let h = adm
        .admit_pending("http", ip(4))
        .unwrap()
        .into_control(true)
        .unwrap();
    assert_eq!(adm.usage().control, 3);
    assert_eq!(adm.usage().pending, 0);
    drop((c1, c2, h));
    assert_eq!(adm.usage().control, 0);
}

#[test]
fn control_connections_are_capped_per_address() {
    let adm = Admission::new(limits());
    let held: Vec<_> = (0..3)
        .map(|_| {
            adm.admit_pending("http", ip(2))
                .unwrap()
                .into_control(true)
                .unwrap()
        })
        .collect();
    assert_eq!(
        adm.admit_pending("http", ip(2))
            .unwrap()
            .into_control(true)
            .unwrap_err(),
        Reason::MaxControlPerIp
    );
    drop(held);
}

#[test]
fn ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() {
    let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
    let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
    let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
    assert_eq!(address_key(a), address_key(b));
    assert_ne!(address_key(a), address_key(other));
    let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
    assert_eq!(address_key(mapped), ip(2));
    let adm = Admission::new(limits());
    let _t1 = adm.admit_pending("http", a).unwrap();
    let _t2 = adm.admit_pending("http", b).unwrap();
    assert_eq!(
        adm.admit_pending("http", "2001:db8:1:2::9".parse().unwrap())
            .unwrap_err(),
        Reason::MaxPendingPerIp
    );
}

#[test]
fn defaults_derive_from_the_descriptor_limit() {
    let config = Config::default();
    let small = Limits::derive(&config, 1024);
    // Everything the caps allow, plus the reserve, fits under the limit.
    assert!(
        small.descriptors() + config.server.fd_reserve as u64 + PROCESS_BASELINE_FDS <= 1024,
        "{small:?}"
    );
    assert!(small.max_sessions >= 200, "{small:?}");
    assert_eq!(small.max_control, 232, "{small:?}");
    let large = Limits::derive(&config, 1 << 20);
    assert_eq!(large.max_pending, 1024);
    assert!(large.max_sessions > 500_000);
    assert_eq!(large.max_sessions_per_ip, config.server.max_sessions_per_ip);
    // A tiny limit still leaves a usable server.
    let tiny = Limits::derive(&config, 64);
    assert!(tiny.max_sessions >= 16 && tiny.max_pending >= 16);
}

#[test]
fn an_identified_ticket_is_settled_and_never_evicted() {
    let adm = Admission::new(limits());
    let named = adm.admit_session("rtmp", ip(2)).unwrap();
    let idle = adm.admit_pending("http", ip(2)).unwrap();
    let _other = adm.admit_pending("http", ip(3)).unwrap();
    named.identified();
    assert!(named.eviction().is_settled());
    assert!(!idle.eviction().is_settled());
    // 127.0.0.2 floods; a newcomer evicts its pending one, not the named one.
    let _more = adm.admit_pending("http", ip(2)).unwrap();
    assert_eq!(
        adm.admit_pending("http", ip(2)).unwrap_err(),
        Reason::MaxPendingPerIp
    );
    let _probe = adm.admit_pending("http", ip(9)).unwrap();
    assert!(idle.eviction.is_fired() && !idle.eviction().is_settled());
    assert!(!named.eviction.is_fired());
}
