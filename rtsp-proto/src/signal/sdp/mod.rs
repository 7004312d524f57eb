//! SDP (RFC 4566): session and media descriptions as text, a typed codec view
//! ([`MediaInfo`]) and the builder of a server's DESCRIBE answer.

mod builder;
mod codec;
mod fmtp;

pub use builder::{describe_sdp, DescribeOptions};
pub use codec::{MediaInfo, MediaKind, SdpCodec};

use std::fmt::{self, Write as _};

use super::error::ParseError;

/// Largest SDP strom parses, bytes.
pub const MAX_SDP_LEN: usize = 64 * 1024;
/// Most media sections strom accepts in one SDP.
pub const MAX_MEDIA: usize = 16;

/// An `a=` line: `a=name` or `a=name:value` (RFC 4566 §5.13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute name.
    pub name: String,
    /// The value after `:`, if any.
    pub value: Option<String>,
}

impl Attribute {
    /// `a=name:value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Attribute {
            name: name.into(),
            value: Some(value.into()),
        }
    }

    /// `a=name` (a property attribute).
    pub fn flag(name: impl Into<String>) -> Self {
        Attribute {
            name: name.into(),
            value: None,
        }
    }
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// `v=` (always 0, RFC 4566 §5.1).
    pub version: u32,
    /// `o=` line value, verbatim.
    pub origin: String,
    /// `s=` (RFC 4566 §5.3; some encoders leave it empty).
    pub session_name: String,
    /// `i=`.
    pub info: Option<String>,
    /// Session-level `c=`.
    pub connection: Option<String>,
    /// Session-level `b=` values (e.g. `AS:256`).
    pub bandwidth: Vec<String>,
    /// `t=` values.
    pub timing: Vec<String>,
    /// Session-level `a=` lines.
    pub attributes: Vec<Attribute>,
    /// Other session-level lines (`u=`, `e=`, `p=`, `r=`, `z=`, `k=`, unknown types,
    /// which RFC 4566 §5 asks parsers to ignore), kept in order.
    pub extra: Vec<(char, String)>,
    /// Media sections.
    pub media: Vec<Media>,
}

/// A media description (`m=` and the lines after it, RFC 4566 §5.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Media type (`video`, `audio`, `application`).
    pub kind: String,
    /// Port (0 for RTSP: the transport is negotiated by SETUP).
    pub port: u16,
    /// `port/count` count, if any.
    pub port_count: Option<u16>,
    /// Transport protocol (`RTP/AVP`).
    pub proto: String,
    /// Formats (RTP payload types for RTP/AVP).
    pub formats: Vec<String>,
    /// `i=`.
    pub info: Option<String>,
    /// Media-level `c=`.
    pub connection: Option<String>,
    /// Media-level `b=` values.
    pub bandwidth: Vec<String>,
    /// Media-level `a=` lines.
    pub attributes: Vec<Attribute>,
    /// Other media-level lines (`k=`, unknown types), kept in order.
    pub extra: Vec<(char, String)>,
}

fn find_attr<'a>(attrs: &'a [Attribute], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .map(|a| a.value.as_deref().unwrap_or(""))
}

impl Sdp {
    /// An empty description (`v=0`, `o=- 0 0 IN IP4 0.0.0.0`, `s=-`).
    pub fn new() -> Self {
        Sdp {
            version: 0,
            origin: "- 0 0 IN IP4 0.0.0.0".into(),
            session_name: "-".into(),
            info: None,
            connection: None,
            bandwidth: Vec::new(),
            timing: Vec::new(),
            attributes: Vec::new(),
            extra: Vec::new(),
            media: Vec::new(),
        }
    }

    /// The first session-level attribute `name` (value `""` for a flag).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        find_attr(&self.attributes, name)
    }

    /// Parses an SDP body (RFC 4566 §5). Lines may end in CRLF or LF; line order is not
    /// enforced beyond "`m=` starts a media section" (encoders differ).
    pub fn parse(text: &[u8]) -> Result<Sdp, ParseError> {
        if text.len() > MAX_SDP_LEN {
            return Err(ParseError::TooLarge {
                what: "SDP",
                limit: MAX_SDP_LEN,
                got: text.len(),
            });
        }
        let text = std::str::from_utf8(text)
            .map_err(|e| ParseError::malformed("SDP (not UTF-8)", e.valid_up_to()))?;
        let mut sdp = Sdp::new();
        let (mut seen_v, mut seen_o, mut seen_s) = (false, false, false);
        let mut pos = 0;
        for raw in text.split('\n') {
            let at = pos;
            pos += raw.len() + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                continue;
            }
            // RFC 4566 §5: <type>=<value>, type is exactly one letter.
            let mut chars = line.chars();
            let (Some(ty), Some('=')) = (chars.next(), chars.next()) else {
                return Err(ParseError::malformed("SDP line", at));
            };
            if !ty.is_ascii_alphabetic() {
                return Err(ParseError::malformed("SDP line type", at));
            }
            let value = chars.as_str();
            if ty == 'm' {
                if sdp.media.len() >= MAX_MEDIA {
                    return Err(ParseError::TooLarge {
                        what: "SDP media sections",
                        limit: MAX_MEDIA,
                        got: MAX_MEDIA + 1,
                    });
                }
                sdp.media
                    .push(parse_m(value).ok_or(ParseError::malformed("SDP m= line", at))?);
                continue;
            }
            if let Some(m) = sdp.media.last_mut() {
                match ty {
                    'i' => m.info = Some(value.to_string()),
                    'c' => m.connection = Some(value.to_string()),
                    'b' => m.bandwidth.push(value.to_string()),
                    'a' => m.attributes.push(parse_a(value)),
                    _ => m.extra.push((ty, value.to_string())),
                }
                continue;
            }
            match ty {
                'v' => {
                    // RFC 4566 §5.1: v=0.
                    sdp.version = value
                        .trim()
                        .parse()
                        .map_err(|_| ParseError::malformed("SDP v=", at))?;
                    seen_v = true;
                }
                'o' => {
                    sdp.origin = value.to_string();
                    seen_o = true;
                }
                's' => {
                    sdp.session_name = value.to_string();
                    seen_s = true;
                }
                'i' => sdp.info = Some(value.to_string()),
                'c' => sdp.connection = Some(value.to_string()),
                'b' => sdp.bandwidth.push(value.to_string()),
                't' => sdp.timing.push(value.to_string()),
                'a' => sdp.attributes.push(parse_a(value)),
                _ => sdp.extra.push((ty, value.to_string())),
            }
        }
        // RFC 4566 §5: v=, o= and s= are required. Tolerated missing o=/s= (some cameras
        // omit them); a body without v= is not SDP.
        let _ = (seen_o, seen_s);
        if !seen_v {
            return Err(ParseError::malformed("SDP (no v= line)", 0));
        }
        Ok(sdp)
    }

    /// Writes the description (RFC 4566 §5 order, CRLF line ends).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "v={}\r\no={}\r\ns={}\r\n",
            self.version, self.origin, self.session_name
        );
        if let Some(i) = &self.info {
            let _ = write!(s, "i={i}\r\n");
        }
        for (t, v) in &self.extra {
            let _ = write!(s, "{t}={v}\r\n");
        }
        if let Some(c) = &self.connection {
            let _ = write!(s, "c={c}\r\n");
        }
        for b in &self.bandwidth {
            let _ = write!(s, "b={b}\r\n");
        }
        for t in &self.timing {
            let _ = write!(s, "t={t}\r\n");
        }
        write_attrs(&mut s, &self.attributes);
        for m in &self.media {
            let _ = write!(s, "m={} {}", m.kind, m.port);
            if let Some(n) = m.port_count {
                let _ = write!(s, "/{n}");
            }
            let _ = write!(s, " {}", m.proto);
            for f in &m.formats {
                let _ = write!(s, " {f}");
            }
            s.push_str("\r\n");
            if let Some(i) = &m.info {
                let _ = write!(s, "i={i}\r\n");
            }
            if let Some(c) = &m.connection {
                let _ = write!(s, "c={c}\r\n");
            }
            for b in &m.bandwidth {
                let _ = write!(s, "b={b}\r\n");
            }
            for (t, v) in &m.extra {
                let _ = write!(s, "{t}={v}\r\n");
            }
            write_attrs(&mut s, &m.attributes);
        }
        s
    }

    /// The typed view of every media section, in order; a section strom cannot use is
    /// an `Err` in its slot (e.g. MP4A-LATM audio) so the caller can skip or refuse it.
    pub fn media_infos(&self) -> Vec<Result<MediaInfo, ParseError>> {
        self.media.iter().map(MediaInfo::from_media).collect()
    }
}

impl Default for Sdp {
    fn default() -> Self {
        Sdp::new()
    }
}

impl fmt::Display for Sdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

fn write_attrs(s: &mut String, attrs: &[Attribute]) {
    for a in attrs {
        let _ = match &a.value {
            Some(v) => write!(s, "a={}:{v}\r\n", a.name),
            None => write!(s, "a={}\r\n", a.name),
        };
    }
}

fn parse_a(value: &str) -> Attribute {
    match value.split_once(':') {
        Some((n, v)) => Attribute::new(n, v),
        None => Attribute::flag(value),
    }
}

/// `m=<media> <port>[/<number of ports>] <proto> <fmt> ...` (RFC 4566 §5.14).
fn parse_m(value: &str) -> Option<Media> {
    let mut it = value.split_ascii_whitespace();
    let kind = it.next()?.to_string();
    let port_s = it.next()?;
    let (port, port_count) = match port_s.split_once('/') {
        Some((p, n)) => (p.parse().ok()?, Some(n.parse().ok()?)),
        None => (port_s.parse().ok()?, None),
    };
    let proto = it.next()?.to_string();
    let formats: Vec<String> = it.map(str::to_string).collect();
    Some(Media {
        kind,
        port,
        port_count,
        proto,
        formats,
        info: None,
        connection: None,
        bandwidth: Vec::new(),
        attributes: Vec::new(),
        extra: Vec::new(),
    })
}

impl Media {
    /// The first media-level attribute `name` (value `""` for a flag).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        find_attr(&self.attributes, name)
    }

    /// `a=control:` (RFC 2326 §C.1.1).
    pub fn control(&self) -> Option<&str> {
        self.attribute("control")
    }

    /// The value of the attribute `name` whose value starts with payload type `pt`
    /// (`a=rtpmap:96 H264/90000` → `H264/90000`).
    pub fn attribute_for_pt(&self, name: &str, pt: &str) -> Option<&str> {
        self.attributes
            .iter()
            .filter(|a| a.name.eq_ignore_ascii_case(name))
            .filter_map(|a| a.value.as_deref())
            .find_map(|v| {
                let (p, rest) = v.split_once([' ', '\t']).unwrap_or((v, ""));
                (p == pt).then(|| rest.trim())
            })
    }
}

#[cfg(test)]
mod tests;
