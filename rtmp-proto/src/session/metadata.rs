//! `@setDataFrame` ⇄ `onMetaData` (the FMLE convention every encoder
//! follows): a publisher sends `"@setDataFrame", "onMetaData", {…}`; servers
//! strip the first string and give players `"onMetaData", {…}`.
//!
//! Stripping is a zero-copy slice when the body starts with the exact AMF0
//! string `@setDataFrame` followed by the string `onMetaData`, which is what
//! ffmpeg, OBS and GStreamer send; anything else is decoded and re-encoded.

use bytes::{BufMut, Bytes, BytesMut};

use crate::command::DataMessage;

/// AMF0 string marker, 16-bit length, then the text.
const SET_DATA_FRAME: &[u8] = b"\x02\x00\x0d@setDataFrame";
const ON_META_DATA: &[u8] = b"\x02\x00\x0aonMetaData";

/// The `onMetaData` body players should get for a publisher's data message
/// body, or `None` if it is not metadata.
pub(crate) fn metadata_for_players(body: &Bytes) -> Option<Bytes> {
    if let Some(rest) = body.strip_prefix(SET_DATA_FRAME) {
        if rest.starts_with(ON_META_DATA) {
            return Some(body.slice(SET_DATA_FRAME.len()..));
        }
    } else if body.starts_with(ON_META_DATA) {
        return Some(body.clone());
    }
    let d = DataMessage::decode(body).ok()?;
    d.to_player().map(|p| p.encode())
}

/// A publisher's `@setDataFrame` body for an `onMetaData` body.
pub(crate) fn set_data_frame(on_meta_data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(SET_DATA_FRAME.len() + on_meta_data.len());
    out.put_slice(SET_DATA_FRAME);
    out.put_slice(on_meta_data);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flv_mux::amf0::{encode_to_bytes, Amf0Value};

    fn on_meta_data() -> Bytes {
        DataMessage::OnMetaData {
            metadata: Amf0Value::ecma_array([("width", Amf0Value::Number(320.0))]),
        }
        .encode()
    }

    #[test]
    fn strips_set_data_frame_without_copying() {
        let omd = on_meta_data();
        let body = set_data_frame(&omd);
        let out = metadata_for_players(&body).unwrap();
        assert_eq!(out, omd);
        assert_eq!(out.as_ptr(), body[SET_DATA_FRAME.len()..].as_ptr());
        // The encoding agrees with the typed builder.
        assert_eq!(
            body,
            DataMessage::SetDataFrame {
                metadata: Amf0Value::ecma_array([("width", Amf0Value::Number(320.0))]),
            }
            .encode()
        );
    }

    #[test]
    fn passes_on_meta_data_and_ignores_other_data() {
        let omd = on_meta_data();
        assert_eq!(metadata_for_players(&omd), Some(omd));
        let other = encode_to_bytes(&[Amf0Value::string("onCuePoint"), Amf0Value::Null]);
        assert_eq!(metadata_for_players(&other), None);
        assert_eq!(metadata_for_players(&Bytes::from_static(b"\x02\x00")), None);
    }

    #[test]
    fn re_encodes_long_string_names() {
        let meta = Amf0Value::ecma_array([("fps", Amf0Value::Number(25.0))]);
        let body = encode_to_bytes(&[
            Amf0Value::LongString("@setDataFrame".into()),
            Amf0Value::string("onMetaData"),
            meta.clone(),
        ]);
        let out = metadata_for_players(&body).unwrap();
        assert_eq!(out, DataMessage::OnMetaData { metadata: meta }.encode());
    }
}
