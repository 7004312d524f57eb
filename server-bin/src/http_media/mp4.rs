//! HTTP-fMP4: `GET /app/stream.live.mp4` answers an endless fragmented MP4
//! file — the init segment, then one `moof`+`mdat` per frame from the GOP
//! cache's keyframe on — for MSE players and ffmpeg.
//!
//! Each frame's fragment is built once per stream in its wire cache
//! ([`crate::media::WIRE_MP4`]): the boxes' headers beside the frame's
//! payload, shared by every viewer. Per viewer there is only the init
//! segment and the connection's framing.

use std::collections::HashMap;
use std::sync::Arc;

use stream_core::{Frame, Track, TrackId};

use super::framing::Framing;
use super::live::{Ended, LiveFormat, Refusal};
use crate::io::Outbox;
use crate::media::carriage::{self, Output, Rules};
use crate::media::fmp4_egress::{self, default_duration};
use crate::media::WIRE_MP4;

/// One viewer's fMP4 state: the tracks it was given and each track's last
/// decode time (a frame lasts until the next of its track; the newest
/// frame's length is taken from the gap before it).
#[derive(Default)]
pub(super) struct Mp4 {
    tracks: HashMap<TrackId, Carried>,
}

struct Carried {
    config: fmp4::TrackConfig,
    last_dts_us: Option<i64>,
    duration: u32,
}

impl Mp4 {
    fn carry(&mut self, tracks: &[Track]) -> Option<bytes::Bytes> {
        let (init, configs) = fmp4_egress::init(tracks)?;
        self.tracks = configs
            .into_iter()
            .map(|(id, config)| {
                let duration = default_duration(&config);
                let carried = Carried {
                    config,
                    last_dts_us: None,
                    duration,
                };
                (id, carried)
            })
            .collect();
        Some(init)
    }
}

/// Why no track of `tracks` can be carried, for the 415 answer.
fn none_carried(tracks: &[Track]) -> String {
    carriage::refusal("fMP4", &Rules::default().dropped(Output::Fmp4, tracks))
}

impl LiveFormat for Mp4 {
    const NAME: &'static str = "http-mp4";
    const CONTENT_TYPE: &'static str = "video/mp4";

    fn begin(
        &mut self,
        tracks: &Arc<[Track]>,
        framing: &Framing,
        out: &mut Outbox,
    ) -> Result<(), Refusal> {
        let init = self.carry(tracks).ok_or_else(|| Refusal {
            status: 415,
            message: none_carried(tracks),
        })?;
        let dropped = Rules::default().dropped(Output::Fmp4, tracks);
        carriage::warn_viewer(Self::NAME, None, &dropped);
        framing.push_shared(out, init);
        Ok(())
    }

    fn tracks(
        &mut self,
        tracks: &Arc<[Track]>,
        framing: &Framing,
        out: &mut Outbox,
    ) -> Result<(), Ended> {
        let before: Vec<_> = {
            let mut v: Vec<_> = self.tracks.values().map(|c| c.config.clone()).collect();
            v.sort_by_key(|c| c.id);
            v
        };
        let Some(init) = self.carry(tracks) else {
            return Err(("codec-changed", none_carried(tracks)));
        };
        let mut after: Vec<_> = self.tracks.values().map(|c| c.config.clone()).collect();
        after.sort_by_key(|c| c.id);
        // A new init segment mid-stream is legal fMP4 (MSE takes it through
        // its append, ffmpeg re-reads the sample entries), so parameter
        // changes continue; identical tracks send nothing.
        if before != after {
            framing.push_shared(out, init);
        }
        Ok(())
    }

    fn frame(&mut self, frame: &Frame, framing: &Framing, out: &mut Outbox) {
        let Some(carried) = self.tracks.get_mut(&frame.track) else {
            return;
        };
        if let Some(last) = carried.last_dts_us {
            let gap =
                fmp4_egress::ticks(frame.dts_us.saturating_sub(last), carried.config.timescale);
            // A gap of nothing or of more than 10 s is a jump, not a frame length.
            if gap > 0 && gap < 10 * u64::from(carried.config.timescale) {
                carried.duration = gap as u32;
            }
        }
        carried.last_dts_us = Some(frame.dts_us);
        let (config, duration) = (&carried.config, carried.duration);
        let form = frame.wire.get_or_init(WIRE_MP4, || {
            fmp4_egress::frame_fragment(config, frame, duration).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot build an fMP4 fragment");
                stream_core::WireParts::new()
            })
        });
        framing.push_parts(out, &form);
    }
}
