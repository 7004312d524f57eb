//! The fuzz targets' entry points (`fuzz/fuzz_targets/*.rs` are one-line
//! shims into these).

use crate::AacToOpus;

/// AudioSpecificConfigs the fuzzer picks from with its first byte: AAC-LC at
/// 48 kHz stereo, 44.1 kHz stereo, 48 kHz mono, 16 kHz mono, 32 kHz stereo.
const CONFIGS: [[u8; 2]; 5] = [
    [0x11, 0x90],
    [0x12, 0x10],
    [0x11, 0x88],
    [0x15, 0x88],
    [0x13, 0x10],
];

/// Runs `data` through an [`AacToOpus`]: the first byte picks the
/// configuration (or, past the table, the next two bytes are one), then
/// frames follow, each as a length byte `n` and `4 n` bytes; a length byte
/// with its high bit set jumps the timestamp by a second. Asserts what must
/// hold whatever the input: output packets are 20 ms, strictly increasing
/// between resyncs, and at most a second of PCM is buffered.
pub fn aac_to_opus(data: &[u8]) {
    let (asc, mut rest): (&[u8], &[u8]) = match data.split_first() {
        Some((&pick, rest)) => match CONFIGS.get(usize::from(pick)) {
            Some(c) => (c, rest),
            None => rest.split_at(rest.len().min(2)),
        },
        None => return,
    };
    let Ok(mut t) = AacToOpus::new(asc, 64_000) else {
        return;
    };
    let mut pts = 0i64;
    let mut last: Option<i64> = None;
    while let Some((&len, tail)) = rest.split_first() {
        let (frame, tail) = tail.split_at(tail.len().min(usize::from(len & 0x7f) * 4));
        rest = tail;
        pts += if len & 0x80 != 0 { 1_000_000 } else { 21_333 };
        let resyncs = t.stats().resyncs;
        let _ = t.push(frame, pts);
        if t.stats().resyncs != resyncs {
            last = None;
        }
        assert!(t.buffered_us() <= crate::MAX_BUFFERED_US);
        while let Some(p) = t.pop() {
            assert_eq!(p.duration_us, 20_000);
            assert!(last.is_none_or(|l| p.pts_us > l));
            last = Some(p.pts_us);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_on_short_and_odd_inputs() {
        for data in [
            &[][..],
            &[0],
            &[9, 0x11],
            &[9, 0x12, 0x10, 2, 1, 2, 3, 4, 5, 6, 7, 8],
            &[
                1, 0x85, 0x21, 0x11, 0x45, 0x00, 0x14, 0x50, 0x01, 0x46, 0xe0,
            ],
        ] {
            super::aac_to_opus(data);
        }
    }
}
