//! AMF0: decoding arbitrary bytes never panics, and whatever decodes
//! re-encodes canonically: encode(decode(encode(v))) == encode(v). Bytes are
//! compared rather than values because NaN numbers are not equal to themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(values) = flv_mux::amf0::decode_all(data) {
        let bytes = flv_mux::amf0::encode_to_bytes(&values);
        let again = flv_mux::amf0::decode_all(&bytes).expect("re-encoded AMF0 decodes");
        assert_eq!(bytes, flv_mux::amf0::encode_to_bytes(&again));
    }
});
