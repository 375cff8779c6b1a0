//! The accept loop under the router: axum::serve's, plus what it does not offer.
//!
//! - **A header timeout.** hyper cuts a connection that takes longer than this to send a
//!   request's head; it starts the same timer while a keep-alive connection waits for its next
//!   request, so it is the idle timeout too. axum::serve sets no timer, so a client that never
//!   ends its headers was held open for good.
//! - **A connection cap.** Beyond `max_connections` open connections (HTTP ones being served
//!   and WebSockets, counted together), a new one is served a 503 and closed, instead of the
//!   process running out of file descriptors for everyone.
//! - **A bounded shutdown.** Every WebSocket is told 1001 and given `shutdown_grace` to close;
//!   HTTP connections finish their request within the same bound.

use std::{
    future::Future,
    pin::pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{
    http::{header, StatusCode},
    response::IntoResponse,
    serve::Listener,
    Router,
};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    sync::{watch, Notify},
    time::timeout,
};

use super::switchboard::Switchboard;
use crate::signalling::CloseCode;

#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

/// How many connections are open: HTTP connections being served and WebSockets. Each holds an
/// [`Open`] for as long as it lives.
#[derive(Debug, Default)]
pub struct OpenConnections {
    count: AtomicUsize,
    none_left: Notify,
}

/// One open connection, counted until dropped.
#[derive(Debug)]
pub struct Open(Arc<OpenConnections>);

impl OpenConnections {
    pub fn open(self: &Arc<Self>) -> Open {
        self.count.fetch_add(1, Ordering::Relaxed);
        Open(Arc::clone(self))
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Resolves once no connection is open.
    pub async fn all_closed(&self) {
        loop {
            let notified = self.none_left.notified();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.none_left.notify_waiters();
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then closes every connection within
/// the options' grace.
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    options: ServeOptions,
    open: Arc<OpenConnections>,
    websockets: Arc<OpenConnections>,
    switchboard: Arc<Switchboard>,
    shutdown: impl Future<Output = ()>,
) where
    L: Listener,
    L::Io: Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout);
    let busy = Router::new().fallback(busy);
    // Every connection's task watches this; dropping the sender tells them all to finish.
    let (stopping, stop) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (io, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let full = open.count() + websockets.count() >= options.max_connections;
        let service = TowerToHyperService::new(if full { busy.clone() } else { app.clone() });
        let connection = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let counted = open.open();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let mut connection = pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = stop.changed() => {
                    // The request in flight is answered; no other is read.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(counted);
        });
    }
    drop(listener);
    drop(stopping);
    switchboard.close_all(CloseCode::GOING_AWAY);
    let closed = async {
        open.all_closed().await;
        websockets.all_closed().await;
    };
    if timeout(options.shutdown_grace, closed).await.is_err() {
        tracing::info!(
            websockets = websockets.count(),
            "shutting down with connections still open"
        );
    }
}

async fn busy() -> impl IntoResponse {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONNECTION, "close"), (header::RETRY_AFTER, "5")],
        "this server has as many connections open as it may: try again shortly\n",
    )
}

/// The default of `--max-connections`: what the process's open-file limit leaves after a
/// reserve for everything else it opens.
pub fn default_max_connections() -> usize {
    const RESERVE: u64 = 256;
    const FLOOR: u64 = 64;
    let limit = open_file_limit().unwrap_or(1024);
    usize::try_from(limit.saturating_sub(RESERVE).max(FLOOR)).unwrap_or(usize::MAX)
}

fn open_file_limit() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _hard)| soft)
}
