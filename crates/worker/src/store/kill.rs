//! Stopping a worker as if its process were killed at a deterministic point (DESIGN §6: "kill -9
//! of a worker at deterministic points"), from outside the pipeline: [`KillAt`] is a
//! [`LinkStoreHook`], so the worker runs unchanged over a [`Hooked`](super::hook::Hooked) store and
//! its `Outcome` knows nothing of kills.
//!
//! The points are named by the link a decision stores — not a create intent, which comes before
//! the vendor writes:
//! - [`KillPoint::AfterVendorWrite`]: just before that link store (the decision's writes are done);
//! - [`KillPoint::AfterLinkStore`]: just after it (before the audit, the lease release, the ack).
//!
//! There, the hook calls `on_kill` — the service's `SYNCBRIDGE_TEST_KILL_AT` hook aborts the
//! process, as kill -9 would — and then never completes, so nothing after the point runs: no link
//! store or audit, no lease release (it expires by itself), no ack or nak. A test notes the call
//! and drops the event's future.

use std::sync::Arc;

use syncbridge_model::{Link, LinkState, TenantId};

use super::hook::LinkStoreHook;
use super::Store;

/// Where a worker is stopped (module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillPoint {
    /// After the vendor writes, before the link store.
    AfterVendorWrite,
    /// After the link store, before the audit and the ack.
    AfterLinkStore,
}

/// The hook that stops the worker at `point` (module documentation).
#[derive(Clone)]
pub struct KillAt {
    point: KillPoint,
    on_kill: Arc<dyn Fn(KillPoint) + Send + Sync>,
}

impl std::fmt::Debug for KillAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KillAt")
            .field("point", &self.point)
            .finish()
    }
}

impl KillAt {
    /// Stops the worker at `point`, after calling `on_kill` there.
    pub fn new(point: KillPoint, on_kill: impl Fn(KillPoint) + Send + Sync + 'static) -> Self {
        KillAt {
            point,
            on_kill: Arc::new(on_kill),
        }
    }

    /// Stops here for good when `point` is the hook's and `link` is a decision's link.
    async fn stop_at(&self, point: KillPoint, link: &Link) {
        if point != self.point || matches!(link.state, LinkState::Creating(_)) {
            return;
        }
        (self.on_kill)(point);
        std::future::pending::<()>().await;
    }
}

impl LinkStoreHook for KillAt {
    async fn before_link_store<S: Store>(&self, _store: &S, _tenant: &TenantId, link: &Link) {
        self.stop_at(KillPoint::AfterVendorWrite, link).await;
    }

    async fn after_link_store<S: Store>(&self, _store: &S, _tenant: &TenantId, link: &Link) {
        self.stop_at(KillPoint::AfterLinkStore, link).await;
    }
}
