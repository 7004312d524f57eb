//! WHEP/WHIP signalling on the HTTP port, served by hyper on a media
//! worker (like HLS): an offer in, an answer and a session resource out.
//!
//! - `POST /{app}/{stream}/whep` (play) and `/{app}/{stream}/whip`
//!   (publish, RFC 9725), `Content-Type: application/sdp`: `201 Created`
//!   with the answer and `Location: /webrtc/session/{id}`.
//! - ZLMediaKit's forms: `POST /index/api/whep?app=&stream=` and
//!   `/index/api/whip?…` answer the same; `/index/api/webrtc?app=&stream=&type=play|push`
//!   answers ZLMediaKit's JSON (`{"code":0,"id":…,"sdp":…,"type":"answer"}`).
//! - `DELETE /webrtc/session/{id}` ends the session; `PATCH` (trickle ICE)
//!   is accepted and ignored: strom is ICE-lite and learns the peer's
//!   address from its connectivity checks.
//! - `OPTIONS`: CORS preflight; every answer allows any origin, so players
//!   on other sites can use it (tokens and hooks decide who plays).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use str0m::change::SdpOffer;
use str0m::{Candidate, IceCreds, RtcConfig};
use stream_core::{Protocol, StreamKey};
use tokio::net::TcpStream;

use super::egress::Egress;
use super::ingest::Ingest;
use super::peer::{self, Peer, Role};
use super::{Resource, WebRtc};
use crate::counters::PublishOutcome;
use crate::hooks::{Access, Decision};
use crate::server::Shared;

/// Largest offer read (browsers send 5–10 KiB).
pub const MAX_OFFER: usize = 64 * 1024;
/// Longest a signalling connection is kept.
const MAX_CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Video packets a viewer's peer keeps for retransmission (NACK).
const VIEWER_SEND_BUFFER: usize = 500;
/// Where session resources live.
const RESOURCE_PREFIX: &str = "/webrtc/session/";

/// Whether a request line is WebRTC signalling (served here, on a media
/// worker, not by the control plane).
pub fn is_signalling(method: &str, path: &str) -> bool {
    let known = path.ends_with("/whep")
        || path.ends_with("/whip")
        || path.starts_with(RESOURCE_PREFIX)
        || path == "/index/api/webrtc";
    known && matches!(method, "POST" | "OPTIONS" | "DELETE" | "PATCH")
}

/// Serves one signalling connection (keep-alive requests) to its end.
pub async fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let Some(webrtc) = shared.webrtc.clone() else {
        return;
    };
    let local = stream.local_addr().ok();
    let timeout = Duration::from_millis(shared.config.http.request_timeout_ms);
    let service = service_fn(move |req| {
        let (shared, webrtc) = (shared.clone(), webrtc.clone());
        async move {
            let mut resp = answer(req, peer, local, &shared, &webrtc).await;
            cors(&mut resp);
            Ok::<_, Infallible>(resp)
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(TokioIo::new(stream), service);
    let _ = tokio::time::timeout(MAX_CONNECTION_LIFETIME, conn).await;
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// The API's JSON error shape.
fn error(status: StatusCode, message: &str) -> Reply {
    let code = match status {
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "stream_not_found",
        StatusCode::CONFLICT => "conflict",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "codec_not_carried",
        _ => "bad_request",
    };
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    reply(status, "application/json", body)
}

fn cors(r: &mut Reply) {
    let h = r.headers_mut();
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("Location, Link, ETag"),
    );
}

/// What a request asks for.
enum Ask {
    Play,
    Publish,
}

/// How the answer is shaped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// WHEP/WHIP: 201, SDP body, `Location`.
    Whip,
    /// ZLMediaKit's `/index/api/webrtc`: 200, JSON.
    ZlmJson,
}

async fn answer(
    req: Request<Incoming>,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    shared: &Arc<Shared>,
    webrtc: &Arc<WebRtc>,
) -> Reply {
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    if req.method() == Method::OPTIONS {
        let mut r = reply(StatusCode::NO_CONTENT, "text/plain", Bytes::new());
        let h = r.headers_mut();
        h.insert(
            "access-control-allow-methods",
            HeaderValue::from_static("POST, DELETE, PATCH, OPTIONS"),
        );
        h.insert(
            "access-control-allow-headers",
            HeaderValue::from_static("Content-Type, Authorization, If-Match"),
        );
        h.insert("access-control-max-age", HeaderValue::from_static("86400"));
        return r;
    }
    if let Some(id) = path.strip_prefix(RESOURCE_PREFIX) {
        return resource(req.method(), id, webrtc);
    }
    if req.method() != Method::POST {
        return error(StatusCode::METHOD_NOT_ALLOWED, "POST an SDP offer");
    }
    let Some((key, ask, shape)) = target(&path, query.as_deref()) else {
        return error(StatusCode::NOT_FOUND, "not a WHEP or WHIP URL");
    };
    let key = match key {
        Ok(k) => k,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let answered = match read_offer(req, shared).await {
        Ok(offer) => {
            let local_ip = local.map(|a| a.ip());
            start(shared, webrtc, key, query, ask, offer, peer, local_ip).await
        }
        Err(refusal) => Err(refusal),
    };
    match answered {
        Ok((sdp, id)) => match shape {
            Shape::Whip => {
                let mut r = reply(StatusCode::CREATED, "application/sdp", sdp);
                if let Ok(v) = HeaderValue::from_str(&format!("{RESOURCE_PREFIX}{id}")) {
                    r.headers_mut().insert(LOCATION, v);
                }
                r
            }
            Shape::ZlmJson => {
                let body = serde_json::json!({ "code": 0, "id": id, "sdp": sdp, "type": "answer" });
                reply(StatusCode::OK, "application/json", body.to_string())
            }
        },
        Err((status, why)) => {
            webrtc
                .counters
                .offers_refused
                .fetch_add(1, Ordering::Relaxed);
            match shape {
                Shape::Whip => error(status, &why),
                Shape::ZlmJson => {
                    let body = serde_json::json!({ "code": -1, "msg": why });
                    reply(StatusCode::OK, "application/json", body.to_string())
                }
            }
        }
    }
}

/// The offer in the body: bounded in size and time.
async fn read_offer(req: Request<Incoming>, shared: &Shared) -> Result<SdpOffer, Refusal> {
    let deadline = Duration::from_millis(shared.config.http.request_timeout_ms);
    let body =
        match tokio::time::timeout(deadline, Limited::new(req.into_body(), MAX_OFFER).collect())
            .await
        {
            Ok(Ok(b)) => b.to_bytes(),
            Ok(Err(_)) => {
                return Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "offer over 64 KiB or unreadable".into(),
                ))
            }
            Err(_) => {
                return Err((
                    StatusCode::REQUEST_TIMEOUT,
                    "offer not received in time".into(),
                ))
            }
        };
    std::str::from_utf8(&body)
        .ok()
        .and_then(|s| SdpOffer::from_sdp_string(s).ok())
        .ok_or((
            StatusCode::BAD_REQUEST,
            "the body is not an SDP offer".into(),
        ))
}

/// The stream, the ask and the answer's shape of a POST path.
fn target(path: &str, query: Option<&str>) -> Option<(Result<StreamKey, String>, Ask, Shape)> {
    let param = |name: &str| {
        query?
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    };
    let from_query = || {
        let (app, stream) = (param("app")?, param("stream")?);
        Some(StreamKey::parse(app, stream).map_err(|e| e.to_string()))
    };
    match path {
        "/index/api/whep" => Some((from_query()?, Ask::Play, Shape::Whip)),
        "/index/api/whip" => Some((from_query()?, Ask::Publish, Shape::Whip)),
        "/index/api/webrtc" => {
            let ask = match param("type").as_deref() {
                Some("push") => Ask::Publish,
                _ => Ask::Play,
            };
            Some((from_query()?, ask, Shape::ZlmJson))
        }
        _ => {
            let (base, ask) = if let Some(b) = path.strip_suffix("/whep") {
                (b, Ask::Play)
            } else {
                (path.strip_suffix("/whip")?, Ask::Publish)
            };
            let (app, stream) = base.strip_prefix('/')?.split_once('/')?;
            Some((
                StreamKey::parse(app, stream).map_err(|e| e.to_string()),
                ask,
                Shape::Whip,
            ))
        }
    }
}

/// `DELETE` ends the session; `PATCH` (trickle ICE) is accepted.
fn resource(method: &Method, id: &str, webrtc: &WebRtc) -> Reply {
    let Some(info) = webrtc.resource(id) else {
        return error(StatusCode::NOT_FOUND, "no such WebRTC session");
    };
    match *method {
        Method::DELETE => {
            info.kick();
            reply(StatusCode::OK, "text/plain", Bytes::new())
        }
        Method::PATCH => reply(StatusCode::NO_CONTENT, "text/plain", Bytes::new()),
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "DELETE or PATCH"),
    }
}

type Refusal = (StatusCode, String);

/// Admits, authorizes and starts a peer: its answer and resource id.
#[allow(clippy::too_many_arguments)]
async fn start(
    shared: &Arc<Shared>,
    webrtc: &Arc<WebRtc>,
    key: StreamKey,
    query: Option<String>,
    ask: Ask,
    offer: SdpOffer,
    peer_addr: SocketAddr,
    local_ip: Option<IpAddr>,
) -> Result<(String, String), Refusal> {
    let unavailable = |why: String| (StatusCode::SERVICE_UNAVAILABLE, why);
    // Declared before the session guard: dropped after it on every early
    // return, so a refused offer's session is unlisted before its place
    // goes back.
    let slot = webrtc.reserve().ok_or_else(|| full(webrtc))?;
    let ticket = shared
        .admission
        .admit_session("webrtc", peer_addr.ip())
        .map_err(|r| unavailable(format!("refused: {}", r.name())))?;
    // Until ICE and DTLS connect, the peer is also a pending connection of
    // its address: one address cannot hold more unconnected peers than
    // `server.max_pending_per_ip`, and the oldest are evicted under pressure.
    let pending = shared
        .admission
        .admit_pending("webrtc", peer_addr.ip())
        .map_err(|r| unavailable(format!("refused: {}", r.name())))?;
    let mut guard = shared.sessions.register(Protocol::WebRtc, peer_addr);
    guard.hold(ticket);
    guard.info().set_stream(key.clone(), query.clone());
    let access = Access::new(&key, query.as_deref(), guard.info());
    let role = match ask {
        Ask::Play => {
            if let Decision::Deny(why) = shared.hooks.on_play(&access).await {
                guard.set_end_reason("refused");
                return Err((StatusCode::FORBIDDEN, why));
            }
            let sub = crate::waiting::subscribe(shared, &key, guard.peer_info())
                .await
                .map_err(|e| {
                    let status = match e {
                        crate::waiting::WaitError::Subscribe(_) => StatusCode::NOT_FOUND,
                        _ => StatusCode::SERVICE_UNAVAILABLE,
                    };
                    (status, e.to_string())
                })?;
            if let Err(why) = super::offer_carriage(shared, &key) {
                guard.set_end_reason("refused");
                return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, why));
            }
            webrtc.counters.offers_play.fetch_add(1, Ordering::Relaxed);
            Role::Play(Box::new(Egress::new(
                key.clone(),
                sub,
                shared.clone(),
                webrtc.clone(),
            )))
        }
        Ask::Publish => {
            if let Decision::Deny(why) = shared.hooks.on_publish(&access).await {
                shared.counters.publish(PublishOutcome::Denied);
                guard.set_end_reason("refused");
                return Err((StatusCode::FORBIDDEN, why));
            }
            let publisher = crate::cluster::publish(shared, &key, guard.peer_info())
                .await
                .map_err(|e| {
                    shared.counters.publish(PublishOutcome::Conflict);
                    (StatusCode::CONFLICT, refusal(&key, e))
                })?;
            shared.counters.publish(if publisher.resumed() {
                PublishOutcome::Resumed
            } else {
                PublishOutcome::Accepted
            });
            webrtc
                .counters
                .offers_publish
                .fetch_add(1, Ordering::Relaxed);
            Role::Publish(Box::new(Ingest::new(publisher, webrtc)))
        }
    };
    let creds = IceCreds::new();
    let publish = matches!(role, Role::Publish(_));
    let mut rtc =
        rtc_config(webrtc, creds.clone(), publish).build(tokio::time::Instant::now().into_std());
    let ips: Vec<IpAddr> = if webrtc.config.public_addresses.is_empty() {
        vec![local_ip.unwrap_or(IpAddr::from([127, 0, 0, 1]))]
    } else {
        webrtc.config.public_addresses.clone()
    };
    let mut local = None;
    for ip in ips {
        let addr = SocketAddr::new(ip, webrtc.port);
        match Candidate::host(addr, "udp") {
            Ok(c) => {
                rtc.add_local_candidate(c);
                local.get_or_insert(addr);
            }
            Err(e) => tracing::warn!(%addr, error = %e, "webrtc: candidate refused"),
        }
        // ICE-TCP on the same port number, so `local` names both.
        if webrtc.tcp_port == Some(webrtc.port) {
            let tcp = Candidate::builder()
                .tcp()
                .host(addr)
                .tcptype(str0m::net::TcpType::Passive)
                .build();
            match tcp {
                Ok(c) => {
                    rtc.add_local_candidate(c);
                }
                Err(e) => tracing::warn!(%addr, error = %e, "webrtc: TCP candidate refused"),
            }
        }
    }
    let local = local.ok_or_else(|| unavailable("no usable candidate address".into()))?;
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("offer not accepted: {e}")))?;
    let (routes, rx) = webrtc.register(&creds.ufrag);
    let id = IceCreds::new().ufrag;
    let resource = Resource::new(webrtc, id.clone(), guard.info().clone());
    let info = guard.info().clone();
    let p = Peer {
        rtc,
        rx,
        routes,
        resource,
        local,
        webrtc: webrtc.clone(),
        stopping: shared.stopping.clone(),
        pending: Some(pending),
        slot,
    };
    let worker = shared.pool.pick().handle.clone();
    crate::session::spawn(&worker, &info, peer::run(p, role, guard));
    tracing::info!(stream = %key, session = info.id, "webrtc offer answered");
    Ok((answer.to_sdp_string(), id))
}

/// The refusal at `webrtc.max_sessions`.
fn full(webrtc: &WebRtc) -> Refusal {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "{} WebRTC sessions already (webrtc.max_sessions)",
            webrtc.config.max_sessions
        ),
    )
}

/// Why a publish was refused, as RTSP's ANNOUNCE says it.
fn refusal(key: &StreamKey, e: crate::cluster::Refused) -> String {
    use crate::cluster::Refused;
    match e {
        Refused::Cluster(why) => why,
        Refused::Hub(stream_core::PublishError::AlreadyPublishing { current, .. }) => format!(
            "stream {key} is already being published (session {} over {})",
            current.session_id,
            current.protocol.name()
        ),
        Refused::Hub(other) => other.to_string(),
    }
}

/// Every peer's configuration: ICE-lite, the shared certificate, and the
/// codecs strom can forward without transcoding video.
///
/// Viewers negotiate no transport-wide congestion control: strom adapts
/// nothing to a viewer's bandwidth (it forwards one encoding), and
/// answering every viewer's TWCC feedback cost ~5 % of the CPU (bench
/// --webrtc). Publishers keep it: a browser's encoder sizes its bitrate by
/// it. A viewer's retransmission history is ~500 packets (seconds of video
/// at common bitrates, far beyond a NACK's round trip), not str0m's 1000.
fn rtc_config(webrtc: &WebRtc, creds: IceCreds, publish: bool) -> RtcConfig {
    let config = RtcConfig::new()
        .set_stats_interval(None)
        .set_send_buffer_video(VIEWER_SEND_BUFFER);
    let config = match publish {
        true => config,
        false => {
            let mut exts = str0m::rtp::ExtensionMap::empty();
            exts.set(2, str0m::rtp::Extension::AbsoluteSendTime);
            exts.set(4, str0m::rtp::Extension::RtpMid);
            config.set_extension_map(exts)
        }
    };
    config
        .set_ice_lite(true)
        .set_local_ice_credentials(creds)
        .set_dtls_cert(webrtc.cert.clone())
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true, false)
        .enable_pcmu(true, false)
        .enable_pcma(true, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signalling_lines() {
        assert!(is_signalling("POST", "/live/cam/whep"));
        assert!(is_signalling("POST", "/live/cam/whip"));
        assert!(is_signalling("OPTIONS", "/live/cam/whep"));
        assert!(is_signalling("DELETE", "/webrtc/session/abc"));
        assert!(is_signalling("POST", "/index/api/webrtc"));
        assert!(!is_signalling("GET", "/live/cam/whep"));
        assert!(!is_signalling("POST", "/api/v1/streams"));
    }

    #[test]
    fn targets() {
        let (k, ask, shape) = target("/live/cam/whep", None).unwrap();
        assert_eq!(k.unwrap().to_string(), "live/cam");
        assert!(matches!(ask, Ask::Play) && shape == Shape::Whip);
        let (k, ask, _) = target("/index/api/whip", Some("app=live&stream=x")).unwrap();
        assert_eq!(k.unwrap().to_string(), "live/x");
        assert!(matches!(ask, Ask::Publish));
        let (_, ask, shape) =
            target("/index/api/webrtc", Some("app=live&stream=x&type=push")).unwrap();
        assert!(matches!(ask, Ask::Publish) && shape == Shape::ZlmJson);
        assert!(target("/whep", None).is_none());
        assert!(target("/index/api/whep", Some("app=live")).is_none());
        assert!(target("/a/../whep", None).is_some_and(|(k, _, _)| k.is_err()));
    }
}
