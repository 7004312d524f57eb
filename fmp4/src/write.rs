//! The box writer: size-prefixed boxes and full boxes, nested by position.

use crate::Fmp4Error;

/// A buffer of boxes. [`BoxWriter::open`] writes a placeholder size and the
/// type; [`BoxWriter::close`] patches the size once the body is written.
#[derive(Debug, Default)]
pub(crate) struct BoxWriter {
    buf: Vec<u8>,
}

/// Where an open box starts (its size field).
#[must_use = "an open box must be closed"]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Open(usize);

impl BoxWriter {
    pub(crate) fn with_capacity(n: usize) -> BoxWriter {
        BoxWriter {
            buf: Vec::with_capacity(n),
        }
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Starts a box of type `fourcc`.
    pub(crate) fn open(&mut self, fourcc: &[u8; 4]) -> Open {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.extend_from_slice(fourcc);
        Open(at)
    }

    /// Starts a full box: type, then version and 24-bit flags.
    pub(crate) fn open_full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) -> Open {
        let open = self.open(fourcc);
        self.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
        open
    }

    /// Ends a box: writes its 32-bit size.
    pub(crate) fn close(&mut self, open: Open) -> Result<(), Fmp4Error> {
        let size = u32::try_from(self.buf.len() - open.0)
            .map_err(|_| Fmp4Error::Limit("box larger than 4 GiB".into()))?;
        self.patch_u32(open.0, size);
        Ok(())
    }

    /// Overwrites 4 bytes at `at` (a size or offset written earlier).
    pub(crate) fn patch_u32(&mut self, at: usize, v: u32) {
        if let Some(slot) = self.buf.get_mut(at..at + 4) {
            slot.copy_from_slice(&v.to_be_bytes());
        }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    pub(crate) fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_boxes_get_their_sizes() {
        let mut w = BoxWriter::default();
        let outer = w.open(b"moov");
        let inner = w.open_full(b"mvhd", 1, 0x0102_0304);
        w.u8(7);
        w.close(inner).unwrap();
        w.close(outer).unwrap();
        let v = w.into_vec();
        assert_eq!(
            v,
            [
                0, 0, 0, 21, b'm', b'o', b'o', b'v', 0, 0, 0, 13, b'm', b'v', b'h', b'd', 1, 2, 3,
                4, 7
            ]
        );
    }
}
