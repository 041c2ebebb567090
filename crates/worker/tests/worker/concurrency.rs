//! Two workers forced onto the same records (events delivered to both at once, reads slowed so
//! they overlap) end in the same state as one worker handling the events in order: one record per
//! side, equal fields, the PSA winning a field both sides edited and IT Glue-only edits pushed.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::common::*;
use syncbridge_model::{ChangeEvent, Entity, Field, Record};
use syncbridge_worker::{Outcome, Store, Worker};

/// A tiny deterministic generator (no dependency needed for a handful of cases).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Seeds "Acme" on both sides; returns the events that link them.
fn seed_acme<B: Backend>(h: &Harness<B>) -> Vec<ChangeEvent> {
    let base = |id: &str| {
        Record::new(id)
            .with(Field::Name, "Acme")
            .with(Field::Type, "Customer")
            .with(Field::Status, "Active")
    };
    h.psa.seed(Entity::Organization, base("p1"));
    h.itg.seed(Entity::Organization, base("i1"));
    vec![
        psa_event(Entity::Organization, "p1"),
        itg_event(Entity::Organization, "i1"),
    ]
}

/// What the people last wrote per field, on each side.
#[derive(Default)]
struct Edited {
    psa: BTreeMap<Field, String>,
    itg: BTreeMap<Field, String>,
}

/// The same people's edits on the linked pair, and the events they cause.
fn edits<B: Backend>(h: &Harness<B>, seed: u64, edited: &mut Edited) -> Vec<ChangeEvent> {
    let mut rng = Lcg(seed);
    let mut events = Vec::new();
    for n in 0..6 {
        let field = [Field::ShortName, Field::Type][rng.next(2) as usize];
        let value = match field {
            Field::ShortName => format!("s{seed}-{n}"),
            _ => "Partner".to_owned(),
        };
        if rng.next(2) == 0 {
            edited.psa.insert(field, value.clone());
            h.psa.edit(Entity::Organization, "p1", field, &value);
            events.push(psa_event(Entity::Organization, "p1"));
        } else {
            edited.itg.insert(field, value.clone());
            h.itg.edit(Entity::Organization, "i1", field, &value);
            events.push(itg_event(Entity::Organization, "i1"));
        }
    }
    events
}

async fn drain<S: Store + 'static>(
    workers: Vec<Worker<MemorySide, MemorySide, S>>,
    events: Vec<ChangeEvent>,
) {
    let queue = Arc::new(Mutex::new(VecDeque::from(events)));
    let mut tasks = Vec::new();
    for w in workers {
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(event) = queue.lock().unwrap().pop_front() else {
                    return;
                };
                loop {
                    match w.handle(&event, T0 - 1_000).await {
                        Outcome::Done { .. } => break,
                        Outcome::Retry(_) => continue,
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

type Final = (
    usize,
    usize,
    Vec<(Field, Option<String>)>,
    Vec<(Field, Option<String>)>,
);

async fn run<B: Backend>(seed: u64, workers: usize) -> Final {
    let h = Harness::<B>::start().await;
    let mut s = settings(true);
    s.org_types.insert("Partner".into());
    let linking = seed_acme(&h);
    drain(vec![h.worker(s.clone(), "linker")], linking).await;
    let mut edited = Edited::default();
    let events = edits(&h, seed, &mut edited);
    if workers > 1 {
        h.psa.read_delay_ms.store(20, Ordering::SeqCst);
        h.itg.read_delay_ms.store(20, Ordering::SeqCst);
    }
    let ws = (0..workers)
        .map(|n| h.worker(s.clone(), &format!("w{n}")))
        .collect();
    drain(ws, events).await;
    // A last pass from both sides settles anything a concurrent event only hinted at.
    let one = h.worker(s, "final");
    one.handle(&psa_event(Entity::Organization, "p1"), T0).await;
    one.handle(&itg_event(Entity::Organization, "i1"), T0).await;
    // The rules' answer: a field the PSA edited holds the PSA's value (even if IT Glue edited it
    // too); a field only IT Glue edited was pushed to the PSA.
    let psa_now = h.psa.record(Entity::Organization, "p1").unwrap();
    for (field, value) in &edited.psa {
        assert_eq!(
            psa_now.get(*field),
            Some(value.as_str()),
            "seed {seed}: PSA wins {field}"
        );
    }
    for (field, value) in edited
        .itg
        .iter()
        .filter(|(f, _)| !edited.psa.contains_key(f))
    {
        assert_eq!(
            psa_now.get(*field),
            Some(value.as_str()),
            "seed {seed}: {field} pushed"
        );
    }
    let fields = [Field::Name, Field::ShortName, Field::Type, Field::Status];
    let snapshot = |r: Record| -> Vec<(Field, Option<String>)> {
        fields
            .iter()
            .map(|f| (*f, r.get(*f).map(str::to_owned)))
            .collect()
    };
    (
        h.psa.all(Entity::Organization).len(),
        h.itg.all(Entity::Organization).len(),
        snapshot(h.psa.record(Entity::Organization, "p1").unwrap()),
        snapshot(h.itg.record(Entity::Organization, "i1").unwrap()),
    )
}

async fn two_workers_on_the_same_record_end_like_one<B: Backend>() {
    for seed in 1..=4 {
        let single = run::<B>(seed, 1).await;
        let double = run::<B>(seed, 2).await;
        assert_eq!(
            (single.0, single.1),
            (1, 1),
            "seed {seed}: one record per side"
        );
        assert_eq!(single.2, single.3, "seed {seed}: both sides equal");
        assert_eq!(double, single, "seed {seed}: two workers end like one");
    }
}

on_both_backends!(two_workers_on_the_same_record_end_like_one);
