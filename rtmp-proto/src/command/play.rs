//! `play` (RTMP spec 7.2.2.1): `"play"`, transaction id, null, stream name,
//! then the optional start, duration and reset.

use bytes::Bytes;
use flv_mux::amf0::Amf0Value;

use super::publish::split_query;
use super::{body, GenericCommand};
use crate::error::Error;

/// A decoded `play`.
#[derive(Debug, Clone, PartialEq)]
pub struct Play {
    /// Transaction id (0 in practice).
    pub transaction_id: f64,
    /// The stream name as sent, including any `?query`.
    pub stream_name: String,
    /// Start: -2 (live, else recorded; the default), -1 (live only), or a
    /// position in seconds. `None` when not sent.
    pub start: Option<f64>,
    /// Duration: -1 (until the end; the default), 0 (one frame) or seconds.
    pub duration: Option<f64>,
    /// Whether to flush previous playlists.
    pub reset: Option<bool>,
}

impl Play {
    /// A live play of `stream_name` with defaults left out.
    pub fn new(stream_name: impl Into<String>) -> Self {
        Play {
            transaction_id: 0.0,
            stream_name: stream_name.into(),
            start: None,
            duration: None,
            reset: None,
        }
    }

    /// The stream name without the query.
    pub fn name(&self) -> &str {
        split_query(&self.stream_name).0
    }

    /// The query after `?`, if any.
    pub fn query(&self) -> Option<&str> {
        split_query(&self.stream_name).1
    }

    pub(super) fn from_generic(g: &GenericCommand) -> Result<Self, Error> {
        Ok(Play {
            transaction_id: g.transaction_id,
            stream_name: g.required_str(0, "missing stream name")?,
            start: g.num_arg(1),
            duration: g.num_arg(2),
            reset: g.bool_arg(3),
        })
    }

    /// Encodes the command body (optional fields up to the last one set;
    /// earlier unset ones are written as their defaults).
    pub fn encode(&self) -> Bytes {
        let mut args = vec![Amf0Value::string(self.stream_name.as_str())];
        if self.start.is_some() || self.duration.is_some() || self.reset.is_some() {
            args.push(Amf0Value::Number(self.start.unwrap_or(-2.0)));
        }
        if self.duration.is_some() || self.reset.is_some() {
            args.push(Amf0Value::Number(self.duration.unwrap_or(-1.0)));
        }
        if let Some(r) = self.reset {
            args.push(Amf0Value::Boolean(r));
        }
        body("play", self.transaction_id, args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use flv_mux::amf0::encode_to_bytes;

    #[test]
    fn decodes_rtmpdump_play() {
        // rtmpdump sends: "play", 0, null, "cap2", -1000 (start in ms).
        let b = encode_to_bytes(&[
            Amf0Value::string("play"),
            Amf0Value::Number(0.0),
            Amf0Value::Null,
            Amf0Value::string("cap2?token=t"),
            Amf0Value::Number(-1000.0),
        ]);
        let Command::Play(p) = Command::decode(&b).unwrap() else {
            panic!("not play")
        };
        assert_eq!((p.name(), p.query()), ("cap2", Some("token=t")));
        assert_eq!((p.start, p.duration, p.reset), (Some(-1000.0), None, None));
    }

    #[test]
    fn round_trips() {
        let mut p = Play::new("s");
        assert_eq!(
            Command::decode(&p.encode()).unwrap(),
            Command::Play(p.clone())
        );
        p.start = Some(-2.0);
        p.duration = Some(-1.0);
        p.reset = Some(true);
        assert_eq!(Command::decode(&p.encode()).unwrap(), Command::Play(p));
    }
}
