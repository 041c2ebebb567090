//! The HTTP listeners (the public ingest and the private metrics listener): our own accept loop
//! around hyper's HTTP/1 connection, so that no connection is held forever and no flood of them
//! can take the process's file descriptors.
//!
//! `axum::serve` runs hyper without a timer (its header-read timeout is then off), with no idle
//! timeout and no connection cap. Here every connection is bounded ([`connection`]):
//!
//! - **header read**: a request head (request line and headers) must arrive within
//!   `header_read_timeout`, counted from the connection's start or from the first byte of a later
//!   request; at most `max_header_bytes` of it (hyper answers 431 beyond);
//! - **idle**: a connection with no request in flight and no byte received for `idle_timeout` is
//!   closed. (hyper's own `header_read_timeout` also covers the wait between keep-alive requests
//!   since hyper 1.6, so it cannot give the two timeouts different values; it is set to their sum
//!   as a backstop and ours close first.)
//! - **cap** ([`registry`]): at `max_connections`, a new connection closes the longest-idle
//!   connection that has no request in flight (a vendor's idle keep-alive reconnects; an attacker's
//!   idle socket loses its slot), and is refused only when every connection is busy with a request.
//!   Either is counted and logged (one warn line per 10 s at most). An `accept` that fails for
//!   want of file descriptors closes an idle connection the same way.
//!
//! Graceful shutdown: stop accepting; connections without a request in flight close at once,
//! the others finish their response (bounded by the request timeout), then [`serve`] returns.

pub mod connection;
pub mod nofile;
pub mod registry;

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::IngestConfig;
use crate::runtime::metrics;
use registry::Registry;

/// The bounds of one listener's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_connections: usize,
}

impl Limits {
    /// The public listener's: `[ingest]`, with `max_connections` derived from the soft open-file
    /// limit when not configured.
    pub fn for_ingest(config: &IngestConfig, open_files: Option<u64>) -> Limits {
        Limits {
            header_read_timeout: config.header_read_timeout,
            idle_timeout: config.idle_timeout,
            max_header_bytes: config.max_header_bytes,
            max_connections: config
                .max_connections
                .unwrap_or_else(|| nofile::derived_max_connections(open_files)),
        }
    }

    /// The metrics listener's: a few scrapers and probes.
    pub fn for_metrics() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 16 * 1024,
            max_connections: METRICS_MAX_CONNECTIONS,
        }
    }

    fn http1(&self) -> http1::Builder {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            // Backstop only: hyper starts this when it waits for a head, idle wait included.
            .header_read_timeout(self.header_read_timeout + self.idle_timeout)
            .max_header_size(self.max_header_bytes)
            .keep_alive(true);
        builder
    }
}

/// Connections the metrics listener keeps at most (within the open-file reserve of
/// [`nofile::derived_max_connections`]).
pub const METRICS_MAX_CONNECTIONS: usize = 64;

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
/// `name` labels the listener in logs and metrics (`ingest`, `metrics`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    name: &'static str,
    shutdown: impl Future<Output = ()>,
) {
    let registry = Arc::new(Registry::new(name, limits.max_connections));
    let builder = Arc::new(limits.http1());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let accept_warning = RateLimited::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                accept_failed(&registry, &accept_warning, name, &e).await;
                continue;
            }
        };
        let Some(slot) = registry.admit() else {
            // Over the cap with every connection busy: closed at once.
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tasks.spawn(connection::drive(
            stream,
            slot,
            router.clone(),
            builder.clone(),
            limits,
            stop_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
}

/// An `accept` error. Out of file descriptors: close an idle connection to make room (and wait
/// a moment, as the error repeats until a descriptor is free). Anything else concerns one
/// connection that is already gone.
async fn accept_failed(
    registry: &Registry,
    warning: &RateLimited,
    name: &'static str,
    e: &io::Error,
) {
    metrics::http_accept_error(name);
    let out_of_descriptors = matches!(e.raw_os_error(), Some(23 | 24)); // ENFILE, EMFILE
    if out_of_descriptors {
        let freed = registry.shed_idle();
        if let Some(suppressed) = warning.check() {
            tracing::warn!(
                listener = name,
                error = %e,
                closed_idle = freed,
                suppressed,
                "accept failed: out of file descriptors (raise the open-file limit or lower \
                 ingest.max_connections)"
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    } else {
        tracing::debug!(listener = name, error = %e, "accept failed");
    }
}

/// Lets one event through per [`RateLimited::PERIOD`] and counts the ones held back.
#[derive(Debug, Default)]
pub struct RateLimited {
    /// Milliseconds since [`connection::epoch`] of the last event let through, plus one (0: never).
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimited {
    pub const PERIOD: Duration = Duration::from_secs(10);

    /// `Some(number held back since the last one)` when this event may be logged.
    pub fn check(&self) -> Option<u64> {
        let now = connection::now_ms() + 1;
        let last = self.last.load(Ordering::Relaxed);
        let period = Self::PERIOD.as_millis() as u64;
        if last != 0 && now < last + period {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if self
            .last
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limited_lets_one_through_per_period() {
        let limiter = RateLimited::default();
        assert_eq!(limiter.check(), Some(0));
        assert_eq!(limiter.check(), None);
        assert_eq!(limiter.check(), None);
        assert_eq!(limiter.suppressed.load(Ordering::Relaxed), 2);
    }
}
