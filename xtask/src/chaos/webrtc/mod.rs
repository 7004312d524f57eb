//! Scenarios 24 to 27: WebRTC under chaos. Real peers are headless
//! Chromium driven by `cargo xtask browser`'s node driver ([`Browser`]);
//! attackers post offers and send datagrams from [`super::attack::ATTACKER`].
//! Each scenario runs strom with its own `[webrtc]` deadlines and caps
//! ([`env()`]); what the server counts comes from `/metrics`
//! (`strom_webrtc_*`) and `/api/v1/sessions`.

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::browser::node::Driver;

mod flood;
pub(crate) mod flv;
mod offers;
mod replaced;
mod vanish;

pub use flood::udp_flood;
pub use offers::offers_abandoned;
pub use replaced::whip_replaced;
pub use vanish::vanish;

use super::clients::Rng;
use super::server::{signal, Server};

/// `webrtc.peer_timeout_ms` in scenarios 24 to 26.
pub const PEER_TIMEOUT_MS: u64 = 3000;
/// `webrtc.connect_timeout_ms` in scenario 27.
pub const CONNECT_TIMEOUT_MS: u64 = 2000;
/// `webrtc.max_sessions` in scenario 27 (below the offers it posts).
pub const MAX_SESSIONS: usize = 100;
/// `stream.continue_push_ms` in scenario 26: how long the players of a
/// stream whose WHIP publisher died are kept for a new one.
pub const CONTINUE_PUSH_MS: u64 = 8000;

/// The `STROM_*` settings of WebRTC scenario `n` (none for the others).
pub fn env(n: u8) -> Vec<(String, String)> {
    let peer = ("STROM_WEBRTC__PEER_TIMEOUT_MS", PEER_TIMEOUT_MS.to_string());
    let set: Vec<(&str, String)> = match n {
        24 | 25 => vec![peer],
        26 => vec![
            peer,
            (
                "STROM_STREAM__CONTINUE_PUSH_MS",
                CONTINUE_PUSH_MS.to_string(),
            ),
        ],
        27 => vec![
            peer,
            (
                "STROM_WEBRTC__CONNECT_TIMEOUT_MS",
                CONNECT_TIMEOUT_MS.to_string(),
            ),
            ("STROM_WEBRTC__MAX_SESSIONS", MAX_SESSIONS.to_string()),
        ],
        _ => vec![],
    };
    set.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A Chromium peer (`node run.mjs whep|whip`), killed when dropped.
pub struct Browser {
    driver: Driver,
}

impl Browser {
    /// Chromium playing `live/<stream>` over WHEP for `secs` (its figures
    /// from `settle` s after the first frame), then hanging up.
    pub fn whep(tag: &str, http: u16, stream: &str, secs: f64) -> Result<Browser, String> {
        let url = format!("http://127.0.0.1:{http}/live/{stream}/whep");
        let secs = secs.to_string();
        let args = ["whep", "--url", &url, "--secs", &secs, "--settle", "1"];
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Ok(Browser {
            driver: Driver::start(tag, &args)?,
        })
    }

    /// Chromium publishing its fake camera and microphone to `live/<stream>`
    /// over WHIP (for at most `secs`); [`Browser::publishing`] says when it is.
    pub fn whip(tag: &str, http: u16, stream: &str, secs: u64) -> Result<Browser, String> {
        let url = format!("http://127.0.0.1:{http}/live/{stream}/whip");
        let args: Vec<String> = ["whip", "--url", &url, "--secs", &secs.to_string()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        Ok(Browser {
            driver: Driver::start(tag, &args)?,
        })
    }

    /// A WHIP publisher's `publishing` line (within `within`): its
    /// connection time in ms, or why it failed.
    pub fn publishing(&mut self, within: Duration) -> Result<f64, String> {
        let v = self.driver.next_json(within)?;
        if v["ok"] != true {
            return Err(format!(
                "WHIP publisher: {}",
                v["error"]
                    .as_str()
                    .map_or_else(|| v.to_string(), String::from)
            ));
        }
        Ok(v["connectedMs"].as_f64().unwrap_or(0.0))
    }

    /// A WHEP viewer's result (within `within`): its one join's figures.
    pub fn whep_result(&mut self, within: Duration) -> Result<serde_json::Value, String> {
        let v = self.driver.next_json(within)?;
        if let Some(e) = v["error"].as_str() {
            return Err(format!("browser: {e}"));
        }
        let join = v["joins"][0].clone();
        if join["ok"] != true {
            return Err(format!(
                "WHEP viewer: {} (events {})",
                join["error"].as_str().unwrap_or("failed"),
                join["events"]
            ));
        }
        Ok(join)
    }

    /// SIGKILLs Chromium (its whole process group: playwright starts it as
    /// a group leader), so nothing, not even a DTLS close, leaves it.
    pub fn kill_chromium(&self) -> Result<(), String> {
        let node = self.driver.pid();
        let chromium = children(node)
            .into_iter()
            .next()
            .ok_or_else(|| format!("no Chromium under node {node}"))?;
        let ok = std::process::Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{chromium}")])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Ok(())
        } else {
            signal(chromium, "KILL")
        }
    }
}

/// The processes whose parent is `pid` (from `/proc/*/stat`).
fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    // pid (comm) state ppid …: comm may hold spaces.
                    let rest = s.rsplit_once(')')?.1;
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// One WebRTC session of `/api/v1/sessions`.
#[derive(Debug, Clone)]
pub struct RtcSession {
    /// Its id.
    pub id: u64,
    /// Bytes sent to it.
    pub bytes_out: u64,
    /// Bytes received from it.
    pub bytes_in: u64,
}

/// The WebRTC sessions open now.
pub fn rtc_sessions(server: &Server) -> Result<Vec<RtcSession>, String> {
    rtc_sessions_at(server.http)
}

/// [`rtc_sessions`] of the server on HTTP port `http` (from any thread).
pub fn rtc_sessions_at(http: u16) -> Result<Vec<RtcSession>, String> {
    let (status, body) = super::server::http_get(http, "/api/v1/sessions")?;
    if status != 200 {
        return Err(format!("GET /api/v1/sessions: {status} {body}"));
    }
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("/api/v1/sessions: {e}"))?;
    Ok(v["sessions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|s| s["protocol"] == "webrtc")
        .map(|s| RtcSession {
            id: s["id"].as_u64().unwrap_or(0),
            bytes_out: s["bytes_out"].as_u64().unwrap_or(0),
            bytes_in: s["bytes_in"].as_u64().unwrap_or(0),
        })
        .collect())
}

/// Waits for a WebRTC session other than `known` that has received media
/// from its peer and sent some (connected); its id.
pub fn wait_new_session(server: &Server, known: &[u64], within: Duration) -> Result<u64, String> {
    let mut found = None;
    super::wait_for(within, || {
        found = rtc_sessions(server).ok().and_then(|ss| {
            ss.into_iter()
                .find(|s| !known.contains(&s.id) && s.bytes_in > 0 && s.bytes_out > 10_000)
                .map(|s| s.id)
        });
        found.is_some()
    });
    found.ok_or_else(|| {
        format!(
            "no new connected WebRTC session within {} s: {:?}",
            within.as_secs(),
            rtc_sessions(server)
        )
    })
}

/// Waits until session `id` is gone; how long it took.
pub fn wait_session_gone(server: &Server, id: u64, within: Duration) -> Option<Duration> {
    wait_gone_at(server.http, id, within)
}

/// [`wait_session_gone`] on HTTP port `http` (from any thread).
pub fn wait_gone_at(http: u16, id: u64, within: Duration) -> Option<Duration> {
    super::wait_for(within, || {
        rtc_sessions_at(http).is_ok_and(|ss| ss.iter().all(|s| s.id != id))
    })
}

/// A `strom_webrtc_*` sample of `/metrics` (`name{labels}` exactly as the
/// server writes it, e.g. `strom_webrtc_datagrams_total{kind="unrouted"}`);
/// `None` when the server does not have it.
pub fn metric(server: &Server, sample: &str) -> Option<f64> {
    let (status, text) = server.get("/metrics").ok()?;
    if status != 200 {
        return None;
    }
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The offer of a WHEP viewer (recvonly H.264 and Opus, as Chromium
/// writes them) with fresh ICE credentials and DTLS fingerprint.
pub fn viewer_offer(rng: &mut Rng) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut word = |n: usize| -> String {
        (0..n)
            .map(|_| ALNUM[rng.below(ALNUM.len() as u64) as usize] as char)
            .collect()
    };
    let (ufrag, pwd) = (word(4), word(24));
    let fingerprint: Vec<String> = (0..32)
        .map(|_| format!("{:02X}", rng.next_u64() as u8))
        .collect();
    let session = rng.next_u64() >> 2;
    let common = format!(
        "c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:{ufrag}\r\n\
         a=ice-pwd:{pwd}\r\na=ice-options:trickle\r\na=fingerprint:sha-256 {}\r\n\
         a=setup:actpass\r\n",
        fingerprint.join(":")
    );
    format!(
        "v=0\r\no=- {session} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
         a=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n\
         m=video 9 UDP/TLS/RTP/SAVPF 102 103\r\n{common}a=mid:0\r\n\
         a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=recvonly\r\na=rtcp-mux\r\n\
         a=rtcp-rsize\r\na=rtpmap:102 H264/90000\r\na=rtcp-fb:102 ccm fir\r\n\
         a=rtcp-fb:102 nack\r\na=rtcp-fb:102 nack pli\r\n\
         a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
         a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n\
         m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8\r\n{common}a=mid:1\r\n\
         a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=recvonly\r\na=rtcp-mux\r\n\
         a=rtcp-rsize\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    )
}

/// What an offer got: status, `Location`, body.
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The session resource (`Location`), if any.
    pub location: Option<String>,
    /// The answer SDP, or the error.
    pub body: String,
}

/// `POST path` with an SDP offer, from `src` (or 127.0.0.1), within `within`.
pub fn post_offer(
    src: Option<Ipv4Addr>,
    port: u16,
    path: &str,
    sdp: &str,
    within: Duration,
) -> Result<Answer, String> {
    let mut sock = match src {
        Some(a) => super::attack::connect_from(a, port, within)?,
        None => super::server::connect_local(port, within)?,
    };
    sock.set_read_timeout(Some(within))
        .map_err(|e| e.to_string())?;
    write!(
        sock,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/sdp\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .map_err(|e| format!("POST {path}: {e}"))?;
    let mut data = Vec::new();
    sock.read_to_end(&mut data)
        .map_err(|e| format!("POST {path}: {e}"))?;
    let text = String::from_utf8_lossy(&data);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("POST {path}: no status line in {head:?}"))?;
    let location = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("location")
            .then(|| v.trim().to_string())
    });
    Ok(Answer {
        status,
        location,
        body: body.to_string(),
    })
}

/// The UDP port of the answer's `a=candidate` line.
pub fn candidate_port(answer: &str) -> Option<u16> {
    answer
        .lines()
        .find_map(|l| l.strip_prefix("a=candidate:"))
        .and_then(|c| c.split_whitespace().nth(5)?.parse().ok())
}

/// What [`probe_offer`] learnt.
pub struct Probed {
    /// strom's WebRTC UDP port (the answer's candidate).
    pub port: u16,
    /// The ufrag strom gave that session (ended since).
    pub ufrag: String,
}

/// One offer of [`viewer_offer`]'s template from 127.0.0.1 to
/// `live/<stream>` (which must be live and have no WebRTC session): strom
/// must answer it 201; the session is then ended (`DELETE`) and gone
/// before this returns.
pub fn probe_offer(server: &Server, stream: &str, rng: &mut Rng) -> Result<Probed, String> {
    let path = format!("/live/{stream}/whep");
    let a = post_offer(
        None,
        server.http,
        &path,
        &viewer_offer(rng),
        Duration::from_secs(3),
    )?;
    if a.status != 201 {
        return Err(format!("POST {path}: {} {}", a.status, a.body));
    }
    let location = a.location.ok_or("201 without Location")?;
    let (status, body) = server.call("DELETE", &location)?;
    if status != 200 {
        return Err(format!("DELETE {location}: {status} {body}"));
    }
    let gone = super::wait_for(Duration::from_secs(3), || {
        rtc_sessions(server).is_ok_and(|s| s.is_empty())
    });
    gone.ok_or("the probing offer's session outlived its DELETE by 3 s")?;
    let port = candidate_port(&a.body);
    let port = port.ok_or_else(|| format!("no a=candidate in the answer: {}", a.body))?;
    let ufrag = a
        .body
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .ok_or_else(|| format!("no a=ice-ufrag in the answer: {}", a.body))?;
    Ok(Probed {
        port,
        ufrag: ufrag.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_of_an_answer() {
        let a = "v=0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 40123 typ host\r\n";
        assert_eq!(candidate_port(a), Some(40123));
        assert_eq!(candidate_port("v=0\r\n"), None);
    }

    #[test]
    fn offers_differ() {
        let mut rng = Rng::new(3);
        let (a, b) = (viewer_offer(&mut rng), viewer_offer(&mut rng));
        assert_ne!(a, b);
        assert!(a.contains("a=ice-ufrag:") && a.contains("a=fingerprint:sha-256 "));
    }
}
