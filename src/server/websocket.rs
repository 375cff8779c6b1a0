//! The `/portal` WebSocket endpoint: who may open it and with which settings. What happens
//! on an open connection is [`super::connection`]'s business.

use std::{collections::HashSet, sync::Arc};

use axum::{
    body::Body,
    extract::{FromRequestParts, RawQuery, State},
    http::{header, request::Parts, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tungstenite::handshake::derive_accept_key;

use super::{cluster::Placement, connection::Connection, SignallingService};
use crate::signalling::{
    private_room::VERIFIER,
    protocol::{Role, NEWCOMER_OFFERS, ROLE},
    JoinQuery,
};

/// Which web pages may open the WebSocket from a visitor's browser.
#[derive(Clone, Debug, Default)]
pub struct OriginPolicy {
    any: bool,
    /// Lower-case `scheme://host[:port]`.
    allowed: HashSet<String>,
}

impl OriginPolicy {
    pub fn new(allowed: &[String]) -> Self {
        Self {
            any: allowed.iter().any(|origin| origin.trim() == "*"),
            allowed: allowed
                .iter()
                .map(|origin| origin.trim().trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// A request without `Origin` comes from no browser and cannot be abused by another web
    /// page, so it is let through; a browser's request must come from the page's own host or
    /// a configured origin.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.any || self.allowed.contains(&origin) {
            return true;
        }
        let authority = origin.split_once("://").map(|(_, authority)| authority);
        match (authority, host) {
            (Some(authority), Some(host)) => authority.eq_ignore_ascii_case(host),
            _ => false,
        }
    }
}

pub async fn upgrade(
    handshake: Handshake,
    State(service): State<Arc<SignallingService>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let header_text = |name| headers.get(name).and_then(|value| value.to_str().ok());
    if !service
        .origins
        .allows(header_text(header::ORIGIN), header_text(header::HOST))
    {
        return (
            StatusCode::FORBIDDEN,
            "this origin may not open the signalling socket\n",
        )
            .into_response();
    }
    let query = join_query(query.as_deref());
    // In a cluster, the room's lease says which process runs it (a round trip to Redis) before
    // the socket opens, so that its first message already has somewhere to go.
    let placement = match &service.cluster {
        Some(cluster) => cluster.place(&service.switchboard, &query).await,
        None => Placement::Here,
    };
    handshake.accept(move |upgraded| serve_socket(upgraded, service, &query, placement))
}

/// Starts the connection's task on the socket itself when it is a plain TCP one, without
/// hyper's wrapper around it: the wrapper's box and the read buffer it keeps would be a fifth
/// of what an idle connection holds.
fn serve_socket(
    upgraded: Upgraded,
    service: Arc<SignallingService>,
    query: &JoinQuery,
    placement: Placement,
) {
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => {
            let connection = Connection::start(
                parts.io.into_inner(),
                &parts.read_buf,
                service,
                query,
                placement,
            );
            tokio::spawn(connection);
        }
        // TLS: rustls's own buffers dwarf the wrapper's.
        Err(upgraded) => {
            tokio::spawn(Connection::start(
                TokioIo::new(upgraded),
                &[],
                service,
                query,
                placement,
            ));
        }
    }
}

/// A WebSocket opening handshake (RFC 6455 §4.2.1), checked. It is not axum's
/// `WebSocketUpgrade` because that one hands over tungstenite's WebSocket, whose buffers an
/// idle connection would keep (see `frames.rs`); this one hands over the socket.
pub struct Handshake {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for Handshake {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        if parts.method != Method::GET {
            return Err((
                StatusCode::METHOD_NOT_ALLOWED,
                "the signalling socket is opened with GET\n",
            )
                .into_response());
        }
        if !has_token(headers, header::CONNECTION, "upgrade")
            || !has_token(headers, header::UPGRADE, "websocket")
        {
            return Err((
                StatusCode::UPGRADE_REQUIRED,
                "this is the signalling WebSocket: open it with new WebSocket(url)\n",
            )
                .into_response());
        }
        if !has_token(headers, header::SEC_WEBSOCKET_VERSION, "13") {
            // RFC 6455 §4.2.2: the versions spoken here go back with the refusal.
            return Err((
                StatusCode::UPGRADE_REQUIRED,
                [(header::SEC_WEBSOCKET_VERSION, "13")],
                "only WebSocket version 13 is spoken here\n",
            )
                .into_response());
        }
        let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return Err((StatusCode::BAD_REQUEST, "no Sec-WebSocket-Key\n").into_response());
        };
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            return Err((
                StatusCode::UPGRADE_REQUIRED,
                "this connection cannot become a WebSocket\n",
            )
                .into_response());
        };
        Ok(Self { key, on_upgrade })
    }
}

impl Handshake {
    /// Answers 101 and runs `serve` on the socket once hyper lets go of it.
    fn accept(self, serve: impl FnOnce(Upgraded) + Send + 'static) -> Response {
        let accept = derive_accept_key(self.key.as_bytes());
        tokio::spawn(async move {
            match self.on_upgrade.await {
                Ok(upgraded) => serve(upgraded),
                Err(error) => tracing::debug!(%error, "WebSocket upgrade failed"),
            }
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        response
    }
}

/// Whether a comma-separated header has this token, in any case.
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|part| part.trim().eq_ignore_ascii_case(token))
}

/// The query string, decoded here rather than under the hub's lock. The first of a repeated
/// key counts; the base format's `id` is ignored on purpose: ids are the server's to give.
fn join_query(query: Option<&str>) -> JoinQuery {
    let mut join = JoinQuery::default();
    let mut seen_newcomer_offers = false;
    let mut seen_role = false;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "room" if join.room.is_none() => join.room = Some(value.into_owned()),
            "token" if join.token.is_none() => join.token = Some(value.into_owned()),
            VERIFIER if join.verifier.is_none() => join.verifier = Some(value.into_owned()),
            NEWCOMER_OFFERS if !seen_newcomer_offers => {
                seen_newcomer_offers = true;
                join.newcomer_offers = value == "1";
            }
            ROLE if !seen_role => {
                seen_role = true;
                join.role = Role::parse(&value);
            }
            _ => {}
        }
    }
    join
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_own_origin_and_non_browsers_are_allowed() {
        let policy = OriginPolicy::new(&[]);
        assert!(policy.allows(None, Some("127.0.0.1:3000")));
        assert!(policy.allows(Some("http://127.0.0.1:3000"), Some("127.0.0.1:3000")));
        assert!(policy.allows(Some("https://Wall.Example.org"), Some("wall.example.org")));
        assert!(!policy.allows(Some("http://evil.example"), Some("127.0.0.1:3000")));
        assert!(!policy.allows(Some("http://127.0.0.1:3001"), Some("127.0.0.1:3000")));
        assert!(!policy.allows(Some("null"), Some("127.0.0.1:3000")));
        assert!(!policy.allows(Some("http://127.0.0.1:3000"), None));
    }

    #[test]
    fn configured_origins_are_allowed_too() {
        let policy = OriginPolicy::new(&["https://wall.example.org/".into()]);
        assert!(policy.allows(Some("https://wall.example.org"), Some("internal:3000")));
        assert!(!policy.allows(Some("http://wall.example.org"), Some("internal:3000")));
        assert!(OriginPolicy::new(&["*".into()]).allows(Some("null"), None));
    }

    #[test]
    fn the_query_gives_room_token_and_newcomer_offers_and_ignores_id() {
        let query = |room: Option<&str>, token: Option<&str>, newcomer_offers| JoinQuery {
            room: room.map(Into::into),
            token: token.map(Into::into),
            newcomer_offers,
            ..JoinQuery::default()
        };
        assert_eq!(
            join_query(Some("room=home&id=mine&token=a.b")),
            query(Some("home"), Some("a.b"), false)
        );
        assert_eq!(
            join_query(Some("room=coffee%2Dchat&newcomer_offers=1")),
            query(Some("coffee-chat"), None, true)
        );
        assert_eq!(
            join_query(Some("newcomer_offers=yes")),
            query(None, None, false)
        );
        assert_eq!(
            join_query(Some("newcomer_offers=0&newcomer_offers=1")),
            query(None, None, false)
        );
        assert_eq!(join_query(None), JoinQuery::default());
        assert_eq!(
            join_query(Some("room=home&verifier=abc&verifier=def"))
                .verifier
                .as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn the_query_gives_the_role_and_the_first_one_counts() {
        let role = |query| join_query(Some(query)).role;
        assert_eq!(role("room=home&role=camera"), Role::Camera);
        assert_eq!(role("role=wall&role=camera"), Role::Wall);
        assert_eq!(role("role=tv&role=wall"), Role::Both);
        assert_eq!(role("room=home"), Role::Both);
    }
}
