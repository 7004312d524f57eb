//! The `RTP-Info` header (RFC 2326 §12.33), sent in the PLAY answer: per track, its URL
//! and the sequence number and RTP timestamp of the first packet after the PLAY.

use std::fmt;

use super::error::ParseError;

/// One stream's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpInfoEntry {
    /// The track URL (as the client SETUP it).
    pub url: String,
    /// `seq=`.
    pub seq: Option<u16>,
    /// `rtptime=`.
    pub rtptime: Option<u32>,
}

/// An `RTP-Info` header value: a comma-separated list of entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RtpInfo(pub Vec<RtpInfoEntry>);

impl RtpInfo {
    /// Parses a header value. URLs containing `,` or `;` are not supported (RFC 2326 does
    /// not quote them either).
    pub fn parse(value: &str) -> Result<RtpInfo, ParseError> {
        let mut out = Vec::new();
        for entry in value.split(',').filter(|e| !e.trim().is_empty()) {
            let mut e = RtpInfoEntry {
                url: String::new(),
                seq: None,
                rtptime: None,
            };
            for p in entry.split(';') {
                let (n, v) = p
                    .split_once('=')
                    .ok_or(ParseError::malformed("RTP-Info", 0))?;
                let bad = || ParseError::malformed("RTP-Info", 0);
                match n.trim() {
                    "url" => e.url = v.trim().to_string(),
                    "seq" => e.seq = Some(v.trim().parse().map_err(|_| bad())?),
                    "rtptime" => e.rtptime = Some(v.trim().parse().map_err(|_| bad())?),
                    _ => {}
                }
            }
            if e.url.is_empty() {
                return Err(ParseError::malformed("RTP-Info url", 0));
            }
            out.push(e);
        }
        Ok(RtpInfo(out))
    }
}

impl fmt::Display for RtpInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "url={}", e.url)?;
            if let Some(s) = e.seq {
                write!(f, ";seq={s}")?;
            }
            if let Some(t) = e.rtptime {
                write!(f, ";rtptime={t}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn writes_zlm_form() {
        let info = RtpInfo(vec![
            RtpInfoEntry {
                url: "rtsp://127.0.0.1:19412/live/rcap2/trackID=0".into(),
                seq: Some(326),
                rtptime: Some(540000),
            },
            RtpInfoEntry {
                url: "rtsp://127.0.0.1:19412/live/rcap2/trackID=1".into(),
                seq: Some(283),
                rtptime: Some(288068),
            },
        ]);
        assert_eq!(
            info.to_string(),
            "url=rtsp://127.0.0.1:19412/live/rcap2/trackID=0;seq=326;rtptime=540000,url=rtsp://127.0.0.1:19412/live/rcap2/trackID=1;seq=283;rtptime=288068"
        );
    }

    proptest! {
        #[test]
        fn round_trip(v in prop::collection::vec(("rtsp://[a-z0-9./=]{1,30}", proptest::option::of(any::<u16>()), proptest::option::of(any::<u32>())), 0..4)) {
            let info = RtpInfo(v.into_iter().map(|(url, seq, rtptime)| RtpInfoEntry { url, seq, rtptime }).collect());
            prop_assert_eq!(RtpInfo::parse(&info.to_string()).unwrap(), info);
        }
    }
}
