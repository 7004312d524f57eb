//! The answers to the client's requests and what each leads to (RFC 2326 §A.1 client
//! state machine), authentication retries and the fall back from UDP to TCP.

use std::time::{Duration, Instant};

use super::auth::Challenge;
use super::{ClientError, ClientEvent, ClientMode, ClientSession, ClientState, ClientTrack};
use super::{ClientTransport, InFlight, Kind};
use crate::signal::message::{Method, Request, Response};
use crate::signal::range::Range;
use crate::signal::rtp_info::RtpInfo;
use crate::signal::sdp::{Attribute, Sdp};
use crate::signal::transport::{LowerTransport, Transport, TransportMode};

/// Resolves an SDP `a=control` against the base (RFC 2326 §C.1.1): absent or `*` is the
/// base itself, an absolute URL stands, anything else is appended after a `/` (as ffmpeg,
/// GStreamer and live555 do, so `rtsp://h/a/b` + `trackID=0` is `rtsp://h/a/b/trackID=0`).
pub(super) fn resolve_control(base: &str, control: Option<&str>) -> String {
    match control.map(str::trim) {
        None | Some("") | Some("*") => base.to_string(),
        Some(c) if c.contains("://") => c.to_string(),
        Some(c) if base.ends_with('/') => format!("{base}{c}"),
        Some(c) => format!("{base}/{c}"),
    }
}

/// `Session: id;timeout=N` (RFC 2326 §12.37): the id and the timeout, if given.
fn session_header(resp: &Response) -> Option<(String, Option<Duration>)> {
    let v = resp.headers.get("Session")?;
    let mut parts = v.split(';');
    let id = parts.next().unwrap_or("").trim();
    if id.is_empty() {
        return None;
    }
    let timeout = parts.find_map(|p| {
        let (n, v) = p.split_once('=')?;
        n.trim()
            .eq_ignore_ascii_case("timeout")
            .then(|| v.trim().parse::<u64>().ok())?
    });
    // At most a day, so the keep-alive deadline is always representable.
    Some((
        id.to_string(),
        timeout
            .filter(|&t| t > 0)
            .map(|t| Duration::from_secs(t.min(86_400))),
    ))
}

impl ClientSession {
    /// A response from the server.
    pub(super) fn on_response(&mut self, resp: Response, now: Instant) -> Result<(), ClientError> {
        let got = resp.headers.cseq();
        let Some(inf) = self.in_flight.take_if(|f| Some(f.cseq) == got) else {
            return Err(ClientError::CSeqMismatch {
                expected: self.in_flight.as_ref().map(|f| f.cseq),
                got,
            });
        };
        if let Some((id, timeout)) = session_header(&resp) {
            self.session_id = Some(id);
            if let Some(t) = timeout {
                self.session_timeout = t;
            }
        }
        let ok = (200..300).contains(&resp.status);
        if resp.status == 401 && !matches!(inf.kind, Kind::Teardown { .. }) {
            return self.retry_with_auth(&resp, inf, now);
        }
        match inf.kind {
            Kind::Options => {
                if let Some(public) = resp.headers.get("Public") {
                    self.get_parameter = public
                        .split(',')
                        .any(|m| m.trim().eq_ignore_ascii_case("GET_PARAMETER"));
                }
                // A camera without OPTIONS (501) is still asked to DESCRIBE.
                self.after_options(now);
            }
            Kind::Describe if ok => self.on_described(&resp, now)?,
            Kind::Announce if ok => self.setup_next(0, now)?,
            Kind::Setup(i) if ok => self.on_set_up(i, &inf, &resp, now)?,
            Kind::Setup(i) if resp.status == 461 && !self.use_tcp && self.is_auto() => {
                // Unsupported Transport: the same SETUP over TCP.
                self.use_tcp = true;
                self.setup_next(i, now)?;
            }
            Kind::Play if ok => {
                self.state = ClientState::Playing;
                self.last_media = now;
                let rtp_info = resp
                    .headers
                    .get("RTP-Info")
                    .and_then(|v| RtpInfo::parse(v).ok());
                self.events.push_back(ClientEvent::Playing { rtp_info });
            }
            Kind::Record if ok => {
                self.state = ClientState::Recording;
                self.events.push_back(ClientEvent::Recording);
            }
            // Keep-alives only fail the session when the server lost it.
            Kind::KeepAlive if resp.status != 454 => {}
            Kind::Teardown { restart: true } => {
                self.session_id = None;
                for t in &mut self.tracks {
                    t.transport = None;
                }
                self.setup_next(0, now)?;
            }
            Kind::Teardown { restart: false } => self.finish(ClientEvent::Closed),
            _ => self.fail(&resp),
        }
        if self.in_flight.is_none() && self.state != ClientState::Closed {
            if let Some(restart) = self.teardown_after {
                if self.session_id.is_some() {
                    self.send_teardown(now);
                } else if !restart {
                    self.finish(ClientEvent::Closed);
                }
            }
        }
        Ok(())
    }

    fn fail(&mut self, resp: &Response) {
        self.finish(ClientEvent::Failed {
            status: resp.status,
            reason: resp.reason.clone(),
        });
    }

    fn is_auto(&self) -> bool {
        matches!(self.config.transport, ClientTransport::Auto { .. })
    }

    /// A 401: answer the challenge once, and once more if the server says the nonce was
    /// stale; otherwise the request failed.
    fn retry_with_auth(
        &mut self,
        resp: &Response,
        inf: InFlight,
        now: Instant,
    ) -> Result<(), ClientError> {
        let challenge = Challenge::pick(&resp.headers);
        let retry = match (&challenge, &self.credentials) {
            (Some(ch), Some(_)) => {
                inf.auth_tries == 0 || (inf.auth_tries == 1 && ch.is_stale() && !self.stale_retried)
            }
            _ => false,
        };
        if !retry {
            self.fail(resp);
            return Ok(());
        }
        if inf.auth_tries > 0 {
            self.stale_retried = true;
        }
        self.challenge = challenge;
        self.nc = 0;
        self.send(inf.kind, inf.request, now);
        if let Some(f) = self.in_flight.as_mut() {
            f.auth_tries = inf.auth_tries + 1;
        }
        Ok(())
    }

    fn after_options(&mut self, now: Instant) {
        let (kind, req) = match &self.config.mode {
            ClientMode::Play => {
                let mut r = Request::new(Method::Describe, self.url.clone());
                r.headers.append("Accept", "application/sdp");
                (Kind::Describe, r)
            }
            ClientMode::Record { sdp } => {
                let mut sdp = Sdp::clone(sdp);
                for (i, m) in sdp.media.iter_mut().enumerate() {
                    if m.control().is_none() {
                        m.attributes
                            .push(Attribute::new("control", format!("streamid={i}")));
                    }
                }
                self.tracks = sdp
                    .media
                    .iter()
                    .map(|m| ClientTrack {
                        url: resolve_control(&self.url, m.control()),
                        transport: None,
                    })
                    .collect();
                let mut r = Request::new(Method::Announce, self.url.clone());
                r.headers.append("Content-Type", "application/sdp");
                r.body = sdp.to_text().into();
                (Kind::Announce, r)
            }
        };
        self.send(kind, req, now);
    }

    fn on_described(&mut self, resp: &Response, now: Instant) -> Result<(), ClientError> {
        let sdp = Sdp::parse(&resp.body).map_err(|e| ClientError::BadAnswer {
            what: "SDP",
            detail: e.to_string(),
        })?;
        if sdp.media.is_empty() {
            return Err(ClientError::BadAnswer {
                what: "SDP",
                detail: "no media".into(),
            });
        }
        let base = resp
            .headers
            .get("Content-Base")
            .or(resp.headers.get("Content-Location"))
            .map(str::trim)
            .filter(|b| b.contains("://"))
            .unwrap_or(&self.url)
            .to_string();
        self.aggregate = match sdp.attribute("control").map(str::trim) {
            Some(c) if c.contains("://") => c.to_string(),
            _ => base.trim_end_matches('/').to_string(),
        };
        self.tracks = sdp
            .media
            .iter()
            .map(|m| ClientTrack {
                url: resolve_control(&base, m.control()),
                transport: None,
            })
            .collect();
        self.events.push_back(ClientEvent::Described { sdp, base });
        self.setup_next(0, now)
    }

    /// The transport asked for track `i`.
    fn wanted_transport(&self, i: usize) -> Result<Transport, ClientError> {
        let mut t = if self.use_tcp {
            let mut t = Transport::new(LowerTransport::Tcp);
            let ch = u8::try_from(i.saturating_mul(2)).unwrap_or(254);
            t.interleaved = Some((ch, ch.saturating_add(1)));
            t
        } else {
            let ports = match &self.config.transport {
                ClientTransport::Udp { client_ports } | ClientTransport::Auto { client_ports } => {
                    client_ports.get(i).copied()
                }
                ClientTransport::Tcp => None,
            };
            let mut t = Transport::new(LowerTransport::Udp);
            t.client_port = Some(ports.ok_or(ClientError::NoClientPorts { track: i })?);
            t
        };
        if matches!(self.config.mode, ClientMode::Record { .. }) {
            t.mode = Some(TransportMode::Record);
        }
        Ok(t)
    }

    /// SETUP track `i`, or PLAY/RECORD when every track is set up.
    pub(super) fn setup_next(&mut self, i: usize, now: Instant) -> Result<(), ClientError> {
        self.state = ClientState::Ready;
        let Some(track) = self.tracks.get(i) else {
            let (kind, method) = match self.config.mode {
                ClientMode::Play => (Kind::Play, Method::Play),
                ClientMode::Record { .. } => (Kind::Record, Method::Record),
            };
            let mut r = Request::new(method, self.aggregate.clone());
            if kind == Kind::Play {
                r.headers.append("Range", Range::live().to_string());
            }
            self.send(kind, r, now);
            return Ok(());
        };
        let mut r = Request::new(Method::Setup, track.url.clone());
        r.headers
            .append("Transport", self.wanted_transport(i)?.to_string());
        self.send(Kind::Setup(i), r, now);
        Ok(())
    }

    fn on_set_up(
        &mut self,
        i: usize,
        inf: &InFlight,
        resp: &Response,
        now: Instant,
    ) -> Result<(), ClientError> {
        let asked = inf
            .request
            .headers
            .get("Transport")
            .and_then(|t| Transport::parse(t).ok());
        let answered = match resp.headers.get("Transport") {
            Some(v) => Some(
                Transport::parse_list(v).map_err(|e| ClientError::BadAnswer {
                    what: "Transport",
                    detail: e.to_string(),
                })?,
            ),
            None => None,
        };
        let mut t = answered
            .and_then(|l| l.into_iter().next())
            .or(asked.clone())
            .ok_or(ClientError::BadAnswer {
                what: "Transport",
                detail: "missing".into(),
            })?;
        if let Some(a) = &asked {
            if t.lower == LowerTransport::Tcp && t.interleaved.is_none() {
                t.interleaved = a.interleaved;
            }
            if t.client_port.is_none() {
                t.client_port = a.client_port;
            }
        }
        if t.lower == LowerTransport::Tcp {
            self.use_tcp = true;
        }
        if let Some(track) = self.tracks.get_mut(i) {
            track.transport = Some(t.clone());
        }
        self.events.push_back(ClientEvent::SetUp {
            track: i,
            transport: t,
        });
        self.setup_next(i + 1, now)
    }

    /// The track whose interleaved RTP channel is `channel`.
    pub(super) fn is_rtp_channel(&self, channel: u8) -> bool {
        self.tracks.iter().any(|t| {
            t.transport
                .as_ref()
                .and_then(|t| t.interleaved)
                .is_some_and(|(rtp, _)| rtp == channel)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_resolve_against_the_base() {
        let b = "rtsp://h/live/cam/";
        assert_eq!(
            resolve_control(b, Some("trackID=0")),
            "rtsp://h/live/cam/trackID=0"
        );
        assert_eq!(
            resolve_control("rtsp://h/live/cam", Some("track1")),
            "rtsp://h/live/cam/track1"
        );
        assert_eq!(resolve_control(b, Some("*")), b);
        assert_eq!(resolve_control(b, None), b);
        assert_eq!(resolve_control(b, Some("rtsp://o/x/1")), "rtsp://o/x/1");
    }
}
