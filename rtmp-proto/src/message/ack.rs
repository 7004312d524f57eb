//! The acknowledgement window (RTMP spec 5.4.3 and 5.4.4).
//!
//! After the peer sends Window Acknowledgement Size N, we owe it an
//! Acknowledgement each time we have received N more bytes since the last
//! one. The sequence number is the total byte count received so far (all
//! bytes on the connection, handshake included, as librtmp and nginx-rtmp
//! count them), modulo 2^32.

use super::ProtocolControl;

/// Counts received bytes and says when an Acknowledgement is due.
#[derive(Debug, Clone, Default)]
pub struct AckTracker {
    window: Option<u32>,
    received: u64,
    last_acked: u64,
}

impl AckTracker {
    /// A tracker with no window (no acknowledgements until the peer sets one).
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the peer's Window Acknowledgement Size. A window of 0 turns
    /// acknowledgements off (a 0 window would otherwise mean "ack every byte").
    pub fn set_window(&mut self, size: u32) {
        self.window = (size > 0).then_some(size);
    }

    /// The current window, if the peer set one.
    pub fn window(&self) -> Option<u32> {
        self.window
    }

    /// Total bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Records `n` received bytes. Returns the Acknowledgement to send if
    /// one is now due. A single large read yields one Acknowledgement
    /// carrying the latest count, not one per window crossed.
    pub fn on_bytes(&mut self, n: usize) -> Option<ProtocolControl> {
        self.received = self.received.saturating_add(n as u64);
        let window = u64::from(self.window?);
        if self.received - self.last_acked >= window {
            self.last_acked = self.received;
            Some(ProtocolControl::Acknowledgement {
                // Spec 5.4.3: the sequence number wraps at 32 bits.
                sequence: self.received as u32,
            })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_once_per_window() {
        let mut t = AckTracker::new();
        assert_eq!(t.on_bytes(10_000), None, "no window yet");
        t.set_window(5000);
        assert_eq!(
            t.on_bytes(1),
            Some(ProtocolControl::Acknowledgement { sequence: 10_001 })
        );
        assert_eq!(t.on_bytes(4999), None);
        assert_eq!(
            t.on_bytes(1),
            Some(ProtocolControl::Acknowledgement { sequence: 15_001 })
        );
        t.set_window(0);
        assert_eq!(t.on_bytes(1 << 20), None);
        assert_eq!(t.window(), None);
    }

    #[test]
    fn sequence_wraps_at_32_bits() {
        let mut t = AckTracker::new();
        t.set_window(1);
        t.on_bytes(u32::MAX as usize);
        assert_eq!(
            t.on_bytes(2),
            Some(ProtocolControl::Acknowledgement { sequence: 1 })
        );
        assert_eq!(t.received(), u64::from(u32::MAX) + 2);
    }
}
