//! Which names this server answers to: the defence against DNS rebinding.
//!
//! A web page on `attacker.example` can point its own name at 127.0.0.1 (or at this machine's
//! LAN address) and then read this server as if it were same-origin: the browser sends
//! `Host: attacker.example` and a matching `Origin`, so the WebSocket's Origin check passes.
//! What gives such a request away is the Host: a wall is opened by IP address, as `localhost`,
//! or by a name the person running it chose (`--public-host`). Any other Host is refused on
//! every route, before it reaches a page, the socket, the room list or the metrics.

use std::{collections::HashSet, net::IpAddr, sync::Arc};

use axum::{
    extract::{Request, State},
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

#[derive(Clone, Debug, Default)]
pub struct HostPolicy {
    /// Lower-case names without a trailing dot.
    public: HashSet<String>,
}

impl HostPolicy {
    pub fn new(public_hosts: &[String]) -> Self {
        Self {
            public: public_hosts
                .iter()
                .map(|name| normalise(name.trim()))
                .collect(),
        }
    }

    /// Whether a request whose Host header (`name[:port]`) is `host` is for this server.
    pub fn allows(&self, host: &str) -> bool {
        let Some(name) = host_name(host) else {
            return false;
        };
        let name = normalise(name);
        // `*.localhost` is loopback by definition (RFC 6761): browsers never ask DNS for it,
        // so no one can point it elsewhere.
        name.parse::<IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.public.contains(&name)
    }
}

/// `--public-host` values: a bare DNS name, as it appears in the Host header without its port.
pub fn parse_public_host(text: &str) -> Result<String, String> {
    let name = normalise(text.trim());
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        });
    if valid {
        Ok(name)
    } else {
        Err(format!(
            "{text:?} is not a host name (no scheme, port or path: e.g. wall.example.org)"
        ))
    }
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The name part of `name[:port]` or `[v6]:port`; `None` when it is not shaped like either.
fn host_name(host: &str) -> Option<&str> {
    if let Some(rest) = host.strip_prefix('[') {
        let (address, after) = rest.split_once(']')?;
        return (after.is_empty() || after.starts_with(':')).then_some(address);
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|byte| byte.is_ascii_digit()) => name,
        Some(_) => return None,
        None => host,
    };
    (!name.is_empty()).then_some(name)
}

/// Refuses a request for a name this server does not answer to with 421 Misdirected Request,
/// whose text says which flag would allow it.
pub async fn refuse_foreign_hosts(
    State(policy): State<Arc<HostPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    // Both names a request may carry must be ours: the Host header, and the authority of an
    // absolute-form target (`GET http://name/ HTTP/1.1`), which HTTP/1.1 says wins over it.
    let header = match request
        .headers()
        .get(header::HOST)
        .map(|value| value.to_str())
    {
        Some(Ok(host)) => Some(host),
        Some(Err(_)) => return (StatusCode::BAD_REQUEST, "the Host is not text\n").into_response(),
        None => None,
    };
    let authority = request
        .uri()
        .authority()
        .map(|authority| authority.as_str());
    let foreign = [header, authority]
        .into_iter()
        .flatten()
        .find(|host| !policy.allows(host));
    match (foreign, header.or(authority)) {
        (None, Some(_)) => next.run(request).await,
        (Some(host), _) => (
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "this server does not answer to {host:?}: open it by its IP address or as \
                 localhost, or start it with --public-host {}\n",
                host_name(host).unwrap_or("NAME")
            ),
        )
            .into_response(),
        (None, None) => (StatusCode::BAD_REQUEST, "the request has no Host\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_localhost_are_always_allowed() {
        let policy = HostPolicy::default();
        for host in [
            "127.0.0.1",
            "127.0.0.1:3000",
            "192.168.1.20:3000",
            "[::1]:3000",
            "[fe80::1]",
            "localhost",
            "LocalHost:3000",
            "localhost.:3000",
            "wall.localhost:3000",
        ] {
            assert!(policy.allows(host), "{host}");
        }
    }

    #[test]
    fn other_names_need_to_be_configured() {
        let policy = HostPolicy::new(&["Wall.Example.org".into()]);
        for host in [
            "wall.example.org",
            "wall.example.org:443",
            "WALL.example.org.",
        ] {
            assert!(policy.allows(host), "{host}");
        }
        for host in [
            "attacker.example",
            "attacker.example:3000",
            "localhost.attacker.example",
            "127.0.0.1.attacker.example",
            "wall.example.org.attacker.example",
            "",
            ":3000",
            "[::1]x",
            "localhost:http",
        ] {
            assert!(!policy.allows(host), "{host}");
        }
    }

    #[test]
    fn public_hosts_are_bare_names() {
        assert_eq!(
            parse_public_host(" Wall.Example.org. "),
            Ok("wall.example.org".into())
        );
        for bad in [
            "",
            "https://wall.example.org",
            "wall.example.org:443",
            "a..b",
            "a/b",
        ] {
            assert!(parse_public_host(bad).is_err(), "{bad}");
        }
    }
}
