//! RTSP methods (RFC 2326 §10) and status reason phrases (§7.1.1).

use std::fmt;

/// An RTSP method (RFC 2326 §10); unknown extension methods are kept by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// OPTIONS (§10.1).
    Options,
    /// DESCRIBE (§10.2).
    Describe,
    /// ANNOUNCE (§10.3).
    Announce,
    /// SETUP (§10.4).
    Setup,
    /// PLAY (§10.5).
    Play,
    /// PAUSE (§10.6).
    Pause,
    /// TEARDOWN (§10.7).
    Teardown,
    /// GET_PARAMETER (§10.8).
    GetParameter,
    /// SET_PARAMETER (§10.9).
    SetParameter,
    /// RECORD (§10.11).
    Record,
    /// Any other method token (e.g. REDIRECT).
    Other(String),
}

impl Method {
    /// The method token as on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Options => "OPTIONS",
            Method::Describe => "DESCRIBE",
            Method::Announce => "ANNOUNCE",
            Method::Setup => "SETUP",
            Method::Play => "PLAY",
            Method::Pause => "PAUSE",
            Method::Teardown => "TEARDOWN",
            Method::GetParameter => "GET_PARAMETER",
            Method::SetParameter => "SET_PARAMETER",
            Method::Record => "RECORD",
            Method::Other(s) => s,
        }
    }

    /// The method for a token. Method names are case-sensitive (RFC 2326 §6.1).
    pub fn from_token(token: &str) -> Method {
        match token {
            "OPTIONS" => Method::Options,
            "DESCRIBE" => Method::Describe,
            "ANNOUNCE" => Method::Announce,
            "SETUP" => Method::Setup,
            "PLAY" => Method::Play,
            "PAUSE" => Method::Pause,
            "TEARDOWN" => Method::Teardown,
            "GET_PARAMETER" => Method::GetParameter,
            "SET_PARAMETER" => Method::SetParameter,
            "RECORD" => Method::Record,
            other => Method::Other(other.to_string()),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The reason phrase RFC 2326 §7.1.1 gives a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        250 => "Low on Storage Space",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Time-out",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        451 => "Parameter Not Understood",
        453 => "Not Enough Bandwidth",
        454 => "Session Not Found",
        455 => "Method Not Valid in This State",
        456 => "Header Field Not Valid for Resource",
        457 => "Invalid Range",
        459 => "Aggregate Operation Not Allowed",
        460 => "Only Aggregate Operation Allowed",
        461 => "Unsupported Transport",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "RTSP Version Not Supported",
        551 => "Option not supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for t in [
            "OPTIONS",
            "DESCRIBE",
            "ANNOUNCE",
            "SETUP",
            "PLAY",
            "PAUSE",
            "TEARDOWN",
            "GET_PARAMETER",
            "SET_PARAMETER",
            "RECORD",
            "REDIRECT",
        ] {
            assert_eq!(Method::from_token(t).as_str(), t);
        }
        assert_eq!(
            Method::from_token("play"),
            Method::Other("play".into()),
            "case-sensitive"
        );
        assert_eq!(reason_phrase(455), "Method Not Valid in This State");
    }
}
