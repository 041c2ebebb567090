//! The per-simulator bundle of shared machinery: clock, fault plan, write log, request tally, rate
//! limiter, shutdown signal, outgoing HTTP client and id generator. Every vendor simulator owns one
//! [`Core`] and hands it to the shared middleware and admin routes.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use tokio::sync::watch;

use crate::clock::SimClock;
use crate::delivery::DeliveryLog;
use crate::faults::Faults;
use crate::rate_limit::{RateLimit, RateLimiter};
use crate::request_tally::RequestTally;
use crate::rng::SimRng;
use crate::writes::WriteLog;

/// Renders an error in the vendor's own body shape (used for injected faults and limits).
pub type ErrorBody = fn(StatusCode, &str) -> Response;

/// Shared machinery of one simulator.
#[derive(Debug)]
pub struct Core {
    /// Short vendor name, for logs.
    pub vendor: &'static str,
    pub clock: SimClock,
    pub faults: Faults,
    pub writes: WriteLog,
    /// Every vendor-API request answered, by method, route and status.
    pub requests: RequestTally,
    /// Every webhook/callback attempt the simulator made.
    pub deliveries: DeliveryLog,
    pub limiter: RateLimiter,
    pub error_body: ErrorBody,
    /// Client for webhooks/callbacks the simulator sends.
    pub http: reqwest::Client,
    shutdown_tx: watch::Sender<bool>,
    rng: Mutex<SimRng>,
    base_url: OnceLock<String>,
}

impl Core {
    pub fn new(
        vendor: &'static str,
        clock: SimClock,
        limit: Option<RateLimit>,
        error_body: ErrorBody,
        seed: u64,
    ) -> Arc<Core> {
        let (shutdown_tx, _) = watch::channel(false);
        Arc::new(Core {
            vendor,
            limiter: RateLimiter::new(clock.clone(), limit),
            clock,
            faults: Faults::default(),
            writes: WriteLog::default(),
            requests: RequestTally::default(),
            deliveries: DeliveryLog::default(),
            error_body,
            http: reqwest::Client::new(),
            shutdown_tx,
            rng: Mutex::new(SimRng::new(seed)),
            base_url: OnceLock::new(),
        })
    }

    /// `http://127.0.0.1:PORT`, once the server is bound.
    pub fn base_url(&self) -> &str {
        self.base_url.get().map(String::as_str).unwrap_or("")
    }

    pub(crate) fn set_base_url(&self, url: String) {
        let _ = self.base_url.set(url);
    }

    /// A fresh GUID from the simulator's deterministic generator.
    pub fn guid(&self) -> String {
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).guid()
    }

    /// A random draw in `[0, n)` from the simulator's generator.
    pub fn random_below(&self, n: u64) -> u64 {
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).below(n)
    }

    pub fn is_shut_down(&self) -> bool {
        *self.shutdown_tx.borrow()
    }

    pub(crate) fn trigger_shutdown(&self) {
        self.shutdown_tx.send_replace(true);
    }

    /// Resolves when the simulator shuts down.
    pub async fn shutdown_signal(&self) {
        let mut rx = self.shutdown_tx.subscribe();
        let _ = rx.wait_for(|down| *down).await;
    }

    /// Waits `real` of real time, or less if the simulator shuts down meanwhile (so hanging
    /// requests never keep a test's shutdown waiting).
    pub async fn hang(&self, real: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(real) => {}
            _ = self.shutdown_signal() => {}
        }
    }

    /// Counts a request against the budget; the vendor's 429 with `Retry-After` when spent.
    pub fn rate_check(&self) -> Result<(), Rejection> {
        self.limiter.check().map_err(|retry_after| Rejection {
            retry_after: Some(retry_after),
            ..Rejection::new(
                self.error_body,
                StatusCode::TOO_MANY_REQUESTS,
                "rate limit exceeded",
            )
        })
    }
}

/// An error answer in a vendor's body shape, cheap to return through `Result`.
#[derive(Debug)]
pub struct Rejection {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
    render: ErrorBody,
}

impl Rejection {
    pub fn new(render: ErrorBody, status: StatusCode, message: impl Into<String>) -> Self {
        Rejection {
            status,
            message: message.into(),
            retry_after: None,
            render,
        }
    }
}

impl Rejection {
    /// Adds a `Retry-After` header (seconds).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

impl axum::response::IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut resp = (self.render)(self.status, &self.message);
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        resp
    }
}
