//! HTTP-FLV: `GET /app/stream.live.flv` answers an endless FLV file — header,
//! `onMetaData`, sequence headers, the cached GOP, then live tags — in HTTP/1.1
//! chunked encoding (close-delimited for HTTP/1.0 clients), or, after a
//! WebSocket upgrade on the same path (WS-FLV), one binary message per tag.
//!
//! Every tag of a frame is built once per stream, as parts (its header and
//! trailer beside the frame's payload, never a copy of it), in the frame's
//! wire cache; players share those parts and add their own HTTP/1.1 chunk
//! framing (or WebSocket frame headers) beside them. Only the per-player start (header, metadata,
//! sequence headers) is built per player.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use flv_mux::{FlvHeader, TagType};
use stream_core::{Frame, Track};
use tokio::net::TcpStream;

use super::framing::Framing;
use super::live::{Ended, LiveFormat, Refusal};
use super::request::MediaRequest;
use crate::io::Outbox;
use crate::media::{flv_egress, to_rtmp_ms, WIRE_FLV};
use crate::server::Shared;
use crate::session::SessionGuard;

/// Serves one HTTP-FLV connection to its end.
pub async fn run(mut stream: TcpStream, shared: Arc<Shared>, mut guard: SessionGuard) {
    let admitted = super::live::admit_and_subscribe(&mut stream, &shared, &mut guard, Flv::NAME);
    let Some((req, sub)) = admitted.await else {
        return;
    };
    tracing::info!(stream = %req.key, websocket = req.websocket.is_some(), "http-flv playing");
    let (reason, end) = stream_flv(stream, &shared, &guard, &req, sub).await;
    guard.set_end_reason(reason);
    tracing::info!(
        bytes_out = guard.info().bytes_out.load(Ordering::Relaxed),
        "http-flv session ended: {end}"
    );
}

async fn stream_flv(
    stream: TcpStream,
    shared: &Shared,
    guard: &SessionGuard,
    req: &MediaRequest,
    sub: stream_core::Subscriber,
) -> (&'static str, String) {
    let (mut rd, mut wr) = stream.into_split();
    let end = serve_flv(&mut rd, &mut wr, shared, guard, req, sub).await;
    // Ends the server chose (stream over, kicked, lagged): let the player
    // read the final chunk before the socket goes.
    if !matches!(end.0, "peer-closed" | "write-stall" | "write-error") {
        crate::io::linger_close(&mut rd, &mut wr, crate::io::LINGER).await;
    }
    end
}

async fn serve_flv(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    shared: &Shared,
    guard: &SessionGuard,
    req: &MediaRequest,
    sub: stream_core::Subscriber,
) -> (&'static str, String) {
    let stall = Duration::from_millis(shared.config.server.write_stall_ms);
    let mut out = Outbox::default();
    let framing = Framing::of(req);
    // The head goes at once (a player waiting for a stream not yet
    // published has its answer); the tracks come through the loop.
    out.push(framing.response_head(Flv::CONTENT_TYPE));
    if req.head_only {
        let _ = out.flush(wr, stall).await;
        return ("head", "HEAD answered".into());
    }
    let mut header = BytesMut::new();
    FlvHeader {
        version: 1,
        has_audio: true,
        has_video: true,
        data_offset: flv_mux::HEADER_LEN as u32,
    }
    .encode(&mut header);
    header.put_u32(0); // PreviousTagSize0
    framing.push_shared(&mut out, header.freeze());
    let flv = Flv {
        tracks: Arc::from(Vec::new()),
        last_ts: 0,
    };
    super::live::serve(rd, wr, shared, guard, &framing, sub, out, flv).await
}

/// One viewer's FLV state: the tracks it was given, and the last tag's
/// timestamp (metadata and sequence headers sent again carry it).
struct Flv {
    tracks: Arc<[Track]>,
    last_ts: u32,
}

impl LiveFormat for Flv {
    const NAME: &'static str = "http-flv";
    const CONTENT_TYPE: &'static str = "video/x-flv";

    fn begin(
        &mut self,
        tracks: &Arc<[Track]>,
        framing: &Framing,
        out: &mut Outbox,
    ) -> Result<(), Refusal> {
        // FLV carries every codec strom knows: nothing is refused.
        self.tracks(tracks, framing, out)
            .map_err(|(_, message)| Refusal {
                status: 415,
                message,
            })
    }

    fn tracks(
        &mut self,
        tracks: &Arc<[Track]>,
        framing: &Framing,
        out: &mut Outbox,
    ) -> Result<(), Ended> {
        if let Some(change) = crate::media::codec_change(&self.tracks, tracks) {
            let end = crate::drive::End::CodecChanged(change);
            return Err(("codec-changed", end.to_string()));
        }
        let meta = flv_egress::metadata(tracks);
        let meta = flv_egress::tag(TagType::Script, self.last_ts, &[], &meta);
        framing.push_parts(out, &meta);
        for track in tracks.iter() {
            if let Some(body) = flv_egress::sequence_header(track) {
                let seq = flv_egress::tag(body.kind, self.last_ts, &body.header, &body.payload);
                framing.push_parts(out, &seq);
            }
        }
        self.tracks = tracks.clone();
        Ok(())
    }

    fn frame(&mut self, frame: &Frame, framing: &Framing, out: &mut Outbox) {
        let Some(track) = self.tracks.iter().find(|t| t.id == frame.track) else {
            return;
        };
        let ts = to_rtmp_ms(frame.dts_us);
        self.last_ts = ts;
        // Built once per stream by the first player that needs it; HTTP/1.1
        // players add their chunk framing beside it.
        let form = frame
            .wire
            .get_or_init(WIRE_FLV, || flv_egress::frame_tag(track, frame, ts));
        framing.push_parts(out, &form);
    }
}
