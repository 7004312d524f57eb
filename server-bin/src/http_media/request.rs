//! The request head of a media request: read with a size limit and a
//! deadline, the request line parsed into app, stream and format, and a
//! WebSocket upgrade (`Upgrade: websocket`) checked by ws-proto.

use std::time::Duration;

use stream_core::StreamKey;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::http::url::percent_decode;

/// Largest request head accepted.
pub const MAX_HEAD: usize = 8 * 1024;

/// The media formats served over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// `/app/stream.live.flv`
    Flv,
    /// `/app/stream.live.ts`
    Ts,
    /// `/app/stream.live.mp4`
    Mp4,
    /// `/app/stream/hls.m3u8` and `/app/stream/{sequence}.ts`
    Hls,
    /// WebRTC signalling: WHEP/WHIP offers and session resources.
    WebRtc,
    /// A recorded range as one MP4: `/api/v1/recordings/{app}/{stream}/get`.
    RecordingGet,
}

/// What an HLS request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HlsTarget {
    /// The live playlist.
    Playlist,
    /// One segment, by media sequence number.
    Segment(u64),
    /// HLS with fMP4 segments: `hls.fmp4.m3u8` and `fmp4/…`.
    Fmp4(Fmp4Target),
}

/// What an fMP4-HLS request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmp4Target {
    /// `hls.fmp4.m3u8`, the LL-HLS playlist.
    Playlist,
    /// `fmp4/init.mp4`.
    Init,
    /// `fmp4/{msn}.m4s`.
    Segment(u64),
    /// `fmp4/{msn}.{part}.m4s`.
    Part(u64, u64),
}

/// The target of a file name under `fmp4/`.
fn fmp4_file(file: &str) -> Option<Fmp4Target> {
    if file == "init.mp4" {
        return Some(Fmp4Target::Init);
    }
    let number = |d: &str| {
        (!d.is_empty() && d.len() <= 20 && d.bytes().all(|b| b.is_ascii_digit()))
            .then(|| d.parse::<u64>().ok())
            .flatten()
    };
    let name = file.strip_suffix(".m4s")?;
    Some(match name.split_once('.') {
        None => Fmp4Target::Segment(number(name)?),
        Some((msn, part)) => Fmp4Target::Part(number(msn)?, number(part)?),
    })
}

/// A parsed media request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRequest {
    /// `GET` or `HEAD`.
    pub head_only: bool,
    /// HTTP/1.1 (chunked responses) or HTTP/1.0 (close-delimited).
    pub http11: bool,
    /// Which format.
    pub kind: MediaKind,
    /// The stream.
    pub key: StreamKey,
    /// The query string, kept for authentication hooks.
    pub query: Option<String>,
    /// A valid WebSocket upgrade (`ws://host/app/stream.live.flv`): the
    /// response is the `101` handshake, then one binary message per push.
    pub websocket: Option<ws_proto::Accept>,
}

/// Why a request head was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Larger than [`MAX_HEAD`].
    #[error("request head larger than {MAX_HEAD} bytes")]
    TooLarge,
    /// Not a request we serve.
    #[error("bad request: {0}")]
    Bad(&'static str),
    /// The app or stream name breaks the naming rules (`stream_core::check_name`).
    #[error("bad request: {0}")]
    Name(#[from] stream_core::NameError),
    /// An `Upgrade: websocket` request with a bad handshake.
    #[error("bad websocket handshake: {0}")]
    WebSocket(#[from] ws_proto::HandshakeError),
    /// The client was too slow.
    #[error("no complete request head within {0:?}")]
    Timeout(Duration),
    /// Socket error or early close.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

impl RequestError {
    /// The status to refuse with: 426 for a WebSocket version other than
    /// 13 (the reply then carries `Sec-WebSocket-Version: 13`), else 400.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::WebSocket(e) => e.status(),
            _ => 400,
        }
    }
}

/// The media kind a request line asks for, if any (used to classify).
pub fn media_kind_of_line(line: &[u8]) -> Option<MediaKind> {
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?;
    let target = parts.next()?;
    if crate::webrtc::signal::is_signalling(method, target.split('?').next()?) {
        return Some(MediaKind::WebRtc);
    }
    if method != "GET" && method != "HEAD" {
        return None;
    }
    let path = target.split('?').next()?;
    if is_recording_get(path) {
        return Some(MediaKind::RecordingGet);
    }
    kind_of_path(path).map(|(kind, _)| kind)
}

/// `/api/v1/recordings/{app}/{stream}/get` (the app may have several
/// segments): a download served on a media worker, not by the control plane.
pub fn is_recording_get(path: &str) -> bool {
    path.strip_prefix("/api/v1/recordings/")
        .and_then(|rest| rest.strip_suffix("/get"))
        .is_some_and(|name| name.contains('/'))
}

/// The media kind of a path and the part before its suffix.
fn kind_of_path(path: &str) -> Option<(MediaKind, &str)> {
    if let Some(base) = path.strip_suffix(".live.flv") {
        return Some((MediaKind::Flv, base));
    }
    if let Some(base) = path.strip_suffix(".live.ts") {
        return Some((MediaKind::Ts, base));
    }
    if let Some(base) = path.strip_suffix(".live.mp4") {
        return Some((MediaKind::Mp4, base));
    }
    if let Some(base) = path.strip_suffix("/hls.m3u8") {
        return Some((MediaKind::Hls, base));
    }
    if let Some(base) = path.strip_suffix("/hls.fmp4.m3u8") {
        return Some((MediaKind::Hls, base));
    }
    let (base, file) = path.rsplit_once('/')?;
    if let Some(stream) = base.strip_suffix("/fmp4") {
        if fmp4_file(file).is_some() {
            return Some((MediaKind::Hls, stream));
        }
    }
    let digits = file.strip_suffix(".ts")?;
    (!digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some((MediaKind::Hls, base))
}

/// Splits an HLS request path into its stream and target.
pub fn parse_hls_path(path: &str) -> Result<(StreamKey, HlsTarget), RequestError> {
    match kind_of_path(path) {
        Some((MediaKind::Hls, base)) => {
            let split = path.rsplit_once('/');
            let fmp4 = split
                .filter(|(dir, _)| dir.ends_with("/fmp4"))
                .and_then(|(_, file)| fmp4_file(file));
            let target = match (split.map(|(_, f)| f), fmp4) {
                (Some("hls.fmp4.m3u8"), _) => HlsTarget::Fmp4(Fmp4Target::Playlist),
                (_, Some(fmp4)) => HlsTarget::Fmp4(fmp4),
                (Some("hls.m3u8"), None) => HlsTarget::Playlist,
                (Some(file), None) => file
                    .strip_suffix(".ts")
                    .and_then(|d| d.parse().ok())
                    .map(HlsTarget::Segment)
                    .ok_or(RequestError::Bad("bad segment name"))?,
                (None, None) => return Err(RequestError::Bad("not an hls path")),
            };
            Ok((stream_key(base)?, target))
        }
        _ => Err(RequestError::Bad("not an hls path")),
    }
}

/// Reads the whole request head (through the blank line) and parses it.
pub async fn read(
    stream: &mut TcpStream,
    deadline: Duration,
) -> Result<MediaRequest, RequestError> {
    let mut head = Vec::with_capacity(1024);
    let read = async {
        let mut buf = [0u8; 1024];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Err(RequestError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            head.extend_from_slice(&buf[..n]);
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                return Ok(());
            }
            if head.len() > MAX_HEAD {
                return Err(RequestError::TooLarge);
            }
        }
    };
    tokio::time::timeout(deadline, read)
        .await
        .map_err(|_| RequestError::Timeout(deadline))??;
    parse(&head)
}

/// Parses a request head.
pub fn parse(head: &[u8]) -> Result<MediaRequest, RequestError> {
    let line_end = head
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(RequestError::Bad("no request line"))?;
    let line = std::str::from_utf8(&head[..line_end])
        .map_err(|_| RequestError::Bad("request line is not UTF-8"))?
        .trim_end();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::Bad("malformed request line"));
    };
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(RequestError::Bad("only GET and HEAD")),
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(RequestError::Bad("unsupported HTTP version")),
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (target, None),
    };
    let (kind, base) = match kind_of_path(path) {
        Some((kind @ (MediaKind::Flv | MediaKind::Ts | MediaKind::Mp4), base)) => (kind, base),
        _ => return Err(RequestError::Bad("not a media path")),
    };
    let key = stream_key(base)?;
    let websocket = websocket(&head[line_end + 1..], head_only, http11)?;
    Ok(MediaRequest {
        head_only,
        http11,
        kind,
        key,
        query,
        websocket,
    })
}

/// The WebSocket upgrade the header lines ask for, if any: `None` for
/// plain HTTP, an error for a bad handshake (or one over HEAD or HTTP/1.0).
fn websocket(
    headers: &[u8],
    head_only: bool,
    http11: bool,
) -> Result<Option<ws_proto::Accept>, RequestError> {
    let mut upgrade = ws_proto::UpgradeRequest::default();
    for line in headers.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        if let Some((name, value)) = line.split_once(':') {
            upgrade.header(name, value);
        }
    }
    if !upgrade.is_upgrade() {
        return Ok(None);
    }
    if head_only || !http11 {
        return Err(RequestError::Bad(
            "a websocket upgrade needs GET over HTTP/1.1",
        ));
    }
    Ok(Some(upgrade.accept()?))
}

/// `/app[/more]/stream` (percent-encoded) → the stream key; refuses
/// traversal (`..`, `.`, encoded slashes), missing parts and names
/// [`StreamKey::parse`] refuses.
pub fn stream_key(base: &str) -> Result<StreamKey, RequestError> {
    let segments: Vec<String> = base
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect::<Option<_>>()
        .ok_or(RequestError::Bad("malformed percent-encoding"))?;
    if segments
        .iter()
        .any(|s| s == ".." || s == "." || s.contains('/') || s.contains('\\'))
    {
        return Err(RequestError::Bad("path traversal"));
    }
    let Some((stream, app)) = segments.split_last() else {
        return Err(RequestError::Bad("no stream name"));
    };
    if app.is_empty() || stream.is_empty() {
        return Err(RequestError::Bad("expected /app/stream"));
    }
    Ok(StreamKey::parse(app.join("/"), stream.clone())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_request_lines() {
        assert_eq!(
            media_kind_of_line(b"GET /live/a.live.flv HTTP/1.1\r"),
            Some(MediaKind::Flv)
        );
        assert_eq!(
            media_kind_of_line(b"GET /live/a.live.flv?t=1 HTTP/1.1"),
            Some(MediaKind::Flv)
        );
        assert_eq!(media_kind_of_line(b"GET /api/v1/streams HTTP/1.1"), None);
        assert_eq!(media_kind_of_line(b"POST /live/a.live.flv HTTP/1.1"), None);
        assert_eq!(media_kind_of_line(b"\xff\xfe"), None);
        assert_eq!(
            media_kind_of_line(b"GET /live/a.live.ts HTTP/1.1"),
            Some(MediaKind::Ts)
        );
        assert_eq!(
            media_kind_of_line(b"GET /live/a/hls.m3u8?x=1 HTTP/1.1"),
            Some(MediaKind::Hls)
        );
        assert_eq!(
            media_kind_of_line(b"GET /live/a/17.ts HTTP/1.1"),
            Some(MediaKind::Hls)
        );
        assert_eq!(media_kind_of_line(b"GET /live/a/x.ts HTTP/1.1"), None);
    }

    #[test]
    fn parses_hls_paths() {
        assert_eq!(
            parse_hls_path("/live/cam/hls.m3u8").unwrap(),
            (StreamKey::new("live", "cam"), HlsTarget::Playlist)
        );
        assert_eq!(
            parse_hls_path("/a/b/cam/42.ts").unwrap(),
            (StreamKey::new("a/b", "cam"), HlsTarget::Segment(42))
        );
        let cam = StreamKey::new("live", "cam");
        for (path, target) in [
            ("/live/cam/hls.fmp4.m3u8", Fmp4Target::Playlist),
            ("/live/cam/fmp4/init.mp4", Fmp4Target::Init),
            ("/live/cam/fmp4/17.m4s", Fmp4Target::Segment(17)),
            ("/live/cam/fmp4/17.3.m4s", Fmp4Target::Part(17, 3)),
        ] {
            let parsed = parse_hls_path(path).unwrap();
            assert_eq!(parsed, (cam.clone(), HlsTarget::Fmp4(target)), "{path}");
            let line = format!("GET {path}?_HLS_msn=1 HTTP/1.1");
            assert_eq!(media_kind_of_line(line.as_bytes()), Some(MediaKind::Hls));
        }
        for bad in [
            "/live/cam/fmp4/x.m4s",
            "/live/cam/fmp4/1.2.3.m4s",
            "/live/cam/fmp4/.m4s",
        ] {
            assert!(parse_hls_path(bad).is_err(), "{bad}");
        }
        for bad in [
            "/live/../hls.m3u8",
            "/live/%2e%2e/hls.m3u8",
            "/..%2f..%2fetc/x/1.ts",
            "/hls.m3u8",
            "/live/cam/99999999999999999999999.ts",
        ] {
            assert!(parse_hls_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_app_stream_and_query() {
        let r = parse(b"GET /live/cam%2D1.live.flv?token=x HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(r.key, StreamKey::new("live", "cam-1"));
        assert_eq!(r.query.as_deref(), Some("token=x"));
        assert!(r.http11 && !r.head_only);
        let r = parse(b"HEAD /a/b/s.live.flv HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(r.key, StreamKey::new("a/b", "s"));
        assert!(!r.http11 && r.head_only);
    }

    #[test]
    fn reads_websocket_upgrades() {
        let r = parse(
            b"GET /live/cam.live.ts HTTP/1.1\r\nHost: a\r\nupgrade: WebSocket\r\n\
              Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: x\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.kind, MediaKind::Ts);
        let ws = r.websocket.expect("an upgrade");
        assert_eq!(ws.accept_value(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let plain = parse(b"GET /live/cam.live.flv HTTP/1.1\r\nConnection: Upgrade\r\n\r\n");
        assert_eq!(plain.unwrap().websocket, None);
        let v8 = parse(
            b"GET /live/cam.live.flv HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        );
        assert_eq!(v8.unwrap_err().status(), 426);
        let no_key = parse(
            b"GET /live/cam.live.flv HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        );
        assert_eq!(no_key.unwrap_err().status(), 400);
        let head = parse(b"HEAD /live/cam.live.flv HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
        assert_eq!(head.unwrap_err().status(), 400);
    }

    #[test]
    fn refuses_bad_requests() {
        for bad in [
            &b"GET /s.live.flv HTTP/1.1\r\n\r\n"[..],
            b"GET /live/..%2F..%2Fetc.live.flv HTTP/1.1\r\n\r\n",
            b"GET /../x.live.flv HTTP/1.1\r\n\r\n",
            b"GET /live/x.live.flv HTTP/2\r\n\r\n",
            b"PUT /live/x.live.flv HTTP/1.1\r\n\r\n",
            b"GET /live/x.flv HTTP/1.1\r\n\r\n",
            // Names: whitespace, control characters, too long.
            b"GET /live/cam%201.live.flv HTTP/1.1\r\n\r\n",
            b"GET /live/a%0D%0Ab.live.flv HTTP/1.1\r\n\r\n",
            b"GET /live/a%7F.live.flv HTTP/1.1\r\n\r\n",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let long = format!("GET /live/{}.live.flv HTTP/1.1\r\n\r\n", "x".repeat(129));
        let e = parse(long.as_bytes()).unwrap_err();
        assert!(
            e.to_string().contains("stream name is 129 bytes long"),
            "{e}"
        );
        assert!(parse_hls_path("/live/a%09b/hls.m3u8").is_err());
    }
}
