//! FLV video tag bodies for clients that publish without a media file:
//! shared by the tests against the binary (`common::raw`) and the
//! in-process ones (`liveness`).
#![allow(dead_code)]

use bytes::Bytes;

/// AVC sequence header (FLV video tag body): a minimal avcC with one SPS and
/// one PPS.
pub fn avc_sequence_header() -> Bytes {
    let mut b = vec![0x17, 0, 0, 0, 0];
    b.extend_from_slice(&[
        1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 4, 0x67, 0x42, 0xC0, 0x1E,
    ]);
    b.extend_from_slice(&[1, 0, 4, 0x68, 0xCE, 0x3C, 0x80]);
    Bytes::from(b)
}

/// An AVC keyframe (FLV video tag body, one IDR NAL unit).
pub fn avc_keyframe() -> Bytes {
    Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0, 0, 5, 0x65, 0x88, 0x84, 0x00, 0x10])
}

/// A large AVC keyframe, to fill a player's pipe quickly.
pub fn big_keyframe(len: usize) -> Bytes {
    one_nal(0x17, 0x65, len)
}

/// A large AVC inter frame (one non-IDR NAL unit of `len` bytes).
pub fn big_inter_frame(len: usize) -> Bytes {
    one_nal(0x27, 0x41, len)
}

/// An FLV video tag body (`flags`: frame type and codec) carrying one NAL
/// unit of `len` bytes that starts with `nal_header`.
fn one_nal(flags: u8, nal_header: u8, len: usize) -> Bytes {
    let mut b = vec![flags, 1, 0, 0, 0];
    b.extend_from_slice(&(len as u32).to_be_bytes());
    b.push(nal_header);
    b.resize(9 + len, 0x88);
    Bytes::from(b)
}
