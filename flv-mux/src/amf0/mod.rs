//! AMF0 (Action Message Format 0, Adobe 2007): the encoding of RTMP command
//! messages (type 20), data messages (type 18) and FLV script tags.
//!
//! ```
//! use flv_mux::amf0::{decode_all, encode_to_bytes, Amf0Value};
//!
//! let body = encode_to_bytes(&[
//!     Amf0Value::string("connect"),
//!     Amf0Value::Number(1.0),
//!     Amf0Value::object([("app", Amf0Value::from("live"))]),
//! ]);
//! let values = decode_all(&body)?;
//! assert_eq!(values[0].as_str(), Some("connect"));
//! assert_eq!(values[2].get("app").and_then(Amf0Value::as_str), Some("live"));
//! # Ok::<(), flv_mux::amf0::Amf0Error>(())
//! ```
//!
//! Decisions: strings are decoded lossily (see [`Amf0Value`]); references
//! (0x07) are returned unresolved; the AMF3 switch (0x11), movieclip,
//! recordset and unsupported markers are reported as
//! [`Amf0Error::Unsupported`].

mod decode;
mod encode;
mod error;
pub mod marker;
mod value;

pub use decode::{decode_all, decode_value, MAX_DEPTH, MAX_ELEMENTS, MAX_LONG_STRING, MAX_VALUES};
pub use encode::{encode_all, encode_to_bytes, encode_value};
pub use error::{Amf0Error, Amf0ErrorKind};
pub use value::{Amf0Value, Properties};
