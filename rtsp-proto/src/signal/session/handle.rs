//! Request dispatch and state transitions of [`ServerSession`].

use bytes::BytesMut;

use super::reply::{response, Reply};
use super::{Event, Pending, RequestId, ServerSession, SessionState, SetupTrack, PUBLIC_METHODS};
use crate::signal::message::{Method, Request, Response};
use crate::signal::range::Range;
use crate::signal::sdp::Sdp;
use crate::signal::transport::{LowerTransport, Transport, TransportMode};
use crate::signal::url::RtspUrl;

impl ServerSession {
    /// Writes a response with CSeq (RFC 2326 §12.17: echoed on every response), Server and,
    /// once a track is set up, `Session: id;timeout=N` (§12.37).
    fn send_response(&mut self, cseq: Option<u32>, mut resp: Response) {
        let mut h = crate::signal::headers::Headers::new();
        if let Some(c) = cseq {
            h.append("CSeq", c.to_string());
        }
        h.append("Server", self.config.server_name.clone());
        if self.state != SessionState::Init || !self.tracks.is_empty() {
            h.append(
                "Session",
                format!(
                    "{};timeout={}",
                    self.session_id, self.config.session_timeout_secs
                ),
            );
        }
        for (n, v) in resp.headers.iter() {
            let ours = n.eq_ignore_ascii_case("CSeq")
                || (n.eq_ignore_ascii_case("Session") && h.contains("Session"));
            if !ours {
                h.append(n, v);
            }
        }
        resp.headers = h;
        let mut out = BytesMut::new();
        resp.encode(&mut out);
        self.push_transmit(out.freeze());
    }

    pub(super) fn send_status(&mut self, cseq: Option<u32>, status: u16, why: &str) {
        if status >= 400 {
            self.events.push_back(Event::Rejected {
                status,
                reason: why.to_string(),
            });
        }
        self.send_response(cseq, Response::new(status));
    }

    pub(super) fn handle_request(&mut self, req: Request) {
        // RFC 2326 §12.17: CSeq MUST be present in every request.
        let Some(cseq) = req.headers.cseq() else {
            self.send_status(None, 400, "missing or bad CSeq");
            return;
        };
        // RFC 2326 §12.37 / §7.1.1 454: a Session id we did not issue.
        if let Some(sid) = req.headers.session_id() {
            if sid != self.session_id {
                self.send_status(Some(cseq), 454, "unknown Session id");
                return;
            }
        }
        // RFC 2326 §12.32: a server MUST answer 551 to a Require it does not support (strom
        // supports none), listing them in Unsupported.
        if let Some(req_opts) = req
            .headers
            .get("Require")
            .or(req.headers.get("Proxy-Require"))
        {
            let mut r = Response::new(551);
            r.headers.append("Unsupported", req_opts);
            self.events.push_back(Event::Rejected {
                status: 551,
                reason: format!("Require: {req_opts}"),
            });
            return self.send_response(Some(cseq), r);
        }
        let state = self.state;
        let url = || RtspUrl::parse_with_base(&req.uri, None);
        match req.method {
            Method::Options => {
                let mut r = Response::new(200);
                r.headers.append("Public", PUBLIC_METHODS);
                self.send_response(Some(cseq), r);
            }
            // RFC 2326 §10.8/§10.9: an empty GET_PARAMETER is a keep-alive; strom keeps no
            // parameters and answers both with 200.
            Method::GetParameter | Method::SetParameter => self.send_status(Some(cseq), 200, ""),
            Method::Teardown => {
                // RFC 2326 §10.7: stops delivery and frees the resources of the session.
                self.send_status(Some(cseq), 200, "");
                self.tracks.clear();
                self.state = SessionState::Init;
                self.announced = false;
                self.events.push_back(Event::Teardown);
            }
            Method::Describe => match url() {
                Ok(url) => {
                    let presentation = Some(url.presentation());
                    let id = self.add_pending(req, cseq, None, presentation);
                    self.events.push_back(Event::Describe {
                        request_id: id,
                        url,
                    });
                }
                Err(e) => self.send_status(Some(cseq), 400, &e.to_string()),
            },
            Method::Announce => {
                if state != SessionState::Init {
                    return self.send_status(Some(cseq), 455, "ANNOUNCE after SETUP");
                }
                let url = match url() {
                    Ok(u) => u,
                    Err(e) => return self.send_status(Some(cseq), 400, &e.to_string()),
                };
                // RFC 2326 §10.3: the body is the presentation description.
                let ctype = req.headers.get("Content-Type").unwrap_or("application/sdp");
                if !ctype
                    .trim()
                    .to_ascii_lowercase()
                    .starts_with("application/sdp")
                {
                    return self.send_status(
                        Some(cseq),
                        415,
                        "ANNOUNCE body is not application/sdp",
                    );
                }
                let sdp = match Sdp::parse(&req.body) {
                    Ok(s) => s,
                    Err(e) => return self.send_status(Some(cseq), 400, &e.to_string()),
                };
                let presentation = Some(url.presentation());
                let id = self.add_pending(req, cseq, None, presentation);
                self.events.push_back(Event::Announce {
                    request_id: id,
                    url,
                    sdp,
                });
            }
            Method::Setup => self.handle_setup(req, cseq),
            Method::Play => {
                // RFC 2326 §A.2: PLAY is valid in Ready and Playing.
                if !matches!(state, SessionState::Ready | SessionState::Playing) {
                    return self.send_status(
                        Some(cseq),
                        455,
                        "PLAY before SETUP or while recording",
                    );
                }
                let range = match req.headers.get("Range").map(Range::parse).transpose() {
                    Ok(r) => r,
                    Err(e) => return self.send_status(Some(cseq), 457, &e.to_string()),
                };
                match url() {
                    Ok(url) => {
                        let id = self.add_pending(req, cseq, None, None);
                        self.events.push_back(Event::Play {
                            request_id: id,
                            url,
                            range,
                        });
                    }
                    Err(e) => self.send_status(Some(cseq), 400, &e.to_string()),
                }
            }
            Method::Record => {
                // RFC 2326 §A.2: RECORD is valid in Ready (and Recording); strom also needs
                // the ANNOUNCE that described what is recorded.
                if !matches!(state, SessionState::Ready | SessionState::Recording)
                    || !self.announced
                {
                    return self.send_status(Some(cseq), 455, "RECORD before ANNOUNCE and SETUP");
                }
                match url() {
                    Ok(url) => {
                        let id = self.add_pending(req, cseq, None, None);
                        self.events.push_back(Event::Record {
                            request_id: id,
                            url,
                        });
                    }
                    Err(e) => self.send_status(Some(cseq), 400, &e.to_string()),
                }
            }
            Method::Pause => match state {
                SessionState::Init => self.send_status(Some(cseq), 455, "PAUSE before SETUP"),
                SessionState::Ready => self.send_status(Some(cseq), 200, ""),
                SessionState::Playing | SessionState::Recording => {
                    let id = self.add_pending(req, cseq, None, None);
                    self.events.push_back(Event::Pause { request_id: id });
                }
            },
            Method::Other(ref m) => {
                let why = format!("method {m} not implemented");
                self.send_status(Some(cseq), 501, &why);
            }
        }
    }

    fn handle_setup(&mut self, req: Request, cseq: u32) {
        // RFC 2326 §A.2: SETUP in Playing/Recording would change transport mid-stream;
        // strom does not support that.
        if matches!(self.state, SessionState::Playing | SessionState::Recording) {
            return self.send_status(Some(cseq), 455, "SETUP while playing or recording");
        }
        let url = match RtspUrl::parse_with_base(&req.uri, self.presentation.as_deref()) {
            Ok(u) => u,
            Err(e) => return self.send_status(Some(cseq), 400, &e.to_string()),
        };
        let Some(value) = req.headers.get("Transport") else {
            return self.send_status(Some(cseq), 400, "SETUP without Transport");
        };
        // RFC 2326 §12.39 / §7.1.1 461: no spec in the list is one we support.
        let allow_udp = self.config.allow_udp;
        let mut transport = match Transport::parse_list(value) {
            Ok(list) => match list
                .into_iter()
                .find(|t| t.is_supported() && (allow_udp || t.lower == LowerTransport::Tcp))
            {
                Some(t) => t,
                None => return self.send_status(Some(cseq), 461, "no supported transport"),
            },
            Err(e) => return self.send_status(Some(cseq), 400, &e.to_string()),
        };
        if transport.lower == LowerTransport::Tcp {
            let used: Vec<u8> = self
                .tracks
                .iter()
                .filter_map(|t| t.transport.interleaved)
                .flat_map(|(a, b)| [a, b])
                .collect();
            match transport.interleaved {
                Some((a, b)) if used.contains(&a) || used.contains(&b) => {
                    return self.send_status(
                        Some(cseq),
                        461,
                        "interleaved channels already in use",
                    );
                }
                Some(_) => {}
                // §12.39: the server picks the channels when the client did not.
                None => {
                    let next = used.iter().max().map_or(Some(0), |m| m.checked_add(1));
                    match next.and_then(|a| a.checked_add(1).map(|b| (a, b))) {
                        Some(pair) => transport.interleaved = Some(pair),
                        None => {
                            return self.send_status(
                                Some(cseq),
                                461,
                                "no free interleaved channels",
                            )
                        }
                    }
                }
            }
        }
        if transport.mode == Some(TransportMode::Record) && !self.announced {
            return self.send_status(Some(cseq), 455, "SETUP mode=record before ANNOUNCE");
        }
        let track = url.track.clone();
        let id = self.add_pending(req, cseq, Some((transport.clone(), track.clone())), None);
        self.events.push_back(Event::Setup {
            request_id: id,
            url,
            track,
            transport,
        });
    }

    fn add_pending(
        &mut self,
        request: Request,
        cseq: u32,
        setup: Option<(Transport, Option<String>)>,
        presentation: Option<String>,
    ) -> RequestId {
        let id = RequestId(self.next_request_id);
        self.next_request_id = self.next_request_id.wrapping_add(1).max(1);
        self.pending.insert(
            id,
            Pending {
                request,
                cseq,
                setup,
                presentation,
            },
        );
        id
    }

    /// Handles requests that arrived while another waited, until one waits again.
    pub(super) fn run_deferred(&mut self) {
        while self.pending.is_empty() {
            let Some(req) = self.deferred.pop_front() else {
                break;
            };
            self.handle_request(req);
        }
    }

    pub(super) fn apply_reply(&mut self, p: Pending, mut reply: Reply) {
        let ok = reply.is_success();
        match p.request.method {
            Method::Describe | Method::Announce if ok => {
                self.presentation = p.presentation;
                if p.request.method == Method::Announce {
                    self.announced = true;
                }
            }
            Method::Setup if ok => {
                if let Some((requested, control)) = p.setup {
                    let chosen = reply.transport.take().unwrap_or(requested);
                    reply.headers.insert("Transport", chosen.to_string());
                    self.tracks.push(SetupTrack {
                        url: p.request.uri.clone(),
                        control,
                        transport: chosen,
                    });
                    if self.state == SessionState::Init {
                        self.state = SessionState::Ready;
                    }
                }
            }
            Method::Play if ok => {
                self.state = SessionState::Playing;
                self.started = true;
            }
            Method::Record if ok => {
                self.state = SessionState::Recording;
                self.started = true;
                // `respond` takes no instant: the record-idle clock starts at the latest
                // one the session was told.
                self.last_media = self.last_media.max(self.last_now);
            }
            Method::Pause if ok => self.state = SessionState::Ready,
            _ => {}
        }
        self.send_response(Some(p.cseq), response(reply));
    }
}
