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

/// The query parameter that carries the edge's signature.
pub const SIGN_PARAM: &str = "strom_sign";

/// The query an edge's requests for `key` at `epoch` carry:
/// `strom_epoch=E`, and with a cluster secret `&strom_sign=HMAC`.
pub fn query(key: &StreamKey, epoch: i64, secret: &str) -> String {
    match secret {
        "" => format!("{EPOCH_PARAM}={epoch}"),
        s => format!("{EPOCH_PARAM}={epoch}&{SIGN_PARAM}={}", sign(key, epoch, s)),
    }
}

/// HMAC-SHA256 of `app/stream` and the epoch under the cluster secret, hex.
pub fn sign(key: &StreamKey, epoch: i64, secret: &str) -> String {
    use hmac::Mac;
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new(); // HMAC takes keys of any length
    };
    mac.update(format!("{key}\n{epoch}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `query` carries a valid signature for `key` at `epoch`.
pub fn signed(key: &StreamKey, epoch: i64, secret: &str, query: &str) -> bool {
    let given = query
        .split('&')
        .find_map(|kv| kv.strip_prefix(SIGN_PARAM)?.strip_prefix('='));
    let expected = sign(key, epoch, secret);
    // Compared in constant time: the signature is a credential.
    given.is_some_and(|g| {
        g.len() == expected.len()
            && g.bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    })
}

/// The RTMP URL an edge pulls `key` from while `owner` owns it.
pub fn url(key: &StreamKey, owner: &Owner, secret: &str) -> PullUrl {
    let (host, port) = match owner.advertise.rsplit_once(':') {
        Some((h, p)) => (
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            p.parse().unwrap_or(1935),
        ),
        None => (owner.advertise.clone(), 1935),
    };
    let stream = format!("{}?{}", key.stream, query(key, owner.epoch, secret));
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
            proxy.move_to(cluster.edge_url(&proxy.key, &owner), false);
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
        let u = url(&StreamKey::new("live", "cam/1"), &owner, "");
        assert_eq!((u.host.as_str(), u.port), ("10.0.0.7", 1936));
        assert_eq!(u.app, "live");
        assert_eq!(u.stream, "cam/1?strom_epoch=42");
        assert_eq!(epoch_in(Some("token=x&strom_epoch=42")), Some(42));
        assert_eq!(epoch_in(Some("strom_epochs=4")), None);
        assert_eq!(epoch_in(None), None);
    }

    #[test]
    fn signatures_bind_the_name_and_the_epoch() {
        let key = StreamKey::new("live", "cam");
        let q = query(&key, 7, "s3cret");
        assert!(q.starts_with("strom_epoch=7&strom_sign="));
        assert!(signed(&key, 7, "s3cret", &q));
        assert!(!signed(&key, 8, "s3cret", &q), "another epoch");
        assert!(!signed(&StreamKey::new("live", "other"), 7, "s3cret", &q));
        assert!(!signed(&key, 7, "other secret", &q));
        assert!(!signed(&key, 7, "s3cret", "strom_epoch=7"), "unsigned");
        assert_eq!(query(&key, 7, ""), "strom_epoch=7");
    }
}
