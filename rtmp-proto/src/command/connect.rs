//! `connect` (RTMP spec 7.2.1.1): `"connect"`, transaction id (1), the
//! command object, optional user arguments.

use bytes::Bytes;
use flv_mux::amf0::{encode_to_bytes, Amf0Value, Properties};

use super::GenericCommand;
use crate::error::Error;

/// The fields of the connect command object strom reads, plus the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct Connect {
    /// Transaction id (always 1 in practice).
    pub transaction_id: f64,
    /// The application the client connects to (`live` in `rtmp://h/live/s`).
    pub app: String,
    /// The server URL (`rtmp://h/live`), if sent.
    pub tc_url: Option<String>,
    /// The client's Flash version string, e.g. `FMLE/3.0 (compatible; Lavf59.27.100)`.
    pub flash_ver: Option<String>,
    /// The SWF URL, if sent.
    pub swf_url: Option<String>,
    /// The page URL, if sent.
    pub page_url: Option<String>,
    /// AMF encoding the client wants (0 = AMF0, 3 = AMF3); the `_result`
    /// must echo it.
    pub object_encoding: Option<f64>,
    /// Every other property of the command object, in wire order.
    pub extra: Properties,
    /// Optional user arguments after the command object.
    pub args: Vec<Amf0Value>,
}

impl Connect {
    /// A connect for `app` with only the fields a server needs.
    pub fn new(app: impl Into<String>, tc_url: impl Into<String>) -> Self {
        Connect {
            transaction_id: 1.0,
            app: app.into(),
            tc_url: Some(tc_url.into()),
            flash_ver: None,
            swf_url: None,
            page_url: None,
            object_encoding: None,
            extra: Vec::new(),
            args: Vec::new(),
        }
    }

    pub(super) fn from_generic(g: &GenericCommand) -> Result<Self, Error> {
        let props = g
            .command_object
            .properties()
            .ok_or_else(|| g.violation("command object is not an object"))?;
        let mut c = Connect {
            transaction_id: g.transaction_id,
            app: String::new(),
            tc_url: None,
            flash_ver: None,
            swf_url: None,
            page_url: None,
            object_encoding: None,
            extra: Vec::new(),
            args: g.args.clone(),
        };
        let mut app = None;
        for (k, v) in props {
            let s = || v.as_str().map(str::to_owned);
            match k.as_str() {
                "app" => app = s(),
                "tcUrl" => c.tc_url = s(),
                "flashVer" => c.flash_ver = s(),
                "swfUrl" => c.swf_url = s(),
                "pageUrl" => c.page_url = s(),
                "objectEncoding" => c.object_encoding = v.as_f64(),
                _ => c.extra.push((k.clone(), v.clone())),
            }
        }
        c.app = app.ok_or_else(|| g.violation("missing app"))?;
        Ok(c)
    }

    /// Encodes the command body.
    pub fn encode(&self) -> Bytes {
        let mut props: Properties = vec![("app".into(), Amf0Value::string(self.app.as_str()))];
        let mut opt = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                props.push((k.into(), Amf0Value::string(v.as_str())));
            }
        };
        opt("flashVer", &self.flash_ver);
        opt("swfUrl", &self.swf_url);
        opt("tcUrl", &self.tc_url);
        opt("pageUrl", &self.page_url);
        if let Some(e) = self.object_encoding {
            props.push(("objectEncoding".into(), Amf0Value::Number(e)));
        }
        props.extend(self.extra.iter().cloned());
        let mut values = vec![
            Amf0Value::string("connect"),
            Amf0Value::Number(self.transaction_id),
            Amf0Value::Object(props),
        ];
        values.extend(self.args.iter().cloned());
        encode_to_bytes(&values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;

    #[test]
    fn decodes_ffmpeg_connect() {
        let body = encode_to_bytes(&[
            Amf0Value::string("connect"),
            Amf0Value::Number(1.0),
            Amf0Value::object([
                ("app", Amf0Value::from("live")),
                ("type", "nonprivate".into()),
                ("flashVer", "FMLE/3.0 (compatible; Lavf59.27.100)".into()),
                ("tcUrl", "rtmp://127.0.0.1:1940/live".into()),
            ]),
        ]);
        let Command::Connect(c) = Command::decode(&body).unwrap() else {
            panic!("not connect")
        };
        assert_eq!(c.app, "live");
        assert_eq!(c.tc_url.as_deref(), Some("rtmp://127.0.0.1:1940/live"));
        assert_eq!(c.object_encoding, None);
        assert_eq!(
            c.extra,
            vec![("type".to_owned(), Amf0Value::from("nonprivate"))]
        );
    }

    #[test]
    fn requires_app() {
        let body = encode_to_bytes(&[
            Amf0Value::string("connect"),
            Amf0Value::Number(1.0),
            Amf0Value::object([("tcUrl", Amf0Value::from("rtmp://h/"))]),
        ]);
        assert!(matches!(Command::decode(&body), Err(Error::Violation(_))));
    }

    #[test]
    fn round_trips() {
        let mut c = Connect::new("live", "rtmp://h/live");
        c.flash_ver = Some("LNX 9,0,124,2".into());
        c.object_encoding = Some(3.0);
        c.extra.push(("fpad".into(), Amf0Value::Boolean(false)));
        c.args.push(Amf0Value::string("user-arg"));
        let back = Command::decode(&c.encode()).unwrap();
        assert_eq!(back, Command::Connect(c));
    }
}
