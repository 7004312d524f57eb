//! The RTMP message model (RTMP spec section 5.4, 6 and 7).
//!
//! A [`Message`] is what the chunk stream carries: a header (type id, stream
//! id, timestamp) and an opaque payload. The submodules give payloads their
//! meaning:
//!
//! - [`control`]: protocol control messages (types 1, 2, 3, 5, 6; spec 5.4);
//! - [`user_control`]: user control events (type 4; spec 6.2, 7.1.7);
//! - [`aggregate`]: splitting aggregate messages (type 22; spec 7.1.6);
//! - [`ack`]: when to send an Acknowledgement (spec 5.4.3, 5.4.4).

pub mod ack;
pub mod aggregate;
pub mod control;
pub mod user_control;

pub use ack::AckTracker;
pub use aggregate::{build_aggregate, split_aggregate, AGGREGATE_MAX_SUB_MESSAGES};
pub use control::{PeerBandwidthLimit, ProtocolControl};
pub use user_control::UserControl;

use bytes::Bytes;

/// One complete RTMP message as carried by a chunk stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Chunk stream id it arrived on / is to be sent on (2..=65599).
    pub csid: u32,
    /// Full 32-bit timestamp in milliseconds (extended timestamps applied,
    /// deltas accumulated with 32-bit wrap-around).
    pub timestamp: u32,
    /// Message type id (see [`MessageType`]).
    pub type_id: u8,
    /// Message stream id (0 for protocol control and NetConnection commands).
    pub stream_id: u32,
    /// The message body.
    pub payload: Bytes,
}

impl Message {
    /// The message type, decoded from [`type_id`](Self::type_id).
    pub fn message_type(&self) -> MessageType {
        MessageType::from(self.type_id)
    }
}

/// RTMP message type ids (spec 5.4 and 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// 1: Set Chunk Size.
    SetChunkSize,
    /// 2: Abort Message.
    Abort,
    /// 3: Acknowledgement.
    Acknowledgement,
    /// 4: User Control Message.
    UserControl,
    /// 5: Window Acknowledgement Size.
    WindowAckSize,
    /// 6: Set Peer Bandwidth.
    SetPeerBandwidth,
    /// 8: audio data (an FLV audio tag body).
    Audio,
    /// 9: video data (an FLV video tag body).
    Video,
    /// 15: data message, AMF3.
    DataAmf3,
    /// 16: shared object message, AMF3.
    SharedObjectAmf3,
    /// 17: command message, AMF3.
    CommandAmf3,
    /// 18: data message, AMF0 (e.g. `@setDataFrame`, `onMetaData`).
    DataAmf0,
    /// 19: shared object message, AMF0.
    SharedObjectAmf0,
    /// 20: command message, AMF0 (e.g. `connect`, `publish`).
    CommandAmf0,
    /// 22: aggregate message.
    Aggregate,
    /// Any other id.
    Unknown(u8),
}

impl From<u8> for MessageType {
    fn from(id: u8) -> Self {
        match id {
            1 => MessageType::SetChunkSize,
            2 => MessageType::Abort,
            3 => MessageType::Acknowledgement,
            4 => MessageType::UserControl,
            5 => MessageType::WindowAckSize,
            6 => MessageType::SetPeerBandwidth,
            8 => MessageType::Audio,
            9 => MessageType::Video,
            15 => MessageType::DataAmf3,
            16 => MessageType::SharedObjectAmf3,
            17 => MessageType::CommandAmf3,
            18 => MessageType::DataAmf0,
            19 => MessageType::SharedObjectAmf0,
            20 => MessageType::CommandAmf0,
            22 => MessageType::Aggregate,
            other => MessageType::Unknown(other),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        match t {
            MessageType::SetChunkSize => 1,
            MessageType::Abort => 2,
            MessageType::Acknowledgement => 3,
            MessageType::UserControl => 4,
            MessageType::WindowAckSize => 5,
            MessageType::SetPeerBandwidth => 6,
            MessageType::Audio => 8,
            MessageType::Video => 9,
            MessageType::DataAmf3 => 15,
            MessageType::SharedObjectAmf3 => 16,
            MessageType::CommandAmf3 => 17,
            MessageType::DataAmf0 => 18,
            MessageType::SharedObjectAmf0 => 19,
            MessageType::CommandAmf0 => 20,
            MessageType::Aggregate => 22,
            MessageType::Unknown(id) => id,
        }
    }
}

impl MessageType {
    /// Whether this is a protocol control message (types 1–6 except 4),
    /// which the spec sends on chunk stream 2, message stream 0 (5.4).
    pub fn is_protocol_control(self) -> bool {
        matches!(
            self,
            MessageType::SetChunkSize
                | MessageType::Abort
                | MessageType::Acknowledgement
                | MessageType::WindowAckSize
                | MessageType::SetPeerBandwidth
        )
    }
}

/// Chunk stream id of protocol control and user control messages (spec 5.4).
pub const CONTROL_CSID: u32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_ids_round_trip() {
        for id in 0..=255u8 {
            assert_eq!(u8::from(MessageType::from(id)), id);
        }
        assert_eq!(MessageType::from(20), MessageType::CommandAmf0);
        assert!(MessageType::from(5).is_protocol_control());
        assert!(!MessageType::from(4).is_protocol_control());
    }
}
