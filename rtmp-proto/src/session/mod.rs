//! Sans-IO RTMP sessions: [`ServerSession`] and [`ClientSession`].
//!
//! Modelled on quinn-proto and str0m: the caller feeds received bytes to
//! `handle_input` with the current `Instant`, then drains `poll_event` (what
//! happened) and `poll_transmit` (bytes to write, in order), and sleeps
//! until `poll_timeout`, when it calls `handle_timeout(now)`. Nothing here
//! reads a clock, opens a socket or draws random numbers; time comes in as
//! `now` arguments and the handshake's randomness through
//! [`HandshakeParams`](crate::HandshakeParams).
//!
//! - [`server`]: the server side, answering everything ffmpeg, OBS,
//!   GStreamer and librtmp send, and asking the application (through
//!   [`ServerEvent`]s carrying a [`RequestId`]) only for policy: accept or
//!   reject a connect, a publish, a play, with one
//!   [`respond`](ServerSession::respond) call taking a [`Decision`].
//! - [`client`]: the client side (tests, benchmarks, relays).
//! - [`shared`]: [`encode_media`], one chunk encoding of a media message that
//!   every player of a stream can receive unchanged (fan-out without copies).
//!
//! Chunk stream ids (spec 5.3.1.1 leaves the choice to the sender; these
//! are the ones ffmpeg and nginx-rtmp use, so captures look familiar):
//! [`CSID_CONTROL`] 2, [`CSID_COMMAND`] 3, [`CSID_AUDIO`] 4, [`CSID_DATA`] 5,
//! [`CSID_VIDEO`] 6. A server session's own encoder only ever writes on 2
//! and 3; 4, 5 and 6 carry only [`encode_media`] output, whose first chunk
//! is always a full fmt 0 header, so shared bytes and per-session bytes can
//! be interleaved freely.

pub mod client;
mod metadata;
mod outbox;
pub mod server;
pub mod shared;

pub use client::{
    ClientConfig, ClientEvent, ClientMode, ClientSession, ClientTimeout, ClientTimeouts,
};
pub use server::{
    Decision, RequestId, ServerConfig, ServerEvent, ServerSession, ServerTimeouts, Timeout,
};
pub use shared::{encode_media, encode_media_parts, MediaChannel};

use crate::message::MessageType;

/// Chunk stream of protocol and user control messages (spec 5.4, 6.2).
pub const CSID_CONTROL: u32 = crate::message::CONTROL_CSID;
/// Chunk stream of command messages (connect, onStatus, `_result`, …).
pub const CSID_COMMAND: u32 = 3;
/// Chunk stream of audio messages.
pub const CSID_AUDIO: u32 = 4;
/// Chunk stream of data messages (`onMetaData`, `|RtmpSampleAccess`).
pub const CSID_DATA: u32 = 5;
/// Chunk stream of video messages.
pub const CSID_VIDEO: u32 = 6;

/// Audio or video: the two media message types (spec 7.1.4, 7.1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Type 8: an FLV audio tag body.
    Audio,
    /// Type 9: an FLV video tag body.
    Video,
}

impl MediaKind {
    /// The message type id (8 or 9).
    pub fn type_id(self) -> u8 {
        match self {
            MediaKind::Audio => MessageType::Audio.into(),
            MediaKind::Video => MessageType::Video.into(),
        }
    }

    /// The kind of a message type id, if it is 8 or 9.
    pub fn from_type_id(type_id: u8) -> Option<Self> {
        match MessageType::from(type_id) {
            MessageType::Audio => Some(MediaKind::Audio),
            MessageType::Video => Some(MediaKind::Video),
            _ => None,
        }
    }
}

/// Converts an AMF0 number to a message stream id, if it is one.
fn stream_id_from_f64(v: f64) -> Option<u32> {
    (v.is_finite() && v >= 0.0 && v <= f64::from(u32::MAX) && v.fract() == 0.0).then_some(v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_kinds_map_to_type_ids() {
        for k in [MediaKind::Audio, MediaKind::Video] {
            assert_eq!(MediaKind::from_type_id(k.type_id()), Some(k));
        }
        assert_eq!(MediaKind::from_type_id(18), None);
    }

    #[test]
    fn stream_ids_from_numbers() {
        assert_eq!(stream_id_from_f64(1.0), Some(1));
        assert_eq!(stream_id_from_f64(-1.0), None);
        assert_eq!(stream_id_from_f64(1.5), None);
        assert_eq!(stream_id_from_f64(f64::NAN), None);
        assert_eq!(stream_id_from_f64(5e9), None);
    }
}
