//! AMF0 type markers (AMF0 spec, Adobe 2007, section 2.1).

/// `number-marker`: IEEE-754 double, big endian.
pub const NUMBER: u8 = 0x00;
/// `boolean-marker`: one byte, non-zero is true.
pub const BOOLEAN: u8 = 0x01;
/// `string-marker`: UTF-8 with a 16-bit length.
pub const STRING: u8 = 0x02;
/// `object-marker`: anonymous object, properties until object-end.
pub const OBJECT: u8 = 0x03;
/// `movieclip-marker`: reserved, not supported.
pub const MOVIECLIP: u8 = 0x04;
/// `null-marker`.
pub const NULL: u8 = 0x05;
/// `undefined-marker`.
pub const UNDEFINED: u8 = 0x06;
/// `reference-marker`: 16-bit index into the complex objects of the same body.
pub const REFERENCE: u8 = 0x07;
/// `ecma-array-marker`: 32-bit count hint then properties until object-end.
pub const ECMA_ARRAY: u8 = 0x08;
/// `object-end-marker`, preceded by an empty property name.
pub const OBJECT_END: u8 = 0x09;
/// `strict-array-marker`: 32-bit count then that many values.
pub const STRICT_ARRAY: u8 = 0x0A;
/// `date-marker`: double milliseconds since the epoch then a 16-bit time zone.
pub const DATE: u8 = 0x0B;
/// `long-string-marker`: UTF-8 with a 32-bit length.
pub const LONG_STRING: u8 = 0x0C;
/// `unsupported-marker`.
pub const UNSUPPORTED: u8 = 0x0D;
/// `recordset-marker`: reserved, not supported.
pub const RECORDSET: u8 = 0x0E;
/// `xml-document-marker`: like a long string.
pub const XML_DOCUMENT: u8 = 0x0F;
/// `typed-object-marker`: class name then properties until object-end.
pub const TYPED_OBJECT: u8 = 0x10;
/// `avmplus-object-marker`: switch to AMF3 (section 3.1). Refused by this crate.
pub const AVMPLUS_OBJECT: u8 = 0x11;
