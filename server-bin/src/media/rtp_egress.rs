//! stream-core tracks and frames → RTP for RTSP players.
//!
//! Packetizing (splitting NAL units into FU-A/FU fragments, AAC AU headers)
//! is done once per frame and stream, without copying the frame: the
//! payloads of a frame's packets are cached in its wire cache
//! ([`super::WIRE_RTP`]) as parts — each packet its few FU/STAP/AU header
//! bytes beside slices of the frame's payload — and every player shares
//! them. What differs per player —
//! sequence numbers, SSRC, the random timestamp base, the interleaved
//! channel — lives in the 12-byte header each player writes beside the
//! shared payload (a vectored write over TCP; UDP datagrams need one
//! contiguous buffer and are assembled per packet).

use std::time::{Duration, SystemTime};

use bytes::{BufMut, Bytes, BytesMut};
use flv_mux::avc::AvcDecoderConfigurationRecord;
use flv_mux::hevc::HevcDecoderConfigurationRecord;
use hls_seg::es::annexb::parameter_sets_to_repeat;
use hls_seg::VideoCodec;
use rtsp_proto::media::rtcp::{SenderReport, SourceDescription};
use rtsp_proto::media::{
    AacConfig, AacPacketizer, H264Packetizer, H265Packetizer, NtpTimestamp, PayloadParts,
    RtcpPacket, RtpPacket,
};
use rtsp_proto::signal::{MediaInfo, MediaKind, SdpCodec};
use stream_core::{Codec, Frame, Track, TrackId, WireParts};

/// One track as an RTSP player sees it: its SDP description.
#[derive(Debug, Clone)]
pub struct RtpTrack {
    /// The stream-core track.
    pub id: TrackId,
    /// Its SDP media description (`trackID=N` is its index in the list).
    pub info: MediaInfo,
    /// Parameter sets sent in-band before keyframes that lack them (as
    /// [`parameter_sets_to_repeat`] selects: distinct, missing, bounded).
    params: Vec<Bytes>,
    codec: Codec,
}

impl RtpTrack {
    /// The stream-core codec it carries.
    pub fn codec(&self) -> Codec {
        self.codec
    }
}

/// The RTSP view of `tracks`: one entry per track RTP can carry, in order.
pub fn rtp_tracks(tracks: &[Track]) -> Vec<RtpTrack> {
    let mut out = Vec::new();
    for track in tracks {
        let pt = 96 + out.len() as u8;
        let (kind, codec, clock_rate, channels, params) = match track.codec {
            Codec::H264 => {
                let Ok(r) = AvcDecoderConfigurationRecord::decode(&track.config) else {
                    continue;
                };
                let params = r.sps.iter().chain(&r.pps).cloned().collect();
                let codec = SdpCodec::H264 {
                    sps: r.sps,
                    pps: r.pps,
                    packetization_mode: 1,
                };
                (MediaKind::Video, codec, 90_000, 0, params)
            }
            Codec::H265 => {
                let Ok(r) = HevcDecoderConfigurationRecord::decode(&track.config) else {
                    continue;
                };
                let of = |t: u8| r.nalus_of_type(t).cloned().collect::<Vec<_>>();
                let (vps, sps, pps) = (of(32), of(33), of(34));
                let params = vps.iter().chain(&sps).chain(&pps).cloned().collect();
                (
                    MediaKind::Video,
                    SdpCodec::H265 { vps, sps, pps },
                    90_000,
                    0,
                    params,
                )
            }
            Codec::Aac => {
                let codec = SdpCodec::Aac {
                    config: track.config.clone(),
                    size_length: 13,
                    index_length: 3,
                    index_delta_length: 3,
                };
                let rate = track.sample_rate.unwrap_or(track.timescale).max(1);
                let channels = u16::from(track.channels.unwrap_or(2).max(1));
                (MediaKind::Audio, codec, rate, channels, Vec::new())
            }
            Codec::G711A | Codec::G711U => {
                let codec = if track.codec == Codec::G711A {
                    SdpCodec::Pcma
                } else {
                    SdpCodec::Pcmu
                };
                let channels = u16::from(track.channels.unwrap_or(1).max(1));
                (MediaKind::Audio, codec, 8000, channels, Vec::new())
            }
            _ => continue, // AV1, Opus, MP3: not offered over RTSP
        };
        let payload_type = match codec {
            SdpCodec::Pcma => 8,
            SdpCodec::Pcmu => 0,
            _ => pt,
        };
        out.push(RtpTrack {
            id: track.id,
            codec: track.codec,
            params,
            info: MediaInfo {
                kind,
                payload_type,
                codec,
                clock_rate,
                channels,
                control: None,
                bandwidth_kbps: None,
            },
        });
    }
    out
}

/// Follows a change of the stream's tracks for an RTSP session, which
/// cannot renegotiate: each described track goes on while a track with its
/// id and codec exists (its parameter sets are updated), tracks that appear
/// are not sent, one that disappears just sends nothing. A described track
/// whose codec changed ends the session: `Err` says which.
pub fn follow_tracks(described: &mut [RtpTrack], tracks: &[Track]) -> Result<(), String> {
    let next = rtp_tracks(tracks);
    for d in described.iter_mut() {
        match next.iter().find(|n| n.id == d.id) {
            Some(n)
                if n.info.payload_type == d.info.payload_type
                    && std::mem::discriminant(&n.info.codec)
                        == std::mem::discriminant(&d.info.codec) =>
            {
                *d = n.clone();
            }
            Some(n) => {
                let (was, now) = (d.codec().name(), n.codec().name());
                return Err(format!("track {}: {was} → {now}", n.id));
            }
            None => {}
        }
    }
    Ok(())
}

impl RtpTrack {
    /// The frame's RTP packets without their RTP headers: one unit per
    /// packet (marked with the packet's marker bit) of its payload's parts.
    /// Built once per stream and frame (the caller caches it on the frame).
    pub fn payloads(&self, frame: &Frame, mtu: usize) -> WireParts {
        let packets = match self.codec {
            Codec::H264 | Codec::H265 => {
                let Ok(mut nalus) = flv_mux::nalu::split_length_prefixed(&frame.payload, 4) else {
                    return WireParts::new();
                };
                if frame.keyframe {
                    let codec = if self.codec == Codec::H264 {
                        VideoCodec::H264
                    } else {
                        VideoCodec::H265
                    };
                    let mut with: Vec<Bytes> =
                        parameter_sets_to_repeat(codec, &nalus, &self.params)
                            .into_iter()
                            .cloned()
                            .collect();
                    if !with.is_empty() {
                        with.append(&mut nalus);
                        nalus = with;
                    }
                }
                if self.codec == Codec::H264 {
                    H264Packetizer::new(mtu, 0, 0, 0).packetize_parts(&nalus)
                } else {
                    H265Packetizer::new(mtu, 0, 0, 0).packetize_parts(&nalus)
                }
            }
            Codec::Aac => {
                let mut p = AacPacketizer::new(mtu, 0, 0, 0);
                p.config = AacConfig::hbr();
                p.max_frames_per_packet = 1;
                p.packetize_parts(std::slice::from_ref(&frame.payload))
            }
            _ => Ok(vec![PayloadParts {
                marker: true,
                ts_offset: 0,
                parts: vec![frame.payload.clone()],
            }]),
        };
        let packets = match packets {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, "frame not packetized for rtp");
                return WireParts::new();
            }
        };
        let mut form = WireParts::new();
        for p in packets {
            for part in p.parts {
                form.push(part);
            }
            form.end_unit(p.marker);
        }
        form
    }
}

/// Queues a frame's packets (`form`, from [`RtpTrack::payloads`]) on
/// interleaved channel `ch`: the `$` headers and `sender`'s RTP headers are
/// built for this connection, each packet's parts are shared with every
/// other player (a vectored write).
pub fn interleave(
    out: &mut crate::io::Outbox,
    ch: u8,
    sender: &mut RtpSender,
    pts_us: i64,
    form: &WireParts,
) {
    let mut head = [0u8; 4 + rtsp_proto::media::RTP_HEADER_LEN];
    out.reserve_copy(form.units().count() * head.len());
    for (marker, parts, len) in form.units() {
        head[0] = b'$';
        head[1] = ch;
        head[2..4]
            .copy_from_slice(&((rtsp_proto::media::RTP_HEADER_LEN + len) as u16).to_be_bytes());
        head[4..].copy_from_slice(&sender.next_header(pts_us, marker, len));
        out.push_copy(&head);
        out.push_shared(parts);
    }
}

/// One player's RTP state for one track.
#[derive(Debug)]
pub struct RtpSender {
    /// The SDP payload type.
    pub payload_type: u8,
    /// This player's SSRC for the track.
    pub ssrc: u32,
    /// Next sequence number.
    pub sequence: u16,
    /// Random base added to every timestamp (RFC 3550 §5.1).
    pub base: u32,
    /// The track's RTP clock rate.
    pub clock_rate: u32,
    packets: u32,
    octets: u32,
    last_pts_us: Option<i64>,
}

impl RtpSender {
    /// A sender for `track` with the player's random `seed`.
    pub fn new(track: &RtpTrack, seed: u64) -> RtpSender {
        RtpSender {
            payload_type: track.info.payload_type,
            ssrc: (seed >> 32) as u32 ^ seed as u32 | 1,
            sequence: (seed >> 16) as u16,
            base: (seed >> 8) as u32,
            clock_rate: track.info.clock_rate,
            packets: 0,
            octets: 0,
            last_pts_us: None,
        }
    }

    /// The RTP header of the next packet of a frame presented at `pts_us`,
    /// on the stack (see [`header`](Self::header)).
    pub fn next_header(
        &mut self,
        pts_us: i64,
        marker: bool,
        payload_len: usize,
    ) -> [u8; rtsp_proto::media::RTP_HEADER_LEN] {
        let h = RtpPacket::fixed_header(
            self.payload_type,
            self.sequence,
            self.timestamp(pts_us),
            self.ssrc,
            marker,
        );
        self.sequence = self.sequence.wrapping_add(1);
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload_len as u32);
        self.last_pts_us = Some(pts_us);
        h
    }

    /// The RTP timestamp of a presentation time.
    pub fn timestamp(&self, pts_us: i64) -> u32 {
        let ticks = rtsp_proto::media::rescale(pts_us, 1_000_000, self.clock_rate);
        self.base.wrapping_add(ticks as u32)
    }

    /// The RTP header of the next packet of a frame presented at `pts_us`,
    /// appended to `out`.
    pub fn header(&mut self, pts_us: i64, marker: bool, payload_len: usize, out: &mut BytesMut) {
        out.put_slice(&self.next_header(pts_us, marker, payload_len));
    }

    /// The next sequence number and the timestamp of `pts_us` (`RTP-Info`).
    pub fn rtp_info(&self, pts_us: i64) -> (u16, u32) {
        (self.sequence, self.timestamp(pts_us))
    }

    /// A compound RTCP sender report + SDES for the last frame sent.
    pub fn sender_report(&self, anchor: (i64, SystemTime), cname: &Bytes) -> Option<Bytes> {
        self.sender_report_at(self.last_pts_us?, anchor, cname)
    }

    /// A compound RTCP sender report + SDES relating presentation time
    /// `pts` to the wall clock. `anchor` maps the stream timeline to
    /// wall-clock time, the same for every track of the player so players
    /// can synchronize audio and video (RFC 3550 §6.4.1).
    pub fn sender_report_at(
        &self,
        pts: i64,
        anchor: (i64, SystemTime),
        cname: &Bytes,
    ) -> Option<Bytes> {
        // Frames before the anchor (audio just ahead of the first keyframe)
        // map to earlier wall-clock times, not to the anchor itself.
        let delta = pts.saturating_sub(anchor.0);
        let wall = if delta >= 0 {
            anchor.1 + Duration::from_micros(delta as u64)
        } else {
            anchor.1 - Duration::from_micros(delta.unsigned_abs())
        };
        let since_epoch = wall.duration_since(SystemTime::UNIX_EPOCH).ok()?;
        let report = RtcpPacket::SenderReport(SenderReport {
            ssrc: self.ssrc,
            ntp: NtpTimestamp::from_unix(since_epoch),
            rtp_timestamp: self.timestamp(pts),
            packet_count: self.packets,
            octet_count: self.octets,
            reports: Vec::new(),
        });
        let sdes =
            RtcpPacket::SourceDescription(SourceDescription::cname(self.ssrc, cname.clone()));
        let mut out = BytesMut::new();
        rtsp_proto::media::rtcp::write_compound(&[report, sdes], &mut out);
        Some(out.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtsp_proto::media::H264Depacketizer;

    #[test]
    fn keyframes_carry_a_bounded_amount_of_parameter_sets() {
        // A ~62 KB avcC (under the 64 KiB limit): 30 distinct 2 KB SPS, and
        // the PPS twice.
        let sps: Vec<Bytes> = (0..30u8)
            .map(|i| {
                let mut v = vec![0x67, 0x64, 0x00, 0x0d, i];
                v.resize(2000, i);
                Bytes::from(v)
            })
            .collect();
        let pps = Bytes::from_static(&[0x68, 0xeb, 0xe3, 0xcb]);
        let config =
            AvcDecoderConfigurationRecord::from_parameter_sets(sps, vec![pps.clone(), pps])
                .unwrap()
                .to_bytes()
                .unwrap();
        assert!(config.len() > 60_000 && config.len() <= flv_mux::MAX_CODEC_CONFIG_LEN);
        let mut t = Track::new(0, Codec::H264, 1000);
        t.config = config;
        let tracks = rtp_tracks(&[t]);
        let mut payload = BytesMut::new();
        payload.put_u32(100);
        payload.put_slice(&[0x65; 100]);
        let frame = Frame::new(0, 0, 0, true, payload.freeze());
        let packed = tracks[0].payloads(&frame, 1400);
        let budget = hls_seg::es::annexb::MAX_REPEATED_PARAMETER_BYTES;
        // The budget, the frame, and per packet its FU and STAP headers.
        let bound = budget + 100 + (budget / 1000 + 2) * 8;
        assert!(
            packed.len() <= bound,
            "{} bytes for one keyframe, bound {bound}",
            packed.len()
        );
        // A keyframe that carries its own SPS and PPS gets nothing added.
        let mut payload = BytesMut::new();
        for nal in [&[0x67, 0x64, 0x00, 0x0d][..], &[0x68, 0x01], &[0x65; 100]] {
            payload.put_u32(nal.len() as u32);
            payload.put_slice(nal);
        }
        let frame = Frame::new(0, 0, 0, true, payload.freeze());
        let packed = tracks[0].payloads(&frame, 1400);
        assert!(packed.len() < 200, "{}", packed.len());
    }

    #[test]
    fn packed_payloads_rebuild_the_access_unit() {
        let track = {
            let mut t = Track::new(0, Codec::H264, 1000);
            t.config = crate::media::flv_ingest::tests::avc_config();
            t
        };
        let tracks = rtp_tracks(&[track]);
        assert_eq!(tracks.len(), 1);
        assert_eq!(tracks[0].info.payload_type, 96);
        let mut payload = BytesMut::new();
        payload.put_u32(4000);
        payload.put_slice(&[0x65; 4000]);
        let frame = Frame::new(0, 0, 40_000, true, payload.freeze());
        let packed = tracks[0].payloads(&frame, 1400);
        // The IDR's bytes are shared, only SPS, PPS and FU-A headers are not.
        let at = frame.payload.as_ptr() as usize;
        let shared: usize = packed
            .parts()
            .iter()
            .filter(|p| (at..at + frame.payload.len()).contains(&(p.as_ptr() as usize)))
            .map(Bytes::len)
            .sum();
        assert_eq!(
            shared,
            4000 - 1,
            "the IDR but its header, which FU-A re-encodes"
        );
        let mut sender = RtpSender::new(&tracks[0], 0x1234_5678_9abc_def0);
        let mut depack = H264Depacketizer::new();
        let mut n = 0;
        for (marker, parts, len) in packed.units() {
            let mut header = BytesMut::new();
            sender.header(frame.pts_us, marker, len, &mut header);
            for part in parts {
                header.put_slice(part);
            }
            let p = RtpPacket::parse(&header.freeze()).unwrap();
            depack.push(&p).unwrap();
            n += 1;
        }
        assert!(n >= 3, "FU-A fragments: {n}");
        let au = depack.pop().expect("one access unit");
        assert!(au.keyframe);
        // SPS and PPS went in-band before the IDR.
        assert_eq!(au.nalus.len(), 3);
        assert_eq!(au.nalus[2].len(), 4000);
        assert_eq!(au.timestamp, sender.timestamp(40_000));
        assert!(sender
            .sender_report((0, SystemTime::now()), &Bytes::from_static(b"strom"))
            .is_some());
    }
}
