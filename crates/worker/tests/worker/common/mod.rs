//! An in-memory [`SideApi`] with a write log and injectable faults, the fixtures of the tests,
//! and the harness: two such sides and a store backend (`backend.rs`), in memory or on a private
//! nats-server.

mod backend;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use syncbridge_engine::Changes;
use syncbridge_model::{
    key_fields, ChangeAction, ChangeEvent, Entity, EventSource, Field, Link, PsaKind, Record, Side,
    TenantId, TenantSettings, Values,
};
use syncbridge_worker::store::hook::Hooked;
use syncbridge_worker::store::Links;
use syncbridge_worker::{ApiError, KillAt, KillPoint, SideApi, Store, Worker};

pub use backend::{Backend, Memory, Nats, LEASE_TTL};

pub const T0: i64 = 1_700_000_000_000;

#[derive(Default)]
struct State {
    records: BTreeMap<(Entity, String), Record>,
    writes: Vec<(String, Entity, String)>,
}

/// One side, in memory. Cheap to clone (shared state).
/// A person's edit waiting for a read: (entity, id, field, value).
pub type PendingEdit = (Entity, String, Field, String);

#[derive(Clone)]
pub struct MemorySide {
    side: Side,
    prefix: &'static str,
    state: Arc<Mutex<State>>,
    next_id: Arc<AtomicU64>,
    clock: Arc<AtomicI64>,
    /// IT Glue-like: trims what it stores.
    trims: bool,
    /// The next create stores the record but answers a timeout.
    pub commit_then_timeout: Arc<AtomicBool>,
    /// Updates are refused with a 422.
    pub refuse_updates: Arc<AtomicBool>,
    /// Reads take this long (to make two workers overlap).
    pub read_delay_ms: Arc<AtomicU64>,
    /// Delayed reads under way now, and the most there ever were at once.
    reads_in_flight: Arc<AtomicU64>,
    pub most_reads_in_flight: Arc<AtomicU64>,
    /// A person's edit made right after the next read of its record: (entity, id, field,
    /// value). The read answers the record as it was; the edit lands behind it.
    pub edit_after_next_read: Arc<Mutex<Option<PendingEdit>>>,
    /// A person's edit landing right after the next update of its record, before the update's
    /// answer (Autotask and the v2 platform read a record back with a second request).
    pub edit_after_next_update: Arc<Mutex<Option<PendingEdit>>>,
}

impl MemorySide {
    pub fn new(side: Side) -> Self {
        MemorySide {
            side,
            prefix: if side == Side::Psa { "p" } else { "i" },
            state: Arc::default(),
            next_id: Arc::new(AtomicU64::new(100)),
            clock: Arc::new(AtomicI64::new(T0)),
            trims: side == Side::ItGlue,
            commit_then_timeout: Arc::default(),
            refuse_updates: Arc::default(),
            read_delay_ms: Arc::default(),
            reads_in_flight: Arc::default(),
            most_reads_in_flight: Arc::default(),
            edit_after_next_read: Arc::default(),
            edit_after_next_update: Arc::default(),
        }
    }

    fn tick(&self) -> i64 {
        self.clock.fetch_add(1_000, Ordering::SeqCst) + 1_000
    }

    fn clean(&self, v: Option<String>) -> Option<String> {
        if self.trims {
            v.map(|v| v.trim().to_owned())
        } else {
            v
        }
    }

    /// A person creates a record.
    pub fn seed(&self, entity: Entity, mut record: Record) -> String {
        let now = self.tick();
        record.created_at = now;
        record.updated_at = now;
        let id = record.id.clone();
        self.state
            .lock()
            .unwrap()
            .records
            .insert((entity, id.clone()), record);
        id
    }

    /// A person edits a field.
    pub fn edit(&self, entity: Entity, id: &str, field: syncbridge_model::Field, value: &str) {
        let now = self.tick();
        let mut st = self.state.lock().unwrap();
        let r = st
            .records
            .get_mut(&(entity, id.to_owned()))
            .expect("record");
        r.values.set(field, Some(value.to_owned()));
        r.updated_at = now;
    }

    pub fn record(&self, entity: Entity, id: &str) -> Option<Record> {
        self.state
            .lock()
            .unwrap()
            .records
            .get(&(entity, id.to_owned()))
            .cloned()
    }

    pub fn all(&self, entity: Entity) -> Vec<Record> {
        let st = self.state.lock().unwrap();
        st.records
            .iter()
            .filter(|((e, _), _)| *e == entity)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// (operation, entity, id) of every write the worker made.
    pub fn writes(&self) -> Vec<(String, Entity, String)> {
        self.state.lock().unwrap().writes.clone()
    }

    async fn delay(&self) {
        let ms = self.read_delay_ms.load(Ordering::SeqCst);
        if ms > 0 {
            let now = self.reads_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_reads_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            self.reads_in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl SideApi for MemorySide {
    fn side(&self) -> Side {
        self.side
    }

    /// IT Glue already has the types and statuses the tests use (a missing one would make the
    /// worker create it first, which the engine's own tests cover).
    async fn lookups(&self) -> Result<syncbridge_engine::Lookups, ApiError> {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Ok(syncbridge_engine::Lookups {
            org_types: names(&["Customer", "Partner"]),
            org_statuses: names(&["Active"]),
            config_types: names(&["Server"]),
            config_statuses: names(&["Active"]),
            ..Default::default()
        })
    }

    async fn get(&self, entity: Entity, id: &str) -> Result<Option<Record>, ApiError> {
        self.delay().await;
        let record = self.record(entity, id);
        let due = {
            let mut pending = self.edit_after_next_read.lock().unwrap();
            match pending.as_ref() {
                Some((e, i, _, _)) if *e == entity && i == id => pending.take(),
                _ => None,
            }
        };
        if let Some((entity, id, field, value)) = due {
            self.edit(entity, &id, field, &value);
        }
        Ok(record)
    }

    async fn candidates(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        probe: &Record,
    ) -> Result<Vec<Record>, ApiError> {
        self.delay().await;
        let first = key_fields(entity)[0];
        Ok(self
            .all(entity)
            .into_iter()
            .filter(|r| org_id.is_none() || r.org_id.as_deref() == org_id)
            // Vendors' name filters ignore case: the engine compares exactly.
            .filter(|r| {
                r.get(first).map(str::to_lowercase) == probe.get(first).map(str::to_lowercase)
            })
            .collect())
    }

    async fn children(&self, entity: Entity, org_id: &str) -> Result<Vec<String>, ApiError> {
        Ok(self
            .all(entity)
            .into_iter()
            .filter(|r| r.org_id.as_deref() == Some(org_id))
            .map(|r| r.id)
            .collect())
    }

    async fn create(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        values: &Values,
    ) -> Result<Record, ApiError> {
        let n = self.next_id.fetch_add(1, Ordering::SeqCst);
        let mut r = Record::new(format!("{}{n}", self.prefix));
        r.org_id = org_id.map(str::to_owned);
        for (f, v) in values.iter() {
            r.values.set(f, self.clean(Some(v.to_owned())));
        }
        r.origin = syncbridge_model::Origin::Psa;
        let now = self.tick();
        r.created_at = now;
        r.updated_at = now;
        {
            let mut st = self.state.lock().unwrap();
            st.records.insert((entity, r.id.clone()), r.clone());
            st.writes.push(("create".into(), entity, r.id.clone()));
        }
        if self.commit_then_timeout.swap(false, Ordering::SeqCst) {
            return Err(ApiError::Transient {
                message: "timed out".into(),
                retry_after: Duration::from_millis(10),
            });
        }
        Ok(r)
    }

    async fn update(
        &self,
        entity: Entity,
        id: &str,
        changes: &Changes,
    ) -> Result<Record, ApiError> {
        if self.refuse_updates.load(Ordering::SeqCst) {
            return Err(ApiError::Permanent {
                status: Some(422),
                message: "record is managed by the native PSA integration".into(),
            });
        }
        let now = self.tick();
        let mut st = self.state.lock().unwrap();
        let Some(r) = st.records.get_mut(&(entity, id.to_owned())) else {
            return Err(ApiError::Permanent {
                status: Some(404),
                message: format!("{entity} {id} not found"),
            });
        };
        for (f, v) in changes {
            let v = if self.trims {
                v.as_deref().map(|v| v.trim().to_owned())
            } else {
                v.clone()
            };
            r.values.set(*f, v);
        }
        r.updated_at = now;
        st.writes.push(("update".into(), entity, id.to_owned()));
        drop(st);
        if let Some((entity, id, field, value)) = self.edit_after_next_update.lock().unwrap().take()
        {
            self.edit(entity, &id, field, &value);
        }
        Ok(self.record(entity, id).expect("record"))
    }
}

pub fn settings(two_way: bool) -> TenantSettings {
    let mut s = TenantSettings::new(PsaKind::ConnectWise);
    s.org_types.insert("Customer".into());
    s.org_statuses.insert("Active".into());
    s.config_types.insert("Server".into());
    s.config_statuses.insert("Active".into());
    s.contacts_sync = true;
    s.two_way = two_way;
    s
}

pub fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

pub fn event(source: EventSource, entity: Entity, id: &str) -> ChangeEvent {
    ChangeEvent {
        tenant: tenant(),
        source,
        entity: Some(entity),
        record_id: Some(id.to_owned()),
        action: ChangeAction::Upsert,
        received_at: T0,
        msg_id: None,
    }
}

pub fn psa_event(entity: Entity, id: &str) -> ChangeEvent {
    event(EventSource::Psa(PsaKind::ConnectWise), entity, id)
}

pub fn itg_event(entity: Entity, id: &str) -> ChangeEvent {
    event(EventSource::ItGlue, entity, id)
}

/// Runs tests written once over [`Backend`] on both backends: for `fn name<B: Backend>()`,
/// `name::memory` (the in-memory store, tokio time paused, no nats-server) and `name::nats` (a
/// private nats-server, real time).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(start_paused = true)]
            async fn memory() {
                super::$name::<$crate::common::Memory>().await
            }

            #[tokio::test]
            async fn nats() {
                super::$name::<$crate::common::Nats>().await
            }
        }
    )*};
}
pub(crate) use on_both_backends;

/// Two in-memory sides and a store backend.
pub struct Harness<B: Backend> {
    pub backend: B,
    /// The backend's store, shared by every worker of the harness.
    pub stores: B::Store,
    pub psa: MemorySide,
    pub itg: MemorySide,
}

impl<B: Backend> Harness<B> {
    pub async fn start() -> Harness<B> {
        Harness::on(B::start().await)
    }

    pub fn on(backend: B) -> Harness<B> {
        Harness {
            stores: backend.store(),
            backend,
            psa: MemorySide::new(Side::Psa),
            itg: MemorySide::new(Side::ItGlue),
        }
    }

    pub fn worker(
        &self,
        settings: TenantSettings,
        holder: &str,
    ) -> Worker<MemorySide, MemorySide, B::Store> {
        self.worker_on(self.stores.clone(), settings, holder)
    }

    /// A worker on `stores` (the harness's own, wrapped by a test's hook).
    pub fn worker_on<S: Store>(
        &self,
        stores: S,
        settings: TenantSettings,
        holder: &str,
    ) -> Worker<MemorySide, MemorySide, S> {
        Worker {
            tenant: tenant(),
            settings,
            psa: self.psa.clone(),
            itg: self.itg.clone(),
            stores,
            holder: holder.to_owned(),
            lease_wait: Duration::from_secs(10),
        }
    }

    /// The stored link of a PSA record.
    pub async fn link(&self, entity: Entity, psa_id: &str) -> Option<Link> {
        let stored = self.stores.link(&tenant(), entity, psa_id).await.unwrap();
        stored.map(|v| v.value)
    }

    /// Handles `event` with a worker stopped at `point` as if its process were killed there: the
    /// [`KillAt`] hook fires, and the event's future is dropped with nothing after the point done.
    pub async fn handle_until_killed(
        &self,
        settings: TenantSettings,
        point: KillPoint,
        event: &ChangeEvent,
        now: i64,
    ) {
        let killed = Arc::new(tokio::sync::Notify::new());
        let notify = killed.clone();
        let hook = KillAt::new(point, move |_| notify.notify_one());
        let store = self.stores.clone();
        let doomed = self.worker_on(Hooked::new(store, hook), settings, "doomed");
        tokio::select! {
            outcome = doomed.handle(event, now) => panic!("not stopped at {point:?}: {outcome:?}"),
            _ = killed.notified() => {}
        }
    }
}
