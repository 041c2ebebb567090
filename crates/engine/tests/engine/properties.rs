//! Property tests: `decide` driven as a state machine over two simulated sides.
//!
//! A person edits either side; every write (a person's or the worker's) produces an event, and
//! events are delivered late, twice, out of order, or answered by a stale read (a lagging replica
//! returning the record as it was before the worker's last write). After everything is delivered
//! and a safety-net pass has run, the properties of DESIGN §3 must hold:
//! - idempotence: deciding again on the final state writes nothing (the basis of "no ping-pong");
//! - both sides hold equal mapped fields (modulo IT Glue's own normalisation);
//! - a field whose last edit was in the PSA holds the PSA's value; with one-way sync the worker never
//!   writes to the PSA; on a pre-linked pair with two-way, an IT Glue-only edit reaches the PSA;
//! - no record exists twice, and the worker's writes are bounded by the people's edits (no echo).

use std::collections::BTreeMap;

use proptest::prelude::*;
use syncbridge_engine::{decide, ActionKind, Candidate, Input, LinkUpdate, Trigger};
use syncbridge_model::{
    field_map, Entity, Field, Link, PsaKind, Record, Side, Snapshot, TenantSettings, Values,
};

const FIELDS: [Field; 3] = [Field::ShortName, Field::Type, Field::Status];
const WATERMARK: i64 = 100;

/// The value a person types. Short names are unique per edit (some padded with spaces, which
/// IT Glue trims), so "the last edit" is observable in the final state — a repeated value would be
/// no change at all; types and statuses repeat values. (Clearing is covered by the rule tests.)
fn typed_value(field: Field, pick: usize, serial: usize) -> String {
    match field {
        Field::ShortName => match pick % 2 {
            0 => format!(" s{serial} "),
            _ => format!("s{serial}"),
        },
        Field::Type => ["Customer", "Partner"][pick % 2].to_owned(),
        _ => ["Active", "Onboarding"][pick % 2].to_owned(),
    }
}

/// IT Glue trims what it stores: the worker must not mistake that for an edit.
fn itg_normalise(v: &str) -> String {
    v.trim().to_owned()
}

#[derive(Debug, Clone, Default)]
struct Store {
    records: BTreeMap<String, Record>,
    /// The version before the worker's last write, while that write is the latest: what a
    /// lagging replica returns.
    before_worker_write: BTreeMap<String, Record>,
    next_id: u32,
    prefix: &'static str,
    normalise: bool,
}

impl Store {
    fn new(prefix: &'static str, normalise: bool) -> Self {
        Store {
            prefix,
            normalise,
            ..Default::default()
        }
    }

    fn clean(&self, v: Option<String>) -> Option<String> {
        v.map(|v| if self.normalise { itg_normalise(&v) } else { v })
    }

    fn create(&mut self, values: &Values, now: i64) -> String {
        self.next_id += 1;
        let id = format!("{}{}", self.prefix, self.next_id);
        let mut r = Record::new(&id);
        for (f, v) in values.iter() {
            r.values.set(f, self.clean(Some(v.to_owned())));
        }
        r.created_at = now;
        r.updated_at = now;
        self.records.insert(id.clone(), r);
        id
    }

    fn write(&mut self, id: &str, changes: &[(Field, Option<String>)], now: i64, by_worker: bool) {
        let cleaned: Vec<_> = changes
            .iter()
            .map(|(f, v)| (*f, self.clean(v.clone())))
            .collect();
        let Some(r) = self.records.get_mut(id) else {
            return;
        };
        let before = r.clone();
        for (f, v) in cleaned {
            r.values.set(f, v);
        }
        r.updated_at = now;
        if by_worker {
            self.before_worker_write.insert(id.to_owned(), before);
        } else {
            self.before_worker_write.remove(id);
        }
    }

    fn read(&self, id: &str, stale: bool) -> Option<Record> {
        if stale {
            if let Some(r) = self.before_worker_write.get(id) {
                return Some(r.clone());
            }
        }
        self.records.get(id).cloned()
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    EditPsa(usize, usize),
    EditItg(usize, usize),
    Deliver { pick: usize, stale: Option<Side> },
    Duplicate(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 0..4usize).prop_map(|(f, v)| Op::EditPsa(f, v)),
        (0..3usize, 0..4usize).prop_map(|(f, v)| Op::EditItg(f, v)),
        (
            any::<usize>(),
            prop_oneof![Just(None), Just(Some(Side::Psa)), Just(Some(Side::ItGlue))]
        )
            .prop_map(|(pick, stale)| Op::Deliver { pick, stale }),
        any::<usize>().prop_map(Op::Duplicate),
    ]
}

/// How the pair starts.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// Only the PSA has the organization.
    PsaOnly,
    /// Both sides have it, not linked yet (IT Glue's older than the first sync).
    BothUnlinked,
    /// Already linked and in sync.
    Linked,
}

struct World {
    settings: TenantSettings,
    psa: Store,
    itg: Store,
    links: Vec<Link>,
    queue: Vec<(Side, String)>,
    clock: i64,
    /// (side, field, value, time) of every person's edit.
    edits: Vec<(Side, Field, String, i64)>,
    worker_writes: usize,
    worker_psa_writes: usize,
    noop_writes: usize,
}

impl World {
    fn new(two_way: bool, start: Start) -> Self {
        let mut settings = TenantSettings::new(PsaKind::ConnectWise);
        settings.org_types = ["Customer", "Partner"].map(String::from).into();
        settings.org_statuses = ["Active", "Onboarding"].map(String::from).into();
        settings.config_types = ["Server".to_string()].into();
        settings.config_statuses = ["Active".to_string()].into();
        settings.two_way = two_way;
        settings.validate().unwrap();
        let mut w = World {
            settings,
            psa: Store::new("p", false),
            itg: Store::new("i", true),
            links: Vec::new(),
            queue: Vec::new(),
            clock: WATERMARK + 1,
            edits: Vec::new(),
            worker_writes: 0,
            worker_psa_writes: 0,
            noop_writes: 0,
        };
        let acme = Values::new()
            .with(Field::Name, "Acme")
            .with(Field::Type, "Customer")
            .with(Field::Status, "Active")
            .with(Field::ShortName, "s-initial");
        let p = w.psa.create(&acme, 1);
        w.queue.push((Side::Psa, p.clone()));
        match start {
            Start::PsaOnly => {}
            Start::BothUnlinked => {
                let other = acme.clone().with(Field::ShortName, "s-itglue-initial");
                w.itg.create(&other, 1);
            }
            Start::Linked => {
                let i = w.itg.create(&acme, 1);
                let psa = w.psa.records[&p].clone();
                let itg = w.itg.records[&i].clone();
                w.links.push(Link::linked(
                    Entity::Organization,
                    &p,
                    &i,
                    w.snapshot(&psa, &itg),
                ));
            }
        }
        w
    }

    fn snapshot(&self, psa: &Record, itg: &Record) -> Snapshot {
        let fields = field_map(self.settings.psa, Entity::Organization)
            .iter()
            .map(|s| s.field);
        Snapshot {
            psa: psa.values.project(fields.clone()),
            itg: itg.values.project(fields),
            psa_updated_at: psa.updated_at,
            itg_updated_at: itg.updated_at,
        }
    }

    fn tick(&mut self) -> i64 {
        self.clock += 1;
        self.clock
    }

    fn link_of(&self, side: Side, id: &str) -> Option<usize> {
        self.links.iter().position(|l| match side {
            Side::Psa => l.psa_id.as_deref() == Some(id),
            Side::ItGlue => l.itg_id.as_deref() == Some(id),
        })
    }

    fn person_edit(&mut self, side: Side, field: Field, value: &str) {
        let now = self.tick();
        let store = match side {
            Side::Psa => &mut self.psa,
            Side::ItGlue => &mut self.itg,
        };
        let id = store.records.keys().next().cloned();
        let Some(id) = id else { return };
        store.write(&id, &[(field, Some(value.to_owned()))], now, false);
        self.edits.push((side, field, value.to_owned(), now));
        self.queue.push((side, id));
    }

    fn input(&self, side: Side, id: &str, stale: Option<Side>, trigger: Trigger) -> Input {
        let mut input = Input::new(self.settings.clone(), Entity::Organization, trigger);
        input.first_sync_at = Some(WATERMARK);
        let link = self.link_of(side, id).map(|i| self.links[i].clone());
        let psa_id = match (&link, side) {
            (Some(l), _) => l.psa_id.clone(),
            (None, Side::Psa) => Some(id.to_owned()),
            (None, Side::ItGlue) => None,
        };
        let itg_id = match (&link, side) {
            (Some(l), _) => l.itg_id.clone(),
            (None, Side::ItGlue) => Some(id.to_owned()),
            (None, Side::Psa) => None,
        };
        input.psa = psa_id.and_then(|p| self.psa.read(&p, stale == Some(Side::Psa)));
        input.itg = itg_id.and_then(|i| self.itg.read(&i, stale == Some(Side::ItGlue)));
        if link.is_none() {
            let (others, other_side) = match side {
                Side::Psa => (&self.itg, Side::ItGlue),
                Side::ItGlue => (&self.psa, Side::Psa),
            };
            input.candidates = others
                .records
                .values()
                .map(|r| Candidate {
                    record: r.clone(),
                    linked_to: self.link_of(other_side, &r.id).and_then(|i| match side {
                        Side::Psa => self.links[i].psa_id.clone(),
                        Side::ItGlue => self.links[i].itg_id.clone(),
                    }),
                })
                .collect();
        }
        input.link = link;
        input
    }

    /// One worker step: decide, write, store the link with the read-back base.
    fn handle(&mut self, side: Side, id: String, stale: Option<Side>, trigger: Trigger) {
        let input = self.input(side, &id, stale, trigger);
        let decision = decide(&input);
        let mut created_psa = None;
        let mut created_itg = None;
        let (mut wrote_psa, mut wrote_itg) = (false, false);
        for action in &decision.actions {
            match &action.kind {
                ActionKind::Retry { .. } => {
                    self.queue.push((side, id));
                    return;
                }
                ActionKind::UpdateItGlue { itg_id, changes } => {
                    self.count_write(&self.itg.records[itg_id].clone(), changes, true);
                    let now = self.tick();
                    let changes: Vec<_> = changes.iter().map(|(f, v)| (*f, v.clone())).collect();
                    self.itg.write(itg_id, &changes, now, true);
                    self.queue.push((Side::ItGlue, itg_id.clone()));
                    wrote_itg = true;
                }
                ActionKind::UpdatePsa { psa_id, changes } => {
                    self.count_write(&self.psa.records[psa_id].clone(), changes, false);
                    self.worker_psa_writes += 1;
                    let now = self.tick();
                    let changes: Vec<_> = changes.iter().map(|(f, v)| (*f, v.clone())).collect();
                    self.psa.write(psa_id, &changes, now, true);
                    self.queue.push((Side::Psa, psa_id.clone()));
                    wrote_psa = true;
                }
                ActionKind::CreateInItGlue { values, .. } => {
                    self.worker_writes += 1;
                    let now = self.tick();
                    let new = self.itg.create(values, now);
                    self.queue.push((Side::ItGlue, new.clone()));
                    created_itg = Some(new);
                    wrote_itg = true;
                }
                ActionKind::CreateInPsa { values, .. } => {
                    self.worker_writes += 1;
                    self.worker_psa_writes += 1;
                    let now = self.tick();
                    let new = self.psa.create(values, now);
                    self.queue.push((Side::Psa, new.clone()));
                    created_psa = Some(new);
                    wrote_psa = true;
                }
                _ => {}
            }
        }
        let LinkUpdate::Store(mut link) = decision.link else {
            return;
        };
        if link.psa_id.is_none() {
            link.psa_id = created_psa;
        }
        if link.itg_id.is_none() {
            link.itg_id = created_itg;
        }
        // The base of a side we wrote is what that side reads back; of a side we did not write,
        // what we read before deciding.
        if let Some(base) = link.base.as_mut() {
            let fields: Vec<Field> = field_map(self.settings.psa, Entity::Organization)
                .iter()
                .map(|s| s.field)
                .collect();
            if wrote_psa {
                let r = &self.psa.records[link.psa_id.as_ref().unwrap()];
                base.psa = r.values.project(fields.iter().copied());
                base.psa_updated_at = r.updated_at;
            }
            if wrote_itg {
                let r = &self.itg.records[link.itg_id.as_ref().unwrap()];
                base.itg = r.values.project(fields.iter().copied());
                base.itg_updated_at = r.updated_at;
            }
        }
        let existing = link
            .psa_id
            .as_deref()
            .and_then(|p| self.link_of(Side::Psa, p))
            .or_else(|| {
                link.itg_id
                    .as_deref()
                    .and_then(|i| self.link_of(Side::ItGlue, i))
            });
        match existing {
            Some(i) => self.links[i] = link,
            None => self.links.push(link),
        }
    }

    fn count_write(&mut self, current: &Record, changes: &syncbridge_engine::Changes, itg: bool) {
        self.worker_writes += 1;
        let noop = changes.iter().all(|(f, v)| {
            let v = if itg {
                v.as_deref().map(itg_normalise)
            } else {
                v.clone()
            };
            current.get(*f).map(str::to_owned) == v.filter(|v| !v.is_empty())
        });
        if noop {
            self.noop_writes += 1;
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::EditPsa(f, v) => {
                let value = typed_value(FIELDS[f], v, self.edits.len());
                self.person_edit(Side::Psa, FIELDS[f], &value);
            }
            Op::EditItg(f, v) => {
                let value = typed_value(FIELDS[f], v, self.edits.len());
                self.person_edit(Side::ItGlue, FIELDS[f], &value);
            }
            Op::Deliver { pick, stale } => {
                if !self.queue.is_empty() {
                    let (side, id) = self.queue.remove(pick % self.queue.len());
                    self.handle(side, id, stale, Trigger::Event(side));
                }
            }
            Op::Duplicate(pick) => {
                if !self.queue.is_empty() {
                    let e = self.queue[pick % self.queue.len()].clone();
                    self.queue.push(e);
                }
            }
        }
    }

    fn drain(&mut self) {
        for _ in 0..500 {
            if self.queue.is_empty() {
                return;
            }
            let (side, id) = self.queue.remove(0);
            self.handle(side, id, None, Trigger::Event(side));
        }
        panic!("events never settle: {:?}", self.queue);
    }

    /// The safety net: a reconcile of every record, then everything it caused.
    fn safety_net(&mut self) {
        let ids: Vec<_> = self.psa.records.keys().cloned().collect();
        for id in ids {
            self.handle(Side::Psa, id, None, Trigger::FullSync);
        }
        let ids: Vec<_> = self.itg.records.keys().cloned().collect();
        for id in ids {
            self.queue.push((Side::ItGlue, id));
        }
        self.drain();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn events_late_twice_or_out_of_order_converge_without_echo(
        two_way in any::<bool>(),
        start in prop_oneof![Just(Start::PsaOnly), Just(Start::BothUnlinked), Just(Start::Linked)],
        ops in proptest::collection::vec(op(), 0..40),
    ) {
        let mut w = World::new(two_way, start);
        for op in ops {
            w.apply(op);
        }
        w.drain();
        w.safety_net();

        // No record exists twice, and the pair is linked.
        prop_assert_eq!(w.psa.records.len(), 1, "PSA records: {:?}", w.psa.records);
        prop_assert_eq!(w.itg.records.len(), 1, "IT Glue records: {:?}", w.itg.records);
        prop_assert_eq!(w.links.len(), 1);
        let psa = w.psa.records.values().next().unwrap().clone();
        let itg = w.itg.records.values().next().unwrap().clone();

        // Idempotence: deciding again, from either side, writes nothing.
        for side in [Side::Psa, Side::ItGlue] {
            let id = if side == Side::Psa { &psa.id } else { &itg.id };
            let d = decide(&w.input(side, id, None, Trigger::Event(side)));
            prop_assert_eq!(d.writes().count(), 0, "{:?}", d.actions);
        }

        // Both sides equal on every mapped field (modulo IT Glue's trimming).
        for spec in field_map(PsaKind::ConnectWise, Entity::Organization) {
            let p = psa.get(spec.field).map(itg_normalise).filter(|v| !v.is_empty());
            prop_assert_eq!(p.as_deref(), itg.get(spec.field), "{}", spec.field);
        }

        // A short name last edited in the PSA holds the PSA's value. (Types and statuses repeat
        // values, so a later save of the same value is no change; equality covers them.)
        {
            let f = Field::ShortName;
            let last = w.edits.iter().filter(|e| e.1 == f).max_by_key(|e| e.3);
            if let Some((Side::Psa, _, value, _)) = last {
                prop_assert_eq!(psa.get(f).unwrap_or(""), value.as_str(), "{}", f);
                prop_assert_eq!(itg.get(f).unwrap_or(""), itg_normalise(value), "{}", f);
            }
            let psa_edited = w.edits.iter().any(|e| e.1 == f && e.0 == Side::Psa);
            if let (Some((Side::ItGlue, _, value, _)), true, false, Start::Linked) =
                (last, two_way, psa_edited, start)
            {
                prop_assert_eq!(psa.get(f).unwrap_or(""), itg_normalise(value), "{}", f);
            }
        }

        // One-way: the worker never writes to the PSA.
        if !two_way {
            prop_assert_eq!(w.worker_psa_writes, 0);
        }
        // No echo: every worker write changes something, and writes stay bounded by the edits.
        prop_assert_eq!(w.noop_writes, 0);
        prop_assert!(
            w.worker_writes <= w.edits.len() + 2,
            "{} worker writes for {} edits", w.worker_writes, w.edits.len()
        );
    }
}
