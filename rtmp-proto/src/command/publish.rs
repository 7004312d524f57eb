//! `publish` (RTMP spec 7.2.2.6): `"publish"`, transaction id, null, the
//! publishing name, the publishing type.

use bytes::Bytes;
use flv_mux::amf0::Amf0Value;

use super::{body, GenericCommand};
use crate::error::Error;

/// The publishing type (7.2.2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishType {
    /// `live`: publish without recording.
    Live,
    /// `record`: publish and record to a new file.
    Record,
    /// `append`: publish and append to a recording.
    Append,
    /// Anything else, kept as sent.
    Other(String),
}

impl PublishType {
    fn parse(s: &str) -> Self {
        match s {
            "live" => PublishType::Live,
            "record" => PublishType::Record,
            "append" => PublishType::Append,
            other => PublishType::Other(other.to_owned()),
        }
    }

    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            PublishType::Live => "live",
            PublishType::Record => "record",
            PublishType::Append => "append",
            PublishType::Other(s) => s,
        }
    }
}

/// A decoded `publish`.
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    /// Transaction id (0 in practice).
    pub transaction_id: f64,
    /// The publishing name as sent, including any `?query` (stream keys,
    /// tokens).
    pub stream_name: String,
    /// The publishing type; a missing one reads as `live` (FMLE omits it).
    pub publish_type: PublishType,
}

impl Publish {
    /// The stream name without the query.
    pub fn name(&self) -> &str {
        split_query(&self.stream_name).0
    }

    /// The query after `?`, if any.
    pub fn query(&self) -> Option<&str> {
        split_query(&self.stream_name).1
    }

    pub(super) fn from_generic(g: &GenericCommand) -> Result<Self, Error> {
        Ok(Publish {
            transaction_id: g.transaction_id,
            stream_name: g.required_str(0, "missing publishing name")?,
            publish_type: g.str_arg(1).map_or(PublishType::Live, PublishType::parse),
        })
    }

    /// Encodes the command body.
    pub fn encode(&self) -> Bytes {
        body(
            "publish",
            self.transaction_id,
            [
                Amf0Value::string(self.stream_name.as_str()),
                Amf0Value::string(self.publish_type.as_str()),
            ],
        )
    }
}

/// Splits `name?query` at the first `?`.
pub(crate) fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((n, q)) => (n, Some(q)),
        None => (s, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use flv_mux::amf0::encode_to_bytes;

    #[test]
    fn decodes_with_query_and_default_type() {
        let b = encode_to_bytes(&[
            Amf0Value::string("publish"),
            Amf0Value::Number(5.0),
            Amf0Value::Null,
            Amf0Value::string("cap?key=abc&x=1"),
        ]);
        let Command::Publish(p) = Command::decode(&b).unwrap() else {
            panic!("not publish")
        };
        assert_eq!(p.name(), "cap");
        assert_eq!(p.query(), Some("key=abc&x=1"));
        assert_eq!(p.publish_type, PublishType::Live);
    }

    #[test]
    fn requires_a_name() {
        let b = encode_to_bytes(&[
            Amf0Value::string("publish"),
            Amf0Value::Number(5.0),
            Amf0Value::Null,
        ]);
        assert!(Command::decode(&b).is_err());
    }

    #[test]
    fn round_trips() {
        for t in [
            PublishType::Live,
            PublishType::Record,
            PublishType::Append,
            PublishType::Other("appendWithGap".into()),
        ] {
            let p = Publish {
                transaction_id: 0.0,
                stream_name: "s".into(),
                publish_type: t,
            };
            assert_eq!(Command::decode(&p.encode()).unwrap(), Command::Publish(p));
        }
    }
}
