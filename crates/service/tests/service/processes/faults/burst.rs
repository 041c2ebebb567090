//! A burst of people's edits on both sides of linked records: the traffic every fault test runs
//! under. Each record is edited on one side only and its edits are made one after another, while
//! records are edited concurrently; so each record's last value is known (what both sides must end
//! with) while callbacks and poll rounds arrive in bulk. Optionally, organizations created in
//! ConnectWise (syncbridge creates them in IT Glue) and contacts appearing in IT Glue from Network
//! Glue (syncbridge creates them in ConnectWise).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use syncbridge_demo::world::DemoTenant;
use syncbridge_engine::Changes;
use syncbridge_model::{Entity, Field, Values};
use syncbridge_sim::rng::SimRng;

use super::super::harness::Edit;

/// Edits in flight at once (one per record).
const CONCURRENT_RECORDS: usize = 8;
/// How often a person tries an edit a vendor refused (a 429, a 5xx, a gateway timeout).
const PERSON_ATTEMPTS: usize = 60;

/// What a burst makes.
pub(super) struct BurstSpec {
    /// Updates of linked records.
    pub(super) edits: usize,
    /// Organizations created in ConnectWise (in scope: a client, active).
    pub(super) org_creates: usize,
    /// Contacts added to linked IT Glue organizations by Network Glue.
    pub(super) network_glue: usize,
    /// Prefix of the values and names, unique per burst of a test.
    pub(super) tag: &'static str,
    /// About how long the burst lasts (a person's pause after each edit), so that a fault can
    /// happen in its middle; as fast as the vendors answer when absent.
    pub(super) span: Option<Duration>,
}

/// What a burst made.
#[derive(Default)]
pub(super) struct Burst {
    /// The last edit of each record edited: what both sides must end with.
    pub(super) expected: Vec<Edit>,
    pub(super) psa_edits: usize,
    pub(super) itglue_edits: usize,
    /// Names of the organizations created in ConnectWise.
    pub(super) created_orgs: Vec<String>,
    /// Last names of the contacts Network Glue added in IT Glue.
    pub(super) network_glue: Vec<String>,
    /// Attempts a vendor refused and the person made again.
    pub(super) person_retries: usize,
}

impl Burst {
    /// "N changes (… ConnectWise edits, … IT Glue edits, …) to N records", for summary lines.
    pub(super) fn describe(&self) -> String {
        format!(
            "{} changes ({} ConnectWise edits, {} IT Glue edits, {} organizations created, {} \
             Network Glue contacts) to {} records",
            self.changes(),
            self.psa_edits,
            self.itglue_edits,
            self.created_orgs.len(),
            self.network_glue.len(),
            self.expected.len()
        )
    }

    /// Changes at the source: every edit, create and added contact.
    pub(super) fn changes(&self) -> usize {
        self.psa_edits + self.itglue_edits + self.created_orgs.len() + self.network_glue.len()
    }
}

/// One record and the side its person edits.
struct Target {
    entity: Entity,
    psa_id: String,
    itg_id: String,
    in_psa: bool,
}

/// One thing a person does.
enum Op {
    /// Successive values of one record's field.
    Edits(usize, Vec<String>),
    CreateOrg(String),
    /// Network Glue adds a contact to this IT Glue organization.
    NetworkGlue(u64, String),
}

/// Makes the burst: `orgs` and `contacts` are the linked pairs (PSA id, IT Glue id) to edit.
pub(super) async fn run(
    tenant: &DemoTenant,
    orgs: &[(String, String)],
    contacts: &[(String, String)],
    spec: &BurstSpec,
    rng: &mut SimRng,
) -> Burst {
    // Two records in three are edited in ConnectWise (its callbacks), one in IT Glue (polled).
    let targets: Vec<Target> = orgs
        .iter()
        .map(|p| (Entity::Organization, p))
        .chain(contacts.iter().map(|p| (Entity::Contact, p)))
        .map(|(entity, (psa_id, itg_id))| Target {
            entity,
            psa_id: psa_id.clone(),
            itg_id: itg_id.clone(),
            in_psa: rng.below(3) != 0,
        })
        .collect();
    assert!(!targets.is_empty(), "no linked record to edit");
    let mut chains = vec![Vec::new(); targets.len()];
    for i in 0..spec.edits {
        chains[rng.below(targets.len() as u64) as usize].push(format!("{}{i}", spec.tag));
    }
    let mut ops: Vec<Op> = chains
        .into_iter()
        .enumerate()
        .filter(|(_, values)| !values.is_empty())
        .map(|(t, values)| Op::Edits(t, values))
        .collect();
    ops.extend((0..spec.org_creates).map(|i| Op::CreateOrg(format!("Fault {} Org {i}", spec.tag))));
    let itg_orgs: Vec<u64> = orgs.iter().filter_map(|(_, i)| i.parse().ok()).collect();
    if !itg_orgs.is_empty() {
        ops.extend(
            (0..spec.network_glue)
                .map(|i| Op::NetworkGlue(*rng.pick(&itg_orgs), format!("Glue{}{i}", spec.tag))),
        );
    }
    // Creates and added contacts land anywhere in the burst.
    for i in (1..ops.len()).rev() {
        ops.swap(i, rng.below(i as u64 + 1) as usize);
    }

    let pause = spec
        .span
        .map(|span| span * CONCURRENT_RECORDS as u32 / spec.edits.max(1) as u32)
        .unwrap_or_default();
    let out = Counters::default();
    let (targets, out_ref) = (&targets, &out);
    let results: Vec<Option<Edit>> = futures_util::stream::iter(ops)
        .map(|op| async move {
            match op {
                Op::Edits(t, values) => {
                    Some(edit_chain(tenant, &targets[t], &values, pause, out_ref).await)
                }
                Op::CreateOrg(name) => {
                    create_org(tenant, &name, out_ref).await;
                    out_ref.created.lock().unwrap().push(name);
                    None
                }
                Op::NetworkGlue(org, last) => {
                    tenant
                        .add_network_glue_contact(
                            org,
                            "Ada",
                            &last,
                            &format!("{}@example.com", last.to_lowercase()),
                        )
                        .expect("a Network Glue contact");
                    out_ref.network_glue.lock().unwrap().push(last);
                    None
                }
            }
        })
        .buffer_unordered(CONCURRENT_RECORDS)
        .collect()
        .await;
    Burst {
        expected: results.into_iter().flatten().collect(),
        psa_edits: out.psa.load(Ordering::SeqCst),
        itglue_edits: out.itglue.load(Ordering::SeqCst),
        created_orgs: out.created.into_inner().unwrap(),
        network_glue: out.network_glue.into_inner().unwrap(),
        person_retries: out.retries.load(Ordering::SeqCst),
    }
}

#[derive(Default)]
struct Counters {
    psa: AtomicUsize,
    itglue: AtomicUsize,
    retries: AtomicUsize,
    created: std::sync::Mutex<Vec<String>>,
    network_glue: std::sync::Mutex<Vec<String>>,
}

/// The field a person edits: an organization's short name, a contact's title.
fn field_of(entity: Entity) -> Field {
    match entity {
        Entity::Organization => Field::ShortName,
        _ => Field::Title,
    }
}

async fn edit_chain(
    tenant: &DemoTenant,
    t: &Target,
    values: &[String],
    pause: Duration,
    out: &Counters,
) -> Edit {
    let field = field_of(t.entity);
    for value in values {
        let mut change = Changes::new();
        change.insert(field, Some(value.clone()));
        persist(
            &format!("edit {} {}", t.entity, t.psa_id),
            out,
            async || {
                if t.in_psa {
                    let person = tenant.psa_person.as_ref().expect("a PSA person");
                    person
                        .update(t.entity, &t.psa_id, &change)
                        .await
                        .map(|_| ())
                } else {
                    tenant
                        .itglue_person
                        .update(t.entity, &t.itg_id, &change)
                        .await
                        .map(|_| ())
                }
            },
        )
        .await;
        let counter = if t.in_psa { &out.psa } else { &out.itglue };
        counter.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(pause).await;
    }
    Edit {
        tenant: tenant.id.clone(),
        entity: t.entity,
        psa_id: t.psa_id.clone(),
        itg_id: t.itg_id.clone(),
        field,
        value: values.last().cloned().unwrap_or_default(),
    }
}

async fn create_org(tenant: &DemoTenant, name: &str, out: &Counters) {
    let values = Values::new()
        .with(Field::Name, name)
        .with(Field::Type, "Client")
        .with(Field::Status, "Active");
    let person = tenant.psa_person.as_ref().expect("a PSA person");
    persist(&format!("create {name}"), out, async || {
        person
            .create(Entity::Organization, None, &values)
            .await
            .map(|_| ())
    })
    .await;
}

/// Makes a person's change, again after a refusal as a person would (the tests that fault the
/// vendors fault the person's calls too; those faults store nothing, so trying again is safe).
async fn persist<E: std::fmt::Display>(
    what: &str,
    out: &Counters,
    mut op: impl AsyncFnMut() -> Result<(), E>,
) {
    let mut last = String::new();
    for _ in 0..PERSON_ATTEMPTS {
        match op().await {
            Ok(()) => return,
            Err(e) => {
                last = e.to_string();
                out.retries.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    panic!("{what}: refused {PERSON_ATTEMPTS} times, last: {last}");
}
