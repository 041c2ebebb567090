//! One event through the pipeline of DESIGN §2.3; see the crate documentation for the steps.

use std::time::Duration;

use serde::Serialize;
use syncbridge_bus::LeaseKey;
use syncbridge_engine::{
    decide, Action, ActionKind, Decision, Input, LinkUpdate, Parent, Rule, Trigger,
};
use syncbridge_model::{
    key_fields, ChangeAction, ChangeEvent, Entity, EventSource, Link, LinkState, Record, Side,
    TenantId, TenantSettings, UnixMillis,
};

use crate::apply::{apply, link_after};
use crate::gather::{Failure, Gathered, Reader};
use crate::poll_version::listed_updated_at;
use crate::side::{ApiError, SideApi};
use crate::store::nats::WorkerStores;
use crate::store::Store;

/// What the consumer does with the event after [`Worker::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Handled (possibly with nothing to do): ack.
    Done { writes: usize },
    /// Not now: nak with this delay (vendor Retry-After, a held lease, a stale read, the bus).
    Retry(Duration),
    /// Failed permanently: file in the DLQ with this reason, then ack.
    DeadLetter(String),
}

/// One decision as the audit stream keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry<'a> {
    pub at: UnixMillis,
    pub event: &'a ChangeEvent,
    pub entity: Entity,
    pub side: Side,
    pub record_id: &'a str,
    pub actions: &'a [Action],
    /// False in shadow mode: decided and audited, not written.
    pub written: bool,
    pub link_before: Option<&'a Link>,
    pub link_after: Option<&'a Link>,
}

/// A tenant's worker: the two sides and the stores (the NATS ones in production, see
/// [`crate::store`]).
pub struct Worker<P, I, S = WorkerStores> {
    pub tenant: TenantId,
    pub settings: TenantSettings,
    pub psa: P,
    pub itg: I,
    pub stores: S,
    /// Names this process in leases.
    pub holder: String,
    /// How long to wait for a lease another worker holds before giving the event back.
    pub lease_wait: Duration,
}

/// How often a compare-and-set conflict re-runs the decision before the event is given back.
const CAS_ATTEMPTS: usize = 3;
const BUS_RETRY: Duration = Duration::from_secs(2);
/// The first and the longest pause between attempts to take a held lease.
const LEASE_POLL_FIRST: Duration = Duration::from_millis(5);
const LEASE_POLL_MAX: Duration = Duration::from_millis(100);
/// When a lease stays held longer than `lease_wait`, the event comes back after this.
const LEASE_HELD: Duration = Duration::from_secs(1);
/// How long a stale read waits before the record is read again (a replica catching up).
const STALE_READ_RETRY: Duration = Duration::from_secs(2);
/// How often a held lease is renewed: well inside the leases bucket's max_age (30 s by default).
const LEASE_RENEW: Duration = Duration::from_secs(5);

impl<P: SideApi, I: SideApi, S: Store> Worker<P, I, S> {
    /// Handles one event. Never panics; every failure becomes an [`Outcome`].
    pub async fn handle(&self, event: &ChangeEvent, now: UnixMillis) -> Outcome {
        let (Some(entity), Some(id)) = (event.entity, event.record_id.as_deref()) else {
            // An IT Glue workflow hint carries no record: the IT Glue poller, which sees it on
            // core NATS, runs at once.
            if event.source == EventSource::ItGlue && event.action == ChangeAction::Hint {
                return Outcome::Done { writes: 0 };
            }
            // Nothing else is published without a record; should one arrive, it is filed with
            // the reason rather than acknowledged unseen.
            return Outcome::DeadLetter(format!(
                "a {} {} event names no record (entity and id are required); nothing to sync",
                event.source,
                event.action.as_str()
            ));
        };
        let (side, trigger) = match event.source {
            EventSource::Psa(_) => (Side::Psa, Trigger::Event(Side::Psa)),
            EventSource::ItGlue => (Side::ItGlue, Trigger::Event(Side::ItGlue)),
            // A Standard Webhooks producer speaks for the side its configuration declares: its
            // events are that side's webhooks.
            EventSource::Standard(side) => (side, Trigger::Event(side)),
            EventSource::FullSync => (Side::Psa, Trigger::FullSync),
            EventSource::PushAll => (Side::ItGlue, Trigger::PushAll),
        };
        match self.sync(event, entity, side, id, trigger, now, true).await {
            Ok(outcome) => outcome,
            Err(Failure::Api(ApiError::Transient {
                retry_after,
                message,
            })) => {
                tracing::debug!(tenant = %self.tenant, %entity, id, %message, "vendor busy: retry");
                Outcome::Retry(retry_after)
            }
            Err(Failure::Api(ApiError::Permanent { status, message })) => {
                Outcome::DeadLetter(match status {
                    Some(status) => format!("vendor answered {status}: {message}"),
                    None => format!("refused before any request: {message}"),
                })
            }
            Err(Failure::Kv(e)) if e.is_unavailable() || e.is_conflict() => {
                tracing::debug!(tenant = %self.tenant, %entity, id, error = %e, "bus: retry");
                Outcome::Retry(BUS_RETRY)
            }
            Err(Failure::Kv(e)) => Outcome::DeadLetter(format!("link store: {e}")),
        }
    }

    fn reader(&self) -> Reader<'_, P, I, S> {
        Reader {
            tenant: &self.tenant,
            settings: &self.settings,
            psa: &self.psa,
            itg: &self.itg,
            store: &self.stores,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn sync(
        &self,
        event: &ChangeEvent,
        entity: Entity,
        side: Side,
        id: &str,
        trigger: Trigger,
        now: UnixMillis,
        may_sync_parent: bool,
    ) -> Result<Outcome, Failure> {
        let mut earlier_writes = 0;
        let mut parent_synced = false;
        let mut references_synced = false;
        // A parent and the references synced first take one round each.
        for _ in 0..CAS_ATTEMPTS + 2 {
            let key = self.record_lease_key(entity, side, id).await?;
            let references_first = may_sync_parent && !references_synced;
            let work =
                self.decide_and_write(event, entity, side, id, trigger, now, references_first);
            let Some(step) = self.under_lease(&key, work).await? else {
                tracing::debug!(tenant = %self.tenant, %entity, id, "lease held elsewhere: retry");
                return Ok(Outcome::Retry(LEASE_HELD));
            };
            match step? {
                Step::Done(Outcome::Done { writes }) => {
                    return Ok(Outcome::Done {
                        writes: writes + earlier_writes,
                    })
                }
                Step::Done(outcome) => return Ok(outcome),
                Step::Conflict { writes } => earlier_writes += writes,
                Step::ParentFirst {
                    side: parent_side,
                    org_id,
                } if may_sync_parent && !parent_synced => {
                    let parent = self
                        .sync_first(
                            event,
                            Entity::Organization,
                            parent_side,
                            &org_id,
                            trigger,
                            now,
                        )
                        .await?;
                    // The parent could not be synced now: give the child back with the same answer.
                    if !matches!(parent, Outcome::Done { .. }) {
                        return Ok(parent);
                    }
                    parent_synced = true;
                }
                Step::ReferencesFirst(references) => {
                    // The location or contact the record names is synced first, so the record
                    // is linked with it (a full sync's events are handled side by side, not in
                    // the parents-first order it publishes them). One that still cannot be
                    // linked (out of scope, gone) is left out, as it would be anyway.
                    for (target, target_id) in references {
                        let synced = self
                            .sync_first(event, target, Side::Psa, &target_id, trigger, now)
                            .await?;
                        if !matches!(synced, Outcome::Done { .. }) {
                            return Ok(synced);
                        }
                    }
                    references_synced = true;
                }
                // The organization was synced just now and is still not linked: it is out of
                // scope, or held (ambiguous, near miss with `hold`, waiting for the full sync).
                // The child follows its organization; retrying would spin until it enters scope,
                // and the full sync brings its children when it does.
                Step::ParentFirst { org_id, .. } if parent_synced => {
                    let decision = Decision {
                        actions: vec![Action {
                            kind: ActionKind::Ignore {
                                reason: format!(
                                    "its organization ({org_id}) is not synced: out of scope or held"
                                ),
                            },
                            rule: Rule::ParentFirst,
                        }],
                        link: LinkUpdate::Unchanged,
                        write: false,
                    };
                    self.audit(event, entity, side, id, &decision, false, None, None, now)
                        .await?;
                    return Ok(Outcome::Done {
                        writes: earlier_writes,
                    });
                }
                Step::ParentFirst { org_id, .. } => {
                    tracing::debug!(tenant = %self.tenant, %entity, id, org_id, "parent not synced yet: retry");
                    return Ok(Outcome::Retry(Duration::from_secs(1)));
                }
            }
        }
        Ok(Outcome::Retry(BUS_RETRY))
    }

    /// Syncs a record another one depends on (its organization, the location or contact it names)
    /// before it, as that record's own event would, but without syncing what it depends on in
    /// turn. A full sync (or push-all) syncs it as itself would: with instant_create off, an event
    /// defers a create the full sync makes.
    async fn sync_first(
        &self,
        event: &ChangeEvent,
        entity: Entity,
        side: Side,
        id: &str,
        trigger: Trigger,
        now: UnixMillis,
    ) -> Result<Outcome, Failure> {
        let trigger = match trigger {
            Trigger::FullSync | Trigger::PushAll => trigger,
            _ => Trigger::Event(side),
        };
        Box::pin(self.sync(event, entity, side, id, trigger, now, false)).await
    }

    /// The key of the record's lease, taken before anything is read: its PSA id (an IT Glue
    /// record's once linked, found in the link store), else its IT Glue id. It never depends on a
    /// vendor read, so every event of one record contends for the same key whatever the link's
    /// state. An unlinked record also takes its match key's lease ([`Self::decide_and_write`]).
    async fn record_lease_key(
        &self,
        entity: Entity,
        side: Side,
        id: &str,
    ) -> Result<LeaseKey, Failure> {
        let psa_id = match side {
            Side::Psa => Some(id.to_owned()),
            Side::ItGlue => self
                .reader()
                .link_of(entity, side, id)
                .await?
                .and_then(|l| l.value.psa_id),
        };
        Ok(match psa_id {
            Some(psa_id) => LeaseKey::record(&self.tenant, entity, Side::Psa, &psa_id)?,
            None => LeaseKey::record(&self.tenant, entity, Side::ItGlue, id)?,
        })
    }

    /// Runs `work` holding the lease of `key`: taken (waiting up to `lease_wait`), kept while
    /// `work` runs, released after it. `None` when another worker held it all that time. One that
    /// cannot be released expires by itself (the leases bucket's max_age), as does the lease of a
    /// worker killed meanwhile.
    async fn under_lease(
        &self,
        key: &LeaseKey,
        work: impl std::future::Future<Output = Result<Step, Failure>>,
    ) -> Result<Option<Result<Step, Failure>>, Failure> {
        let Some(mut lease) = self.wait_for_lease(key).await? else {
            return Ok(None);
        };
        // Boxed: the decision's future is large, and this nests once per lease (record, then
        // match key) inside the recursive `sync`; on the stack it overflowed in debug builds.
        let step = self.keeping(key, &mut lease, Box::pin(work)).await;
        let _ = self.stores.release_lease(lease).await;
        Ok(Some(step))
    }

    /// Runs `work` while holding `lease`, renewing it every [`LEASE_RENEW`]: an event may wait
    /// longer than the bucket's max_age (30 s) for a vendor's budget with many events in flight,
    /// and a lease that expired under it would let another event of the same record run beside it
    /// (the PSA's edit could then lose to our push). A renewal that fails is not fatal: the link's
    /// compare-and-set still guards what is stored.
    async fn keeping<T>(
        &self,
        key: &LeaseKey,
        lease: &mut S::Lease,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = tokio::time::sleep(LEASE_RENEW) => {
                    match self.stores.renew_lease(lease).await {
                        Ok(Some(renewed)) => *lease = renewed,
                        Ok(None) => tracing::warn!(
                            tenant = %self.tenant,
                            key = key.as_str(),
                            "a lease expired while its event was still being handled"
                        ),
                        Err(e) => tracing::debug!(tenant = %self.tenant, error = %e, "lease renewal failed"),
                    }
                }
            }
        }
    }

    /// Takes the lease of `key`, waiting up to `lease_wait` while another worker holds it.
    ///
    /// The retries start at [`LEASE_POLL_FIRST`] and double up to [`LEASE_POLL_MAX`]: most holds
    /// are one event's few vendor round trips (the children of one organization wait on its
    /// lease while one of them syncs it), and a fixed 50 ms poll halved the events/s of an
    /// onboarding with fast vendors; the cap keeps a long hold (a slow vendor, a budget wait) to
    /// ten attempts a second.
    async fn wait_for_lease(&self, key: &LeaseKey) -> Result<Option<S::Lease>, Failure> {
        let deadline = tokio::time::Instant::now() + self.lease_wait;
        let mut pause = LEASE_POLL_FIRST;
        loop {
            if let Some(lease) = self.stores.acquire_lease(key, &self.holder).await? {
                return Ok(Some(lease));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LEASE_POLL_MAX);
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn decide_and_write(
        &self,
        event: &ChangeEvent,
        entity: Entity,
        side: Side,
        id: &str,
        trigger: Trigger,
        now: UnixMillis,
        references_first: bool,
    ) -> Result<Step, Failure> {
        // An entity this PSA does not sync (an IT Glue location of an Autotask tenant, say) is
        // decided without reading either side: the PSA has no such records to ask about.
        if !self.settings.capabilities().syncs(entity) {
            let decision = decide(&Input::new(self.settings.clone(), entity, trigger));
            self.audit(event, entity, side, id, &decision, false, None, None, now)
                .await?;
            return Ok(Step::Done(Outcome::Done { writes: 0 }));
        }
        let gathered = self.reader().gather(entity, side, id, trigger, now).await?;
        let Some(key) = self.unlinked_match_key(entity, side, &gathered) else {
            return self
                .decide_on(gathered, event, entity, side, id, now, references_first)
                .await;
        };
        // Unlinked: records of other ids with the same exact key ("Acme" created on both sides at
        // once) are handled one at a time, so a record is created or linked once.
        // What was read before this lease may be stale: another worker may have created or
        // linked a record with this key in between.
        let work = async {
            let gathered = self.reader().gather(entity, side, id, trigger, now).await?;
            self.decide_on(gathered, event, entity, side, id, now, references_first)
                .await
        };
        match self.under_lease(&key, work).await? {
            Some(step) => step,
            None => {
                tracing::debug!(tenant = %self.tenant, %entity, id, "match key held elsewhere: retry");
                Ok(Step::Done(Outcome::Retry(LEASE_HELD)))
            }
        }
    }

    /// The match key's lease of a record the stored link does not (or not yet) pair: from the
    /// record the event is about, as just read. `None` when linked, or when the record is gone.
    fn unlinked_match_key(
        &self,
        entity: Entity,
        side: Side,
        gathered: &Gathered,
    ) -> Option<LeaseKey> {
        let linked = gathered
            .link
            .as_ref()
            .is_some_and(|l| matches!(l.value.state, LinkState::Linked | LinkState::Orphaned));
        let record = match side {
            Side::Psa => gathered.input.psa.as_ref(),
            Side::ItGlue => gathered.input.itg.as_ref(),
        };
        match (linked, record) {
            (false, Some(record)) => Some(match_key(
                &self.tenant,
                entity,
                record,
                &gathered.input.parent,
            )),
            _ => None,
        }
    }

    /// Decides on what was gathered and carries the decision out: vendor writes, the link by
    /// compare-and-set, the audit and the cascade to an organization's children.
    #[allow(clippy::too_many_arguments)]
    async fn decide_on(
        &self,
        gathered: Gathered,
        event: &ChangeEvent,
        entity: Entity,
        side: Side,
        id: &str,
        now: UnixMillis,
        references_first: bool,
    ) -> Result<Step, Failure> {
        // A read older than the version the poll listed (a lagging replica): read again, as
        // for a read older than the link's base (the engine's `stale_read`). Only for the
        // event's own record: a parent decided first runs with its child's event.
        let read = match side {
            Side::Psa => gathered.input.psa.as_ref(),
            Side::ItGlue => gathered.input.itg.as_ref(),
        };
        let listed = listed_updated_at(event).filter(|_| {
            let event_side = match event.source {
                EventSource::ItGlue => Side::ItGlue,
                _ => Side::Psa,
            };
            event.entity == Some(entity)
                && event.record_id.as_deref() == Some(id)
                && event_side == side
        });
        if let (Some(listed), Some(read)) = (listed, read) {
            if read.updated_at < listed {
                tracing::debug!(
                    tenant = %self.tenant, %entity, id, listed, read = read.updated_at,
                    "stale read: older than the version the poll listed: retry"
                );
                return Ok(Step::Done(Outcome::Retry(STALE_READ_RETRY)));
            }
        }
        let decision = decide(&gathered.input);
        if let Some((side, org_id)) = parent_first(&decision) {
            return Ok(Step::ParentFirst { side, org_id });
        }
        if references_first && decision.write && !gathered.unlinked_references.is_empty() {
            return Ok(Step::ReferencesFirst(gathered.unlinked_references));
        }
        if decision
            .actions
            .iter()
            .any(|a| matches!(a.kind, ActionKind::Retry { .. }))
        {
            tracing::debug!(tenant = %self.tenant, %entity, id, "stale read: retry");
            return Ok(Step::Done(Outcome::Retry(STALE_READ_RETRY)));
        }
        let before = gathered.link.as_ref().map(|v| &v.value);
        if !decision.write {
            self.audit(event, entity, side, id, &decision, false, before, None, now)
                .await?;
            return Ok(Step::Done(Outcome::Done { writes: 0 }));
        }
        let revision = match self.record_create_intent(&decision, &gathered.link).await? {
            Some(intent_revision) => Some(intent_revision),
            None => gathered.link.as_ref().map(|v| v.revision),
        };
        let applied = apply(
            &decision,
            entity,
            &self.psa,
            &self.itg,
            gathered.input.psa.as_ref(),
        )
        .await?;
        let after = link_after(&decision, &applied, &self.settings, entity).map(|mut link| {
            link.updated_at = now;
            link
        });
        let stored = match (&after, revision) {
            (None, _) => Ok(0),
            (Some(link), Some(rev)) => self.stores.update_link(&self.tenant, link, rev).await,
            (Some(link), None) => self.stores.create_link(&self.tenant, link).await,
        };
        let (conflict, stored_revision) = match stored {
            Ok(rev) => (false, rev),
            // Another worker stored this link since we read it: decide again on fresh state.
            // What we wrote is already on the vendor; the next decision sees it as current.
            Err(e) if e.is_conflict() => (true, 0),
            Err(e) => return Err(e.into()),
        };
        let stored_link = if conflict { None } else { after.as_ref() };
        self.audit(
            event,
            entity,
            side,
            id,
            &decision,
            true,
            before,
            stored_link,
            now,
        )
        .await?;
        if !conflict {
            // The organization's link as it now stands: stored just now, or unchanged.
            let org = match (&after, &gathered.link) {
                (Some(link), _) => Some((link, stored_revision)),
                (None, Some(v)) => Some((&v.value, v.revision)),
                (None, None) => None,
            };
            if let Some((org, revision)) = org {
                self.cascade(event, &decision, org, revision, now).await?;
            }
        }
        let writes = applied.writes;
        Ok(if conflict {
            Step::Conflict { writes }
        } else {
            Step::Done(Outcome::Done { writes })
        })
    }

    /// Before creating in IT Glue, the link records the intent (state `creating`), so `links show`
    /// tells a create in flight from nothing; a retry finds the created record by its exact key.
    /// Returns the intent's revision, for the compare-and-set of the final link.
    async fn record_create_intent(
        &self,
        decision: &Decision,
        stored: &Option<syncbridge_bus::Versioned<Link>>,
    ) -> Result<Option<u64>, Failure> {
        let creates_in_itglue = decision
            .actions
            .iter()
            .any(|a| matches!(a.kind, ActionKind::CreateInItGlue { .. }));
        let syncbridge_engine::LinkUpdate::Store(next) = &decision.link else {
            return Ok(None);
        };
        if !creates_in_itglue || next.psa_id.is_none() {
            return Ok(None);
        }
        let intent = Link {
            state: LinkState::Creating(Side::ItGlue),
            itg_id: None,
            base: None,
            ..next.clone()
        };
        let written = match stored {
            Some(v) => {
                self.stores
                    .update_link(&self.tenant, &intent, v.revision)
                    .await
            }
            None => self.stores.create_link(&self.tenant, &intent).await,
        };
        Ok(Some(written?))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn audit(
        &self,
        event: &ChangeEvent,
        entity: Entity,
        side: Side,
        id: &str,
        decision: &Decision,
        written: bool,
        before: Option<&Link>,
        after: Option<&Link>,
        now: UnixMillis,
    ) -> Result<(), Failure> {
        let entry = AuditEntry {
            at: now,
            event,
            entity,
            side,
            record_id: id,
            actions: &decision.actions,
            written,
            link_before: before,
            link_after: after,
        };
        self.stores.audit(&self.tenant, entity, &entry).await?;
        log_decision(&self.tenant, entity, side, id, decision, written);
        crate::metrics::decision(&self.tenant, entity, decision, written);
        Ok(())
    }
}

/// The operator's one line per decision (the audit stream holds the whole of it): which record,
/// the rules that decided it, and whether anything was written. Record ids and rule names only:
/// no field values, no secrets.
fn log_decision(
    tenant: &TenantId,
    entity: Entity,
    side: Side,
    id: &str,
    decision: &Decision,
    written: bool,
) {
    let mut rules: Vec<&str> = decision.actions.iter().map(|a| a.rule.as_str()).collect();
    rules.dedup();
    let outcome = match (decision.actions.iter().any(|a| a.writes()), written) {
        (false, _) => "nothing to write",
        (true, true) => "written",
        (true, false) => "not written (shadow mode)",
    };
    tracing::info!(
        tenant = %tenant,
        %entity,
        side = side.as_str(),
        record = id,
        rules = %rules.join(","),
        outcome,
        "decided"
    );
}

enum Step {
    Done(Outcome),
    /// The link changed under us after these writes: decide again.
    Conflict {
        writes: usize,
    },
    ParentFirst {
        side: Side,
        org_id: String,
    },
    /// The PSA records it names (entity, PSA id) are not linked yet: sync them first.
    ReferencesFirst(Vec<(Entity, String)>),
}

fn parent_first(decision: &Decision) -> Option<(Side, String)> {
    decision.actions.iter().find_map(|a| match &a.kind {
        ActionKind::SyncParentFirst { side, org_id } => Some((*side, org_id.clone())),
        _ => None,
    })
}

/// The lease key of an unlinked record: its exact match key. A child adds its organization: the
/// PSA id of the organization's link when it is linked, so the same child seen from either side
/// (a PSA contact and the IT Glue contact just created for it) takes the same lease; else the
/// organization's id on the child's own side (the child then waits for its organization anyway).
/// ARCHITECTURE.md, `crates/worker`, "Leases".
fn match_key(tenant: &TenantId, entity: Entity, record: &Record, parent: &Parent) -> LeaseKey {
    let mut parts: Vec<&str> = key_fields(entity)
        .iter()
        .map(|f| record.get(*f).unwrap_or(""))
        .collect();
    match (parent, &record.org_id) {
        (Parent::Linked { psa_id, .. }, _) => parts.extend(["psa org", psa_id]),
        (_, Some(org)) => parts.push(org),
        (_, None) => {}
    }
    LeaseKey::match_key(tenant, entity, &parts)
}
