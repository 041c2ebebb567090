//! The checks the cluster tests end with, the fault suite's (`crates/service/tests/service/
//! processes/faults/guarantees.rs`) over what a black-box test can see: the simulators' records
//! and write logs, the link store, the events stream, the workers' consumer and the dead-letter
//! queue. Both sides equal on every linked pair, every person's last edit on both sides, every
//! organization created in ConnectWise once in IT Glue, no IT Glue record linked twice or created
//! by syncbridge without a link (no duplicate record), no update that changed nothing (no echo
//! write), every callback the ingest accepted once in the events stream, and no dead letter.

use std::collections::HashMap;
use std::time::Duration;

use syncbridge_bus::{names, Connection, DeadLetters, LinkStore, PullConsumer};
use syncbridge_connectors::Vendor;
use syncbridge_demo::{verify, world::DemoTenant};
use syncbridge_model::{Entity, Field, LinkState, TenantId};
use syncbridge_sim::writes::{WriteAction, WriteQuery};

/// Bound of one bus request of the checks.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Bound of every wait; not a speed expectation.
pub const PATIENCE: Duration = Duration::from_secs(180);

/// Polls `check` until it answers `Ok` or [`PATIENCE`] runs out (then the last reason).
pub async fn eventually<T>(
    what: &str,
    mut check: impl AsyncFnMut() -> Result<T, String>,
) -> Result<T, String> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match check().await {
            Ok(v) => return Ok(v),
            Err(reason) if tokio::time::Instant::now() >= deadline => {
                return Err(format!("{what}: not within {PATIENCE:?}: {reason}"))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// One tenant as the checks see it.
pub struct View<'a> {
    pub tenant: &'a DemoTenant,
    pub id: TenantId,
    pub conn: &'a Connection,
    pub links: &'a LinkStore,
}

/// A person's last edit of a record's field: the value both sides must end with.
pub use syncbridge_demo::driver::Expectation as Edit;

impl View<'_> {
    /// The events stream.
    async fn events(&self) -> Result<async_nats::jetstream::stream::Stream, String> {
        self.conn
            .jetstream()
            .get_stream(names::EVENTS_STREAM)
            .await
            .map_err(|e| e.to_string())
    }

    /// Events not yet acknowledged by the tenant's workers.
    pub async fn pending(&self) -> Result<u64, String> {
        let stream = self.events().await?;
        let mut consumer: PullConsumer = stream
            .get_consumer(&names::worker_consumer(&self.id))
            .await
            .map_err(|e| e.to_string())?;
        let info = consumer.info().await.map_err(|e| e.to_string())?;
        Ok(info.num_pending + info.num_ack_pending as u64)
    }

    /// The linked pairs (PSA id, IT Glue id) of an entity.
    pub async fn linked_pairs(&self, entity: Entity) -> Result<Vec<(String, String)>, String> {
        let links = self
            .links
            .all(&self.id, entity)
            .await
            .map_err(|e| e.to_string())?;
        Ok(links
            .into_iter()
            .filter(|l| l.state == LinkState::Linked)
            .filter_map(|l| Some((l.psa_id?, l.itg_id?)))
            .collect())
    }

    /// Nothing pending, no IT Glue record linked twice, every IT Glue record syncbridge created
    /// linked (a duplicate would not be), every linked pair equal on every mapped field.
    pub async fn converged(&self) -> Result<String, String> {
        match self.pending().await? {
            0 => {}
            n => return Err(format!("{n} events pending")),
        }
        let caps = self.tenant.kind.capabilities();
        for entity in Entity::ALL.into_iter().filter(|e| caps.syncs(*e)) {
            let links = self
                .links
                .all(&self.id, entity)
                .await
                .map_err(|e| e.to_string())?;
            let mut by_itg: HashMap<String, String> = HashMap::new();
            for link in links {
                let (Some(psa), Some(itg)) = (link.psa_id, link.itg_id) else {
                    continue;
                };
                if let Some(other) = by_itg.insert(itg.clone(), psa.clone()) {
                    return Err(format!(
                        "{entity}: IT Glue {itg} linked to PSA {other} and {psa}"
                    ));
                }
            }
            for created in self.itglue_creates(entity) {
                if !by_itg.contains_key(&created) {
                    return Err(format!(
                        "{entity}: IT Glue {created} created by syncbridge but not linked \
                         (a duplicate)"
                    ));
                }
            }
        }
        let comparison = verify::compare(self.tenant, self.links)
            .await
            .map_err(|e| e.to_string())?;
        if !comparison.equal() {
            return Err(format!("pairs differ: {:?}", comparison.differences));
        }
        Ok(format!("{} pairs equal", comparison.compared))
    }

    /// IT Glue records syncbridge created (its write log), by entity.
    fn itglue_creates(&self, entity: Entity) -> Vec<String> {
        let collection = match entity {
            Entity::Organization => "organizations",
            Entity::Contact => "contacts",
            Entity::Configuration => "configurations",
            Entity::Location => "locations",
        };
        self.tenant
            .itglue
            .sim
            .core()
            .writes
            .entries(&WriteQuery {
                collection: Some(collection.to_owned()),
                user: Some("syncbridge".to_owned()),
                ..WriteQuery::default()
            })
            .into_iter()
            .filter(|w| w.action == WriteAction::Create)
            .map(|w| w.record_id)
            .collect()
    }

    /// Each organization created in ConnectWise once in IT Glue, and linked.
    pub async fn created_once(&self, names: &[String]) -> Result<(), String> {
        let itg = self
            .tenant
            .itglue_reader
            .list_all(Entity::Organization)
            .await
            .map_err(|e| e.to_string())?;
        let linked: Vec<String> = self
            .linked_pairs(Entity::Organization)
            .await?
            .into_iter()
            .map(|(_, itg)| itg)
            .collect();
        for name in names {
            let found: Vec<_> = itg
                .iter()
                .filter(|o| o.get(Field::Name) == Some(name.as_str()))
                .collect();
            match found.as_slice() {
                [one] if linked.contains(&one.id) => {}
                [one] => return Err(format!("{name}: IT Glue {} not linked", one.id)),
                _ => return Err(format!("{name}: {} organizations in IT Glue", found.len())),
            }
        }
        Ok(())
    }

    /// Every accepted callback (by `MessageId`) exactly once among the events stream's dedup
    /// ids; the stream's event count.
    pub async fn callbacks_once_in_stream(&self, accepted: &[String]) -> Result<u64, String> {
        let stream = self.events().await?;
        let state = &stream.cached_info().state;
        let (first, last, messages) = (state.first_sequence, state.last_sequence, state.messages);
        let dead = DeadLetters::new(self.conn.clone(), TIMEOUT);
        let mut ids: HashMap<String, usize> = HashMap::new();
        for seq in first..=last {
            let event = dead
                .stored_event(seq)
                .await
                .map_err(|e| format!("#{seq}: {e}"))?;
            if let Some(id) = event.headers.get("Nats-Msg-Id") {
                *ids.entry(id.as_str().to_owned()).or_default() += 1;
            }
        }
        let mut wrong = Vec::new();
        for m in accepted {
            let n: usize = ids
                .iter()
                .filter(|(id, _)| id.ends_with(m.as_str()))
                .map(|(_, n)| n)
                .sum();
            if n != 1 {
                wrong.push(format!("{m}: {n} times"));
            }
        }
        if wrong.is_empty() {
            Ok(messages)
        } else {
            Err(format!(
                "{} accepted callbacks not once in the events stream: {wrong:?}",
                wrong.len()
            ))
        }
    }

    /// The tenant's dead letters, described.
    pub async fn dead_letters(&self) -> Result<Vec<String>, String> {
        let dead = DeadLetters::new(self.conn.clone(), TIMEOUT)
            .list(&self.id, 1000)
            .await
            .map_err(|e| e.to_string())?;
        Ok(dead
            .iter()
            .map(|d| format!("#{} {:?}: {}", d.seq, d.entity, d.error))
            .collect())
    }
}
