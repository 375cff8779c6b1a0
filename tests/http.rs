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
    assert_eq!(response.text().await.unwrap(), "ok\n");
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
    let html = picker.text().await.unwrap();
    assert!(html.contains("Rooms open now"), "{html}");
    assert!(html.contains("href=\"/?room=lobby\""), "{html}");
    assert!(
        html.contains("/pkg/portals.js"),
        "hydration script is linked"
    );

    let wall = server.get("/?room=home").await;
    assert_eq!(wall.status(), 200);
    let html = wall.text().await.unwrap();
    assert!(html.contains("data-room=\"home\""), "{html}");

    let missing = server.get("/nowhere").await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_plain_get_on_the_portal_is_not_an_upgrade() {
    let server = TestServer::start(&[]).await;
    let response = server.get("/portal?room=home").await;
    assert!(response.status().is_client_error());
}
