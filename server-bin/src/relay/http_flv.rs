//! A stream pulled over HTTP-FLV (another server's `…flv` endpoint): one
//! GET with hyper's low-level client on the dialed connection, the chunked
//! or close-delimited body read through flv-mux's FLV reader, its audio and
//! video tags published like an RTMP publisher's (`rtmp::push_flv`).
//!
//! Deadlines: the response head within `relay.connect_secs`; then no audio
//! or video for `relay.no_media_secs` ends the pull (data that is not media,
//! such as metadata, does not keep it alive). Tags are bounded by the
//! reader's limit (8 MiB).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flv_mux::{FlvEvent, FlvReader, TagType};
use http_body_util::{BodyExt, Empty};
use hyper::header::{HOST, USER_AGENT};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rtmp_proto::session::MediaKind;
use stream_core::Publisher;
use tokio::time::Instant;

use super::dial::{Reader, Writer};
use super::Proxy;
use crate::drive::End;
use crate::media::flv_ingest::FlvIngest;
use crate::server::Shared;
use crate::session::SessionInfo;

/// Pulls `proxy`'s HTTP-FLV upstream on the dialed connection until it ends.
pub(crate) async fn pull(
    shared: &Shared,
    info: &Arc<SessionInfo>,
    proxy: &Arc<Proxy>,
    rd: Reader,
    wr: Writer,
) -> End {
    let relay = &shared.config.relay;
    let connect = Duration::from_secs(relay.connect_secs);
    let no_media = Duration::from_secs(relay.no_media_secs);
    let io = TokioIo::new(tokio::io::join(rd, wr));
    let handshake = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(io);
    let (mut sender, conn) = match tokio::time::timeout(connect, handshake).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return End::Protocol(Box::new(e)),
        Err(_) => return End::Timeout("upstream response"),
    };
    let url = proxy.url();
    let request = Request::get(url.stream.as_str())
        .header(HOST, format!("{}:{}", url.host, url.port))
        .header(USER_AGENT, format!("strom/{}", env!("CARGO_PKG_VERSION")))
        .body(Empty::new());
    let request = match request {
        Ok(r) => r,
        Err(e) => return End::Refused(format!("upstream URL: {e}")),
    };
    // The connection is driven inside this future: when the pull ends, the
    // socket closes with it.
    let exchange = async {
        let response = match tokio::time::timeout(connect, sender.send_request(request)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return End::Protocol(Box::new(e)),
            Err(_) => return End::Timeout("upstream response"),
        };
        if !response.status().is_success() {
            return End::Refused(format!("upstream: HTTP {}", response.status()));
        }
        let mut body = response.into_body();
        let mut reader = FlvReader::new();
        let mut ingest = FlvIngest::default();
        let mut publisher: Option<Publisher> = None;
        let mut last_media = Instant::now();
        loop {
            let closed = async {
                match &publisher {
                    Some(p) => p.closed().await,
                    None => std::future::pending().await,
                }
            };
            let frame = tokio::select! {
                f = tokio::time::timeout_at(last_media + no_media, body.frame()) => f,
                reason = closed => return End::PublisherClosed(reason),
            };
            let data = match frame {
                Err(_) => return End::Timeout("upstream media"),
                Ok(None) => return End::PeerClosed,
                Ok(Some(Err(e))) => return End::Protocol(Box::new(e)),
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue, // trailers
                },
            };
            info.bytes_in
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            reader.push(&data);
            loop {
                let tag = match reader.poll() {
                    Ok(Some(FlvEvent::Tag(tag))) => tag,
                    Ok(Some(FlvEvent::Header(_))) => continue,
                    Ok(None) => break,
                    Err(e) => return End::Protocol(Box::new(e)),
                };
                let kind = match tag.tag_type {
                    TagType::Video => MediaKind::Video,
                    TagType::Audio => MediaKind::Audio,
                    _ => continue,
                };
                last_media = Instant::now();
                if publisher.is_none() {
                    match claim(shared, info, proxy) {
                        Ok(p) => publisher = Some(p),
                        Err(end) => return end,
                    }
                }
                if let Some(p) = publisher.as_mut() {
                    if let Err(end) =
                        crate::rtmp::push_flv(&mut ingest, p, kind, tag.timestamp, &tag.data)
                    {
                        return end;
                    }
                }
            }
        }
    };
    tokio::select! {
        end = exchange => end,
        r = conn => match r {
            Ok(()) => End::PeerClosed,
            Err(e) => End::Protocol(Box::new(e)),
        },
    }
}

/// The first media tag: take the local name (HLS pulls too).
pub(super) fn claim(
    shared: &Shared,
    info: &Arc<SessionInfo>,
    proxy: &Arc<Proxy>,
) -> Result<Publisher, End> {
    let publisher = shared
        .hub
        .publish(proxy.key.clone(), info.peer_info())
        .map_err(|e| End::Refused(format!("the local name is taken: {e}")))?;
    tracing::info!(stream = %proxy.key, upstream = %proxy.url(), resumed = publisher.resumed(), "relay live");
    info.set_stream(proxy.key.clone(), None);
    proxy.went_live();
    Ok(publisher)
}
