//! Rate budgets shared by every worker process of a deployment (DESIGN §2.5): a tenant's calls to a
//! vendor are counted in a fixed window kept in `sync_state` and claimed with compare-and-set, so
//! three worker processes together stay within, say, half of Autotask's 10,000 requests an hour.
//!
//! [`SharedRateBudget::take`] either claims a call or says how long to wait for the next window. Waiting
//! for budget is not a failed delivery: the worker takes budget *before* it starts on an event and,
//! while it waits, tells JetStream the event is in progress (or gives it back with that delay).

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

/// One tenant's budget for one vendor, shared through `sync_state`.
#[derive(Debug, Clone)]
pub struct SharedRateBudget {
    state: StateStore,
    key: StateKey,
    budget: Budget,
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
        })
    }

    /// Claims `calls` calls at `now`, or says how long until the window resets.
    pub async fn take(&self, calls: u32, now: UnixMillis) -> Result<Taken, KvError> {
        let window_ms = self.budget.window.as_millis() as i64;
        let start = now - now.rem_euclid(window_ms);
        for _ in 0..CAS_ATTEMPTS {
            let stored = self.state.get::<Window>(&self.key).await?;
            let current = match &stored {
                Some(v) if v.value.start == start => v.value,
                _ => Window { start, used: 0 },
            };
            if current.used.saturating_add(calls) > self.budget.limit {
                let wait = (start + window_ms - now).max(1) as u64;
                return Ok(Taken::Wait(Duration::from_millis(wait)));
            }
            let next = Window {
                start,
                used: current.used + calls,
            };
            match self
                .state
                .set(&self.key, &next, stored.map(|v| v.revision))
                .await
            {
                Ok(_) => return Ok(Taken::Granted),
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e),
            }
        }
        // Heavy contention: behave as if the window were spent for a moment.
        Ok(Taken::Wait(Duration::from_millis(50)))
    }
}
