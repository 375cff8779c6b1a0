//! "Add a camera": the room's URL on an address a phone can reach, and its QR code.
//!
//! A wall is often opened on the machine that runs the server, as `localhost`, an address no
//! phone can use; the QR code then carries the machine's LAN address instead. Opened on any
//! other address, the page's own is the one to share: the browser already reached it.

use std::{
    fmt::Display,
    net::{IpAddr, SocketAddr},
};

use axum::{
    extract::{Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use std::sync::Arc;

use crate::{
    components::invite::{qr_svg, Invite},
    signalling::RoomName,
};

/// How another device reaches this server.
#[derive(Clone, Debug)]
pub struct Reach {
    pub tls: bool,
    pub local_addr: SocketAddr,
}

const NEEDS_HTTPS: &str = "Phones give a page their camera only over https: start the server \
                           with --tls-self-signed to add them as cameras.";
const THIS_MACHINE_ONLY: &str = "The server listens on this machine only: start it with \
                                 --tls-self-signed to let phones on your network join.";
const NO_NETWORK: &str = "This machine has no network address a phone could use: connect it \
                          to the phones' network and reload.";

/// The wall of `room` at `scheme://authority`, the one shape every URL given out has.
pub fn room_url(scheme: &str, authority: impl Display, room: &str) -> String {
    format!("{scheme}://{authority}/?room={room}")
}

impl Reach {
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// The room's URL on each address other devices may use, given this machine's `lan`
    /// addresses: all of them when listening on every interface, the one listened on
    /// otherwise, none when listening on loopback.
    pub fn lan_urls(&self, room: &str, lan: &[IpAddr]) -> Vec<String> {
        let port = self.local_addr.port();
        let listened = self.local_addr.ip();
        let addresses: Vec<IpAddr> = if listened.is_unspecified() {
            lan.iter()
                .copied()
                // 0.0.0.0 takes IPv4 only; [::] takes both.
                .filter(|ip| listened.is_ipv6() || ip.is_ipv4())
                .collect()
        } else if listened.is_loopback() {
            Vec::new()
        } else {
            vec![listened]
        };
        addresses
            .into_iter()
            .map(|ip| room_url(self.scheme(), SocketAddr::new(ip, port), room))
            .collect()
    }

    /// The URL to put in the QR code for a page opened on `page_host` (its Host header), and
    /// what to tell the person when phones cannot use it as a camera.
    pub fn invite_url(
        &self,
        page_host: Option<&str>,
        forwarded_proto: Option<&str>,
        room: &str,
        lan: &[IpAddr],
    ) -> (String, Option<String>) {
        let own = page_host.map_or_else(|| self.local_addr.to_string(), str::to_string);
        if is_loopback_host(&own) {
            return match self.lan_urls(room, lan).into_iter().next() {
                Some(url) => (url, (!self.tls).then(|| NEEDS_HTTPS.to_string())),
                None => {
                    let hint = if self.local_addr.ip().is_loopback() {
                        if self.tls {
                            format!(
                                "The server listens on this machine only: start it with \
                                 --addr 0.0.0.0:{} to let phones on your network join.",
                                self.local_addr.port()
                            )
                        } else {
                            THIS_MACHINE_ONLY.to_string()
                        }
                    } else {
                        NO_NETWORK.to_string()
                    };
                    (room_url(self.scheme(), &own, room), Some(hint))
                }
            };
        }
        // Behind a TLS-terminating proxy the page is https although this hop is not.
        let scheme = match forwarded_proto {
            Some("https") => "https",
            Some("http") => "http",
            _ => self.scheme(),
        };
        let hint = (scheme == "http").then(|| NEEDS_HTTPS.to_string());
        (room_url(scheme, &own, room), hint)
    }
}

/// Whether a Host header (with or without its port) names this machine's loopback.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[derive(Deserialize)]
pub struct InviteQuery {
    room: String,
}

/// `GET /api/invite?room=<name>`: the URL to add a camera to the room, and its QR code.
pub async fn invite(
    State(reach): State<Arc<Reach>>,
    Query(query): Query<InviteQuery>,
    headers: HeaderMap,
) -> Response {
    let room = match RoomName::parse(&query.room) {
        Ok(room) => room,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let lan = super::tls::lan_addresses();
    let (url, hint) = reach.invite_url(
        text(header::HOST.as_str()),
        text("x-forwarded-proto"),
        room.as_str(),
        &lan,
    );
    // "Add a camera": the phone that scans it is a camera, and decodes nobody's video.
    let url = format!("{url}&role=camera");
    match qr_svg(&url) {
        Some(svg) => Json(Invite { url, svg, hint }).into_response(),
        // A URL of a valid room on a Host header of at most a few hundred bytes always fits.
        None => (
            StatusCode::BAD_REQUEST,
            "this URL does not fit in a QR code",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(tls: bool, addr: &str) -> Reach {
        Reach {
            tls,
            local_addr: addr.parse().unwrap(),
        }
    }

    fn lan() -> Vec<IpAddr> {
        vec![
            "192.168.1.20".parse().unwrap(),
            "2001:db8::20".parse().unwrap(),
        ]
    }

    #[test]
    fn a_wall_opened_on_localhost_invites_to_the_lan_address() {
        let reach = reach(true, "0.0.0.0:3000");
        assert_eq!(
            reach.invite_url(Some("localhost:3000"), None, "home", &lan()),
            ("https://192.168.1.20:3000/?room=home".to_string(), None)
        );
        assert_eq!(
            reach.invite_url(Some("localhost:3000"), None, "home", &[]),
            (
                "https://localhost:3000/?room=home".to_string(),
                Some(NO_NETWORK.to_string())
            )
        );
        assert_eq!(
            reach.invite_url(Some("[::1]:3000"), None, "home", &lan()).0,
            "https://192.168.1.20:3000/?room=home"
        );
        assert_eq!(
            reach.lan_urls("home", &lan()),
            vec!["https://192.168.1.20:3000/?room=home"],
            "0.0.0.0 takes no IPv6"
        );
        assert_eq!(reach_all_v6().lan_urls("home", &lan()).len(), 2);
    }

    fn reach_all_v6() -> Reach {
        reach(true, "[::]:3000")
    }

    #[test]
    fn a_wall_opened_on_another_address_invites_to_that_address() {
        let reach = reach(true, "0.0.0.0:3000");
        assert_eq!(
            reach.invite_url(Some("wall.home.arpa:3000"), None, "home", &lan()),
            ("https://wall.home.arpa:3000/?room=home".to_string(), None)
        );
        let behind_proxy = self::reach(false, "127.0.0.1:3000");
        assert_eq!(
            behind_proxy.invite_url(Some("wall.example.org"), Some("https"), "home", &lan()),
            ("https://wall.example.org/?room=home".to_string(), None)
        );
    }

    #[test]
    fn without_https_or_the_lan_the_person_is_told_why() {
        let loopback = reach(false, "127.0.0.1:3000");
        assert_eq!(
            loopback.invite_url(Some("127.0.0.1:3000"), None, "home", &lan()),
            (
                "http://127.0.0.1:3000/?room=home".to_string(),
                Some(THIS_MACHINE_ONLY.to_string())
            )
        );
        let tls_loopback = reach(true, "127.0.0.1:4000");
        assert_eq!(
            tls_loopback
                .invite_url(Some("localhost:4000"), None, "home", &lan())
                .1
                .unwrap(),
            "The server listens on this machine only: start it with --addr 0.0.0.0:4000 to \
             let phones on your network join."
        );
        let plain_lan = reach(false, "0.0.0.0:3000");
        assert_eq!(
            plain_lan.invite_url(Some("localhost:3000"), None, "home", &lan()),
            (
                "http://192.168.1.20:3000/?room=home".to_string(),
                Some(NEEDS_HTTPS.to_string())
            )
        );
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "localhost",
            "localhost:3000",
            "LOCALHOST",
            "a.localhost:1",
            "127.0.0.1:3000",
            "[::1]:3000",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "192.168.1.20:3000",
            "wall.example.org",
            "[2001:db8::1]:3000",
            "localhost.example.org",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    /// Reads the SVG the page shows back into pixels and decodes it with an independent
    /// decoder: what a phone's camera would read.
    #[test]
    fn the_qr_code_reads_back_as_exactly_the_url() {
        let url = "https://192.168.1.20:3000/?room=home";
        let svg = qr_svg(url).unwrap();
        assert!(svg.starts_with("<svg class=\"qr-code\" "), "{svg}");
        let (width, dark) = rasterise(&svg);
        const SCALE: usize = 4;
        let size = width * SCALE;
        let pixels: Vec<u8> = (0..size * size)
            .map(|i| {
                let (x, y) = (i % size, i / size);
                if dark[(y / SCALE) * width + x / SCALE] {
                    0
                } else {
                    255
                }
            })
            .collect();
        let mut decoder = quircs::Quirc::default();
        let codes: Vec<_> = decoder.identify(size, size, &pixels).collect();
        assert_eq!(codes.len(), 1);
        let decoded = codes[0].as_ref().unwrap().decode().unwrap();
        let content = String::from_utf8(decoded.payload).unwrap();
        assert_eq!(content, url);
    }

    /// The dark modules of the renderer's SVG: a `width`×`width` viewBox and a path of
    /// `M{x} {y}h{w}v{h}H{x}V{y}` rectangles.
    fn rasterise(svg: &str) -> (usize, Vec<bool>) {
        let view_box = svg.split("viewBox=\"0 0 ").nth(1).unwrap();
        let width: usize = view_box.split(' ').next().unwrap().parse().unwrap();
        let path = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let mut dark = vec![false; width * width];
        for rectangle in path.split('M').filter(|part| !part.is_empty()) {
            let numbers: Vec<usize> = rectangle
                .split(|c: char| !c.is_ascii_digit())
                .filter(|part| !part.is_empty())
                .map(|part| part.parse().unwrap())
                .collect();
            let [x, y, w, h, ..] = numbers[..] else {
                panic!("unexpected path segment {rectangle:?}");
            };
            for row in y..y + h {
                for column in x..x + w {
                    dark[row * width + column] = true;
                }
            }
        }
        (width, dark)
    }
}
