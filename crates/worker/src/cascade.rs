//! An organization's orphaning and relinking reach the records under it (DESIGN §3, Orphans).
//!
//! The engine decides one record at a time; when it orphans an organization it also asks for its
//! children to be orphaned (`OrphanChildren`), and when it relinks one the children orphaned with
//! it should come back. The children are found in IT Glue, which keeps an orphaned organization
//! and everything in it (the PSA's company may be gone), and looked up in the link store by their
//! IT Glue id:
//! - orphaning marks each linked child's link orphaned here and now (compare-and-set; a worker
//!   deciding the child at the same moment loses its store and re-decides, finding its
//!   organization orphaned), with an audit entry per child. Nothing is written to either vendor.
//!   It runs whenever an organization's decision leaves it orphaned, not only the first time, so
//!   a cascade cut short (IT Glue busy, the bus gone) is completed by the organization's next
//!   event or full sync;
//! - relinking publishes one reconcile event per orphaned child: each is decided on its own (its
//!   PSA record may have changed or left scope meanwhile) and the PSA wins. If publishing fails
//!   half-way, the next full sync relinks the rest.

use syncbridge_bus::KvError;
use syncbridge_engine::{Action, ActionKind, Decision, Rule};
use syncbridge_model::{
    ChangeAction, ChangeEvent, Entity, EventSource, Link, LinkState, UnixMillis,
};

use crate::gather::Failure;
use crate::pipeline::Worker;
use crate::side::SideApi;
use crate::store::Store;

/// The entities that live under an organization, in the order a full sync takes them.
const CHILDREN: [Entity; 3] = [Entity::Location, Entity::Contact, Entity::Configuration];

/// How often a child's compare-and-set conflict is retried before the cascade gives the event back.
const CAS_ATTEMPTS: usize = 3;

/// What the cascade did, for the caller's outcome and the logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cascaded {
    pub orphaned: usize,
    pub relink_events: usize,
}

impl<P: SideApi, I: SideApi, S: Store> Worker<P, I, S> {
    /// Carries an organization's decision to its children. `org` is the organization's link as it
    /// stands after the decision (stored at `revision`).
    pub(crate) async fn cascade(
        &self,
        event: &ChangeEvent,
        decision: &Decision,
        org: &Link,
        revision: u64,
        now: UnixMillis,
    ) -> Result<Cascaded, Failure> {
        let mut done = Cascaded::default();
        if org.entity != Entity::Organization || !decision.write {
            return Ok(done);
        }
        let (Some(org_psa), Some(org_itg)) = (org.psa_id.as_deref(), org.itg_id.as_deref()) else {
            return Ok(done);
        };
        let relinked = decision
            .actions
            .iter()
            .any(|a| matches!(a.kind, ActionKind::Relink { .. }));
        let orphaning = org.state == LinkState::Orphaned;
        if !relinked && !orphaning {
            return Ok(done);
        }
        for entity in CHILDREN {
            if !self.settings.capabilities().syncs(entity) {
                continue;
            }
            for itg_id in self.itg.children(entity, org_itg).await? {
                if orphaning {
                    if self.orphan_child(event, entity, &itg_id, now).await? {
                        done.orphaned += 1;
                    }
                    continue;
                }
                let child = self
                    .stores
                    .link_by_itg(&self.tenant, entity, &itg_id)
                    .await?;
                let orphaned_psa = child
                    .filter(|c| c.value.state == LinkState::Orphaned)
                    .and_then(|c| c.value.psa_id);
                if let Some(child_psa) = orphaned_psa {
                    self.publish_relink(org_psa, revision, entity, &child_psa, now)
                        .await?;
                    done.relink_events += 1;
                }
            }
        }
        if done != Cascaded::default() {
            tracing::debug!(tenant = %self.tenant, org = org_psa, ?done, "organization cascade");
        }
        Ok(done)
    }

    /// Marks one child's link orphaned (if it is linked); true when it was.
    async fn orphan_child(
        &self,
        event: &ChangeEvent,
        entity: Entity,
        itg_id: &str,
        now: UnixMillis,
    ) -> Result<bool, Failure> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(stored) = self
                .stores
                .link_by_itg(&self.tenant, entity, itg_id)
                .await?
            else {
                return Ok(false);
            };
            let before = stored.value;
            if before.state != LinkState::Linked {
                return Ok(false);
            }
            let after = Link {
                state: LinkState::Orphaned,
                updated_at: now,
                ..before.clone()
            };
            match self
                .stores
                .update_link(&self.tenant, &after, stored.revision)
                .await
            {
                Ok(_) => {
                    let decision = Decision {
                        actions: vec![Action {
                            kind: ActionKind::MarkOrphaned {
                                psa_id: before.psa_id.clone().unwrap_or_default(),
                                itg_id: itg_id.to_owned(),
                            },
                            rule: Rule::OrphanChildren,
                        }],
                        link: syncbridge_engine::LinkUpdate::Store(after.clone()),
                        write: true,
                    };
                    self.audit(
                        event,
                        entity,
                        syncbridge_model::Side::ItGlue,
                        itg_id,
                        &decision,
                        true,
                        Some(&before),
                        Some(&after),
                        now,
                    )
                    .await?;
                    return Ok(true);
                }
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Failure::Kv(KvError::Unavailable {
            bucket: "sync_links".into(),
            key: itg_id.to_owned(),
            op: "orphan child",
            reason: "the link kept changing".into(),
        }))
    }

    /// Publishes a reconcile event for an orphaned child of a relinked organization. The dedup id
    /// names the organization's link revision, so a redelivered relink publishes nothing twice
    /// and a later relink publishes afresh.
    async fn publish_relink(
        &self,
        org_psa: &str,
        revision: u64,
        entity: Entity,
        child_psa: &str,
        now: UnixMillis,
    ) -> Result<(), Failure> {
        let event = ChangeEvent {
            tenant: self.tenant.clone(),
            source: EventSource::FullSync,
            entity: Some(entity),
            msg_id: Some(format!("relink:{org_psa}@{revision}:{entity}:{child_psa}")),
            record_id: Some(child_psa.to_owned()),
            action: ChangeAction::Upsert,
            received_at: now,
        };
        self.stores.publish(&event).await?;
        Ok(())
    }
}
