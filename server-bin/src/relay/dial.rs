//! Reaching an upstream: TCP in production; tests dial in-process pipes.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

use super::PullUrl;

/// A connection's read half.
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// A connection's write half.
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// A connection to an upstream and the address it reached.
pub struct Dialed {
    /// Read half.
    pub rd: Reader,
    /// Write half.
    pub wr: Writer,
    /// The upstream's address (for the session table and the log).
    pub peer: SocketAddr,
}

/// Opens connections to upstreams.
pub trait Dial: Send + Sync + 'static {
    /// Connects to `url`'s host and port (the caller bounds the time).
    fn dial<'a>(
        &'a self,
        url: &'a PullUrl,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Dialed>> + Send + 'a>>;
}

/// TCP, with Nagle off and the kernel send buffer bounded as for accepted
/// sessions (`server.socket_send_buffer`): a push target that stops
/// reading holds at most that much of the stream in the kernel, and the
/// write stall cuts it that much sooner.
#[derive(Debug, Default, Clone, Copy)]
pub struct TcpDial {
    /// Send buffer in bytes; 0 leaves the kernel's autotuning.
    pub send_buffer: u32,
}

impl Dial for TcpDial {
    fn dial<'a>(
        &'a self,
        url: &'a PullUrl,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Dialed>> + Send + 'a>> {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect((url.host.as_str(), url.port)).await?;
            let _ = stream.set_nodelay(true);
            let std_stream = stream.into_std()?;
            crate::io::limit_send_buffer(&std_stream, self.send_buffer);
            let stream = tokio::net::TcpStream::from_std(std_stream)?;
            let peer = stream.peer_addr()?;
            let (rd, wr) = stream.into_split();
            Ok(Dialed {
                rd: Box::new(rd),
                wr: Box::new(wr),
                peer,
            })
        })
    }
}
