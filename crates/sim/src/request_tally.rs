//! The request tally: how many vendor-API requests a simulator answered, by method, route and
//! status, so tests can say "one read and one PATCH", not only "one write" (the write log) — and
//! see the retries, the 429s and the injected faults a client met on the way.
//!
//! Every request except the admin API's (`/_admin/...`) is counted by the [`count_requests`]
//! middleware, the outermost layer of every simulator's router: it sees the status the client got,
//! whatever answered it (handler, auth, rate limit, fault plan). The route is the path with its
//! ids replaced by `{id}` ([`route_template`]); a request the client gave up on before the answer
//! (it timed out on a hanging fault) is counted with [`CLIENT_CLOSED`]. Read and cleared through
//! `GET|DELETE /_admin/requests`, or in Rust through `Core::requests`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::core::Core;
use crate::rate_limit::route_template;

/// The status a request is counted with when its client left before the answer (nginx's "client
/// closed request"; no vendor sends it).
pub const CLIENT_CLOSED: u16 = 499;

/// What one count is kept under.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestKey {
    /// Upper-case HTTP method.
    pub method: String,
    /// The path with ids replaced by `{id}` (no query).
    pub route: String,
    pub status: u16,
}

/// One line of a [`RequestTally::snapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCount {
    pub method: String,
    pub route: String,
    pub status: u16,
    pub count: u64,
}

/// Request counts of one simulator since it started or was last cleared.
#[derive(Debug, Default)]
pub struct RequestTally {
    counts: Mutex<BTreeMap<RequestKey, u64>>,
}

impl RequestTally {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<RequestKey, u64>> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one answered request to `path` (its route is derived here).
    pub fn record(&self, method: &Method, path: &str, status: u16) {
        let key = RequestKey {
            method: method.as_str().to_owned(),
            route: route_template(path),
            status,
        };
        *self.lock().entry(key).or_default() += 1;
    }

    /// Every count, ordered by method, route and status.
    pub fn snapshot(&self) -> Vec<RequestCount> {
        self.lock()
            .iter()
            .map(|(k, count)| RequestCount {
                method: k.method.clone(),
                route: k.route.clone(),
                status: k.status,
                count: *count,
            })
            .collect()
    }

    /// Requests of `method` (any case) to `route` (as [`route_template`] writes it), any status.
    pub fn count(&self, method: &str, route: &str) -> u64 {
        self.sum(|k| k.method.eq_ignore_ascii_case(method) && k.route == route)
    }

    /// Requests of `method` to `route` answered with `status`.
    pub fn count_with_status(&self, method: &str, route: &str, status: u16) -> u64 {
        self.sum(|k| {
            k.method.eq_ignore_ascii_case(method) && k.route == route && k.status == status
        })
    }

    /// Every request counted.
    pub fn total(&self) -> u64 {
        self.sum(|_| true)
    }

    /// GET requests.
    pub fn reads(&self) -> u64 {
        self.sum(|k| k.method == Method::GET.as_str())
    }

    /// POST, PUT, PATCH and DELETE requests (whatever they did: a search by POST counts too).
    pub fn writes(&self) -> u64 {
        let writing = [Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
        self.sum(|k| writing.iter().any(|m| m.as_str() == k.method))
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    fn sum(&self, accepts: impl Fn(&RequestKey) -> bool) -> u64 {
        self.lock()
            .iter()
            .filter(|(k, _)| accepts(k))
            .map(|(_, count)| count)
            .sum()
    }
}

/// Middleware counting every non-admin request in `core.requests` once it is answered.
pub async fn count_requests(State(core): State<Arc<Core>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/_admin") {
        return next.run(req).await;
    }
    let pending = Pending {
        core,
        method: req.method().clone(),
        path,
        status: CLIENT_CLOSED,
    };
    let resp = next.run(req).await;
    pending.answered(resp.status().as_u16());
    resp
}

/// A request not answered yet: counted when dropped, with [`CLIENT_CLOSED`] unless it was
/// answered (the server drops the request's future when its client disconnects mid-hang).
struct Pending {
    core: Arc<Core>,
    method: Method,
    path: String,
    status: u16,
}

impl Pending {
    fn answered(mut self, status: u16) {
        self.status = status;
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.core
            .requests
            .record(&self.method, &self.path, self.status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_route_and_status_and_splits_reads_from_writes() {
        let tally = RequestTally::default();
        tally.record(&Method::GET, "/organizations/12", 200);
        tally.record(&Method::GET, "/organizations/13", 200);
        tally.record(&Method::GET, "/organizations/14", 404);
        tally.record(&Method::PATCH, "/organizations/12", 429);
        tally.record(&Method::POST, "/organizations", 201);
        assert_eq!(tally.count("get", "/organizations/{id}"), 3);
        assert_eq!(
            tally.count_with_status("GET", "/organizations/{id}", 200),
            2
        );
        assert_eq!((tally.total(), tally.reads(), tally.writes()), (5, 3, 2));
        assert_eq!(
            tally.snapshot().first(),
            Some(&RequestCount {
                method: "GET".into(),
                route: "/organizations/{id}".into(),
                status: 200,
                count: 2,
            })
        );
        tally.clear();
        assert_eq!(tally.total(), 0);
        assert!(tally.snapshot().is_empty());
    }
}
