//! Incoming commands (RTMP spec 7.2) and the answers that need no policy.

use flv_mux::amf0::Amf0Value;

use super::{Active, ConnectState, Pending, ServerEvent, ServerSession, MAX_STREAMS};
use crate::command::{Command, Connect, GenericCommand, Response, Status, StatusCode, StatusLevel};
use crate::error::{Error, Violation};
use crate::session::stream_id_from_f64;

/// Commands that need no answer and no state: nginx-rtmp ignores them too,
/// and librtmp logs an error line on an `_error` for FCSubscribe.
const IGNORED: &[&str] = &["FCSubscribe", "FCUnsubscribe", "onBWDone"];

fn out_of_order(command: &str, reason: &'static str) -> Error {
    Violation::OutOfOrder {
        command: command.to_owned(),
        reason,
    }
    .into()
}

/// Splits `s` at the first `?`.
fn split_query(s: &str) -> (String, Option<String>) {
    match s.split_once('?') {
        Some((a, q)) => (a.to_owned(), Some(q.to_owned())),
        None => (s.to_owned(), None),
    }
}

/// An error-level status with a code from the caller.
pub(super) fn error_status(code: StatusCode, description: &str) -> Status {
    Status {
        level: StatusLevel::Error,
        code,
        description: description.to_owned(),
        extra: Vec::new(),
    }
}

impl ServerSession {
    pub(super) fn on_command(&mut self, stream_id: u32, cmd: Command) -> Result<(), Error> {
        if let Command::Connect(c) = cmd {
            return self.on_connect(c);
        }
        if self.connect != ConnectState::Accepted {
            return Err(out_of_order(cmd.name(), "before connect was accepted"));
        }
        match cmd {
            Command::Connect(_) => {}
            // FMLE-style pre-publish calls (ffmpeg, OBS, GStreamer): nginx-rtmp
            // does not answer them, SRS answers `_result` (and onFCPublish).
            // ffmpeg and librtmp accept either; answering lets clients that
            // wait on the transaction (some hardware encoders) go on.
            Command::ReleaseStream(s) => self.result(s.transaction_id, vec![])?,
            Command::FcPublish(s) => {
                let status = Status::new(StatusCode::PublishStart, s.stream_name.as_str());
                let body = GenericCommand {
                    name: "onFCPublish".into(),
                    transaction_id: 0.0,
                    command_object: Amf0Value::Null,
                    args: vec![status.to_amf()],
                }
                .encode();
                self.out.command(0, body)?;
                self.result(s.transaction_id, vec![])?;
            }
            Command::FcUnpublish(s) => {
                if let Some(p) = self.publishing {
                    self.end_stream(p.stream_id)?;
                }
                self.result(s.transaction_id, vec![])?;
            }
            Command::GetStreamLength(s) => {
                // Live streams have no length; ffmpeg reads 0 as unknown.
                self.result(s.transaction_id, vec![Amf0Value::Number(0.0)])?
            }
            Command::CheckBw { transaction_id } => self.result(transaction_id, vec![])?,
            Command::CreateStream { transaction_id } => {
                if self.streams.len() >= MAX_STREAMS {
                    let st = error_status(
                        StatusCode::Other("NetConnection.Call.Failed".into()),
                        "too many streams",
                    );
                    self.reply(Response::error(transaction_id, &st))?;
                } else {
                    let id = self.next_stream_id;
                    self.next_stream_id = self.next_stream_id.saturating_add(1);
                    self.streams.push(id);
                    self.reply(Response::create_stream(transaction_id, id))?;
                }
            }
            Command::DeleteStream { stream_id: arg, .. } => {
                // GStreamer 1.22 sends the stream *name* instead of the id,
                // on message stream 0: take the stream it publishes or plays
                // (or its only stream), else the stream the command came on.
                let id = match arg.and_then(stream_id_from_f64) {
                    Some(id) => id,
                    None if stream_id == 0 => self.guess_stream().unwrap_or(0),
                    None => stream_id,
                };
                self.end_stream(id)?;
                self.streams.retain(|&s| s != id);
                if self.streams.is_empty() && self.publishing.is_none() && self.playing.is_none() {
                    self.events.push_back(ServerEvent::Closed);
                    self.closed = true;
                }
            }
            Command::CloseStream { .. } => self.end_stream(stream_id)?,
            Command::Publish(p) => {
                self.check_stream("publish", stream_id)?;
                if self.publishing.is_some() || self.playing.is_some() {
                    let st = error_status(
                        StatusCode::PublishBadName,
                        "already publishing or playing on this connection",
                    );
                    return self.out.command(stream_id, st.on_status_body());
                }
                let name = p.name().to_owned();
                let query = p.query().map(str::to_owned);
                self.publishing = Some(Active {
                    stream_id,
                    accepted: false,
                });
                let req = self.new_request(Pending::Publish {
                    stream_id,
                    name: name.clone(),
                });
                self.events.push_back(ServerEvent::PublishRequested {
                    req,
                    stream_id,
                    name,
                    query,
                    kind: p.publish_type,
                });
            }
            Command::Play(p) => {
                self.check_stream("play", stream_id)?;
                if self.publishing.is_some() || self.playing.is_some() {
                    let st = error_status(
                        StatusCode::Other("NetStream.Play.Failed".into()),
                        "already publishing or playing on this connection",
                    );
                    return self.out.command(stream_id, st.on_status_body());
                }
                let reset = p.reset.unwrap_or(false);
                self.playing = Some(Active {
                    stream_id,
                    accepted: false,
                });
                let req = self.new_request(Pending::Play { stream_id, reset });
                self.events.push_back(ServerEvent::PlayRequested {
                    req,
                    stream_id,
                    name: p.name().to_owned(),
                    query: p.query().map(str::to_owned),
                    start: p.start.unwrap_or(-2.0),
                    duration: p.duration.unwrap_or(-1.0),
                    reset,
                });
            }
            Command::Pause { pause, .. } => {
                if let Some(id) = self.play_stream_id().filter(|&id| id == stream_id) {
                    self.events.push_back(ServerEvent::Paused {
                        stream_id: id,
                        paused: pause,
                    });
                    let code = if pause {
                        "NetStream.Pause.Notify"
                    } else {
                        "NetStream.Unpause.Notify"
                    };
                    let st = Status::new(StatusCode::Other(code.into()), "");
                    self.out.command(id, st.on_status_body())?;
                }
            }
            Command::ReceiveAudio { enabled, .. } => self.receive_audio = enabled,
            Command::ReceiveVideo { enabled, .. } => self.receive_video = enabled,
            // Answers and statuses from a client: nothing to do.
            Command::Response(_) | Command::OnStatus { .. } => {}
            Command::Unknown(g) => self.on_unknown(&g)?,
            // Command is non-exhaustive within the crate too: treat new
            // variants like unknown commands.
            #[allow(unreachable_patterns)]
            _ => {}
        }
        Ok(())
    }

    fn on_connect(&mut self, c: Connect) -> Result<(), Error> {
        if self.connect != ConnectState::Idle {
            return Err(out_of_order("connect", "second connect on the connection"));
        }
        let (app, app_query) = split_query(&c.app);
        let query = app_query.or_else(|| {
            c.tc_url
                .as_deref()
                .and_then(|u| u.split_once('?'))
                .map(|(_, q)| q.to_owned())
        });
        self.connect = ConnectState::Pending;
        let req = self.new_request(Pending::Connect {
            transaction_id: c.transaction_id,
            object_encoding: c.object_encoding.unwrap_or(0.0),
        });
        self.events.push_back(ServerEvent::ConnectRequested {
            req,
            app,
            tc_url: c.tc_url,
            query,
        });
        Ok(())
    }

    fn on_unknown(&mut self, g: &GenericCommand) -> Result<(), Error> {
        // 7.2: a transaction id of 0 means no answer is expected.
        if IGNORED.contains(&g.name.as_str()) || g.transaction_id == 0.0 {
            return Ok(());
        }
        let st = error_status(
            StatusCode::Other("NetConnection.Call.Failed".into()),
            "unknown command",
        );
        self.reply(Response::error(g.transaction_id, &st))
    }

    /// Ends the publish or play on `stream_id`, if any, with its event and
    /// (for a publish) onStatus NetStream.Unpublish.Success as nginx-rtmp
    /// sends it. An accepted one ending re-arms the handshake deadline.
    pub(super) fn end_stream(&mut self, stream_id: u32) -> Result<(), Error> {
        let mut ended = false;
        if let Some(p) = self.publishing.filter(|p| p.stream_id == stream_id) {
            self.publishing = None;
            if p.accepted {
                ended = true;
                self.events
                    .push_back(ServerEvent::Unpublished { stream_id });
                let st = Status::from_code(StatusCode::UnpublishSuccess);
                self.out.command(stream_id, st.on_status_body())?;
            }
        }
        if let Some(p) = self.playing.filter(|p| p.stream_id == stream_id) {
            self.playing = None;
            if p.accepted {
                self.events
                    .push_back(ServerEvent::PlayStopped { stream_id });
                ended = true;
            }
        }
        if ended && self.publishing.is_none() && self.playing.is_none() {
            self.deadlines
                .idle_again(self.last_now, &self.config.timeouts);
        }
        Ok(())
    }

    /// The stream a command without a usable stream id most likely means.
    fn guess_stream(&self) -> Option<u32> {
        let active = self.publishing.or(self.playing).map(|a| a.stream_id);
        active.or(match self.streams.as_slice() {
            [only] => Some(*only),
            _ => None,
        })
    }

    fn check_stream(&self, command: &str, stream_id: u32) -> Result<(), Error> {
        if self.streams.contains(&stream_id) {
            Ok(())
        } else {
            Err(out_of_order(command, "on a message stream never created"))
        }
    }

    /// `_result` for a transaction, unless it is 0 (no answer expected).
    fn result(&mut self, transaction_id: f64, args: Vec<Amf0Value>) -> Result<(), Error> {
        if transaction_id == 0.0 {
            return Ok(());
        }
        self.reply(Response::result(transaction_id, args))
    }

    pub(super) fn reply(&mut self, r: Response) -> Result<(), Error> {
        self.out.command(0, r.encode())
    }
}
