//! The CMAF packager end to end: random audio/video sequences keep the
//! cutting invariants and read back, sample for sample, through
//! `fmp4::Demuxer`; real H.264 from ffmpeg, packaged, reads back in
//! ffprobe and decodes in ffmpeg without an error.

use std::process::{Command, Stdio};

use bytes::Bytes;
use codec::avc::{AvcDecoderConfigurationRecord, AvcSps};
use codec::nal::ParameterSet;
use codec::VideoCodec;
use fmp4::{CodecConfig, Demuxer, Event, TrackConfig};
use hls_seg::cmaf::{CmafConfig, CmafInput, CmafPackager, CmafSegment, MAX_SEGMENT_TARGETS};
use proptest::prelude::*;

const VIDEO: u32 = 1;
const AUDIO: u32 = 2;

fn tracks(video: bool) -> Vec<TrackConfig> {
    let mut out = Vec::new();
    if video {
        out.push(TrackConfig {
            id: VIDEO,
            timescale: 90_000,
            codec: CodecConfig::Avc {
                avcc: Bytes::from_static(&[
                    1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 4, 0x67, 0x42, 0xC0, 0x1E, 1, 0, 4, 0x68,
                    0xCE, 0x3C, 0x80,
                ]),
            },
            width: 320,
            height: 240,
            channels: 0,
            sample_rate: 0,
        });
    }
    out.push(TrackConfig {
        id: AUDIO,
        timescale: 48_000,
        codec: CodecConfig::Aac {
            asc: Bytes::from_static(&[0x11, 0x90]),
        },
        width: 0,
        height: 0,
        channels: 2,
        sample_rate: 48_000,
    });
    out
}

/// A sample as the demuxer gives it back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    track_id: u32,
    dts: u64,
    cts_offset: i32,
    keyframe: bool,
    data: Bytes,
}

impl From<&CmafInput> for Got {
    fn from(i: &CmafInput) -> Got {
        Got {
            track_id: i.track_id,
            dts: i.dts,
            cts_offset: i.cts_offset,
            keyframe: i.keyframe,
            data: i.data.clone(),
        }
    }
}

/// Demuxes init + the segments: per fragment, its samples (runs in order).
fn demux(init: &Bytes, segments: &[CmafSegment]) -> Vec<Vec<Got>> {
    let mut d = Demuxer::new();
    d.push(init);
    for s in segments {
        d.push(&s.data);
    }
    let mut fragments = Vec::new();
    while let Some(event) = d.next_event().expect("demux") {
        let Event::Fragment { runs, .. } = event else {
            continue;
        };
        let mut samples = Vec::new();
        for run in runs {
            let mut dts = run.base_decode_time;
            for s in run.samples {
                samples.push(Got {
                    track_id: run.track_id,
                    dts,
                    cts_offset: s.cts_offset,
                    keyframe: s.keyframe,
                    data: s.data,
                });
                dts += u64::from(s.duration);
            }
        }
        fragments.push(samples);
    }
    fragments
}

/// A random stream: video at a fixed frame interval with random GOP
/// lengths, AAC frames, interleaved with a random skew between the tracks.
#[derive(Debug, Clone)]
struct Stream {
    video: bool,
    interval: u64,
    gops: Vec<u64>,
    first_keyframe: bool,
    skew: Vec<i64>,
    target_secs: f64,
}

fn stream() -> impl Strategy<Value = Stream> {
    (
        any::<bool>(),
        prop::sample::select(vec![3_000u64, 3_600, 3_750, 1_500]),
        prop::collection::vec(1u64..120, 1..8),
        any::<bool>(),
        prop::collection::vec(-9_000i64..9_000, 1..20),
        prop::sample::select(vec![0.5, 1.0, 2.0]),
    )
        .prop_map(
            |(video, interval, gops, first_keyframe, skew, target_secs)| Stream {
                video,
                interval,
                gops,
                first_keyframe,
                skew,
                target_secs,
            },
        )
}

impl Stream {
    /// The inputs in push order: each track's in decode order, the two
    /// merged by time (audio shifted by a varying skew, in 90 kHz ticks).
    fn inputs(&self) -> Vec<CmafInput> {
        let mut video = Vec::new();
        if self.video {
            let mut n = 0u64;
            for (g, &len) in self.gops.iter().enumerate() {
                for i in 0..len {
                    video.push(CmafInput {
                        track_id: VIDEO,
                        dts: n * self.interval,
                        cts_offset: ((n % 3) * self.interval) as i32,
                        keyframe: i == 0 && (g > 0 || self.first_keyframe),
                        data: Bytes::from(vec![n as u8; 5 + (n % 11) as usize]),
                    });
                    n += 1;
                }
            }
        }
        let secs = if self.video {
            video.len() as f64 * self.interval as f64 / 90_000.0
        } else {
            self.gops.iter().sum::<u64>() as f64 * 0.04
        };
        let audio_frames = (secs * 48_000.0 / 1024.0) as u64;
        let mut all: Vec<(i64, CmafInput)> = video.into_iter().map(|v| (v.dts as i64, v)).collect();
        let mut last_key = i64::MIN;
        for a in 0..audio_frames {
            let at = (a * 1024 * 90_000 / 48_000) as i64;
            // Non-decreasing, so the audio stays in decode order.
            last_key = last_key.max(at + self.skew[(a as usize) % self.skew.len()]);
            all.push((
                last_key,
                CmafInput {
                    track_id: AUDIO,
                    dts: a * 1024,
                    cts_offset: 0,
                    keyframe: true,
                    data: Bytes::from(vec![0xA0 | (a % 16) as u8; 3 + (a % 5) as usize]),
                },
            ));
        }
        // Stable: each track stays in decode order.
        all.sort_by_key(|(at, i)| (*at, i.track_id));
        let out: Vec<CmafInput> = all.into_iter().map(|(_, i)| i).collect();
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_streams_keep_the_invariants_and_read_back(s in stream()) {
        let config = CmafConfig {
            target_secs: s.target_secs,
            part_secs: 0.2,
            window: 10_000,
            retain: 0,
            first_msn: 7,
        };
        let mut p = CmafPackager::new(tracks(s.video), config).unwrap();
        let inputs = s.inputs();
        let mut closed_parts = 0;
        for i in &inputs {
            let pushed = p.push(i.clone()).unwrap();
            closed_parts += usize::from(pushed.part_closed.is_some());
        }
        let pushed = p.finish().unwrap();
        closed_parts += usize::from(pushed.part_closed.is_some());
        let segments: Vec<CmafSegment> = p.segments().cloned().collect();
        let interval = if s.video { s.interval as f64 / 90_000.0 } else { 1024.0 / 48_000.0 };
        let all_parts: usize = segments.iter().map(|seg| seg.parts.len()).sum();
        prop_assert_eq!(all_parts, closed_parts);
        for (n, seg) in segments.iter().enumerate() {
            prop_assert_eq!(seg.msn, 7 + n as u64);
            let joined: Vec<u8> = seg.parts.iter().flat_map(|p| p.data.to_vec()).collect();
            prop_assert_eq!(&joined[..], &seg.data[..]);
            let sum: f64 = seg.parts.iter().map(|p| p.duration_secs).sum();
            prop_assert!((sum - seg.duration_secs).abs() < 1e-6);
            let last = n + 1 == segments.len();
            let forced = seg.duration_secs >= MAX_SEGMENT_TARGETS as f64 * s.target_secs - 1e-9;
            prop_assert!(last || seg.duration_secs >= s.target_secs - 1e-9);
            prop_assert!(seg.duration_secs <= MAX_SEGMENT_TARGETS as f64 * s.target_secs + 1e-9);
            // A segment starts with a keyframe, unless the previous one was
            // cut for length.
            let prev_forced = n > 0 && segments[n - 1].duration_secs
                >= MAX_SEGMENT_TARGETS as f64 * s.target_secs - 1e-9;
            prop_assert!(seg.parts[0].independent || prev_forced, "segment {} {:?}", n, seg.duration_secs);
            let _ = forced;
            for (k, part) in seg.parts.iter().enumerate() {
                prop_assert!(part.duration_secs <= 0.2 + 1e-9, "part {}", part.duration_secs);
                if k + 1 < seg.parts.len() {
                    prop_assert!(part.duration_secs > 0.2 - interval - 1e-9);
                }
            }
        }

        // Sample for sample: video from the first keyframe, audio a suffix
        // holding everything from the first keyframe's time on.
        let fragments = demux(&p.init(), &segments);
        let flags: Vec<bool> = segments.iter().flat_map(|seg| seg.parts.iter().map(|p| p.independent)).collect();
        prop_assert_eq!(fragments.len(), flags.len());
        for (f, independent) in fragments.iter().zip(&flags) {
            let first = f.iter().find(|g| g.track_id == if s.video { VIDEO } else { AUDIO });
            prop_assert_eq!(first.map(|g| g.keyframe), Some(*independent));
        }
        let got: Vec<Got> = fragments.into_iter().flatten().collect();
        let pushed_of = |t: u32| inputs.iter().filter(|i| i.track_id == t).map(Got::from).collect::<Vec<_>>();
        let got_of = |t: u32| got.iter().filter(|g| g.track_id == t).cloned().collect::<Vec<_>>();
        let start_secs = if s.video {
            let v = pushed_of(VIDEO);
            let Some(k) = v.iter().position(|g| g.keyframe) else {
                prop_assert!(got.is_empty());
                return Ok(());
            };
            prop_assert_eq!(&got_of(VIDEO)[..], &v[k..]);
            v[k].dts as f64 / 90_000.0
        } else {
            0.0
        };
        let audio = pushed_of(AUDIO);
        let got_audio = got_of(AUDIO);
        let skipped = audio.len() - got_audio.len();
        prop_assert_eq!(&got_audio[..], &audio[skipped..]);
        prop_assert!(audio[..skipped].iter().all(|a| (a.dts as f64 / 48_000.0) < start_secs));
    }
}

/// Runs a tool; fails saying how to install ffmpeg when it is missing.
fn run(tool: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool} ({e}): apt-get install ffmpeg"));
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// 4 s of 320x240 25 fps H.264 from ffmpeg (a keyframe every second, AUDs
/// marking access units, no B-frames: a raw stream has no timestamps) as
/// the video track and its access units, length-prefixed.
fn ffmpeg_h264() -> (TrackConfig, Vec<(Bytes, bool)>) {
    let annexb = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-bf",
            "0",
            "-g",
            "25",
            "-x264-params",
            "aud=1",
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "h264",
            "-",
        ],
    )
    .stdout;
    let h264 = VideoCodec::H264;
    let (mut sps, mut pps) = (None, None);
    let mut units: Vec<Vec<Bytes>> = Vec::new();
    for nal in codec::nalu::split_annexb(&Bytes::from(annexb)) {
        match h264.parameter_set(&nal) {
            Some(ParameterSet::Sps) => {
                sps.get_or_insert(nal);
            }
            Some(ParameterSet::Pps) => {
                pps.get_or_insert(nal);
            }
            Some(_) => {}
            None if h264.is_aud(&nal) => units.push(Vec::new()),
            None => units.last_mut().expect("an AUD first").push(nal),
        }
    }
    let sps = sps.expect("SPS");
    let parsed = AvcSps::parse(&sps).expect("SPS parses");
    let avcc =
        AvcDecoderConfigurationRecord::from_parameter_sets(vec![sps], vec![pps.expect("PPS")])
            .and_then(|r| r.to_bytes())
            .expect("avcC");
    let samples = units
        .into_iter()
        .filter(|u| !u.is_empty())
        .map(|u| {
            let keyframe = u.iter().any(|n| h264.is_keyframe(n));
            let mut out = bytes::BytesMut::new();
            codec::nalu::write_length_prefixed(u.iter().map(|n| &n[..]), 4, &mut out)
                .expect("length-prefixed");
            (out.freeze(), keyframe)
        })
        .collect();
    let track = TrackConfig {
        id: VIDEO,
        timescale: 90_000,
        codec: CodecConfig::Avc { avcc },
        width: parsed.width,
        height: parsed.height,
        channels: 0,
        sample_rate: 0,
    };
    (track, samples)
}

#[test]
fn ffprobe_reads_packaged_h264() {
    let (track, samples) = ffmpeg_h264();
    assert_eq!(samples.len(), 100);
    let config = CmafConfig {
        target_secs: 1.0,
        part_secs: 0.2,
        window: 10,
        retain: 0,
        first_msn: 0,
    };
    let mut p = CmafPackager::new(vec![track], config).expect("packager");
    for (n, (data, keyframe)) in samples.iter().enumerate() {
        p.push(CmafInput {
            track_id: VIDEO,
            dts: n as u64 * 3_600,
            cts_offset: 0,
            keyframe: *keyframe,
            data: data.clone(),
        })
        .expect("push");
    }
    p.finish().expect("finish");
    let segments: Vec<CmafSegment> = p.segments().cloned().collect();
    assert_eq!(segments.len(), 4);
    assert!(segments.iter().all(|s| s.parts.len() == 5));

    let dir = std::env::temp_dir().join(format!("hls-seg-cmaf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let write = |name: &str, parts: &[&Bytes]| {
        let path = dir.join(name);
        let bytes: Vec<u8> = parts.iter().flat_map(|b| b.to_vec()).collect();
        std::fs::write(&path, bytes).expect("write");
        path.to_str().expect("utf-8 path").to_string()
    };
    let init = p.init();
    let mut whole = vec![&init];
    whole.extend(segments.iter().map(|s| &s.data));
    let all = write("all.mp4", &whole);
    // A segment alone after the init segment, as a player joining there.
    let third = write("third.mp4", &[&init, &segments[2].data]);

    let probe = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "default=nw=1",
            &all,
        ],
    );
    let text = String::from_utf8_lossy(&probe.stdout);
    for line in [
        "codec_name=h264",
        "width=320",
        "height=240",
        "nb_read_frames=100",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in {text}");
    }
    for file in [&all, &third] {
        let decode = run("ffmpeg", &["-v", "error", "-i", file, "-f", "null", "-"]);
        let errors = String::from_utf8_lossy(&decode.stderr);
        assert!(errors.trim().is_empty(), "{file}: {errors}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
