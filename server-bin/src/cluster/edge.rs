//! Edges: a stream another node owns, pulled from it on demand by an
//! ordinary relay (`relay::Origin::Cluster`) whose upstream follows the
//! directory.

use std::time::Duration;

use stream_core::StreamKey;

use super::Owner;
use crate::relay::{Proxy, PullUrl, Scheme};
use crate::server::Shared;

/// The query parameter that carries the ownership epoch in an edge's play
/// request.
pub const EPOCH_PARAM: &str = "strom_epoch";

/// The RTMP URL an edge pulls `key` from while `owner` owns it.
pub fn url(key: &StreamKey, owner: &Owner) -> PullUrl {
    let (host, port) = match owner.advertise.rsplit_once(':') {
        Some((h, p)) => (
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            p.parse().unwrap_or(1935),
        ),
        None => (owner.advertise.clone(), 1935),
    };
    let stream = format!("{}?{EPOCH_PARAM}={}", key.stream, owner.epoch);
    PullUrl {
        scheme: Scheme::Rtmp,
        raw: format!("rtmp://{}/{}/{stream}", owner.advertise, key.app),
        host,
        port,
        app: key.app.clone(),
        stream,
    }
}

/// The epoch an edge's play request carries, if it is one.
pub fn epoch_in(query: Option<&str>) -> Option<i64> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix(EPOCH_PARAM)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

/// Before an edge's attempt: `None` when the directory names an owner (the
/// proxy's URL is brought up to date), or, when nobody owns the name, the
/// reason the attempt ends — after waiting up to `stream.continue_push_ms`
/// for an owner (the supervisor's `moved` wake-up ends the wait early), so
/// an edge never dials a node the directory no longer names.
pub async fn no_owner(shared: &Shared, proxy: &Proxy) -> Option<String> {
    let cluster = shared.cluster.as_ref()?;
    match cluster.directory.owner(&proxy.key) {
        Some(owner) if owner.node != cluster.node => {
            proxy.move_to(url(&proxy.key, &owner), false);
            None
        }
        Some(_) => Some("this node owns the stream now".into()),
        None => {
            tokio::time::sleep(Duration::from_millis(shared.config.stream.continue_push_ms)).await;
            Some(format!(
                "no node owns {} in the cluster directory",
                proxy.key
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_urls_carry_the_epoch() {
        let owner = Owner {
            node: "a".into(),
            advertise: "10.0.0.7:1936".into(),
            http: "10.0.0.7:8080".into(),
            epoch: 42,
        };
        let u = url(&StreamKey::new("live", "cam/1"), &owner);
        assert_eq!((u.host.as_str(), u.port), ("10.0.0.7", 1936));
        assert_eq!(u.app, "live");
        assert_eq!(u.stream, "cam/1?strom_epoch=42");
        assert_eq!(epoch_in(Some("token=x&strom_epoch=42")), Some(42));
        assert_eq!(epoch_in(Some("strom_epochs=4")), None);
        assert_eq!(epoch_in(None), None);
    }
}
