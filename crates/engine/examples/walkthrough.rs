//! A guided tour of the sync rules: builds a few everyday situations, runs `decide` on each and
//! prints what syncbridge would do and why. Run with
//! `cargo run -p syncbridge-engine --example walkthrough`.

use syncbridge_engine::{decide, Candidate, Decision, Input, LinkUpdate, Trigger};
use syncbridge_model::{
    Entity, Field, Link, NearMissPolicy, Origin, PsaKind, Record, Side, Snapshot, TenantSettings,
};

fn tenant(psa: PsaKind, two_way: bool) -> TenantSettings {
    let mut s = TenantSettings::new(psa);
    s.org_types.insert("Customer".into());
    s.org_statuses.insert("Active".into());
    s.config_types.insert("Server".into());
    s.config_statuses.insert("Active".into());
    s.contacts_sync = true;
    s.two_way = two_way;
    s
}

fn org(id: &str, name: &str) -> Record {
    Record::new(id)
        .with(Field::Name, name)
        .with(Field::Type, "Customer")
        .with(Field::Status, "Active")
}

fn show(title: &str, d: &Decision) {
    println!("\n== {title}");
    for a in &d.actions {
        let what = serde_json::to_string(&a.kind).unwrap_or_default();
        println!("  [{:<18}] {what}", a.rule.as_str());
    }
    match &d.link {
        LinkUpdate::Unchanged => println!("  link: unchanged"),
        LinkUpdate::Store(l) => println!(
            "  link: store {:?} psa={} itg={}",
            l.state,
            l.psa_id.as_deref().unwrap_or("(created)"),
            l.itg_id.as_deref().unwrap_or("(created)")
        ),
    }
}

/// IT Glue already has the organization types and statuses the PSA uses.
fn known_lookups(i: &mut Input) {
    i.lookups.org_types.insert("Customer".into());
    i.lookups.org_statuses.insert("Active".into());
}

fn from_psa(settings: TenantSettings, psa: Record, itg: Vec<Record>) -> Input {
    let mut i = Input::new(settings, Entity::Organization, Trigger::Event(Side::Psa));
    known_lookups(&mut i);
    i.psa = Some(psa);
    i.candidates = itg.into_iter().map(Candidate::unlinked).collect();
    i
}

fn linked(settings: TenantSettings, base: (&Record, &Record), psa: Record, itg: Record) -> Input {
    let snapshot = Snapshot {
        psa: base.0.values.clone(),
        itg: base.1.values.clone(),
        ..Snapshot::default()
    };
    let mut i = Input::new(settings, Entity::Organization, Trigger::Event(Side::ItGlue));
    known_lookups(&mut i);
    i.link = Some(Link::linked(
        Entity::Organization,
        &psa.id,
        &itg.id,
        snapshot,
    ));
    i.psa = Some(psa);
    i.itg = Some(itg);
    i
}

fn main() {
    println!("syncbridge rules walkthrough: what `decide` does in everyday situations");

    let cw = tenant(PsaKind::ConnectWise, false);
    show(
        "A new ConnectWise company \"Acme\" exists in IT Glue with the same name: linked, PSA wins",
        &decide(&from_psa(
            cw.clone(),
            org("250", "Acme").with(Field::ShortName, "ACME"),
            vec![org("9001", "Acme")],
        )),
    );
    show(
        "\"Acme\" vs IT Glue's \"ACME \": exact matching creates a new record and reports the near miss",
        &decide(&from_psa(cw.clone(), org("250", "Acme"), vec![org("9001", "ACME ")])),
    );
    let mut hold = cw.clone();
    hold.near_miss = NearMissPolicy::Hold;
    show(
        "The same with near_miss = \"hold\": held for a person",
        &decide(&from_psa(
            hold,
            org("250", "Acme"),
            vec![org("9001", "ACME ")],
        )),
    );
    show(
        "Two IT Glue organizations named \"Acme\": ambiguous, nothing linked or created",
        &decide(&from_psa(
            cw.clone(),
            org("250", "Acme"),
            vec![org("9001", "Acme"), org("9002", "Acme")],
        )),
    );
    show(
        "A company with status \"Inactive\": out of scope",
        &decide(&from_psa(
            cw.clone(),
            org("250", "Acme").with(Field::Status, "Inactive"),
            vec![],
        )),
    );

    let p = org("250", "Acme").with(Field::ShortName, "ACME");
    let i = org("9001", "Acme").with(Field::ShortName, "ACME");
    show(
        "One-way tenant, someone edits the short name in IT Glue: reverted to the PSA's value",
        &decide(&linked(
            cw.clone(),
            (&p, &i),
            p.clone(),
            i.clone().with(Field::ShortName, "AC"),
        )),
    );
    let cw2 = tenant(PsaKind::ConnectWise, true);
    show(
        "Two-way tenant, the same edit: pushed to ConnectWise",
        &decide(&linked(
            cw2.clone(),
            (&p, &i),
            p.clone(),
            i.clone().with(Field::ShortName, "AC"),
        )),
    );
    show(
        "Both sides changed the short name since the last sync: the PSA wins",
        &decide(&linked(
            cw2.clone(),
            (&p, &i),
            p.clone().with(Field::ShortName, "FROM-PSA"),
            i.clone().with(Field::ShortName, "FROM-ITG"),
        )),
    );
    show(
        "Our own write comes back as an event: no change, no write (no ping-pong)",
        &decide(&linked(cw2.clone(), (&p, &i), p.clone(), i.clone())),
    );

    let mut ng = Record::new("7")
        .in_org("9001")
        .with(Field::FirstName, "Ada")
        .with(Field::LastName, "Lovelace");
    ng.origin = Origin::NetworkGlue;
    ng.created_at = 2_000;
    ng.updated_at = 2_000;
    let mut input = Input::new(
        tenant(PsaKind::KaseyaBms, true),
        Entity::Contact,
        Trigger::Event(Side::ItGlue),
    );
    input.itg = Some(ng.clone());
    input.first_sync_at = Some(1_000);
    input.parent = syncbridge_engine::Parent::Linked {
        psa_id: "250".into(),
        itg_id: "9001".into(),
    };
    show(
        "A Network Glue contact without an email, Kaseya BMS: not pushed (BMS needs an email)",
        &decide(&input),
    );
    input.itg = Some(ng.with(Field::Email, "ada@acme.example"));
    show(
        "The same contact with an email: pushed and linked",
        &decide(&input),
    );
}
