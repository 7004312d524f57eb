//! The playing side of an RTSP session: DESCRIBE answers the stream's SDP,
//! PLAY starts the frames, which leave as RTP over the transport each track
//! was SETUP with, with RTCP sender reports so players synchronize audio and
//! video.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{BufMut, Bytes, BytesMut};
use rtsp_proto::signal::{
    content_base, describe_sdp, DescribeOptions, Range, Reply, RequestId, RtpInfo, RtpInfoEntry,
    RtspUrl,
};
use stream_core::{EndReason, Frame, StreamKey, Subscriber, SubscriberEvent, Track};

use super::auth::Action;
use super::driver::Conn;
use crate::drive::End;
use crate::hooks::{Access, Decision, Notification};
use crate::media::carriage::{self, Output, Rules};
use crate::media::rtp_egress::{follow_tracks, interleave, rtp_tracks, RtpSender, RtpTrack};
use crate::media::WIRE_RTP;

/// How often each playing track gets an RTCP sender report.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// A described (then playing) stream.
pub(super) struct Playing {
    pub subscriber: Subscriber,
    /// The tracks as described, indexed by `trackID`.
    pub tracks: Vec<RtpTrack>,
    /// One sender per SETUP, created at PLAY.
    senders: Vec<RtpSender>,
    /// Stream time ↔ wall clock, shared by the tracks' sender reports.
    anchor: Option<(i64, SystemTime)>,
    /// Tracks that already had their first sender report.
    reported: Vec<bool>,
    pub paused: bool,
    cname: Bytes,
    /// A frame read while DESCRIBE waited for the tracks, sent first at PLAY.
    first_frame: Option<Arc<Frame>>,
}

impl Conn {
    pub(super) async fn describe(
        &mut self,
        request_id: RequestId,
        url: RtspUrl,
    ) -> Result<(), End> {
        let key = match StreamKey::parse(url.app.clone(), url.stream.clone()) {
            Ok(key) => key,
            Err(e) => {
                tracing::warn!(reason = %e, "rtsp DESCRIBE refused: bad stream name");
                self.rtsp.respond(request_id, Reply::status(400))?;
                return Ok(());
            }
        };
        if self.recording.is_some() || self.started {
            self.rtsp.respond(request_id, Reply::status(455))?;
            return Ok(());
        }
        let request = self.rtsp.request(request_id);
        if let Err(challenge) = self.auth.check(
            &self.shared.config.rtsp.auth,
            request,
            &key.app,
            Action::Play,
        ) {
            self.rtsp.respond(request_id, challenge.into())?;
            return Ok(());
        }
        let uri = request.map(|r| r.uri.clone()).unwrap_or_default();
        let access = Access::new(&key, url.query.as_deref(), &self.info);
        if let Decision::Deny(why) = self.shared.hooks.on_play(&access).await {
            tracing::warn!(stream = %key, reason = %why, "rtsp play denied");
            self.rtsp.respond(request_id, Reply::status(403))?;
            return Ok(());
        }
        if self.shared.hub.stream(&key).is_none() {
            self.shared.hooks.notify(Notification::not_found(&access));
        }
        self.info.set_stream(key.clone(), url.query.clone());
        let found = match crate::waiting::subscribe(&self.shared, &key, self.info.peer_info()).await
        {
            Ok(mut sub) => {
                let wait = Duration::from_millis(self.shared.config.stream.max_stream_wait_ms);
                first_tracks(&mut sub, wait)
                    .await
                    .map(|(t, first)| (sub, t, first))
            }
            Err(e @ crate::waiting::WaitError::Refused(_)) => {
                tracing::info!(stream = %key, reason = %e, "rtsp describe refused");
                self.rtsp.respond(request_id, Reply::status(503))?;
                return Ok(());
            }
            Err(e) => {
                tracing::info!(stream = %key, reason = %e, "rtsp describe: no stream");
                None
            }
        };
        let Some((subscriber, tracks, first_frame)) = found else {
            // A stream with nothing RTP carries is 415, not 404.
            if let Some(why) = self.none_carried(&key) {
                tracing::warn!(stream = %key, reason = %why, "rtsp describe refused");
                self.rtsp.respond(request_id, Reply::status(415))?;
                return Ok(());
            }
            self.rtsp.respond(request_id, Reply::status(404))?;
            return Ok(());
        };
        let infos: Vec<_> = tracks.iter().map(|t| t.info.clone()).collect();
        let sdp = describe_sdp(
            &infos,
            &DescribeOptions {
                session_name: key.to_string(),
                ..DescribeOptions::default()
            },
        );
        tracing::info!(stream = %key, tracks = tracks.len(), "rtsp described");
        self.playing = Some(Playing {
            subscriber,
            senders: Vec::new(),
            reported: Vec::new(),
            tracks,
            anchor: None,
            paused: false,
            cname: Bytes::from(format!("strom-{}", self.info.id)),
            first_frame,
        });
        self.rtsp
            .respond(request_id, Reply::describe(content_base(&uri), &sdp))?;
        Ok(())
    }

    /// Why `key` has nothing RTP can carry, when its announced tracks are
    /// all left out.
    fn none_carried(&self, key: &StreamKey) -> Option<String> {
        let all = self.shared.hub.stream(key)?.tracks;
        let dropped = Rules::of(&self.shared.config).dropped(Output::Rtsp, &all);
        carriage::none_carried(&all, &dropped).then(|| carriage::refusal("rtsp", &dropped))
    }

    pub(super) fn play(&mut self, request_id: RequestId) -> Result<(), End> {
        let Some(p) = self.playing.as_mut() else {
            self.rtsp.respond(request_id, Reply::status(455))?;
            return Ok(());
        };
        if self.started {
            // PLAY after PAUSE: resume.
            p.paused = false;
            self.rtsp
                .respond(request_id, Reply::play(Some(Range::live()), None))?;
            return Ok(());
        }
        let seed = self.info.id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ random_seed();
        p.senders = self
            .setups
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let track = p.tracks.get(s.index)?;
                Some(RtpSender::new(track, seed.rotate_left(i as u32 * 13)))
            })
            .collect();
        p.reported = vec![false; p.senders.len()];
        let urls = self.rtsp.tracks().iter().map(|t| t.url.clone());
        let info = RtpInfo(
            urls.zip(&p.senders)
                .map(|(url, s)| RtpInfoEntry {
                    url,
                    seq: Some(s.sequence),
                    rtptime: None,
                })
                .collect(),
        );
        self.rtsp
            .respond(request_id, Reply::play(Some(Range::live()), Some(info)))?;
        self.started = true;
        self.schedule_reports();
        tracing::info!("rtsp playing");
        if let Some(frame) = self.playing.as_mut().and_then(|p| p.first_frame.take()) {
            // The PLAY answer must leave before the first RTP packet.
            while let Some(bytes) = self.rtsp.poll_transmit() {
                self.out.push(bytes);
            }
            self.send_frame(&frame);
        }
        Ok(())
    }

    /// Handles a subscriber event and whatever else is already queued.
    pub(super) fn play_events(
        &mut self,
        first: Result<SubscriberEvent, EndReason>,
    ) -> Result<(), End> {
        let mut next = Some(first);
        let mut budget = 64;
        while let Some(event) = next.take() {
            match event {
                Ok(SubscriberEvent::Frame(frame)) => self.send_frame(&frame),
                Ok(SubscriberEvent::Tracks(tracks)) => self.tracks_changed(&tracks)?,
                Err(reason) => return Err(End::PlayEnded(reason)),
            }
            budget -= 1;
            if budget > 0 {
                next = self.playing.as_mut().and_then(|p| p.subscriber.try_recv());
            }
        }
        Ok(())
    }

    /// The stream's tracks changed (a publisher resumed or took over, or
    /// announced a track late). RTSP cannot renegotiate a playing session,
    /// so the described tracks go on: each keeps playing while a track with
    /// its id and codec exists (its parameter sets are updated), tracks that
    /// appear are not sent, one that disappears just sends nothing. Only a
    /// described track whose codec changed ends the player, which may
    /// DESCRIBE again.
    fn tracks_changed(&mut self, tracks: &[Track]) -> Result<(), End> {
        let Some(p) = self.playing.as_mut() else {
            return Ok(());
        };
        follow_tracks(&mut p.tracks, tracks).map_err(End::CodecChanged)
    }

    fn send_frame(&mut self, frame: &Arc<Frame>) {
        let Some(p) = self.playing.as_mut() else {
            return;
        };
        if p.paused {
            return;
        }
        let mtu = self.shared.config.rtsp.mtu;
        for (i, setup) in self.setups.iter().enumerate() {
            let (Some(track), Some(sender)) = (p.tracks.get(setup.index), p.senders.get_mut(i))
            else {
                continue;
            };
            if track.id != frame.track {
                continue;
            }
            // Packetized once per stream; each player only writes headers.
            let packed = frame
                .wire
                .get_or_init(WIRE_RTP, || track.payloads(frame, mtu));
            let anchor = *p.anchor.get_or_insert((frame.pts_us, SystemTime::now()));
            if let Some(reported @ false) = p.reported.get_mut(i) {
                *reported = true;
                // A report before the track's first packet: players map its
                // timestamps from the start instead of re-basing them later.
                if let Some(report) = sender.sender_report_at(frame.pts_us, anchor, &p.cname) {
                    send_rtcp(&mut self.out, setup, report);
                }
            }
            if let Some((ch, _)) = setup.channels {
                interleave(&mut self.out, ch, sender, frame.pts_us, &packed);
                // Media written over TCP keeps the session, as a request would:
                // a player that does not read is closed by the write stall,
                // and one that reads needs no keep-alive requests (many
                // simple clients send none). A paused player, or one of a
                // stream without media, gets nothing and expires.
                self.rtsp.note_activity(crate::drive::now());
            } else if let Some((pair, rtp_addr, _)) = &setup.udp {
                let mut datagram = BytesMut::with_capacity(mtu + 16);
                for (marker, parts, len) in packed.units() {
                    // A datagram is one buffer: UDP players get their
                    // packets assembled (copied) here, per player.
                    datagram.clear();
                    sender.header(frame.pts_us, marker, len, &mut datagram);
                    for part in parts {
                        datagram.put_slice(part);
                    }
                    // Full socket buffer: UDP loses the packet, as it would on the wire.
                    if pair.rtp.try_send_to(&datagram, *rtp_addr).is_ok() {
                        self.info
                            .bytes_out
                            .fetch_add(datagram.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// Periodic RTCP sender reports for every playing track.
    pub(super) fn send_reports(&mut self) {
        let Some(p) = self.playing.as_ref() else {
            return;
        };
        for (setup, sender) in self.setups.iter().zip(&p.senders) {
            if let Some(report) = sender_report_of(sender, p.anchor, &p.cname) {
                send_rtcp(&mut self.out, setup, report);
            }
        }
    }
}

fn sender_report_of(
    sender: &RtpSender,
    anchor: Option<(i64, SystemTime)>,
    cname: &Bytes,
) -> Option<Bytes> {
    sender.sender_report(anchor?, cname)
}

pub(super) fn send_rtcp(
    out: &mut crate::io::Outbox,
    setup: &super::driver::SetupTrack,
    report: Bytes,
) {
    if let Some((_, ch)) = setup.channels {
        let mut head = BytesMut::with_capacity(4);
        head.put_u8(b'$');
        head.put_u8(ch);
        head.put_u16(report.len() as u16);
        out.push(head.freeze());
        out.push(report);
    } else if let Some((pair, _, rtcp_addr)) = &setup.udp {
        let _ = pair.rtcp.try_send_to(&report, *rtcp_addr);
    }
}

/// How long DESCRIBE waits for more tracks after the first announcement
/// when no frame has come yet (a stream that just started announces video
/// and audio one after the other).
const TRACKS_SETTLE: Duration = Duration::from_millis(500);

/// Waits for the stream's announced tracks that RTP can carry: the first
/// announcement, then later ones until the first frame arrives (returned, so
/// PLAY starts with it) or [`TRACKS_SETTLE`] passes.
pub(crate) async fn first_tracks(
    sub: &mut Subscriber,
    wait: Duration,
) -> Option<(Vec<RtpTrack>, Option<Arc<Frame>>)> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut found: Option<Vec<RtpTrack>> = None;
    let mut settle = deadline;
    loop {
        let limit = settle.min(deadline);
        match tokio::time::timeout_at(limit, sub.recv()).await {
            Ok(Ok(SubscriberEvent::Tracks(t))) => {
                let tracks = rtp_tracks(&t);
                if !tracks.is_empty() {
                    if found.is_none() {
                        settle = tokio::time::Instant::now() + TRACKS_SETTLE;
                    }
                    found = Some(tracks);
                }
            }
            Ok(Ok(SubscriberEvent::Frame(f))) => {
                if let Some(tracks) = found {
                    return Some((tracks, Some(f)));
                }
            }
            Ok(Err(_)) => return None,
            Err(_) => return found.map(|t| (t, None)),
        }
    }
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish()
}
