//! The accept loop under the router: axum::serve's, plus what it does not offer.
//!
//! - **A header timeout.** hyper cuts a connection that takes longer than this to send a
//!   request's head; it starts the same timer while a keep-alive connection waits for its next
//!   request, so it is the idle timeout too. axum::serve sets no timer, so a client that never
//!   ends its headers was held open for good.
//! - **A connection cap.** Beyond `max_connections` open connections (HTTP ones being served
//!   and WebSockets, counted together), a new one is written a 503 at once, without reading
//!   its request, and closed, instead of the process running out of file descriptors for
//!   everyone.
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

use axum::{serve::Listener, Router};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
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

/// The WebSockets a listener's connections may become, and where they are told to close.
pub struct Sockets {
    pub open: Arc<OpenConnections>,
    pub switchboard: Arc<Switchboard>,
}

/// What a connection over the cap is sent, whatever it asked.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Length: 70\r\n\r\n\
this server has as many connections open as it may: try again shortly\n";

/// How long a connection over the cap is kept to take its 503.
const BUSY_PATIENCE: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until `shutdown` resolves, then closes every connection within
/// the options' grace: the HTTP ones it serves (`open`) and the WebSockets they became.
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    options: ServeOptions,
    open: Arc<OpenConnections>,
    sockets: Option<Sockets>,
    shutdown: impl Future<Output = ()>,
) where
    L: Listener,
    L::Io: Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout);
    // Every connection's task watches this; dropping the sender tells them all to finish.
    let (stopping, stop) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (io, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let websockets = sockets.as_ref().map_or(0, |sockets| sockets.open.count());
        if open.count() + websockets >= options.max_connections {
            tokio::spawn(async move {
                let mut io = io;
                let _ = timeout(BUSY_PATIENCE, async {
                    io.write_all(BUSY).await?;
                    io.shutdown().await?;
                    // Read what the client sent until it closes: closing with its request
                    // unread would reset the connection, and the reset can overtake the 503.
                    let mut unread = [0; 1024];
                    while io.read(&mut unread).await? > 0 {}
                    std::io::Result::Ok(())
                })
                .await;
            });
            continue;
        }
        let service = TowerToHyperService::new(app.clone());
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
    if let Some(sockets) = &sockets {
        sockets.switchboard.close_all(CloseCode::GOING_AWAY);
    }
    let closed = async {
        open.all_closed().await;
        if let Some(sockets) = &sockets {
            sockets.open.all_closed().await;
        }
    };
    if timeout(options.shutdown_grace, closed).await.is_err() {
        tracing::info!(
            connections = open.count(),
            "shutting down with connections still open"
        );
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_answer_is_well_formed() {
        let text = std::str::from_utf8(BUSY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
    }
}
