//! Real players' view of the muxer: a tiny H.264 + AAC stream made by
//! ffmpeg, muxed as init + fragments, must read back in ffprobe with the
//! right codecs, picture size, sample rate and frame counts, and decode in
//! ffmpeg without a single error.

mod common;

use bytes::Bytes;
use codec::aac::{adts, AudioSpecificConfig};
use codec::avc::{AvcDecoderConfigurationRecord, AvcSps};
use codec::nal::ParameterSet;
use codec::VideoCodec;
use fmp4::{CodecConfig, Event, Sample, TrackConfig, TrackRun};
use std::collections::HashMap;
use std::process::{Command, Stdio};

const FPS: u32 = 25;
const VIDEO_TIMESCALE: u32 = 90_000;
const AUDIO_RATE: u32 = 44_100;

/// Runs a tool; fails with how to install ffmpeg when it is missing.
fn run(tool: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {tool} ({e}): this test needs ffmpeg; apt-get install ffmpeg")
        });
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Two seconds of a lavfi `source` encoded with `args` (space-separated), to stdout.
fn lavfi(source: &str, args: &str) -> Vec<u8> {
    let mut all = vec!["-v", "error", "-f", "lavfi", "-i", source, "-t", "2"];
    all.extend(args.split(' '));
    all.push("-");
    run("ffmpeg", &all).stdout
}

/// 320x240 H.264 as Annex B with access unit delimiters, no B-frames (a
/// raw stream carries no timestamps), a keyframe every second.
fn h264() -> Vec<u8> {
    lavfi(
        "testsrc=size=320x240:rate=25",
        "-c:v libx264 -bf 0 -g 25 -x264-params aud=1 -bsf:v h264_mp4toannexb -f h264",
    )
}

/// Stereo AAC-LC at 44.1 kHz in ADTS.
fn aac() -> Vec<u8> {
    lavfi(
        "sine=frequency=440:sample_rate=44100",
        "-ac 2 -c:a aac -f adts",
    )
}

/// The video track and its samples (length-prefixed NAL units per access unit).
fn video_track(annexb: Vec<u8>) -> (TrackConfig, Vec<Sample>) {
    let data = Bytes::from(annexb);
    let codec = VideoCodec::H264;
    let (mut sps, mut pps) = (Vec::new(), Vec::new());
    let mut samples = Vec::new();
    let mut au: Vec<Bytes> = Vec::new();
    let flush = |au: &mut Vec<Bytes>, samples: &mut Vec<Sample>| {
        if au.is_empty() {
            return;
        }
        let keyframe = au.iter().any(|n| codec.is_keyframe(n));
        let mut out = Vec::new();
        for nal in au.drain(..) {
            out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            out.extend_from_slice(&nal);
        }
        samples.push(Sample {
            duration: VIDEO_TIMESCALE / FPS,
            cts_offset: 0,
            keyframe,
            data: Bytes::from(out),
        });
    };
    for nal in codec::nalu::split_annexb(&data) {
        if codec.is_aud(&nal) {
            flush(&mut au, &mut samples);
            continue;
        }
        match codec.parameter_set(&nal) {
            Some(ParameterSet::Sps) if sps.is_empty() => sps.push(nal),
            Some(ParameterSet::Pps) if pps.is_empty() => pps.push(nal),
            Some(_) => {}
            None => au.push(nal),
        }
    }
    flush(&mut au, &mut samples);
    let parsed = AvcSps::parse(&sps[0]).expect("SPS parses");
    let avcc = AvcDecoderConfigurationRecord::from_parameter_sets(sps, pps)
        .and_then(|r| r.to_bytes())
        .expect("avcC");
    let track = TrackConfig {
        id: 1,
        timescale: VIDEO_TIMESCALE,
        codec: CodecConfig::Avc { avcc },
        width: parsed.width,
        height: parsed.height,
        channels: 0,
        sample_rate: 0,
    };
    (track, samples)
}

/// The audio track and its raw AAC frames.
fn audio_track(adts_stream: Vec<u8>) -> (TrackConfig, Vec<Sample>) {
    let data = Bytes::from(adts_stream);
    let mut pos = 0;
    let mut config = None;
    let mut samples = Vec::new();
    while let Some((cfg, len)) = AudioSpecificConfig::parse_adts(&data[pos..]).expect("ADTS") {
        let header = adts::header_len(&data[pos..]).expect("ADTS header");
        samples.push(Sample {
            duration: 1024,
            cts_offset: 0,
            keyframe: true,
            data: data.slice(pos + header..pos + len),
        });
        config.get_or_insert(cfg);
        pos += len;
    }
    let cfg = config.expect("AAC frames");
    let track = TrackConfig {
        id: 2,
        timescale: cfg.sample_rate,
        codec: CodecConfig::Aac {
            asc: cfg.to_bytes().expect("ASC"),
        },
        width: 0,
        height: 0,
        channels: u16::from(cfg.channel_configuration),
        sample_rate: cfg.sample_rate,
    };
    (track, samples)
}

/// `ffprobe -show_streams -count_frames` as one key=value map per stream.
fn probe(path: &str) -> Vec<HashMap<String, String>> {
    let out = run(
        "ffprobe",
        &["-v", "error", "-show_streams", "-count_frames", path],
    );
    let mut streams = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line == "[STREAM]" {
            streams.push(HashMap::new());
        } else if let (Some((k, v)), Some(s)) = (line.split_once('='), streams.last_mut()) {
            s.insert(k.to_string(), v.to_string());
        }
    }
    streams
}

#[test]
fn ffprobe_reads_h264_and_aac_fragments() {
    let (video, vsamples) = video_track(h264());
    let (audio, asamples) = audio_track(aac());
    assert_eq!(vsamples.len(), 50);
    assert!(vsamples[0].keyframe && vsamples[25].keyframe && !vsamples[1].keyframe);
    assert_eq!((video.width, video.height), (320, 240));
    assert_eq!(audio.sample_rate, AUDIO_RATE);

    let mut file = fmp4::init_segment(&[video.clone(), audio.clone()])
        .expect("init")
        .to_vec();
    // One fragment per video frame, with the audio frames of that frame's
    // time span as a second run.
    let mut fragments = Vec::new();
    let mut next_audio = 0usize;
    for (i, v) in vsamples.iter().enumerate() {
        let end_secs = (i as u64 + 1) as f64 / f64::from(FPS);
        let first_audio = next_audio;
        while next_audio < asamples.len()
            && (next_audio as f64 * 1024.0 / f64::from(AUDIO_RATE)) < end_secs
        {
            next_audio += 1;
        }
        if i + 1 == vsamples.len() {
            next_audio = asamples.len();
        }
        let mut runs = vec![TrackRun {
            track_id: 1,
            base_decode_time: i as u64 * u64::from(VIDEO_TIMESCALE / FPS),
            samples: vec![v.clone()],
        }];
        if next_audio > first_audio {
            runs.push(TrackRun {
                track_id: 2,
                base_decode_time: first_audio as u64 * 1024,
                samples: asamples[first_audio..next_audio].to_vec(),
            });
        }
        let frag = fmp4::fragment(i as u32 + 1, &runs).expect("fragment");
        file.extend_from_slice(&frag.to_bytes());
        fragments.push(Event::Fragment {
            sequence: i as u32 + 1,
            runs,
        });
    }
    // The demuxer reads back what was written.
    let events = common::demux(&file, 4096).expect("demux");
    assert_eq!(events[0], Event::Init(vec![video.clone(), audio.clone()]));
    assert!(events[1..] == fragments[..], "fragments differ");

    let dir = std::env::temp_dir().join(format!("fmp4-ffprobe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("av.mp4");
    std::fs::write(&path, &file).expect("write file");
    let path = path.to_str().expect("utf-8 path").to_string();

    let streams = probe(&path);
    assert_eq!(streams.len(), 2, "{streams:?}");
    let v = &streams[0];
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(v["codec_tag_string"], "avc1");
    assert_eq!((v["width"].as_str(), v["height"].as_str()), ("320", "240"));
    assert_eq!(v["nb_read_frames"], vsamples.len().to_string());
    let a = &streams[1];
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(a["codec_tag_string"], "mp4a");
    assert_eq!(a["sample_rate"], AUDIO_RATE.to_string());
    assert_eq!(a["channels"], "2");
    assert_eq!(a["nb_read_frames"], asamples.len().to_string());

    let decode = run("ffmpeg", &["-v", "error", "-i", &path, "-f", "null", "-"]);
    let errors = String::from_utf8_lossy(&decode.stderr);
    assert!(errors.trim().is_empty(), "ffmpeg decode errors: {errors}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn demuxer_reads_ffmpegs_fragmented_mp4() {
    // ffmpeg's fragments use trex/tfhd defaults and first-sample flags,
    // where this crate's muxer writes every field.
    let mp4 = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-c:a",
            "aac",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
            "-f",
            "mp4",
            "-",
        ],
    )
    .stdout;
    let events = common::demux(&mp4, 1000).expect("demux ffmpeg's fMP4");
    let Event::Init(tracks) = &events[0] else {
        panic!("no init first: {:?}", events.first());
    };
    assert_eq!(tracks.len(), 2);
    assert!(matches!(tracks[0].codec, CodecConfig::Avc { .. }));
    assert_eq!((tracks[0].width, tracks[0].height), (320, 240));
    assert!(matches!(tracks[1].codec, CodecConfig::Aac { .. }));
    // ffmpeg writes the ISO template channel count (2) into an MP4 audio
    // entry, whatever the AudioSpecificConfig says; the demuxer reports the entry.
    assert_eq!((tracks[1].sample_rate, tracks[1].channels), (AUDIO_RATE, 2));
    let (mut frames, mut keyframes, mut audio) = (0, 0, 0);
    for e in &events[1..] {
        let Event::Fragment { runs, .. } = e else {
            panic!("a second init");
        };
        for run in runs {
            if run.track_id == tracks[0].id {
                frames += run.samples.len();
                keyframes += run.samples.iter().filter(|s| s.keyframe).count();
                // Length-prefixed NAL units filling each sample exactly.
                for s in &run.samples {
                    codec::nalu::split_length_prefixed(&s.data, 4).expect("NAL units");
                }
            } else {
                audio += run.samples.len();
            }
        }
    }
    assert_eq!((frames, keyframes), (50, 2));
    assert!(audio > 80, "{audio} AAC frames");
}
