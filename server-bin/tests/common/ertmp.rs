//! An enhanced-RTMP publisher for tests: Debian's ffmpeg (5.1) cannot
//! publish H.265 or AV1 over RTMP (enhanced RTMP came in ffmpeg 6.1), so
//! ffmpeg only encodes a short clip — Annex-B H.265 (`libx265 -f hevc`) or
//! AV1 low-overhead OBUs (`libsvtav1 -f obu`), and AAC in ADTS — and this
//! module publishes it in real time with rtmp-proto's client session, as
//! enhanced RTMP tags built with flv-mux: `hvc1`/`av01` FourCC, a sequence
//! start carrying the `hvcC` (from the stream's VPS/SPS/PPS) or the `av1C`
//! (built from the sequence header OBU), then coded frames (H.265 as
//! length-prefixed NAL units; AV1 as its temporal units' OBUs without the
//! temporal delimiter).

use std::io::{ErrorKind, Read};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use flv_mux::{AudioTag, FourCc, FrameType, VideoPacketType, VideoTag};
use rtmp_proto::session::MediaKind;
use rtmp_proto::ClientMode;

use super::media::require;
use super::raw::{flush, rtmp_client, Outcome};

/// The video codec of a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Video {
    /// H.265 (`hvc1`).
    Hevc,
    /// AV1 (`av01`).
    Av1,
}

/// Frames per second of every clip.
pub const FPS: u32 = 25;
/// Picture size of every clip.
pub const SIZE: (u32, u32) = (320, 240);

/// One video access unit (H.265) or temporal unit (AV1).
#[derive(Debug, Clone)]
pub struct Sample {
    /// H.265: 4-byte length-prefixed NAL units; AV1: OBUs (with sizes).
    pub data: Bytes,
    /// A random access point.
    pub keyframe: bool,
}

/// An encoded clip, ready to publish.
#[derive(Debug, Clone)]
pub struct Clip {
    /// The video codec.
    pub video: Video,
    /// `hvcC` or `av1C`.
    pub config: Bytes,
    /// Video samples at [`FPS`].
    pub samples: Vec<Sample>,
    /// The AAC AudioSpecificConfig and raw AAC frames (1024 samples each),
    /// when the clip has sound.
    pub audio: Option<(Bytes, u32, Vec<Bytes>)>,
}

impl Clip {
    /// Encodes `secs` seconds of a test pattern (a keyframe every second, no
    /// B-frames) with ffmpeg, with a 440 Hz AAC tone when `sound`.
    pub fn encode(video: Video, secs: u32, sound: bool) -> Clip {
        require("ffmpeg");
        let dir = std::env::temp_dir().join(format!(
            "strom-ertmp-{}-{video:?}-{secs}-{sound}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("clip dir");
        let vfile = dir.join("video");
        let afile = dir.join("audio.aac");
        let t = secs.to_string();
        let size = format!("testsrc2=size={}x{}:rate={FPS}", SIZE.0, SIZE.1);
        let mut cmd = Command::new("timeout");
        cmd.args([
            "120",
            "ffmpeg",
            "-hide_banner",
            "-v",
            "error",
            "-nostdin",
            "-y",
        ])
        .args(["-f", "lavfi", "-i", &size])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-map", "0:v", "-t", &t, "-pix_fmt", "yuv420p"]);
        match video {
            Video::Hevc => cmd.args([
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "keyint=25:min-keyint=25:bframes=0:log-level=error",
                "-f",
                "hevc",
            ]),
            Video::Av1 => cmd.args([
                "-c:v",
                "libsvtav1",
                "-preset",
                "12",
                "-g",
                "25",
                "-f",
                "obu",
            ]),
        };
        cmd.arg(&vfile);
        if sound {
            cmd.args([
                "-map", "1:a", "-t", &t, "-c:a", "aac", "-b:a", "64k", "-f", "adts",
            ])
            .arg(&afile);
        }
        let out = cmd.stdin(Stdio::null()).output().expect("ffmpeg runs");
        assert!(
            out.status.success(),
            "ffmpeg could not encode the {video:?} clip (needs libx265/libsvtav1, in Debian's ffmpeg): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let raw = Bytes::from(std::fs::read(&vfile).expect("video file"));
        let (config, samples) = match video {
            Video::Hevc => hevc_samples(&raw),
            Video::Av1 => av1_samples(&raw),
        };
        assert!(
            samples.first().is_some_and(|s| s.keyframe),
            "the {video:?} clip starts with a keyframe"
        );
        let audio = sound.then(|| adts_frames(&std::fs::read(&afile).expect("audio file")));
        let _ = std::fs::remove_dir_all(&dir);
        Clip {
            video,
            config,
            samples,
            audio,
        }
    }

    /// The clip's length in milliseconds.
    pub fn duration_ms(&self) -> u32 {
        self.samples.len() as u32 * 1000 / FPS
    }

    fn fourcc(&self) -> FourCc {
        match self.video {
            Video::Hevc => FourCc::HVC1,
            Video::Av1 => FourCc::AV01,
        }
    }

    /// The sequence start tag body.
    pub fn sequence_start(&self) -> Bytes {
        VideoTag::Enhanced {
            frame_type: FrameType::Key,
            packet_type: VideoPacketType::SequenceStart,
            fourcc: self.fourcc(),
            composition_time: 0,
            data: self.config.clone(),
        }
        .to_bytes()
        .expect("sequence start")
    }

    /// A sample's coded-frames tag body.
    pub fn coded_frame(&self, sample: &Sample) -> Bytes {
        VideoTag::Enhanced {
            frame_type: if sample.keyframe {
                FrameType::Key
            } else {
                FrameType::Inter
            },
            // No B-frames: no composition time (CodedFramesX).
            packet_type: match self.video {
                Video::Hevc => VideoPacketType::CodedFramesX,
                Video::Av1 => VideoPacketType::CodedFrames,
            },
            fourcc: self.fourcc(),
            composition_time: 0,
            data: sample.data.clone(),
        }
        .to_bytes()
        .expect("coded frames")
    }

    /// Every tag of one pass through the clip from `base_ms` on, in
    /// timestamp order: `(kind, timestamp, body)`.
    fn tags(&self, base_ms: u32) -> Vec<(MediaKind, u32, Bytes)> {
        let mut tags: Vec<_> = self
            .samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let ts = base_ms + i as u32 * 1000 / FPS;
                (MediaKind::Video, ts, self.coded_frame(s))
            })
            .collect();
        if let Some((_, rate, frames)) = &self.audio {
            let end = base_ms + self.duration_ms();
            for (j, f) in frames.iter().enumerate() {
                let ts = base_ms + (j as u64 * 1024 * 1000 / u64::from(*rate)) as u32;
                if ts < end {
                    let body = AudioTag::aac_raw(f.clone()).to_bytes().expect("aac");
                    tags.push((MediaKind::Audio, ts, body));
                }
            }
        }
        tags.sort_by_key(|(_, ts, _)| *ts);
        tags
    }
}

/// Publishes `clip` to `live/{stream}` on its own thread, in real time and
/// in a loop (timestamps going on), until `stop` is set, the server closes
/// the connection, or `limit` passes. Returns once the server accepted the
/// publish and the sequence headers left.
pub fn publish(
    port: u16,
    stream: &str,
    clip: Arc<Clip>,
    stop: Arc<AtomicBool>,
    limit: Duration,
) -> JoinHandle<()> {
    let (mut sock, mut session, outcome) =
        rtmp_client(port, [127, 0, 0, 1], stream, ClientMode::Publish);
    assert_eq!(outcome, Outcome::Started, "publish of {stream}");
    session
        .send_media(MediaKind::Video, 0, clip.sequence_start())
        .expect("sequence start");
    if let Some((asc, _, _)) = &clip.audio {
        let body = AudioTag::aac_sequence_header(asc.clone())
            .to_bytes()
            .expect("aac sequence header");
        session
            .send_media(MediaKind::Audio, 0, body)
            .expect("aac sequence header");
    }
    flush(&mut sock, &mut session).expect("sequence headers sent");
    std::thread::spawn(move || {
        let start = Instant::now();
        let _ = sock.set_read_timeout(Some(Duration::from_millis(1)));
        let mut buf = vec![0u8; 16 * 1024];
        let mut base = 0;
        loop {
            for (kind, ts, body) in clip.tags(base) {
                // Real time: a tag leaves when its timestamp is due.
                let due = start + Duration::from_millis(u64::from(ts));
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                if stop.load(Ordering::Relaxed) || start.elapsed() > limit {
                    return;
                }
                if session.send_media(kind, ts, body).is_err()
                    || flush(&mut sock, &mut session).is_err()
                {
                    return;
                }
                // Keep the server's acknowledgements and pings read.
                match sock.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        if session.handle_input(&buf[..n], Instant::now()).is_err() {
                            return;
                        }
                        while session.poll_event().is_some() {}
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => return,
                }
            }
            base += clip.duration_ms();
        }
    })
}

/// Annex-B H.265 → `hvcC` and access units (4-byte length-prefixed NAL
/// units, parameter sets and AUDs left to the configuration record).
fn hevc_samples(raw: &Bytes) -> (Bytes, Vec<Sample>) {
    let (mut vps, mut sps, mut pps) = (None, None, None);
    let mut samples = Vec::new();
    let mut au: Vec<Bytes> = Vec::new();
    let mut au_has_vcl = false;
    let mut keyframe = false;
    let mut finish = |au: &mut Vec<Bytes>, keyframe: bool| {
        if au.is_empty() {
            return;
        }
        let mut data = Vec::new();
        for nal in au.drain(..) {
            data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            data.extend_from_slice(&nal);
        }
        samples.push(Sample {
            data: Bytes::from(data),
            keyframe,
        });
    };
    for nal in codec::nalu::split_annexb(raw) {
        let Some(&h0) = nal.first() else { continue };
        let kind = (h0 >> 1) & 0x3f;
        let vcl = kind < 32;
        // A new access unit: a first slice, or a non-VCL unit that goes
        // before one (AUD, parameter sets, prefix SEI), after a picture.
        let first_slice = vcl && nal.get(2).is_some_and(|b| b & 0x80 != 0);
        let starts_au = first_slice || matches!(kind, 32..=35 | 39);
        if au_has_vcl && starts_au {
            finish(&mut au, keyframe);
            au_has_vcl = false;
            keyframe = false;
        }
        match kind {
            32 => vps = vps.or(Some(nal)),
            33 => sps = sps.or(Some(nal)),
            34 => pps = pps.or(Some(nal)),
            35 => {}
            _ => {
                au_has_vcl |= vcl;
                keyframe |= (16..=21).contains(&kind);
                au.push(nal);
            }
        }
    }
    finish(&mut au, keyframe);
    let (Some(vps), Some(sps), Some(pps)) = (vps, sps, pps) else {
        panic!("the H.265 clip has no VPS/SPS/PPS");
    };
    let record = codec::hevc::HevcDecoderConfigurationRecord::from_parameter_sets(vps, sps, pps)
        .expect("hvcC from the clip's parameter sets");
    (record.to_bytes().expect("hvcC"), samples)
}

/// One OBU of a low-overhead bitstream: its type, the whole OBU and its
/// payload.
fn next_obu(raw: &Bytes, at: usize) -> Option<(u8, Bytes, Bytes)> {
    let h0 = *raw.get(at)?;
    let kind = (h0 >> 3) & 0x0f;
    let ext = h0 & 0x04 != 0;
    assert!(h0 & 0x02 != 0, "OBUs of `-f obu` carry their size");
    let mut pos = at + 1 + usize::from(ext);
    let mut size = 0usize;
    for i in 0..8 {
        let b = *raw.get(pos)?;
        pos += 1;
        size |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            break;
        }
    }
    let end = pos + size;
    (end <= raw.len()).then(|| (kind, raw.slice(at..end), raw.slice(pos..end)))
}

const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_TEMPORAL_DELIMITER: u8 = 2;
const OBU_FRAME_HEADER: u8 = 3;
const OBU_FRAME: u8 = 6;

/// AV1 low-overhead OBUs → `av1C` and temporal units (their OBUs without
/// the temporal delimiter).
fn av1_samples(raw: &Bytes) -> (Bytes, Vec<Sample>) {
    let mut seq: Option<Bytes> = None;
    let mut samples = Vec::new();
    let mut tu: Vec<u8> = Vec::new();
    let mut keyframe = false;
    let mut at = 0;
    while let Some((kind, obu, payload)) = next_obu(raw, at) {
        at += obu.len();
        match kind {
            OBU_TEMPORAL_DELIMITER => {
                if !tu.is_empty() {
                    samples.push(Sample {
                        data: Bytes::from(std::mem::take(&mut tu)),
                        keyframe,
                    });
                }
                keyframe = false;
                continue;
            }
            OBU_SEQUENCE_HEADER => {
                seq.get_or_insert(obu.clone());
            }
            // show_existing_frame = 0, frame_type = KEY_FRAME (0).
            OBU_FRAME_HEADER | OBU_FRAME => {
                keyframe |= payload.first().is_some_and(|b| b & 0xe0 == 0);
            }
            _ => {}
        }
        tu.extend_from_slice(&obu);
    }
    if !tu.is_empty() {
        samples.push(Sample {
            data: Bytes::from(tu),
            keyframe,
        });
    }
    let seq = seq.expect("the AV1 clip has a sequence header");
    (av1c(&seq), samples)
}

/// Reads bits MSB first.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bits(&mut self, n: usize) -> u64 {
        let mut v = 0;
        for _ in 0..n {
            let byte = self.data.get(self.pos / 8).copied().unwrap_or(0);
            v = v << 1 | u64::from(byte >> (7 - self.pos % 8) & 1);
            self.pos += 1;
        }
        v
    }

    fn flag(&mut self) -> bool {
        self.bits(1) == 1
    }

    fn uvlc(&mut self) {
        let mut zeros = 0;
        while !self.flag() && zeros < 32 {
            zeros += 1;
        }
        self.bits(zeros);
    }
}

/// The `av1C` of a sequence header OBU (AV1-ISOBMFF 2.3): profile, level
/// and tier of operating point 0 from the header; 8-bit 4:2:0 as the clip
/// is encoded (`yuv420p`); the sequence header as its configOBUs.
fn av1c(seq_obu: &Bytes) -> Bytes {
    let header_len = 1 + usize::from(seq_obu[0] & 0x04 != 0);
    let mut pos = header_len;
    while seq_obu[pos] & 0x80 != 0 {
        pos += 1;
    }
    let mut r = Bits {
        data: &seq_obu[pos + 1..],
        pos: 0,
    };
    let profile = r.bits(3) as u8;
    let _still = r.flag();
    let reduced = r.flag();
    let (level, tier) = if reduced {
        (r.bits(5) as u8, 0)
    } else {
        if r.flag() {
            // timing_info
            r.bits(32);
            r.bits(32);
            if r.flag() {
                r.uvlc();
            }
            if r.flag() {
                // decoder_model_info
                r.bits(5);
                r.bits(32);
                r.bits(10);
            }
        }
        let _initial_display_delay = r.flag();
        let _points = r.bits(5);
        let _idc = r.bits(12);
        let level = r.bits(5) as u8;
        let tier = if level > 7 { r.bits(1) as u8 } else { 0 };
        (level, tier)
    };
    let mut out = vec![
        0x81,
        profile << 5 | level,
        tier << 7 | 0b0000_1100, // 8-bit, not mono, 4:2:0 (subsampling x and y)
        0,
    ];
    out.extend_from_slice(seq_obu);
    Bytes::from(out)
}

/// ADTS → AudioSpecificConfig, sample rate, raw AAC frames.
fn adts_frames(raw: &[u8]) -> (Bytes, u32, Vec<Bytes>) {
    let raw = Bytes::copy_from_slice(raw);
    let mut frames = Vec::new();
    let mut config = None;
    let mut at = 0;
    while let Ok(Some((asc, len))) = codec::aac::AudioSpecificConfig::parse_adts(&raw[at..]) {
        if at + len > raw.len() {
            break;
        }
        let header = codec::aac::adts::header_len(&raw[at..]).unwrap_or(7);
        frames.push(raw.slice(at + header..at + len));
        config.get_or_insert(asc);
        at += len;
    }
    let asc = config.expect("the clip has AAC frames");
    (asc.to_bytes().expect("ASC"), asc.sample_rate, frames)
}
