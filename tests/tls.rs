//! HTTPS on the server's own port: a real server on port 0 and real TLS clients that trust
//! exactly the certificate it made, as a phone does once its person has accepted it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Arc,
    time::Duration,
};

use common::{TestServer, PATIENCE};
use futures_util::StreamExt;
use portals::server::tls::{Origin, Tls};
use rustls::{
    pki_types::{CertificateDer, ServerName},
    ClientConfig, RootCertStore,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};
use tokio_rustls::{client::TlsStream, TlsConnector};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

/// A fresh directory under the system's temporary one, removed when the test ends, passed or
/// failed.
struct TemporaryDir(PathBuf);

impl TemporaryDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("portals-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl std::ops::Deref for TemporaryDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TemporaryDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn self_signed_server(data_dir: &Path) -> (TestServer, Tls) {
    let data_dir = data_dir.to_str().unwrap();
    let (server, tls) =
        TestServer::start_with_tls(&["--tls-self-signed", "--data-dir", data_dir]).await;
    (server, tls.expect("TLS is on"))
}

/// A TLS connection to the server that trusts `certificate` only, for `name`.
async fn connect(
    server: &TestServer,
    certificate: &CertificateDer<'static>,
    name: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut roots = RootCertStore::empty();
    roots.add(certificate.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(server.addr).await?;
    let name = ServerName::try_from(name.to_string()).unwrap();
    timeout(
        PATIENCE,
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("the handshake ends")
}

/// One HTTP/1.1 request over `stream`, read to the end.
async fn request<S: AsyncReadExt + AsyncWriteExt + Unpin>(mut stream: S, path: &str) -> String {
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .expect("the response ends")
        .unwrap();
    String::from_utf8(response).unwrap()
}

#[tokio::test]
async fn health_is_served_over_https() {
    let dir = TemporaryDir::new("https-health");
    let (server, tls) = self_signed_server(&dir).await;
    let stream = connect(&server, &tls.certificate, "localhost")
        .await
        .unwrap();
    let response = request(stream, "/healthz").await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nok\n"), "{response}");
}

#[tokio::test]
async fn a_wss_session_is_welcomed() {
    let dir = TemporaryDir::new("https-wss");
    let (server, tls) = self_signed_server(&dir).await;
    let stream = connect(&server, &tls.certificate, "localhost")
        .await
        .unwrap();
    let request = format!("wss://localhost:{}/portal?room=home", server.addr.port())
        .into_client_request()
        .unwrap();
    let (mut socket, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("the WebSocket opens over TLS");
    let frame = timeout(PATIENCE, socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(text) = frame else {
        panic!("expected text, got {frame:?}")
    };
    let value: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
    assert_eq!(value["type"], "welcome", "{value}");
}

#[tokio::test]
async fn the_certificate_names_localhost_loopback_and_the_machines_addresses() {
    let dir = TemporaryDir::new("https-names");
    let (server, tls) = self_signed_server(&dir).await;
    // IPv4 only: see `machine_names`.
    let lan: Vec<String> = portals::server::tls::lan_addresses()
        .iter()
        .filter(|ip| ip.is_ipv4())
        .map(ToString::to_string)
        .collect();
    let names = ["localhost", "127.0.0.1", "::1"]
        .into_iter()
        .chain(lan.iter().map(String::as_str));
    for name in names {
        // The name is checked against the certificate, whatever address the socket uses.
        connect(&server, &tls.certificate, name)
            .await
            .unwrap_or_else(|error| panic!("{name}: {error}"));
    }
    let error = connect(&server, &tls.certificate, "example.org")
        .await
        .expect_err("a name the certificate does not hold is refused");
    assert!(
        error
            .to_string()
            .contains("not valid for name \"example.org\""),
        "{error}"
    );
}

#[tokio::test]
async fn a_second_start_reuses_the_certificate() {
    let dir = TemporaryDir::new("https-reuse");
    let (first, made) = self_signed_server(&dir).await;
    first.stop().await;
    assert_eq!(made.origin, Origin::SelfSigned { made: true });
    let (_second, reused) = self_signed_server(&dir).await;
    assert_eq!(reused.origin, Origin::SelfSigned { made: false });
    assert_eq!(reused.fingerprint, made.fingerprint);
    assert_eq!(reused.certificate, made.certificate);
}

#[tokio::test]
async fn plain_http_on_the_tls_port_is_sent_to_https() {
    let dir = TemporaryDir::new("https-plain");
    let (server, _tls) = self_signed_server(&dir).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let response = request(stream, "/?room=home").await;
    assert!(
        response.starts_with("HTTP/1.1 307 Temporary Redirect\r\n"),
        "{response}"
    );
    assert!(
        response.contains("\r\nLocation: https://localhost/?room=home\r\n"),
        "{response}"
    );
}

/// Runs the real binary, which must exit at once: its exit code and its stderr.
fn refused_start(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portals"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .env_remove("LEPTOS_SITE_ADDR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the server started with {args:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn assert_one_line(stderr: &str, expected: &[&str]) {
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for part in expected {
        assert!(stderr.contains(part), "{part:?} in {stderr}");
    }
}

#[test]
fn bad_certificates_and_data_dirs_stop_the_server_with_one_line() {
    let dir = TemporaryDir::new("https-bad");
    let made = dir.join("made");
    // Two certificates of our own making, to mismatch their keys.
    for name in ["a", "b"] {
        let tls = portals::server::tls::self_signed(
            &made.join(name),
            &["localhost".to_string()].into_iter().collect(),
        )
        .unwrap();
        assert!(tls.certificate_path.exists());
    }
    let certificate = |name: &str| made.join(name).join("tls/self-signed-cert.pem");
    let key = |name: &str| made.join(name).join("tls/self-signed-key.pem");
    let path = |path: &PathBuf| path.to_str().unwrap().to_string();
    let missing = dir.join("missing.pem");
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let a_file = dir.join("a-file");
    std::fs::write(&a_file, "").unwrap();

    let (code, stderr) =
        refused_start(&["--tls-cert", &path(&missing), "--tls-key", &path(&key("a"))]);
    assert_eq!(code, Some(1));
    assert_one_line(
        &stderr,
        &[
            "cannot read the TLS certificate",
            &path(&missing),
            "No such file",
        ],
    );

    let (code, stderr) =
        refused_start(&["--tls-cert", &path(&garbage), "--tls-key", &path(&key("a"))]);
    assert_eq!(code, Some(1));
    assert_one_line(&stderr, &[&path(&garbage), "holds no PEM certificate"]);

    let (code, stderr) = refused_start(&[
        "--tls-cert",
        &path(&certificate("a")),
        "--tls-key",
        &path(&garbage),
    ]);
    assert_eq!(code, Some(1));
    assert_one_line(&stderr, &[&path(&garbage), "holds no PEM private key"]);

    let (code, stderr) = refused_start(&[
        "--tls-cert",
        &path(&certificate("a")),
        "--tls-key",
        &path(&key("b")),
    ]);
    assert_eq!(code, Some(1));
    assert_one_line(
        &stderr,
        &[
            "does not match the certificate",
            &path(&key("b")),
            &path(&certificate("a")),
        ],
    );

    let (code, stderr) = refused_start(&["--tls-self-signed", "--data-dir", &path(&a_file)]);
    assert_eq!(code, Some(1));
    assert_one_line(
        &stderr,
        &["cannot write to the data directory", &path(&a_file)],
    );
}
