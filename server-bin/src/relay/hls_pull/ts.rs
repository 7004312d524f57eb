//! HLS segments (MPEG-TS) → FLV tag bodies on one monotonic millisecond
//! timeline, for `rtmp::push_flv` (the path RTMP and HTTP-FLV upstreams
//! take, so tracks are built and checked in one place).
//!
//! - H.264 (stream type 0x1B): Annex-B access units lose their start codes
//!   and AUDs and become length-prefixed NAL units; an SPS/PPS pair that
//!   differs from the last one sent becomes an AVC sequence header before
//!   the frame. Frames before the first SPS/PPS are dropped (no decoder
//!   could use them).
//! - AAC (0x0F): each ADTS frame of a PES becomes one raw AAC frame (its
//!   time the PES's PTS plus 1024 samples per frame before it); its header
//!   gives the AudioSpecificConfig, sent as a sequence header when it
//!   changes.
//! - Other streams (H.265, MP3, data) are skipped, once logged.
//!
//! Timeline: DTS/PTS are 33-bit 90 kHz clocks. They are unwrapped, turned
//! into ms from the first frame, (the first at 1 s), and re-based (continued 100 ms after the
//! latest time out) at a segment marked as a discontinuity and at any jump
//! of more than [`MAX_JUMP_MS`] either way (an upstream restarting its
//! clock without saying so), so the stream's timestamps only move forward.

use bytes::{BufMut, Bytes, BytesMut};
use codec::aac::adts::{self, AdtsConfig};
use codec::avc::AvcDecoderConfigurationRecord;
use codec::nal::{ParameterSet, VideoCodec};
use codec::nalu::split_annexb_slices as split_annexb;
use flv_mux::{AudioTag, VideoTag};
use hls_seg::demux::DemuxedFrame;
use hls_seg::ts::pmt::stream_type;
use hls_seg::TsDemuxer;
use rtmp_proto::session::MediaKind;

/// A jump in timestamps larger than this (ms) is a discontinuity.
pub(crate) const MAX_JUMP_MS: i64 = 10_000;
/// Gap left at a re-base (ms): the next frames continue this far after the
/// latest time out, whatever the track.
const REBASE_GAP_MS: i64 = 100;
const WRAP: i64 = 1 << 33;
/// The first frame's time (ms): the other track's first frames may be a
/// little earlier.
const START_MS: i64 = 1_000;

/// One FLV tag body to push.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tag {
    /// Audio or video.
    pub kind: MediaKind,
    /// Decode time, ms on the pull's timeline.
    pub ms: i64,
    /// The FLV audio or video tag body.
    pub body: Bytes,
}

/// Maps 90 kHz timestamps onto one monotonic ms timeline.
#[derive(Debug, Default)]
struct Timeline {
    /// The last input time, unwrapped (90 kHz).
    last_in: Option<i64>,
    /// Added to an unwrapped input (in ms) to get the output.
    offset_ms: i64,
    /// The latest output time.
    latest: i64,
    rebase: bool,
}

impl Timeline {
    fn ms(&mut self, ts90: u64) -> i64 {
        let ts = (ts90 as i64) & (WRAP - 1);
        let ext = match self.last_in {
            None => {
                self.offset_ms = START_MS - ts / 90;
                self.latest = START_MS;
                ts
            }
            Some(last) => {
                let mut diff = (ts - last).rem_euclid(WRAP);
                if diff > WRAP / 2 {
                    diff -= WRAP;
                }
                last + diff
            }
        };
        self.last_in = Some(ext);
        let mut out = ext / 90 + self.offset_ms;
        if std::mem::take(&mut self.rebase) || (out - self.latest).abs() > MAX_JUMP_MS {
            let to = self.latest + REBASE_GAP_MS;
            self.offset_ms += to - out;
            out = to;
        }
        self.latest = self.latest.max(out);
        // Tracks start within a second of each other: never below 0.
        out.max(0)
    }
}

/// Converts segments into tags. See the [module documentation](self).
#[derive(Debug, Default)]
pub(crate) struct TsToFlv {
    timeline: Timeline,
    /// The SPS/PPS last sent in a sequence header.
    params: Option<(Bytes, Bytes)>,
    sps: Option<Bytes>,
    pps: Option<Bytes>,
    asc: Option<[u8; 2]>,
    warned: bool,
    /// Frames of the segments so far.
    pub frames: u64,
}

impl TsToFlv {
    /// One whole segment; `discontinuity` re-bases its timestamps.
    pub(crate) fn segment(&mut self, data: &[u8], discontinuity: bool) -> Vec<Tag> {
        if discontinuity {
            self.timeline.rebase = true;
        }
        // A demuxer per segment: each starts with its PAT and PMT, and
        // continuity counters need not continue across segments.
        let mut demuxer = TsDemuxer::new();
        let mut frames = match demuxer.push(data) {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(error = %e, "hls segment: PES dropped");
                demuxer.push(&[]).unwrap_or_default()
            }
        };
        frames.extend(demuxer.flush());
        let mut out = Vec::with_capacity(frames.len() + 2);
        for f in frames {
            self.frame(f, &mut out);
        }
        out
    }

    fn frame(&mut self, f: DemuxedFrame, out: &mut Vec<Tag>) {
        let Some(pts) = f.pts else { return };
        match f.stream_type {
            stream_type::H264 => self.h264(pts, f.dts.unwrap_or(pts), &f.data, out),
            stream_type::AAC_ADTS => self.aac(pts, &f.data, out),
            other => {
                if !self.warned {
                    self.warned = true;
                    tracing::warn!(
                        stream_type = other,
                        "hls upstream: a stream strom does not pull (H.264 and AAC only); skipped"
                    );
                }
            }
        }
    }

    fn h264(&mut self, pts: u64, dts: u64, data: &[u8], out: &mut Vec<Tag>) {
        let h264 = VideoCodec::H264;
        let nalus: Vec<&[u8]> = split_annexb(data)
            .into_iter()
            .filter(|n| !h264.is_aud(n))
            .collect();
        let keyframe = nalus.iter().any(|n| h264.is_keyframe(n));
        for n in &nalus {
            match h264.parameter_set(n) {
                Some(ParameterSet::Sps) => self.sps = Some(Bytes::copy_from_slice(n)),
                Some(ParameterSet::Pps) => self.pps = Some(Bytes::copy_from_slice(n)),
                _ => {}
            }
        }
        let ms = self.timeline.ms(dts);
        if let (Some(sps), Some(pps)) = (&self.sps, &self.pps) {
            let current = (sps.clone(), pps.clone());
            if self.params.as_ref() != Some(&current) {
                let record = AvcDecoderConfigurationRecord::from_parameter_sets(
                    vec![sps.clone()],
                    vec![pps.clone()],
                )
                .and_then(|r| r.to_bytes())
                .map_err(flv_mux::FlvError::from)
                .and_then(|r| VideoTag::avc_sequence_header(r).to_bytes());
                match record {
                    Ok(body) => {
                        out.push(Tag {
                            kind: MediaKind::Video,
                            ms,
                            body,
                        });
                        self.params = Some(current);
                    }
                    Err(e) => tracing::debug!(error = %e, "hls upstream: unusable SPS/PPS"),
                }
            }
        }
        if self.params.is_none() || nalus.is_empty() {
            return;
        }
        let cts = ((pts as i64 - dts as i64).rem_euclid(WRAP) / 90).min(0x7F_FFFF) as i32;
        let size: usize = nalus.iter().map(|n| n.len() + 4).sum();
        let mut body = BytesMut::with_capacity(size + 5);
        let written = VideoTag::avc_nalus(keyframe, cts, Bytes::new())
            .encode_header(&mut body)
            .and_then(|()| {
                flv_mux::nalu::write_length_prefixed(nalus.iter().copied(), 4, &mut body)
                    .map_err(flv_mux::FlvError::from)
            });
        if let Err(e) = written {
            tracing::debug!(error = %e, "hls upstream: access unit dropped");
            return;
        }
        self.frames += 1;
        out.push(Tag {
            kind: MediaKind::Video,
            ms,
            body: body.freeze(),
        });
    }

    fn aac(&mut self, pts: u64, data: &[u8], out: &mut Vec<Tag>) {
        let mut rest = data;
        let mut index = 0u64;
        while let Ok((config, len)) = AdtsConfig::decode(rest) {
            // protection_absent = 0: a 16-bit CRC follows the header.
            let header = adts::header_len(rest).unwrap_or(adts::ADTS_HEADER_LEN);
            let (Some(payload), Some(rate)) = (rest.get(header..len), config.sample_rate()) else {
                break;
            };
            let asc = config.audio_specific_config();
            let ts = pts + index * 1024 * 90_000 / u64::from(rate);
            let ms = self.timeline.ms(ts);
            if self.asc != Some(asc) {
                self.asc = Some(asc);
                if let Ok(body) =
                    AudioTag::aac_sequence_header(Bytes::copy_from_slice(&asc)).to_bytes()
                {
                    out.push(Tag {
                        kind: MediaKind::Audio,
                        ms,
                        body,
                    });
                }
            }
            let mut body = BytesMut::with_capacity(payload.len() + 2);
            body.put_slice(&[0xAF, 0x01]);
            body.put_slice(payload);
            self.frames += 1;
            out.push(Tag {
                kind: MediaKind::Audio,
                ms,
                body: body.freeze(),
            });
            rest = rest.get(len..).unwrap_or_default();
            index += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use codec::avc::AvcDecoderConfigurationRecord as Avc;
    use hls_seg::{AudioCodec, MuxInput, MuxerConfig, TsMuxer, VideoCodec};

    use super::*;
    use crate::media::flv_ingest::{FlvIngest, Ingested};

    /// `secs` seconds of 25 fps H.264 (a keyframe a second) and AAC from
    /// `start` (90 kHz), as one segment.
    fn segment(start: u64, secs: u64) -> Vec<u8> {
        let rec = Avc::decode(&crate::media::flv_ingest::tests::avc_config()).unwrap();
        let params = [rec.sps[0].clone(), rec.pps[0].clone()];
        let mut mux = TsMuxer::new(MuxerConfig {
            video: Some(VideoCodec::H264),
            audio: Some(AudioCodec::Aac {
                config: Bytes::from_static(&[0x11, 0x90]),
            }),
        });
        let idr = [Bytes::from_static(&[0x65, 0x88, 0x84, 0x00])];
        let p = [Bytes::from_static(&[0x41, 0x9a, 0x02])];
        let aac = Bytes::from_static(&[0x21, 0x10, 0x05]);
        let mut out = Vec::new();
        for i in 0..secs * 25 {
            let dts = (start + i * 3600) & ((1 << 33) - 1);
            let key = i % 25 == 0;
            let nalus = if key { &idr[..] } else { &p[..] };
            let video = MuxInput::Video {
                pts: dts + 7200,
                dts,
                keyframe: key,
                nalus,
                parameter_sets: &params,
            };
            out.extend_from_slice(&mux.mux(video, i == 0).unwrap());
            out.extend_from_slice(
                &mux.mux(
                    MuxInput::Audio {
                        pts: dts,
                        data: &aac,
                    },
                    false,
                )
                .unwrap(),
            );
        }
        out
    }

    #[test]
    fn a_segment_becomes_sequence_headers_then_frames_flv_ingest_takes() {
        let mut conv = TsToFlv::default();
        let tags = conv.segment(&segment(900_000, 2), false);
        let first_video = tags
            .iter()
            .find(|t| matches!(t.kind, MediaKind::Video))
            .unwrap();
        assert_eq!(first_video.body[1], 0, "an AVC sequence header first");
        let mut ingest = FlvIngest::default();
        let mut frames = Vec::new();
        for t in &tags {
            let got = match t.kind {
                MediaKind::Video => ingest.video(t.ms as u32, &t.body),
                MediaKind::Audio => ingest.audio(t.ms as u32, &t.body),
            };
            if let Ingested::Frame(f) = got.unwrap() {
                frames.push(f);
            }
        }
        let tracks = ingest.tracks();
        assert_eq!(tracks.len(), 2);
        assert_eq!(
            (tracks[0].width, tracks[1].sample_rate),
            (Some(320), Some(48_000))
        );
        let video: Vec<_> = frames.iter().filter(|f| f.track == tracks[0].id).collect();
        assert_eq!(video.len(), 50);
        assert!(video[0].keyframe && !video[1].keyframe);
        assert_eq!(video[0].dts_us, 1_000_000, "the timeline starts at 1 s");
        assert_eq!(video[1].dts_us - video[0].dts_us, 40_000);
        assert_eq!(
            video[0].pts_us - video[0].dts_us,
            80_000,
            "composition time kept"
        );
        assert_eq!(
            frames.len() - video.len(),
            50,
            "one AAC frame per ADTS frame"
        );
    }

    #[test]
    fn timestamps_stay_monotonic_across_wraps_discontinuities_and_jumps() {
        let mut conv = TsToFlv::default();
        // Across the 33-bit wrap: one segment ending just after it.
        let wrap = (1u64 << 33) - 90_000;
        let mut all = conv.segment(&segment(wrap, 2), false);
        // A discontinuity back to 0, then a silent jump of an hour.
        all.extend(conv.segment(&segment(0, 1), true));
        all.extend(conv.segment(&segment(3600 * 90_000, 1), false));
        let video: Vec<i64> = all
            .iter()
            .filter(|t| matches!(t.kind, MediaKind::Video) && t.body[1] == 1)
            .map(|t| t.ms)
            .collect();
        assert_eq!(video.len(), 100);
        assert!(video.windows(2).all(|w| w[1] > w[0]), "{video:?}");
        assert!(
            video.windows(2).all(|w| w[1] - w[0] <= 40 + REBASE_GAP_MS),
            "{video:?}"
        );
        assert_eq!(video[49] - video[0], 49 * 40, "the wrap is continuous");
    }

    #[test]
    fn garbage_yields_nothing_and_never_panics() {
        let mut conv = TsToFlv::default();
        assert!(conv.segment(b"<html>not found</html>", false).is_empty());
        let mut seg = segment(0, 1);
        seg.truncate(seg.len() / 2);
        for b in seg.iter_mut().skip(400).step_by(7) {
            *b ^= 0x5a;
        }
        let _ = conv.segment(&seg, false);
        let mut adts = vec![0xFF, 0xF1, 0x50, 0x80, 0xFF, 0xFF, 0xFC];
        adts.extend([0u8; 4]);
        let mut out = Vec::new();
        conv.aac(0, &adts, &mut out); // declared length past the data
        assert!(out.is_empty());
    }
}
