//! The chaos clip (FLV tags) cut into RTP for the RTSP publishers: H.264 per
//! RFC 6184 (single NAL units and FU-A, SPS/PPS in-band before each keyframe
//! and in `sprop-parameter-sets`), AAC per RFC 3640 (AAC-hbr), and the SDP
//! that announces them.

use rtmp_proto::session::MediaKind;

use super::clients::Tag;

/// Largest RTP packet the clip is cut into (payload plus header).
const MTU: usize = 1400;

/// The chaos clip as RTP: an SDP to ANNOUNCE and the packets in order.
pub struct RtpClip {
    /// The session description (H.264 track 0, AAC track 1 when present).
    pub sdp: String,
    /// Media sections in the SDP.
    pub tracks: usize,
    /// (track, RTP packet) in sending order.
    pub packets: Vec<(usize, Vec<u8>)>,
}

/// One RTP packet (RFC 3550 §5.1): V=2, no padding/extension/CSRC.
fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= c.len() {
                s.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Cuts the clip's FLV tags into RTP: H.264 per RFC 6184 (single NAL units
/// and FU-A, SPS/PPS in-band before each keyframe and in
/// `sprop-parameter-sets`), AAC per RFC 3640 (AAC-hbr, one AU per packet).
pub fn rtp_clip(tags: &[Tag]) -> Result<RtpClip, String> {
    let (mut sps_pps, mut asc) = (Vec::<Vec<u8>>::new(), None::<Vec<u8>>);
    let mut packets = Vec::new();
    let (mut vseq, mut aseq) = (0u16, 0u16);
    for (kind, ts, body) in tags {
        match kind {
            MediaKind::Video => {
                let (Some(&ft), Some(&pt)) = (body.first(), body.get(1)) else {
                    continue;
                };
                if pt == 0 {
                    sps_pps = avcc_parameter_sets(body.get(5..).unwrap_or_default());
                    continue;
                }
                let cts = body.get(2..5).map_or(0, |c| {
                    (i32::from_be_bytes([c[0], c[1], c[2], 0]) >> 8) as i64
                });
                let rtp_ts = ((i64::from(*ts) + cts) * 90) as u32;
                let mut nals: Vec<&[u8]> = Vec::new();
                if ft >> 4 == 1 {
                    nals.extend(sps_pps.iter().map(Vec::as_slice));
                }
                let mut rest = body.get(5..).unwrap_or_default();
                while let Some(l) = rest.get(..4) {
                    let n = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                    let Some(nal) = rest.get(4..4 + n) else { break };
                    nals.push(nal);
                    rest = rest.get(4 + n..).unwrap_or_default();
                }
                let count = nals.len();
                for (i, nal) in nals.into_iter().enumerate() {
                    let last = i + 1 == count;
                    let Some((&h, data)) = nal.split_first() else {
                        continue;
                    };
                    if nal.len() <= MTU - 12 {
                        packets.push((0, rtp(96, last, vseq, rtp_ts, 0x5eed_0001, nal)));
                        vseq = vseq.wrapping_add(1);
                        continue;
                    }
                    // FU-A (RFC 6184 §5.8).
                    let pieces: Vec<&[u8]> = data.chunks(MTU - 14).collect();
                    for (j, piece) in pieces.iter().enumerate() {
                        let (first, end) = (j == 0, j + 1 == pieces.len());
                        let mut payload = vec![
                            (h & 0xe0) | 28,
                            (h & 0x1f) | if first { 0x80 } else { 0 } | if end { 0x40 } else { 0 },
                        ];
                        payload.extend_from_slice(piece);
                        packets
                            .push((0, rtp(96, last && end, vseq, rtp_ts, 0x5eed_0001, &payload)));
                        vseq = vseq.wrapping_add(1);
                    }
                }
            }
            MediaKind::Audio => {
                if body.first().is_some_and(|b| b >> 4 != 10) {
                    continue;
                }
                match body.get(1) {
                    Some(0) => asc = body.get(2..).map(<[u8]>::to_vec),
                    Some(1) => {
                        let au = body.get(2..).unwrap_or_default();
                        let rate = asc.as_deref().map_or(44_100, aac_rate);
                        let rtp_ts = (u64::from(*ts) * u64::from(rate) / 1000) as u32;
                        // AU-headers-length 16 bits, AU-size 13 bits + index 3 (RFC 3640 §3.2.1).
                        let size = (au.len() as u16) << 3;
                        let mut payload = vec![0, 16];
                        payload.extend_from_slice(&size.to_be_bytes());
                        payload.extend_from_slice(au);
                        packets.push((1, rtp(97, true, aseq, rtp_ts, 0x5eed_0002, &payload)));
                        aseq = aseq.wrapping_add(1);
                    }
                    _ => {}
                }
            }
        }
    }
    if sps_pps.is_empty() {
        return Err("the chaos clip has no AVC sequence header".into());
    }
    let sprop: Vec<String> = sps_pps.iter().map(|p| base64(p)).collect();
    let mut sdp = format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=chaos\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
         a=fmtp:96 packetization-mode=1;sprop-parameter-sets={}\r\na=control:streamid=0\r\n",
        sprop.join(",")
    );
    let mut tracks = 1;
    if let Some(asc) = &asc {
        let hex: String = asc.iter().map(|b| format!("{b:02x}")).collect();
        let channels = asc.get(1).map_or(2, |b| (b >> 3) & 0xf);
        sdp.push_str(&format!(
            "m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/{}/{channels}\r\n\
             a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config={hex}\r\n\
             a=control:streamid=1\r\n",
            aac_rate(asc)
        ));
        tracks = 2;
    } else {
        packets.retain(|(t, _)| *t == 0);
    }
    Ok(RtpClip {
        sdp,
        tracks,
        packets,
    })
}

/// SPS and PPS NAL units of an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.2.4.1).
fn avcc_parameter_sets(rec: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 5;
    for _ in 0..2 {
        let Some(&n) = rec.get(pos) else { break };
        // The SPS count sits in the low 5 bits; the PPS count is a whole byte.
        let n = if out.is_empty() { n & 0x1f } else { n };
        pos += 1;
        for _ in 0..n {
            let Some(l) = rec.get(pos..pos + 2) else {
                return out;
            };
            let l = usize::from(u16::from_be_bytes([l[0], l[1]]));
            let Some(nal) = rec.get(pos + 2..pos + 2 + l) else {
                return out;
            };
            out.push(nal.to_vec());
            pos += 2 + l;
        }
    }
    out
}

/// Sampling rate of an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
fn aac_rate(asc: &[u8]) -> u32 {
    const RATES: [u32; 13] = [
        96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025,
        8_000, 7_350,
    ];
    let (a, b) = (
        asc.first().copied().unwrap_or(0),
        asc.get(1).copied().unwrap_or(0),
    );
    let i = usize::from(((a & 7) << 1) | (b >> 7));
    RATES.get(i).copied().unwrap_or(44_100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn aac_rate_of_lc_44100_stereo() {
        assert_eq!(aac_rate(&[0x12, 0x10]), 44_100);
    }

    #[test]
    fn avcc_yields_sps_then_pps() {
        let rec = [1, 0x64, 0, 0x1e, 0xff, 0xe1, 0, 2, 0x67, 1, 1, 0, 1, 0x68];
        assert_eq!(avcc_parameter_sets(&rec), vec![vec![0x67, 1], vec![0x68]]);
    }
}
