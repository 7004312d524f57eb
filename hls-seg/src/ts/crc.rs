//! CRC-32/MPEG-2 of PSI sections (ISO/IEC 13818-1 Annex A): polynomial
//! 0x04C11DB7, initial value 0xFFFFFFFF, no reflection, no final XOR. A
//! section followed by its CRC_32 has a CRC of zero ("gives a zero output
//! of the registers in the decoder", 2.4.4.3).

/// Byte-wise lookup table, built at compile time.
const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// CRC-32/MPEG-2 of `data`.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(0xFFFF_FFFF, |crc, &b| {
        (crc << 8) ^ TABLE[usize::from((crc >> 24) as u8 ^ b)]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_check_vector() {
        // The catalogue "check" value of CRC-32/MPEG-2.
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
        assert_eq!(crc32_mpeg2(b""), 0xFFFF_FFFF);
        assert_eq!(crc32_mpeg2(&[0x00]), 0x4E08_BFB4);
    }

    #[test]
    fn well_known_pat_crc() {
        // PAT for program 1 -> PMT PID 0x1000 as written by ffmpeg.
        let section = [
            0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00,
        ];
        assert_eq!(crc32_mpeg2(&section), 0x2AB1_04B2);
        let mut with_crc = section.to_vec();
        with_crc.extend_from_slice(&0x2AB1_04B2u32.to_be_bytes());
        assert_eq!(crc32_mpeg2(&with_crc), 0);
    }
}
