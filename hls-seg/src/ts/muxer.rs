//! The transport stream muxer: one program (number 1, PMT on PID 0x1000)
//! with up to one video (PID 0x100) and one audio (PID 0x101) stream, as
//! ffmpeg and most HLS packagers lay it out.
//!
//! Each [`TsMuxer::mux`] call turns one frame into whole 188-byte packets
//! written into a single buffer: PES header and elementary stream data
//! (ISO/IEC 13818-1 2.4.3.6), split over packets of the stream's PID with a
//! per-PID continuity counter (2.4.3.3), the last packet padded with
//! adaptation-field stuffing (2.4.3.5), the first one carrying the
//! random_access_indicator on keyframes and a PCR when due.

use bytes::{BufMut, Bytes, BytesMut};

use super::adaptation::{AdaptationField, Pcr, TS_MASK};
use super::packet::{TsHeader, PACKET_BODY, PACKET_SIZE};
use super::pat::{Pat, PatEntry, PAT_PID};
use super::pes::{PesHeader, STREAM_ID_AUDIO, STREAM_ID_VIDEO};
use super::pmt::{stream_type, Pmt, PmtStream};
use crate::error::MuxError;
use crate::es::adts::{AdtsConfig, ADTS_HEADER_LEN};
use crate::es::annexb::access_unit_pieces;

/// The program number of the single program.
pub const PROGRAM_NUMBER: u16 = 1;
/// `transport_stream_id` written in the PAT.
pub const TRANSPORT_STREAM_ID: u16 = 1;
/// PID of the PMT.
pub const PMT_PID: u16 = 0x1000;
/// PID of the video stream.
pub const VIDEO_PID: u16 = 0x100;
/// PID of the audio stream.
pub const AUDIO_PID: u16 = 0x101;
/// Longest gap between PCRs in 90 kHz ticks (40 ms; 2.7.2 allows 100 ms,
/// DVB asks for 40 ms).
pub const PCR_MAX_INTERVAL: u64 = 3_600;

/// A video codec the muxer can carry: H.264 (stream_type 0x1B) or H.265
/// (0x24).
pub use codec::VideoCodec;

/// An audio codec the muxer can carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioCodec {
    /// AAC carried in ADTS, stream_type 0x0F.
    Aac {
        /// The AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) the ADTS
        /// headers are built from.
        config: Bytes,
    },
    /// MP3 (MPEG-1/2 audio layer III) frames as they are, stream_type 0x03.
    Mp3,
}

/// The tracks of the program.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MuxerConfig {
    /// The video track, if any.
    pub video: Option<VideoCodec>,
    /// The audio track, if any.
    pub audio: Option<AudioCodec>,
}

/// One frame to mux. Timestamps are 90 kHz ticks; they may exceed 2^33 and
/// are written modulo 2^33 (2.4.3.7).
#[derive(Debug, Clone, Copy)]
pub enum MuxInput<'a> {
    /// One access unit: NAL units WITHOUT start codes or length prefixes.
    /// `parameter_sets` (VPS/SPS/PPS, without start codes) are written before
    /// the NALs of every keyframe unless the AU already carries them; an AUD
    /// (H.264 nal type 9 / H.265 type 35) is written first unless already
    /// present. Output is Annex-B.
    Video {
        /// Presentation time.
        pts: u64,
        /// Decoding time.
        dts: u64,
        /// Whether the access unit is a random access point (IDR/IRAP).
        keyframe: bool,
        /// The NAL units of the access unit.
        nalus: &'a [Bytes],
        /// The codec's parameter sets.
        parameter_sets: &'a [Bytes],
    },
    /// One audio frame: AAC raw access unit (the muxer adds the 7-byte ADTS
    /// header built from the AudioSpecificConfig) or an MP3 frame as is.
    Audio {
        /// Presentation (and decoding) time.
        pts: u64,
        /// The frame.
        data: &'a Bytes,
    },
}

impl MuxInput<'_> {
    /// The decoding time (the PTS for audio).
    pub fn dts(&self) -> u64 {
        match *self {
            MuxInput::Video { dts, .. } => dts,
            MuxInput::Audio { pts, .. } => pts,
        }
    }
}

/// Decides when a PCR is due on the PCR PID.
#[derive(Debug, Default)]
struct PcrClock {
    last_pcr: Option<u64>,
    last_dts: Option<u64>,
    /// The last gap between frames, as an estimate of the next one.
    frame_interval: u64,
}

impl PcrClock {
    /// The PCR to write with a frame of decoding time `dts`, if one is due:
    /// always on keyframes, else when waiting for the next frame would
    /// leave more than [`PCR_MAX_INTERVAL`] since the last PCR. The PCR is
    /// the frame's DTS: the frame is due at the time it arrives.
    fn due(&mut self, dts: u64, keyframe: bool) -> Option<Pcr> {
        let dts = dts & TS_MASK;
        if let Some(prev) = self.last_dts {
            self.frame_interval = (dts.wrapping_sub(prev) & TS_MASK).min(PCR_MAX_INTERVAL);
        }
        self.last_dts = Some(dts);
        let due = keyframe
            || self.last_pcr.is_none_or(|last| {
                (dts.wrapping_sub(last) & TS_MASK) + self.frame_interval > PCR_MAX_INTERVAL
            });
        due.then(|| {
            self.last_pcr = Some(dts);
            Pcr {
                base: dts,
                extension: 0,
            }
        })
    }
}

/// Copies bytes out of a list of slices, in order.
struct Pieces<'a, I: Iterator<Item = &'a [u8]>> {
    iter: I,
    cur: &'a [u8],
}

impl<'a, I: Iterator<Item = &'a [u8]>> Pieces<'a, I> {
    fn copy_to(&mut self, out: &mut BytesMut, mut n: usize) {
        while n > 0 {
            if self.cur.is_empty() {
                match self.iter.next() {
                    Some(next) => self.cur = next,
                    None => return,
                }
                continue;
            }
            let (head, tail) = self.cur.split_at(n.min(self.cur.len()));
            out.put_slice(head);
            n -= head.len();
            self.cur = tail;
        }
    }
}

/// Writes `len` bytes from `pieces` as the packets of one PES on `pid`.
/// The first packet has `payload_unit_start_indicator` set and carries
/// `first_af` if it is not empty; the last packet is padded with
/// adaptation-field stuffing (2.4.3.5), the only padding allowed for PES.
fn write_pes_packets<'a>(
    out: &mut BytesMut,
    pid: u16,
    cc: &mut u8,
    first_af: AdaptationField,
    len: usize,
    mut pieces: Pieces<'a, impl Iterator<Item = &'a [u8]>>,
) {
    let mut remaining = len;
    let mut first = true;
    while remaining > 0 {
        let af = if first {
            first_af
        } else {
            AdaptationField::default()
        };
        let min_af = if af.is_empty() { 0 } else { af.min_len() };
        let payload = remaining.min(PACKET_BODY - min_af);
        let af_len = PACKET_BODY - payload;
        TsHeader {
            payload_unit_start: first,
            pid,
            has_adaptation: af_len > 0,
            has_payload: true,
            continuity_counter: *cc,
            ..TsHeader::default()
        }
        .encode(out);
        if af_len > 0 {
            af.encode(af_len, out);
        }
        pieces.copy_to(out, payload);
        *cc = (*cc + 1) & 0xF;
        remaining -= payload;
        first = false;
    }
}

/// Writes one packet carrying a whole PSI section: `pointer_field` 0, the
/// section, then 0xFF stuffing (2.4.4.1: stuffing after the last section).
fn write_section_packet(out: &mut BytesMut, pid: u16, cc: &mut u8, section: &[u8]) {
    TsHeader {
        payload_unit_start: true,
        pid,
        has_payload: true,
        continuity_counter: *cc,
        ..TsHeader::default()
    }
    .encode(out);
    out.put_u8(0);
    let section = section.get(..PACKET_BODY - 1).unwrap_or(section);
    out.put_slice(section);
    out.put_bytes(0xFF, PACKET_BODY - 1 - section.len());
    *cc = (*cc + 1) & 0xF;
}

/// The MPEG-TS muxer. See the [module documentation](self).
#[derive(Debug)]
pub struct TsMuxer {
    config: MuxerConfig,
    /// The ADTS configuration, or why the AudioSpecificConfig was refused
    /// (reported on each AAC frame).
    adts: Option<Result<AdtsConfig, MuxError>>,
    pat: Vec<u8>,
    pmt: Vec<u8>,
    pcr_pid: u16,
    pcr: PcrClock,
    cc_pat: u8,
    cc_pmt: u8,
    cc_video: u8,
    cc_audio: u8,
}

impl TsMuxer {
    /// A muxer for the tracks of `config`. A video track carries the PCR;
    /// an audio-only program carries it on the audio PID.
    pub fn new(config: MuxerConfig) -> TsMuxer {
        let adts = match &config.audio {
            Some(AudioCodec::Aac { config }) => Some(
                AdtsConfig::from_audio_specific_config(config)
                    .map_err(|e| MuxError::adts(e, config.len())),
            ),
            _ => None,
        };
        let pcr_pid = if config.video.is_some() || config.audio.is_none() {
            VIDEO_PID
        } else {
            AUDIO_PID
        };
        let pat = Pat {
            transport_stream_id: TRANSPORT_STREAM_ID,
            version: 0,
            programs: vec![PatEntry {
                program_number: PROGRAM_NUMBER,
                pid: PMT_PID,
            }],
        }
        .encode();
        let mut streams = Vec::with_capacity(2);
        if let Some(v) = config.video {
            streams.push(PmtStream {
                stream_type: match v {
                    VideoCodec::H264 => stream_type::H264,
                    VideoCodec::H265 => stream_type::H265,
                },
                pid: VIDEO_PID,
                descriptors: Bytes::new(),
            });
        }
        if let Some(a) = &config.audio {
            streams.push(PmtStream {
                stream_type: match a {
                    AudioCodec::Aac { .. } => stream_type::AAC_ADTS,
                    AudioCodec::Mp3 => stream_type::MPEG1_AUDIO,
                },
                pid: AUDIO_PID,
                descriptors: Bytes::new(),
            });
        }
        let pmt = Pmt {
            program_number: PROGRAM_NUMBER,
            version: 0,
            pcr_pid,
            descriptors: Bytes::new(),
            streams,
        }
        .encode();
        TsMuxer {
            config,
            adts,
            pat,
            pmt,
            pcr_pid,
            pcr: PcrClock::default(),
            cc_pat: 0,
            cc_pmt: 0,
            cc_video: 0,
            cc_audio: 0,
        }
    }

    /// The configuration this muxer was made with.
    pub fn config(&self) -> &MuxerConfig {
        &self.config
    }

    /// PAT + PMT packets (advancing their continuity counters).
    pub fn tables(&mut self) -> Bytes {
        let mut out = BytesMut::with_capacity(2 * PACKET_SIZE);
        self.write_tables(&mut out);
        out.freeze()
    }

    fn write_tables(&mut self, out: &mut BytesMut) {
        write_section_packet(out, PAT_PID, &mut self.cc_pat, &self.pat);
        write_section_packet(out, PMT_PID, &mut self.cc_pmt, &self.pmt);
    }

    /// The TS packets of one frame. When `with_tables` is true, PAT+PMT
    /// come first. On error nothing is written and no counter moves.
    pub fn mux(&mut self, input: MuxInput<'_>, with_tables: bool) -> Result<Bytes, MuxError> {
        match input {
            MuxInput::Video {
                pts,
                dts,
                keyframe,
                nalus,
                parameter_sets,
            } => {
                let codec = self
                    .config
                    .video
                    .ok_or(MuxError::TrackNotConfigured { track: "video" })?;
                let pieces = access_unit_pieces(codec, keyframe, nalus, parameter_sets);
                let es_len: usize = pieces.iter().map(|p| p.len()).sum();
                // 2.4.3.7: PES_packet_length 0 (unbounded) is allowed for
                // video in transport streams, and needed above 64 KiB.
                let header = PesHeader {
                    stream_id: STREAM_ID_VIDEO,
                    packet_length: 0,
                    data_alignment: true,
                    pts: Some(pts),
                    dts: Some(dts),
                };
                let pcr = (self.pcr_pid == VIDEO_PID)
                    .then(|| self.pcr.due(dts, keyframe))
                    .flatten();
                let af = AdaptationField {
                    random_access: keyframe,
                    pcr,
                    ..AdaptationField::default()
                };
                Ok(self.write_frame(VIDEO_PID, header, af, es_len, &pieces, with_tables))
            }
            MuxInput::Audio { pts, data } => {
                let codec = self
                    .config
                    .audio
                    .as_ref()
                    .ok_or(MuxError::TrackNotConfigured { track: "audio" })?;
                let adts = match (codec, &self.adts) {
                    (AudioCodec::Aac { .. }, Some(adts)) => Some(
                        adts.clone()?
                            .header(data.len())
                            .map_err(|e| MuxError::adts(e, 0))?,
                    ),
                    _ => None,
                };
                let es_len = data.len() + adts.map_or(0, |_| ADTS_HEADER_LEN);
                let mut header = PesHeader {
                    stream_id: STREAM_ID_AUDIO,
                    packet_length: 0,
                    data_alignment: true,
                    pts: Some(pts),
                    dts: None,
                };
                // 2.4.3.7: only video may use the unbounded length.
                header.packet_length =
                    header
                        .bounded_length(es_len)
                        .ok_or(MuxError::FrameTooLarge {
                            what: "audio PES_packet_length",
                            size: es_len as u64,
                            limit: u64::from(u16::MAX) - (header.encoded_len() - 6) as u64,
                        })?;
                let pcr = (self.pcr_pid == AUDIO_PID)
                    .then(|| self.pcr.due(pts, false))
                    .flatten();
                // Every audio frame is a random access point.
                let af = AdaptationField {
                    random_access: true,
                    pcr,
                    ..AdaptationField::default()
                };
                let adts_slice: &[u8] = match &adts {
                    Some(h) => h,
                    None => &[],
                };
                let pieces = [adts_slice, &data[..]];
                Ok(self.write_frame(AUDIO_PID, header, af, es_len, &pieces, with_tables))
            }
        }
    }

    fn write_frame(
        &mut self,
        pid: u16,
        header: PesHeader,
        af: AdaptationField,
        es_len: usize,
        es: &[&[u8]],
        with_tables: bool,
    ) -> Bytes {
        let mut hdr = [0u8; 32];
        let hlen = header.encoded_len();
        header.encode(&mut &mut hdr[..]);
        let total = hlen + es_len;
        // Upper bound: the first packet carries at least 184 - 8 bytes, the
        // others 184; so one allocation per frame.
        let packets = total / PACKET_BODY + 2 + if with_tables { 2 } else { 0 };
        let mut out = BytesMut::with_capacity(packets * PACKET_SIZE);
        if with_tables {
            self.write_tables(&mut out);
        }
        let cc = if pid == VIDEO_PID {
            &mut self.cc_video
        } else {
            &mut self.cc_audio
        };
        let hdr_slice: &[u8] = hdr.get(..hlen).unwrap_or_default();
        let pieces = Pieces {
            iter: std::iter::once(hdr_slice).chain(es.iter().copied()),
            cur: &[],
        };
        write_pes_packets(&mut out, pid, cc, af, total, pieces);
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(ts: &[u8]) -> Vec<&[u8]> {
        assert_eq!(ts.len() % PACKET_SIZE, 0);
        ts.chunks(PACKET_SIZE).collect()
    }

    #[test]
    fn tables_are_pat_then_pmt_with_counters() {
        let mut m = TsMuxer::new(MuxerConfig {
            video: Some(VideoCodec::H264),
            audio: Some(AudioCodec::Aac {
                config: Bytes::from_static(&[0x12, 0x10]),
            }),
        });
        let t = m.tables();
        let p = packets(&t);
        assert_eq!(p.len(), 2);
        assert_eq!(&p[0][..5], [0x47, 0x40, 0x00, 0x10, 0x00]);
        assert_eq!(
            &p[0][5..21],
            [
                0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00, 0x2A, 0xB1,
                0x04, 0xB2
            ]
        );
        assert!(p[0][21..].iter().all(|&b| b == 0xFF));
        assert_eq!(&p[1][..5], [0x47, 0x50, 0x00, 0x10, 0x00]);
        assert_eq!(&p[1][5..8], [0x02, 0xB0, 0x17]);
        let t = m.tables();
        assert_eq!(t[3] & 0xF, 1);
        assert_eq!(t[PACKET_SIZE + 3] & 0xF, 1);
    }

    #[test]
    fn small_audio_frame_is_one_stuffed_packet() {
        let mut m = TsMuxer::new(MuxerConfig {
            video: None,
            audio: Some(AudioCodec::Mp3),
        });
        let data = Bytes::from_static(&[0xAA; 10]);
        let ts = m
            .mux(
                MuxInput::Audio {
                    pts: 90_000,
                    data: &data,
                },
                false,
            )
            .unwrap();
        let p = packets(&ts);
        assert_eq!(p.len(), 1);
        // PUSI, audio PID, adaptation + payload, cc 0.
        assert_eq!(&p[0][..4], [0x47, 0x41, 0x01, 0x30]);
        // Adaptation field: RAI + PCR (audio-only program), then stuffing.
        let af_len = usize::from(p[0][4]);
        assert_eq!(p[0][5], 0x50);
        // PES: 14-byte header with PTS, PES_packet_length = 8 + 10.
        let pes = &p[0][5 + af_len..];
        assert_eq!(&pes[..9], [0, 0, 1, 0xC0, 0, 18, 0x84, 0x80, 5]);
        assert_eq!(&pes[14..], &[0xAA; 10]);
    }

    #[test]
    fn keyframes_carry_a_bounded_amount_of_parameter_sets() {
        // A 60 KiB configuration: 60 distinct 1 KiB SPS and, again, the same.
        let mut sets: Vec<Bytes> = (0..60u8)
            .map(|i| {
                let mut v = vec![0x67, i];
                v.resize(1024, i);
                Bytes::from(v)
            })
            .collect();
        sets.extend(sets.clone());
        let mut m = TsMuxer::new(MuxerConfig {
            video: Some(VideoCodec::H264),
            audio: None,
        });
        let nalus = [Bytes::from(vec![0x65; 100])];
        let key = |m: &mut TsMuxer| {
            m.mux(
                MuxInput::Video {
                    pts: 0,
                    dts: 0,
                    keyframe: true,
                    nalus: &nalus,
                    parameter_sets: &sets,
                },
                false,
            )
            .unwrap()
            .len()
        };
        let out = key(&mut m);
        // The budget, the frame and TS/PES overhead (188 bytes per 184).
        let bound = (crate::es::annexb::MAX_REPEATED_PARAMETER_BYTES + 200) * 188 / 184 + 2 * 188;
        assert!(out <= bound, "{out} bytes for one keyframe, bound {bound}");
        assert_eq!(key(&mut m), out, "the same for every keyframe");
    }

    #[test]
    fn errors_leave_no_trace() {
        let mut m = TsMuxer::new(MuxerConfig {
            video: None,
            audio: Some(AudioCodec::Aac {
                config: Bytes::from_static(&[0x12, 0x10]),
            }),
        });
        let nalus = [Bytes::from_static(&[0x65])];
        let video = MuxInput::Video {
            pts: 0,
            dts: 0,
            keyframe: true,
            nalus: &nalus,
            parameter_sets: &[],
        };
        assert_eq!(
            m.mux(video, true),
            Err(MuxError::TrackNotConfigured { track: "video" })
        );
        let big = Bytes::from(vec![0; 8185]);
        assert!(matches!(
            m.mux(MuxInput::Audio { pts: 0, data: &big }, true),
            Err(MuxError::FrameTooLarge { .. })
        ));
        assert_eq!(m.tables()[3] & 0xF, 0);

        let mut he = TsMuxer::new(MuxerConfig {
            video: None,
            audio: Some(AudioCodec::Aac {
                config: Bytes::from_static(&[0x2B, 0x92, 0x08, 0x00]),
            }),
        });
        let small = Bytes::from_static(&[1, 2, 3]);
        assert!(matches!(
            he.mux(
                MuxInput::Audio {
                    pts: 0,
                    data: &small
                },
                false
            ),
            Err(MuxError::UnsupportedAudioConfig {
                what: "audioObjectType",
                value: 5
            })
        ));

        let mut mp3 = TsMuxer::new(MuxerConfig {
            video: None,
            audio: Some(AudioCodec::Mp3),
        });
        let huge = Bytes::from(vec![0; 70_000]);
        assert!(matches!(
            mp3.mux(
                MuxInput::Audio {
                    pts: 0,
                    data: &huge
                },
                false
            ),
            Err(MuxError::FrameTooLarge {
                what: "audio PES_packet_length",
                ..
            })
        ));
    }

    #[test]
    fn pcr_on_keyframes_and_at_least_every_40ms() {
        let mut clock = PcrClock::default();
        // 60 fps: 1500 ticks per frame.
        let due: Vec<bool> = (0..10)
            .map(|i| clock.due(i * 1500, i == 0).is_some())
            .collect();
        assert_eq!(
            due,
            [true, false, true, false, true, false, true, false, true, false]
        );
        // 10 fps: every frame.
        let mut clock = PcrClock::default();
        assert!((0..5).all(|i| clock.due(i * 9000, false).is_some()));
        // Keyframes always, even right after a PCR.
        assert!(clock.due(36_001, true).is_some());
    }
}
