//! strom's etcd client against a real etcd (a single member on loopback
//! ports, started per test): leases, the create-if-absent claim and its
//! conditional delete, listing, watching (order, compaction, a broken or
//! silent stream), and failover across endpoints, dead or silent.

#[path = "support/etcd.rs"]
mod etcd_server;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use etcd_server::EtcdServer;
use strom::cluster::etcd::{Created, Etcd, EtcdError, Event, EventKind, Watch};

const REQUEST: Duration = Duration::from_secs(1);

fn client(etcd: &EtcdServer) -> Etcd {
    Etcd::new(std::slice::from_ref(&etcd.url), REQUEST).expect("client")
}

/// A URL on which nothing listens (connection refused).
fn refused_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    format!("http://127.0.0.1:{port}")
}

/// A listener that accepts connections (the kernel's backlog) and never
/// answers, and its URL.
fn silent() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    (l, url)
}

/// Events from `watch` until `n` arrived, each batch within 10 s.
async fn events(watch: &mut Watch, n: usize) -> Vec<Event> {
    let mut all = Vec::new();
    while all.len() < n {
        let batch = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("watch events within 10 s")
            .expect("watch events");
        all.extend(batch);
    }
    all
}

#[tokio::test]
async fn leases_grant_keepalive_revoke() {
    let server = EtcdServer::start("leases");
    let etcd = client(&server);
    let lease = etcd.grant(5).await.expect("grant");
    assert!(lease.id != 0);
    assert_eq!(lease.ttl, 5);
    let ttl = etcd.keep_alive(lease.id).await.expect("keepalive");
    assert!(ttl > 0 && ttl <= 5, "ttl {ttl}");
    etcd.put("/t/leased", b"v", lease.id)
        .await
        .expect("put on lease");
    etcd.revoke(lease.id).await.expect("revoke");
    assert!(
        etcd.keep_alive(lease.id)
            .await
            .expect("keepalive after revoke")
            <= 0
    );
    assert_eq!(
        etcd.get("/t/leased").await.expect("get"),
        None,
        "revoking deletes the lease's keys"
    );
    assert!(matches!(
        etcd.put("/t/x", b"v", lease.id).await,
        Err(EtcdError::LeaseGone)
    ));
    assert!(matches!(
        etcd.create("/t/x", b"v", lease.id).await,
        Err(EtcdError::LeaseGone)
    ));
    etcd.revoke(lease.id)
        .await
        .expect("revoking a gone lease is no error");
}

#[tokio::test]
async fn create_wins_once_and_deletes_need_the_epoch() {
    let server = EtcdServer::start("claims");
    let etcd = client(&server);
    let a = etcd.grant(30).await.expect("grant a").id;
    let b = etcd.grant(30).await.expect("grant b").id;
    let key = "/strom/streams/live/cam";
    let Created::Won { revision: epoch } = etcd.create(key, b"owner a", a).await.expect("create a")
    else {
        panic!("the first create wins");
    };
    let Created::Held(holder) = etcd.create(key, b"owner b", b).await.expect("create b") else {
        panic!("the second create must not win");
    };
    assert_eq!(holder.key_str(), Some(key));
    assert_eq!(holder.value, b"owner a");
    assert_eq!(holder.lease, a);
    assert_eq!(
        holder.create_revision, epoch,
        "the epoch is the create revision"
    );

    assert!(!etcd.delete_if(key, epoch + 1).await.expect("delete_if"));
    assert!(!etcd.delete_if(key, epoch - 1).await.expect("delete_if"));
    assert!(!etcd
        .delete_if_modified_at(key, epoch + 1)
        .await
        .expect("delete_if_mod"));
    let kv = etcd.get(key).await.expect("get").expect("still there");
    assert_eq!(
        (kv.value.as_slice(), kv.create_revision),
        (&b"owner a"[..], epoch)
    );

    // A put keeps the epoch but moves mod_revision.
    let rev = etcd.put(key, b"owner a v2", a).await.expect("put");
    assert!(!etcd
        .delete_if_modified_at(key, epoch)
        .await
        .expect("delete_if_mod"));
    assert!(etcd
        .delete_if_modified_at(key, rev)
        .await
        .expect("delete_if_mod"));
    assert_eq!(etcd.get(key).await.expect("get"), None);

    let Created::Won { revision: epoch2 } = etcd.create(key, b"owner b", b).await.expect("create")
    else {
        panic!("an absent key is won");
    };
    assert!(epoch2 > epoch);
    assert!(!etcd
        .delete_if(key, epoch)
        .await
        .expect("an old epoch deletes nothing"));
    assert!(etcd.delete_if(key, epoch2).await.expect("delete_if"));
    assert_eq!(etcd.get(key).await.expect("get"), None);
    assert!(!etcd
        .delete_if(key, epoch2)
        .await
        .expect("nothing left to delete"));
}

#[tokio::test]
async fn list_returns_the_keys_under_a_prefix_and_the_revision() {
    let server = EtcdServer::start("list");
    let etcd = client(&server);
    let (empty, rev0) = etcd.list("/p/").await.expect("list empty");
    assert!(empty.is_empty());
    assert!(rev0 >= 1);
    for k in ["/p/b", "/p/a", "/p/c/d", "/q/a", "/p"] {
        etcd.put(k, k.as_bytes(), 0).await.expect("put");
    }
    let last = etcd.put("/o/z", b"", 0).await.expect("put");
    let (kvs, rev) = etcd.list("/p/").await.expect("list");
    let keys: Vec<_> = kvs.iter().map(|kv| kv.key_str().unwrap()).collect();
    assert_eq!(
        keys,
        ["/p/a", "/p/b", "/p/c/d"],
        "sorted, only under the prefix"
    );
    assert!(kvs
        .iter()
        .all(|kv| kv.value == kv.key && kv.version == 1 && kv.lease == 0));
    assert_eq!(rev, last, "the store's revision at the read");
}

#[tokio::test]
async fn watch_sees_puts_and_deletes_in_order() {
    let server = EtcdServer::start("watch");
    let etcd = client(&server);
    let (_, rev) = etcd.list("/w/").await.expect("list");
    let mut watch = etcd.watch("/w/", rev + 1).await.expect("watch");
    watch.set_idle(Duration::from_secs(30));
    let lease = etcd.grant(30).await.expect("grant").id;
    let Created::Won { revision: epoch } = etcd.create("/w/a", b"1", lease).await.expect("create")
    else {
        panic!("won");
    };
    etcd.put("/outside", b"x", 0).await.expect("put outside");
    etcd.put("/w/b", b"2", 0).await.expect("put");
    assert!(etcd.delete_if("/w/a", epoch).await.expect("delete"));
    etcd.put("/w/b", b"3", 0).await.expect("put");
    let seen = events(&mut watch, 4).await;
    let summary: Vec<_> = seen
        .iter()
        .map(|e| (e.kind, e.kv.key_str().unwrap(), e.kv.value.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (EventKind::Put, "/w/a", b"1".to_vec()),
            (EventKind::Put, "/w/b", b"2".to_vec()),
            (EventKind::Delete, "/w/a", vec![]),
            (EventKind::Put, "/w/b", b"3".to_vec()),
        ]
    );
    assert_eq!(seen[0].kv.lease, lease);
    assert_eq!(seen[0].kv.create_revision, epoch);
    assert!(seen
        .windows(2)
        .all(|w| w[0].kv.mod_revision < w[1].kv.mod_revision));

    // A watch from an old revision replays history.
    let mut replay = etcd.watch("/w/", rev + 1).await.expect("watch again");
    assert_eq!(events(&mut replay, 4).await, seen);

    // Killing the server breaks the stream: an error, not a hang.
    drop(server);
    let broken = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("a broken watch fails within 10 s");
    assert!(matches!(broken, Err(EtcdError::Broken(_))), "{broken:?}");
    assert!(watch.next().await.is_err(), "and stays failed");
}

#[tokio::test]
async fn a_silent_watch_fails_after_its_idle_limit() {
    let server = EtcdServer::start("idle");
    let etcd = client(&server);
    let mut watch = etcd.watch("/idle/", 0).await.expect("watch");
    watch.set_idle(Duration::from_millis(300));
    let started = Instant::now();
    // `next` canceled again and again (as in a caller's select loop) does
    // not restart the idle limit.
    let r = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            tokio::select! {
                r = watch.next() => break r,
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    })
    .await
    .expect("idle check within 10 s");
    assert!(
        matches!(r, Err(EtcdError::Broken(ref m)) if m.contains("silent")),
        "{r:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn watch_from_a_compacted_revision_reports_compacted() {
    let server = EtcdServer::start("compact");
    let etcd = client(&server);
    let mut last = 0;
    for i in 0..5 {
        last = etcd
            .put("/c/k", format!("{i}").as_bytes(), 0)
            .await
            .expect("put");
    }
    etcd.compact(last).await.expect("compact");
    let result = match etcd.watch("/c/", 1).await {
        Ok(mut w) => tokio::time::timeout(Duration::from_secs(10), w.next())
            .await
            .expect("compaction reported within 10 s")
            .map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(
        matches!(result, Err(EtcdError::Compacted(r)) if r == last),
        "{result:?}"
    );
    // From the compaction revision on, it works.
    let mut w = etcd.watch("/c/", last).await.expect("watch");
    let seen = events(&mut w, 1).await;
    assert_eq!(seen[0].kv.mod_revision, last);
}

#[tokio::test]
async fn a_dead_or_silent_first_endpoint_fails_over() {
    let server = EtcdServer::start("failover");
    let etcd = Etcd::new(&[refused_url(), server.url.clone()], REQUEST).expect("client");
    etcd.put("/f/a", b"1", 0)
        .await
        .expect("past a refusing endpoint");

    let (_hold, silent_url) = silent();
    let etcd = Etcd::new(&[silent_url, server.url.clone()], REQUEST).expect("client");
    let started = Instant::now();
    let kv = etcd.get("/f/a").await.expect("past a silent endpoint");
    assert_eq!(kv.expect("found").value, b"1");
    assert!(started.elapsed() < 2 * REQUEST, "within the call deadline");
    // The endpoint that answered is tried first from now on.
    let started = Instant::now();
    etcd.get("/f/a").await.expect("get");
    etcd.watch("/f/", 0).await.expect("watch");
    assert!(
        started.elapsed() < REQUEST / 2,
        "no time lost on the silent endpoint"
    );
}

#[tokio::test]
async fn every_endpoint_dead_is_unreachable_within_the_deadline() {
    let request = Duration::from_millis(300);
    let (_a, silent_a) = silent();
    let (_b, silent_b) = silent();
    let etcd = Etcd::new(&[refused_url(), silent_a, silent_b], request).expect("client");
    let started = Instant::now();
    let err = etcd.get("/x").await.expect_err("nothing answers");
    let took = started.elapsed();
    assert!(err.is_unreachable(), "{err}");
    assert!(
        took < 2 * request + Duration::from_millis(200),
        "took {took:?}"
    );
    let started = Instant::now();
    assert!(etcd
        .watch("/x/", 0)
        .await
        .expect_err("no watch")
        .is_unreachable());
    assert!(started.elapsed() < 2 * request + Duration::from_millis(200));

    let etcd = Etcd::new(&[refused_url()], request).expect("client");
    let err = etcd.grant(5).await.expect_err("refused");
    assert!(
        err.is_unreachable() && err.to_string().contains("127.0.0.1"),
        "{err}"
    );
}

#[test]
fn bad_endpoints_are_config_errors() {
    for bad in [
        "",
        "127.0.0.1:2379",
        "https://127.0.0.1:2379",
        "http://h:2379/v3",
        "http://:99999",
    ] {
        let r = Etcd::new(&[bad.to_string()], REQUEST);
        assert!(matches!(r, Err(EtcdError::Config(_))), "{bad}: {r:?}");
    }
    assert!(matches!(Etcd::new(&[], REQUEST), Err(EtcdError::Config(_))));
    assert!(matches!(
        Etcd::new(&["http://127.0.0.1:2379".into()], Duration::ZERO),
        Err(EtcdError::Config(_))
    ));
    assert!(Etcd::new(
        &["http://[::1]:2379".into(), "http://localhost".into()],
        REQUEST
    )
    .is_ok());
}
