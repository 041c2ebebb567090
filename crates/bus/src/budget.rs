//! Rate budgets shared by every worker process of a deployment (DESIGN §2.5): a tenant's calls to a
//! vendor are counted in a fixed window kept in `sync_state` and claimed with compare-and-set, so
//! three worker processes together stay within, say, half of Autotask's 10,000 requests an hour.
//!
//! [`SharedRateBudget::take`] either claims a call or says how long to wait for the next window. Waiting
//! for budget is not a failed delivery: the worker takes budget *before* it starts on an event and,
//! while it waits, tells JetStream the event is in progress (or gives it back with that delay).
//!
//! Claims in blocks: every vendor request of a tenant asks the same key, and a worker handles
//! dozens of events at once, so one compare-and-set per request made them race for that key —
//! most attempts lost, were retried, and after 16 attempts gave up for 50 ms: the budget, not
//! the vendor or the CPU, was what held four tenants' events back. Now one handle (a process's)
//! claims a block of calls at a time ([`Budget::block`], a small share of the limit) and hands
//! them out itself, and its callers wait for its one claim in flight instead of racing it. The
//! limit still holds: a block is taken from the window like single calls, and what a process
//! has not spent when its window ends lapses with it — at most `block - 1` calls per process and
//! window go unused, never one more than the limit is made.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use syncbridge_model::{TenantId, UnixMillis};

use crate::kv::KvError;
use crate::state::{StateKey, StateStore};

/// A budget: at most `limit` calls per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u32,
    pub window: Duration,
}

impl Budget {
    /// How many calls one claim takes at most: 1/64 of the limit, between 1 and 32. A small
    /// budget (under 128 calls a window) is claimed call by call, so processes share it exactly;
    /// a large one wastes at most ~1.5% of a window per process.
    pub fn block(&self) -> u32 {
        (self.limit / 64).clamp(1, 32)
    }

    /// Half of a vendor's published limit (the default: the MSP's other tools need the rest).
    pub fn half_of(limit: u32, window: Duration) -> Budget {
        Budget {
            limit: (limit / 2).max(1),
            window,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Window {
    start: UnixMillis,
    used: u32,
}

/// The answer of [`SharedRateBudget::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// A call may be made now.
    Granted,
    /// The window is spent: wait this long.
    Wait(Duration),
}

/// One tenant's budget for one vendor, shared through `sync_state`. Clones share one block of
/// claimed calls (one per process, as [`SharedRateBudget::new`] is called once per process).
#[derive(Debug, Clone)]
pub struct SharedRateBudget {
    state: StateStore,
    key: StateKey,
    budget: Budget,
    claimed: Arc<tokio::sync::Mutex<Claimed>>,
}

/// Calls this handle claimed in the window starting at `start` and has not handed out yet.
#[derive(Debug, Default)]
struct Claimed {
    start: UnixMillis,
    left: u32,
}

/// Claims retried before giving up on contention (each retry means another process claimed).
const CAS_ATTEMPTS: usize = 16;

impl SharedRateBudget {
    pub fn new(
        state: StateStore,
        tenant: &TenantId,
        vendor: &str,
        budget: Budget,
    ) -> Result<SharedRateBudget, KvError> {
        if budget.limit == 0 || budget.window.is_zero() {
            return Err(KvError::InvalidValue(
                "a rate budget needs a positive limit and window".into(),
            ));
        }
        Ok(SharedRateBudget {
            state,
            key: StateKey::rate_budget(tenant, vendor)?,
            budget,
            claimed: Arc::default(),
        })
    }

    /// Claims `calls` calls at `now`, or says how long until the window resets.
    pub async fn take(&self, calls: u32, now: UnixMillis) -> Result<Taken, KvError> {
        let window_ms = self.budget.window.as_millis() as i64;
        let start = now - now.rem_euclid(window_ms);
        // Held across the claim below: callers of this process wait for its one claim in
        // flight rather than race it for the key.
        let mut claimed = self.claimed.lock().await;
        if claimed.start == start && claimed.left >= calls {
            claimed.left -= calls;
            return Ok(Taken::Granted);
        }
        let wanted = calls.max(self.budget.block());
        match self.claim(calls, wanted, start, now).await? {
            Ok(got) => {
                *claimed = Claimed {
                    start,
                    left: got - calls,
                };
                Ok(Taken::Granted)
            }
            Err(wait) => Ok(Taken::Wait(wait)),
        }
    }

    /// Claims between `at_least` and `wanted` calls of the window starting at `start` in the
    /// shared store: how many, or how long until the window resets.
    async fn claim(
        &self,
        at_least: u32,
        wanted: u32,
        start: UnixMillis,
        now: UnixMillis,
    ) -> Result<Result<u32, Duration>, KvError> {
        let window_ms = self.budget.window.as_millis() as i64;
        for _ in 0..CAS_ATTEMPTS {
            let stored = self.state.get::<Window>(&self.key).await?;
            let current = match &stored {
                Some(v) if v.value.start == start => v.value,
                _ => Window { start, used: 0 },
            };
            let left = self.budget.limit.saturating_sub(current.used);
            if left < at_least {
                let wait = (start + window_ms - now).max(1) as u64;
                return Ok(Err(Duration::from_millis(wait)));
            }
            let got = wanted.min(left);
            let next = Window {
                start,
                used: current.used + got,
            };
            match self
                .state
                .set(&self.key, &next, stored.map(|v| v.revision))
                .await
            {
                Ok(_) => return Ok(Ok(got)),
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e),
            }
        }
        // Heavy contention: behave as if the window were spent for a moment.
        Ok(Err(Duration::from_millis(50)))
    }
}
