//! The checks every fault test ends with (issue 13): both sides equal and every record in scope
//! linked once ([`World::converged`]: no duplicate record), every edit of the burst on both sides
//! and every created record once on each side (no change lost), every callback the ingest accepted
//! in the events stream and every event decided (the workers' consumer has nothing pending), no
//! echo write (no write by syncbridge that changed nothing, in either simulator's write log), and an
//! empty dead-letter queue (every fault of the suite is transient: none is a permanent refusal).

use std::collections::HashSet;

use syncbridge_bus::{names, DeadLetters};
use syncbridge_connectors::Vendor;
use syncbridge_model::{Entity, Field};

use super::super::harness::{eventually, logs, name_of, Proc, World, TIMEOUT};
use super::burst::Burst;

/// What a fault test ended with, for its summary line and docs/reliability.md.
pub(super) struct Outcome {
    /// [`World::converged`]'s summary.
    pub(super) converged: String,
    /// ConnectWise callbacks the ingest answered 2xx, and those it refused (503 during an outage).
    pub(super) accepted_callbacks: usize,
    pub(super) refused_callbacks: usize,
    /// Events in the stream (callbacks, poll rounds' changes, full syncs).
    pub(super) stream_events: u64,
    /// Writes syncbridge made on either side.
    pub(super) sync_writes: usize,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "callbacks accepted {} (refused {}), stream events {}, sync writes {}, echo writes 0, \
             dead letters 0; {}",
            self.accepted_callbacks,
            self.refused_callbacks,
            self.stream_events,
            self.sync_writes,
            self.converged
        )
    }
}

/// Waits until the guarantees hold (every wait bounded) and asserts them; `procs` for the logs of
/// a failure.
pub(super) async fn hold(w: &World, burst: &Burst, procs: &[&Proc]) -> Outcome {
    let converged = eventually(
        "every change on both sides, the tenant converged",
        async || {
            w.tenant.values_on_both_sides(&burst.expected).await?;
            created_once(w, burst).await?;
            w.converged().await
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}{}", logs(procs)));

    let echoes = w.tenant.echo_writes();
    assert!(echoes.is_empty(), "echo writes: {echoes:#?}");

    let (accepted, refused) = callbacks_in_stream(w)
        .await
        .unwrap_or_else(|e| panic!("{e}{}", logs(procs)));

    let dead = DeadLetters::new(w.conn.clone(), TIMEOUT)
        .list(&w.id, 1000)
        .await
        .expect("list the dead letters");
    // The faults of this suite are all transient (a vendor refusing for good, a validation
    // message, is not one of them): nothing may be dead-lettered.
    let filed: Vec<String> = dead
        .iter()
        .map(|d| format!("#{} {:?}: {}", d.seq, d.entity, d.error))
        .collect();
    assert!(filed.is_empty(), "dead letters: {filed:#?}{}", logs(procs));

    let stream_events = w
        .conn
        .jetstream()
        .get_stream(names::EVENTS_STREAM)
        .await
        .expect("the events stream")
        .info()
        .await
        .expect("the events stream's info")
        .state
        .messages;
    Outcome {
        converged,
        accepted_callbacks: accepted,
        refused_callbacks: refused,
        stream_events,
        sync_writes: w.tenant.sync_writes().0,
    }
}

/// Every organization created in ConnectWise once in IT Glue, every Network Glue contact once in
/// ConnectWise.
async fn created_once(w: &World, burst: &Burst) -> Result<(), String> {
    if !burst.created_orgs.is_empty() {
        let itg = w
            .tenant
            .itglue_reader
            .list_all(Entity::Organization)
            .await
            .map_err(|e| e.to_string())?;
        for name in &burst.created_orgs {
            let n = itg.iter().filter(|o| &name_of(o) == name).count();
            if n != 1 {
                return Err(format!("{name}: {n} organizations in IT Glue"));
            }
        }
    }
    if !burst.network_glue.is_empty() {
        let psa = w
            .tenant
            .psa_reader
            .list_all(Entity::Contact)
            .await
            .map_err(|e| e.to_string())?;
        for last in &burst.network_glue {
            let n = psa
                .iter()
                .filter(|c| c.get(Field::LastName) == Some(last.as_str()))
                .count();
            if n != 1 {
                return Err(format!(
                    "Network Glue contact {last}: {n} contacts in ConnectWise"
                ));
            }
        }
    }
    Ok(())
}

/// Every ConnectWise callback the ingest accepted (2xx), found by its `MessageId` among the events
/// stream's dedup ids; returns (accepted, refused).
async fn callbacks_in_stream(w: &World) -> Result<(usize, usize), String> {
    let deliveries: Vec<_> = w
        .tenant
        .psa
        .core()
        .deliveries
        .entries()
        .into_iter()
        .filter(|d| d.url.starts_with(&w.public_url))
        .collect();
    let accepted: Vec<String> = deliveries
        .iter()
        .filter(|d| d.status.is_some_and(|s| (200..300).contains(&s)))
        .filter_map(|d| {
            let body: serde_json::Value = serde_json::from_str(&d.body).ok()?;
            body["MessageId"].as_str().map(str::to_owned)
        })
        .collect();
    let refused = deliveries.len() - accepted.len();
    let stream = w
        .conn
        .jetstream()
        .get_stream(names::EVENTS_STREAM)
        .await
        .map_err(|e| e.to_string())?;
    let dead = DeadLetters::new(w.conn.clone(), TIMEOUT);
    let last = stream.cached_info().state.last_sequence;
    let mut ids = HashSet::new();
    for seq in 1..=last {
        if let Ok(event) = dead.stored_event(seq).await {
            if let Some(id) = event.headers.get("Nats-Msg-Id") {
                ids.insert(id.as_str().to_owned());
            }
        }
    }
    let lost: Vec<&String> = accepted
        .iter()
        .filter(|m| !ids.iter().any(|id| id.ends_with(m.as_str())))
        .collect();
    if lost.is_empty() {
        Ok((accepted.len(), refused))
    } else {
        Err(format!(
            "{} accepted callbacks not in the events stream: {lost:?}",
            lost.len()
        ))
    }
}
