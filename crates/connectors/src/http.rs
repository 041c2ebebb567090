//! The shared HTTP machinery of every connector: one `reqwest` client (rustls), per-attempt
//! timeouts, the client-side rate budget (`governor`), per-endpoint concurrency caps (a semaphore
//! per endpoint, plus a slot shared with other processes when the policy's shared gate offers
//! one), retries with exponential backoff and jitter that honour `Retry-After`, and the
//! [request metrics](crate::request_metrics) of every attempt.
//!
//! Classification (DESIGN §2.3): 429, 5xx, 408, 409, timeouts and connection failures are
//! transient and retried; any other 4xx is permanent and returned at once. Calls that must not be
//! repeated blindly (creates) use [`Retry::Once`]: only answers that prove the request was not
//! processed (429, a refused connection) are retried, and an ambiguous failure (timeout, 5xx) is
//! returned for the caller to resolve by looking the record up. A vendor that reports
//! validation failures as 5xx (Autotask) installs a [`RefusalCheck`]: a 5xx whose body it
//! recognises as a refusal is permanent ([`Error::Rejected`]).

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::check_before_write;
use crate::endpoint;
use crate::error::{excerpt, Error, Result};
use crate::policy::{HttpPolicy, SharedSlot};
use crate::request_metrics::{self, Answer};
use crate::secret::ApiSecret;

/// Whether a call may be repeated after an ambiguous failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Reads, PATCH/PUT of given values: repeating is harmless.
    Idempotent,
    /// Creates: repeat only when the vendor certainly did not process the request.
    Once,
}

/// Tells, from a 5xx answer's status and (scrubbed) body, whether the vendor refused the request
/// (a validation failure: permanent) rather than failed (transient).
pub(crate) type RefusalCheck = fn(status: u16, body: &str) -> bool;

/// A successful (2xx) answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::malformed(format!("response is not JSON: {e}")))
    }
}

/// Counters of one client, for tests, metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Attempts sent (retries included).
    pub requests: u64,
    pub retries: u64,
    /// 429 answers received.
    pub rate_limited: u64,
    /// 5xx answers received.
    pub server_errors: u64,
    /// Attempts that timed out or failed to connect.
    pub transport_errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
}

/// One vendor's HTTP client stack.
pub(crate) struct Http {
    /// The `vendor` label of the request metrics.
    vendor: &'static str,
    client: reqwest::Client,
    policy: HttpPolicy,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    /// One budget per endpoint key, when the vendor counts per endpoint.
    keyed_limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    gates: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Strings scrubbed from every error excerpt (the client's credentials).
    secrets: Vec<ApiSecret>,
    counters: Counters,
    refusal: Option<RefusalCheck>,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("vendor", &self.vendor)
            .field("policy", &self.policy)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// What one attempt came to.
enum Attempt {
    Done(Reply),
    /// Failed; `retry` says whether another attempt may be made, after `wait` at least.
    Failed {
        error: Error,
        retry: bool,
        wait: Option<Duration>,
    },
}

impl Http {
    /// `vendor` names the client in the request metrics: `itglue` or the PSA's
    /// [`PsaKind::as_str`](syncbridge_model::PsaKind::as_str).
    pub fn new(vendor: &'static str, policy: HttpPolicy, secrets: Vec<ApiSecret>) -> Result<Http> {
        let client = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.timeout)
            .user_agent(concat!("syncbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Transport(e.without_url().to_string()))?;
        let quota = policy.rate.and_then(|budget| {
            let requests = budget.requests.max(1);
            let period = budget.per.checked_div(requests).unwrap_or(Duration::ZERO);
            let burst = NonZeroU32::new(budget.burst.max(1)).unwrap_or(NonZeroU32::MIN);
            Quota::with_period(period.max(Duration::from_nanos(1))).map(|q| q.allow_burst(burst))
        });
        let (limiter, keyed_limiter) = match quota {
            Some(q) if policy.rate_per_endpoint => (None, Some(Arc::new(RateLimiter::keyed(q)))),
            Some(q) => (Some(Arc::new(RateLimiter::direct(q))), None),
            None => (None, None),
        };
        Ok(Http {
            vendor,
            client,
            policy,
            limiter,
            keyed_limiter,
            gates: Mutex::new(HashMap::new()),
            secrets: secrets.into_iter().filter(|s| !s.is_empty()).collect(),
            counters: Counters::default(),
            refusal: None,
        })
    }

    /// Installs the vendor's check of 5xx bodies (see [`RefusalCheck`]).
    pub fn with_refusal_check(mut self, check: RefusalCheck) -> Http {
        self.refusal = Some(check);
        self
    }

    pub fn policy(&self) -> &HttpPolicy {
        &self.policy
    }

    pub fn stats(&self) -> HttpStats {
        let c = &self.counters;
        HttpStats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            rate_limited: c.rate_limited.load(Ordering::Relaxed),
            server_errors: c.server_errors.load(Ordering::Relaxed),
            transport_errors: c.transport_errors.load(Ordering::Relaxed),
        }
    }

    fn gate(&self, endpoint: &str) -> Option<Arc<Semaphore>> {
        let permits = self.policy.per_endpoint_concurrency?;
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        Some(
            gates
                .entry(endpoint.to_ascii_lowercase())
                .or_insert_with(|| Arc::new(Semaphore::new(permits.max(1))))
                .clone(),
        )
    }

    /// Waits for the endpoint's turn: its concurrency gate, the rate budgets, then the shared
    /// budget and a shared concurrency slot (after the budget, so no slot is held while a window
    /// is awaited).
    async fn turn(&self, gate: Option<&Arc<Semaphore>>, endpoint: &str) -> Result<Turn> {
        let permit = self.permit(gate).await?;
        self.rate_budget(endpoint).await;
        let slot = self.shared_slot(endpoint).await;
        Ok(Turn {
            _permit: permit,
            _slot: slot,
        })
    }

    /// A write's turn with a check before it (`check_before_write`): the rate budgets first, then
    /// the check, then the gate and the shared slot — so nothing is held while the check's own
    /// read waits for its turn, and the write follows its check as closely as it can.
    async fn checked_turn(
        &self,
        gate: Option<&Arc<Semaphore>>,
        endpoint: &str,
        check: check_before_write::CheckRun,
    ) -> Result<Turn> {
        self.rate_budget(endpoint).await;
        check.await?;
        let permit = self.permit(gate).await?;
        let slot = self.shared_slot(endpoint).await;
        Ok(Turn {
            _permit: permit,
            _slot: slot,
        })
    }

    async fn permit(&self, gate: Option<&Arc<Semaphore>>) -> Result<Option<OwnedSemaphorePermit>> {
        match gate {
            Some(g) => {
                Ok(Some(g.clone().acquire_owned().await.map_err(|_| {
                    Error::Transport("client is shutting down".into())
                })?))
            }
            None => Ok(None),
        }
    }

    /// Waits until the client's own budgets and the shared budget grant one request.
    async fn rate_budget(&self, endpoint: &str) {
        let started = Instant::now();
        self.wait_for_budgets(endpoint).await;
        request_metrics::budget_wait(
            self.vendor,
            self.policy.metrics_tenant.as_deref(),
            started.elapsed(),
        );
    }

    async fn wait_for_budgets(&self, endpoint: &str) {
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        if let Some(limiter) = &self.keyed_limiter {
            limiter
                .until_key_ready(&endpoint.to_ascii_lowercase())
                .await;
        }
        if let Some(shared) = &self.policy.shared {
            shared.0.acquire(&endpoint.to_ascii_lowercase()).await;
        }
    }

    /// Waits for a shared concurrency slot, where the policy shares a cap.
    async fn shared_slot(&self, endpoint: &str) -> Option<SharedSlot> {
        let shared = self.policy.shared.as_ref()?;
        shared.0.hold(&endpoint.to_ascii_lowercase()).await
    }

    /// Sends the request `make` builds (once per attempt, so per-request signatures stay fresh)
    /// under the endpoint's concurrency gate and the rate budget, retrying as `retry` allows.
    pub async fn send<F>(&self, endpoint: &str, retry: Retry, make: F) -> Result<Reply>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        let gate = self.gate(endpoint);
        // The budget key is ours and holds no id today; the label is made safe regardless, as
        // every distinct value is a new series in the metrics store.
        let endpoint_label = endpoint::template(&self.scrub(endpoint));
        // A write made inside `check_before_write` runs the check once its budget is granted.
        let check = if check_before_write::pending() && is_write(&make(&self.client)) {
            check_before_write::take()
        } else {
            None
        };
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let outcome = {
                // Held for the whole attempt and released before any backoff.
                let _turn = match &check {
                    Some(check) => self.checked_turn(gate.as_ref(), endpoint, check()).await?,
                    None => self.turn(gate.as_ref(), endpoint).await?,
                };
                self.counters.requests.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                let (answer, outcome) = self.attempt(make(&self.client), retry).await;
                request_metrics::record(self.vendor, &endpoint_label, answer, started.elapsed());
                outcome
            };
            match outcome {
                Attempt::Done(reply) => return Ok(reply),
                Attempt::Failed {
                    error,
                    retry: again,
                    wait,
                } => {
                    let retry_after_too_long =
                        wait.is_some_and(|w| w > self.policy.max_retry_after);
                    if !again || attempt >= self.policy.max_attempts || retry_after_too_long {
                        return Err(error);
                    }
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    let backoff = self.backoff(attempt);
                    // Jitter on top of Retry-After, so callers refused together do not return together.
                    let delay = wait.map_or(backoff, |w| w + backoff / 2);
                    tracing::debug!(endpoint, attempt, ?delay, error = %error, "retrying vendor call");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Sends one attempt: how the vendor answered (for the metrics) and what that comes to.
    async fn attempt(&self, request: reqwest::RequestBuilder, retry: Retry) -> (Answer, Attempt) {
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return (unanswered(&e), self.transport_failure(&e, retry)),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(b) => b.to_vec(),
            // An answer cut off is no answer: the attempt failed as a transport failure.
            Err(e) => return (unanswered(&e), self.transport_failure(&e, retry)),
        };
        (
            Answer::Status(status),
            self.judge(status, headers, body, retry),
        )
    }

    /// What a whole answer comes to.
    fn judge(&self, status: u16, headers: HeaderMap, body: Vec<u8>, retry: Retry) -> Attempt {
        if (200..300).contains(&status) {
            return Attempt::Done(Reply { headers, body });
        }
        let text = self.scrub(&String::from_utf8_lossy(&body));
        let failed = |error, retry: bool, wait| Attempt::Failed { error, retry, wait };
        match status {
            404 => failed(Error::NotFound, false, None),
            401 | 403 => failed(Error::Auth { status }, false, None),
            429 => {
                self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                let wait = self.retry_after(&headers);
                // A 429 was not processed: safe to repeat even a create.
                failed(Error::RateLimited { retry_after: wait }, true, wait)
            }
            408 => failed(
                Error::Transport("HTTP 408 request timeout".into()),
                retry == Retry::Idempotent,
                None,
            ),
            409 => failed(
                Error::Conflict {
                    body_excerpt: excerpt(&text),
                },
                retry == Retry::Idempotent,
                self.retry_after(&headers),
            ),
            500..=599
                if self
                    .refusal
                    .is_some_and(|is_refusal| is_refusal(status, &text)) =>
            {
                self.counters.server_errors.fetch_add(1, Ordering::Relaxed);
                failed(
                    Error::Rejected {
                        status,
                        body_excerpt: excerpt(&text),
                    },
                    false,
                    None,
                )
            }
            500..=599 => {
                self.counters.server_errors.fetch_add(1, Ordering::Relaxed);
                failed(
                    Error::Server {
                        status,
                        body_excerpt: excerpt(&text),
                    },
                    retry == Retry::Idempotent,
                    self.retry_after(&headers),
                )
            }
            _ => failed(
                Error::Rejected {
                    status,
                    body_excerpt: excerpt(&text),
                },
                false,
                None,
            ),
        }
    }

    fn transport_failure(&self, e: &reqwest::Error, retry: Retry) -> Attempt {
        self.counters
            .transport_errors
            .fetch_add(1, Ordering::Relaxed);
        // A refused connection never reached the vendor; a timeout may have been processed.
        let never_sent = e.is_connect() && !e.is_timeout();
        let message = if e.is_timeout() {
            "request timed out".to_owned()
        } else {
            self.scrub(&e.without_url_ref())
        };
        Attempt::Failed {
            error: Error::Transport(message),
            retry: retry == Retry::Idempotent || never_sent,
            wait: None,
        }
    }

    fn retry_after(&self, headers: &HeaderMap) -> Option<Duration> {
        let secs: f64 = headers
            .get(reqwest::header::RETRY_AFTER)?
            .to_str()
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let divisor = if self.policy.retry_after_divisor > 0.0 {
            self.policy.retry_after_divisor
        } else {
            1.0
        };
        Duration::try_from_secs_f64((secs / divisor).max(0.0)).ok()
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .policy
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.policy.max_backoff);
        // Full jitter in [exp/2, exp]: spreads retries of concurrent workers.
        let jitter: f64 = rand::random::<f64>() * 0.5 + 0.5;
        exp.mul_f64(jitter)
    }

    /// Removes the client's secrets from text that may end up in an error or a log.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.expose()) {
                out = out.replace(s.expose(), "[redacted]");
            }
        }
        out
    }
}

/// The `status` label of an attempt that got no answer.
fn unanswered(e: &reqwest::Error) -> Answer {
    if e.is_timeout() {
        Answer::Timeout
    } else {
        Answer::Error
    }
}

/// `reqwest::Error` rendered without its URL (which could carry a query-string credential).
trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let mut msg = self.to_string();
        if let Some(url) = self.url() {
            msg = msg.replace(url.as_str(), "<url>");
        }
        msg
    }
}

/// What one attempt holds while it runs: the endpoint's concurrency permit and its shared slot
/// (dropping it gives both back, whatever the outcome).
struct Turn {
    _permit: Option<OwnedSemaphorePermit>,
    _slot: Option<SharedSlot>,
}

/// Whether the request `builder` makes writes (any method but GET and HEAD).
fn is_write(builder: &reqwest::RequestBuilder) -> bool {
    builder
        .try_clone()
        .and_then(|b| b.build().ok())
        .is_some_and(|r| !matches!(*r.method(), reqwest::Method::GET | reqwest::Method::HEAD))
}
