//! A tenant's vendor budget shared by every syncbridge process (DESIGN §2.5): the connectors ask
//! [`NatsBudget`] before each request, and it claims the request in a fixed window kept in
//! `sync_state` ([`syncbridge_bus::RateBudget`], compare-and-set), so three worker processes and a
//! poller process together stay within, say, half of Autotask's 10,000 requests an hour.
//!
//! Each process keeps its connectors' own budget too (it spaces requests out); this one is the
//! ceiling for all of them together. A vendor that counts per endpoint (Kaseya BMS, Pulseway PSA)
//! gets one shared budget per endpoint. If NATS cannot be asked, the request goes ahead on the
//! process's own budget (logged): a worker without NATS stops at its next lease anyway, and a
//! poller must not stall on it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use syncbridge_bus::{Budget, RateBudget, StateStore, Taken};
use syncbridge_connectors::{HttpPolicy, SharedBudget, SharedGate};
use syncbridge_model::TenantId;

use crate::workers::now_millis;

/// The longest single sleep while waiting for a window (then the budget is asked again).
const MAX_NAP: Duration = Duration::from_secs(1);

/// One tenant's budget for one vendor, in NATS.
pub struct NatsBudget {
    state: StateStore,
    tenant: TenantId,
    vendor: &'static str,
    budget: Budget,
    per_endpoint: bool,
    claims: Mutex<HashMap<String, RateBudget>>,
}

impl NatsBudget {
    /// Shares `policy`'s own budget (the tenant's configured or the vendor's default) among all
    /// processes; a policy without a budget stays unshared.
    pub fn share(
        policy: &mut HttpPolicy,
        state: &StateStore,
        tenant: &TenantId,
        vendor: &'static str,
    ) {
        let Some(rate) = policy.rate else {
            return;
        };
        let budget = NatsBudget {
            state: state.clone(),
            tenant: tenant.clone(),
            vendor,
            budget: Budget {
                limit: rate.requests,
                window: rate.per,
            },
            per_endpoint: policy.rate_per_endpoint,
            claims: Mutex::new(HashMap::new()),
        };
        policy.shared = Some(SharedGate(Arc::new(budget)));
    }

    fn claim(&self, endpoint: &str) -> Option<RateBudget> {
        let key = if self.per_endpoint {
            format!("{} {endpoint}", self.vendor)
        } else {
            self.vendor.to_owned()
        };
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = claims.get(&key) {
            return Some(b.clone());
        }
        match RateBudget::new(self.state.clone(), &self.tenant, &key, self.budget) {
            Ok(b) => {
                claims.insert(key, b.clone());
                Some(b)
            }
            Err(e) => {
                tracing::warn!(tenant = %self.tenant, vendor = self.vendor, error = %e, "shared budget unusable; using the process's own");
                None
            }
        }
    }

    async fn wait_for_one(&self, endpoint: &str) {
        let Some(budget) = self.claim(endpoint) else {
            return;
        };
        loop {
            match budget.take(1, now_millis()).await {
                Ok(Taken::Granted) => return,
                Ok(Taken::Wait(d)) => tokio::time::sleep(d.min(MAX_NAP)).await,
                Err(e) => {
                    tracing::warn!(tenant = %self.tenant, vendor = self.vendor, error = %e, "shared budget unavailable; this request uses the process's own budget");
                    return;
                }
            }
        }
    }
}

impl SharedBudget for NatsBudget {
    fn acquire<'a>(&'a self, endpoint: &'a str) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(self.wait_for_one(endpoint))
    }
}
