//! `stsd` sample entries: `avc1`/`hvc1`/`av01` (visual) with their
//! configuration record box, `mp4a` with `esds`, `Opus` with `dOps`.

use crate::write::BoxWriter;
use crate::{CodecConfig, Fmp4Error, TrackConfig};

/// `objectTypeIndication` of MPEG-4 audio (AAC) in `esds`.
pub(crate) const OBJECT_TYPE_AAC: u8 = 0x40;
/// `streamType` of audio streams in `esds`.
pub(crate) const STREAM_TYPE_AUDIO: u8 = 5;
/// ES_Descriptor, DecoderConfigDescriptor, DecSpecificInfo, SLConfigDescriptor tags.
pub(crate) const TAG_ES: u8 = 3;
pub(crate) const TAG_DECODER_CONFIG: u8 = 4;
pub(crate) const TAG_DEC_SPECIFIC: u8 = 5;
pub(crate) const TAG_SL_CONFIG: u8 = 6;
/// The Opus sample entry's sample rate (the Opus spec fixes it).
pub(crate) const OPUS_ENTRY_RATE: u32 = 48_000;

/// Writes the one sample entry of `track`.
pub(crate) fn write(w: &mut BoxWriter, track: &TrackConfig) -> Result<(), Fmp4Error> {
    match &track.codec {
        CodecConfig::Avc { avcc } => visual(w, track, b"avc1", b"avcC", avcc),
        CodecConfig::Hevc { hvcc } => visual(w, track, b"hvc1", b"hvcC", hvcc),
        CodecConfig::Av1 { av1c } => visual(w, track, b"av01", b"av1C", av1c),
        CodecConfig::Aac { asc } => {
            let entry = audio_header(w, track, b"mp4a", track.sample_rate);
            esds(w, track.id, asc)?;
            w.close(entry)
        }
        CodecConfig::Opus { pre_skip } => {
            let entry = audio_header(w, track, b"Opus", OPUS_ENTRY_RATE);
            let dops = w.open(b"dOps");
            w.u8(0); // Version
            w.u8(track.channels as u8); // OutputChannelCount (checked ≤ 2)
            w.u16(*pre_skip);
            w.u32(track.sample_rate); // InputSampleRate
            w.u16(0); // OutputGain
            w.u8(0); // ChannelMappingFamily
            w.close(dops)?;
            w.close(entry)
        }
    }
}

/// VisualSampleEntry (ISO/IEC 14496-12 §12.1.3) and its config box.
fn visual(
    w: &mut BoxWriter,
    track: &TrackConfig,
    entry_type: &[u8; 4],
    config_type: &[u8; 4],
    config: &[u8],
) -> Result<(), Fmp4Error> {
    let entry = w.open(entry_type);
    w.zeros(6); // reserved
    w.u16(1); // data_reference_index
    w.u16(0); // pre_defined
    w.u16(0); // reserved
    w.zeros(12); // pre_defined
    w.u16(track.width as u16); // checked ≤ 65535
    w.u16(track.height as u16);
    w.u32(0x0048_0000); // horizresolution: 72 dpi
    w.u32(0x0048_0000); // vertresolution
    w.u32(0); // reserved
    w.u16(1); // frame_count
    w.zeros(32); // compressorname
    w.u16(0x0018); // depth
    w.u16(0xffff); // pre_defined = -1
    let cfg = w.open(config_type);
    w.bytes(config);
    w.close(cfg)?;
    w.close(entry)
}

/// AudioSampleEntry (§12.2.3) up to its child boxes; the caller closes it.
fn audio_header(
    w: &mut BoxWriter,
    track: &TrackConfig,
    entry_type: &[u8; 4],
    rate: u32,
) -> crate::write::Open {
    let entry = w.open(entry_type);
    w.zeros(6); // reserved
    w.u16(1); // data_reference_index
    w.zeros(8); // reserved
    w.u16(track.channels);
    w.u16(16); // samplesize
    w.u16(0); // pre_defined
    w.u16(0); // reserved
    w.u32(rate << 16); // checked ≤ 65535
    entry
}

/// `esds` (ISO/IEC 14496-1 §7.2.6.5): ES_Descriptor with a
/// DecoderConfigDescriptor (AAC, audio) carrying the AudioSpecificConfig and
/// an SLConfigDescriptor. Descriptor lengths use the 4-byte expandable form.
fn esds(w: &mut BoxWriter, es_id: u32, asc: &[u8]) -> Result<(), Fmp4Error> {
    // Sizes of the descriptors' bodies, innermost first.
    let dsi = asc.len();
    let dcd = 13 + 5 + dsi;
    let sl = 1;
    let es = 3 + (5 + dcd) + (5 + sl);
    let esds = w.open_full(b"esds", 0, 0);
    descriptor_header(w, TAG_ES, es)?;
    w.u16(es_id as u16);
    w.u8(0); // no dependsOn, URL, OCR stream
    descriptor_header(w, TAG_DECODER_CONFIG, dcd)?;
    w.u8(OBJECT_TYPE_AAC);
    w.u8((STREAM_TYPE_AUDIO << 2) | 1); // upStream 0, reserved 1
    w.bytes(&[0, 0, 0]); // bufferSizeDB
    w.u32(0); // maxBitrate
    w.u32(0); // avgBitrate
    descriptor_header(w, TAG_DEC_SPECIFIC, dsi)?;
    w.bytes(asc);
    descriptor_header(w, TAG_SL_CONFIG, sl)?;
    w.u8(2); // predefined: MP4
    w.close(esds)
}

/// A descriptor tag and its length as four 7-bit groups.
fn descriptor_header(w: &mut BoxWriter, tag: u8, len: usize) -> Result<(), Fmp4Error> {
    if len >= 1 << 28 {
        return Err(Fmp4Error::Limit(format!("esds descriptor of {len} bytes")));
    }
    w.u8(tag);
    w.u8(0x80 | ((len >> 21) & 0x7f) as u8);
    w.u8(0x80 | ((len >> 14) & 0x7f) as u8);
    w.u8(0x80 | ((len >> 7) & 0x7f) as u8);
    w.u8((len & 0x7f) as u8);
    Ok(())
}
