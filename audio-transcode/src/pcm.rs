//! The bounded, interleaved stereo PCM buffer between `push` and `pop`.

/// Interleaved stereo samples, at most `max_frames` per channel; overflow
/// drops the oldest whole packets.
#[derive(Debug, Clone)]
pub(crate) struct Pcm<T> {
    samples: Vec<T>,
    packet_frames: usize,
    max_frames: usize,
}

/// Channels of every buffer: output is always stereo.
pub(crate) const CHANNELS: usize = 2;

impl<T: Copy> Pcm<T> {
    /// A buffer that hands out packets of `packet_frames` and holds at most
    /// `max_frames` (rounded up to a whole packet).
    pub(crate) fn new(packet_frames: usize, max_frames: usize) -> Self {
        let packet_frames = packet_frames.max(1);
        Self {
            samples: Vec::new(),
            packet_frames,
            max_frames: max_frames.max(packet_frames),
        }
    }

    /// Buffered samples per channel.
    pub(crate) fn frames(&self) -> usize {
        self.samples.len() / CHANNELS
    }

    /// Appends interleaved stereo samples; returns how many whole packets of
    /// the oldest samples were dropped to stay within the bound.
    pub(crate) fn extend(&mut self, interleaved: &[T]) -> u64 {
        self.samples.extend_from_slice(interleaved);
        let mut dropped = 0;
        while self.frames() > self.max_frames {
            self.samples.drain(..self.packet_frames * CHANNELS);
            dropped += 1;
        }
        dropped
    }

    /// The oldest whole packet's samples, if one is buffered (not removed).
    pub(crate) fn packet(&self) -> Option<&[T]> {
        self.samples.get(..self.packet_frames * CHANNELS)
    }

    /// Removes the oldest `samples` (interleaved count, clamped).
    pub(crate) fn consume(&mut self, samples: usize) {
        self.samples.drain(..samples.min(self.samples.len()));
    }

    /// Drops everything.
    pub(crate) fn clear(&mut self) {
        self.samples.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_drops_oldest_whole_packets() {
        let mut pcm = Pcm::<i16>::new(2, 4);
        assert_eq!(pcm.extend(&[1, 1, 2, 2, 3, 3]), 0);
        assert_eq!(pcm.packet(), Some(&[1, 1, 2, 2][..]));
        assert_eq!(pcm.extend(&[4, 4, 5, 5]), 1);
        assert_eq!(pcm.frames(), 3);
        assert_eq!(pcm.packet(), Some(&[3, 3, 4, 4][..]));
        pcm.consume(4);
        assert_eq!(pcm.packet(), None);
        pcm.consume(100);
        assert_eq!(pcm.frames(), 0);
    }
}
