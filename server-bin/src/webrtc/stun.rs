//! Just enough STUN (RFC 8489) to route a binding request: the local part
//! of its `USERNAME`. str0m checks everything else (integrity, fingerprint).

/// STUN's magic cookie.
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
/// `USERNAME`.
const ATTR_USERNAME: u16 = 0x0006;
/// A username longer than this is not one strom gave out.
const MAX_USERNAME: usize = 513;

/// The ufrag strom gave (before the `:`) in a STUN message's `USERNAME`,
/// or `None` for anything that is not such a message.
pub(super) fn local_ufrag(data: &[u8]) -> Option<&str> {
    if data.len() < 20 || data[0] & 0xc0 != 0 || data[4..8] != MAGIC_COOKIE {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
    let body = data.get(20..20 + len)?;
    let mut at = 0;
    while at + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[at], body[at + 1]]);
        let alen = usize::from(u16::from_be_bytes([body[at + 2], body[at + 3]]));
        let value = body.get(at + 4..at + 4 + alen)?;
        if kind == ATTR_USERNAME {
            if alen > MAX_USERNAME {
                return None;
            }
            let name = std::str::from_utf8(value).ok()?;
            return name.split(':').next();
        }
        at += 4 + alen.div_ceil(4) * 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn binding(username: &[u8]) -> Vec<u8> {
        let mut attr = vec![0x00, 0x06];
        attr.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attr.extend_from_slice(username);
        while attr.len() % 4 != 0 {
            attr.push(0);
        }
        // A PRIORITY attribute first, as browsers send.
        let mut body = vec![0x00, 0x24, 0x00, 0x04, 1, 2, 3, 4];
        body.extend_from_slice(&attr);
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(body.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn finds_the_local_ufrag() {
        assert_eq!(local_ufrag(&binding(b"srv1:cli2")), Some("srv1"));
        assert_eq!(local_ufrag(&binding(b"abc")), Some("abc"));
    }

    #[test]
    fn ignores_what_is_not_stun() {
        let m = binding(b"srv1:cli2");
        assert_eq!(local_ufrag(&m[..19]), None);
        assert_eq!(local_ufrag(&m[..m.len() - 2]), None, "truncated body");
        let mut rtp = m.clone();
        rtp[0] = 0x80;
        assert_eq!(local_ufrag(&rtp), None);
        let mut cookie = m;
        cookie[5] = 0;
        assert_eq!(local_ufrag(&cookie), None);
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = local_ufrag(&data);
        }
    }
}
