//! The transmit side shared by both sessions: a [`ChunkEncoder`] for the
//! session's own messages, and a queue of `Bytes` that also takes
//! pre-encoded shared media without copying it.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::CSID_COMMAND;
use crate::chunk::ChunkEncoder;
use crate::command::command_message;
use crate::error::Error;
use crate::message::{Message, ProtocolControl, UserControl};

/// Parts an emptied queue keeps room for (steady playback needs a few).
const IDLE_CAPACITY: usize = 32;

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    encoder: ChunkEncoder,
    /// Bytes the encoder wrote since the last flush; always logically after
    /// everything in `queue`.
    scratch: BytesMut,
    queue: VecDeque<Bytes>,
    queued: usize,
}

impl Outbox {
    /// Queues bytes as they are (handshake packets, shared media).
    pub(crate) fn raw(&mut self, b: Bytes) {
        if b.is_empty() {
            return;
        }
        self.flush();
        self.queued += b.len();
        self.queue.push_back(b);
    }

    /// Encodes and queues a message.
    pub(crate) fn send(&mut self, msg: &Message) -> Result<(), Error> {
        let before = self.scratch.len();
        self.encoder.encode(msg, &mut self.scratch)?;
        self.queued += self.scratch.len() - before;
        Ok(())
    }

    pub(crate) fn control(&mut self, pc: ProtocolControl) {
        // Our own control messages are tiny and on a valid csid: encoding
        // cannot fail.
        let _ = self.send(&pc.to_message());
    }

    pub(crate) fn user_control(&mut self, uc: UserControl) {
        let _ = self.send(&uc.to_message(0));
    }

    /// Queues a command body (AMF0, type 20) on the command chunk stream.
    pub(crate) fn command(&mut self, stream_id: u32, body: Bytes) -> Result<(), Error> {
        self.send(&command_message(CSID_COMMAND, stream_id, body))
    }

    pub(crate) fn chunk_size(&self) -> u32 {
        self.encoder.chunk_size()
    }

    pub(crate) fn queued_bytes(&self) -> usize {
        self.queued
    }

    fn flush(&mut self) {
        if !self.scratch.is_empty() {
            self.queue.push_back(self.scratch.split().freeze());
        }
    }

    pub(crate) fn poll(&mut self) -> Option<Bytes> {
        self.flush();
        let b = self.queue.pop_front()?;
        self.queued -= b.len();
        // A burst (a GOP replayed to a new player, hundreds of parts) must
        // not leave its capacity behind for the life of the connection.
        if self.queue.is_empty() && self.queue.capacity() > 2 * IDLE_CAPACITY {
            self.queue.shrink_to(IDLE_CAPACITY);
        }
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_between_encoded_and_raw_bytes() {
        let mut o = Outbox::default();
        o.control(ProtocolControl::WindowAckSize(5));
        o.raw(Bytes::from_static(b"shared"));
        o.user_control(UserControl::StreamBegin { stream_id: 1 });
        o.raw(Bytes::new());
        // The user control message compresses against the control one (fmt 1).
        assert_eq!(o.queued_bytes(), 16 + 6 + 14);
        assert_eq!(o.poll().unwrap().len(), 16);
        assert_eq!(&o.poll().unwrap()[..], b"shared");
        assert_eq!(o.poll().unwrap().len(), 14);
        assert_eq!(o.poll(), None);
        assert_eq!(o.queued_bytes(), 0);
    }
}
