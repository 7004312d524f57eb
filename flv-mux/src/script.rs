//! Script data (FLV spec v10.1, E.4.4): an AMF0 name followed by values,
//! e.g. `onMetaData` + an ECMA array. Publishers send it over RTMP wrapped
//! as `@setDataFrame`, `onMetaData`, {…}; FLV files and players expect it
//! without the wrapper.

use bytes::Bytes;

use crate::amf0::{decode_all, encode_to_bytes, Amf0Value, Properties};
use crate::error::FlvError;

/// The RTMP data-message wrapper that asks the server to store a frame.
pub const SET_DATA_FRAME: &str = "@setDataFrame";
/// The metadata handler name.
pub const ON_METADATA: &str = "onMetaData";

/// A decoded script data body.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptData {
    /// The body started with `@setDataFrame` (an RTMP publisher's data
    /// message); `name` is the string after it.
    pub set_data_frame: bool,
    /// The handler name, e.g. `onMetaData`.
    pub name: String,
    /// The values after the name.
    pub args: Vec<Amf0Value>,
}

impl ScriptData {
    /// Decodes a complete script data body.
    pub fn decode(body: &[u8]) -> Result<Self, FlvError> {
        let mut values = decode_all(body)?.into_iter();
        let mut name = match values.next() {
            Some(Amf0Value::String(s)) => s,
            _ => {
                return Err(FlvError::Invalid {
                    what: "script data name (not an AMF0 string)",
                    value: 0,
                })
            }
        };
        let mut set_data_frame = false;
        let mut args: Vec<Amf0Value> = values.collect();
        if name == SET_DATA_FRAME {
            if let Some(Amf0Value::String(_)) = args.first() {
                set_data_frame = true;
                if let Amf0Value::String(inner) = args.remove(0) {
                    name = inner;
                }
            }
        }
        Ok(ScriptData {
            set_data_frame,
            name,
            args,
        })
    }

    /// Encodes the body (with `@setDataFrame` first if `set_data_frame`).
    pub fn encode(&self) -> Bytes {
        let mut values = Vec::with_capacity(self.args.len() + 2);
        if self.set_data_frame {
            values.push(Amf0Value::string(SET_DATA_FRAME));
        }
        values.push(Amf0Value::String(self.name.clone()));
        values.extend(self.args.iter().cloned());
        encode_to_bytes(&values)
    }

    /// An `onMetaData` body as written into FLV (no `@setDataFrame`).
    pub fn on_metadata(meta: &Metadata) -> Self {
        ScriptData {
            set_data_frame: false,
            name: ON_METADATA.to_owned(),
            args: vec![meta.to_amf()],
        }
    }

    /// The typed metadata if this is `onMetaData` with an object or ECMA
    /// array argument.
    pub fn metadata(&self) -> Option<Metadata> {
        if self.name != ON_METADATA {
            return None;
        }
        self.args
            .first()
            .and_then(Amf0Value::properties)
            .map(Metadata::from_properties)
    }
}

/// The usual `onMetaData` fields (FLV spec v10.1, E.5), typed. Fields with
/// an unexpected AMF0 type, and unknown fields, go to `extra` in their
/// original order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    /// `duration` in seconds (0 for live).
    pub duration: Option<f64>,
    /// `width` in pixels.
    pub width: Option<f64>,
    /// `height` in pixels.
    pub height: Option<f64>,
    /// `videodatarate` in kbit/s.
    pub videodatarate: Option<f64>,
    /// `framerate` in frames per second.
    pub framerate: Option<f64>,
    /// `videocodecid`: a legacy CodecID (7 AVC) or, in E-RTMP, a FourCC
    /// as a number.
    pub videocodecid: Option<f64>,
    /// `audiodatarate` in kbit/s.
    pub audiodatarate: Option<f64>,
    /// `audiosamplerate` in Hz.
    pub audiosamplerate: Option<f64>,
    /// `audiosamplesize` in bits.
    pub audiosamplesize: Option<f64>,
    /// `stereo`.
    pub stereo: Option<bool>,
    /// `audiocodecid`: a legacy SoundFormat (10 AAC) or a FourCC number.
    pub audiocodecid: Option<f64>,
    /// `encoder`, e.g. `Lavf59.27.100` or `obs-output module`.
    pub encoder: Option<String>,
    /// `filesize` in bytes.
    pub filesize: Option<f64>,
    /// Every other property, in order.
    pub extra: Properties,
}

impl Metadata {
    /// Reads the known fields from `onMetaData` properties.
    pub fn from_properties(props: &[(String, Amf0Value)]) -> Self {
        let mut m = Metadata::default();
        for (k, v) in props {
            let num = v.as_f64();
            let slot = match k.as_str() {
                "duration" => &mut m.duration,
                "width" => &mut m.width,
                "height" => &mut m.height,
                "videodatarate" => &mut m.videodatarate,
                "framerate" => &mut m.framerate,
                "videocodecid" => &mut m.videocodecid,
                "audiodatarate" => &mut m.audiodatarate,
                "audiosamplerate" => &mut m.audiosamplerate,
                "audiosamplesize" => &mut m.audiosamplesize,
                "audiocodecid" => &mut m.audiocodecid,
                "filesize" => &mut m.filesize,
                "stereo" if v.as_bool().is_some() => {
                    m.stereo = v.as_bool();
                    continue;
                }
                "encoder" if v.as_str().is_some() => {
                    m.encoder = v.as_str().map(str::to_owned);
                    continue;
                }
                _ => {
                    m.extra.push((k.clone(), v.clone()));
                    continue;
                }
            };
            match num {
                Some(n) => *slot = Some(n),
                None => m.extra.push((k.clone(), v.clone())),
            }
        }
        m
    }

    /// The metadata as an ECMA array, known fields first in the order
    /// ffmpeg writes them, then `extra`.
    pub fn to_amf(&self) -> Amf0Value {
        let mut p = Properties::new();
        let num = |k: &str, v: Option<f64>, p: &mut Properties| {
            if let Some(v) = v {
                p.push((k.to_owned(), Amf0Value::Number(v)));
            }
        };
        num("duration", self.duration, &mut p);
        num("width", self.width, &mut p);
        num("height", self.height, &mut p);
        num("videodatarate", self.videodatarate, &mut p);
        num("framerate", self.framerate, &mut p);
        num("videocodecid", self.videocodecid, &mut p);
        num("audiodatarate", self.audiodatarate, &mut p);
        num("audiosamplerate", self.audiosamplerate, &mut p);
        num("audiosamplesize", self.audiosamplesize, &mut p);
        if let Some(s) = self.stereo {
            p.push(("stereo".to_owned(), Amf0Value::Boolean(s)));
        }
        num("audiocodecid", self.audiocodecid, &mut p);
        if let Some(e) = &self.encoder {
            p.push(("encoder".to_owned(), Amf0Value::String(e.clone())));
        }
        num("filesize", self.filesize, &mut p);
        p.extend(self.extra.iter().cloned());
        Amf0Value::EcmaArray(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs_like() -> Metadata {
        Metadata {
            width: Some(1280.0),
            height: Some(720.0),
            framerate: Some(30.0),
            videocodecid: Some(7.0),
            audiosamplerate: Some(48_000.0),
            stereo: Some(true),
            audiocodecid: Some(10.0),
            encoder: Some("obs-output module (libobs version 30.0.0)".into()),
            extra: vec![("2.1".into(), Amf0Value::Boolean(false))],
            ..Metadata::default()
        }
    }

    #[test]
    fn set_data_frame_is_unwrapped_and_rewrapped() {
        let mut sd = ScriptData::on_metadata(&obs_like());
        sd.set_data_frame = true;
        let body = sd.encode();
        assert_eq!(&body[..16], b"\x02\x00\x0d@setDataFrame");
        let back = ScriptData::decode(&body).unwrap();
        assert_eq!(back, sd);
        assert_eq!(back.metadata(), Some(obs_like()));
        let flv = ScriptData {
            set_data_frame: false,
            ..back
        };
        assert_eq!(&flv.encode()[..13], b"\x02\x00\x0aonMetaData");
    }

    #[test]
    fn wrong_types_go_to_extra() {
        let props = vec![
            ("width".to_owned(), Amf0Value::string("1280")),
            ("height".to_owned(), Amf0Value::Number(720.0)),
        ];
        let m = Metadata::from_properties(&props);
        assert_eq!(m.width, None);
        assert_eq!(m.height, Some(720.0));
        assert_eq!(m.extra, vec![props[0].clone()]);
    }

    #[test]
    fn bad_bodies() {
        assert!(ScriptData::decode(&[0x05]).is_err());
        assert!(ScriptData::decode(&[]).is_err());
        assert!(ScriptData::decode(&[0x02, 0x00]).is_err());
        let other =
            ScriptData::decode(&encode_to_bytes(&[Amf0Value::string("onCuePoint")])).unwrap();
        assert_eq!(other.metadata(), None);
    }
}
