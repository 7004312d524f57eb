//! The HTTP side's own parsing: media request heads (method, version, path
//! with percent-decoding and traversal checks) and the API router's path
//! segments. Never panics; whatever parses names no `..` segment.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = strom::http_media::request::parse(data) {
        let app_and_stream = format!("{}/{}", req.key.app, req.key.stream);
        assert!(!app_and_stream.split('/').any(|s| s == ".." || s == "."));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = strom::http::url::segments(text);
        let _ = strom::http::url::query_param(text, "secret");
    }
});
