//! `_result` and `_error` (RTMP spec 7.2.1.1, 7.2.1.3): the answer to a
//! command, carrying its transaction id.

use bytes::Bytes;
use flv_mux::amf0::Amf0Value;

use super::{GenericCommand, Status, StatusCode};

/// `_result` or `_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// `_result`
    Result,
    /// `_error`
    Error,
}

impl ResponseKind {
    /// The command name.
    pub fn name(self) -> &'static str {
        match self {
            ResponseKind::Result => "_result",
            ResponseKind::Error => "_error",
        }
    }
}

/// A `_result` / `_error` message.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Which of the two.
    pub kind: ResponseKind,
    /// The transaction id of the command answered.
    pub transaction_id: f64,
    /// Properties (connect: `fmsVer`, `capabilities`) or null.
    pub command_object: Amf0Value,
    /// The information (connect: an info object; createStream: the stream id).
    pub args: Vec<Amf0Value>,
}

/// `fmsVer` a connect `_result` reports. Clients only display it; some
/// (older Flash) check that it starts with `FMS/`.
const FMS_VER: &str = "FMS/3,0,1,123";

impl Response {
    pub(super) fn from_generic(g: GenericCommand) -> Self {
        Response {
            kind: if g.name == "_error" {
                ResponseKind::Error
            } else {
                ResponseKind::Result
            },
            transaction_id: g.transaction_id,
            command_object: g.command_object,
            args: g.args,
        }
    }

    /// A `_result` with a null command object.
    pub fn result(transaction_id: f64, args: Vec<Amf0Value>) -> Self {
        Response {
            kind: ResponseKind::Result,
            transaction_id,
            command_object: Amf0Value::Null,
            args,
        }
    }

    /// An `_error` carrying `status`.
    pub fn error(transaction_id: f64, status: &Status) -> Self {
        Response {
            kind: ResponseKind::Error,
            transaction_id,
            command_object: Amf0Value::Null,
            args: vec![status.to_amf()],
        }
    }

    /// The `_result` of a successful connect, echoing the client's
    /// `objectEncoding` (0 when it sent none).
    pub fn connect_success(transaction_id: f64, object_encoding: f64) -> Self {
        Response {
            kind: ResponseKind::Result,
            transaction_id,
            command_object: Amf0Value::object([
                ("fmsVer", Amf0Value::from(FMS_VER)),
                ("capabilities", Amf0Value::Number(31.0)),
            ]),
            args: vec![Status::from_code(StatusCode::ConnectSuccess)
                .with("objectEncoding", Amf0Value::Number(object_encoding))
                .to_amf()],
        }
    }

    /// The `_error` of a refused connect.
    pub fn connect_rejected(transaction_id: f64, description: impl Into<String>) -> Self {
        Response::error(
            transaction_id,
            &Status::new(StatusCode::ConnectRejected, description),
        )
    }

    /// The `_result` of createStream: the new message stream id.
    pub fn create_stream(transaction_id: f64, stream_id: u32) -> Self {
        Response::result(
            transaction_id,
            vec![Amf0Value::Number(f64::from(stream_id))],
        )
    }

    /// The first argument as an info object, if it is one.
    pub fn status(&self) -> Option<Status> {
        self.args.first().and_then(Status::from_amf)
    }

    /// The first argument as a number (createStream's stream id).
    pub fn stream_id(&self) -> Option<f64> {
        self.args.first().and_then(Amf0Value::as_f64)
    }

    /// Encodes the command body.
    pub fn encode(&self) -> Bytes {
        GenericCommand {
            name: self.kind.name().to_owned(),
            transaction_id: self.transaction_id,
            command_object: self.command_object.clone(),
            args: self.args.clone(),
        }
        .encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;

    #[test]
    fn builders_round_trip() {
        let all = [
            Response::connect_success(1.0, 0.0),
            Response::connect_rejected(1.0, "bad app"),
            Response::create_stream(4.0, 1),
            Response::error(5.0, &Status::from_code(StatusCode::PublishBadName)),
        ];
        for r in all {
            assert_eq!(Command::decode(&r.encode()).unwrap(), Command::Response(r));
        }
    }

    #[test]
    fn accessors() {
        let r = Response::connect_success(1.0, 3.0);
        let s = r.status().unwrap();
        assert_eq!(s.code, StatusCode::ConnectSuccess);
        assert_eq!(
            s.extra,
            vec![("objectEncoding".to_owned(), Amf0Value::Number(3.0))]
        );
        assert_eq!(Response::create_stream(2.0, 7).stream_id(), Some(7.0));
        let e = Response::connect_rejected(1.0, "no");
        assert_eq!(e.kind, ResponseKind::Error);
        assert_eq!(e.status().unwrap().code, StatusCode::ConnectRejected);
    }
}
