//! The server: every socket, task, lock and timer lives under this module.
//!
//! One axum router serves the Leptos pages, the signalling WebSocket at `/portal` and a small
//! JSON API, on one port, so that the page's own origin is the WebSocket's origin.

pub mod cluster;
pub mod config;
mod connection;
mod frames;
pub mod hosts;
pub mod invite;
mod limits;
mod live_reload;
pub mod metrics;
pub mod outbox;
pub mod serving;
pub mod switchboard;
pub mod tls;
mod tls_listener;
pub mod websocket;

use std::{
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use axum::{
    extract::{FromRef, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    serve::ListenerExt,
    Json, Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::{TcpListener, TcpStream};

use crate::{
    app::{shell, App},
    signalling::{Hub, HubConfig, RateLimit, RoomPolicy, RoomSummary},
};
use cluster::{envelope::ProcessId, Cluster, Inboxes};
use config::Config;
use hosts::HostPolicy;
use invite::Reach;
use metrics::Metrics;
use serving::{OpenConnections, ServeOptions, Sockets};
use switchboard::{now, Switchboard};
use tls::{Tls, TlsError};
use tls_listener::TlsListener;
use websocket::OriginPolicy;

/// What the signalling endpoint and the API share.
pub struct SignallingService {
    pub switchboard: Arc<Switchboard>,
    pub metrics: Metrics,
    pub origins: OriginPolicy,
    pub ping_interval: Duration,
    pub max_message_bytes: usize,
    /// Whether visitors may see which rooms exist (`--no-room-list` turns it off).
    pub room_list: bool,
    /// The WebSockets open now, each counted by its connection's task.
    pub websockets: Arc<OpenConnections>,
    /// Each connection's message budget, which its own task enforces.
    pub rate: RateLimit,
    /// With `--redis-url`: this process's part in a cluster.
    pub cluster: Option<Arc<Cluster>>,
}

impl SignallingService {
    /// Also returns what the cluster's tasks read, with `--redis-url`; the URL is the only
    /// thing that can be wrong.
    pub fn new(config: &Config) -> io::Result<(Self, Option<Inboxes>)> {
        let secret = match &config.secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => random_bytes::<32>().to_vec(),
        };
        let rooms = if config.rooms.is_empty() {
            RoomPolicy::Any
        } else {
            RoomPolicy::Fixed(config.rooms.iter().cloned().collect())
        };
        let rate = RateLimit {
            per_second: config.messages_per_second,
            burst: config.message_burst,
        };
        let hub = Hub::new(HubConfig {
            rooms,
            max_members: config.max_members as usize,
            max_senders: config.max_senders as usize,
            uplink_kbps: config.uplink_kbps,
            grace_period_ms: duration_ms(config.grace_period),
            reload_hold_ms: duration_ms(config.reload_hold),
            rate,
            token_ttl_ms: duration_ms(config.token_ttl),
            rtc: config.rtc(),
            turn: config.turn(),
            max_message_bytes: config.max_message_bytes,
            ping_interval_ms: duration_ms(config.ping_interval),
            // A cluster's processes may run on machines whose clocks differ a little.
            clock_tolerance_ms: if config.redis_url.is_some() { 5_000 } else { 0 },
            ..HubConfig::with_defaults(now(), secret, random_bytes())
        });
        let relay_seconds = metrics::relay_histogram();
        let (cluster, routes, inboxes) = match &config.redis_url {
            Some(url) => {
                let me = ProcessId(u64::from_le_bytes(random_bytes()));
                let (cluster, routes, inboxes) = Cluster::new(url, config.redis_heartbeat, me)
                    .map_err(|error| {
                        io::Error::new(io::ErrorKind::InvalidInput, format!("--redis-url: {error}"))
                    })?;
                (Some(Arc::new(cluster)), Some(routes), Some(inboxes))
            }
            None => (None, None, None),
        };
        let switchboard = Arc::new(Switchboard::new(hub, relay_seconds.clone(), routes));
        let service = Self {
            metrics: Metrics::new(Arc::clone(&switchboard), relay_seconds, cluster.clone()),
            switchboard,
            origins: OriginPolicy::new(&config.allowed_origins),
            ping_interval: config.ping_interval,
            max_message_bytes: config.max_message_bytes as usize,
            room_list: !config.no_room_list,
            websockets: Arc::default(),
            rate,
            cluster,
        };
        Ok((service, inboxes))
    }
}

/// The router's state: axum hands each handler the part it asks for.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub service: Arc<SignallingService>,
    pub reach: Arc<Reach>,
    pub hosts: Arc<HostPolicy>,
    /// Whether `/metrics` is served here, next to the pages, rather than on its own address.
    pub metrics_here: bool,
}

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let service = Arc::clone(&state.service);
    let options = state.leptos_options.clone();
    let watching = live_reload::watching();
    let app = if watching {
        Router::new().route("/live_reload", get(live_reload::proxy))
    } else {
        Router::new()
    };
    let app = app
        .route("/portal", get(websocket::upgrade))
        .route("/healthz", get(health))
        .route("/api/invite", get(invite::invite));
    let app = if state.service.room_list {
        app.route("/api/rooms", get(list_rooms))
    } else {
        app
    };
    let app = if state.metrics_here {
        app.route("/metrics", get(render_metrics))
    } else {
        app
    };
    let hosts = Arc::clone(&state.hosts);
    let app = app
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(Arc::clone(&service)),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .with_state(state);
    let app = if watching {
        app.layer(axum::middleware::map_response(
            live_reload::name_the_process,
        ))
    } else {
        app
    };
    app.layer(axum::middleware::from_fn_with_state(
        hosts,
        hosts::refuse_foreign_hosts,
    ))
}

/// `/metrics` alone, for `--metrics-addr`; the same names are refused as on the main port.
fn metrics_router(service: Arc<SignallingService>, hosts: Arc<HostPolicy>) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .with_state(service)
        .layer(axum::middleware::from_fn_with_state(
            hosts,
            hosts::refuse_foreign_hosts,
        ))
}

async fn list_rooms(State(service): State<Arc<SignallingService>>) -> Json<Vec<RoomSummary>> {
    match &service.cluster {
        Some(cluster) => Json(cluster.rooms(&service.switchboard)),
        None => Json(service.switchboard.rooms()),
    }
}

/// `ok`, and in a cluster whether Redis answers and how many processes beat. Always 200 while
/// this process serves: a load balancer that took every process out when Redis is away would
/// stop the rooms that still work.
async fn health(State(service): State<Arc<SignallingService>>) -> String {
    let Some(cluster) = &service.cluster else {
        return "ok\n".to_string();
    };
    match cluster.processes() {
        Some(processes) => format!("ok\nredis: reachable\nprocesses: {processes}\n"),
        None => "ok\nredis: unreachable\n".to_string(),
    }
}

async fn render_metrics(State(service): State<Arc<SignallingService>>) -> Response {
    match service.metrics.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Serves until `shutdown` resolves, then asks every client to reconnect elsewhere (or to this
/// server once it is back) and stops. With `tls`, every route is served over it.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    tls: Option<&Tls>,
    leptos_options: LeptosOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (service, inboxes) = SignallingService::new(config)?;
    let service = Arc::new(service);
    let ticker = tokio::spawn(keep_deadlines(Arc::clone(&service)));
    if let Some(cluster) = &service.cluster {
        cluster.join(&service.switchboard).await;
    }
    let cluster_tasks = match (&service.cluster, inboxes) {
        (Some(cluster), Some(inboxes)) => {
            let switchboard = &service.switchboard;
            vec![
                tokio::spawn(Arc::clone(cluster).keep(Arc::clone(switchboard))),
                tokio::spawn(
                    Arc::clone(cluster).publish(Arc::clone(switchboard), inboxes.outgoing),
                ),
                tokio::spawn(cluster::receive(
                    Arc::clone(cluster),
                    Arc::clone(switchboard),
                    inboxes.pushed,
                )),
            ]
        }
        _ => Vec::new(),
    };
    let pinger = tokio::spawn(ping(Arc::clone(&service)));
    let reach = Arc::new(Reach {
        tls: tls.is_some(),
        local_addr: listener.local_addr()?,
    });
    let hosts = Arc::new(HostPolicy::new(&config.public_hosts));
    let app = router(AppState {
        leptos_options,
        service: Arc::clone(&service),
        reach,
        hosts: Arc::clone(&hosts),
        metrics_here: config.metrics_addr.is_none(),
    });
    let options = ServeOptions {
        header_timeout: config.header_timeout,
        max_connections: config
            .max_connections
            .map_or_else(serving::default_max_connections, |max| max as usize),
        shutdown_grace: config.shutdown_grace,
    };
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics_server = match config.metrics_addr {
        Some(addr) => {
            let listener = TcpListener::bind(addr).await?;
            let app = metrics_router(Arc::clone(&service), Arc::clone(&hosts));
            Some(tokio::spawn(serving::serve(
                listener,
                app,
                options,
                Arc::default(),
                None,
                async {
                    let _ = metrics_stopped.await;
                },
            )))
        }
        None => None,
    };
    let http = Arc::new(OpenConnections::default());
    let sockets = Some(Sockets {
        open: Arc::clone(&service.websockets),
        switchboard: Arc::clone(&service.switchboard),
    });
    match tls {
        // The TLS listener sets TCP_NODELAY itself.
        Some(tls) => {
            let listener = TlsListener::new(listener, Arc::clone(&tls.server_config))?;
            serving::serve(listener, app, options, http, sockets, shutdown).await;
        }
        None => {
            let listener = listener.tap_io(|stream| set_nodelay(stream));
            serving::serve(listener, app, options, http, sockets, shutdown).await;
        }
    }
    ticker.abort();
    pinger.abort();
    if let Some(cluster) = &service.cluster {
        cluster.leave().await;
    }
    for task in cluster_tasks {
        task.abort();
    }
    let _ = stop_metrics.send(());
    if let Some(metrics_server) = metrics_server {
        let _ = metrics_server.await;
    }
    Ok(())
}

/// Signalling messages are small and latency matters: without TCP_NODELAY, Nagle's algorithm
/// meets the peer's delayed ACK and holds some of them back for 40 ms.
pub(crate) fn set_nodelay(stream: &TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
}

/// Sleeps until the hub's next deadline (a grace period ending, a token due, an `info` owed),
/// or until an input brings an earlier one, and hands the hub the time then. Nothing wakes
/// while nothing is due.
async fn keep_deadlines(service: Arc<SignallingService>) {
    let switchboard = &service.switchboard;
    loop {
        let (deadline, moved) = switchboard.next_deadline();
        match deadline {
            Some(deadline) => {
                tokio::select! {
                    () = tokio::time::sleep(switchboard::until(deadline)) => switchboard.tick(),
                    () = moved.notified() => {}
                }
            }
            None => moved.notified().await,
        }
    }
}

/// Pings every connection each interval; two intervals of silence drop a connection.
async fn ping(service: Arc<SignallingService>) {
    let interval = service.ping_interval;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        service.switchboard.ping_all(interval * 2);
    }
}

/// Why the server did not start: one line each, naming what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: io::Error },
    #[error(transparent)]
    Serve(#[from] io::Error),
    #[error("{0}")]
    Config(String),
}

/// The certificate the flags ask for, if any; a self-signed one names the `lan` addresses.
pub fn load_tls(config: &Config, lan: &[IpAddr]) -> Result<Option<Tls>, TlsError> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(certificate), Some(key)) => tls::from_files(certificate, key).map(Some),
        _ if config.tls_self_signed => {
            tls::self_signed(&config.data_dir(), &tls::machine_names(lan)).map(Some)
        }
        _ => Ok(None),
    }
}

/// The binary's entry point.
pub async fn run(config: Config) -> Result<(), StartError> {
    config.check().map_err(StartError::Config)?;
    let leptos_options = match get_configuration(None) {
        Ok(configuration) => configuration.leptos_options,
        // Built without cargo-leptos (plain `cargo run`): the pages still render, the assets
        // under target/site are whatever the last cargo-leptos build left there.
        Err(_) => LeptosOptions::builder().output_name("portals").build(),
    };
    // One look at the interfaces, so that the certificate and the banner agree.
    let lan = tls::lan_addresses();
    let tls = load_tls(&config, &lan)?;
    let addr = config.listen_addr();
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })?;
    let local_addr = listener.local_addr()?;
    print_banner(&config, tls.as_ref(), local_addr, &lan);
    serve(
        listener,
        &config,
        tls.as_ref(),
        leptos_options,
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

/// What a person needs to open the wall and to add phones, on stdout whatever the log level.
fn print_banner(config: &Config, tls: Option<&Tls>, local_addr: SocketAddr, lan: &[IpAddr]) {
    let room = config.rooms.first().map_or("home", |room| room.as_str());
    let reach = Reach {
        tls: tls.is_some(),
        local_addr,
    };
    let here = if local_addr.ip().is_unspecified() || local_addr.ip().is_loopback() {
        invite::room_url(
            reach.scheme(),
            format_args!("localhost:{}", local_addr.port()),
            room,
        )
    } else {
        invite::room_url(reach.scheme(), local_addr, room)
    };
    println!("portals listening on {local_addr}");
    println!("  open the wall here:     {here}");
    for url in reach.lan_urls(room, lan) {
        println!("  or on the network:      {url}");
    }
    if let Some(tls) = tls {
        let made = match tls.origin {
            tls::Origin::Files => "",
            tls::Origin::SelfSigned { made: true } => " (self-signed, made now)",
            tls::Origin::SelfSigned { made: false } => " (self-signed)",
        };
        println!("  certificate{made}: {}", tls.certificate_path.display());
        println!("  SHA-256 fingerprint:    {}", tls.fingerprint);
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down");
}

pub fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|error| {
        eprintln!("portals: ignoring log filter {filter:?}: {error}");
        tracing_subscriber::EnvFilter::new("info")
    });
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0; N];
    // The operating system's entropy source failing is not something a server can work
    // around: without it, ids and tokens would be guessable.
    getrandom::getrandom(&mut bytes).expect("the OS entropy source is available");
    bytes
}
