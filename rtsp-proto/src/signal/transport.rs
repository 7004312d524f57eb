//! The `Transport` header (RFC 2326 §12.39): a comma-separated list of transport specs in
//! the client's order of preference; the server answers with the one it picked.

use std::fmt;

use super::error::ParseError;

/// Lower transport (RFC 2326 §12.39 `lower-transport`; UDP when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LowerTransport {
    /// `RTP/AVP` or `RTP/AVP/UDP`.
    Udp,
    /// `RTP/AVP/TCP`: RTP interleaved on the RTSP connection (§10.12).
    Tcp,
}

/// `mode=` (RFC 2326 §12.39; PLAY when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportMode {
    /// `mode=play`.
    Play,
    /// `mode=record` (publishing with ANNOUNCE/RECORD).
    Record,
}

/// One transport spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// The profile; strom supports only `RTP/AVP` (checked by [`Transport::is_supported`]).
    pub profile: String,
    /// UDP or TCP.
    pub lower: LowerTransport,
    /// `unicast` (true) or `multicast` (false); unicast when neither is given.
    pub unicast: bool,
    /// `interleaved=a-b` channel pair.
    pub interleaved: Option<(u8, u8)>,
    /// `client_port=a-b`.
    pub client_port: Option<(u16, u16)>,
    /// `server_port=a-b`.
    pub server_port: Option<(u16, u16)>,
    /// `mode=`.
    pub mode: Option<TransportMode>,
    /// `ssrc=` (8 hex digits).
    pub ssrc: Option<u32>,
    /// Parameters strom does not interpret, kept verbatim (e.g. `ttl=`, `destination=`).
    pub other: Vec<String>,
}

impl Transport {
    /// A unicast spec with no parameters.
    pub fn new(lower: LowerTransport) -> Self {
        Transport {
            profile: "RTP/AVP".into(),
            lower,
            unicast: true,
            interleaved: None,
            client_port: None,
            server_port: None,
            mode: None,
            ssrc: None,
            other: Vec::new(),
        }
    }

    /// Whether strom can serve this spec: RTP/AVP unicast, with `interleaved=` over TCP
    /// or `client_port=` over UDP.
    pub fn is_supported(&self) -> bool {
        self.profile.eq_ignore_ascii_case("RTP/AVP")
            && self.unicast
            && match self.lower {
                LowerTransport::Tcp => true,
                LowerTransport::Udp => self.client_port.is_some(),
            }
    }

    /// Parses one transport spec.
    pub fn parse(spec: &str) -> Result<Transport, ParseError> {
        let mut parts = spec.split(';');
        let head = parts.next().unwrap_or("").trim();
        // transport-protocol/profile[/lower-transport]
        let mut segs = head.split('/');
        let (Some(proto), Some(profile)) = (segs.next(), segs.next()) else {
            return Err(ParseError::malformed("Transport", 0));
        };
        let lower = match segs.next() {
            None => LowerTransport::Udp,
            Some(l) if l.eq_ignore_ascii_case("UDP") => LowerTransport::Udp,
            Some(l) if l.eq_ignore_ascii_case("TCP") => LowerTransport::Tcp,
            Some(_) => return Err(ParseError::malformed("Transport lower-transport", 0)),
        };
        if segs.next().is_some() || proto.is_empty() || profile.is_empty() {
            return Err(ParseError::malformed("Transport", 0));
        }
        let mut t = Transport::new(lower);
        t.profile = format!(
            "{}/{}",
            proto.to_ascii_uppercase(),
            profile.to_ascii_uppercase()
        );
        let mut pos = head.len();
        for p in parts {
            pos += 1;
            let at = pos;
            pos += p.len();
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let (name, value) = match p.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (p, None),
            };
            let bad = || ParseError::malformed("Transport parameter", at);
            match (name.to_ascii_lowercase().as_str(), value) {
                ("unicast", None) => t.unicast = true,
                ("multicast", None) => t.unicast = false,
                ("interleaved", Some(v)) => t.interleaved = Some(pair(v).ok_or_else(bad)?),
                ("client_port", Some(v)) => t.client_port = Some(pair(v).ok_or_else(bad)?),
                ("server_port", Some(v)) => t.server_port = Some(pair(v).ok_or_else(bad)?),
                ("mode", Some(v)) => {
                    // RFC 2326 §12.39: mode = <"> *Method <"> | Method; clients differ on the
                    // quotes and the case ("PLAY", "record").
                    let v = v.trim_matches('"');
                    t.mode = Some(
                        if v.eq_ignore_ascii_case("record") || v.eq_ignore_ascii_case("receive") {
                            TransportMode::Record
                        } else if v.eq_ignore_ascii_case("play") {
                            TransportMode::Play
                        } else {
                            return Err(bad());
                        },
                    );
                }
                // §12.39: ssrc = 8*8(HEX); some clients send fewer digits.
                ("ssrc", Some(v)) => {
                    if v.is_empty() || v.len() > 8 {
                        return Err(bad());
                    }
                    t.ssrc = Some(u32::from_str_radix(v, 16).map_err(|_| bad())?);
                }
                _ => t.other.push(p.to_string()),
            }
        }
        Ok(t)
    }

    /// Parses a whole header value: every spec, in preference order.
    pub fn parse_list(value: &str) -> Result<Vec<Transport>, ParseError> {
        value
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Transport::parse)
            .collect()
    }

    /// The first spec of a header value strom can serve
    /// ([`is_supported`](Transport::is_supported)); `Ok(None)` when none is (answer 461).
    pub fn pick(value: &str) -> Result<Option<Transport>, ParseError> {
        Ok(Transport::parse_list(value)?
            .into_iter()
            .find(Transport::is_supported))
    }
}

/// `a-b` or `a` (then `b = a + 1`, the RTCP channel/port next to RTP, RFC 2326 §12.39).
fn pair<T: std::str::FromStr + Copy + TryFrom<u32> + Into<u32>>(v: &str) -> Option<(T, T)> {
    match v.split_once('-') {
        Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
        None => {
            let a: T = v.trim().parse().ok()?;
            let b = T::try_from(a.into().checked_add(1)?).ok()?;
            Some((a, b))
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.profile)?;
        if self.lower == LowerTransport::Tcp {
            f.write_str("/TCP")?;
        }
        f.write_str(if self.unicast {
            ";unicast"
        } else {
            ";multicast"
        })?;
        if let Some((a, b)) = self.interleaved {
            write!(f, ";interleaved={a}-{b}")?;
        }
        if let Some((a, b)) = self.client_port {
            write!(f, ";client_port={a}-{b}")?;
        }
        if let Some((a, b)) = self.server_port {
            write!(f, ";server_port={a}-{b}")?;
        }
        if let Some(ssrc) = self.ssrc {
            write!(f, ";ssrc={ssrc:08X}")?;
        }
        match self.mode {
            Some(TransportMode::Play) => f.write_str(";mode=play")?,
            Some(TransportMode::Record) => f.write_str(";mode=record")?,
            None => {}
        }
        for o in &self.other {
            write!(f, ";{o}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ffmpeg_record() {
        let t = Transport::parse("RTP/AVP/TCP;unicast;interleaved=0-1;mode=record").unwrap();
        assert_eq!(t.lower, LowerTransport::Tcp);
        assert_eq!(t.interleaved, Some((0, 1)));
        assert_eq!(t.mode, Some(TransportMode::Record));
        assert!(t.is_supported());
        assert_eq!(
            t.to_string(),
            "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record"
        );
    }

    #[test]
    fn list_quoted_mode_and_pick() {
        let v = "RTP/AVP/UDP;multicast;ttl=127;mode=\"PLAY\", RTP/AVP;unicast;client_port=5000-5001;ssrc=1234abcd";
        let l = Transport::parse_list(v).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].mode, Some(TransportMode::Play));
        assert_eq!(l[0].other, ["ttl=127"]);
        let p = Transport::pick(v).unwrap().unwrap();
        assert_eq!(p.client_port, Some((5000, 5001)));
        assert_eq!(p.ssrc, Some(0x1234_abcd));
        assert_eq!(Transport::pick("RTP/AVP;multicast").unwrap(), None);
        assert_eq!(
            Transport::parse("RTP/AVP/TCP;interleaved=4")
                .unwrap()
                .interleaved,
            Some((4, 5))
        );
        assert!(Transport::parse("RTP/AVP/TCP;interleaved=255").is_err());
        assert!(Transport::parse("RTP/AVP/TCP;interleaved=x-1").is_err());
        assert!(Transport::parse("RTP").is_err());
        assert!(Transport::parse("RTP/AVP/SCTP").is_err());
    }

    fn transport() -> impl Strategy<Value = Transport> {
        (
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(any::<(u8, u8)>()),
            proptest::option::of(any::<(u16, u16)>()),
            proptest::option::of(any::<(u16, u16)>()),
            proptest::option::of(prop_oneof![
                Just(TransportMode::Play),
                Just(TransportMode::Record)
            ]),
            proptest::option::of(any::<u32>()),
            prop::collection::vec("x-[a-z]{1,6}=[0-9]{1,4}", 0..3),
        )
            .prop_map(
                |(tcp, unicast, interleaved, client_port, server_port, mode, ssrc, other)| {
                    Transport {
                        profile: "RTP/AVP".into(),
                        lower: if tcp {
                            LowerTransport::Tcp
                        } else {
                            LowerTransport::Udp
                        },
                        unicast,
                        interleaved,
                        client_port,
                        server_port,
                        mode,
                        ssrc,
                        other,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(t in transport()) {
            prop_assert_eq!(Transport::parse(&t.to_string()).unwrap(), t);
        }

        #[test]
        fn never_panics(s in "[ -~]{0,80}") {
            let _ = Transport::parse_list(&s);
        }
    }
}
