//! The SDP of a server's DESCRIBE answer (RFC 2326 §C.1): one media section per track,
//! `a=control:trackID=N` relative to the Content-Base, aggregate control `*`.

use super::codec::{MediaInfo, MediaKind};
use super::{Attribute, Media, Sdp};

/// Session-level choices for [`describe_sdp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeOptions {
    /// `s=` (e.g. "strom").
    pub session_name: String,
    /// Address for `o=` and `c=` (RTSP does not use it; `0.0.0.0` is customary).
    pub address: String,
}

impl Default for DescribeOptions {
    fn default() -> Self {
        DescribeOptions {
            session_name: "strom".into(),
            address: "0.0.0.0".into(),
        }
    }
}

/// Builds the DESCRIBE answer for `tracks`; track `N` (its index) gets
/// `a=control:trackID=N`, whatever its `control` field says.
pub fn describe_sdp(tracks: &[MediaInfo], opts: &DescribeOptions) -> Sdp {
    let mut sdp = Sdp::new();
    sdp.origin = format!("- 0 0 IN IP4 {}", opts.address);
    sdp.session_name = opts.session_name.clone();
    sdp.connection = Some(format!("IN IP4 {}", opts.address));
    // RFC 4566 §5.9: t=0 0 is an unbounded session.
    sdp.timing.push("0 0".into());
    sdp.attributes.push(Attribute::new("tool", "strom"));
    // RFC 2326 §C.1.5: a live presentation has an open range from now.
    sdp.attributes.push(Attribute::new("range", "npt=now-"));
    // RFC 2326 §C.1.1: aggregate control at the Content-Base itself.
    sdp.attributes.push(Attribute::new("control", "*"));
    for (i, t) in tracks.iter().enumerate() {
        let pt = t.payload_type.to_string();
        let mut m = Media {
            kind: match t.kind {
                MediaKind::Video => "video".into(),
                MediaKind::Audio => "audio".into(),
            },
            port: 0,
            port_count: None,
            proto: "RTP/AVP".into(),
            formats: vec![pt.clone()],
            info: None,
            connection: None,
            bandwidth: t
                .bandwidth_kbps
                .map(|b| format!("AS:{b}"))
                .into_iter()
                .collect(),
            attributes: Vec::new(),
            extra: Vec::new(),
        };
        m.attributes
            .push(Attribute::new("rtpmap", format!("{pt} {}", t.rtpmap())));
        if let Some(f) = t.fmtp() {
            m.attributes
                .push(Attribute::new("fmtp", format!("{pt} {f}")));
        }
        m.attributes
            .push(Attribute::new("control", format!("trackID={i}")));
        sdp.media.push(m);
    }
    sdp
}
