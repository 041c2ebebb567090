//! Push all syncable assets (DESIGN §3, §4 `push-all --tenant T [--dry-run]`): one-time, on
//! request, every unlinked IT Glue organization, location, contact and configuration (in that
//! order, parents before children) of a tenant whose PSA is two-way capable and has two-way sync
//! enabled is matched by key in the PSA or created there, and linked.
//!
//! Like the full sync this is a publisher, not a second pipeline: it lists IT Glue, skips records
//! that already have a link, and publishes one `upsert` event per remaining record with the source
//! `push-all`. The workers decide each one (rule `push_all`: pushed regardless of age or origin,
//! but only when syncable — type and status enabled, the PSA's required fields present) and write
//! it. Dedup ids are `push-all:{run}:{entity}:{IT Glue id}`.
//!
//! **Resumable.** The run's position — the entity in hand and the last IT Glue id done in it
//! (records are walked in id order) — is stored in `sync_state` under
//! `{tenant}.checkpoint.push-all` after every page, by compare-and-set. A rerun after an
//! interruption continues the same run where it stopped; a run that finished is recorded as such
//! and a rerun publishes nothing unless asked to `restart` (a new run, which again skips every
//! record linked by then). **Idempotent:** what the first run linked is skipped, and the rules
//! never create a record whose key the PSA already holds.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use syncbridge_bus::{
    EventPublisher, KvError, LinkStore, PublishError, StateKey, StateStore, Versioned,
};
use syncbridge_connectors::ItGlueClient;
use syncbridge_connectors::Vendor;
use syncbridge_model::{
    ChangeAction, ChangeEvent, Entity, EventSource, LinkState, TenantId, TenantSettings, UnixMillis,
};

use crate::config::Config;

/// The name of the checkpoint in `sync_state` (`{tenant}.checkpoint.push-all`).
pub const CHECKPOINT: &str = "push-all";
/// Records published between two checkpoint writes.
pub const PAGE: usize = 100;
const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a push-all did not run or stopped (everything published before it stays published, and
/// the checkpoint says where to continue).
#[derive(Debug, thiserror::Error)]
pub enum PushAllError {
    /// The tenant cannot push to its PSA (one-way PSA, or two-way sync not enabled).
    #[error("{0}")]
    Refused(String),
    #[error("listing {entity} from IT Glue: {source}")]
    Listing {
        entity: Entity,
        #[source]
        source: syncbridge_connectors::Error,
    },
    #[error("reading the link store: {0}")]
    Links(#[source] KvError),
    #[error("the push-all checkpoint in sync_state: {0}")]
    Checkpoint(#[source] KvError),
    /// Another push-all of the tenant moved the checkpoint under us.
    #[error(
        "another push-all of tenant {0} is running (its checkpoint moved under this one); \
         let it finish, or run again to continue from its checkpoint"
    )]
    Concurrent(TenantId),
    #[error("publishing to the event stream: {0}")]
    Publish(#[from] PublishError),
}

/// Counts of one entity in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityCounts {
    /// Unlinked records published (in a dry run: that would be published).
    pub published: u64,
    /// Records skipped because they already have a link.
    pub already_linked: u64,
    /// Events an earlier, interrupted attempt of the same run had already published.
    pub duplicates: u64,
}

/// The stored position of a run (`sync_state`, [`CHECKPOINT`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub run: String,
    pub started_at: UnixMillis,
    pub updated_at: UnixMillis,
    /// Every entity before this one (in [`Entity::PARENTS_FIRST`]) is done; within it, every record up to
    /// `after` (IT Glue id order). `None` with `finished`.
    pub entity: Option<Entity>,
    pub after: Option<String>,
    pub finished: bool,
    /// Counts of the run so far (over all its attempts).
    pub counts: Vec<(Entity, EntityCounts)>,
}

impl Checkpoint {
    fn new(run: String, now: UnixMillis, first: Option<Entity>) -> Checkpoint {
        Checkpoint {
            run,
            started_at: now,
            updated_at: now,
            entity: first,
            after: None,
            finished: first.is_none(),
            counts: Vec::new(),
        }
    }

    fn counts_mut(&mut self, entity: Entity) -> &mut EntityCounts {
        if let Some(i) = self.counts.iter().position(|(e, _)| *e == entity) {
            return &mut self.counts[i].1;
        }
        self.counts.push((entity, EntityCounts::default()));
        &mut self.counts.last_mut().expect("just pushed").1
    }
}

/// How a run started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// A new run.
    New,
    /// An interrupted run continued from its checkpoint.
    Resumed {
        entity: Option<Entity>,
        after: Option<String>,
    },
    /// The last run had finished: nothing was done (a new run needs `restart`).
    AlreadyFinished,
}

/// What a push-all did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAllReport {
    pub run: String,
    pub start: Start,
    pub dry_run: bool,
    /// Per entity, in order: the run's counts (over all its attempts).
    pub counts: Vec<(Entity, EntityCounts)>,
}

impl PushAllReport {
    pub fn published(&self) -> u64 {
        self.counts.iter().map(|(_, c)| c.published).sum()
    }
}

/// One progress step: a page of `entity` done.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub entity: Entity,
    /// Records of the entity walked so far in this attempt, and how many it has.
    pub walked: usize,
    pub total: usize,
    pub counts: EntityCounts,
}

/// `Err(reason)` when the tenant cannot push to its PSA.
pub fn refusal(tenant: &TenantId, settings: &TenantSettings) -> Result<(), PushAllError> {
    let psa = settings.psa.display_name();
    if !settings.capabilities().two_way {
        return Err(PushAllError::Refused(format!(
            "push-all refused for tenant {tenant}: {psa} is a one-way PSA — IT Glue records are \
             never pushed to it (only two-way capable PSAs can receive them)"
        )));
    }
    if !settings.two_way {
        return Err(PushAllError::Refused(format!(
            "push-all refused for tenant {tenant}: two-way sync is not enabled for it; set \
             tenants.{tenant}.sync.two_way = true first ({psa} supports it)"
        )));
    }
    Ok(())
}

/// The entities a tenant pushes, in order.
pub fn entities(settings: &TenantSettings) -> Vec<Entity> {
    let caps = settings.capabilities();
    Entity::PARENTS_FIRST
        .into_iter()
        .filter(|e| caps.syncs(*e))
        .collect()
}

/// IT Glue ids in walking order: numeric ids by value, anything else after them by text.
fn id_order(a: &str, b: &str) -> Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

/// What a push-all reads and writes.
pub struct PushAll<'a> {
    pub tenant: &'a TenantId,
    pub settings: &'a TenantSettings,
    pub itglue: &'a ItGlueClient,
    pub links: &'a LinkStore,
    pub state: &'a StateStore,
    /// `None`: a dry run (nothing published, the checkpoint untouched).
    pub publisher: Option<&'a EventPublisher>,
}

/// Where a run starts: its checkpoint (and that checkpoint's revision), or the report of a run
/// that already finished.
enum Begin {
    Run {
        cp: Checkpoint,
        start: Start,
        revision: Option<u64>,
    },
    Finished(PushAllReport),
}

impl PushAll<'_> {
    /// Runs (or continues) the tenant's push-all; `restart` starts a new run even if the last
    /// one finished or was interrupted.
    pub async fn run(
        &self,
        restart: bool,
        now: UnixMillis,
        mut progress: impl FnMut(&Progress),
    ) -> Result<PushAllReport, PushAllError> {
        refusal(self.tenant, self.settings)?;
        let dry_run = self.publisher.is_none();
        let order = entities(self.settings);
        let key =
            StateKey::checkpoint(self.tenant, CHECKPOINT).map_err(PushAllError::Checkpoint)?;
        let (mut cp, start, mut revision) = match self.begin(&key, restart, now, &order).await? {
            Begin::Finished(report) => return Ok(report),
            Begin::Run {
                cp,
                start,
                revision,
            } => (cp, start, revision),
        };
        let begin = cp
            .entity
            .and_then(|e| order.iter().position(|o| *o == e))
            .unwrap_or(order.len());
        for (i, &entity) in order.iter().enumerate().skip(begin) {
            revision = self
                .push_entity(entity, &mut cp, &key, revision, now, &mut progress)
                .await?;
            // The entity is done: the next one starts from its first record.
            cp.entity = order.get(i + 1).copied();
            cp.after = None;
            cp.finished = cp.entity.is_none();
            cp.updated_at = crate::runtime::clock::now_millis();
            revision = self.save(&key, &cp, revision).await?;
        }
        let counts = order.iter().map(|e| (*e, *cp.counts_mut(*e))).collect();
        Ok(PushAllReport {
            run: cp.run,
            start,
            dry_run,
            counts,
        })
    }

    /// Reads the checkpoint: a finished run (without `restart`), a run to resume, or a new run —
    /// recorded before anything is published, so an interruption resumes it.
    async fn begin(
        &self,
        key: &StateKey,
        restart: bool,
        now: UnixMillis,
        order: &[Entity],
    ) -> Result<Begin, PushAllError> {
        let dry_run = self.publisher.is_none();
        let stored: Option<Versioned<Checkpoint>> = self
            .state
            .get(key)
            .await
            .map_err(PushAllError::Checkpoint)?;
        let mut revision = stored.as_ref().map(|v| v.revision);
        let (mut cp, start) = match stored.map(|v| v.value) {
            Some(cp) if !restart && cp.finished => {
                return Ok(Begin::Finished(PushAllReport {
                    run: cp.run,
                    start: Start::AlreadyFinished,
                    dry_run,
                    counts: cp.counts,
                }))
            }
            Some(cp) if !restart => {
                let start = Start::Resumed {
                    entity: cp.entity,
                    after: cp.after.clone(),
                };
                (cp, start)
            }
            _ => (
                Checkpoint::new(now.to_string(), now, order.first().copied()),
                Start::New,
            ),
        };
        if dry_run {
            // A dry run counts what this invocation would do.
            cp.counts.clear();
        }
        if start == Start::New {
            revision = self.save(key, &cp, revision).await?;
        }
        Ok(Begin::Run {
            cp,
            start,
            revision,
        })
    }

    /// Publishes one event per unlinked IT Glue record of `entity` after the checkpoint, saving
    /// the checkpoint after every page; the checkpoint's new revision.
    async fn push_entity(
        &self,
        entity: Entity,
        cp: &mut Checkpoint,
        key: &StateKey,
        mut revision: Option<u64>,
        now: UnixMillis,
        progress: &mut impl FnMut(&Progress),
    ) -> Result<Option<u64>, PushAllError> {
        let mut records = self
            .itglue
            .list_all(entity)
            .await
            .map_err(|source| PushAllError::Listing { entity, source })?;
        records.sort_by(|a, b| id_order(&a.id, &b.id));
        let after = cp.after.clone();
        records.retain(|r| {
            after
                .as_deref()
                .is_none_or(|a| id_order(&r.id, a) == Ordering::Greater)
        });
        let total = records.len();
        let mut walked = 0;
        cp.counts_mut(entity);
        for page in records.chunks(PAGE) {
            for record in page {
                self.push_record(entity, &record.id, cp, now).await?;
            }
            walked += page.len();
            cp.after = page.last().map(|r| r.id.clone());
            cp.updated_at = crate::runtime::clock::now_millis();
            revision = self.save(key, cp, revision).await?;
            progress(&Progress {
                entity,
                walked,
                total,
                counts: *cp.counts_mut(entity),
            });
        }
        if total == 0 {
            progress(&Progress {
                entity,
                walked: 0,
                total: 0,
                counts: *cp.counts_mut(entity),
            });
        }
        Ok(revision)
    }

    /// One record: counted as linked, or published (counted only, in a dry run).
    async fn push_record(
        &self,
        entity: Entity,
        id: &str,
        cp: &mut Checkpoint,
        now: UnixMillis,
    ) -> Result<(), PushAllError> {
        let link = self
            .links
            .get_by_itg(self.tenant, entity, id)
            .await
            .map_err(PushAllError::Links)?;
        // A create in progress is published: its worker finishes it.
        let linked = link.is_some_and(|l| !matches!(l.value.state, LinkState::Creating(_)));
        let counts = cp.counts_mut(entity);
        if linked {
            counts.already_linked += 1;
            return Ok(());
        }
        let Some(publisher) = self.publisher else {
            counts.published += 1;
            return Ok(());
        };
        let event = ChangeEvent {
            tenant: self.tenant.clone(),
            source: EventSource::PushAll,
            entity: Some(entity),
            msg_id: Some(format!("push-all:{}:{entity}:{id}", cp.run)),
            record_id: Some(id.to_owned()),
            action: ChangeAction::Upsert,
            received_at: now,
        };
        let duplicate = publisher.publish(&event, Bytes::new()).await?.duplicate;
        let counts = cp.counts_mut(entity);
        if duplicate {
            counts.duplicates += 1;
        } else {
            counts.published += 1;
        }
        Ok(())
    }
}

impl PushAll<'_> {
    /// Stores the checkpoint by compare-and-set (not in a dry run); the new revision.
    async fn save(
        &self,
        key: &StateKey,
        cp: &Checkpoint,
        revision: Option<u64>,
    ) -> Result<Option<u64>, PushAllError> {
        if self.publisher.is_none() {
            return Ok(revision);
        }
        match self.state.set(key, cp, revision).await {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.is_conflict() => Err(PushAllError::Concurrent(self.tenant.clone())),
            Err(e) => Err(PushAllError::Checkpoint(e)),
        }
    }
}

/// Where a run stands, for a person.
fn describe_start(start: &Start, run: &str, dry_run: bool) -> String {
    let resumed = if dry_run {
        "dry run: would resume"
    } else {
        "resumed"
    };
    match start {
        Start::New if dry_run => "push-all dry run: a new run would start".to_owned(),
        Start::New => format!("push-all run {run}: started"),
        Start::Resumed { entity, after } => format!(
            "push-all run {run}: {resumed} at {}{}",
            entity.map_or("the end", Entity::as_str),
            after
                .as_deref()
                .map(|a| format!(" after IT Glue id {a}"))
                .unwrap_or_default()
        ),
        Start::AlreadyFinished => format!("push-all run {run}: already finished"),
    }
}

/// `push-all`: the command. Progress lines go to stderr as pages are done; the summary is
/// returned.
pub async fn command(
    config: &Config,
    tenant: &TenantId,
    dry_run: bool,
    restart: bool,
) -> anyhow::Result<String> {
    let tenant_config = &config.tenants[tenant];
    // Refused before anything is contacted.
    refusal(tenant, &tenant_config.sync)?;
    let itglue = crate::vendors::clients::itglue(tenant_config, None)?;
    let conn = super::ops::connected(config).await?;
    let links = LinkStore::open(&conn, OP_TIMEOUT).await?;
    let state = StateStore::open(&conn, OP_TIMEOUT).await?;
    let publisher = EventPublisher::new(conn, OP_TIMEOUT);
    let push = PushAll {
        tenant,
        settings: &tenant_config.sync,
        itglue: &itglue,
        links: &links,
        state: &state,
        publisher: (!dry_run).then_some(&publisher),
    };
    let verb = if dry_run {
        "would be published"
    } else {
        "published"
    };
    let report = push
        .run(restart, crate::runtime::clock::now_millis(), |p| {
            eprintln!(
                "{}: {}/{} walked — {} {verb} / {} already linked",
                p.entity, p.walked, p.total, p.counts.published, p.counts.already_linked
            );
        })
        .await?;
    summary(&report, tenant, dry_run)
}

/// The command's summary: where the run started, the counts per entity, what happens next.
fn summary(report: &PushAllReport, tenant: &TenantId, dry_run: bool) -> anyhow::Result<String> {
    let verb = if dry_run {
        "would be published"
    } else {
        "published"
    };
    let mut out = String::new();
    writeln!(
        out,
        "{}",
        describe_start(&report.start, &report.run, dry_run)
    )?;
    if report.start == Start::AlreadyFinished {
        writeln!(
            out,
            "nothing to do: tenant {tenant}'s push-all finished; run with --restart for a new \
             run (records linked by now are skipped)"
        )?;
        return Ok(out);
    }
    for (entity, c) in &report.counts {
        write!(
            out,
            "{entity}: {} {verb} / {} already linked",
            c.published, c.already_linked
        )?;
        if c.duplicates > 0 {
            write!(
                out,
                " ({} already published by an earlier attempt)",
                c.duplicates
            )?;
        }
        writeln!(out)?;
    }
    if dry_run {
        writeln!(
            out,
            "dry run: nothing published; {} records would be pushed (the workers push only \
             syncable ones: type and status enabled, the PSA's required fields present)",
            report.published()
        )?;
    } else {
        writeln!(
            out,
            "run {}: finished; the workers match or create each record in the PSA now",
            report.run
        )?;
    }
    Ok(out)
}
