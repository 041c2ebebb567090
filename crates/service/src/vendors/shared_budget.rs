//! A tenant's vendor budget shared by every syncbridge process (DESIGN §2.5): the connectors ask
//! [`NatsBudget`] before each request, and it claims the request in a fixed window kept in
//! `sync_state` ([`syncbridge_bus::SharedRateBudget`], compare-and-set), so three worker processes and a
//! poller process together stay within, say, half of Autotask's 10,000 requests an hour.
//!
//! A vendor that caps concurrent requests per endpoint (Autotask: 3 per entity endpoint and
//! integration code, 429 "Thread threshold exceeded" beyond) also gets that cap shared: each
//! request holds one of the endpoint's [`ConcurrencySlots`] in `sync_state` for as long as it
//! runs, so two worker processes together make at most 3 concurrent requests, not 6. A slot is
//! given back in the background when the request ends (its guard is dropped), and one whose
//! process died expires after the request timeout plus a margin.
//!
//! Each process keeps its connectors' own budget and semaphores too (they space requests out
//! cheaply); these are the ceilings for all of them together. A vendor that counts per endpoint
//! (Kaseya BMS, Pulseway PSA) gets one shared budget per endpoint. If NATS cannot be asked, the
//! request goes ahead on the process's own budget and cap (logged): a worker without NATS stops at
//! its next lease anyway, and a poller must not stall on it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use syncbridge_bus::{Budget, ConcurrencySlots, SharedRateBudget, Slot, StateStore, Taken};
use syncbridge_connectors::{HttpPolicy, SharedBudget, SharedGate, SharedSlot};
use syncbridge_model::TenantId;

use crate::runtime::clock::now_millis;

/// The longest single sleep while waiting for a window (then the budget is asked again).
const MAX_NAP: Duration = Duration::from_secs(1);
/// How much longer than a request's timeout a shared slot lasts unless released: covers the
/// time between taking the slot and sending, and clock differences between processes.
const SLOT_MARGIN: Duration = Duration::from_secs(10);
/// How long a release may take before it is given up (the slot then expires on its own).
const RELEASE_LIMIT: Duration = Duration::from_secs(10);
/// After NATS failed to hand out a slot, requests use the process's own cap this long instead
/// of each waiting for the store's timeout in turn.
const SLOTS_BYPASS: Duration = Duration::from_secs(10);

/// The shared concurrency cap of a policy: slots per endpoint and how long a slot lasts.
#[derive(Debug, Clone, Copy)]
struct SlotPolicy {
    per_endpoint: usize,
    hold_for: Duration,
}

/// One tenant's budget (and concurrency cap, where the vendor has one) for one vendor, in NATS.
pub struct NatsBudget {
    state: StateStore,
    tenant: TenantId,
    vendor: &'static str,
    budget: Option<Budget>,
    per_endpoint: bool,
    claims: Mutex<HashMap<String, SharedRateBudget>>,
    slot_policy: Option<SlotPolicy>,
    slots: Mutex<HashMap<String, Arc<ConcurrencySlots>>>,
    /// Until when slots are not asked for, after NATS failed to answer.
    slots_bypassed_until: Mutex<Option<Instant>>,
    /// Names this process in slot entries (diagnostics).
    holder: String,
}

impl NatsBudget {
    /// Shares `policy`'s own budget (the tenant's configured or the vendor's default) and its
    /// per-endpoint concurrency cap (Autotask's) among all processes; a policy with neither stays
    /// unshared.
    pub fn share(
        policy: &mut HttpPolicy,
        state: &StateStore,
        tenant: &TenantId,
        vendor: &'static str,
    ) {
        let budget = policy.rate.map(|rate| Budget {
            limit: rate.requests,
            window: rate.per,
        });
        let slot_policy = policy.per_endpoint_concurrency.map(|n| SlotPolicy {
            per_endpoint: n.max(1),
            hold_for: policy.timeout + SLOT_MARGIN,
        });
        if budget.is_none() && slot_policy.is_none() {
            return;
        }
        let shared = NatsBudget {
            state: state.clone(),
            tenant: tenant.clone(),
            vendor,
            budget,
            per_endpoint: policy.rate_per_endpoint,
            claims: Mutex::new(HashMap::new()),
            slot_policy,
            slots: Mutex::new(HashMap::new()),
            slots_bypassed_until: Mutex::new(None),
            holder: format!("{vendor}-{}", std::process::id()),
        };
        policy.shared = Some(SharedGate(Arc::new(shared)));
    }

    fn claim(&self, endpoint: &str) -> Option<SharedRateBudget> {
        let budget = self.budget?;
        let key = if self.per_endpoint {
            format!("{} {endpoint}", self.vendor)
        } else {
            self.vendor.to_owned()
        };
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = claims.get(&key) {
            return Some(b.clone());
        }
        match SharedRateBudget::new(self.state.clone(), &self.tenant, &key, budget) {
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

    /// The endpoint's shared slots (made on first use), if the policy caps concurrency.
    fn slots_of(&self, endpoint: &str) -> Option<Arc<ConcurrencySlots>> {
        let policy = self.slot_policy?;
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slots.get(endpoint) {
            return Some(s.clone());
        }
        let made = ConcurrencySlots::new(
            self.state.clone(),
            &self.tenant,
            self.vendor,
            endpoint,
            policy.per_endpoint,
            policy.hold_for,
        );
        match made {
            Ok(s) => Some(
                slots
                    .entry(endpoint.to_owned())
                    .or_insert(Arc::new(s))
                    .clone(),
            ),
            Err(e) => {
                tracing::warn!(tenant = %self.tenant, vendor = self.vendor, endpoint, error = %e, "shared concurrency cap unusable; using the process's own");
                None
            }
        }
    }

    fn slots_bypassed(&self) -> bool {
        let until = self
            .slots_bypassed_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        until.is_some_and(|t| Instant::now() < t)
    }

    fn bypass_slots(&self) {
        *self
            .slots_bypassed_until
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + SLOTS_BYPASS);
    }

    /// Waits for one of the endpoint's shared slots. Waits at most a slot's lifetime (by then a
    /// dead holder's slot has expired; longer means the store misbehaves), then goes ahead on
    /// the process's own cap rather than stall.
    async fn hold_one(&self, endpoint: &str) -> Option<SharedSlot> {
        if self.slots_bypassed() {
            return None;
        }
        let slots = self.slots_of(endpoint)?;
        match slots
            .acquire(&self.holder, now_millis, slots.hold_for())
            .await
        {
            Ok(Some(slot)) => Some(SharedSlot::new(HeldSlot {
                slots,
                slot: Some(slot),
            })),
            Ok(None) => {
                tracing::warn!(tenant = %self.tenant, vendor = self.vendor, endpoint, "no shared concurrency slot came free in time; this request uses the process's own cap");
                None
            }
            Err(e) => {
                tracing::warn!(tenant = %self.tenant, vendor = self.vendor, endpoint, error = %e, "shared concurrency cap unavailable; requests use the process's own cap for a while");
                self.bypass_slots();
                None
            }
        }
    }
}

impl SharedBudget for NatsBudget {
    fn acquire<'a>(&'a self, endpoint: &'a str) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(self.wait_for_one(endpoint))
    }

    fn hold<'a>(
        &'a self,
        endpoint: &'a str,
    ) -> Pin<Box<dyn Future<Output = Option<SharedSlot>> + Send + 'a>> {
        Box::pin(self.hold_one(endpoint))
    }
}

/// A held shared slot: dropping it releases the slot in the background, so the request that
/// held it never waits for NATS on its way out (and a release that cannot be sent just lets the
/// slot expire).
struct HeldSlot {
    slots: Arc<ConcurrencySlots>,
    slot: Option<Slot>,
}

impl Drop for HeldSlot {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else {
            return;
        };
        // Without a runtime (process shutting down) the slot simply expires.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let slots = self.slots.clone();
        runtime.spawn(async move {
            let index = slot.index;
            match tokio::time::timeout(RELEASE_LIMIT, slots.release(slot)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(slot = index, error = %e, "could not release a shared concurrency slot; it expires on its own");
                }
                Err(_) => {
                    tracing::warn!(
                        slot = index,
                        "releasing a shared concurrency slot timed out; it expires on its own"
                    );
                }
            }
        });
    }
}
