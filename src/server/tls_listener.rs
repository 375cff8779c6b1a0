//! A listener that hands axum TLS streams, so that `axum::serve` (and its graceful shutdown)
//! is the one serving path with or without TLS.
//!
//! Each handshake runs in its own task with a deadline: a client that connects and says
//! nothing must not hold up the others. A client that speaks plain HTTP to this port (someone
//! typing `http://`) gets a redirect to the `https:` URL instead of a connection that hangs or
//! dies without a word.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use axum::serve::Listener;
use rustls::ServerConfig;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::mpsc,
    task::JoinHandle,
    time::timeout,
};
use tokio_rustls::{server::TlsStream, TlsAcceptor};

/// How long a client has to finish its handshake (or its plain-HTTP request head).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;
/// The most of a plain-HTTP request head read to answer it.
const MAX_PLAIN_HEAD: usize = 8 * 1024;

pub struct TlsListener {
    handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    acceptor: JoinHandle<()>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (sender, handshaken) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), sender));
        Ok(Self {
            handshaken,
            local_addr,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(accepted) => accepted,
            // The accept loop only ends when the listener is dropped, and with it this
            // receiver: until then there is always a sender.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handshaken: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, mostly: axum::serve waits a second too.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        super::set_nodelay(&stream);
        let acceptor = acceptor.clone();
        let handshaken = handshaken.clone();
        tokio::spawn(async move {
            match timeout(HANDSHAKE_TIMEOUT, handshake(stream, acceptor)).await {
                Ok(Ok(Some(tls))) => {
                    let _ = handshaken.send((tls, peer)).await;
                }
                Ok(Ok(None)) => {}
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// The TLS stream, or `None` when the client spoke plain HTTP and was answered.
async fn handshake(
    stream: TcpStream,
    acceptor: TlsAcceptor,
) -> io::Result<Option<TlsStream<TcpStream>>> {
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 0 {
        return Ok(None);
    }
    if first[0] != TLS_HANDSHAKE_RECORD {
        answer_plain_http(stream).await?;
        return Ok(None);
    }
    acceptor.accept(stream).await.map(Some)
}

async fn answer_plain_http(mut stream: TcpStream) -> io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let location = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
        match https_location(&head) {
            Some(location) => break location,
            None if head.len() < MAX_PLAIN_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") => {
                continue
            }
            None => break None,
        }
    };
    stream
        .write_all(plain_http_answer(location.as_deref()).as_bytes())
        .await?;
    stream.shutdown().await
}

/// `Some(Some(url))` once a complete request head names its host; `Some(None)` when it is
/// complete but unusable; `None` while more is needed.
fn https_location(head: &[u8]) -> Option<Option<String>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return None,
        Err(_) => return Some(None),
    }
    let host = request
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case("host"))
        .and_then(|header| std::str::from_utf8(header.value).ok())
        .filter(|host| {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    let path = request
        .path
        .filter(|path| path.starts_with('/') && path.bytes().all(|b| b.is_ascii_graphic()));
    Some(host.map(|host| format!("https://{host}{}", path.unwrap_or("/"))))
}

/// A temporary redirect (a permanent one would be cached and outlive a restart without TLS),
/// or a plain refusal when the request named no usable host.
fn plain_http_answer(location: Option<&str>) -> String {
    match location {
        Some(location) => {
            let body = format!("This server speaks HTTPS: {location}\n");
            format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\n\
                 Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            )
        }
        None => {
            let body = "This server speaks HTTPS: open it with https://\n";
            format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_request_is_sent_to_its_https_url() {
        let head = b"GET /?room=home HTTP/1.1\r\nHost: 192.168.1.20:3000\r\n\r\n";
        assert_eq!(
            https_location(head),
            Some(Some("https://192.168.1.20:3000/?room=home".to_string()))
        );
        assert_eq!(https_location(b"GET / HTTP/1.1\r\nHo"), None, "incomplete");
        assert_eq!(
            https_location(b"GET / HTTP/1.1\r\n\r\n"),
            Some(None),
            "no host"
        );
        assert_eq!(
            https_location(b"GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n"),
            Some(None),
            "no header injection through the host"
        );
        assert_eq!(https_location(b"\x00\x01garbage\r\n\r\n"), Some(None));
    }
}
