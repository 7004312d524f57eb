//! # flv-mux
//!
//! Sans-IO building blocks for FLV and RTMP payloads: AMF0 values
//! ([`amf0`]). No sockets, clocks or threads: every function takes bytes
//! and returns typed values or bytes.
//!
//! ```
//! use flv_mux::amf0::{decode_value, encode_to_bytes, Amf0Value};
//!
//! let bytes = encode_to_bytes(&[Amf0Value::string("onMetaData")]);
//! let (value, used) = decode_value(&bytes)?;
//! assert_eq!(value.as_str(), Some("onMetaData"));
//! assert_eq!(used, bytes.len());
//! # Ok::<(), flv_mux::amf0::Amf0Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod amf0;
