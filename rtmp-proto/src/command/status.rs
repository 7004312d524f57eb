//! `onStatus` info objects (RTMP spec 7.2.2): level, code, description.

use bytes::Bytes;
use flv_mux::amf0::{Amf0Value, Properties};

use super::body;

/// The `level` of an info object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusLevel {
    /// `status`
    Status,
    /// `warning`
    Warning,
    /// `error`
    Error,
}

impl StatusLevel {
    /// The wire string.
    pub fn as_str(&self) -> &'static str {
        match self {
            StatusLevel::Status => "status",
            StatusLevel::Warning => "warning",
            StatusLevel::Error => "error",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "error" => StatusLevel::Error,
            "warning" => StatusLevel::Warning,
            _ => StatusLevel::Status,
        }
    }
}

/// Status codes a server sends (names as Flash Media Server defined them).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusCode {
    /// `NetStream.Publish.Start`
    PublishStart,
    /// `NetStream.Publish.BadName` (e.g. already publishing)
    PublishBadName,
    /// `NetStream.Play.Start`
    PlayStart,
    /// `NetStream.Play.Reset`
    PlayReset,
    /// `NetStream.Play.StreamNotFound`
    PlayStreamNotFound,
    /// `NetStream.Play.UnpublishNotify` (the publisher went away)
    PlayUnpublishNotify,
    /// `NetStream.Unpublish.Success`
    UnpublishSuccess,
    /// `NetConnection.Connect.Success`
    ConnectSuccess,
    /// `NetConnection.Connect.Rejected`
    ConnectRejected,
    /// Any other code, kept as sent.
    Other(String),
}

impl StatusCode {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            StatusCode::PublishStart => "NetStream.Publish.Start",
            StatusCode::PublishBadName => "NetStream.Publish.BadName",
            StatusCode::PlayStart => "NetStream.Play.Start",
            StatusCode::PlayReset => "NetStream.Play.Reset",
            StatusCode::PlayStreamNotFound => "NetStream.Play.StreamNotFound",
            StatusCode::PlayUnpublishNotify => "NetStream.Play.UnpublishNotify",
            StatusCode::UnpublishSuccess => "NetStream.Unpublish.Success",
            StatusCode::ConnectSuccess => "NetConnection.Connect.Success",
            StatusCode::ConnectRejected => "NetConnection.Connect.Rejected",
            StatusCode::Other(s) => s,
        }
    }

    /// Parses a wire string.
    pub fn parse(s: &str) -> Self {
        [
            StatusCode::PublishStart,
            StatusCode::PublishBadName,
            StatusCode::PlayStart,
            StatusCode::PlayReset,
            StatusCode::PlayStreamNotFound,
            StatusCode::PlayUnpublishNotify,
            StatusCode::UnpublishSuccess,
            StatusCode::ConnectSuccess,
            StatusCode::ConnectRejected,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
        .unwrap_or_else(|| StatusCode::Other(s.to_owned()))
    }

    /// The level this code is sent with.
    pub fn level(&self) -> StatusLevel {
        match self {
            StatusCode::PublishBadName
            | StatusCode::PlayStreamNotFound
            | StatusCode::ConnectRejected => StatusLevel::Error,
            _ => StatusLevel::Status,
        }
    }

    /// A default human-readable description.
    pub fn description(&self) -> &'static str {
        match self {
            StatusCode::PublishStart => "Start publishing",
            StatusCode::PublishBadName => "Already publishing",
            StatusCode::PlayStart => "Start live",
            StatusCode::PlayReset => "Playing and resetting",
            StatusCode::PlayStreamNotFound => "No such stream",
            StatusCode::PlayUnpublishNotify => "Stream unpublished",
            StatusCode::UnpublishSuccess => "Stop publishing",
            StatusCode::ConnectSuccess => "Connection succeeded.",
            StatusCode::ConnectRejected => "Connection rejected.",
            StatusCode::Other(_) => "",
        }
    }
}

/// An info object.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// `level`
    pub level: StatusLevel,
    /// `code`
    pub code: StatusCode,
    /// `description`
    pub description: String,
    /// Other properties (e.g. `details`, `clientid`, `objectEncoding`).
    pub extra: Properties,
}

impl Status {
    /// A status with the code's usual level and `description`.
    pub fn new(code: StatusCode, description: impl Into<String>) -> Self {
        Status {
            level: code.level(),
            code,
            description: description.into(),
            extra: Vec::new(),
        }
    }

    /// A status with the code's usual level and default description.
    pub fn from_code(code: StatusCode) -> Self {
        let d = code.description();
        Status::new(code, d)
    }

    /// Adds a property (builder style).
    pub fn with(mut self, key: impl Into<String>, value: Amf0Value) -> Self {
        self.extra.push((key.into(), value));
        self
    }

    /// The info object as an AMF0 object.
    pub fn to_amf(&self) -> Amf0Value {
        let mut props: Properties = vec![
            ("level".into(), Amf0Value::string(self.level.as_str())),
            ("code".into(), Amf0Value::string(self.code.as_str())),
            (
                "description".into(),
                Amf0Value::string(self.description.as_str()),
            ),
        ];
        props.extend(self.extra.iter().cloned());
        Amf0Value::Object(props)
    }

    /// Reads an info object; `None` if it is not an object with a `code`.
    pub fn from_amf(v: &Amf0Value) -> Option<Self> {
        let props = v.properties()?;
        let mut code = None;
        let mut level = StatusLevel::Status;
        let mut description = String::new();
        let mut extra = Vec::new();
        for (k, v) in props {
            match (k.as_str(), v.as_str()) {
                ("code", Some(s)) => code = Some(StatusCode::parse(s)),
                ("level", Some(s)) => level = StatusLevel::parse(s),
                ("description", Some(s)) => description = s.to_owned(),
                _ => extra.push((k.clone(), v.clone())),
            }
        }
        Some(Status {
            level,
            code: code?,
            description,
            extra,
        })
    }

    /// The `onStatus` command body (transaction id 0, null command object),
    /// sent on the message stream it concerns.
    pub fn on_status_body(&self) -> Bytes {
        body("onStatus", 0.0, [self.to_amf()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;

    #[test]
    fn all_codes_parse_back() {
        for code in [
            StatusCode::PublishStart,
            StatusCode::PublishBadName,
            StatusCode::PlayStart,
            StatusCode::PlayReset,
            StatusCode::PlayStreamNotFound,
            StatusCode::PlayUnpublishNotify,
            StatusCode::UnpublishSuccess,
            StatusCode::ConnectSuccess,
            StatusCode::ConnectRejected,
            StatusCode::Other("NetStream.Data.Start".into()),
        ] {
            assert_eq!(StatusCode::parse(code.as_str()), code);
        }
        assert_eq!(StatusCode::PublishBadName.level(), StatusLevel::Error);
    }

    #[test]
    fn on_status_round_trips() {
        let s =
            Status::from_code(StatusCode::PublishStart).with("details", Amf0Value::string("cap"));
        let Command::OnStatus { status, .. } = Command::decode(&s.on_status_body()).unwrap() else {
            panic!("not onStatus")
        };
        assert_eq!(status, s);
        assert_eq!(status.description, "Start publishing");
    }
}
