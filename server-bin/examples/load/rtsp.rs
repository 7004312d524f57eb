//! RTSP players over TCP interleaved (RFC 2326 §10.12), built on rtsp-proto:
//! DESCRIBE, SETUP of every described track (`interleaved=2i-2i+1`), PLAY,
//! then `$` frames read with `read_incoming`, video RTP through the H.264
//! depacketizer. A frame is one access unit popped from the depacketizer;
//! bytes are every interleaved payload (RTP and RTCP, audio and video).

use std::sync::Mutex;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use rtsp_proto::media::{H264Depacketizer, RtpPacket};
use rtsp_proto::signal::{read_incoming, Incoming, Limits, Method, Request, Response, Sdp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::rebase::Relative;
use crate::{connected, count_bytes, count_relative, Ctx, PlayerStats};

/// One RTSP connection on the client side.
struct Conn {
    sock: TcpStream,
    buf: BytesMut,
    limits: Limits,
    cseq: u32,
    session: Option<String>,
}

impl Conn {
    /// Sends a request and reads up to its response (RFC 2326 §12.17: matched by CSeq).
    async fn request(
        &mut self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, String> {
        self.cseq += 1;
        let mut req = Request::new(method.clone(), uri);
        req.headers.insert("CSeq", self.cseq.to_string());
        req.headers.insert("User-Agent", "strom-load");
        if let Some(s) = &self.session {
            req.headers.insert("Session", s.clone());
        }
        for (name, value) in headers {
            req.headers.insert(*name, *value);
        }
        let mut out = BytesMut::new();
        req.encode(&mut out);
        self.sock.write_all(&out).await.map_err(|e| e.to_string())?;
        loop {
            match read_incoming(&self.buf, &self.limits).map_err(|e| e.to_string())? {
                Some((Incoming::Response(r), used)) => {
                    self.buf.advance(used);
                    if r.headers.cseq() != Some(self.cseq) {
                        continue;
                    }
                    if r.status != 200 {
                        return Err(format!("{} answered {}", method.as_str(), r.status));
                    }
                    return Ok(r);
                }
                Some((_, used)) => self.buf.advance(used), // nothing else is expected yet
                None => {
                    if self
                        .sock
                        .read_buf(&mut self.buf)
                        .await
                        .map_err(|e| e.to_string())?
                        == 0
                    {
                        return Err(format!("server closed during {}", method.as_str()));
                    }
                }
            }
        }
    }
}

/// `control` resolved against the Content-Base (RFC 2326 §C.1.1).
fn track_url(base: &str, control: Option<&str>) -> String {
    match control {
        None | Some("*") => base.trim_end_matches('/').to_string(),
        Some(c) if c.starts_with("rtsp://") => c.to_string(),
        Some(c) => format!("{}/{c}", base.trim_end_matches('/')),
    }
}

pub async fn player(ctx: &Ctx, stats: &Mutex<PlayerStats>) -> Result<(), String> {
    let args = &ctx.args;
    let started = Instant::now();
    let sock = TcpStream::connect((args.host.as_str(), args.rtsp_port))
        .await
        .map_err(|e| e.to_string())?;
    let _ = sock.set_nodelay(true);
    connected(stats);
    let mut conn = Conn {
        sock,
        buf: BytesMut::with_capacity(64 * 1024),
        limits: Limits::default(),
        cseq: 0,
        session: None,
    };
    let url = format!(
        "rtsp://{}:{}/{}",
        args.host,
        args.rtsp_port,
        args.play_stream()
    );
    let described = conn
        .request(Method::Describe, &url, &[("Accept", "application/sdp")])
        .await?;
    let base = described
        .headers
        .get("Content-Base")
        .unwrap_or(&url)
        .to_string();
    let sdp = Sdp::parse(&described.body).map_err(|e| format!("SDP: {e}"))?;
    let mut video_channel = None;
    for (i, media) in sdp.media.iter().enumerate() {
        let channel = u8::try_from(2 * i).map_err(|_| "too many tracks")?;
        let transport = format!(
            "RTP/AVP/TCP;unicast;interleaved={}-{}",
            channel,
            channel + 1
        );
        let reply = conn
            .request(
                Method::Setup,
                &track_url(&base, media.control()),
                &[("Transport", &transport)],
            )
            .await?;
        if conn.session.is_none() {
            // `Session: id;timeout=N` (§12.37): later requests send the id only.
            let id = reply.headers.session_id().ok_or("SETUP without Session")?;
            conn.session = Some(id.to_string());
        }
        if media.kind == "video" && video_channel.is_none() {
            video_channel = Some(channel);
        }
    }
    let video_channel = video_channel.ok_or("no video track described")?;
    conn.request(Method::Play, &url, &[("Range", "npt=0.000-")])
        .await?;

    let mut depacketizer = H264Depacketizer::new();
    let mut clock = Relative::rtp();
    loop {
        while let Some((incoming, used)) =
            read_incoming(&conn.buf, &conn.limits).map_err(|e| e.to_string())?
        {
            conn.buf.advance(used);
            let Incoming::Interleaved { channel, data } = incoming else {
                continue; // a late response or a server request: nothing to do
            };
            count_bytes(data.len(), ctx, stats);
            if channel != video_channel {
                continue; // audio, and RTCP sender reports on the odd channels
            }
            let packet = RtpPacket::parse(&data).map_err(|e| format!("RTP: {e}"))?;
            // A malformed payload drops its access unit; the stream goes on.
            let _ = depacketizer.push(&packet);
            while let Some(au) = depacketizer.pop() {
                let offset = clock.offset(u64::from(au.timestamp), au.keyframe);
                count_relative(offset, started, ctx, stats);
            }
        }
        if conn
            .sock
            .read_buf(&mut conn.buf)
            .await
            .map_err(|e| e.to_string())?
            == 0
        {
            let lost = depacketizer.stats().lost_packets;
            return Err(format!("server closed ({lost} RTP packets lost)"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::track_url;

    #[test]
    fn track_urls() {
        let base = "rtsp://h:1/live/s/";
        assert_eq!(
            track_url(base, Some("trackID=1")),
            "rtsp://h:1/live/s/trackID=1"
        );
        assert_eq!(track_url(base, Some("rtsp://x/y")), "rtsp://x/y");
        assert_eq!(track_url(base, None), "rtsp://h:1/live/s");
    }
}
