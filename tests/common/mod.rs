//! A real server on 127.0.0.1:0 and real WebSocket clients, for the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{net::SocketAddr, time::Duration};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use leptos::prelude::LeptosOptions;
use portals::{
    server::{
        config::Config,
        load_tls, serve,
        tls::{lan_addresses, Tls},
    },
    signalling::{
        protocol::{Info, Welcome},
        ServerMessage,
    },
};
use serde_json::Value;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::oneshot,
    task::JoinHandle,
    time::timeout,
};
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, http::HeaderValue, Message},
    MaybeTlsStream, WebSocketStream,
};
use ureq::http::Response;

/// How long a test waits for something that should happen.
pub const PATIENCE: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    /// `None` for a server on a runtime of its own ([`OwnRuntime`] stops it).
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// A server on a runtime of its own, on a thread of its own, as the binary runs: the runtime is
/// dropped as soon as `serve` returns, and whatever its tasks had not written by then is lost.
pub struct OwnRuntime {
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<Duration>,
}

impl OwnRuntime {
    /// Starts a server with these flags; the [`TestServer`] is only its address.
    pub fn start(flags: &[&str]) -> (TestServer, OwnRuntime) {
        let config = config(flags);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let (stop_seen, stop_seen_at) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            // One thread: when `serve` returns, no connection task runs again, so whatever
            // was not written before it returned shows.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let took = runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let options = LeptosOptions::builder().output_name("portals").build();
                serve(listener, &config, None, options, async move {
                    let _ = stopped.await;
                    let _ = stop_seen.send(std::time::Instant::now());
                })
                .await
                .unwrap();
                stop_seen_at.recv().unwrap().elapsed()
            });
            drop(runtime);
            took
        });
        let server = TestServer {
            addr,
            stop: None,
            task: None,
        };
        (server, OwnRuntime { stop, thread })
    }

    /// Stops the server as a SIGTERM would and returns how long `serve` took to return.
    pub async fn stop(self) -> Duration {
        let _ = self.stop.send(());
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join().expect("the server thread ends"))
            .await
            .unwrap()
    }
}

fn config(flags: &[&str]) -> Config {
    Config::try_parse_from(
        ["portals", "--addr", "127.0.0.1:0", "--log", "warn"]
            .into_iter()
            .chain(flags.iter().copied()),
    )
    .expect("valid flags")
}

impl TestServer {
    /// Starts a server with these flags on a free port.
    pub async fn start(flags: &[&str]) -> Self {
        Self::start_with_tls(flags).await.0
    }

    /// Starts a server with these flags on a free port, with the TLS they ask for (e.g.
    /// `--tls-self-signed`), and returns the certificate it serves.
    pub async fn start_with_tls(flags: &[&str]) -> (Self, Option<Tls>) {
        Self::launch(flags, None).await
    }

    /// Starts a server whose site (the pages' files, the bundle under `pkg/`) is in
    /// `site_root`.
    pub async fn start_serving(site_root: &std::path::Path) -> Self {
        Self::launch(&[], Some(site_root)).await.0
    }

    async fn launch(flags: &[&str], site_root: Option<&std::path::Path>) -> (Self, Option<Tls>) {
        let config = config(flags);
        let tls = load_tls(&config, &lan_addresses()).expect("the certificate loads");
        let served = tls.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let options = LeptosOptions::builder()
            .output_name("portals")
            .site_addr(addr)
            .site_root(site_root.map_or("target/site".into(), |root| root.display().to_string()))
            .build();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve(listener, &config, served.as_ref(), options, async {
                let _ = stopped.await;
            })
            .await
        });
        let server = Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        };
        (server, tls)
    }

    /// A server that something else started and stops (a process of its own).
    pub fn at(addr: SocketAddr) -> Self {
        Self {
            addr,
            stop: None,
            task: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// GETs a path, failing (not hanging) if the server does not answer in time. ureq, not
    /// reqwest: it shares no crate with the server whose features it would change, so the
    /// tests and the end-to-end build compile the server's dependencies once, not each.
    pub async fn get(&self, path: &str) -> Response<String> {
        get_url(&self.url(path)).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        serde_json::from_str(self.get(path).await.body()).expect("JSON")
    }

    /// Waits until `/metrics` has exactly this line: how a test knows the server noticed
    /// something that happens out of a client's sight, such as a dropped TCP connection.
    pub async fn wait_for_metric(&self, line: &str) {
        self.wait_for_metrics(&format!("{line:?}"), |metrics| {
            metrics.lines().any(|metric| metric == line)
        })
        .await;
    }

    /// Waits until the `/metrics` line starting `name ` shows more than `above`.
    pub async fn wait_for_metric_above(&self, name: &str, above: u64) {
        self.wait_for_metrics(&format!("{name} above {above}"), |metrics| {
            metrics
                .lines()
                .find_map(|line| {
                    line.strip_prefix(name)?
                        .strip_prefix(' ')?
                        .parse::<u64>()
                        .ok()
                })
                .is_some_and(|value| value > above)
        })
        .await;
    }

    /// Scrapes `/metrics` until `done` accepts it, failing with `what` after [`PATIENCE`].
    async fn wait_for_metrics(&self, what: &str, done: impl Fn(&str) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let metrics = self.get("/metrics").await;
            if done(metrics.body()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {what} in\n{}",
                metrics.body()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends `request` as it is over a fresh TCP connection and returns the response's status
    /// and the rest of what the server sent, for what an HTTP client would not send (another
    /// Host, a request that never ends).
    pub async fn raw(&self, request: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        match timeout(PATIENCE, stream.read_to_end(&mut response)).await {
            Ok(read) => {
                read.unwrap();
            }
            // What came before the wait ran out tells a server that never answered from one
            // that answered and kept the connection open.
            Err(_) => panic!(
                "{:?}: not answered and closed within {PATIENCE:?}; received {:?}",
                request.lines().next().unwrap_or_default(),
                String::from_utf8_lossy(&response)
            ),
        }
        let response = String::from_utf8_lossy(&response).into_owned();
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status in {response:?}"));
        (status, response)
    }

    /// GETs `path` with this Host header, as a page on another name pointed at us would.
    pub async fn get_as(&self, host: &str, path: &str) -> (u16, String) {
        self.raw(&format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nConnection: close\r\n\r\n"
        ))
        .await
    }

    pub fn portal(&self, query: &str) -> String {
        format!("ws://{}/portal?{}", self.addr, query)
    }

    /// Stops the server as a SIGTERM would: every client is told to go away.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.as_mut() {
            let _ = timeout(PATIENCE, task).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A `description` carrying an offer, as a client sends it to `target`.
pub fn offer(target: &str) -> Value {
    serde_json::json!({"type": "description", "description": {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"}, "target": target})
}

/// A `candidate` as a client sends it to `target`.
pub fn candidate(target: &str) -> Value {
    serde_json::json!({"type": "candidate", "candidate": {"candidate": "candidate:1 1 udp 2122260223 192.168.1.2 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}, "target": target})
}

/// GETs a URL, failing (not hanging) if the server does not answer in time.
pub async fn get_url(url: &str) -> Response<String> {
    let url = url.to_owned();
    let path = url.clone();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(PATIENCE))
            .http_status_as_error(false)
            .build()
            .into();
        let response = agent
            .get(&url)
            .call()
            .unwrap_or_else(|error| panic!("GET {path}: {error}"));
        let (parts, mut body) = response.into_parts();
        let text = body
            .read_to_string()
            .unwrap_or_else(|error| panic!("GET {path}, body: {error}"));
        Response::from_parts(parts, text)
    })
    .await
    .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()))
}

pub struct Client {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a socket ended, as the client saw it.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    Closed(u16),
    ClosedWithoutCode,
    Dropped,
}

impl Client {
    pub async fn connect(server: &TestServer, query: &str) -> Client {
        let (socket, _) = tokio_tungstenite::connect_async(server.portal(query))
            .await
            .expect("the WebSocket opens");
        Client { socket }
    }

    /// Joins `room` and returns the client with its welcome and first info.
    pub async fn join(server: &TestServer, room: &str) -> (Client, Welcome, Info) {
        Self::join_with(server, &format!("room={room}")).await
    }

    pub async fn join_with(server: &TestServer, query: &str) -> (Client, Welcome, Info) {
        let mut client = Self::connect(server, query).await;
        let welcome = client.welcome().await;
        let info = client.info().await;
        (client, welcome, info)
    }

    /// Opens the socket with these `Host` and `Origin` headers, as a page on another name
    /// pointed at this server would; returns the HTTP status of a refusal.
    pub async fn connect_as(server: &TestServer, host: &str, origin: &str) -> Result<Client, u16> {
        let mut request = server.portal("room=home").into_client_request().unwrap();
        let headers = request.headers_mut();
        headers.insert("Host", HeaderValue::from_str(host).unwrap());
        headers.insert("Origin", HeaderValue::from_str(origin).unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(Client { socket }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(other) => panic!("unexpected handshake error: {other}"),
        }
    }

    /// Opens the socket with an `Origin` header; returns the HTTP status of a refusal.
    pub async fn connect_from_origin(server: &TestServer, origin: &str) -> Result<Client, u16> {
        let mut request = server.portal("room=home").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Origin", HeaderValue::from_str(origin).unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(Client { socket }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(other) => panic!("unexpected handshake error: {other}"),
        }
    }

    pub async fn send(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.socket
            .send(Message::Binary(bytes.to_vec().into()))
            .await
            .expect("send");
    }

    /// The next text frame as raw JSON, so tests can check the wire format itself.
    pub async fn recv_json(&mut self) -> Value {
        let text = self.next_text().await.expect("a text frame, not the end");
        serde_json::from_str(&text).expect("JSON")
    }

    pub async fn recv(&mut self) -> ServerMessage {
        let text = self.next_text().await.expect("a text frame, not the end");
        ServerMessage::decode(&text).unwrap_or_else(|error| panic!("{error}: {text}"))
    }

    pub async fn welcome(&mut self) -> Welcome {
        match self.recv().await {
            ServerMessage::Welcome(welcome) => *welcome,
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    pub async fn info(&mut self) -> Info {
        match self.recv().await {
            ServerMessage::Info(info) => info,
            other => panic!("expected info, got {other:?}"),
        }
    }

    /// The `code` of the next message, which must be an error.
    pub async fn error_code(&mut self) -> String {
        let value = self.recv_json().await;
        assert_eq!(value["type"], "error", "{value}");
        assert!(value["error"]["message"].is_string(), "{value}");
        value["error"]["code"].as_str().unwrap().to_string()
    }

    /// Asserts that nothing is on its way to this client. The server handles a room's inputs
    /// one at a time and answers a ping in order, so everything that earlier inputs addressed
    /// to this client would arrive before the pong.
    pub async fn expect_nothing_queued(&mut self) {
        use std::sync::atomic::{AtomicU64, Ordering};
        static TAG: AtomicU64 = AtomicU64::new(1_000_000);
        let tag = TAG.fetch_add(1, Ordering::Relaxed);
        self.send(serde_json::json!({"type": "ping", "ping": tag}))
            .await;
        assert_eq!(
            self.recv_json().await,
            serde_json::json!({"type": "pong", "pong": tag})
        );
    }

    /// Asserts that no text frame arrives for a while.
    pub async fn expect_silence(&mut self, within: Duration) {
        if let Ok(text) = timeout(within, self.next_text()).await {
            panic!("expected silence, got {text:?}");
        }
    }

    /// Reads until the socket ends and says how.
    pub async fn ending(&mut self) -> Ending {
        timeout(PATIENCE, async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Message::Close(Some(frame)))) => {
                        return Ending::Closed(frame.code.into())
                    }
                    Some(Ok(Message::Close(None))) => return Ending::ClosedWithoutCode,
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return Ending::Dropped,
                }
            }
        })
        .await
        .expect("the socket ends")
    }

    /// Closes the socket with a close frame carrying `code`.
    pub async fn close(mut self, code: u16) {
        use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: "".into(),
        };
        let _ = self.socket.close(Some(frame)).await;
        // Wait for the server's reply so the close is fully processed.
        let _ = timeout(PATIENCE, async {
            while self.socket.next().await.is_some() {}
        })
        .await;
    }

    /// Drops the TCP connection with no close frame, as a crashed tab or a lost network does.
    pub fn vanish(self) {
        drop(self);
    }

    async fn next_text(&mut self) -> Option<String> {
        timeout(PATIENCE, async {
            loop {
                match self.socket.next().await? {
                    Ok(Message::Text(text)) => return Some(text.as_str().to_string()),
                    Ok(Message::Close(_)) | Err(_) => return None,
                    Ok(_) => continue,
                }
            }
        })
        .await
        .expect("a frame within the test's patience")
    }
}
