//! Request budgets on the simulated clock: a fixed-window or sliding-window counter that answers
//! "allowed" or "rejected, retry after N seconds".
//!
//! The vendors publish budgets as "N requests per window" (IT Glue 3000 / 5 min, Autotask 10,000 /
//! hour per database). A rejected request is not counted, as the vendors do not count refused
//! calls against the budget. `Retry-After` is given in *simulated* seconds (what the vendor would
//! say); a client under test divides by the clock factor, or the test scales the clock.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::{SimClock, SimMillis};

/// How the window moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// Windows start at multiples of the window length; the count resets at each boundary.
    Fixed,
    /// The last `window` of requests is counted, whatever the boundaries.
    Sliding,
}

/// A budget: at most `limit` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub limit: u32,
    pub window_secs: u64,
    pub kind: WindowKind,
}

impl RateLimit {
    pub fn sliding(limit: u32, window: Duration) -> Self {
        RateLimit {
            limit,
            window_secs: window.as_secs().max(1),
            kind: WindowKind::Sliding,
        }
    }

    pub fn fixed(limit: u32, window: Duration) -> Self {
        RateLimit {
            limit,
            window_secs: window.as_secs().max(1),
            kind: WindowKind::Fixed,
        }
    }
}

/// A rate limiter over a [`SimClock`]. The budget can be replaced at run time (admin API).
#[derive(Debug)]
pub struct RateLimiter {
    clock: SimClock,
    state: Mutex<LimiterState>,
}

#[derive(Debug)]
struct LimiterState {
    config: Option<RateLimit>,
    /// Accepted request times, oldest first (sliding), or the current window's start (fixed).
    hits: VecDeque<SimMillis>,
    fixed_start: SimMillis,
    fixed_count: u32,
}

/// Usage figures, for the admin API and for latency-near-threshold behaviour.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Usage {
    pub used: u32,
    pub limit: u32,
}

impl RateLimiter {
    pub fn new(clock: SimClock, config: Option<RateLimit>) -> Self {
        RateLimiter {
            clock,
            state: Mutex::new(LimiterState {
                config,
                hits: VecDeque::new(),
                fixed_start: 0,
                fixed_count: 0,
            }),
        }
    }

    /// Replaces the budget (None = unlimited) and forgets past requests.
    pub fn set(&self, config: Option<RateLimit>) {
        let mut s = self.lock();
        s.config = config;
        s.hits.clear();
        s.fixed_count = 0;
    }

    pub fn config(&self) -> Option<RateLimit> {
        self.lock().config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimiterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one request. `Err(retry_after_secs)` when the budget is spent.
    pub fn check(&self) -> Result<(), u64> {
        let now = self.clock.now_millis();
        let mut s = self.lock();
        let Some(cfg) = s.config else {
            return Ok(());
        };
        let window = cfg.window_secs.clamp(1, 10 * 365 * 86_400) as SimMillis * 1000;
        match cfg.kind {
            WindowKind::Sliding => {
                while s.hits.front().is_some_and(|t| *t <= now - window) {
                    s.hits.pop_front();
                }
                if s.hits.len() as u32 >= cfg.limit {
                    // Free again when the oldest counted request leaves the window.
                    let oldest = s.hits.front().copied().unwrap_or(now);
                    return Err(ceil_secs(oldest + window - now));
                }
                s.hits.push_back(now);
            }
            WindowKind::Fixed => {
                let start = now - now.rem_euclid(window);
                if start != s.fixed_start {
                    s.fixed_start = start;
                    s.fixed_count = 0;
                }
                if s.fixed_count >= cfg.limit {
                    return Err(ceil_secs(start + window - now));
                }
                s.fixed_count += 1;
            }
        }
        Ok(())
    }

    /// Requests counted in the current window.
    pub fn usage(&self) -> Option<Usage> {
        let now = self.clock.now_millis();
        let s = self.lock();
        let cfg = s.config?;
        let window = cfg.window_secs.clamp(1, 10 * 365 * 86_400) as SimMillis * 1000;
        let used = match cfg.kind {
            WindowKind::Sliding => s.hits.iter().filter(|t| **t > now - window).count() as u32,
            WindowKind::Fixed if now - now.rem_euclid(window) == s.fixed_start => s.fixed_count,
            WindowKind::Fixed => 0,
        };
        Some(Usage {
            used,
            limit: cfg.limit,
        })
    }
}

/// One budget per key (Kaseya BMS: "1500 per hour per endpoint"), all with the same config.
#[derive(Debug)]
pub struct KeyedRateLimiter {
    clock: SimClock,
    limiters: Mutex<std::collections::HashMap<String, RateLimiter>>,
}

impl KeyedRateLimiter {
    pub fn new(clock: SimClock) -> Self {
        KeyedRateLimiter {
            clock,
            limiters: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Counts one request against `key`'s budget under `config` (a changed config starts the
    /// key's window afresh).
    pub fn check(&self, key: &str, config: Option<RateLimit>) -> Result<(), u64> {
        let mut map = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        let limiter = map
            .entry(key.to_owned())
            .or_insert_with(|| RateLimiter::new(self.clock.clone(), config));
        if limiter.config() != config {
            limiter.set(config);
        }
        limiter.check()
    }
}

/// The route a request path belongs to: every id-like segment replaced by `{id}`, so
/// `/v2/crm/accounts/summary/12` and `…/13` are one endpoint (Kaseya BMS budgets per endpoint, and
/// the request tally counts per route). Id-like: all digits (every simulated vendor's record ids),
/// a GUID or other hex token (at least 8 hex digits and dashes, one of them a digit), or
/// percent-encoded text (a name or value in the path). Anything else is a word of the API
/// (`organizations`, `v4_6_release`, `3.0`, `index.rails`) and stays.
pub fn route_template(path: &str) -> String {
    path.split('/')
        .map(|segment| if is_id_like(segment) { "{id}" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

fn is_id_like(segment: &str) -> bool {
    let all_digits = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
    let hex_token = segment.len() >= 8
        && segment.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && segment.bytes().any(|b| b.is_ascii_digit());
    all_digits || hex_token || segment.contains('%')
}

/// Whole seconds, rounded up, at least 1 (a `Retry-After: 0` invites a hot loop).
fn ceil_secs(ms: SimMillis) -> u64 {
    ((ms.max(0) as u64).div_ceil(1000)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates_hide_ids_and_keep_the_api_words() {
        assert_eq!(route_template("/organizations/12"), "/organizations/{id}");
        assert_eq!(
            route_template("/v4_6_release/apis/3.0/company/companies/7/sites/3"),
            "/v4_6_release/apis/3.0/company/companies/{id}/sites/{id}"
        );
        assert_eq!(
            route_template("/v2025_1//system/callbackkey/index.rails"),
            "/v2025_1//system/callbackkey/index.rails"
        );
        assert_eq!(
            route_template("/hooks/3f2504e0-4f89-11d3-9a0c-0305e82c3301/fields"),
            "/hooks/{id}/fields"
        );
        assert_eq!(
            route_template("/api/accounts/search/Acme%20Ltd"),
            "/api/accounts/search/{id}"
        );
        assert_eq!(route_template("/organizations"), "/organizations");
    }

    #[test]
    fn sliding_window_rejects_then_recovers() {
        let clock = SimClock::starting_at(0);
        clock.set_factor(1e-9); // effectively frozen: the test moves time by hand
        let rl = RateLimiter::new(
            clock.clone(),
            Some(RateLimit::sliding(3, Duration::from_secs(60))),
        );
        for _ in 0..3 {
            assert!(rl.check().is_ok());
        }
        let retry = rl.check().unwrap_err();
        assert!((59..=60).contains(&retry), "{retry}");
        clock.advance(Duration::from_secs(61));
        assert!(rl.check().is_ok());
    }

    #[test]
    fn fixed_window_resets_at_boundary() {
        let clock = SimClock::starting_at(0);
        clock.set_factor(1e-9);
        let rl = RateLimiter::new(
            clock.clone(),
            Some(RateLimit::fixed(2, Duration::from_secs(10))),
        );
        assert!(rl.check().is_ok());
        assert!(rl.check().is_ok());
        assert_eq!(rl.usage().map(|u| u.used), Some(2));
        assert!(rl.check().is_err());
        clock.advance(Duration::from_secs(10));
        assert!(rl.check().is_ok());
    }
}
