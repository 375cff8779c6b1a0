//! Live reload over https, for `make run-tls`.
//!
//! cargo-leptos's reload server speaks plain `ws:` on its own port, and a page served over
//! `https:` may only open `wss:`. With `LEPTOS_RELOAD_EXTERNAL_PORT` set to the server's own
//! port, the page's reload script connects here instead, over the server's TLS, and this
//! passes cargo-leptos's messages on. Only routed under `cargo leptos watch`.
//!
//! After a Rust change the server itself restarts, which drops the page's connection here, and
//! cargo-leptos's "reload" goes out before the page has reconnected. So every response carries
//! a cookie naming this server process, and a page that reconnects with another process's
//! name was rendered by the old server: it is told to reload at once.

use std::sync::OnceLock;

use axum::{
    extract::{
        ws::{Message, WebSocket, WebSocketUpgrade},
        State,
    },
    http::{header, HeaderMap, HeaderValue},
    response::Response,
};
use futures_util::StreamExt;
use leptos::prelude::LeptosOptions;
use tokio_tungstenite::tungstenite;

/// Whether cargo-leptos runs this server in watch mode (it sets the variable then).
pub fn watching() -> bool {
    std::env::var_os("LEPTOS_WATCH").is_some()
}

const COOKIE: &str = "portals-dev-server";

/// This server process, as the cookie names it.
fn process_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let bytes: [u8; 8] = super::random_bytes();
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    })
}

/// Names this process in every response (a middleware, under watch only).
pub async fn name_the_process(mut response: Response) -> Response {
    let cookie = format!("{COOKIE}={}; Path=/; SameSite=Strict", process_name());
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn rendered_by_another_process(headers: &HeaderMap) -> bool {
    let wanted = format!("{COOKIE}={}", process_name());
    let prefix = format!("{COOKIE}=");
    let cookies: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';').map(str::trim))
        .filter(|cookie| cookie.starts_with(&prefix))
        .collect();
    !cookies.is_empty() && !cookies.contains(&wanted.as_str())
}

pub async fn proxy(
    upgrade: WebSocketUpgrade,
    State(options): State<LeptosOptions>,
    headers: HeaderMap,
) -> Response {
    let upstream = format!("ws://127.0.0.1:{}/live_reload", options.reload_port);
    let stale = rendered_by_another_process(&headers);
    upgrade.on_upgrade(move |socket| relay(socket, upstream, stale))
}

/// Passes the reload server's messages to the page until either side goes away.
async fn relay(mut page: WebSocket, upstream: String, stale: bool) {
    if stale {
        // The reload script's own message for "reload the whole page".
        let _ = page.send(Message::Text(r#"{"all":true}"#.into())).await;
        return;
    }
    let mut reloads = match tokio_tungstenite::connect_async(&upstream).await {
        Ok((reloads, _)) => reloads,
        Err(error) => {
            tracing::debug!(%error, %upstream, "the live-reload server is not there");
            return;
        }
    };
    loop {
        tokio::select! {
            message = reloads.next() => match message {
                Some(Ok(tungstenite::Message::Text(text))) => {
                    if page.send(Message::Text(text.as_str().into())).await.is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
            message = page.recv() => match message {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        headers
    }

    #[test]
    fn only_a_page_of_another_server_process_is_told_to_reload() {
        let this = format!("{COOKIE}={}", process_name());
        assert!(
            !rendered_by_another_process(&HeaderMap::new()),
            "no cookie: a first load"
        );
        assert!(!rendered_by_another_process(&with_cookie(&format!(
            "a=b; {this}"
        ))));
        assert!(rendered_by_another_process(&with_cookie(&format!(
            "{COOKIE}=0011; a=b"
        ))));
    }
}
