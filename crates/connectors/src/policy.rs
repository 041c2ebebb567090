//! How a connector talks to one vendor: timeouts, retries, its rate budget and concurrency caps.
//!
//! Defaults follow the vendors' published limits at half the budget (DESIGN §2.5: leave room for
//! the MSP's other tools); every field can be changed per tenant.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// At most `requests` per `per`, with short bursts of up to `burst` requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateBudget {
    pub requests: u32,
    pub per: Duration,
    pub burst: u32,
}

impl RateBudget {
    /// `requests` per `per` with a burst of 1 (evenly spaced requests).
    pub fn per(requests: u32, per: Duration) -> Self {
        RateBudget {
            requests,
            per,
            burst: 1,
        }
    }

    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self
    }
}

/// A request budget shared with other processes (syncbridge keeps its tenants' in NATS, so
/// several worker processes together stay within one budget). Asked before every request, after
/// the client's own budget and concurrency cap; it waits until the request may be made.
pub trait SharedBudget: Send + Sync {
    /// Waits until one request to `endpoint` (the key the client's own per-endpoint budget uses)
    /// may be made.
    fn acquire<'a>(&'a self, endpoint: &'a str) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

    /// Waits for one of `endpoint`'s concurrent-request slots shared with other processes (Autotask:
    /// 3 per endpoint for all processes together), asked after [`acquire`](Self::acquire) so no
    /// slot is held while a rate budget is awaited. The request holds the returned slot until it
    /// ends; `None` means no shared cap applies (or it could not be asked), and the client's own
    /// per-process cap stands alone. By default there is none.
    fn hold<'a>(
        &'a self,
        endpoint: &'a str,
    ) -> Pin<Box<dyn Future<Output = Option<SharedSlot>> + Send + 'a>> {
        let _ = endpoint;
        Box::pin(std::future::ready(None))
    }
}

/// One held slot of a shared concurrency cap (see [`SharedBudget::hold`]): dropping it gives the
/// slot back, so a request that ends in any way (answer, error, timeout, cancellation) frees it.
pub struct SharedSlot {
    /// Never read: it exists to be dropped.
    _held: Box<dyn Send>,
}

impl SharedSlot {
    /// Wraps whatever gives the slot back on drop.
    pub fn new(held: impl Send + 'static) -> SharedSlot {
        SharedSlot {
            _held: Box::new(held),
        }
    }
}

impl fmt::Debug for SharedSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSlot")
    }
}

/// A [`SharedBudget`] in a policy (compared by identity).
#[derive(Clone)]
pub struct SharedGate(pub Arc<dyn SharedBudget>);

impl fmt::Debug for SharedGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedGate")
    }
}

impl PartialEq for SharedGate {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Timeouts, retries, rate budget and concurrency of one client.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPolicy {
    /// Whole-request timeout of one attempt (connect, send, wait, read the body).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// First retry delay; doubled per attempt (with jitter) up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured inside one call; a longer one ends the call with
    /// `Error::RateLimited` so the worker can nak with that delay instead of holding a slot.
    pub max_retry_after: Duration,
    /// The client-side budget (`None`: unlimited).
    pub rate: Option<RateBudget>,
    /// A budget shared with other processes, taken after `rate` (`None`: this process only); it
    /// may also share `per_endpoint_concurrency` (see [`SharedBudget::hold`]).
    pub shared: Option<SharedGate>,
    /// Whether `rate` is one budget for the whole client or one per endpoint (Kaseya BMS:
    /// "1500 per hour per endpoint").
    pub rate_per_endpoint: bool,
    /// Concurrent requests per endpoint (Autotask: 3 per entity endpoint and integration code).
    pub per_endpoint_concurrency: Option<usize>,
    /// Divides the vendor's `Retry-After`: 1 for real vendors; a simulator running its clock `n`
    /// times faster states `Retry-After` in simulated seconds, so tests set `n` here.
    pub retry_after_divisor: f64,
    /// The `tenant` label of the client's budget-wait metric
    /// ([`BUDGET_WAIT_SECONDS`](crate::request_metrics::BUDGET_WAIT_SECONDS)): a configured tenant
    /// id, set by whoever builds the client for a tenant (`None`: `none`). Never a secret.
    pub metrics_tenant: Option<String>,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            rate: None,
            shared: None,
            rate_per_endpoint: false,
            per_endpoint_concurrency: None,
            retry_after_divisor: 1.0,
            metrics_tenant: None,
        }
    }
}

impl HttpPolicy {
    pub fn with_rate(mut self, rate: Option<RateBudget>) -> Self {
        self.rate = rate;
        self
    }
}
