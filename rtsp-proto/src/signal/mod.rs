//! RTSP signalling: messages, `$` interleaving, Transport, SDP, authentication and the
//! server session state machine.

mod error;
mod framing;
mod headers;
mod message;

pub use error::{ParseError, SessionError};
pub use framing::{encode_interleaved, read_incoming, Incoming, INTERLEAVED_MAGIC};
pub use headers::Headers;
pub use message::{
    parse_message, reason_phrase, Limits, Message, Method, Request, Response, RTSP_VERSION,
};
mod range;
mod rtp_info;
mod transport;
mod url;
pub use range::{NptTime, Range};
pub use rtp_info::{RtpInfo, RtpInfoEntry};
pub use transport::{LowerTransport, Transport, TransportMode};
pub use url::RtspUrl;
pub mod sdp;
pub use sdp::{describe_sdp, DescribeOptions, MediaInfo, MediaKind, Sdp, SdpCodec};
mod auth;
pub use auth::{derive_nonce, AuthError, Authenticator, Credentials};
