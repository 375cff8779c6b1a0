//! Command-line flags and environment variables, one source of truth for both.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use clap::Parser;

use crate::signalling::{
    protocol::{IceServer, IceTransportPolicy, RtcConfiguration},
    turn::{is_turn_url, TurnRest, MIN_TTL_MS},
    RoomName,
};

/// portals: a CCTV-style video wall. Serves the pages and the signalling WebSocket (`/portal`)
/// on one port; the video itself flows peer to peer between the browsers.
///
/// Every flag can also be set through the environment variable named in its help.
#[derive(Clone, Debug, Parser)]
#[command(name = "portals", version, about, long_about)]
pub struct Config {
    /// Address to listen on for the pages and the WebSocket. Default: `127.0.0.1:3000`
    /// (this machine only) without TLS; `0.0.0.0:3000` (every interface, so that phones on
    /// the LAN can join) with --tls-self-signed or --tls-cert. cargo-leptos sets
    /// LEPTOS_SITE_ADDR from `site-addr` in Cargo.toml.
    #[arg(long, env = "LEPTOS_SITE_ADDR")]
    pub addr: Option<SocketAddr>,

    /// TLS certificate chain (PEM), e.g. from an ACME client: pages and `/portal` are then
    /// served over https and wss on the same port. Needs --tls-key.
    #[arg(
        long,
        env = "PORTALS_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM) of --tls-cert.
    #[arg(long, env = "PORTALS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve over https with a self-signed certificate for `localhost` and every address of
    /// this machine, made once and kept under --data-dir. Phones accept it once (compare the
    /// SHA-256 fingerprint printed at start with the one the phone shows).
    #[arg(long, env = "PORTALS_TLS_SELF_SIGNED")]
    pub tls_self_signed: bool,

    /// Where the server keeps what it makes (the self-signed certificate). Default: `portals`
    /// in the platform's data directory (`$XDG_DATA_HOME`, i.e. `~/.local/share/portals` on
    /// Linux; `~/Library/Application Support/portals` on macOS), or `./.portals` when there
    /// is none.
    #[arg(long, env = "PORTALS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// The only rooms that exist, comma-separated (e.g. `home,coffee-chat,misc`); others are
    /// refused with `room_not_found`. Empty (the default): any valid room name may be joined,
    /// and a room exists while it has members.
    #[arg(long, env = "PORTALS_ROOMS", value_delimiter = ',', value_parser = parse_room)]
    pub rooms: Vec<RoomName>,

    /// Most members in one room that watch: those that send and receive (no `role`, or
    /// `role=both`) and walls (`role=wall`). Every `both` member sends its video to every other,
    /// so a full mesh stops fitting ordinary uplinks and CPUs at about a dozen. Members that
    /// send are counted apart (`--max-senders`): a room of `both` members is capped by both.
    #[arg(long, env = "PORTALS_MAX_MEMBERS", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(1..=MAX_WATCHERS))]
    pub max_members: u32,

    /// Most members in one room that send video: cameras (`role=camera`) and `both` members.
    /// Each member that watches decodes all of them; a camera decodes nothing and sends each
    /// watcher one stream sized to its tile, so one wall can watch up to this many cameras.
    #[arg(long, env = "PORTALS_MAX_SENDERS", default_value_t = 24,
          value_parser = clap::value_parser!(u32).range(1..=MAX_SENDERS))]
    pub max_senders: u32,

    /// The video each client may send in total, in kbit/s, announced in `welcome`. A client
    /// shares it out over its links in proportion to the size each receiver shows its video
    /// at; a page's `&uplink=` overrides it for that page.
    #[arg(long, env = "PORTALS_UPLINK_KBPS", default_value_t = 2_500,
          value_parser = clap::value_parser!(u32).range(100..=1_000_000))]
    pub uplink_kbps: u32,

    /// How long a member whose connection dropped keeps its seat (and its peers their video)
    /// before the room is told it left. `0s` removes members at once.
    #[arg(long, env = "PORTALS_GRACE_PERIOD", default_value = "20s",
          value_parser = humantime::parse_duration)]
    pub grace_period: Duration,

    /// How long a resume token is valid. A member still connected when three quarters of it
    /// has passed is sent a fresh one, so a wall that runs for weeks never holds an expired
    /// token; a restarted server (same --secret) gives ids back to tokens younger than this.
    /// At least four times the longest a dropped member keeps its seat (the grace period, plus
    /// the two ping intervals it may take to notice a silent client), so that a member whose
    /// token was renewed just as its network died still resumes with the one it holds.
    #[arg(long, env = "PORTALS_TOKEN_TTL", default_value = "24h",
          value_parser = parse_at_least_a_second)]
    pub token_ttl: Duration,

    /// How long a member whose page is unloading keeps its seat, so that a reload comes back
    /// as the same member. A closed tab's tile stays this long at the others. At most the
    /// grace period.
    #[arg(long, env = "PORTALS_RELOAD_HOLD", default_value = "1500ms",
          value_parser = humantime::parse_duration)]
    pub reload_hold: Duration,

    /// How often the server pings each WebSocket. A connection silent for two intervals is
    /// dropped (and its member enters the grace period).
    #[arg(long, env = "PORTALS_PING_INTERVAL", default_value = "15s",
          value_parser = parse_positive_duration)]
    pub ping_interval: Duration,

    /// Web origins allowed to open the WebSocket besides the page's own (whose Origin host
    /// equals the request's Host), comma-separated, e.g. `https://wall.example.org`. `*`
    /// allows any origin. Requests without an Origin header (non-browsers) are always allowed.
    #[arg(
        long = "allowed-origin",
        env = "PORTALS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Host names this server answers to, comma-separated (e.g. `wall.example.org` behind a
    /// reverse proxy). IP addresses and `localhost` always work; a request for any other name
    /// is refused with 421, so that a web page that points its own name at this machine (DNS
    /// rebinding) reaches nothing.
    #[arg(long = "public-host", env = "PORTALS_PUBLIC_HOSTS", value_delimiter = ',',
          value_parser = crate::server::hosts::parse_public_host)]
    pub public_hosts: Vec<String>,

    /// Do not tell visitors which rooms exist: `/api/rooms` answers 404 and the start page
    /// shows only the form to enter a room's name.
    #[arg(long, env = "PORTALS_NO_ROOM_LIST")]
    pub no_room_list: bool,

    /// Serve `/metrics` on this address only (e.g. `127.0.0.1:9100` for a local Prometheus),
    /// instead of on the main port next to the pages.
    #[arg(long, env = "PORTALS_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// ICE servers handed to clients in `welcome.rtc.iceServers`, comma-separated
    /// `stun:`/`turn:`/`turns:` URLs. None (the default) means host candidates only, which
    /// works on one LAN; add STUN for NAT, TURN for strict firewalls.
    #[arg(long = "ice-server", env = "PORTALS_ICE_SERVERS", value_delimiter = ',',
          value_parser = parse_ice_url)]
    pub ice_servers: Vec<String>,

    /// Username for the `turn:`/`turns:` servers in --ice-server.
    #[arg(long, env = "PORTALS_TURN_USERNAME")]
    pub turn_username: Option<String>,

    /// Credential for the `turn:`/`turns:` servers in --ice-server.
    #[arg(long, env = "PORTALS_TURN_CREDENTIAL", hide_env_values = true)]
    pub turn_credential: Option<String>,

    /// TURN servers that take time-limited credentials signed with --turn-secret (coturn's
    /// `use-auth-secret`), comma-separated `turn:`/`turns:` URLs, e.g.
    /// `turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349`. Each member
    /// gets credentials of its own in `welcome`, renewed (`rtc`) while it stays.
    #[arg(long = "turn-url", env = "PORTALS_TURN_URLS", value_delimiter = ',',
          value_parser = parse_turn_url, requires = "turn_secret")]
    pub turn_urls: Vec<String>,

    /// The secret shared with the TURN servers of --turn-url (coturn's `static-auth-secret`).
    #[arg(
        long,
        env = "PORTALS_TURN_SECRET",
        hide_env_values = true,
        requires = "turn_urls"
    )]
    pub turn_secret: Option<String>,

    /// How long the credentials minted for --turn-url stay good (at least 10s). A member still
    /// connected after three quarters of it is sent fresh ones.
    #[arg(long, env = "PORTALS_TURN_TTL", default_value = "1h",
          value_parser = parse_turn_ttl)]
    pub turn_ttl: Duration,

    /// `relay`: every link goes through a TURN server (--turn-url or --ice-server), so that
    /// no member learns another's addresses; links fail where no TURN server is reachable.
    /// `all` (the default): direct links where they work.
    #[arg(long, env = "PORTALS_ICE_TRANSPORT_POLICY", value_enum,
          default_value_t = IceTransportPolicy::All)]
    pub ice_transport_policy: IceTransportPolicy,

    /// Secret that signs resume tokens. Give the same one across restarts and clients keep
    /// their ids (and their peers' video keeps playing) through a restart. Unset: a random
    /// secret per process.
    #[arg(long, env = "PORTALS_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// Joins this process to a cluster of portals servers that share this Redis
    /// (`redis://host:port/`) and the same --secret, which it needs: the members of one room
    /// may then reach any of them (see docs/SCALING.md). Unset: one process, no Redis.
    #[arg(
        long,
        env = "PORTALS_REDIS_URL",
        hide_env_values = true,
        requires = "secret"
    )]
    pub redis_url: Option<String>,

    /// How often a cluster process says it is alive and renews its rooms' leases; the others
    /// take it for dead after three missed beats.
    #[arg(long, env = "PORTALS_REDIS_HEARTBEAT", default_value = "1s",
          value_parser = parse_positive_duration)]
    pub redis_heartbeat: Duration,

    /// Largest text frame accepted; a bigger one closes the socket with 1009.
    #[arg(long, env = "PORTALS_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024,
          value_parser = clap::value_parser!(u32).range(1024..))]
    pub max_message_bytes: u32,

    /// Messages each connection may send per second, on average. Excess messages are dropped
    /// with `rate_limited`; a client that keeps flooding is closed (1008).
    #[arg(long, env = "PORTALS_MESSAGES_PER_SECOND", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub messages_per_second: u32,

    /// Messages a connection may send in one burst before the per-second rate applies.
    #[arg(long, env = "PORTALS_MESSAGE_BURST", default_value_t = 400,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub message_burst: u32,

    /// How long a client may take to send a request's headers, and how long an idle
    /// keep-alive connection is kept waiting for its next request.
    #[arg(long, env = "PORTALS_HEADER_TIMEOUT", default_value = "10s",
          value_parser = parse_positive_duration)]
    pub header_timeout: Duration,

    /// Most connections open at once (page loads and WebSockets together); beyond it a new one
    /// is answered 503. Default: what the process's open-file limit allows, less a reserve.
    #[arg(long, env = "PORTALS_MAX_CONNECTIONS",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,

    /// On SIGTERM or Ctrl-C, how long the WebSockets (told 1001) and the requests in flight get
    /// to finish before the process exits anyway.
    #[arg(long, env = "PORTALS_SHUTDOWN_GRACE", default_value = "5s",
          value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Log filter: `error`, `warn`, `info`, `debug`, `trace`, or per module as in
    /// `info,portals=debug`.
    #[arg(long, env = "PORTALS_LOG", default_value = "info")]
    pub log: String,
}

/// The largest `--max-members`: every member that sends encodes one stream per watcher, so a
/// room of more watchers than this is beyond any uplink (and every `info` lists them all).
const MAX_WATCHERS: i64 = 64;
/// The largest `--max-senders`: a wall decodes every camera of its room.
const MAX_SENDERS: i64 = 256;

/// The port of the default addresses, as in `site-addr` in Cargo.toml.
const DEFAULT_PORT: u16 = 3000;

impl Config {
    /// Whether pages and `/portal` are served over TLS.
    pub fn tls(&self) -> bool {
        self.tls_self_signed || self.tls_cert.is_some()
    }

    /// --addr, or its default: this machine only without TLS, every interface with it.
    pub fn listen_addr(&self) -> SocketAddr {
        self.addr.unwrap_or_else(|| {
            let ip = if self.tls() {
                Ipv4Addr::UNSPECIFIED
            } else {
                Ipv4Addr::LOCALHOST
            };
            SocketAddr::from((ip, DEFAULT_PORT))
        })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            dirs::data_dir().map_or_else(|| PathBuf::from(".portals"), |dir| dir.join("portals"))
        })
    }

    /// The TURN servers of --turn-url, with their secret.
    pub fn turn(&self) -> Option<TurnRest> {
        let secret = self.turn_secret.as_ref()?;
        Some(TurnRest::new(
            self.turn_urls.clone(),
            secret.as_bytes(),
            super::duration_ms(self.turn_ttl),
        ))
    }

    /// What every member gets alike; see [`Self::turn`] for what each gets of its own.
    pub fn rtc(&self) -> RtcConfiguration {
        let ice_servers = self
            .ice_servers
            .iter()
            .map(|url| {
                let is_turn = is_turn_url(url);
                IceServer {
                    urls: vec![url.clone()],
                    username: self.turn_username.clone().filter(|_| is_turn),
                    credential: self.turn_credential.clone().filter(|_| is_turn),
                }
            })
            .collect();
        RtcConfiguration {
            ice_servers,
            // The browser's default needs no saying, and older clients read no more.
            ice_transport_policy: Some(self.ice_transport_policy)
                .filter(|policy| *policy != IceTransportPolicy::All),
        }
    }
}

/// What the flags cannot say one at a time.
impl Config {
    pub fn check(&self) -> Result<(), String> {
        let seat_kept = self
            .ping_interval
            .checked_mul(2)
            .and_then(|noticed| noticed.checked_add(self.grace_period))
            .and_then(|kept| kept.checked_mul(4));
        if seat_kept.is_none_or(|needed| self.token_ttl < needed) {
            return Err(format!(
                "--token-ttl ({}) must be at least four times --grace-period ({}) plus two \
                 --ping-interval ({})",
                humantime::format_duration(self.token_ttl),
                humantime::format_duration(self.grace_period),
                humantime::format_duration(self.ping_interval),
            ));
        }
        Ok(())
    }
}

fn parse_at_least_a_second(text: &str) -> Result<Duration, String> {
    parse_duration_from(text, Duration::from_secs(1), "must be at least 1s")
}

fn parse_room(name: &str) -> Result<RoomName, String> {
    RoomName::parse(name.trim()).map_err(|error| error.to_string())
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    parse_duration_from(text, Duration::from_nanos(1), "must be longer than zero")
}

/// A duration of at least `least`, or `why` not.
fn parse_duration_from(text: &str, least: Duration, why: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(duration) if duration >= least => Ok(duration),
        Ok(_) => Err(why.into()),
        Err(error) => Err(error.to_string()),
    }
}

fn parse_turn_ttl(text: &str) -> Result<Duration, String> {
    parse_duration_from(
        text,
        Duration::from_millis(MIN_TTL_MS),
        "must be at least 10s",
    )
}

fn parse_turn_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    if is_turn_url(url) {
        Ok(url.to_string())
    } else {
        Err(format!("{url:?} is not a turn: or turns: URL"))
    }
}

fn parse_ice_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    if ["stun:", "stuns:", "turn:", "turns:"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
    {
        Ok(url.to_string())
    } else {
        Err(format!(
            "{url:?} is not a stun:, stuns:, turn: or turns: URL"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("portals").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_match_the_protocol() {
        let config = parse(&["--addr", "127.0.0.1:0"]).unwrap();
        assert_eq!(config.max_members, 12);
        assert_eq!(config.max_senders, 24);
        assert_eq!(config.uplink_kbps, 2_500);
        assert_eq!(config.grace_period, Duration::from_secs(20));
        assert_eq!(config.reload_hold, Duration::from_millis(1500));
        assert_eq!(config.ping_interval, Duration::from_secs(15));
        assert_eq!(config.max_message_bytes, 65_536);
        assert!(config.rtc().ice_servers.is_empty());
    }

    #[test]
    fn tls_listens_on_every_interface_unless_told_otherwise() {
        let plain = parse(&[]).unwrap();
        assert!(!plain.tls());
        assert_eq!(plain.listen_addr(), "127.0.0.1:3000".parse().unwrap());
        let tls = parse(&["--tls-self-signed"]).unwrap();
        assert_eq!(tls.listen_addr(), "0.0.0.0:3000".parse().unwrap());
        let chosen = parse(&["--tls-self-signed", "--addr", "127.0.0.1:4000"]).unwrap();
        assert_eq!(chosen.listen_addr(), "127.0.0.1:4000".parse().unwrap());

        assert!(
            parse(&["--tls-cert", "c.pem"]).is_err(),
            "a certificate needs its key"
        );
        assert!(
            parse(&["--tls-key", "k.pem"]).is_err(),
            "a key needs its certificate"
        );
        assert!(
            parse(&[
                "--tls-cert",
                "c.pem",
                "--tls-key",
                "k.pem",
                "--tls-self-signed"
            ])
            .is_err(),
            "one certificate at a time"
        );
        assert!(parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem"])
            .unwrap()
            .tls());
    }

    #[test]
    fn rooms_and_ice_servers_are_validated() {
        let config = parse(&[
            "--rooms",
            "home,coffee-chat,misc",
            "--ice-server",
            "stun:stun.example.org,turn:turn.example.org",
            "--turn-username",
            "u",
            "--turn-credential",
            "c",
        ])
        .unwrap();
        assert_eq!(config.rooms.len(), 3);
        let rtc = config.rtc();
        assert_eq!(
            rtc.ice_servers[0].username, None,
            "STUN takes no credentials"
        );
        assert_eq!(rtc.ice_servers[1].username.as_deref(), Some("u"));

        assert_eq!(rtc.ice_transport_policy, None, "the browser's default");
        assert!(config.turn().is_none());

        let turn = parse(&[
            "--turn-url",
            "turn:127.0.0.1:3478,turns:turn.example.org:5349",
            "--turn-secret",
            "s",
            "--turn-ttl",
            "20s",
            "--ice-transport-policy",
            "relay",
        ])
        .unwrap();
        let minted = turn.turn().expect("TURN REST").credentials(
            &crate::signalling::MemberId::new("m"),
            crate::signalling::Timestamp(0),
        );
        assert_eq!(minted.urls.len(), 2);
        assert_eq!(minted.username.as_deref(), Some("20:m"));
        assert_eq!(
            turn.rtc().ice_transport_policy,
            Some(IceTransportPolicy::Relay)
        );
        assert!(
            parse(&["--turn-url", "turn:t.example.org"]).is_err(),
            "needs its secret"
        );
        assert!(parse(&["--turn-secret", "s"]).is_err(), "needs its URLs");
        assert!(parse(&["--turn-url", "stun:t.example.org", "--turn-secret", "s"]).is_err());
        assert!(parse(&["--turn-ttl", "9s"]).is_err());
        assert!(parse(&["--ice-transport-policy", "host"]).is_err());

        assert!(parse(&["--rooms", "bad room"]).is_err());
        assert!(parse(&["--ice-server", "http://example.org"]).is_err());
        assert!(parse(&["--ping-interval", "0s"]).is_err());
        assert!(parse(&["--max-members", "0"]).is_err());
        assert!(parse(&["--max-members", "64"]).is_ok());
        assert!(
            parse(&["--max-members", "65"]).is_err(),
            "no mesh that large"
        );
        assert!(parse(&["--max-senders", "257"]).is_err());
        assert!(parse(&["--max-connections", "0"]).is_err());
        assert!(parse(&["--token-ttl", "999ms"]).is_err());
        assert!(parse(&[]).unwrap().check().is_ok());
        let short = parse(&["--token-ttl", "2m", "--grace-period", "20s"]).unwrap();
        assert!(
            short.check().is_err(),
            "a token must outlive a seat kept: 4 × (20 s + 2 × 15 s) is 200 s"
        );
        let enough = parse(&["--token-ttl", "200s", "--grace-period", "20s"]).unwrap();
        assert!(enough.check().is_ok());
        let huge = parse(&["--grace-period", "500000000years"]).unwrap();
        assert!(huge.check().is_err(), "no overflow");
    }
}
