//! The bit reader and writer for codec headers (H.264/H.265 SPS,
//! AudioSpecificConfig, RFC 3640 AU headers), with Exp-Golomb codes
//! (ITU-T H.264 section 9.1) and RBSP unescaping.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{truncated, CodecError};

/// Reads bits MSB-first from a byte slice. Running past the end is
/// [`CodecError::Truncated`] naming `what`.
///
/// ```
/// let mut r = codec::bits::BitReader::new(&[0b1010_0110], "example");
/// assert_eq!(r.ue()?, 0); // `1`
/// assert_eq!(r.ue()?, 1); // `010`
/// assert_eq!(r.bits(4)?, 0b0110);
/// assert_eq!(r.position(), 8);
/// assert!(r.bit().is_err());
/// # Ok::<(), codec::CodecError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `data`; `what` names the structure in
    /// errors.
    pub fn new(data: &'a [u8], what: &'static str) -> Self {
        BitReader { data, pos: 0, what }
    }

    /// Bits read (or skipped) so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// One bit.
    pub fn bit(&mut self) -> Result<bool, CodecError> {
        let byte = self
            .data
            .get(self.pos / 8)
            .ok_or_else(|| truncated(self.what))?;
        let b = byte >> (7 - (self.pos % 8)) & 1;
        self.pos += 1;
        Ok(b == 1)
    }

    /// Up to 32 bits as an unsigned integer (more than 32 is
    /// [`CodecError::Invalid`]).
    pub fn bits(&mut self, n: u32) -> Result<u32, CodecError> {
        if n > 32 {
            return Err(CodecError::Invalid {
                what: "bit field width",
                value: u64::from(n),
            });
        }
        let mut v: u64 = 0;
        for _ in 0..n {
            v = v << 1 | u64::from(self.bit()?);
        }
        Ok(v as u32)
    }

    /// Skips `n` bits.
    pub fn skip(&mut self, n: usize) -> Result<(), CodecError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| truncated(self.what))?;
        if end > self.data.len() * 8 {
            return Err(truncated(self.what));
        }
        self.pos = end;
        Ok(())
    }

    /// `ue(v)`: unsigned Exp-Golomb. Codes longer than 32 bits cannot
    /// occur in a valid SPS and are reported as invalid.
    pub fn ue(&mut self) -> Result<u32, CodecError> {
        let mut zeros = 0u32;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(CodecError::Invalid {
                    what: "Exp-Golomb code length",
                    value: u64::from(zeros),
                });
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }

    /// `se(v)`: signed Exp-Golomb (H.264 9.1.1, Table 9-3).
    pub fn se(&mut self) -> Result<i32, CodecError> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        Ok(v as i32)
    }
}

/// Removes emulation prevention bytes (the 0x03 in `00 00 03`), turning a
/// NAL unit payload into its RBSP (H.264 7.4.1, H.265 7.4.2).
pub fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Writes bit fields MSB-first; [`finish`](Self::finish) pads the last
/// byte with zero bits.
#[derive(Debug, Default)]
pub struct BitWriter {
    out: BytesMut,
    acc: u64,
    n: u32,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the low `bits` bits of `v` (at most 32; wider is cut to 32).
    pub fn put(&mut self, v: u32, bits: u32) {
        let bits = bits.min(32);
        self.acc = self.acc << bits | u64::from(v) & ((1u64 << bits) - 1);
        self.n += bits;
        while self.n >= 8 {
            self.n -= 8;
            self.out.put_u8((self.acc >> self.n) as u8);
        }
    }

    /// Bits written so far.
    pub fn len_bits(&self) -> usize {
        self.out.len() * 8 + self.n as usize
    }

    /// The bytes, the last one padded with zero bits.
    pub fn finish(mut self) -> Bytes {
        if self.n > 0 {
            let pad = 8 - self.n;
            self.put(0, pad);
        }
        self.out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb() {
        // 1 | 010 | 011 | 00100 | 00101 -> ue 0,1,2,3 then se(4) = -2
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut r = BitReader::new(&data, "t");
        assert_eq!(r.ue().unwrap(), 0);
        assert_eq!(r.ue().unwrap(), 1);
        assert_eq!(r.ue().unwrap(), 2);
        assert_eq!(r.ue().unwrap(), 3);
        assert_eq!(r.se().unwrap(), -2);
        assert!(r.bits(8).is_err());
        assert!(BitReader::new(&[0; 8], "t").ue().is_err());
        assert!(BitReader::new(&[0; 8], "t").bits(33).is_err());
    }

    #[test]
    fn skip_and_rbsp() {
        let mut r = BitReader::new(&[0xFF], "t");
        r.skip(7).unwrap();
        assert!(r.bit().unwrap());
        assert!(r.skip(1).is_err());
        assert_eq!(rbsp(&[0, 0, 3, 1, 0, 0, 3]), vec![0, 0, 1, 0, 0]);
    }

    #[test]
    fn writer_pads_and_reads_back() {
        let mut w = BitWriter::new();
        w.put(0b101, 3);
        w.put(0xABCD, 16);
        w.put(0, 0);
        assert_eq!(w.len_bits(), 19);
        let b = w.finish();
        assert_eq!(b.len(), 3);
        let mut r = BitReader::new(&b, "t");
        assert_eq!(r.bits(3).unwrap(), 0b101);
        assert_eq!(r.bits(16).unwrap(), 0xABCD);
        assert_eq!(r.bits(5).unwrap(), 0);
    }
}
