//! Fault plans: what a simulator does wrong, where and how often, set by tests through the admin API
//! (`PUT /_admin/faults`).
//!
//! A plan holds request rules (matched in order by method and a path substring: injected status
//! codes with `Retry-After`, hangs longer than the client's timeout, "commit then time out" on
//! creates, slow responses, stale reads from a lagging replica) and webhook delivery faults
//! (dropped, duplicated, reordered). Every
//! random decision comes from one generator seeded by the plan's `seed`, so a single-threaded test
//! replays identically; `times` bounds a rule to its first N matches for fully deterministic tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::core::Core;
use crate::rng::SimRng;

/// Real-time hang used when a plan does not say: longer than any sane client timeout.
const DEFAULT_HANG_MS: u64 = 120_000;

/// One thing that goes wrong with a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer with this status (429, 500, 502, 503, …), optionally with `Retry-After` seconds,
    /// in the vendor's own error shape; `message` makes it a refusal that says why (a vendor's
    /// validation message), otherwise the body says "injected fault".
    Status {
        status: u16,
        #[serde(default)]
        retry_after_secs: Option<u64>,
        #[serde(default)]
        message: Option<String>,
    },
    /// Never answer (until `hang_ms` of real time or the simulator's shutdown); nothing is stored.
    Timeout {
        #[serde(default = "default_hang")]
        hang_ms: u64,
    },
    /// Run the request (a create is stored, webhooks fire) and then never answer.
    CommitThenTimeout {
        #[serde(default = "default_hang")]
        hang_ms: u64,
    },
    /// Answer normally after a real-time delay drawn uniformly from `[min_ms, max_ms]`.
    Delay { min_ms: u64, max_ms: u64 },
    /// A lagging read replica: a GET whose answer changed since the previous GET of the same URL
    /// is answered with that previous answer instead (an older version of the record). Fires, and
    /// uses one of `times`, only when the answer did change, so it always serves something stale.
    StaleRead,
}

fn default_hang() -> u64 {
    DEFAULT_HANG_MS
}

fn one() -> f64 {
    1.0
}

/// A request rule: when it matches, the fault happens with `probability`, at most `times` times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Upper-case HTTP method; any method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Substring of the request path (e.g. `/organizations`, `/company/companies`); any path when
    /// absent. Admin routes are never faulted.
    #[serde(default)]
    pub path_contains: Option<String>,
    pub fault: Fault,
    #[serde(default = "one")]
    pub probability: f64,
    /// Remaining number of times the rule may fire; unlimited when absent.
    #[serde(default)]
    pub times: Option<u32>,
}

impl FaultRule {
    fn matches(&self, method: &Method, path: &str) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()));
        let path_ok = self
            .path_contains
            .as_deref()
            .is_none_or(|p| path.contains(p));
        method_ok && path_ok && self.times != Some(0)
    }
}

/// Webhook/callback delivery faults, as probabilities per delivery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryFaults {
    #[serde(default)]
    pub drop: f64,
    #[serde(default)]
    pub duplicate: f64,
    /// The delivery is held back so that the next one overtakes it.
    #[serde(default)]
    pub reorder: f64,
    /// How long (real milliseconds) a held delivery waits for one to overtake it before it is
    /// sent anyway; default 500.
    #[serde(default)]
    pub reorder_hold_ms: Option<u64>,
}

impl DeliveryFaults {
    /// The hold time of a reordered delivery.
    pub fn reorder_hold(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.reorder_hold_ms.unwrap_or(500))
    }
}

/// A simulator's whole fault plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub rules: Vec<FaultRule>,
    #[serde(default)]
    pub delivery: DeliveryFaults,
}

/// What happens to one webhook delivery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryDecision {
    pub drop: bool,
    pub duplicate: bool,
    pub reorder: bool,
}

/// The live plan of one simulator plus its random generator.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<Mutex<(FaultPlan, SimRng)>>,
    /// The last answer to each GET URL a stale-read rule covers.
    answers: Arc<Mutex<HashMap<String, Answer>>>,
}

/// One remembered answer.
#[derive(Debug, Clone)]
struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn response(&self) -> Response {
        let mut resp = Response::new(Body::from(self.body.clone()));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers.clone();
        resp
    }
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, (FaultPlan, SimRng)> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the plan and restarts its generator from the plan's seed.
    pub fn set(&self, plan: FaultPlan) {
        let rng = SimRng::new(plan.seed);
        *self.lock() = (plan, rng);
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Whether a stale-read rule with uses left covers this request.
    fn stale_read_covers(&self, method: &Method, path: &str) -> bool {
        method == Method::GET
            && self
                .lock()
                .0
                .rules
                .iter()
                .any(|r| r.fault == Fault::StaleRead && r.matches(method, path))
    }

    /// Uses one of the first matching stale-read rule's `times` (after a roll of its probability);
    /// false when it does not fire.
    fn stale_read_fires(&self, method: &Method, path: &str) -> bool {
        let mut guard = self.lock();
        let (plan, rng) = &mut *guard;
        let Some(rule) = plan
            .rules
            .iter_mut()
            .find(|r| r.fault == Fault::StaleRead && r.matches(method, path))
        else {
            return false;
        };
        if !rng.chance(rule.probability) {
            return false;
        }
        if let Some(t) = rule.times.as_mut() {
            *t -= 1;
        }
        true
    }

    /// Remembers `fresh` as the URL's answer and returns what to send: the previous answer when
    /// it differs and the rule fires (stale), else `fresh`.
    fn answer_for(&self, method: &Method, url: &str, path: &str, fresh: Answer) -> Answer {
        let previous = self
            .answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(url.to_owned(), fresh.clone());
        match previous {
            Some(old)
                if (old.status, &old.body) != (fresh.status, &fresh.body)
                    && self.stale_read_fires(method, path) =>
            {
                // The fresh answer is remembered: the replica has caught up by the next read.
                old
            }
            _ => fresh,
        }
    }

    pub fn clear(&self) {
        self.set(FaultPlan::default());
    }

    pub fn plan(&self) -> FaultPlan {
        self.lock().0.clone()
    }

    /// The fault for this request, if any; consumes one use of the rule that fired.
    pub fn pick(&self, method: &Method, path: &str) -> Option<Fault> {
        let mut guard = self.lock();
        let (plan, rng) = &mut *guard;
        for rule in plan.rules.iter_mut() {
            // Stale reads are decided on the answer (`answer_for`), not up front.
            if rule.fault == Fault::StaleRead
                || !rule.matches(method, path)
                || !rng.chance(rule.probability)
            {
                continue;
            }
            if let Some(t) = rule.times.as_mut() {
                *t -= 1;
            }
            let mut fault = rule.fault.clone();
            if let Fault::Delay { min_ms, max_ms } = &mut fault {
                let span = max_ms.saturating_sub(*min_ms);
                *min_ms += rng.below(span + 1);
                *max_ms = *min_ms;
            }
            return Some(fault);
        }
        None
    }

    /// Decides the fate of one webhook delivery.
    pub fn delivery(&self) -> DeliveryDecision {
        let mut guard = self.lock();
        let (plan, rng) = &mut *guard;
        let d = plan.delivery.clone();
        if d == DeliveryFaults::default() {
            return DeliveryDecision::default();
        }
        DeliveryDecision {
            drop: rng.chance(d.drop),
            duplicate: rng.chance(d.duplicate),
            reorder: rng.chance(d.reorder),
        }
    }
}

/// Middleware applying the simulator's fault plan to every non-admin request.
pub async fn fault_layer(State(core): State<Arc<Core>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/_admin") {
        return next.run(req).await;
    }
    if core.faults.stale_read_covers(req.method(), &path) {
        return stale_read(&core, req, next).await;
    }
    match core.faults.pick(req.method(), &path) {
        None => next.run(req).await,
        Some(Fault::Status {
            status,
            retry_after_secs,
            message,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp =
                (core.error_body)(status, message.as_deref().unwrap_or("injected fault"));
            if let Some(secs) = retry_after_secs {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            resp
        }
        Some(Fault::Timeout { hang_ms }) => {
            core.hang(Duration::from_millis(hang_ms)).await;
            (core.error_body)(StatusCode::GATEWAY_TIMEOUT, "timed out")
        }
        Some(Fault::CommitThenTimeout { hang_ms }) => {
            // The write happens; only the answer is lost.
            let _committed = next.run(req).await;
            core.hang(Duration::from_millis(hang_ms)).await;
            (core.error_body)(StatusCode::GATEWAY_TIMEOUT, "timed out")
        }
        Some(Fault::Delay { min_ms, .. }) => {
            core.hang(Duration::from_millis(min_ms)).await;
            next.run(req).await
        }
        Some(Fault::StaleRead) => next.run(req).await,
    }
}

/// Runs a GET a stale-read rule covers and answers it as a lagging replica would.
async fn stale_read(core: &Core, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let url = req.uri().to_string();
    let resp = next.run(req).await;
    let (parts, body) = resp.into_parts();
    let Ok(body) = axum::body::to_bytes(body, STALE_READ_BODY_LIMIT).await else {
        return (core.error_body)(StatusCode::INTERNAL_SERVER_ERROR, "answer too large");
    };
    let fresh = Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    };
    core.faults
        .answer_for(&method, &url, &path, fresh)
        .response()
}

/// The largest answer a stale-read rule remembers.
const STALE_READ_BODY_LIMIT: usize = 16 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_bounds_a_rule_and_order_matters() {
        let f = Faults::default();
        f.set(FaultPlan {
            seed: 1,
            rules: vec![FaultRule {
                method: Some("POST".into()),
                path_contains: Some("/organizations".into()),
                fault: Fault::Status {
                    status: 503,
                    retry_after_secs: None,
                    message: None,
                },
                probability: 1.0,
                times: Some(1),
            }],
            delivery: DeliveryFaults::default(),
        });
        assert!(f.pick(&Method::GET, "/organizations").is_none());
        assert!(f.pick(&Method::POST, "/organizations").is_some());
        assert!(f.pick(&Method::POST, "/organizations").is_none());
    }

    #[test]
    fn a_stale_read_serves_the_previous_answer_once_and_only_when_it_changed() {
        let f = Faults::default();
        let url = "/organizations/5";
        f.set(FaultPlan {
            rules: vec![FaultRule {
                method: Some("GET".into()),
                path_contains: Some(url.into()),
                fault: Fault::StaleRead,
                probability: 1.0,
                times: Some(1),
            }],
            ..FaultPlan::default()
        });
        let get = Method::GET;
        let answer = |body: &'static str| Answer {
            status: StatusCode::OK,
            headers: Default::default(),
            body: Bytes::from_static(body.as_bytes()),
        };
        assert!(f.stale_read_covers(&get, url));
        assert!(!f.stale_read_covers(&Method::PATCH, url));
        let read = |body| f.answer_for(&get, url, url, answer(body)).body;
        assert_eq!(read("v1"), "v1");
        assert_eq!(read("v1"), "v1", "unchanged: the fresh answer");
        assert_eq!(read("v2"), "v1", "changed: the previous answer");
        assert_eq!(read("v2"), "v2", "caught up by the next read");
        assert_eq!(read("v3"), "v3", "its one use is spent");
        assert!(!f.stale_read_covers(&get, url));
        assert!(f.pick(&get, url).is_none(), "never picked up front");
    }

    #[test]
    fn probabilities_replay_by_seed() {
        let plan = FaultPlan {
            seed: 42,
            rules: vec![],
            delivery: DeliveryFaults {
                drop: 0.3,
                duplicate: 0.3,
                reorder: 0.3,
                reorder_hold_ms: None,
            },
        };
        let run = || {
            let f = Faults::default();
            f.set(plan.clone());
            (0..50).map(|_| f.delivery()).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }
}
