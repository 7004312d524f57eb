//! NetConnection and NetStream commands (RTMP spec 7.2) and the data
//! messages a server relays, typed over flv-mux's AMF0 codec.
//!
//! A command message body (type 20) is a run of AMF0 values: the command
//! name, a transaction id, a command object (often null), then arguments.
//! [`Command::decode`] gives each command strom handles its own variant and
//! keeps anything else as [`Command::Unknown`]; [`Command::encode`] writes it
//! back. Builders for the server's answers live in [`response`] (`_result`,
//! `_error`) and [`status`] (`onStatus` and its codes); [`data`] covers
//! `@setDataFrame` / `onMetaData` / `|RtmpSampleAccess`.
//!
//! Decoding is lenient where clients differ (a missing transaction id reads
//! as 0, a missing publish type as `live`) and strict where a session
//! cannot go on without the field (the `app` of connect, the stream name of
//! publish and play).

pub mod connect;
pub mod data;
pub mod play;
pub mod publish;
pub mod response;
pub mod status;

pub use connect::Connect;
pub use data::DataMessage;
pub use play::Play;
pub use publish::{Publish, PublishType};
pub use response::{Response, ResponseKind};
pub use status::{Status, StatusCode, StatusLevel};

use bytes::Bytes;
use flv_mux::amf0::{decode_all, encode_to_bytes, Amf0Value};

use crate::error::{Error, Malformed, Unsupported, Violation};
use crate::message::{Message, MessageType};

/// A decoded command message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Command {
    /// `connect` (7.2.1.1).
    Connect(Connect),
    /// `releaseStream` (FMLE, ffmpeg, OBS before publish).
    ReleaseStream(StreamName),
    /// `FCPublish` (FMLE, ffmpeg, OBS before publish).
    FcPublish(StreamName),
    /// `FCUnpublish` (FMLE, ffmpeg, OBS after publishing).
    FcUnpublish(StreamName),
    /// `getStreamLength` (some players before play).
    GetStreamLength(StreamName),
    /// `createStream` (7.2.1.3).
    CreateStream {
        /// Transaction id, echoed by the `_result`.
        transaction_id: f64,
    },
    /// `deleteStream` (7.2.2.3).
    DeleteStream {
        /// Transaction id (usually 0).
        transaction_id: f64,
        /// The message stream to delete. `None` when the argument is not a
        /// number: GStreamer 1.22's rtmp2sink sends the stream *name* there;
        /// take the message stream the command arrived on.
        stream_id: Option<f64>,
    },
    /// `closeStream` (sent on the stream being closed).
    CloseStream {
        /// Transaction id (usually 0).
        transaction_id: f64,
    },
    /// `publish` (7.2.2.6).
    Publish(Publish),
    /// `play` (7.2.2.1).
    Play(Play),
    /// `pause` (7.2.2.8).
    Pause {
        /// Transaction id (usually 0).
        transaction_id: f64,
        /// `true` to pause, `false` to resume.
        pause: bool,
        /// Stream time at which the stream is paused or resumed.
        milliseconds: f64,
    },
    /// `receiveAudio` (7.2.2.4).
    ReceiveAudio {
        /// Transaction id (usually 0).
        transaction_id: f64,
        /// Whether to send audio.
        enabled: bool,
    },
    /// `receiveVideo` (7.2.2.5).
    ReceiveVideo {
        /// Transaction id (usually 0).
        transaction_id: f64,
        /// Whether to send video.
        enabled: bool,
    },
    /// `_checkbw` (FMLE's bandwidth check; answered with `_result` or ignored).
    CheckBw {
        /// Transaction id.
        transaction_id: f64,
    },
    /// `_result` or `_error` (client side).
    Response(Response),
    /// `onStatus` (client side).
    OnStatus {
        /// Transaction id (0).
        transaction_id: f64,
        /// The info object.
        status: Status,
    },
    /// Any other command, kept generically.
    Unknown(GenericCommand),
}

/// Body of the commands that only carry a stream name after a null command
/// object: `releaseStream`, `FCPublish`, `FCUnpublish`, `getStreamLength`.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamName {
    /// Transaction id.
    pub transaction_id: f64,
    /// The stream name (may carry a `?query`).
    pub stream_name: String,
}

/// A command as its raw AMF0 parts.
#[derive(Debug, Clone, PartialEq)]
pub struct GenericCommand {
    /// Command name.
    pub name: String,
    /// Transaction id.
    pub transaction_id: f64,
    /// Command object (null when absent).
    pub command_object: Amf0Value,
    /// Further arguments.
    pub args: Vec<Amf0Value>,
}

impl GenericCommand {
    /// Splits a command body into its parts.
    ///
    /// # Errors
    /// A body that is not AMF0 ([`Malformed::Command`]) or whose first value
    /// is not a string ([`Violation::Command`]).
    pub fn decode(body: &[u8]) -> Result<Self, Error> {
        let values = decode_all(body).map_err(|e| Malformed::Command(e.to_string()))?;
        let mut it = values.into_iter();
        let name = match it.next() {
            Some(Amf0Value::String(s)) | Some(Amf0Value::LongString(s)) => s,
            _ => {
                return Err(Violation::Command {
                    name: String::new(),
                    reason: "first value is not the command name",
                }
                .into())
            }
        };
        let transaction_id = it.next().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let command_object = it.next().unwrap_or(Amf0Value::Null);
        Ok(GenericCommand {
            name,
            transaction_id,
            command_object,
            args: it.collect(),
        })
    }

    /// Encodes the parts back into a command body.
    pub fn encode(&self) -> Bytes {
        let mut values = Vec::with_capacity(3 + self.args.len());
        values.push(Amf0Value::string(self.name.as_str()));
        values.push(Amf0Value::Number(self.transaction_id));
        values.push(self.command_object.clone());
        values.extend(self.args.iter().cloned());
        encode_to_bytes(&values)
    }

    fn violation(&self, reason: &'static str) -> Error {
        Violation::Command {
            name: self.name.clone(),
            reason,
        }
        .into()
    }

    /// Argument `i` as a string.
    fn str_arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).and_then(Amf0Value::as_str)
    }

    fn num_arg(&self, i: usize) -> Option<f64> {
        self.args.get(i).and_then(Amf0Value::as_f64)
    }

    fn bool_arg(&self, i: usize) -> Option<bool> {
        self.args.get(i).and_then(Amf0Value::as_bool)
    }

    fn required_str(&self, i: usize, reason: &'static str) -> Result<String, Error> {
        self.str_arg(i)
            .map(str::to_owned)
            .ok_or_else(|| self.violation(reason))
    }

    fn stream_name(&self) -> Result<StreamName, Error> {
        Ok(StreamName {
            transaction_id: self.transaction_id,
            stream_name: self.required_str(0, "missing stream name")?,
        })
    }
}

/// A body of `name`, `transaction_id`, null, then `args`.
fn body(name: &str, transaction_id: f64, args: impl IntoIterator<Item = Amf0Value>) -> Bytes {
    let mut values = vec![
        Amf0Value::string(name),
        Amf0Value::Number(transaction_id),
        Amf0Value::Null,
    ];
    values.extend(args);
    encode_to_bytes(&values)
}

impl Command {
    /// Decodes an AMF0 command body (a type 20 message payload).
    ///
    /// # Errors
    /// Not AMF0 ([`Malformed::Command`]), or a known command without a
    /// field the session needs ([`Violation::Command`]).
    pub fn decode(body: &[u8]) -> Result<Self, Error> {
        let g = GenericCommand::decode(body)?;
        let tid = g.transaction_id;
        Ok(match g.name.as_str() {
            "connect" => Command::Connect(Connect::from_generic(&g)?),
            "releaseStream" => Command::ReleaseStream(g.stream_name()?),
            "FCPublish" => Command::FcPublish(g.stream_name()?),
            "FCUnpublish" => Command::FcUnpublish(g.stream_name()?),
            "getStreamLength" => Command::GetStreamLength(g.stream_name()?),
            "createStream" => Command::CreateStream {
                transaction_id: tid,
            },
            "deleteStream" => Command::DeleteStream {
                transaction_id: tid,
                stream_id: g.num_arg(0),
            },
            "closeStream" => Command::CloseStream {
                transaction_id: tid,
            },
            "publish" => Command::Publish(Publish::from_generic(&g)?),
            "play" => Command::Play(Play::from_generic(&g)?),
            "pause" => Command::Pause {
                transaction_id: tid,
                pause: g
                    .bool_arg(0)
                    .ok_or_else(|| g.violation("missing pause flag"))?,
                milliseconds: g.num_arg(1).unwrap_or(0.0),
            },
            "receiveAudio" | "receiveVideo" => {
                let enabled = g.bool_arg(0).ok_or_else(|| g.violation("missing flag"))?;
                if g.name == "receiveAudio" {
                    Command::ReceiveAudio {
                        transaction_id: tid,
                        enabled,
                    }
                } else {
                    Command::ReceiveVideo {
                        transaction_id: tid,
                        enabled,
                    }
                }
            }
            "_checkbw" => Command::CheckBw {
                transaction_id: tid,
            },
            "_result" | "_error" => Command::Response(Response::from_generic(g)),
            "onStatus" => Command::OnStatus {
                transaction_id: tid,
                status: g
                    .args
                    .first()
                    .and_then(Status::from_amf)
                    .ok_or_else(|| g.violation("missing info object"))?,
            },
            _ => Command::Unknown(g),
        })
    }

    /// Decodes the command in a message of type 20 (AMF0) or 17 (AMF3 command
    /// messages start with a 0 format byte, then AMF0 values in practice).
    ///
    /// # Errors
    /// As [`Command::decode`]; another message type is
    /// [`Unsupported::MessageType`].
    pub fn decode_message(msg: &Message) -> Result<Self, Error> {
        match msg.message_type() {
            MessageType::CommandAmf0 => Command::decode(&msg.payload),
            MessageType::CommandAmf3 => match msg.payload.split_first() {
                Some((0, rest)) => Command::decode(rest),
                _ => Err(Unsupported::MessageType(msg.type_id).into()),
            },
            _ => Err(Unsupported::MessageType(msg.type_id).into()),
        }
    }

    /// Encodes the command as an AMF0 command body.
    pub fn encode(&self) -> Bytes {
        let b = Amf0Value::Boolean;
        let n = Amf0Value::Number;
        match self {
            Command::Connect(c) => c.encode(),
            Command::ReleaseStream(s) => stream_name_body("releaseStream", s),
            Command::FcPublish(s) => stream_name_body("FCPublish", s),
            Command::FcUnpublish(s) => stream_name_body("FCUnpublish", s),
            Command::GetStreamLength(s) => stream_name_body("getStreamLength", s),
            Command::CreateStream { transaction_id } => body("createStream", *transaction_id, []),
            Command::DeleteStream {
                transaction_id,
                stream_id,
            } => body(
                "deleteStream",
                *transaction_id,
                [stream_id.map_or(Amf0Value::Null, n)],
            ),
            Command::CloseStream { transaction_id } => body("closeStream", *transaction_id, []),
            Command::Publish(p) => p.encode(),
            Command::Play(p) => p.encode(),
            Command::Pause {
                transaction_id,
                pause,
                milliseconds,
            } => body("pause", *transaction_id, [b(*pause), n(*milliseconds)]),
            Command::ReceiveAudio {
                transaction_id,
                enabled,
            } => body("receiveAudio", *transaction_id, [b(*enabled)]),
            Command::ReceiveVideo {
                transaction_id,
                enabled,
            } => body("receiveVideo", *transaction_id, [b(*enabled)]),
            Command::CheckBw { transaction_id } => body("_checkbw", *transaction_id, []),
            Command::Response(r) => r.encode(),
            Command::OnStatus {
                transaction_id,
                status,
            } => body("onStatus", *transaction_id, [status.to_amf()]),
            Command::Unknown(g) => g.encode(),
        }
    }

    /// The command name.
    pub fn name(&self) -> &str {
        match self {
            Command::Connect(_) => "connect",
            Command::ReleaseStream(_) => "releaseStream",
            Command::FcPublish(_) => "FCPublish",
            Command::FcUnpublish(_) => "FCUnpublish",
            Command::GetStreamLength(_) => "getStreamLength",
            Command::CreateStream { .. } => "createStream",
            Command::DeleteStream { .. } => "deleteStream",
            Command::CloseStream { .. } => "closeStream",
            Command::Publish(_) => "publish",
            Command::Play(_) => "play",
            Command::Pause { .. } => "pause",
            Command::ReceiveAudio { .. } => "receiveAudio",
            Command::ReceiveVideo { .. } => "receiveVideo",
            Command::CheckBw { .. } => "_checkbw",
            Command::Response(r) => r.kind.name(),
            Command::OnStatus { .. } => "onStatus",
            Command::Unknown(g) => &g.name,
        }
    }
}

fn stream_name_body(name: &str, s: &StreamName) -> Bytes {
    body(
        name,
        s.transaction_id,
        [Amf0Value::string(s.stream_name.as_str())],
    )
}

/// Wraps an AMF0 command body in a type 20 message.
pub fn command_message(csid: u32, stream_id: u32, body: Bytes) -> Message {
    Message {
        csid,
        timestamp: 0,
        type_id: MessageType::CommandAmf0.into(),
        stream_id,
        payload: body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(c: Command) {
        let back = Command::decode(&c.encode()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.name(), c.name());
    }

    #[test]
    fn stream_commands_round_trip() {
        let sn = |name: &str| StreamName {
            transaction_id: 4.0,
            stream_name: name.into(),
        };
        round_trip(Command::ReleaseStream(sn("cap")));
        round_trip(Command::FcPublish(sn("cap?key=1")));
        round_trip(Command::FcUnpublish(sn("cap")));
        round_trip(Command::GetStreamLength(sn("cap")));
        round_trip(Command::CreateStream {
            transaction_id: 4.0,
        });
        round_trip(Command::DeleteStream {
            transaction_id: 0.0,
            stream_id: Some(1.0),
        });
        round_trip(Command::DeleteStream {
            transaction_id: 0.0,
            stream_id: None,
        });
        round_trip(Command::CloseStream {
            transaction_id: 0.0,
        });
        round_trip(Command::Pause {
            transaction_id: 0.0,
            pause: true,
            milliseconds: 1234.0,
        });
        round_trip(Command::ReceiveAudio {
            transaction_id: 0.0,
            enabled: false,
        });
        round_trip(Command::ReceiveVideo {
            transaction_id: 0.0,
            enabled: true,
        });
        round_trip(Command::CheckBw {
            transaction_id: 3.0,
        });
        round_trip(Command::Unknown(GenericCommand {
            name: "setDataFrame2".into(),
            transaction_id: 0.0,
            command_object: Amf0Value::Null,
            args: vec![Amf0Value::Number(1.0)],
        }));
    }

    #[test]
    fn byte_vector_release_stream() {
        // From the ffmpeg publish capture.
        #[rustfmt::skip]
        let b = [
            0x02, 0, 13, b'r', b'e', b'l', b'e', b'a', b's', b'e', b'S', b't', b'r', b'e', b'a', b'm',
            0x00, 0x40, 0, 0, 0, 0, 0, 0, 0, 0x05, 0x02, 0, 3, b'c', b'a', b'p',
        ];
        assert_eq!(
            Command::decode(&b).unwrap(),
            Command::ReleaseStream(StreamName {
                transaction_id: 2.0,
                stream_name: "cap".into()
            })
        );
    }

    #[test]
    fn rejects_bad_bodies() {
        assert!(matches!(
            Command::decode(&[0x02, 0, 5, b'a']),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(
            Command::decode(&encode_to_bytes(&[Amf0Value::Number(1.0)])),
            Err(Error::Violation(_))
        ));
        assert!(matches!(
            Command::decode(&body("publish", 0.0, [])),
            Err(Error::Violation(Violation::Command { .. }))
        ));
        // GStreamer's deleteStream names the stream instead of its id.
        assert_eq!(
            Command::decode(&body("deleteStream", 0.0, [Amf0Value::string("gstcap")])).unwrap(),
            Command::DeleteStream {
                transaction_id: 0.0,
                stream_id: None
            }
        );
        assert!(Command::decode(&[]).is_err());
    }

    #[test]
    fn amf3_command_message_is_read() {
        let mut payload = vec![0u8];
        payload.extend_from_slice(&body("createStream", 2.0, []));
        let m = Message {
            csid: 3,
            timestamp: 0,
            type_id: 17,
            stream_id: 0,
            payload: payload.into(),
        };
        assert_eq!(
            Command::decode_message(&m).unwrap(),
            Command::CreateStream {
                transaction_id: 2.0
            }
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn typed_commands_round_trip(
            name in ".{0,40}",
            tid in 0u32..1000,
            start in proptest::option::of(-3000i32..100_000),
            reset in proptest::option::of(proptest::prelude::any::<bool>()),
        ) {
            let tid = f64::from(tid);
            // Play writes unset optional fields before a set one as their
            // defaults, so only prefixes of (start, duration, reset) round-trip.
            let start = start.map(f64::from);
            let (duration, reset) = match (start, reset) {
                (Some(_), Some(r)) => (Some(-1.0), Some(r)),
                _ => (None, None),
            };
            let cmds = [
                Command::Publish(Publish {
                    transaction_id: tid,
                    stream_name: name.clone(),
                    publish_type: PublishType::Record,
                }),
                Command::Play(Play {
                    transaction_id: tid,
                    stream_name: name.clone(),
                    start,
                    duration,
                    reset,
                }),
                Command::FcPublish(StreamName { transaction_id: tid, stream_name: name.clone() }),
                Command::Connect(Connect::new(name.clone(), format!("rtmp://h/{name}"))),
            ];
            for c in cmds {
                let back = Command::decode(&c.encode()).unwrap();
                proptest::prop_assert_eq!(back, c);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = Command::decode(&b);
            let _ = DataMessage::decode(&b);
        }
    }
}
