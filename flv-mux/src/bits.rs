//! A bit reader for codec headers (H.264/H.265 SPS, AudioSpecificConfig),
//! with Exp-Golomb codes (ITU-T H.264 section 9.1) and RBSP unescaping.

use crate::error::{truncated, FlvError};

/// Reads bits MSB-first from a byte slice. Running past the end is
/// [`FlvError::Truncated`] naming `what`.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        BitReader { data, pos: 0, what }
    }

    pub(crate) fn bit(&mut self) -> Result<bool, FlvError> {
        let byte = self
            .data
            .get(self.pos / 8)
            .ok_or_else(|| truncated(self.what))?;
        let b = byte >> (7 - (self.pos % 8)) & 1;
        self.pos += 1;
        Ok(b == 1)
    }

    /// Up to 32 bits as an unsigned integer.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, FlvError> {
        debug_assert!(n <= 32);
        let mut v: u64 = 0;
        for _ in 0..n {
            v = v << 1 | u64::from(self.bit()?);
        }
        Ok(v as u32)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), FlvError> {
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
    pub(crate) fn ue(&mut self) -> Result<u32, FlvError> {
        let mut zeros = 0u32;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(FlvError::Invalid {
                    what: "Exp-Golomb code length",
                    value: u64::from(zeros),
                });
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }

    /// `se(v)`: signed Exp-Golomb (H.264 9.1.1, Table 9-3).
    pub(crate) fn se(&mut self) -> Result<i32, FlvError> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        Ok(v as i32)
    }
}

/// Removes emulation prevention bytes (the 0x03 in `00 00 03`), turning a
/// NAL unit payload into its RBSP (H.264 7.4.1, H.265 7.4.2).
pub(crate) fn rbsp(nal: &[u8]) -> Vec<u8> {
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
    }

    #[test]
    fn skip_and_rbsp() {
        let mut r = BitReader::new(&[0xFF], "t");
        r.skip(7).unwrap();
        assert!(r.bit().unwrap());
        assert!(r.skip(1).is_err());
        assert_eq!(rbsp(&[0, 0, 3, 1, 0, 0, 3]), vec![0, 0, 1, 0, 0]);
    }
}
