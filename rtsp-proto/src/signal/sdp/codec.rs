//! The typed view of a media section: which codec, its RTP clock and the decoder
//! configuration carried in `a=fmtp` (RFC 6184 §8.1 H.264, RFC 7798 §7.1 H.265, RFC 3640
//! §4.1 AAC, RFC 3551 §6 PCMA/PCMU).

use ::codec::nal::ParameterSet;
use bytes::Bytes;

use super::fmtp;
use super::Media;
use crate::signal::error::ParseError;

/// Video or audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// `m=video`.
    Video,
    /// `m=audio`.
    Audio,
}

/// The codec of a media section and its out-of-band configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SdpCodec {
    /// H.264 (RFC 6184).
    H264 {
        /// SPS NAL units from `sprop-parameter-sets` (NAL type 7).
        sps: Vec<Bytes>,
        /// PPS NAL units from `sprop-parameter-sets` (NAL type 8).
        pps: Vec<Bytes>,
        /// `packetization-mode` (0 when absent, RFC 6184 §8.1).
        packetization_mode: u8,
    },
    /// H.265 (RFC 7798).
    H265 {
        /// `sprop-vps`.
        vps: Vec<Bytes>,
        /// `sprop-sps`.
        sps: Vec<Bytes>,
        /// `sprop-pps`.
        pps: Vec<Bytes>,
    },
    /// AAC as `mpeg4-generic` in mode AAC-hbr (RFC 3640 §3.3.6).
    Aac {
        /// AudioSpecificConfig from `config=` (hex).
        config: Bytes,
        /// `sizelength` (13 for AAC-hbr).
        size_length: u8,
        /// `indexlength` (3 for AAC-hbr).
        index_length: u8,
        /// `indexdeltalength` (3 for AAC-hbr).
        index_delta_length: u8,
    },
    /// G.711 A-law (payload type 8, RFC 3551 §4.5.14).
    Pcma,
    /// G.711 µ-law (payload type 0, RFC 3551 §4.5.14).
    Pcmu,
    /// Any other encoding name from `a=rtpmap`, carried but not interpreted.
    Other(String),
}

/// What strom needs to know about one media section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInfo {
    /// Video or audio.
    pub kind: MediaKind,
    /// RTP payload type (the first format of `m=`).
    pub payload_type: u8,
    /// The codec and its configuration.
    pub codec: SdpCodec,
    /// RTP clock rate, Hz.
    pub clock_rate: u32,
    /// Audio channels (1 when not given, RFC 4566 §6 rtpmap); 0 for video.
    pub channels: u16,
    /// `a=control:` of the section.
    pub control: Option<String>,
    /// `b=AS:` in kbit/s, if present.
    pub bandwidth_kbps: Option<u32>,
}

impl MediaInfo {
    /// Reads the typed view of a media section.
    ///
    /// Errors: `Unsupported` for a media type other than audio/video, a transport other
    /// than RTP/AVP, MP4A-LATM audio, or an `mpeg4-generic` mode other than AAC-hbr;
    /// `Malformed` for bad rtpmap/fmtp values.
    pub fn from_media(m: &Media) -> Result<MediaInfo, ParseError> {
        let kind = match m.kind.as_str() {
            "video" => MediaKind::Video,
            "audio" => MediaKind::Audio,
            other => {
                return Err(ParseError::Unsupported {
                    what: "media type",
                    detail: other.to_string(),
                })
            }
        };
        if !m.proto.eq_ignore_ascii_case("RTP/AVP") {
            return Err(ParseError::Unsupported {
                what: "media transport",
                detail: m.proto.clone(),
            });
        }
        let pt_s = m
            .formats
            .first()
            .ok_or(ParseError::malformed("SDP m= formats", 0))?;
        let payload_type: u8 = pt_s
            .parse()
            .ok()
            .filter(|p| *p < 128)
            .ok_or(ParseError::malformed("SDP payload type", 0))?;
        // RFC 4566 §6: a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]
        let (name, clock_rate, channels) = match m.attribute_for_pt("rtpmap", pt_s) {
            Some(map) => {
                let mut it = map.split('/');
                let name = it.next().unwrap_or("").trim().to_string();
                let rate = it
                    .next()
                    .and_then(|r| r.trim().parse::<u32>().ok())
                    .filter(|r| *r > 0)
                    .ok_or(ParseError::malformed("SDP rtpmap clock rate", 0))?;
                let ch = match it.next() {
                    Some(c) => c
                        .trim()
                        .parse::<u16>()
                        .map_err(|_| ParseError::malformed("SDP rtpmap channels", 0))?,
                    None => 1,
                };
                (name, rate, ch)
            }
            // RFC 3551 §6 static payload types.
            None => match payload_type {
                0 => ("PCMU".to_string(), 8000, 1),
                8 => ("PCMA".to_string(), 8000, 1),
                _ => {
                    return Err(ParseError::malformed(
                        "SDP rtpmap (missing for dynamic payload type)",
                        0,
                    ))
                }
            },
        };
        let params = fmtp::params(m.attribute_for_pt("fmtp", pt_s).unwrap_or(""));
        let codec =
            match name.to_ascii_uppercase().as_str() {
                "H264" => h264(&params)?,
                "H265" => h265(&params)?,
                "MPEG4-GENERIC" => aac(&params)?,
                "MP4A-LATM" => return Err(ParseError::Unsupported {
                    what: "codec",
                    detail:
                        "MP4A-LATM (RFC 6416) AAC; only mpeg4-generic (RFC 3640) AAC is supported"
                            .into(),
                }),
                "PCMA" => SdpCodec::Pcma,
                "PCMU" => SdpCodec::Pcmu,
                _ => SdpCodec::Other(name),
            };
        let bandwidth_kbps = m
            .bandwidth
            .iter()
            .find_map(|b| b.strip_prefix("AS:").and_then(|v| v.trim().parse().ok()));
        Ok(MediaInfo {
            kind,
            payload_type,
            codec,
            clock_rate,
            channels: if kind == MediaKind::Video {
                0
            } else {
                channels
            },
            control: m.control().map(str::to_string),
            bandwidth_kbps,
        })
    }

    /// The `a=rtpmap` value (without the payload type).
    pub fn rtpmap(&self) -> String {
        let name = match &self.codec {
            SdpCodec::H264 { .. } => "H264",
            SdpCodec::H265 { .. } => "H265",
            SdpCodec::Aac { .. } => "mpeg4-generic",
            SdpCodec::Pcma => "PCMA",
            SdpCodec::Pcmu => "PCMU",
            SdpCodec::Other(n) => n,
        };
        if self.kind == MediaKind::Audio {
            format!("{name}/{}/{}", self.clock_rate, self.channels.max(1))
        } else {
            format!("{name}/{}", self.clock_rate)
        }
    }

    /// The `a=fmtp` value (without the payload type), if the codec has one.
    pub fn fmtp(&self) -> Option<String> {
        match &self.codec {
            SdpCodec::H264 { sps, pps, packetization_mode } => {
                let mut p = format!("packetization-mode={packetization_mode}");
                // RFC 6184 §8.1: profile-level-id = profile_idc, constraint flags, level_idc,
                // i.e. SPS bytes 1..4.
                if let Some(pli) = sps.first().and_then(|s| s.get(1..4)) {
                    p.push_str(&format!("; profile-level-id={}", fmtp::to_hex(pli).to_ascii_uppercase()));
                }
                let sets: Vec<Bytes> = sps.iter().chain(pps.iter()).cloned().collect();
                if !sets.is_empty() {
                    p.push_str(&format!("; sprop-parameter-sets={}", fmtp::base64_join(&sets)));
                }
                Some(p)
            }
            SdpCodec::H265 { vps, sps, pps } => {
                let mut parts = Vec::new();
                for (k, v) in [("sprop-vps", vps), ("sprop-sps", sps), ("sprop-pps", pps)] {
                    if !v.is_empty() {
                        parts.push(format!("{k}={}", fmtp::base64_join(v)));
                    }
                }
                (!parts.is_empty()).then(|| parts.join("; "))
            }
            SdpCodec::Aac { config, size_length, index_length, index_delta_length } => Some(format!(
                "streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength={size_length};indexlength={index_length};indexdeltalength={index_delta_length};config={}",
                fmtp::to_hex(config)
            )),
            _ => None,
        }
    }
}

fn h264(params: &[(String, String)]) -> Result<SdpCodec, ParseError> {
    let packetization_mode = match fmtp::get(params, "packetization-mode") {
        None => 0,
        Some(v) => v
            .parse::<u8>()
            .ok()
            .filter(|m| *m <= 2)
            .ok_or(ParseError::malformed("H264 packetization-mode", 0))?,
    };
    let (mut sps, mut pps) = (Vec::new(), Vec::new());
    if let Some(v) = fmtp::get(params, "sprop-parameter-sets") {
        // RFC 6184 §8.1: base64 NAL units separated by ','; sort by nal_unit_type.
        for nal in fmtp::base64_list(v, "H264 sprop-parameter-sets")? {
            match ::codec::VideoCodec::H264.parameter_set(&nal) {
                Some(ParameterSet::Sps) => sps.push(nal),
                Some(ParameterSet::Pps) => pps.push(nal),
                _ => {}
            }
        }
    }
    Ok(SdpCodec::H264 {
        sps,
        pps,
        packetization_mode,
    })
}

fn h265(params: &[(String, String)]) -> Result<SdpCodec, ParseError> {
    let list =
        |k: &str, what| fmtp::get(params, k).map_or(Ok(Vec::new()), |v| fmtp::base64_list(v, what));
    Ok(SdpCodec::H265 {
        vps: list("sprop-vps", "H265 sprop-vps")?,
        sps: list("sprop-sps", "H265 sprop-sps")?,
        pps: list("sprop-pps", "H265 sprop-pps")?,
    })
}

fn aac(params: &[(String, String)]) -> Result<SdpCodec, ParseError> {
    // RFC 3640 §4.1: mode is required; strom depacketizes AAC-hbr (and AAC-lbr, whose
    // sizes come from the same parameters).
    let mode = fmtp::get(params, "mode").unwrap_or("");
    if !mode.eq_ignore_ascii_case("AAC-hbr") && !mode.eq_ignore_ascii_case("AAC-lbr") {
        return Err(ParseError::Unsupported {
            what: "mpeg4-generic mode",
            detail: mode.to_string(),
        });
    }
    let num = |k: &str, what| -> Result<u8, ParseError> {
        fmtp::get(params, k)
            .ok_or(ParseError::malformed(what, 0))?
            .parse::<u8>()
            .ok()
            .filter(|n| *n <= 32)
            .ok_or(ParseError::malformed(what, 0))
    };
    let config = fmtp::hex(
        fmtp::get(params, "config").ok_or(ParseError::malformed("AAC config", 0))?,
        "AAC config",
    )?;
    if config.len() < 2 {
        return Err(ParseError::malformed(
            "AAC config (AudioSpecificConfig < 2 bytes)",
            0,
        ));
    }
    Ok(SdpCodec::Aac {
        config,
        size_length: num("sizelength", "AAC sizelength")?,
        index_length: num("indexlength", "AAC indexlength")?,
        index_delta_length: fmtp::get(params, "indexdeltalength")
            .map_or(Ok(0), |_| num("indexdeltalength", "AAC indexdeltalength"))?,
    })
}
