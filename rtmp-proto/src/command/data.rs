//! Data messages (type 18, AMF0) a server handles: `@setDataFrame` from
//! publishers, `onMetaData` and `|RtmpSampleAccess` to players.

use bytes::Bytes;
use flv_mux::amf0::{decode_all, encode_to_bytes, Amf0Value};

use crate::error::{Error, Malformed, Violation};

/// A decoded data message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DataMessage {
    /// `@setDataFrame`, `onMetaData`, metadata: a publisher setting the
    /// stream's metadata (FMLE, ffmpeg, OBS, GStreamer).
    SetDataFrame {
        /// The metadata (usually an ECMA array).
        metadata: Amf0Value,
    },
    /// `onMetaData`, metadata: what players receive.
    OnMetaData {
        /// The metadata (usually an ECMA array).
        metadata: Amf0Value,
    },
    /// `|RtmpSampleAccess`, audio, video: lets Flash players read samples.
    SampleAccess {
        /// Audio sample access.
        audio: bool,
        /// Video sample access.
        video: bool,
    },
    /// Anything else.
    Other {
        /// The first value, when a string.
        name: String,
        /// The remaining values.
        values: Vec<Amf0Value>,
    },
}

impl DataMessage {
    /// Decodes a type 18 payload.
    ///
    /// # Errors
    /// Not AMF0 ([`Malformed::Command`]) or a first value that is not a
    /// string ([`Violation::Command`]).
    pub fn decode(body: &[u8]) -> Result<Self, Error> {
        let values = decode_all(body).map_err(|e| Malformed::Command(e.to_string()))?;
        let mut it = values.into_iter();
        let name = match it.next() {
            Some(Amf0Value::String(s)) | Some(Amf0Value::LongString(s)) => s,
            _ => {
                return Err(Violation::Command {
                    name: String::new(),
                    reason: "data message without a name",
                }
                .into())
            }
        };
        let rest: Vec<Amf0Value> = it.collect();
        Ok(match (name.as_str(), rest.as_slice()) {
            ("@setDataFrame", [Amf0Value::String(inner), metadata]) if inner == "onMetaData" => {
                DataMessage::SetDataFrame {
                    metadata: metadata.clone(),
                }
            }
            ("onMetaData", [metadata]) => DataMessage::OnMetaData {
                metadata: metadata.clone(),
            },
            ("|RtmpSampleAccess", [Amf0Value::Boolean(audio), Amf0Value::Boolean(video)]) => {
                DataMessage::SampleAccess {
                    audio: *audio,
                    video: *video,
                }
            }
            _ => DataMessage::Other { name, values: rest },
        })
    }

    /// Encodes the payload.
    pub fn encode(&self) -> Bytes {
        let s = Amf0Value::string;
        match self {
            DataMessage::SetDataFrame { metadata } => {
                encode_to_bytes(&[s("@setDataFrame"), s("onMetaData"), metadata.clone()])
            }
            DataMessage::OnMetaData { metadata } => {
                encode_to_bytes(&[s("onMetaData"), metadata.clone()])
            }
            DataMessage::SampleAccess { audio, video } => encode_to_bytes(&[
                s("|RtmpSampleAccess"),
                Amf0Value::Boolean(*audio),
                Amf0Value::Boolean(*video),
            ]),
            DataMessage::Other { name, values } => {
                let mut all = vec![s(name.as_str())];
                all.extend(values.iter().cloned());
                encode_to_bytes(&all)
            }
        }
    }

    /// The metadata of `@setDataFrame` or `onMetaData`.
    pub fn metadata(&self) -> Option<&Amf0Value> {
        match self {
            DataMessage::SetDataFrame { metadata } | DataMessage::OnMetaData { metadata } => {
                Some(metadata)
            }
            _ => None,
        }
    }

    /// What to send players for a publisher's `@setDataFrame`: the same
    /// metadata as `onMetaData` (servers strip `@setDataFrame`).
    pub fn to_player(&self) -> Option<DataMessage> {
        self.metadata().map(|m| DataMessage::OnMetaData {
            metadata: m.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_set_data_frame_and_converts_for_players() {
        let meta = Amf0Value::ecma_array([("width", Amf0Value::Number(320.0))]);
        let b = encode_to_bytes(&[
            Amf0Value::string("@setDataFrame"),
            Amf0Value::string("onMetaData"),
            meta.clone(),
        ]);
        let d = DataMessage::decode(&b).unwrap();
        assert_eq!(
            d,
            DataMessage::SetDataFrame {
                metadata: meta.clone()
            }
        );
        assert_eq!(
            d.to_player(),
            Some(DataMessage::OnMetaData { metadata: meta })
        );
    }

    #[test]
    fn round_trips() {
        for d in [
            DataMessage::SampleAccess {
                audio: true,
                video: true,
            },
            DataMessage::OnMetaData {
                metadata: Amf0Value::ecma_array([("duration", Amf0Value::Number(0.0))]),
            },
            DataMessage::SetDataFrame {
                metadata: Amf0Value::Null,
            },
            DataMessage::Other {
                name: "onTextData".into(),
                values: vec![Amf0Value::string("hi")],
            },
        ] {
            assert_eq!(DataMessage::decode(&d.encode()).unwrap(), d);
        }
        assert!(DataMessage::decode(&[]).is_err());
    }
}
