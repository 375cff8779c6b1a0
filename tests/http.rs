//! The HTTP side of the server: pages, health and the room API, on the same port as `/portal`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Client, TestServer};
use serde_json::json;

#[tokio::test]
async fn health_is_ok() {
    let server = TestServer::start(&[]).await;
    let response = server.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), "ok\n");
}

#[tokio::test]
async fn the_room_api_lists_rooms_that_exist_now() {
    let server = TestServer::start(&[]).await;
    let rooms = || server.get_json("/api/rooms");
    assert_eq!(rooms().await, json!([]));
    let (_a, _, _) = Client::join(&server, "home").await;
    let (_b, _, _) = Client::join(&server, "home").await;
    let (c, _, _) = Client::join(&server, "coffee-chat").await;
    assert_eq!(
        rooms().await,
        json!([{"name": "coffee-chat", "members": 1}, {"name": "home", "members": 2}])
    );
    c.close(1000).await;
    assert_eq!(rooms().await, json!([{"name": "home", "members": 2}]));
}

#[tokio::test]
async fn the_pages_are_rendered_on_the_server() {
    let server = TestServer::start(&[]).await;
    let (_a, _, _) = Client::join(&server, "lobby").await;

    let picker = server.get("/").await;
    assert_eq!(picker.status(), 200);
    let html = picker.body();
    assert!(html.contains("Rooms open now"), "{html}");
    assert!(html.contains("href=\"/?room=lobby\""), "{html}");
    assert!(
        html.contains("/pkg/portals.js"),
        "hydration script is linked"
    );

    let wall = server.get("/?room=home").await;
    assert_eq!(wall.status(), 200);
    let html = wall.body();
    assert!(html.contains("data-room=\"home\""), "{html}");

    let missing = server.get("/nowhere").await;
    assert_eq!(missing.status(), 404);
}

/// A release build's bundle is 1.1 MB of wasm; `make serve` builds it with `--precompress`, and
/// the server sends the brotli or gzip file beside it to a browser that takes one (Chromium
/// offers brotli over https only), the plain file to one that takes neither.
#[tokio::test]
async fn the_bundle_goes_out_precompressed_where_the_browser_takes_it() {
    let site = std::env::temp_dir().join(format!("portals-site-{}", std::process::id()));
    let pkg = site.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("portals.wasm"), b"\0asm plain").unwrap();
    std::fs::write(pkg.join("portals.wasm.br"), b"brotli").unwrap();
    std::fs::write(pkg.join("portals.wasm.gz"), b"gzip").unwrap();
    let server = TestServer::start_serving(&site).await;
    for (encodings, encoding, body) in [
        ("gzip, deflate, br, zstd", Some("br"), "brotli"),
        ("gzip, deflate", Some("gzip"), "gzip"),
        ("", None, "\0asm plain"),
    ] {
        let accept = match encodings {
            "" => String::new(),
            encodings => format!("Accept-Encoding: {encodings}\r\n"),
        };
        let (status, response) = server
            .raw(&format!(
                "GET /pkg/portals.wasm HTTP/1.1\r\nHost: {}\r\n{accept}Connection: close\r\n\r\n",
                server.addr
            ))
            .await;
        assert_eq!(status, 200, "{response}");
        let (head, sent) = response.split_once("\r\n\r\n").unwrap();
        let head = head.to_ascii_lowercase();
        let content_encoding = head
            .lines()
            .find_map(|line| line.strip_prefix("content-encoding: "));
        assert_eq!(content_encoding, encoding, "{encodings:?}: {head}");
        assert!(head.contains("content-type: application/wasm"), "{head}");
        assert_eq!(sent, body, "{encodings:?}");
    }

    server.stop().await;
    std::fs::remove_dir_all(&site).unwrap();
}

#[tokio::test]
async fn a_plain_get_on_the_portal_is_not_an_upgrade() {
    let server = TestServer::start(&[]).await;
    let response = server.get("/portal?room=home").await;
    assert!(response.status().is_client_error());
}

#[tokio::test]
async fn another_websocket_version_is_told_the_one_spoken_here() {
    let server = TestServer::start(&[]).await;
    let (status, response) = server
        .raw(&format!(
            "GET /portal?room=home HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 8\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nConnection: close\r\n\r\n",
            server.addr
        ))
        .await;
    assert_eq!(status, 426, "{response}");
    assert!(
        response.contains("sec-websocket-version: 13\r\n"),
        "{response}"
    );
}

#[tokio::test]
async fn metrics_are_scraped_in_the_prometheus_format() {
    let server = TestServer::start(&[]).await;
    let (mut a, _, _) = Client::join(&server, "home").await;
    let (mut b, b_welcome, _) = Client::join(&server, "home").await;
    a.info().await;
    a.send(serde_json::json!({"type": "candidate", "candidate": null, "target": b_welcome.id.as_str()}))
        .await;
    b.recv().await;
    a.send(serde_json::json!({"type": "candidate", "candidate": null, "target": "nobody"}))
        .await;
    assert_eq!(a.error_code().await, "target_not_found");

    let response = server.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = response.body();
    for line in [
        "portals_connections 2",
        "portals_rooms 1",
        "portals_members 2",
        "portals_sessions_in_grace 0",
        "portals_messages_relayed_total 1",
        "portals_joins_total 2",
        "portals_resumes_total 0",
        "portals_silent_connections_dropped_total 0",
        "portals_messages_refused_total{code=\"target_not_found\"} 1",
        "portals_messages_refused_total{code=\"room_full\"} 0",
        "portals_relay_duration_seconds_count 1",
    ] {
        assert!(
            text.lines().any(|metric| metric == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.contains("# TYPE portals_relay_duration_seconds histogram"));
}

#[tokio::test]
async fn a_page_on_another_name_pointed_here_gets_nothing() {
    // DNS rebinding: attacker.example resolves to this server, so the browser sends its name
    // as the Host and its own page as the Origin, which match.
    let server = TestServer::start(&[]).await;
    let (_a, _, _) = Client::join(&server, "home").await;
    let host = format!("attacker.example:{}", server.addr.port());
    for path in [
        "/",
        "/?room=home",
        "/api/rooms",
        "/api/invite?room=home",
        "/metrics",
        "/healthz",
        "/pkg/portals.js",
    ] {
        let (status, response) = server.get_as(&host, path).await;
        assert_eq!(status, 421, "{path}: {response}");
        assert!(
            !response.contains("home"),
            "{path} leaks the room: {response}"
        );
    }
    assert_eq!(
        Client::connect_as(&server, &host, &format!("http://{host}"))
            .await
            .err(),
        Some(421)
    );
    // A target in absolute form names the host too, and wins over the header.
    let absolute = format!(
        "GET http://{host}/api/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(server.raw(&absolute).await.0, 421);
    // The names it is meant to answer to.
    for host in [
        format!("127.0.0.1:{}", server.addr.port()),
        format!("localhost:{}", server.addr.port()),
        format!("[::1]:{}", server.addr.port()),
    ] {
        assert_eq!(server.get_as(&host, "/api/rooms").await.0, 200, "{host}");
    }
}

#[tokio::test]
async fn a_public_host_is_answered_on_every_route() {
    let server = TestServer::start(&["--public-host", "wall.example.org"]).await;
    let host = format!("wall.example.org:{}", server.addr.port());
    for path in ["/", "/api/rooms", "/metrics"] {
        assert_eq!(server.get_as(&host, path).await.0, 200, "{path}");
    }
    let (mut client, _, _) =
        match Client::connect_as(&server, &host, &format!("http://{host}")).await {
            Ok(client) => (client, (), ()),
            Err(status) => panic!("refused with {status}"),
        };
    client.welcome().await;
    assert_eq!(server.get_as("other.example.org", "/").await.0, 421);
}

#[tokio::test]
async fn no_room_list_hides_the_rooms_from_the_api_and_the_page() {
    let server = TestServer::start(&["--no-room-list"]).await;
    let (_a, _, _) = Client::join(&server, "secret-room").await;
    assert_eq!(server.get("/api/rooms").await.status(), 404);
    let picker = server.get("/").await;
    assert_eq!(picker.status(), 200);
    let html = picker.body();
    assert!(html.contains("Room name"), "the form is there: {html}");
    assert!(!html.contains("secret-room"), "{html}");
    assert!(!html.contains("Rooms open now"), "{html}");
}

#[tokio::test]
async fn metrics_can_live_on_their_own_address() {
    let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = TestServer::start(&["--metrics-addr", &metrics_addr.to_string()]).await;
    assert_eq!(server.get("/metrics").await.status(), 404);
    let response = common::get_url(&format!("http://{metrics_addr}/metrics")).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.body().contains("portals_connections 0"),
        "{}",
        response.body()
    );
}

/// Reads until the server closes the connection; returns what it sent and how long that took.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> (String, std::time::Duration) {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut received = Vec::new();
    tokio::time::timeout(common::PATIENCE, stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection")
        .expect("a clean end or a reset, not an error");
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_request_whose_headers_never_end_is_cut() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(&["--header-timeout", "1s"]).await;
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let (sent, after) = read_until_closed(&mut slow).await;
    // hyper answers nothing to a head it never got: it closes the connection.
    assert_eq!(sent, "");
    assert!(after >= std::time::Duration::from_millis(900), "{after:?}");
    // Others are served meanwhile and after.
    assert_eq!(server.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start(&["--header-timeout", "1s"]).await;
    let mut idle = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0; 512];
    let n = idle.read(&mut first).await.unwrap();
    let response = String::from_utf8_lossy(&first[..n]).into_owned();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok\n"), "{response}");
    let (sent, after) = read_until_closed(&mut idle).await;
    assert!(!sent.contains("HTTP/1.1 200"), "{sent:?}");
    assert!(after >= std::time::Duration::from_millis(900), "{after:?}");
}

#[tokio::test]
async fn connections_beyond_the_cap_are_answered_503() {
    let server = TestServer::start(&["--max-connections", "2"]).await;
    let (a, _, _) = Client::join(&server, "home").await;
    let (_b, _, _) = Client::join(&server, "home").await;
    let busy = server.get("/healthz").await;
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "5");
    a.close(1000).await;
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    loop {
        let status = server.get("/healthz").await.status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(tokio::time::Instant::now() < deadline, "a seat never freed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
