//! A hook server on a loopback port for the tests of webhooks: it records
//! every call (path, JSON body) and answers what the test's rule says, or
//! holds every connection open unanswered.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// Connections one hook server takes before it stops accepting.
const MAX_CALLS: usize = 1000;

/// The recorded calls: path and body.
type Calls = Arc<Mutex<Vec<(String, Value)>>>;

/// A running hook server.
pub struct HookServer {
    port: u16,
    calls: Calls,
}

impl HookServer {
    /// Answers each call with the JSON `answer(path, body)` returns.
    pub fn start(answer: impl Fn(&str, &Value) -> String + Send + Sync + 'static) -> HookServer {
        let answer = Arc::new(answer);
        Self::serve(move |conn, calls| {
            let mut conn = conn;
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let Ok(read_half) = conn.try_clone() else {
                return;
            };
            let mut reader = BufReader::new(read_half);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut len = 0;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let reply = answer(&path, &value);
            calls
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((path, value));
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        })
    }

    /// Accepts every call and never answers: each connection is held open,
    /// silent, for longer than any hook deadline.
    pub fn hanging() -> HookServer {
        Self::serve(|conn, _| {
            std::thread::sleep(Duration::from_secs(30));
            drop(conn);
        })
    }

    fn serve(handle: impl Fn(std::net::TcpStream, &Calls) + Send + Sync + 'static) -> HookServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a hook server");
        let port = listener.local_addr().expect("its address").port();
        let calls: Calls = Arc::default();
        let (record, handle) = (calls.clone(), Arc::new(handle));
        std::thread::spawn(move || {
            for conn in listener.incoming().take(MAX_CALLS) {
                let Ok(conn) = conn else { continue };
                let (record, handle) = (record.clone(), handle.clone());
                std::thread::spawn(move || handle(conn, &record));
            }
        });
        HookServer { port, calls }
    }

    /// The URL strom calls for `hook` (ZLMediaKit's `/index/hook/…`).
    pub fn url(&self, hook: &str) -> String {
        format!("http://127.0.0.1:{}/index/hook/{hook}", self.port)
    }

    /// The bodies of every call to `hook` so far, in order.
    pub fn calls_to(&self, hook: &str) -> Vec<Value> {
        let path = format!("/index/hook/{hook}");
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(p, _)| *p == path)
            .map(|(_, v)| v.clone())
            .collect()
    }
}
