use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::playlist::{render, PlaylistState};
use crate::segment::Segment;

fn media(text: &str) -> MediaPlaylist {
    match parse(text.as_bytes(), &Limits::default()) {
        Ok(Playlist::Media(m)) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn reads_a_live_media_playlist() {
    let m = media(
        "#EXTM3U\r\n#EXT-X-VERSION:3\r\n#EXT-X-TARGETDURATION:4\r\n#EXT-X-MEDIA-SEQUENCE:41\r\n\
         #EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00Z\r\n# a comment\r\n\
         #EXTINF:3.9995,title\r\nseg41.ts\r\n\
         #EXT-X-DISCONTINUITY\r\n#EXTINF:4,\r\nhttp://cdn/x/seg42.ts?t=1\r\n\r\n\
         #EXTINF:2.5,\r\n/abs/seg43.ts\r\n",
    );
    assert_eq!(m.version, Some(3));
    assert_eq!((m.target_duration, m.media_sequence), (4, 41));
    assert!(!m.ended);
    let got: Vec<_> = m
        .segments
        .iter()
        .map(|s| (s.sequence, s.duration_ms, s.discontinuity, s.uri.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (41, 4000, false, "seg41.ts"),
            (42, 4000, true, "http://cdn/x/seg42.ts?t=1"),
            (43, 2500, false, "/abs/seg43.ts"),
        ]
    );
    assert_eq!(m.end_sequence(), 44);
}

#[test]
fn reads_a_master_playlist_and_picks_the_highest_bandwidth() {
    let text = "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\"\nlow/index.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720\nhigh/index.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=2500000\nhigh-copy/index.m3u8\n";
    let Ok(Playlist::Master(m)) = parse(text.as_bytes(), &Limits::default()) else {
        panic!()
    };
    assert_eq!(m.variants.len(), 3);
    assert_eq!(m.variants[0].resolution, Some((640, 360)));
    assert_eq!(
        m.variants[0].codecs.as_deref(),
        Some("avc1.4d401e,mp4a.40.2")
    );
    let best = m.pick().unwrap();
    assert_eq!(
        (best.bandwidth, best.uri.as_str()),
        (2_500_000, "high/index.m3u8")
    );
}

#[test]
fn ended_playlists_and_defaults() {
    let m = media("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\na.ts\n#EXT-X-ENDLIST\n");
    assert!(m.ended);
    assert_eq!((m.media_sequence, m.version), (0, None));
}

#[test]
fn refuses_what_it_cannot_read() {
    let l = Limits::default();
    let cases: &[(&str, PlaylistError)] = &[
        ("", PlaylistError::NoHeader),
        ("<html>", PlaylistError::NoHeader),
        (
            "#EXTM3U\n#EXTINF:1,\na.ts\n",
            PlaylistError::NoTargetDuration,
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\na.ts\n",
            PlaylistError::Invalid {
                line: 3,
                what: "URI without EXTINF or EXT-X-STREAM-INF",
            },
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:x\n",
            PlaylistError::Invalid {
                line: 2,
                what: "EXT-X-TARGETDURATION",
            },
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:-1,\na.ts\n",
            PlaylistError::Invalid {
                line: 3,
                what: "EXTINF",
            },
        ),
        (
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n#EXTINF:1,\nb.ts\n",
            PlaylistError::Mixed,
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n",
            PlaylistError::Unsupported {
                line: 3,
                what: "encryption (EXT-X-KEY)",
            },
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init.mp4\"\n",
            PlaylistError::Unsupported {
                line: 3,
                what: "fragmented MP4 (EXT-X-MAP)",
            },
        ),
        (
            "#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\na.m3u8\n",
            PlaylistError::Invalid {
                line: 2,
                what: "EXT-X-STREAM-INF",
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text.as_bytes(), &l).as_ref(), Err(want), "{text:?}");
    }
    assert_eq!(parse(b"#EXTM3U\n\xff\n", &l), Err(PlaylistError::NotUtf8));
    // An unencrypted key tag is fine.
    media("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-KEY:METHOD=NONE\n");
}

#[test]
fn limits_are_checked_before_use() {
    let tight = Limits {
        max_bytes: 200,
        max_lines: 10,
        max_segments: 2,
        max_variants: 1,
        max_line: 32,
    };
    let big = format!("#EXTM3U\n#{}\n", "x".repeat(300));
    assert!(matches!(
        parse(big.as_bytes(), &tight),
        Err(PlaylistError::TooLarge { what: "bytes", .. })
    ));
    let long = format!("#EXTM3U\n#{}\n", "x".repeat(40));
    assert!(matches!(
        parse(long.as_bytes(), &tight),
        Err(PlaylistError::TooLarge {
            what: "line bytes",
            ..
        })
    ));
    let many = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\na\n#EXTINF:1,\nb\n#EXTINF:1,\nc\n";
    assert!(matches!(
        parse(many.as_bytes(), &tight),
        Err(PlaylistError::TooLarge {
            what: "segments",
            ..
        })
    ));
    let lines = "#EXTM3U\n\n\n\n\n\n\n\n\n\n\n\n";
    assert!(matches!(
        parse(lines.as_bytes(), &tight),
        Err(PlaylistError::TooLarge { what: "lines", .. })
    ));
    let variants = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na\n#EXT-X-STREAM-INF:BANDWIDTH=2\nb\n";
    assert!(matches!(
        parse(variants.as_bytes(), &tight),
        Err(PlaylistError::TooLarge {
            what: "variants",
            ..
        })
    ));
}

#[test]
fn resolves_relative_and_absolute_uris() {
    let base = "http://origin:8080/live/cam/hls.m3u8?token=t";
    assert_eq!(resolve(base, "7.ts"), "http://origin:8080/live/cam/7.ts");
    assert_eq!(
        resolve(base, "sub/7.ts?x=1"),
        "http://origin:8080/live/cam/sub/7.ts?x=1"
    );
    assert_eq!(
        resolve(base, "/other/7.ts"),
        "http://origin:8080/other/7.ts"
    );
    assert_eq!(resolve(base, "//cdn:81/a.ts"), "http://cdn:81/a.ts");
    assert_eq!(resolve(base, "http://cdn/a.ts"), "http://cdn/a.ts");
    assert_eq!(resolve("http://h/x.m3u8", "a.ts"), "http://h/a.ts");
    assert_eq!(resolve("http://h", "a.ts"), "http://h/a.ts");
    // A colon in a relative path is not a scheme.
    assert_eq!(
        resolve("http://h/d/x.m3u8", "a/b://c"),
        "http://h/d/a/b://c"
    );
}

fn playlist(first: u64, n: u64, ended: bool) -> MediaPlaylist {
    MediaPlaylist {
        version: Some(3),
        target_duration: 2,
        media_sequence: first,
        discontinuity_sequence: 0,
        segments: (first..first + n)
            .map(|sequence| MediaSegment {
                sequence,
                duration_ms: 2000,
                discontinuity: false,
                uri: format!("{sequence}.ts"),
            })
            .collect(),
        ended,
    }
}

fn drain(f: &mut Follower) -> Vec<(u64, bool)> {
    std::iter::from_fn(|| f.next_segment())
        .map(|s| (s.sequence, s.discontinuity))
        .collect()
}

#[test]
fn follower_starts_near_the_live_edge_and_takes_only_new_segments() {
    let t0 = Instant::now();
    let mut f = Follower::new(FollowConfig::default());
    assert_eq!(f.reload_at(), None);
    let u = f.update(&playlist(10, 6, false), t0);
    assert_eq!((u.new, u.changed), (3, true));
    assert_eq!(drain(&mut f), [(13, false), (14, false), (15, false)]);
    // Changed: reload a target duration after the load began.
    assert_eq!(f.reload_at(), Some(t0 + Duration::from_secs(2)));
    let t1 = t0 + Duration::from_secs(2);
    let u = f.update(&playlist(10, 6, false), t1);
    assert_eq!((u.new, u.changed), (0, false));
    // Unchanged: half a target duration.
    assert_eq!(f.reload_at(), Some(t1 + Duration::from_secs(1)));
    let u = f.update(&playlist(12, 6, false), t1);
    assert_eq!(u.new, 2);
    assert_eq!(drain(&mut f), [(16, false), (17, false)]);
    // A stale copy (one behind) is ignored.
    assert_eq!(f.update(&playlist(11, 6, false), t1).new, 0);
    assert!(drain(&mut f).is_empty());
}

#[test]
fn follower_handles_skips_resets_and_the_end() {
    let t = Instant::now();
    let mut f = Follower::new(FollowConfig::default());
    f.update(&playlist(0, 3, false), t);
    assert_eq!(drain(&mut f).len(), 3);
    // Fell behind: segments 3..=9 left before being fetched.
    let u = f.update(&playlist(10, 3, false), t);
    assert_eq!((u.skipped, u.new), (7, 3));
    assert_eq!(drain(&mut f), [(10, true), (11, false), (12, false)]);
    // The upstream restarted its numbering.
    let u = f.update(&playlist(0, 5, false), t);
    assert!(u.reset);
    assert_eq!(drain(&mut f), [(2, true), (3, false), (4, false)]);
    // A tagged discontinuity passes through.
    let mut p = playlist(3, 3, false);
    p.segments[2].discontinuity = true;
    p.segments.push(MediaSegment {
        sequence: 6,
        duration_ms: 1000,
        discontinuity: false,
        uri: "6.ts".into(),
    });
    f.update(&p, t);
    assert_eq!(drain(&mut f), [(5, true), (6, false)]);
    // Ended: no reload, finished once drained.
    let mut p = playlist(3, 5, true);
    p.segments[4].uri = "end.ts".into();
    f.update(&p, t);
    assert_eq!(f.reload_at(), None);
    assert!(!f.finished());
    assert_eq!(drain(&mut f), [(7, false)]);
    assert!(f.finished());
}

#[test]
fn follower_plays_an_ended_playlist_from_its_start_and_never_reloads_in_a_tight_loop() {
    let t = Instant::now();
    let mut f = Follower::new(FollowConfig::default());
    f.update(&playlist(5, 4, true), t);
    assert_eq!(f.queued(), 4);
    let mut g = Follower::new(FollowConfig::default());
    let mut p = playlist(0, 0, false);
    p.target_duration = 0;
    g.update(&p, t);
    assert_eq!(g.reload_at(), Some(t + Duration::from_millis(500)));
}

fn segment(sequence: u64, ms: u64, discontinuity: bool) -> Segment {
    Segment {
        sequence,
        duration_secs: ms as f64 / 1000.0,
        discontinuity,
        data: Bytes::new(),
    }
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_input(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse(&data, &Limits::default());
    }

    #[test]
    fn never_panics_on_playlist_like_text(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("#EXTINF:".to_string()),
                Just("#EXT-X-TARGETDURATION:".to_string()),
                Just("#EXT-X-MEDIA-SEQUENCE:".to_string()),
                Just("#EXT-X-STREAM-INF:".to_string()),
                Just("#EXT-X-DISCONTINUITY".to_string()),
                Just("#EXT-X-ENDLIST".to_string()),
                "[ -~]{0,24}",
            ],
            0..40,
        ),
        base in "[ -~]{0,24}",
    ) {
        let text = format!("#EXTM3U\n{}", lines.join("\n"));
        let limits = Limits { max_segments: 8, ..Limits::default() };
        if let Ok(p) = parse(text.as_bytes(), &limits) {
            match p {
                Playlist::Media(m) => {
                    prop_assert!(m.segments.len() <= 8);
                    let mut f = Follower::new(FollowConfig::default());
                    f.update(&m, Instant::now());
                    while let Some(s) = f.next_segment() {
                        let _ = resolve(&base, &s.uri);
                    }
                }
                Playlist::Master(m) => {
                    let _ = m.pick().map(|v| resolve(&base, &v.uri));
                }
            }
        }
    }

    /// What strom renders, strom reads back.
    #[test]
    fn round_trips_the_playlists_strom_renders(
        first in 0u64..1 << 40,
        segs in proptest::collection::vec((0u64..30_000, any::<bool>()), 0..20),
        discontinuity_sequence in 0u64..1000,
        ended in any::<bool>(),
    ) {
        let segments: Vec<Segment> = segs
            .iter()
            .enumerate()
            .map(|(i, &(ms, d))| segment(first + i as u64, ms, d))
            .collect();
        let state = PlaylistState {
            target_duration: crate::playlist::target_duration(&segments),
            media_sequence: first,
            discontinuity_sequence,
            ended,
        };
        let text = render(&segments, &state);
        let m = match parse(text.as_bytes(), &Limits::default()) {
            Ok(Playlist::Media(m)) => m,
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        };
        prop_assert_eq!(m.target_duration, state.target_duration);
        prop_assert_eq!(m.media_sequence, first);
        prop_assert_eq!(m.discontinuity_sequence, discontinuity_sequence);
        prop_assert_eq!(m.ended, ended);
        prop_assert_eq!(m.segments.len(), segments.len());
        for (got, want) in m.segments.iter().zip(&segments) {
            prop_assert_eq!(got.sequence, want.sequence);
            prop_assert_eq!(got.duration_ms, crate::playlist::extinf_millis(want.duration_secs));
            prop_assert_eq!(got.discontinuity, want.discontinuity);
            prop_assert_eq!(&got.uri, &format!("{}.ts", want.sequence));
        }
    }
}
